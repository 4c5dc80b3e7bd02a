//! Control traffic is not data: pings are answered, acknowledgements and venue errors
//! become feed-status events, and none of them is counted as a rejected frame.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickforge::config::Config;

mod common;
use tickforge_engine::record::{FeedState, RecordView};
use tickforge_engine::shm::StatsReader;

#[test]
fn pings_acks_and_venue_errors_are_connection_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.engine.name = "ctl".into();
    cfg.engine.shm_dir = dir.path().to_path_buf();
    cfg.sim.malformed_rate = 0.0;
    cfg.sim.ping_interval_ms = 50;
    cfg.sim.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    // A second feed asks for a symbol the venue does not know: its subscription is refused
    // by name, and the first feed is unaffected.
    cfg.feeds[0].symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    let mut bad = cfg.feeds[0].clone();
    bad.name = "unknown-symbol".into();
    bad.symbols = vec!["NOPEUSDT".into()];
    cfg.feeds.push(bad);
    let status = Arc::new(Mutex::new(Vec::new()));
    let s2 = status.clone();
    let tap = move |r: &tickforge_engine::record::Record| {
        if let Some(RecordView::FeedStatus(f)) = r.view() {
            s2.lock().unwrap().push((
                FeedState::from_u16(f.state).unwrap(),
                f.reason().to_string(),
            ));
        }
    };
    let engine = common::start_tapped(&cfg, tap);
    let stats = StatsReader::open(dir.path(), "ctl").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.sim().unwrap().stats().pongs < 3
        || stats.counter("parser.trades").unwrap_or(0) < 50
    {
        assert!(
            Instant::now() < deadline,
            "no pongs or no trades: {:?}",
            engine.sim().unwrap().stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    engine.request_stop();
    engine.join().unwrap();

    let status = status.lock().unwrap();
    let states: Vec<FeedState> = status.iter().map(|(s, _)| *s).collect();
    assert_eq!(states.first(), Some(&FeedState::Connecting), "{status:?}");
    assert!(states.contains(&FeedState::Live), "{status:?}");
    assert!(states.contains(&FeedState::Subscribed), "{status:?}");
    let refusal = status
        .iter()
        .find(|(s, _)| *s == FeedState::VenueError)
        .expect("a venue error event");
    assert!(
        refusal.1.contains("nopeusdt"),
        "the refused stream is named: {:?}",
        refusal.1
    );
    assert_eq!(
        stats.counter("parser.rejected"),
        Some(0),
        "control traffic is not bad data"
    );
    assert!(stats.counter("parser.control").unwrap() >= 2);
}
