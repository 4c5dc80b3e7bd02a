//! Connections that survive a misbehaving venue: the engine against a simulator that stalls,
//! drops connections, announces shutdowns and floods bad frames, over real loopback
//! sockets. Every wait is bounded; delays are checked from the recorded status events.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickforge::config::Config;
use tickforge::engine::Engine;
use tickforge::sim::{FaultConfig, SimConfig, SimServer};
use tickforge_engine::record::{bar_flags, FeedState, Record, RecordView};
use tickforge_engine::shm::StatsReader;

/// What the tap saw, in publication order.
#[derive(Default)]
struct Seen {
    /// (state, status time, connection, detail).
    status: Vec<(FeedState, i64, u32, i64)>,
    /// (symbol, trade id, receive time).
    trades: Vec<(u32, u64, i64)>,
    /// Receive time of the latest trade or quote.
    last_data: i64,
    /// (receive time of the data before each status, status time) for stale statuses.
    stale_gaps: Vec<(i64, i64)>,
    /// Closed bars: (symbol, tf, open time, flags).
    bars: Vec<(u32, u8, i64, u16)>,
}

fn tap(seen: Arc<Mutex<Seen>>) -> impl FnMut(&Record) + Send + 'static {
    move |r| {
        let mut s = seen.lock().unwrap();
        match r.view() {
            Some(RecordView::Trade(t)) => {
                s.trades.push((t.symbol, t.trade_id, t.recv_ts));
                s.last_data = t.recv_ts;
            }
            Some(RecordView::Quote(q)) => s.last_data = q.recv_ts,
            Some(RecordView::FeedStatus(f)) => {
                let state = FeedState::from_u16(f.state).unwrap();
                if state == FeedState::Stale {
                    let gap = (s.last_data, f.ts);
                    s.stale_gaps.push(gap);
                }
                s.status.push((state, f.ts, f.conn, f.detail));
            }
            Some(RecordView::Bar(b)) if b.flags & bar_flags::CLOSED != 0 => {
                s.bars.push((b.symbol, b.tf, b.open_ts, b.flags))
            }
            _ => {}
        }
    }
}

/// A simulator sharing one market over all its connections, with `faults`.
fn sim(faults: FaultConfig, rate: u64) -> SimServer {
    SimServer::start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        rate,
        continue_ids: true,
        faults,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

/// An engine whose one feed connects to `sim`, with `tweak` applied to the feed.
fn engine(
    dir: &std::path::Path,
    name: &str,
    sim: &SimServer,
    seen: Arc<Mutex<Seen>>,
    tweak: impl FnOnce(&mut tickforge::config::FeedSection),
) -> Engine {
    let mut cfg = Config::default();
    cfg.engine.name = name.into();
    cfg.engine.shm_dir = dir.to_path_buf();
    cfg.engine.timeframes = vec!["1s".parse().unwrap()];
    let f = &mut cfg.feeds[0];
    f.url = sim.url();
    f.symbols = sim.symbols();
    f.reconnect_jitter = 0.2;
    tweak(f);
    common::start_tapped(&cfg, tap(seen))
}

fn count(seen: &Mutex<Seen>, state: FeedState) -> usize {
    seen.lock()
        .unwrap()
        .status
        .iter()
        .filter(|s| s.0 == state)
        .count()
}

/// Per symbol, the trade ids published, in order.
fn ids_by_symbol(seen: &Seen) -> BTreeMap<u32, Vec<u64>> {
    let mut by: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for &(s, id, _) in &seen.trades {
        by.entry(s).or_default().push(id);
    }
    by
}

#[test]
fn a_stalled_feed_is_declared_stale_in_time_reconnected_and_its_bars_flagged() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(
        FaultConfig {
            stall_after: Some(6000),
            stall_for: Duration::from_secs(4),
            ..FaultConfig::default()
        },
        2000,
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let engine = engine(dir.path(), "stall", &sim, seen.clone(), |f| {
        f.idle_timeout_ms = Some(1000);
        f.reconnect_initial_ms = 100;
    });
    common::wait_until("a stale feed back with data", 30, || {
        let s = seen.lock().unwrap();
        let back = s.status.iter().rposition(|x| x.0 == FeedState::Live);
        let stale = s.status.iter().position(|x| x.0 == FeedState::Stale);
        match (stale, back) {
            (Some(st), Some(b)) if b > st => {
                let live_ts = s.status[b].1;
                s.trades
                    .last()
                    .is_some_and(|t| t.2 > live_ts + 2_200_000_000)
            }
            _ => false,
        }
    });
    engine.request_stop();
    engine.join().unwrap();

    let s = seen.lock().unwrap();
    // Declared stale within the idle timeout + 10 %, counted from the last data frame.
    let (last, stale_at) = s.stale_gaps[0];
    let silent_ms = (stale_at - last) / 1_000_000;
    assert!(
        (1000..=1100).contains(&silent_ms),
        "stale after {silent_ms} ms of silence"
    );
    // Reconnected and resubscribed: both symbols trade again on the new connection.
    let stale_i = s
        .status
        .iter()
        .position(|x| x.0 == FeedState::Stale)
        .unwrap();
    let back = &s.status[stale_i..]
        .iter()
        .find(|x| x.0 == FeedState::Live)
        .copied()
        .unwrap();
    let after: std::collections::BTreeSet<u32> = s
        .trades
        .iter()
        .filter(|t| t.2 > back.1)
        .map(|t| t.0)
        .collect();
    assert_eq!(
        after.len(),
        2,
        "symbols trading after the reconnect: {after:?}"
    );
    // The bars open over the stall carry the stale flag.
    let stall_start_s = last / 1_000_000_000;
    let flagged: Vec<_> = s
        .bars
        .iter()
        .filter(|b| b.3 & bar_flags::STALE != 0)
        .collect();
    assert!(
        flagged
            .iter()
            .any(|b| b.2 / 1_000_000_000 >= stall_start_s - 1),
        "no stale bar over the stall: {:?}",
        s.bars
    );
    assert!(
        s.bars
            .iter()
            .any(|b| b.3 & bar_flags::STALE == 0 && b.2 > back.1),
        "bars after the recovery are not flagged"
    );
    let stats = StatsReader::open(dir.path(), "stall").unwrap();
    assert!(stats.counter("reader.stale").unwrap() >= 1);
    sim.stop();
}

#[test]
fn repeated_disconnects_back_off_as_configured_and_keep_every_subscription() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(
        FaultConfig {
            disconnect_after: Some(150),
            ..FaultConfig::default()
        },
        3000,
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let engine = engine(dir.path(), "drops", &sim, seen.clone(), |f| {
        f.reconnect_initial_ms = 100;
        f.reconnect_factor = 2.0;
        f.reconnect_max_ms = 800;
        f.reconnect_stable_ms = 60_000;
    });
    common::wait_until("six reconnects", 40, || {
        count(&seen, FeedState::Connecting) >= 7
    });
    engine.request_stop();
    engine.join().unwrap();

    let s = seen.lock().unwrap();
    // The delay between each disconnect and the next connect attempt follows the policy.
    let mut delays = Vec::new();
    let mut down_at = None;
    for &(state, ts, _, _) in &s.status {
        match state {
            FeedState::Disconnected => down_at = Some(ts),
            FeedState::Connecting => {
                if let Some(d) = down_at.take() {
                    delays.push((ts - d) / 1_000_000);
                }
            }
            _ => {}
        }
    }
    assert!(delays.len() >= 6, "{delays:?}");
    for (k, &ms) in delays.iter().enumerate() {
        let nominal = (100i64 << k).min(800);
        let low = nominal * 8 / 10 - 5;
        assert!(
            ms >= low && ms <= nominal + 250,
            "delay {k}: {ms} ms, nominal {nominal} ms: {delays:?}"
        );
    }
    // Every connection got both symbols' trades: nothing lost its subscription.
    let lives: Vec<i64> = s
        .status
        .iter()
        .filter(|x| x.0 == FeedState::Live)
        .map(|x| x.1)
        .collect();
    let downs: Vec<i64> = s
        .status
        .iter()
        .filter(|x| x.0 == FeedState::Disconnected)
        .map(|x| x.1)
        .collect();
    for (i, live) in lives.iter().enumerate().take(downs.len()) {
        let syms: std::collections::BTreeSet<u32> = s
            .trades
            .iter()
            .filter(|t| t.2 > *live && t.2 < downs[i])
            .map(|t| t.0)
            .collect();
        assert_eq!(syms.len(), 2, "connection {i} traded {syms:?}");
    }
    sim.stop();
}

#[test]
fn make_before_break_rotations_lose_and_double_no_trade() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    // A shutdown notice after 400 messages on every connection, and a maximum lifetime.
    let sim = sim(
        FaultConfig {
            shutdown_after: Some(400),
            shutdown_grace: Duration::from_millis(1500),
            ..FaultConfig::default()
        },
        2000,
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let engine = engine(dir.path(), "mbb", &sim, seen.clone(), |f| {
        f.max_lifetime_ms = Some(700);
    });
    common::wait_until("four rotations", 40, || {
        count(&seen, FeedState::Rotated) >= 4
    });
    engine.request_stop();
    engine.join().unwrap();

    let s = seen.lock().unwrap();
    assert!(
        !s.status
            .iter()
            .any(|x| x.0 == FeedState::Disconnected || x.0 == FeedState::Stale),
        "a rotation is not an outage: {:?}",
        s.status
    );
    assert!(count(&seen_clone(&s), FeedState::Rotating) >= 4);
    for (sym, ids) in ids_by_symbol(&s) {
        assert!(ids.len() > 100, "symbol {sym}: {} trades", ids.len());
        for w in ids.windows(2) {
            assert_eq!(
                w[1],
                w[0] + 1,
                "symbol {sym}: trade ids {} then {}",
                w[0],
                w[1]
            );
        }
    }
    let stats = StatsReader::open(dir.path(), "mbb").unwrap();
    assert_eq!(stats.counter("aggregator.gaps").unwrap(), 0);
    assert!(
        stats.counter("aggregator.duplicates").unwrap() > 0,
        "the overlap delivered trades twice, and they were dropped"
    );
    assert!(sim.stats().shutdown_notices >= 1);
    sim.stop();
}

/// The status list of `s` behind a mutex, for [`count`].
fn seen_clone(s: &Seen) -> Mutex<Seen> {
    Mutex::new(Seen {
        status: s.status.clone(),
        ..Seen::default()
    })
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn floods_of_malformed_frames_and_bursts_are_counted_without_dropping_the_connection() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let sim = SimServer::start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        rate: 10_000,
        malformed_rate: 0.3,
        faults: FaultConfig {
            burst_factor: 10.0,
            burst_every: Some(Duration::from_millis(500)),
            burst_len: Duration::from_millis(100),
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    })
    .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let engine = engine(dir.path(), "flood", &sim, seen.clone(), |_| {});
    let stats = StatsReader::open(dir.path(), "flood").unwrap();
    // Past the first lap of every ring and buffer (whose pages are touched then), memory
    // must stay where it is.
    common::wait_until("frames", 30, || {
        stats.counter("parser.frames").unwrap_or(0) > 80_000
    });
    let rss_start = rss_kib();
    let frames_start = stats.counter("parser.frames").unwrap();
    common::wait_until("many more frames", 30, || {
        stats.counter("parser.frames").unwrap_or(0) > frames_start + 60_000
    });
    let rss_end = rss_kib();
    engine.request_stop();
    engine.join().unwrap();
    assert!(stats.counter("parser.rejected").unwrap() > 5_000);
    assert_eq!(stats.counter("reader.disconnects").unwrap(), 0);
    assert!(sim.stats().bursts >= 1);
    // Memory is flat: 60,000 more frames, a third of them bad, cost no lasting memory.
    assert!(
        rss_end <= rss_start + 8 * 1024,
        "RSS grew from {rss_start} KiB to {rss_end} KiB"
    );
    sim.stop();
}
