//! Full rings on purpose: a publisher slowed down by its tap fills every ring, and each
//! policy is checked end to end over a real loopback WebSocket.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickforge::config::Config;
use tickforge::engine::{Engine, StartOptions};
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
    let tap = Box::new(move |r: &tickforge_engine::record::Record| {
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
    });
    let engine = Engine::start(&cfg, StartOptions { tap: Some(tap) }).unwrap();
    let stats = StatsReader::open(dir.path(), name).unwrap();
    // Wait until the simulator has sent everything and the engine has read it all.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = engine.sim.as_ref().unwrap().stats().messages;
        let read = stats.counter("reader.frames").unwrap_or(0);
        if sent >= MESSAGES && read >= sent {
            break;
        }
        assert!(Instant::now() < deadline, "sent {sent}, read {read}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sim_stats = engine.sim.as_ref().unwrap().stats();
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
