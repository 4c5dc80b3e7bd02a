//! Journal round trips: any sequence of entries reads back identical and in order across
//! segment boundaries and writer restarts; retention, oversized entries, reserved kinds,
//! the directory lock; and a reader thread following a writer thread.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tickforge_engine::journal::{
    verify, EntryKind, JournalConfig, JournalError, JournalReader, JournalWriter, Position,
    FLAG_RESUMED, SEGMENT_HEADER_SIZE,
};
use tickforge_engine::record::FeedState;

/// An entry as appended by a test.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    kind: EntryKind,
    flags: u16,
    feed: u32,
    conn: u32,
    time: i64,
    detail: u64,
    payload: Vec<u8>,
}

/// Everything in the journal, with positions.
fn read_all(dir: &Path) -> Vec<(Position, Rec)> {
    let mut r = JournalReader::open(dir).unwrap();
    let mut out = Vec::new();
    while let Some(e) = r.next_entry().unwrap() {
        out.push((
            e.position,
            Rec {
                kind: e.kind,
                flags: e.flags,
                feed: e.feed,
                conn: e.conn,
                time: e.time,
                detail: e.detail,
                payload: e.payload.to_vec(),
            },
        ));
    }
    out
}

fn append(w: &mut JournalWriter, r: &Rec) -> Result<Position, JournalError> {
    w.append(
        r.kind, r.flags, r.feed, r.conn, r.time, r.detail, &r.payload,
    )
}

fn cfg(dir: &Path, segment_size: u64, start: &[u8], pretouch: bool) -> JournalConfig {
    JournalConfig {
        segment_size,
        retain_bytes: u64::MAX,
        start_payload: start.to_vec(),
        pretouch,
        ..JournalConfig::new(dir)
    }
}

fn rec_strategy() -> impl Strategy<Value = Rec> {
    (
        prop_oneof![
            Just(EntryKind::Frame),
            Just(EntryKind::Clock),
            Just(EntryKind::Connection),
            Just(EntryKind::Drop),
        ],
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        any::<i64>(),
        any::<u64>(),
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..200),
            1 => proptest::collection::vec(any::<u8>(), 0..6000),
        ],
    )
        .prop_map(|(kind, flags, feed, conn, time, detail, payload)| Rec {
            kind,
            flags,
            feed,
            conn,
            time,
            detail,
            payload,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Entries appended over several writer sessions (each with its own start payload)
    /// read back identical and in order; every segment starts with SEGMENT_START, every
    /// resumed session with a resumed SEGMENT_START; positions match.
    #[test]
    fn appended_entries_read_back_across_segments_and_reopens(
        sessions in proptest::collection::vec(
            (proptest::collection::vec(rec_strategy(), 0..60),
             proptest::collection::vec(any::<u8>(), 0..300),
             any::<bool>()),
            1..4),
        segment_kib in prop_oneof![Just(8u64), Just(16), Just(64)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut expect: Vec<(Position, Rec)> = Vec::new();
        for (recs, start, pretouch) in &sessions {
            let mut w = JournalWriter::open(cfg(dir.path(), segment_kib << 10, start, *pretouch)).unwrap();
            for r in recs {
                match append(&mut w, r) {
                    Ok(pos) => expect.push((pos, r.clone())),
                    Err(JournalError::TooLarge { len, max }) => {
                        prop_assert!(len > max && max == w.max_payload());
                    }
                    Err(e) => panic!("append failed: {e}"),
                }
            }
        }
        let all = read_all(dir.path());
        let user: Vec<(Position, Rec)> = all
            .iter()
            .filter(|(_, r)| !r.kind.is_reserved())
            .cloned()
            .collect();
        prop_assert_eq!(&user, &expect);
        // Every segment holding entries starts with SEGMENT_START (flags 0, detail = number).
        let mut prev_segment = None;
        for (pos, r) in &all {
            if prev_segment != Some(pos.segment) {
                prop_assert_eq!(pos.offset, SEGMENT_HEADER_SIZE as u64);
                prop_assert_eq!(r.kind, EntryKind::SegmentStart);
                prop_assert_eq!((r.flags, r.detail), (0, pos.segment));
                prev_segment = Some(pos.segment);
            }
            if r.kind == EntryKind::SegmentStart && r.flags & FLAG_RESUMED != 0 {
                prop_assert!(pos.offset > SEGMENT_HEADER_SIZE as u64);
            }
        }
        let report = verify(dir.path()).unwrap();
        prop_assert!(report.is_clean(), "{:?}", report.first_bad);
        prop_assert_eq!(report.entries as usize, all.len());
        prop_assert!(report.unpublished.is_none());
    }
}

#[test]
fn every_session_and_segment_starts_with_its_start_payload() {
    let dir = tempfile::tempdir().unwrap();
    let frame = vec![7u8; 1000];
    {
        let mut w = JournalWriter::open(cfg(dir.path(), 8192, b"config one", true)).unwrap();
        for t in 0..20 {
            w.append_frame(1, 2, t, false, &frame).unwrap();
        }
    }
    {
        let mut w = JournalWriter::open(cfg(dir.path(), 8192, b"config two", false)).unwrap();
        assert!(w.recovery().resumed.is_some());
        w.append_frame(1, 2, 100, true, &frame).unwrap();
    }
    let starts: Vec<(u16, Vec<u8>)> = read_all(dir.path())
        .into_iter()
        .filter(|(_, r)| r.kind == EntryKind::SegmentStart)
        .map(|(_, r)| (r.flags, r.payload))
        .collect();
    // 7 frames of 1040 bytes fit an 8 KiB segment after the start: 3 segments, then the
    // second session resumes the last one.
    assert_eq!(
        starts,
        [
            (0, b"config one".to_vec()),
            (0, b"config one".to_vec()),
            (0, b"config one".to_vec()),
            (FLAG_RESUMED, b"config two".to_vec()),
        ]
    );
}

#[test]
fn convenience_appends_fill_in_kind_flags_and_detail() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(dir.path(), 65536, b"", false)).unwrap();
    w.append_frame(1, 2, 3, true, b"bin").unwrap();
    w.append_clock(1, 2, 4).unwrap();
    w.append_connection(1, 2, 5, FeedState::Disconnected, 1006, "closed")
        .unwrap();
    w.append_drop(1, 2, 6, 42, b"trades").unwrap();
    drop(w);
    let got: Vec<(EntryKind, u16, i64, u64, Vec<u8>)> = read_all(dir.path())
        .into_iter()
        .skip(1)
        .map(|(_, r)| (r.kind, r.flags, r.time, r.detail, r.payload))
        .collect();
    assert_eq!(
        got,
        [
            (EntryKind::Frame, 1, 3, 0, b"bin".to_vec()),
            (EntryKind::Clock, 0, 4, 0, vec![]),
            (EntryKind::Connection, 4, 5, 1006, b"closed".to_vec()),
            (EntryKind::Drop, 0, 6, 42, b"trades".to_vec()),
        ]
    );
}

#[test]
fn oversized_entries_and_reserved_kinds_are_refused_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(dir.path(), 16384, b"start", true)).unwrap();
    let max = w.max_payload();
    assert_eq!(max, 16384 - 64 - 48 - 40 - 40);
    w.append_frame(0, 0, 1, false, b"small").unwrap();
    let big = vec![1u8; max + 1];
    assert!(matches!(
        w.append_frame(0, 0, 2, false, &big),
        Err(JournalError::TooLarge { len, max: m }) if len == max + 1 && m == max
    ));
    for kind in [EntryKind::SegmentStart, EntryKind::SegmentEnd] {
        assert!(matches!(
            w.append(kind, 0, 0, 0, 3, 0, b""),
            Err(JournalError::ReservedKind { .. })
        ));
    }
    // The largest entry fits, in a segment of its own.
    let p = w.append_frame(0, 0, 4, false, &big[..max]).unwrap();
    assert_eq!(p.segment, 1);
    w.append_frame(0, 0, 5, false, b"after").unwrap();
    drop(w);
    let frames: Vec<usize> = read_all(dir.path())
        .into_iter()
        .filter(|(_, r)| r.kind == EntryKind::Frame)
        .map(|(_, r)| r.payload.len())
        .collect();
    assert_eq!(frames, [5, max, 5]);
}

#[test]
fn one_writer_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let w = JournalWriter::open(cfg(dir.path(), 65536, b"", true)).unwrap();
    assert!(matches!(
        JournalWriter::open(cfg(dir.path(), 65536, b"", true)),
        Err(JournalError::Locked { .. })
    ));
    assert!(matches!(
        tickforge_engine::journal::repair(dir.path()),
        Err(JournalError::Locked { .. })
    ));
    drop(w);
    JournalWriter::open(cfg(dir.path(), 65536, b"", true)).unwrap();
}

fn segment_numbers(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            tickforge_engine::journal::parse_segment_file_name(e.unwrap().file_name().to_str()?)
        })
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn retention_deletes_the_oldest_segments_never_the_current_one() {
    for pretouch in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 8192, b"s", pretouch);
        c.retain_bytes = 4 * 8192;
        let mut w = JournalWriter::open(c).unwrap();
        let frame = vec![3u8; 2000];
        let mut last = Position::default();
        for t in 0..200 {
            last = w.append_frame(0, 0, t, false, &frame).unwrap();
        }
        assert!(last.segment >= 40);
        // The pre-toucher applies retention in the background: wait for it (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        let expect: Vec<u64> = (last.segment - 3..=last.segment).collect();
        while segment_numbers(dir.path()) != expect {
            assert!(
                Instant::now() < deadline,
                "pretouch {pretouch}: {:?}",
                segment_numbers(dir.path())
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // What is left reads as a clean journal of the newest frames.
        let report = verify(dir.path()).unwrap();
        assert!(report.is_clean());
        let times: Vec<i64> = read_all(dir.path())
            .into_iter()
            .filter(|(_, r)| r.kind == EntryKind::Frame)
            .map(|(_, r)| r.time)
            .collect();
        assert_eq!(times.last(), Some(&199));
        assert!(times.windows(2).all(|p| p[1] == p[0] + 1));
        // A retain size below one segment still keeps the current one.
        drop(w);
        let mut c = cfg(dir.path(), 8192, b"s", pretouch);
        c.retain_bytes = 0;
        let mut w = JournalWriter::open(c).unwrap();
        let p = w.append_frame(0, 0, 1000, false, &frame).unwrap();
        drop(w);
        assert!(segment_numbers(dir.path()).contains(&p.segment));
    }
}

/// Entry `n` of the concurrent test: the payload length and bytes depend on `n`.
fn payload(n: u64, buf: &mut Vec<u8>) {
    buf.clear();
    let len = (n * 7919 % 700) as usize;
    buf.extend((0..len).map(|i| (n as usize * 31 + i) as u8));
}

#[test]
fn a_reader_thread_sees_a_prefix_of_what_the_writer_thread_wrote() {
    const COUNT: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(dir.path(), 64 << 10, b"s", true)).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let dir = dir.path().to_path_buf();
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut r = JournalReader::open(&dir).unwrap();
            let mut next = 0u64;
            let mut buf = Vec::new();
            let mut empty_polls = 0u64;
            let deadline = Instant::now() + Duration::from_secs(60);
            while next < COUNT {
                assert!(Instant::now() < deadline, "reader stuck at {next}");
                match r.next_entry().expect("never an error") {
                    Some(e) if e.kind == EntryKind::Frame => {
                        assert_eq!(e.time, next as i64, "in order, none missing");
                        payload(next, &mut buf);
                        assert_eq!(e.payload, &buf[..], "entry {next} intact");
                        next += 1;
                    }
                    Some(_) => {}
                    None => {
                        empty_polls += 1;
                        assert!(
                            next < COUNT
                                && !(done.load(Ordering::Acquire) && empty_polls > 1_000_000),
                            "writer done but entries missing at {next}"
                        );
                        std::thread::yield_now();
                    }
                }
            }
            empty_polls
        })
    };
    let mut buf = Vec::new();
    for n in 0..COUNT {
        payload(n, &mut buf);
        w.append_frame(1, 1, n as i64, false, &buf).unwrap();
        if n % 1000 == 0 {
            std::thread::yield_now();
        }
    }
    done.store(true, Ordering::Release);
    let empty_polls = reader.join().unwrap();
    drop(w);
    assert!(verify(dir.path()).unwrap().is_clean());
    eprintln!("reader caught up with the writer {empty_polls} times");
}
