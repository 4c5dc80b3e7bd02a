//! The zero-copy hand-off across threads: a writer thread appends frames to the journal and
//! passes their positions down the frame edge; a reader thread reads every payload straight
//! out of the mapped segments, in order, across many segment changes, while retention
//! deletes the files of segments the reader has not finished yet.

use std::time::Duration;

use tickforge_engine::frame::{frame_edge, FrameKind, FrameRef};
use tickforge_engine::journal::{JournalConfig, JournalWriter, Position};
use tickforge_engine::wait::ThreadWake;

fn payload(i: u64) -> Vec<u8> {
    // 20 to 400 bytes, content tied to `i`.
    let len = 20 + (i * 7919 % 381) as usize;
    (0..len).map(|k| (i as usize * 31 + k) as u8).collect()
}

#[test]
fn journaled_frames_reach_the_reader_intact_across_segments_and_retention() {
    const FRAMES: u64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let cfg = JournalConfig {
        segment_size: 64 << 10,
        retain_bytes: 128 << 10,
        pretouch: false,
        ..JournalConfig::new(dir.path())
    };
    let mut writer = JournalWriter::open(cfg).unwrap();
    let shared = writer.share();
    let (mut tx, rx) = frame_edge(256, 1 << 16, ThreadWake::new());
    let mut rx = rx.with_journal(shared.clone());

    let producer = std::thread::spawn(move || {
        let mut segments = std::collections::BTreeSet::new();
        for i in 0..FRAMES {
            let p = payload(i);
            let pos: Position = writer.append_frame(0, 1, i as i64, false, &p).unwrap();
            segments.insert(pos.segment);
            let mut head = FrameRef::new(FrameKind::Text, 0, 1, i as i64);
            head.segment = pos.segment;
            head.offset = pos.offset;
            head.len = p.len() as u32;
            while let Err(h) = tx.push_journaled(head) {
                head = h;
                std::thread::yield_now();
            }
            tx.notify();
        }
        segments.len()
    });

    let mut scratch = Vec::new();
    let mut next = 0u64;
    while next < FRAMES {
        let got = rx.pop_with(&mut scratch, |h, p| {
            (h.recv_ts, p == payload(h.recv_ts as u64))
        });
        match got {
            Some((ts, ok)) => {
                assert_eq!(ts as u64, next, "frames in order");
                assert!(ok, "frame {ts} payload intact");
                next += 1;
                // Lag now and then, so that retention deletes files still being read.
                if next % 5_000 == 0 {
                    std::thread::sleep(Duration::from_millis(30));
                }
            }
            None => std::thread::yield_now(),
        }
    }
    let segments = producer.join().unwrap();
    assert!(segments > 20, "only {segments} segments");
    assert_eq!(rx.missing(), 0);
    // Only the segment being read (and any the writer moved to since) stay mapped.
    assert!(shared.held() <= 2, "{} segments still held", shared.held());
    // Retention kept the directory small while the reader held mappings of deleted files.
    let files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tfj")
        })
        .count();
    assert!(files <= 3, "{files} segment files left");
}

#[test]
fn a_position_the_registry_never_held_reads_as_missing_not_as_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = JournalWriter::open(JournalConfig {
        segment_size: 64 << 10,
        pretouch: false,
        ..JournalConfig::new(dir.path())
    })
    .unwrap();
    let shared = writer.share();
    let pos = writer.append_frame(0, 1, 5, false, b"hello").unwrap();
    let mut cursor = tickforge_engine::journal::SegmentCursor::new(shared);
    assert_eq!(
        cursor.payload(pos.segment, pos.offset, 5),
        Some(&b"hello"[..])
    );
    assert_eq!(cursor.payload(pos.segment + 7, pos.offset, 5), None);
    assert_eq!(cursor.payload(pos.segment, u64::MAX - 3, 5), None);
    assert_eq!(cursor.payload(pos.segment, pos.offset, u32::MAX), None);
}
