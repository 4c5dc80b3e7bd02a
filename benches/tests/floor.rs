//! The floor client reads every frame of a tick file served by the simulator.

use std::time::Duration;

use tickforge::sim::{SimConfig, SimServer};
use tickforge_benches::floor::{self, EndReason, FloorConfig, StopCondition};

mod common;
use common::{subscribe_trades, write_tick_file};

#[test]
fn the_floor_client_reads_every_frame_of_a_tick_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ticks.csv");
    let written = write_tick_file(&path, 5000);
    let server = SimServer::start(SimConfig {
        tick_file: Some(path),
        ..SimConfig::default()
    })
    .expect("the simulator starts");
    let report = floor::run(&FloorConfig {
        url: server.url(),
        subscribe: vec![subscribe_trades(&server.symbols())],
        stop_after: StopCondition::ServerClose,
        timeout: Duration::from_secs(60),
    })
    .expect("the floor client runs");
    let sent = server.stats();
    server.stop();
    assert_eq!(report.ended, EndReason::ServerClosed);
    assert_eq!(sent.trades, written.ticks);
    assert_eq!(report.frames, written.ticks + 1, "every tick and the ack");
    assert!(report.bytes > report.frames * 100, "{} bytes", report.bytes);
    assert_eq!(report.read_ns.len(), report.frames);
    assert_eq!(report.inter_arrival_ns.len(), report.frames - 1);
    // Every frame is a JSON object: `{` and `}` at its ends.
    assert_eq!(report.checksum, report.frames * u64::from(b'{' + b'}'));
    assert!(report.frames_per_sec() > 0.0);
}

#[test]
fn the_floor_client_stops_after_a_duration_or_a_frame_count() {
    let server = SimServer::start(SimConfig {
        rate: 2000,
        ..SimConfig::default()
    })
    .expect("the simulator starts");
    let subscribe = vec![
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker"],"id":1}"#
            .to_owned(),
    ];
    let report = floor::run(&FloorConfig {
        url: server.url(),
        subscribe: subscribe.clone(),
        stop_after: StopCondition::Frames(50),
        timeout: Duration::from_secs(30),
    })
    .expect("the floor client runs");
    assert_eq!((report.ended, report.frames), (EndReason::Frames, 50));
    let report = floor::run(&FloorConfig {
        url: server.url(),
        subscribe,
        stop_after: StopCondition::After(Duration::from_millis(300)),
        timeout: Duration::from_secs(30),
    })
    .expect("the floor client runs");
    server.stop();
    assert_eq!(report.ended, EndReason::Duration);
    assert!(report.frames > 0);
    assert!(report.elapsed >= Duration::from_millis(300));
}
