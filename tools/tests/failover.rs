//! Source groups against two simulators serving the same market (same seed, symbols, rate
//! and epoch: the same trades, with the same ids, at the same moments), over real loopback
//! sockets: whatever happens to the primary, every trade id arrives downstream exactly
//! once, in order.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickforge::config::{Config, FeedSection, GroupMode, GroupSection};
use tickforge::engine::Engine;
use tickforge::sim::{FaultConfig, SimConfig, SimServer};
use tickforge_engine::record::{FeedState, Record, RecordView};
use tickforge_engine::shm::StatsReader;

#[derive(Default)]
struct Seen {
    /// (feed, state, time, detail)
    status: Vec<(u32, FeedState, i64, i64)>,
    /// (symbol, trade id)
    trades: Vec<(u32, u64)>,
}

fn tap(seen: Arc<Mutex<Seen>>) -> impl FnMut(&Record) + Send + 'static {
    move |r| {
        let mut s = seen.lock().unwrap();
        match r.view() {
            Some(RecordView::Trade(t)) => s.trades.push((t.symbol, t.trade_id)),
            Some(RecordView::FeedStatus(f)) => {
                let state = FeedState::from_u16(f.state).unwrap();
                s.status.push((f.feed, state, f.ts, f.detail));
            }
            _ => {}
        }
    }
}

fn market(epoch_ms: u64, faults: FaultConfig) -> SimServer {
    SimServer::start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        rate: 2000,
        seed: 11,
        continue_ids: true,
        epoch_ms: Some(epoch_ms),
        faults,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// An engine with one group of two feeds: `primary` and `backup`.
fn engine(
    dir: &std::path::Path,
    name: &str,
    primary: &SimServer,
    backup: &SimServer,
    group: GroupSection,
    seen: Arc<Mutex<Seen>>,
) -> Engine {
    let mut cfg = Config::default();
    cfg.engine.name = name.into();
    cfg.engine.shm_dir = dir.to_path_buf();
    cfg.engine.timeframes = vec!["1s".parse().unwrap()];
    let feed = |n: &str, sim: &SimServer| FeedSection {
        name: n.into(),
        url: sim.url(),
        symbols: sim.symbols(),
        group: Some("btc".into()),
        idle_timeout_ms: Some(1000),
        reconnect_initial_ms: 200,
        ..FeedSection::default()
    };
    cfg.feeds = vec![feed("primary", primary), feed("backup", backup)];
    cfg.groups.insert("btc".into(), group);
    common::start_tapped(&cfg, tap(seen))
}

/// Every symbol's trade ids, published in order, with neither gap nor repeat.
fn assert_exactly_once_in_order(seen: &Seen) {
    let mut by: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for &(s, id) in &seen.trades {
        by.entry(s).or_default().push(id);
    }
    assert_eq!(by.len(), 2);
    for (sym, ids) in by {
        assert!(ids.len() > 200, "symbol {sym}: {} trades", ids.len());
        for w in ids.windows(2) {
            assert_eq!(w[1], w[0] + 1, "symbol {sym}: {} then {}", w[0], w[1]);
        }
    }
}

/// A primary and a backup serving the same market, and an engine grouping them.
struct Pair {
    dir: tempfile::TempDir,
    primary: SimServer,
    backup: SimServer,
    seen: Arc<Mutex<Seen>>,
    engine: Engine,
}

fn pair(name: &str, primary_faults: FaultConfig, mode: GroupMode, failback_ms: u64) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let epoch = now_ms();
    let primary = market(epoch, primary_faults);
    let backup = market(epoch, FaultConfig::default());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let group = GroupSection { mode, failback_ms };
    let engine = engine(dir.path(), name, &primary, &backup, group, seen.clone());
    Pair {
        dir,
        primary,
        backup,
        seen,
        engine,
    }
}

fn group_states(seen: &Seen) -> Vec<FeedState> {
    // The group's own feed id is the number of feeds (2) plus its index (0).
    seen.status
        .iter()
        .filter(|s| s.0 == 2)
        .map(|s| s.1)
        .collect()
}

#[test]
fn hot_standby_fails_over_when_the_primary_dies_and_loses_no_trade() {
    let _serial = common::serial();
    let Pair {
        dir,
        primary,
        backup,
        seen,
        engine,
    } = pair(
        "standby",
        FaultConfig::default(),
        GroupMode::HotStandby,
        60_000,
    );
    let stats = StatsReader::open(dir.path(), "standby").unwrap();
    common::wait_until("trades from the primary", 20, || {
        stats.counter("parser.standby").unwrap_or(0) > 300
    });
    primary.stop(); // killed mid-stream
    let killed = tickforge_engine::clock::wall_ns();
    let n = seen.lock().unwrap().trades.len();
    common::wait_until("trades after the failover", 20, || {
        seen.lock().unwrap().trades.len() > n + 1000
    });
    engine.request_stop();
    engine.join().unwrap();

    let s = seen.lock().unwrap();
    assert_exactly_once_in_order(&s);
    let over = s
        .status
        .iter()
        .find(|x| x.0 == 2 && x.1 == FeedState::FailedOver)
        .unwrap_or_else(|| panic!("no failover: {:?}", s.status));
    assert_eq!(over.3, 1, "failed over to the backup, feed 1");
    // Within the idle timeout (1 s) plus 100 ms of the primary's death; the loss of a
    // TCP connection is seen at once, and the switch follows its status event at once.
    let ms = (over.2 - killed) / 1_000_000;
    assert!(ms <= 1100, "failed over {ms} ms after the primary died");
    let down = s
        .status
        .iter()
        .find(|x| x.0 == 0 && x.1 == FeedState::Disconnected)
        .unwrap();
    assert!(
        over.2 - down.2 <= 100_000_000,
        "failover {} ns after the loss",
        over.2 - down.2
    );
    assert_eq!(group_states(&s)[0], FeedState::Live);
    assert!(stats.counter("parser.source.primary.trades").unwrap() > 100);
    assert!(stats.counter("parser.source.backup.trades").unwrap() > 100);
    assert_eq!(stats.counter("parser.source.backup.gaps").unwrap(), 0);
    assert_eq!(stats.counter("parser.group.btc.failovers").unwrap(), 1);
    // The backup's trades were held while the primary served (passed on at the switch
    // only where the primary had not delivered them: timing decides how many).
    assert!(stats.counter("parser.group.btc.held_trades").unwrap() > 100);
    let hist: BTreeMap<String, _> = stats.histograms().into_iter().collect();
    assert!(
        hist["source.backup.exch_to_recv_ns"].count > 100,
        "{hist:?}"
    );
    backup.stop();
}

#[test]
fn hot_standby_fails_over_on_a_stall_and_back_when_the_primary_recovers() {
    let _serial = common::serial();
    // The primary stalls after 1.5 s on every connection.
    let stalls = FaultConfig {
        stall_after: Some(3000),
        stall_for: Duration::from_secs(3),
        ..FaultConfig::default()
    };
    let Pair {
        dir: _dir,
        primary,
        backup,
        seen,
        engine,
    } = pair("stall", stalls, GroupMode::HotStandby, 300);
    common::wait_until("a failover and a failback", 30, || {
        let s = seen.lock().unwrap();
        let states = group_states(&s);
        states.contains(&FeedState::FailedOver)
            && states.contains(&FeedState::FailedBack)
            && s.trades.len() > 4000
    });
    engine.request_stop();
    engine.join().unwrap();
    let s = seen.lock().unwrap();
    assert_exactly_once_in_order(&s);
    // The stall was noticed within the idle timeout, and the failover followed at once.
    let stale = s
        .status
        .iter()
        .find(|x| x.0 == 0 && x.1 == FeedState::Stale)
        .unwrap();
    assert!(stale.3 <= 1100, "stale after {} ms of silence", stale.3);
    let over = s
        .status
        .iter()
        .find(|x| x.0 == 2 && x.1 == FeedState::FailedOver)
        .unwrap();
    assert!(
        over.2 - stale.2 <= 100_000_000,
        "failover {} ns after stale",
        over.2 - stale.2
    );
    primary.stop();
    backup.stop();
}

#[test]
fn hot_hot_takes_every_source_and_drops_the_duplicates() {
    let _serial = common::serial();
    let Pair {
        dir,
        primary,
        backup,
        seen,
        engine,
    } = pair("hothot", FaultConfig::default(), GroupMode::HotHot, 1000);
    let stats = StatsReader::open(dir.path(), "hothot").unwrap();
    // Both sources deliver before the primary dies (a backup that connects after the
    // primary's death cannot bring back what only the primary had).
    common::wait_until("trades from both sources", 20, || {
        stats.counter("parser.source.primary.trades").unwrap_or(0) > 300
            && stats.counter("parser.source.backup.trades").unwrap_or(0) > 300
    });
    primary.stop();
    let n = seen.lock().unwrap().trades.len();
    common::wait_until("trades after the primary's death", 20, || {
        seen.lock().unwrap().trades.len() > n + 600
    });
    engine.request_stop();
    engine.join().unwrap();
    let s = seen.lock().unwrap();
    assert_exactly_once_in_order(&s);
    assert!(stats.counter("aggregator.duplicates").unwrap() > 100);
    backup.stop();
}
