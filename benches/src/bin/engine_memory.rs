//! Resident memory of the engine's state at scale: 100,000 symbols, 3 timeframes, every
//! 200-bar window full, every symbol with open bars, the shared-memory files and the rings.
//!
//! `cargo run --release -p tickforge-benches --bin engine_memory [SYMBOLS]`
//!
//! It builds the same structures `tickforge run` builds (symbol table, aggregator,
//! scanner windows, NAME.events/latest/stats in /dev/shm, the four rings), fills them, and
//! prints the process's resident set size (VmRSS, VmHWM) after each step.

use std::time::Instant;

use tickforge_benches::{bars, trades};
use tickforge_engine::aggregator::{AggregatorConfig, BarAggregator};
use tickforge_engine::frame::frame_edge;
use tickforge_engine::record::Record;
use tickforge_engine::ring::edge;
use tickforge_engine::scanner::{Scanner, ScannerConfig};
use tickforge_engine::shm::{EventWriter, LatestWriter, ShmConfig, StatsLayout, StatsWriter};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_engine::wait::ThreadWake;

fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn report(step: &str, start: Instant) {
    println!(
        "{step:<48} VmRSS {:>8.1} MiB   VmHWM {:>8.1} MiB   ({:.1} s)",
        status("VmRSS:") as f64 / 1024.0,
        status("VmHWM:") as f64 / 1024.0,
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let symbols: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let start = Instant::now();
    report("start", start);

    let mut table = SymbolTable::new();
    for s in 0..symbols {
        table
            .add(venue::BINANCE, &format!("SYM{s}USDT"), false)
            .expect("unique names");
    }
    let agg_cfg = AggregatorConfig::default();
    let tf_secs: Vec<i64> = agg_cfg
        .timeframes
        .iter()
        .map(|t| i64::from(t.secs()))
        .collect();
    let mut agg = BarAggregator::new(&agg_cfg, vec![0; symbols as usize]);
    let mut scanner = Scanner::new(ScannerConfig::default(), symbols as usize, tf_secs.len());
    report("symbol table, aggregator, empty windows", start);

    let shm = ShmConfig {
        dir: "/dev/shm".into(),
        name: format!("tfmem{}", std::process::id()),
        ..ShmConfig::default()
    };
    let secs: Vec<u32> = tf_secs.iter().map(|&s| s as u32).collect();
    let events = EventWriter::create(&shm).expect("events");
    let latest = LatestWriter::create(&shm, &table, &secs).expect("latest");
    let stats = StatsWriter::create(&shm, &StatsLayout::new(&["a", "b"], &["h"])).expect("stats");
    let wake = ThreadWake::new();
    let rings: Vec<_> = (0..3)
        .map(|_| edge::<Record>(1 << 16, wake.clone()))
        .collect();
    let frames = frame_edge(1 << 14, 8 << 20, wake);
    report("shared-memory files and rings", start);

    // Every symbol gets open bars in every timeframe.
    for t in trades(symbols, symbols as usize * 2, 1_000, 3) {
        agg.on_trade(&t, &mut |_| {}, &mut |_| {});
    }
    report("open bars for every symbol", start);

    // Every window full: 200 closed bars per symbol and timeframe.
    let mut signals = 0u64;
    for s in 0..symbols {
        for (tf, &secs) in tf_secs.iter().enumerate() {
            for b in bars(s, tf as u8, secs, 200, 5) {
                scanner.on_bar(&b, &mut |_| signals += 1);
            }
        }
    }
    report("every 200-bar window full", start);
    let stored: usize = (0..symbols)
        .flat_map(|s| (0..tf_secs.len() as u8).map(move |tf| (s, tf)))
        .filter_map(|(s, tf)| scanner.window(s, tf).map(|w| w.len()))
        .sum();
    println!("{stored} bars held in windows, {signals} signals while filling");
    println!(
        "symbols {symbols}, timeframes {}, peak resident {:.1} MiB",
        tf_secs.len(),
        status("VmHWM:") as f64 / 1024.0
    );

    drop((events, latest, stats, rings, frames));
    for kind in ["events", "latest", "stats"] {
        let _ = std::fs::remove_file(format!("/dev/shm/{}.{kind}", shm.name));
    }
}
