//! The conventional baseline pipeline computes what tickforge computes: the same tick
//! file, served by two simulators, once to the baseline and once to the engine, gives the
//! same closed bars and the same trade count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickforge::config::Config;
use tickforge::engine::{Engine, StartOptions};
use tickforge::sim::{SimConfig, SimServer};
use tickforge_benches::baseline::{self, BaselineConfig, EndReason, StopCondition};
use tickforge_engine::record::{bar_flags, BarRecord, RecordView};

mod common;
use common::{subscribe_trades, write_tick_file, SYMBOLS};

/// Symbol, timeframe seconds, open time, open, high, low, close, volume, count.
type BarKey = (String, u32, i64, i64, i64, i64, i64, u128, u32);

/// Runs the engine on the tick file; its closed bars and the number of trades published.
fn engine_bars(cfg: &Config) -> (Vec<BarKey>, u64) {
    let bars: Arc<Mutex<Vec<BarRecord>>> = Arc::default();
    let trades = Arc::new(AtomicU64::new(0));
    let (b, t) = (bars.clone(), trades.clone());
    let tap = move |r: &tickforge_engine::record::Record| match r.view() {
        Some(RecordView::Bar(bar)) if bar.flags & bar_flags::CLOSED != 0 => {
            b.lock().unwrap().push(bar);
        }
        Some(RecordView::Trade(_)) => {
            t.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    };
    let engine = Engine::start(
        cfg,
        StartOptions {
            tap: Some(Box::new(tap)),
            ..StartOptions::default()
        },
    )
    .expect("the engine starts");
    let names = engine.sim().expect("the tick-file simulator").symbols();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !engine.is_finished() {
        if Instant::now() > deadline {
            engine.request_stop();
            std::thread::sleep(Duration::from_secs(2));
            panic!("the engine did not finish the tick file within 90 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    engine.join().expect("the engine stops cleanly");
    let tfs = &cfg.engine.timeframes;
    let mut out: Vec<BarKey> = bars
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(
                b.flags,
                bar_flags::CLOSED,
                "no flag on a complete file: {b:?}"
            );
            (
                names[b.symbol as usize].clone(),
                tfs[usize::from(b.tf)].secs(),
                b.open_ts,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume(),
                b.count,
            )
        })
        .collect();
    out.sort();
    (out, trades.load(Ordering::Relaxed))
}

#[test]
fn baseline_bars_equal_the_engines_on_a_tick_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ticks.csv");
    let written = write_tick_file(&path, 4000);

    // The baseline, on its own simulator.
    let server = SimServer::start(SimConfig {
        tick_file: Some(path.clone()),
        ..SimConfig::default()
    })
    .expect("the simulator starts");
    assert_eq!(server.symbols(), SYMBOLS);
    let report = baseline::run(BaselineConfig {
        url: server.url(),
        subscribe: vec![subscribe_trades(&server.symbols())],
        stop_after: StopCondition::ServerClose,
        timeout: Duration::from_secs(90),
        broadcast_capacity: 1 << 16,
        ..BaselineConfig::default()
    })
    .expect("the baseline runs");
    server.stop();
    assert_eq!(report.ended, EndReason::ServerClosed);
    assert_eq!(report.frames, written.ticks + 1, "every tick and the ack");
    assert_eq!((report.replies, report.rejected), (1, 0));
    assert_eq!((report.lagged, report.late), (0, 0));
    assert_eq!(report.trades, written.ticks);
    assert_eq!(report.trade_volume, written.volume);
    assert_eq!(report.quotes, 0);
    assert_eq!(
        report.events,
        report.trades + report.bars.len() as u64,
        "trades and bars"
    );
    assert_eq!(report.latency.len(), report.events);

    // The engine, on another simulator of the same file.
    let mut cfg = Config::default();
    cfg.use_tick_file(path);
    cfg.engine.shm_dir = dir.path().to_owned();
    cfg.engine.name = "baseline-eq".into();
    // The frame journal is beside the point here (and defaults to `./journal`).
    cfg.journal.enabled = false;
    cfg.journal.dir = dir.path().join("journal");
    let (engine, engine_trades) = engine_bars(&cfg);
    assert_eq!(engine_trades, written.ticks);

    let mut ours: Vec<BarKey> = report
        .bars
        .iter()
        .map(|b| {
            (
                b.symbol.clone(),
                b.timeframe.secs(),
                b.open_ts,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.count,
            )
        })
        .collect();
    ours.sort();
    assert!(ours.len() > 1000, "{} bars", ours.len());
    for secs in [1, 60, 300] {
        assert!(ours.iter().any(|b| b.1 == secs), "bars of {secs} s");
    }
    let counted: u64 = ours
        .iter()
        .filter(|b| b.1 == 1)
        .map(|b| u64::from(b.8))
        .sum();
    assert_eq!(counted, written.ticks, "every trade is in one 1 s bar");
    if ours != engine {
        let only_ours: Vec<_> = ours
            .iter()
            .filter(|b| !engine.contains(b))
            .take(5)
            .collect();
        let only_engine: Vec<_> = engine
            .iter()
            .filter(|b| !ours.contains(b))
            .take(5)
            .collect();
        panic!(
            "{} baseline bars, {} engine bars; only in the baseline: {only_ours:?}; \
             only in the engine: {only_engine:?}",
            ours.len(),
            engine.len()
        );
    }
}

#[test]
fn baseline_reads_trades_and_quotes_of_the_synthetic_market_and_stops_after_n_frames() {
    let server = SimServer::start(SimConfig {
        rate: 5000,
        ..SimConfig::default()
    })
    .expect("the simulator starts");
    let report = baseline::run(BaselineConfig {
        url: server.url(),
        subscribe: vec![
            r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker","ethusdt@trade","ethusdt@bookTicker"],"id":7}"#
                .into(),
        ],
        stop_after: StopCondition::Frames(400),
        timeout: Duration::from_secs(30),
        ..BaselineConfig::default()
    })
    .expect("the baseline runs");
    server.stop();
    assert_eq!(report.ended, EndReason::Frames);
    assert_eq!(report.frames, 400);
    assert_eq!((report.replies, report.rejected), (1, 0));
    assert_eq!(report.trades + report.quotes, 399);
    assert!(report.trades > 0 && report.quotes > 0, "{report:?}");
    assert_eq!(report.lagged, 0);
    assert_eq!(
        report.events,
        report.trades + report.quotes + report.bars.len() as u64
    );
    // The end of input closes the open bars: at least one per symbol and timeframe.
    assert!(report.bars.len() >= 6, "{} bars", report.bars.len());
    assert!(report.latency.value_at_quantile(0.5) > 0);
}

#[test]
fn baseline_refuses_what_it_cannot_connect_to_with_the_url_named() {
    for url in [
        "wss://127.0.0.1:1/stream",
        "ws://127.0.0.1:1/stream",
        "not a url",
    ] {
        let err = baseline::run(BaselineConfig {
            url: url.into(),
            timeout: Duration::from_secs(5),
            ..BaselineConfig::default()
        })
        .expect_err("nothing to connect to");
        assert!(err.to_string().contains(url), "{url}: {err}");
    }
}
