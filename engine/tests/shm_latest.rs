//! `NAME.latest`: symbol and timeframe tables, cells by kind and bar state, cross-process
//! reads, the documented byte layout, and a torn-read stress test of the seqlocked cells.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickforge_engine::record::{
    bar_flags, BarRecord, Kind, QuoteRecord, Record, Side, TradeRecord,
};
use tickforge_engine::shm::{
    Cell, CellRead, LatestReader, LatestWriter, ShmConfig, ShmError, WriterState,
};
use tickforge_engine::symbol::{venue, SymbolTable};

mod common;
use common::{wait_for, ChildGuard, TIMEOUT};
const TIMEFRAMES: [u32; 3] = [1, 60, 3600];

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    t.add(venue::BINANCE, "BTCUSDT", true).unwrap();
    t.add(venue::BINANCE, "ETHUSDT", false).unwrap();
    t.add(venue::OKX, "BTC-USDT", false).unwrap();
    t.add(venue::COINBASE_ADVANCED, &"X".repeat(32), true)
        .unwrap();
    t
}

fn trade(sym: u32, c: i64) -> TradeRecord {
    TradeRecord::new(
        venue::BINANCE,
        sym,
        c,
        c + 1,
        100 * c,
        7 * c,
        Side::Buy,
        c as u64,
    )
}

fn quote(sym: u32, c: i64) -> QuoteRecord {
    QuoteRecord::new(venue::BINANCE, sym, c, c, 99, 1, 101, 2, c as u64)
}

fn bar(sym: u32, tf: u8, open_ts: i64, flags: u16) -> BarRecord {
    BarRecord {
        kind: Kind::Bar as u8,
        tf,
        flags,
        symbol: sym,
        open_ts,
        open: 10,
        high: 12,
        low: 9,
        close: 11,
        volume_lo: 1000,
        volume_hi: 0,
        count: 3,
    }
}

#[test]
fn symbol_and_timeframe_tables_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let t = table();
    let w = LatestWriter::create(&ShmConfig::new(dir.path(), "tables"), &t, &TIMEFRAMES).unwrap();
    assert_eq!((w.symbol_count(), w.timeframe_count()), (4, 3));
    let r = LatestReader::open(dir.path(), "tables").unwrap();
    assert_eq!(r.symbols(), t.iter().cloned().collect::<Vec<_>>());
    assert_eq!(r.timeframes(), TIMEFRAMES.to_vec());
    assert_eq!(r.lookup(venue::OKX, "BTC-USDT"), Some(2));
    assert_eq!(r.lookup(venue::BINANCE, "BTCUSDT"), Some(0));
    assert_eq!(r.lookup(venue::OKX, "BTCUSDT"), None);
    assert_eq!(r.lookup(venue::COINBASE_ADVANCED, &"X".repeat(32)), Some(3));
    assert!(r.symbol(3).unwrap().priority);
    assert_eq!(r.symbol(4), None);
    assert_eq!(r.info().instance, "tables");
    assert_eq!(r.incarnation(), w.incarnation());
    assert_eq!(r.state(), WriterState::Running);

    // No symbols and no timeframes is a valid (if dull) file.
    let _e = LatestWriter::create(
        &ShmConfig::new(dir.path(), "empty"),
        &SymbolTable::new(),
        &[],
    )
    .unwrap();
    let r = LatestReader::open(dir.path(), "empty").unwrap();
    assert!(r.symbols().is_empty() && r.timeframes().is_empty());
    assert_eq!(r.trade(0), None);

    // Too many or zero-length timeframes are refused.
    let cfg = ShmConfig::new(dir.path(), "bad");
    assert!(matches!(
        LatestWriter::create(&cfg, &t, &[60; 17]),
        Err(ShmError::InvalidConfig(_))
    ));
    assert!(matches!(
        LatestWriter::create(&cfg, &t, &[60, 0]),
        Err(ShmError::InvalidConfig(_))
    ));
}

#[test]
fn cells_hold_trades_quotes_and_current_or_closed_bars() {
    let dir = tempfile::tempdir().unwrap();
    let mut w =
        LatestWriter::create(&ShmConfig::new(dir.path(), "cells"), &table(), &TIMEFRAMES).unwrap();
    let r = LatestReader::open(dir.path(), "cells").unwrap();
    assert_eq!(r.trade(1), None);
    assert_eq!(r.read_cell(1, Cell::Trade), CellRead::NeverWritten);
    assert_eq!(r.quote(1), None);
    assert_eq!(r.current_bar(1, 0), None);

    assert!(w.set_trade(1, &trade(1, 5)));
    assert!(w.set_trade(1, &trade(1, 6)));
    assert!(w.set_quote(1, &quote(1, 7)));
    assert_eq!(r.trade(1), Some(trade(1, 6)));
    assert_eq!(r.quote(1), Some(quote(1, 7)));
    assert_eq!(r.trade(0), None, "other symbols untouched");

    // An open bar goes to the current cell, a closed one to the closed cell.
    let open = bar(1, 1, 60_000, 0);
    assert!(w.set_bar(1, 1, &open));
    assert_eq!(r.current_bar(1, 1), Some(open));
    assert_eq!(r.closed_bar(1, 1), None);
    let closed = bar(1, 1, 60_000, bar_flags::CLOSED | bar_flags::GAP);
    assert!(w.set_bar(1, 1, &closed));
    assert_eq!(r.closed_bar(1, 1), Some(closed));
    assert_eq!(r.current_bar(1, 1), Some(open), "the current cell stays");
    let next = bar(1, 1, 120_000, 0);
    assert!(w.set_bar(1, 1, &next));
    assert_eq!(r.current_bar(1, 1), Some(next));
    assert_eq!(r.closed_bar(1, 1), Some(closed));
    assert_eq!(r.current_bar(1, 0), None, "other timeframes untouched");
    assert_eq!(r.closed_bar(1, 2), None);
    assert_eq!(
        r.read_cell(1, Cell::ClosedBar(1)),
        CellRead::Value(Record::from(closed))
    );

    // Out of range symbols and timeframes are refused on both sides.
    assert!(!w.set_trade(4, &trade(4, 1)));
    assert!(!w.set_bar(0, 3, &open));
    assert!(!w.set_cell(0, Cell::CurrentBar(usize::MAX), &Record::from(open)));
    assert_eq!(r.read_cell(4, Cell::Trade), CellRead::NoSuchCell);
    assert_eq!(r.read_cell(0, Cell::ClosedBar(3)), CellRead::NoSuchCell);
    assert_eq!(
        r.read_cell(0, Cell::CurrentBar(usize::MAX)),
        CellRead::NoSuchCell
    );
    assert_eq!(r.trade(u32::MAX), None);

    // The writer stopping leaves the values readable.
    drop(w);
    assert_eq!(r.state(), WriterState::Stopped);
    assert_eq!(r.trade(1), Some(trade(1, 6)));
}

/// Reads the native-endian integer of `N` bytes at `at`.
fn le<const N: usize>(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b[..N].copy_from_slice(&data[at..at + N]);
    u64::from_ne_bytes(b)
}

#[test]
fn byte_layout_matches_the_documentation() {
    let dir = tempfile::tempdir().unwrap();
    let mut w =
        LatestWriter::create(&ShmConfig::new(dir.path(), "bytes"), &table(), &TIMEFRAMES).unwrap();
    w.set_trade(2, &trade(2, 9));
    w.set_bar(2, 1, &bar(2, 1, 0, bar_flags::CLOSED));
    let data = fs::read(dir.path().join("bytes.latest")).unwrap();
    assert_eq!(&data[0..8], b"TFLATEST");
    assert_eq!(le::<4>(&data, 8), 1);
    assert_eq!(le::<4>(&data, 12), 4096);
    assert_eq!(le::<8>(&data, 16), data.len() as u64);
    assert_eq!(le::<4>(&data, 24), u64::from(std::process::id()));
    assert_eq!(le::<4>(&data, 28), 1);
    assert_eq!(le::<8>(&data, 32), w.incarnation());
    assert_eq!(&data[48..53], b"bytes");
    assert!(data[53..80].iter().all(|&b| b == 0));
    // Latest fields.
    let (cells, lines) = (2 + 2 * 3, 1);
    assert_eq!(le::<4>(&data, 128), 4);
    assert_eq!(le::<4>(&data, 132), 3);
    assert_eq!(le::<4>(&data, 136), cells);
    assert_eq!(le::<4>(&data, 140), lines);
    assert_eq!(le::<8>(&data, 144), 4096);
    let cells_off = le::<8>(&data, 152) as usize;
    assert_eq!(cells_off % 4096, 0);
    let block = le::<8>(&data, 160) as usize;
    assert_eq!(block as u64, 64 * (lines + cells));
    for (t, secs) in TIMEFRAMES.iter().enumerate() {
        assert_eq!(le::<4>(&data, 192 + 4 * t), u64::from(*secs));
    }
    assert_eq!(le::<4>(&data, 192 + 4 * 3), 0);
    // Symbol 2: OKX BTC-USDT.
    let e = 4096 + 64 * 2;
    assert_eq!(le::<4>(&data, e), 2);
    assert_eq!(data[e + 4], venue::OKX);
    assert_eq!(data[e + 5], 0);
    assert_eq!(le::<2>(&data, e + 6), 8);
    assert_eq!(&data[e + 8..e + 16], b"BTC-USDT");
    assert!(data[e + 16..e + 40].iter().all(|&b| b == 0));
    assert_eq!(&data[e + 40..e + 43], b"okx");
    // Symbol 2's block: the trade cell's seqlock word is 2 after one write, the closed
    // bar of timeframe 1 is cell 3 + 2 = 5.
    let b = cells_off + 2 * block;
    assert_eq!(le::<8>(&data, b), 2);
    assert_eq!(le::<8>(&data, b + 8), 0, "quote never written");
    assert_eq!(le::<8>(&data, b + 8 * 5), 2);
    let cell = |c: usize| &data[b + 64 * lines as usize + 64 * c..][..64];
    assert_eq!(cell(0), Record::from(trade(2, 9)).as_bytes());
    assert_eq!(
        cell(5),
        Record::from(bar(2, 1, 0, bar_flags::CLOSED)).as_bytes()
    );
}

/// The writer side of the cross-process test (a no-op in a normal test run).
#[test]
fn child_writer_latest() {
    let Some(dir) = std::env::var_os("TF_SHM_CHILD_DIR").map(PathBuf::from) else {
        return;
    };
    let mut w =
        LatestWriter::create(&ShmConfig::new(&dir, "xproc"), &table(), &TIMEFRAMES).unwrap();
    for c in 1..=1000 {
        w.set_trade(0, &trade(0, c));
    }
    w.set_quote(3, &quote(3, 42));
    w.set_bar(0, 2, &bar(0, 2, 3_600_000_000_000, 0));
    w.set_bar(0, 2, &bar(0, 2, 0, bar_flags::CLOSED));
    fs::write(dir.join("ready"), b"").unwrap();
    wait_for(&dir.join("done"));
}

#[test]
fn cross_process_latest_values() {
    let dir = tempfile::tempdir().unwrap();
    let guard = ChildGuard::spawn("child_writer_latest", dir.path(), &[]);
    wait_for(&dir.path().join("ready"));
    let r = LatestReader::open(dir.path(), "xproc").unwrap();
    assert_eq!(r.writer_pid(), guard.id());
    assert!(r.is_writer_alive());
    assert_eq!(r.state(), WriterState::Running);
    assert_eq!(r.symbols(), table().iter().cloned().collect::<Vec<_>>());
    let btc = r.lookup(venue::BINANCE, "BTCUSDT").unwrap();
    assert_eq!(r.trade(btc), Some(trade(0, 1000)));
    assert_eq!(r.quote(3), Some(quote(3, 42)));
    assert_eq!(r.quote(0), None);
    assert_eq!(r.current_bar(0, 2), Some(bar(0, 2, 3_600_000_000_000, 0)));
    assert_eq!(r.closed_bar(0, 2), Some(bar(0, 2, 0, bar_flags::CLOSED)));
    fs::write(dir.path().join("done"), b"").unwrap();
    guard.wait_success();
    assert_eq!(r.state(), WriterState::Stopped);
    assert_eq!(r.trade(btc), Some(trade(0, 1000)));
}

/// A trade whose every field derives from `c`, so a torn copy is detectable.
fn uniform(c: u64) -> TradeRecord {
    TradeRecord {
        kind: Kind::Trade as u8,
        venue: venue::BINANCE,
        flags: 0,
        symbol: 0,
        exch_ts: c as i64,
        recv_ts: c as i64,
        price: c as i64,
        size: c as i64,
        trade_id: c,
        reserved: [c, c],
    }
}

#[test]
fn readers_never_see_a_torn_cell() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let mut w = LatestWriter::create(&ShmConfig::new(&d, "hammer"), &table(), &[60]).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (d, done, total) = (d.clone(), done.clone(), total.clone());
            let started = started.clone();
            std::thread::spawn(move || {
                let r = LatestReader::open(&d, "hammer").unwrap();
                started.fetch_add(1, Ordering::Release);
                let deadline = Instant::now() + TIMEOUT;
                let (mut ok, mut busy, mut last) = (0u64, 0u64, 0u64);
                loop {
                    assert!(Instant::now() < deadline, "reader timed out");
                    let finished = done.load(Ordering::Acquire);
                    match r.read_cell(0, Cell::Trade) {
                        CellRead::Value(rec) => {
                            let c = rec.as_bytes()[8..16].try_into().map(u64::from_ne_bytes);
                            let c = c.unwrap();
                            assert_eq!(rec, Record::from(uniform(c)), "torn cell");
                            assert!(c >= last, "went back from {last} to {c}");
                            last = c;
                            ok += 1;
                        }
                        CellRead::Busy => busy += 1,
                        CellRead::NeverWritten => {}
                        CellRead::NoSuchCell => panic!("cell vanished"),
                    }
                    if finished {
                        break;
                    }
                }
                let total = total.load(Ordering::Relaxed);
                assert_eq!(last, total, "the read after the writer finished");
                (ok, busy)
            })
        })
        .collect();
    let deadline = Instant::now() + TIMEOUT;
    while started.load(Ordering::Acquire) < 2 {
        assert!(Instant::now() < deadline, "readers did not start");
        std::thread::yield_now();
    }
    // At least 200k writes and at least 150 ms of them, so an optimized build overlaps
    // with the readers too.
    let began = Instant::now();
    let mut c = 0;
    while c < 200_000 || began.elapsed() < Duration::from_millis(150) {
        assert!(Instant::now() < deadline, "writer timed out");
        c += 1;
        w.set_trade(0, &uniform(c));
        if c % 4096 == 0 {
            std::thread::yield_now();
        }
    }
    total.store(c, Ordering::Relaxed);
    done.store(true, Ordering::Release);
    for r in readers {
        let (ok, busy) = r.join().unwrap();
        eprintln!("seqlock reader: {ok} consistent reads, {busy} busy");
        assert!(ok > 0);
    }
}

#[test]
fn bad_symbol_table_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(LatestWriter::create(&ShmConfig::new(dir.path(), "bad"), &table(), &[60]).unwrap());
    let path = dir.path().join("bad.latest");
    let mut data = fs::read(&path).unwrap();
    data[4096 + 64 + 6..4096 + 64 + 8].copy_from_slice(&40u16.to_ne_bytes());
    fs::write(&path, &data).unwrap();
    let err = LatestReader::open(dir.path(), "bad").err().unwrap();
    assert!(matches!(err, ShmError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("symbol table entry 1"), "{err}");
    // 17 timeframes.
    data[4096 + 64 + 6..4096 + 64 + 8].copy_from_slice(&7u16.to_ne_bytes());
    data[132..136].copy_from_slice(&17u32.to_ne_bytes());
    fs::write(&path, &data).unwrap();
    assert!(matches!(
        LatestReader::open(dir.path(), "bad"),
        Err(ShmError::Corrupt { .. })
    ));
}
