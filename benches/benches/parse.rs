//! Parse-and-normalize cost per frame, for every venue adapter, against serde_json on the
//! same frames in the same run.
//!
//! - `binance_trade_frame`: one realistic 136-byte Binance trade frame, parsed by the
//!   adapter (fast path), by a conventional serde_json reading into a borrowed struct plus
//!   the same normalization, and by the serde_json reference parser.
//! - `<venue>/trades` and `<venue>/quotes`: every fixture line of the venue that holds
//!   trades (or quotes), adapter against the serde_json reference parser; throughput is
//!   per frame.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::Deserialize;
use tickforge_engine::fixed::parse_unsigned_decimal;
use tickforge_engine::record::{Side, TradeRecord};
use tickforge_engine::symbol::venue;
use tickforge_feeds::reference::{sample_table as table, Reference};
use tickforge_feeds::venue::{adapter_for, AdapterEvent, AdapterOptions, VenueAdapter};

const BINANCE_TRADE: &str = r#"{"e":"trade","E":1700000000123,"s":"BTCUSDT","t":3290311234,"p":"37012.34000000","q":"0.00123000","T":1700000000122,"m":false,"M":true}"#;

/// A conventional serde_json reading of a Binance trade: a borrowed struct.
#[derive(Deserialize)]
#[allow(non_snake_case, dead_code)]
struct SerdeTrade<'a> {
    e: &'a str,
    E: u64,
    s: &'a str,
    t: u64,
    p: &'a str,
    q: &'a str,
    T: u64,
    m: bool,
}

fn serde_struct_trade(frame: &[u8], symbols: &HashMap<String, u32>) -> Option<TradeRecord> {
    let t: SerdeTrade = serde_json::from_slice(frame).ok()?;
    let symbol = *symbols.get(t.s)?;
    Some(TradeRecord::new(
        venue::BINANCE,
        symbol,
        i64::try_from(t.T.checked_mul(1_000_000)?).ok()?,
        1,
        parse_unsigned_decimal(t.p.as_bytes()).ok()?,
        parse_unsigned_decimal(t.q.as_bytes()).ok()?,
        if t.m { Side::Sell } else { Side::Buy },
        t.t,
    ))
}

/// Every non-empty line of the fixture files of `venue_name`.
fn fixture_lines(venue_name: &str) -> Vec<String> {
    let dir: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "feeds",
        "tests",
        "fixtures",
        venue_name,
    ]
    .iter()
    .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn count(adapter: &mut dyn VenueAdapter, frame: &[u8]) -> (usize, usize) {
    let (mut trades, mut quotes) = (0, 0);
    let _ = adapter.parse(frame, 1, &mut |e| match e {
        AdapterEvent::Trade(_) => trades += 1,
        AdapterEvent::Quote(_) => quotes += 1,
        AdapterEvent::Control(_) => {}
    });
    (trades, quotes)
}

fn binance_trade_frame(c: &mut Criterion) {
    let table = table();
    let mut adapter = adapter_for(venue::BINANCE, &table, &AdapterOptions::default()).unwrap();
    let mut reference = Reference::new(venue::BINANCE, &table).lenient();
    let frame = BINANCE_TRADE.as_bytes();
    // The conventional symbol map: std's HashMap, looked up with the borrowed name.
    let symbols: HashMap<String, u32> = table
        .iter()
        .filter(|s| s.venue == venue::BINANCE)
        .map(|s| (s.name.clone(), s.id))
        .collect();
    assert_eq!(count(adapter.as_mut(), frame), (1, 0));
    assert!(serde_struct_trade(frame, &symbols).is_some());
    let mut group = c.benchmark_group("binance_trade_frame");
    group.throughput(Throughput::Elements(1));
    group.bench_function("tickforge", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let _ = adapter.parse(black_box(frame), 1, &mut |e| {
                if let AdapterEvent::Trade(t) = e {
                    n += t.price as u64;
                }
            });
            n
        })
    });
    group.bench_function("serde_json_struct", |b| {
        b.iter(|| serde_struct_trade(black_box(frame), &symbols))
    });
    group.bench_function("serde_json_reference", |b| {
        b.iter(|| reference.parse(black_box(frame), 1))
    });
    group.finish();
}

fn venues(c: &mut Criterion) {
    let table = table();
    for v in 1..=venue::OKX {
        let name = venue::name(v);
        let lines = fixture_lines(name);
        let mut adapter = adapter_for(v, &table, &AdapterOptions::default()).unwrap();
        let mut trades = Vec::new();
        let mut quotes = Vec::new();
        for l in &lines {
            match count(adapter.as_mut(), l.as_bytes()) {
                (t, _) if t > 0 => trades.push(l.clone().into_bytes()),
                (0, q) if q > 0 => quotes.push(l.clone().into_bytes()),
                _ => {}
            }
        }
        eprintln!(
            "{name}: {} trade frames, {} quote frames (times below are for all of them)",
            trades.len(),
            quotes.len()
        );
        let mut reference = Reference::new(v, &table).lenient();
        let mut group = c.benchmark_group(format!("parse_{name}"));
        for (kind, frames) in [("trades", &trades), ("quotes", &quotes)] {
            if frames.is_empty() {
                eprintln!("{name}: no {kind} frames in the fixtures");
                continue;
            }
            group.throughput(Throughput::Elements(frames.len() as u64));
            group.bench_function(format!("{kind}/tickforge"), |b| {
                b.iter(|| {
                    let mut n = 0usize;
                    for f in frames {
                        let _ = adapter.parse(black_box(f), 1, &mut |_| n += 1);
                    }
                    n
                })
            });
            group.bench_function(format!("{kind}/serde_json"), |b| {
                b.iter(|| {
                    let mut n = 0usize;
                    for f in frames {
                        n += reference.parse(black_box(f), 1).map_or(0, |r| r.len());
                    }
                    n
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, binance_trade_frame, venues);
criterion_main!(benches);
