//! Shared-memory output costs per record, on the calling thread.
//!
//! - `shm_events/publish`: `EventWriter::publish` of one 64-byte record (slot write under
//!   the sequence word, then the header cursor), and `push` (the slot only; the publisher
//!   flushes the cursor once per batch). The ring (65536 slots, the default) wraps over
//!   and over: the writer never waits.
//! - `shm_events/read`: `EventReader::poll` of a record that is there. Records are written
//!   in chunks of half the ring, untimed; then the reader's polls of the chunk are timed.
//! - `shm_latest/*`: `LatestWriter::set_trade` and `LatestReader::trade` (seqlocked cells)
//!   over 1000 symbols, round robin.
//!
//! The files go to a fresh directory under `/dev/shm` (a tmpfs, as in production), or
//! under the system temporary directory when there is no `/dev/shm`; it is removed at
//! the end.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickforge_engine::record::{Record, Side, TradeRecord};
use tickforge_engine::shm::{EventReader, EventWriter, LatestReader, LatestWriter, Poll};
use tickforge_engine::shm::{ShmConfig, StartAt};
use tickforge_engine::symbol::{venue, SymbolTable};

/// Slots in the event ring (the engine's default).
const CAPACITY: usize = 65536;
/// Records written before each timed read pass.
const CHUNK: u64 = CAPACITY as u64 / 2;
/// Symbols in `NAME.latest`.
const SYMBOLS: u32 = 1000;
/// Instance name of the bench files.
const NAME: &str = "bench";

/// A scratch directory for the files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("tickforge-shm-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create the bench directory");
        Dir(d)
    }

    fn config(&self) -> ShmConfig {
        ShmConfig {
            events_capacity: CAPACITY,
            ..ShmConfig::new(&self.0, NAME)
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn trade(i: u64) -> TradeRecord {
    let t = 1_700_000_000_000_000_000 + i as i64;
    TradeRecord::new(
        venue::BINANCE,
        (i % u64::from(SYMBOLS)) as u32,
        t,
        t,
        100_000_000_000 + (i % 1000) as i64,
        1_000_000,
        Side::Buy,
        i,
    )
}

fn events(c: &mut Criterion) {
    let dir = Dir::new();
    let cfg = dir.config();
    let mut g = c.benchmark_group("shm_events");
    g.throughput(Throughput::Elements(1));

    let mut writer = EventWriter::create(&cfg).expect("create NAME.events");
    let rec = Record::from_pod(&trade(1));
    g.bench_function("publish", |b| b.iter(|| writer.publish(black_box(&rec))));
    g.bench_function("push", |b| b.iter(|| writer.push(black_box(&rec))));
    writer.flush_cursor();

    let mut reader = EventReader::open_at(&dir.0, NAME, StartAt::Latest).expect("open reader");
    let mut i = 0u64;
    g.bench_function("read", |b| {
        b.iter_custom(|iters| {
            let mut left = iters;
            let mut timed = Duration::ZERO;
            while left > 0 {
                let n = left.min(CHUNK);
                for _ in 0..n {
                    i += 1;
                    writer.push(&Record::from_pod(&trade(i)));
                }
                writer.flush_cursor();
                let start = Instant::now();
                for _ in 0..n {
                    match reader.poll() {
                        Poll::Event { record, .. } => {
                            black_box(record);
                        }
                        other => panic!("expected an event, got {other:?}"),
                    }
                }
                timed += start.elapsed();
                left -= n;
            }
            timed
        })
    });
    g.finish();
}

fn latest(c: &mut Criterion) {
    let dir = Dir::new();
    let cfg = dir.config();
    let mut table = SymbolTable::new();
    for s in 0..SYMBOLS {
        table
            .add(venue::BINANCE, &format!("SYM{s}USDT"), false)
            .expect("add a symbol");
    }
    let mut writer = LatestWriter::create(&cfg, &table, &[1, 60, 300]).expect("create latest");
    let trades: Vec<TradeRecord> = (0..u64::from(SYMBOLS)).map(trade).collect();
    for t in &trades {
        writer.set_trade(t.symbol, t);
    }
    let reader = LatestReader::open(&dir.0, NAME).expect("open latest");

    let mut g = c.benchmark_group("shm_latest");
    g.throughput(Throughput::Elements(1));
    let mut k = 0usize;
    g.bench_function("set_trade", |b| {
        b.iter(|| {
            k = (k + 1) % trades.len();
            let t = &trades[k];
            writer.set_trade(t.symbol, black_box(t))
        })
    });
    let mut k = 0u32;
    g.bench_function("read_trade", |b| {
        b.iter(|| {
            k = (k + 1) % SYMBOLS;
            reader.trade(black_box(k))
        })
    });
    g.finish();
}

criterion_group!(benches, events, latest);
criterion_main!(benches);
