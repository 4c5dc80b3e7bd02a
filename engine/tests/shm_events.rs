//! `NAME.events`: cross-process delivery, lapping, restarts, refusal of foreign or broken
//! files, permissions, and a torn-read stress test.
//!
//! Cross-process tests re-run this test binary as the writer: `child_writer_events` does
//! nothing unless `TF_SHM_CHILD_DIR` is set. Parent and child synchronize through marker
//! files in the temporary directory, with bounded waits.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tickforge_engine::record::Record;
use tickforge_engine::shm::{
    EventReader, EventWriter, FileKind, LatestReader, LatestWriter, Poll, ShmConfig, ShmError,
    StartAt, StatsLayout, StatsReader, StatsWriter, WriterState,
};
use tickforge_engine::symbol::{venue, SymbolTable};

mod common;
use common::{wait_for, ChildGuard, TIMEOUT};

/// Event `n`'s record: every word depends on `n`, and word 7 is the xor of words 0..7, so
/// a record mixing two events fails both checks.
fn pattern(n: u64) -> Record {
    let mut words = [0u64; 8];
    for (k, w) in words.iter_mut().enumerate().take(7) {
        *w = n
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(8 * k as u32)
            ^ k as u64;
    }
    words[7] = words[..7].iter().fold(0, |a, w| a ^ w);
    let mut bytes = [0u8; 64];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    Record::from_bytes(bytes)
}

/// The checksum invariant of [`pattern`] records.
fn checksum_ok(r: &Record) -> bool {
    let w: Vec<u64> = r
        .as_bytes()
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    w[..7].iter().fold(0, |a, x| a ^ x) == w[7]
}

fn cfg(dir: &Path, name: &str, cap: usize) -> ShmConfig {
    ShmConfig {
        events_capacity: cap,
        ..ShmConfig::new(dir, name)
    }
}

/// The writer side of the cross-process tests (a no-op in a normal test run).
///
/// Env: `TF_SHM_CHILD_DIR`, `TF_SHM_NAME`, `TF_SHM_CAP`, `TF_SHM_COUNT`, and
/// `TF_SHM_MODE` = `normal` (drop the writer: state stopped) or `crash` (exit without
/// dropping it: state stays running).
#[test]
fn child_writer_events() {
    let Some(dir) = std::env::var_os("TF_SHM_CHILD_DIR").map(PathBuf::from) else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap();
    let cap: usize = var("TF_SHM_CAP").parse().unwrap();
    let count: u64 = var("TF_SHM_COUNT").parse().unwrap();
    let mut w = EventWriter::create(&cfg(&dir, &var("TF_SHM_NAME"), cap)).unwrap();
    wait_for(&dir.join("go"));
    for n in 1..=count {
        // Batched cursor updates: readers must work from the per-slot sequence alone.
        assert_eq!(w.push(&pattern(n)), n);
        if n % 64 == 0 {
            w.flush_cursor();
        }
    }
    w.flush_cursor();
    if var("TF_SHM_MODE") == "crash" {
        std::process::exit(0);
    }
}

fn spawn_writer(dir: &Path, name: &str, cap: usize, count: u64, mode: &str) -> ChildGuard {
    ChildGuard::spawn(
        "child_writer_events",
        dir,
        &[
            ("TF_SHM_NAME", name.to_string()),
            ("TF_SHM_CAP", cap.to_string()),
            ("TF_SHM_COUNT", count.to_string()),
            ("TF_SHM_MODE", mode.to_string()),
        ],
    )
}

/// Reads until the writer stops, checking order and contents; every `pause_every`
/// events, sleeps a little to fall behind. Returns (received, lost).
fn read_all(reader: &mut EventReader, pause_every: u64) -> (u64, u64) {
    let deadline = Instant::now() + TIMEOUT;
    let mut expect = reader.next_seq();
    let (mut received, mut lost) = (0u64, 0u64);
    loop {
        assert!(Instant::now() < deadline, "reader timed out at {expect}");
        match reader.poll() {
            Poll::Event { seq, record } => {
                assert_eq!(seq, expect, "sequence numbers must be contiguous");
                assert_eq!(record, pattern(seq), "contents of event {seq}");
                expect += 1;
                received += 1;
                if pause_every > 0 && received % pause_every == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            Poll::Lapped { lost: l } => {
                assert!(l > 0);
                expect += l;
                lost += l;
                assert_eq!(reader.next_seq(), expect);
            }
            Poll::Empty => std::thread::yield_now(),
            Poll::Stopped => break,
            Poll::Restarted => panic!("unexpected restart"),
        }
    }
    assert_eq!(reader.received(), received);
    assert_eq!(reader.lost(), lost);
    (received, lost)
}

#[test]
fn cross_process_reader_gets_every_event_when_the_ring_is_large_enough() {
    let dir = tempfile::tempdir().unwrap();
    let count = 200_000;
    let child = spawn_writer(dir.path(), "big", 1 << 18, count, "normal");
    wait_for(&dir.path().join("big.events"));
    let mut reader = EventReader::open_at(dir.path(), "big", StartAt::Oldest).unwrap();
    assert_eq!(reader.writer_pid(), child.id());
    assert!(reader.is_writer_alive());
    assert_eq!(reader.state(), WriterState::Running);
    assert_eq!(reader.capacity(), 1 << 18);
    fs::write(dir.path().join("go"), b"").unwrap();

    let (received, lost) = read_all(&mut reader, 0);
    assert_eq!((received, lost), (count, 0));
    assert_eq!(reader.next_seq(), count + 1);
    assert_eq!(reader.writer_cursor(), count + 1);
    child.wait_success();
    assert_eq!(reader.state(), WriterState::Stopped);
    assert_eq!(reader.poll(), Poll::Stopped);
}

#[test]
fn cross_process_lapped_reader_accounts_for_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let count = 100_000;
    let child = spawn_writer(dir.path(), "small", 1024, count, "normal");
    wait_for(&dir.path().join("small.events"));
    let mut reader = EventReader::open_at(dir.path(), "small", StartAt::Oldest).unwrap();
    fs::write(dir.path().join("go"), b"").unwrap();

    let (received, lost) = read_all(&mut reader, 1000);
    eprintln!("small ring: received {received}, lost {lost}");
    assert_eq!(received + lost, count);
    assert_eq!(reader.next_seq(), count + 1);
    child.wait_success();
}

#[test]
fn slow_reader_is_lapped_with_the_exact_loss_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create(&cfg(dir.path(), "slow", 16)).unwrap();
    let mut r = EventReader::open_at(dir.path(), "slow", StartAt::Latest).unwrap();
    assert_eq!(r.poll(), Poll::Empty);
    for n in 1..=10 {
        w.publish(&pattern(n));
    }
    for n in 1..=3 {
        assert_eq!(
            r.poll(),
            Poll::Event {
                seq: n,
                record: pattern(n)
            }
        );
    }
    for n in 11..=50 {
        w.publish(&pattern(n));
    }
    // Reader expects 4; the writer is at 51. Oldest safe = 51 - 16 + 16/8 = 37.
    assert_eq!(r.poll(), Poll::Lapped { lost: 33 });
    for n in 37..=50 {
        assert_eq!(
            r.poll(),
            Poll::Event {
                seq: n,
                record: pattern(n)
            }
        );
    }
    assert_eq!(r.poll(), Poll::Empty);
    assert_eq!((r.received(), r.lost()), (17, 33));
    assert_eq!(r.received() + r.lost(), 50);

    // A lap noticed in the middle of a copy (slot overwritten while reading) is the same
    // path; also lap the reader while the cursor lags behind (batched publishing).
    for n in 51..=100 {
        w.push(&pattern(n));
    }
    match r.poll() {
        Poll::Lapped { lost } => assert!(lost > 0),
        other => panic!("expected a lap, got {other:?}"),
    }
    let mut last = r.next_seq() - 1;
    while let Poll::Event { seq, record } = r.poll() {
        assert_eq!(seq, last + 1);
        assert_eq!(record, pattern(seq));
        last = seq;
    }
    assert_eq!(last, 100);
    assert_eq!(r.received() + r.lost(), 100);
    drop(w);
    assert_eq!(r.poll(), Poll::Stopped);
}

#[test]
fn start_positions() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create(&cfg(dir.path(), "start", 64)).unwrap();
    for n in 1..=40 {
        w.publish(&pattern(n));
    }
    let oldest = EventReader::open_at(dir.path(), "start", StartAt::Oldest).unwrap();
    assert_eq!(oldest.next_seq(), 1);
    let latest = EventReader::open_at(dir.path(), "start", StartAt::Latest).unwrap();
    assert_eq!(latest.next_seq(), 41);
    let mut at = EventReader::open_at(dir.path(), "start", StartAt::Seq(30)).unwrap();
    assert!(matches!(at.poll(), Poll::Event { seq: 30, .. }));
    for n in 41..=200 {
        w.publish(&pattern(n));
    }
    // Wrapped: the oldest safe event is 201 - 64 + 8.
    let oldest = EventReader::open(dir.path(), "start").unwrap();
    assert_eq!(oldest.next_seq(), 145);
}

#[test]
fn restarted_writer_is_detected_and_followed() {
    let dir = tempfile::tempdir().unwrap();
    let name = "restart";

    // First incarnation: a child that publishes 100 events and dies without cleaning up.
    let child = spawn_writer(dir.path(), name, 256, 100, "crash");
    wait_for(&dir.path().join("restart.events"));
    let mut r = EventReader::open_at(dir.path(), name, StartAt::Oldest).unwrap();
    let first = r.incarnation();
    fs::write(dir.path().join("go"), b"").unwrap();
    let child_pid = child.id();
    child.wait_success();
    let deadline = Instant::now() + TIMEOUT;
    let mut got = 0;
    while got < 100 {
        assert!(Instant::now() < deadline);
        match r.poll() {
            Poll::Event { seq, record } => {
                got += 1;
                assert_eq!((seq, record), (got, pattern(got)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The crashed writer left the state at running: only its pid tells.
    assert_eq!(r.poll(), Poll::Empty);
    assert_eq!(r.state(), WriterState::Running);
    assert_eq!(r.writer_pid(), child_pid);
    assert!(!r.is_writer_alive());

    // Second incarnation, in this process: the old file is superseded and replaced.
    let mut w2 = EventWriter::create(&cfg(dir.path(), name, 256)).unwrap();
    assert_ne!(w2.incarnation(), first);
    assert_eq!(r.poll(), Poll::Restarted);
    assert!(r.restarted());
    assert_eq!(r.state(), WriterState::Superseded);
    let mut r2 = EventReader::open(dir.path(), name).unwrap();
    assert_eq!(r2.incarnation(), w2.incarnation());
    assert_ne!(r2.incarnation(), first);
    assert_eq!(r2.writer_pid(), std::process::id());
    assert!(r2.is_writer_alive());
    for n in 1..=5 {
        w2.publish(&pattern(n));
    }
    for n in 1..=5 {
        assert_eq!(
            r2.poll(),
            Poll::Event {
                seq: n,
                record: pattern(n)
            }
        );
    }

    // Third incarnation while the second still runs: r2 first drains what w2 published,
    // then learns of the restart; w2 dropping later does not undo "superseded".
    w2.publish(&pattern(6));
    let w3 = EventWriter::create(&cfg(dir.path(), name, 256)).unwrap();
    assert!(matches!(r2.poll(), Poll::Event { seq: 6, .. }));
    assert_eq!(r2.poll(), Poll::Restarted);
    drop(w2);
    assert_eq!(r2.state(), WriterState::Superseded);
    let r3 = EventReader::open(dir.path(), name).unwrap();
    assert_eq!(r3.incarnation(), w3.incarnation());
    // No temporary files are left behind.
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "left over: {names:?}");
}

/// Opens `name` in `dir` as `kind`, returning only the error (never panics).
fn open_err(dir: &Path, name: &str, kind: FileKind) -> Option<ShmError> {
    match kind {
        FileKind::Events => EventReader::open(dir, name).err(),
        FileKind::Latest => LatestReader::open(dir, name).err(),
        FileKind::Stats => StatsReader::open(dir, name).err(),
    }
}

/// Creates all three files of `name` in `dir` and drops the writers.
fn create_all(dir: &Path, name: &str) {
    let c = cfg(dir, name, 64);
    let mut t = SymbolTable::new();
    t.add(venue::BINANCE, "BTCUSDT", true).unwrap();
    drop(EventWriter::create(&c).unwrap());
    drop(LatestWriter::create(&c, &t, &[60]).unwrap());
    drop(StatsWriter::create(&c, &StatsLayout::new(&["a"], &["h"])).unwrap());
}

fn patch(path: &Path, at: usize, bytes: &[u8]) {
    let mut data = fs::read(path).unwrap();
    data[at..at + bytes.len()].copy_from_slice(bytes);
    fs::write(path, data).unwrap();
}

const KINDS: [FileKind; 3] = [FileKind::Events, FileKind::Latest, FileKind::Stats];

#[test]
fn other_layout_version_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    create_all(dir.path(), "v2");
    for kind in KINDS {
        let path = kind.path(dir.path(), "v2");
        patch(&path, 8, &2u32.to_ne_bytes());
        let err = open_err(dir.path(), "v2", kind).expect("version 2 must be refused");
        match &err {
            ShmError::LayoutVersion {
                found: 2,
                expected: 1,
                ..
            } => {}
            other => panic!("{kind:?}: wrong error {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("v2.{} has layout version 2", kind.suffix()))
                && msg.contains("this reader understands 1")
                && msg.contains("upgrade the reader or the engine"),
            "{msg}"
        );
    }
}

#[test]
fn foreign_garbage_and_truncated_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for kind in KINDS {
        let path = kind.path(d, "x");
        assert!(matches!(
            open_err(d, "x", kind),
            Some(ShmError::NotFound { .. })
        ));
        for (size, fill) in [
            (0usize, 0u8),
            (100, 0xAB),
            (4095, 0),
            (4096, 0),
            (8192, 0xFF),
        ] {
            fs::write(&path, vec![fill; size]).unwrap();
            let err = open_err(d, "x", kind).expect("garbage must be refused");
            assert!(
                matches!(err, ShmError::TooSmall { .. } | ShmError::BadMagic { .. }),
                "{kind:?} {size}: {err}"
            );
        }
    }
    // A wrong kind of file under the name: bad magic.
    create_all(d, "y");
    fs::copy(FileKind::Latest.path(d, "y"), FileKind::Events.path(d, "z")).unwrap();
    assert!(matches!(
        open_err(d, "z", FileKind::Events),
        Some(ShmError::BadMagic { .. })
    ));
    // Truncated copies of valid files: the header's size no longer matches.
    for kind in KINDS {
        let data = fs::read(kind.path(d, "y")).unwrap();
        for cut in [4096, data.len() - 64, data.len() - 1] {
            if cut >= data.len() {
                continue;
            }
            fs::write(kind.path(d, "t"), &data[..cut]).unwrap();
            let err = open_err(d, "t", kind).expect("truncated file must be refused");
            assert!(
                matches!(err, ShmError::Corrupt { .. } | ShmError::TooSmall { .. }),
                "{kind:?} cut at {cut}: {err}"
            );
        }
    }
    // Inconsistent per-file fields.
    let events = FileKind::Events.path(d, "y");
    patch(&events, 128, &3u64.to_ne_bytes()); // capacity 3
    assert!(matches!(
        open_err(d, "y", FileKind::Events),
        Some(ShmError::Corrupt { .. })
    ));
    patch(&events, 128, &(1u64 << 20).to_ne_bytes()); // capacity bigger than the file
    assert!(matches!(
        open_err(d, "y", FileKind::Events),
        Some(ShmError::Corrupt { .. })
    ));
    // Not a regular file: a directory, or a FIFO (which must not hang the reader).
    fs::create_dir(FileKind::Events.path(d, "dir")).unwrap();
    assert!(matches!(
        open_err(d, "dir", FileKind::Events),
        Some(ShmError::Corrupt { .. })
    ));
    let fifo = std::ffi::CString::new(
        FileKind::Stats
            .path(d, "fifo")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: `fifo` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    assert!(matches!(
        open_err(d, "fifo", FileKind::Stats),
        Some(ShmError::Corrupt { .. })
    ));
    // Bad names are refused before touching the file system.
    assert!(matches!(
        EventReader::open(d, "../etc/passwd"),
        Err(ShmError::InvalidConfig(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random damage to a valid file: opening and reading never panics.
    #[test]
    fn damaged_files_never_panic(
        kind in 0usize..3,
        edits in proptest::collection::vec((0usize..320, any::<u8>()), 0..8),
        anywhere in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..64),
        word in proptest::option::of((0usize..40, any::<u64>())),
        cut in proptest::option::of(0usize..20_000),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        create_all(d, "f");
        let kind = KINDS[kind];
        let path = kind.path(d, "f");
        let mut data = fs::read(&path).unwrap();
        for (at, b) in edits {
            data[at] = b;
        }
        let len = data.len();
        for (at, b) in anywhere {
            data[at % len] = b;
        }
        if let Some((w, v)) = word {
            data[128 + 8 * w..136 + 8 * w].copy_from_slice(&v.to_ne_bytes());
        }
        if let Some(cut) = cut {
            data.truncate(cut);
        }
        fs::write(&path, data).unwrap();
        match kind {
            FileKind::Events => {
                for start in [StartAt::Oldest, StartAt::Latest, StartAt::Seq(u64::MAX)] {
                    if let Ok(mut r) = EventReader::open_at(d, "f", start) {
                        for _ in 0..100 {
                            let _ = r.poll();
                        }
                        let _ = (r.state(), r.is_writer_alive(), r.writer_cursor());
                    }
                }
            }
            FileKind::Latest => {
                if let Ok(r) = LatestReader::open(d, "f") {
                    for s in r.symbols() {
                        let _ = r.trade(s.id);
                        let _ = r.quote(s.id);
                        for t in 0..r.timeframes().len() + 1 {
                            let _ = (r.current_bar(s.id, t), r.closed_bar(s.id, t));
                        }
                    }
                    let _ = r.trade(u32::MAX);
                }
            }
            FileKind::Stats => {
                if let Ok(r) = StatsReader::open(d, "f") {
                    let _ = (r.counters(), r.histograms(), r.state());
                }
            }
        }
    }
}

#[test]
fn files_are_owner_only_or_group_readable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut t = SymbolTable::new();
    t.add(venue::OKX, "BTC-USDT", false).unwrap();
    for (group_read, mode) in [(false, 0o600), (true, 0o640)] {
        let c = ShmConfig {
            group_read,
            events_capacity: 64,
            ..ShmConfig::new(d, "perm")
        };
        let _e = EventWriter::create(&c).unwrap();
        let _l = LatestWriter::create(&c, &t, &[60]).unwrap();
        let _s = StatsWriter::create(&c, &StatsLayout::new(&["a"], &[])).unwrap();
        for kind in KINDS {
            let m = fs::metadata(c.path(kind)).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, mode, "{kind:?} with group_read={group_read}");
        }
    }
}

#[test]
fn invalid_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, cap) in [
        ("", 64),
        ("a/b", 64),
        (&"n".repeat(32) as &str, 64),
        ("ok", 0),
        ("ok", 1),
        ("ok", 100),
    ] {
        let err = EventWriter::create(&cfg(dir.path(), name, cap)).err();
        assert!(
            matches!(err, Some(ShmError::InvalidConfig(_))),
            "{name:?} {cap}"
        );
    }
    assert!(ShmConfig::default().validate().is_ok());
    assert_eq!(ShmConfig::default().dir, PathBuf::from("/dev/shm"));
    assert!(ShmConfig::new(dir.path(), "n".repeat(31))
        .validate()
        .is_ok());
}

#[test]
fn concurrent_readers_never_see_a_torn_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    // At least this many events, and at least 150 ms of writing (an optimized build
    // publishes 100k events in about a millisecond).
    let (min_events, min_time) = (100_000u64, Duration::from_millis(150));
    // A tiny ring so the writer overwrites slots while readers copy them.
    let mut w = EventWriter::create(&cfg(&d, "torn", 8)).unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (d, started) = (d.clone(), started.clone());
            std::thread::spawn(move || {
                let mut r = EventReader::open_at(&d, "torn", StartAt::Oldest).unwrap();
                started.fetch_add(1, Ordering::Release);
                let deadline = Instant::now() + TIMEOUT;
                let mut expect = r.next_seq();
                loop {
                    assert!(Instant::now() < deadline, "reader timed out");
                    match r.poll() {
                        Poll::Event { seq, record } => {
                            assert_eq!(seq, expect);
                            assert!(checksum_ok(&record), "torn record at {seq}");
                            assert_eq!(record, pattern(seq), "torn record at {seq}");
                            expect += 1;
                        }
                        Poll::Lapped { lost } => expect += lost,
                        Poll::Empty => std::thread::yield_now(),
                        Poll::Stopped => break,
                        Poll::Restarted => panic!("restart"),
                    }
                }
                (r.received(), r.lost(), r.next_seq() - 1)
            })
        })
        .collect();
    let deadline = Instant::now() + TIMEOUT;
    while started.load(Ordering::Acquire) < 2 {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    let began = Instant::now();
    let mut n = 0;
    while n < min_events || began.elapsed() < min_time {
        assert!(Instant::now() < deadline, "writer timed out");
        n += 1;
        w.publish(&pattern(n));
        if n % 4096 == 0 {
            std::thread::yield_now();
        }
    }
    drop(w);
    for r in readers {
        let (received, lost, last) = r.join().unwrap();
        eprintln!("ring reader: {received} received, {lost} lost of {n}");
        assert_eq!(received + lost, n);
        assert_eq!(last, n);
        assert!(received > 0);
    }
}

fn ne(data: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(data[at..at + 8].try_into().unwrap())
}

fn ne32(data: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(data[at..at + 4].try_into().unwrap())
}

#[test]
fn byte_layout_matches_the_documentation() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create(&cfg(dir.path(), "bytes", 64)).unwrap();
    for n in 1..=3 {
        w.publish(&pattern(n));
    }
    w.push(&pattern(4)); // cursor not flushed yet
    let path = dir.path().join("bytes.events");
    let data = fs::read(&path).unwrap();
    assert_eq!(&data[0..8], b"TFEVENTS");
    assert_eq!(ne32(&data, 8), 1);
    assert_eq!(ne32(&data, 12), 4096);
    assert_eq!(ne(&data, 16), data.len() as u64);
    assert_eq!(ne32(&data, 24), std::process::id());
    assert_eq!(ne32(&data, 28), 1);
    assert_eq!(ne(&data, 32), w.incarnation());
    let start = ne(&data, 40);
    assert!(start > 1_600_000_000_000_000_000, "start time in ns");
    assert_eq!(&data[48..53], b"bytes");
    assert!(data[53..128].iter().all(|&b| b == 0));
    assert_eq!(ne(&data, 128), 64);
    assert_eq!(ne32(&data, 136), 64);
    let seq_off = ne(&data, 144) as usize;
    let slots_off = ne(&data, 152) as usize;
    assert_eq!(seq_off, 4096);
    assert_eq!(slots_off % 64, 0);
    assert!(slots_off >= seq_off + 64 * 8);
    assert_eq!(ne(&data, 192), 4, "cursor: next event to publish");
    for n in 1..=4usize {
        assert_eq!(ne(&data, seq_off + 8 * n), n as u64);
        assert_eq!(
            &data[slots_off + 64 * n..][..64],
            pattern(n as u64).as_bytes()
        );
    }
    assert_eq!(ne(&data, seq_off + 8 * 5), 0, "never written");
    drop(w);
    let data = fs::read(&path).unwrap();
    assert_eq!(ne32(&data, 28), 2, "stopped");
    assert_eq!(ne(&data, 192), 5, "cursor flushed on drop");
    let r = EventReader::open(dir.path(), "bytes").unwrap();
    assert_eq!(r.info().start_time_ns, start);
    assert_eq!(r.info().instance, "bytes");
    assert_eq!(r.info().file_size, data.len() as u64);
}
