//! Full rings on purpose: a publisher slowed down by its tap fills every ring, and each
//! policy is checked end to end over a real loopback WebSocket.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickforge::config::Config;

mod common;
use tickforge_engine::backpressure::FullPolicy;
use tickforge_engine::layout::LayoutMode;
use tickforge_engine::record::{bar_flags, RecordView};
use tickforge_engine::shm::StatsReader;
use tickforge_engine::wait::WaitStrategy;

const MESSAGES: u64 = 6000;

#[derive(Default)]
struct Seen {
    trades: BTreeMap<u32, Vec<u64>>,
    quotes: u64,
    incomplete_bars: u64,
}

fn run(policy: FullPolicy, name: &str) -> (Seen, StatsReader, tickforge::sim::SimStats) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.engine.name = name.into();
    cfg.engine.shm_dir = dir.path().to_path_buf();
    cfg.sim.rate = 30_000;
    cfg.sim.malformed_rate = 0.0;
    cfg.sim.max_messages = Some(MESSAGES);
    // Stages on their own threads with tiny rings, so a slow publisher backs up the chain.
    cfg.layout.mode = LayoutMode::Dedicated;
    cfg.layout.wait = Some(WaitStrategy::Park);
    cfg.backpressure.ring_capacity = 32;
    cfg.backpressure.frame_capacity = 8;
    cfg.feeds[0].full_policy = policy;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = seen.clone();
    let tap = move |r: &tickforge_engine::record::Record| {
        let mut s = s2.lock().unwrap();
        match r.view() {
            Some(RecordView::Trade(t)) => {
                s.trades.entry(t.symbol).or_default().push(t.trade_id);
                // A slow consumer: ~10k events/s at most.
                std::thread::sleep(Duration::from_micros(100));
            }
            Some(RecordView::Quote(_)) => s.quotes += 1,
            Some(RecordView::Bar(b)) if b.flags & bar_flags::INCOMPLETE != 0 => {
                s.incomplete_bars += 1
            }
            _ => {}
        }
    };
    let engine = common::start_tapped(&cfg, tap);
    let stats = StatsReader::open(dir.path(), name).unwrap();
    // Wait until the simulator has sent everything and the engine has read it all.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = engine.sim().unwrap().stats().messages;
        let read = stats.counter("reader.frames").unwrap_or(0);
        if sent >= MESSAGES && read >= sent {
            break;
        }
        assert!(Instant::now() < deadline, "sent {sent}, read {read}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sim_stats = engine.sim().unwrap().stats();
    engine.request_stop();
    engine.join().unwrap();
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    (seen, stats, sim_stats)
}

#[test]
fn block_policy_loses_nothing_and_pushes_back_on_the_socket() {
    let (seen, stats, sim) = run(FullPolicy::Block, "bp_block");
    let c = |n: &str| stats.counter(n).unwrap();
    assert_eq!(c("parser.dropped_trades"), 0);
    assert_eq!(c("parser.conflated_quotes") + c("parser.sampled_quotes"), 0);
    assert!(
        c("reader.backpressure_stalls") > 0,
        "the reader never had to stop reading"
    );
    let published: u64 = seen.trades.values().map(|v| v.len() as u64).sum();
    assert_eq!(published, sim.trades, "every trade sent was published");
    assert_eq!(seen.quotes, sim.quotes, "every quote sent was published");
    for ids in seen.trades.values() {
        assert!(
            ids.windows(2).all(|w| w[1] == w[0] + 1),
            "trade ids in order, none missing"
        );
    }
    assert_eq!(seen.incomplete_bars, 0);
}

#[test]
fn drop_policy_counts_every_dropped_trade_and_flags_its_bars() {
    let (seen, stats, sim) = run(FullPolicy::Drop, "bp_drop");
    let c = |n: &str| stats.counter(n).unwrap();
    let dropped = c("parser.dropped_trades");
    assert!(dropped > 0, "the rings never filled");
    let published: u64 = seen.trades.values().map(|v| v.len() as u64).sum();
    // Nothing accepted is lost silently: published + dropped = sent.
    assert_eq!(published + dropped, sim.trades);
    assert!(
        seen.incomplete_bars > 0,
        "bars touched by dropped trades are flagged"
    );
    assert!(c("parser.conflated_quotes") + c("parser.sampled_quotes") > 0);
    // Ids still increase per symbol: drops leave holes, never reorder.
    for ids in seen.trades.values() {
        assert!(ids.windows(2).all(|w| w[1] > w[0]));
    }
}

#[test]
fn throttled_quotes_are_counted_and_latest_stays_current() {
    use tickforge_engine::shm::LatestReader;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.engine.name = "throttle".into();
    cfg.engine.shm_dir = dir.path().to_path_buf();
    cfg.sim.rate = 20_000;
    cfg.sim.quote_ratio = 0.9;
    cfg.sim.malformed_rate = 0.0;
    cfg.sim.max_messages = Some(4000);
    cfg.sim.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    cfg.feeds[0].priority = vec!["BTCUSDT".into()];
    cfg.throttle.enabled = true;
    cfg.throttle.min_interval_ms = 50;
    cfg.throttle.min_change = 0.01;
    let published = Arc::new(Mutex::new(BTreeMap::<u32, Vec<i64>>::new()));
    let p2 = published.clone();
    let tap = move |r: &tickforge_engine::record::Record| {
        if let Some(RecordView::Quote(q)) = r.view() {
            p2.lock().unwrap().entry(q.symbol).or_default().push(q.bid);
        }
    };
    let engine = common::start_tapped(&cfg, tap);
    let stats = StatsReader::open(dir.path(), "throttle").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.counter("parser.quotes").unwrap_or(0) < engine.sim().unwrap().stats().quotes
        || engine.sim().unwrap().stats().messages < 4000
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = engine.sim().unwrap().stats().quotes;
    engine.request_stop();
    engine.join().unwrap();
    let throttled = stats.counter("publisher.quotes_throttled").unwrap();
    let published = published.lock().unwrap();
    let count = |s: u32| published.get(&s).map_or(0, |v| v.len() as u64);
    assert!(throttled > 0);
    assert_eq!(
        count(0) + count(1) + throttled,
        sent,
        "every quote published or counted"
    );
    // The priority symbol is exempt; the other is held to roughly one per 50 ms.
    assert!(
        count(0) > count(1) * 5,
        "priority {} vs throttled {}",
        count(0),
        count(1)
    );
    // NAME.latest always has the newest quote of the throttled symbol.
    let latest = LatestReader::open(dir.path(), "throttle").unwrap();
    assert!(latest.quote(1).is_some());
}
