//! The journal across processes: a writer killed with SIGKILL mid-stream leaves no torn
//! entry that reads as valid, a reader in another process follows it live, and a reopened
//! writer appends after the valid prefix; a writer whose segments cannot be preallocated
//! refuses entries with an error, stays usable, and recovers when space returns.
//!
//! The writers run in a child process: `child_journal_writer` re-runs this test binary and
//! does nothing unless `TF_SHM_CHILD_DIR` is set (see `common`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tickforge_engine::journal::{
    verify, EntryKind, JournalConfig, JournalError, JournalReader, JournalWriter,
};

mod common;
use common::{wait_for, ChildGuard, TIMEOUT};

/// A fixed pseudo-random pattern the payloads are cut from.
fn pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        (0..32 << 10)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    })
}

/// Entry `c`'s payload: start and length in the pattern derived from the counter (cheap to
/// make, so the writer spends its time appending and a kill often lands mid-entry); every
/// tenth is large.
fn payload(c: u64) -> &'static [u8] {
    let len = if c % 10 == 9 {
        20_000
    } else {
        (c * 7919 % 3000) as usize
    };
    let start = (c * 104_729 % 8192) as usize;
    &pattern()[start..start + len]
}

fn append(w: &mut JournalWriter, c: u64) -> Result<(), JournalError> {
    w.append(
        EntryKind::Frame,
        0,
        (c % 5) as u32,
        1,
        c as i64,
        c,
        payload(c),
    )
    .map(|_| ())
}

fn cfg(dir: &Path) -> JournalConfig {
    JournalConfig {
        segment_size: 64 << 10,
        retain_bytes: u64::MAX,
        start_payload: b"crash test config".to_vec(),
        pretouch: true,
        ..JournalConfig::new(dir)
    }
}

/// Reads frames from `r` until none is available; checks each is the next counter with
/// its exact content. Returns the next expected counter.
fn follow(r: &mut JournalReader, mut next: u64) -> u64 {
    while let Some(e) = r.next_entry().expect("no damage, ever") {
        if e.kind != EntryKind::Frame {
            continue;
        }
        assert_eq!(e.detail, next, "frames in order, none missing");
        assert!(e.payload == payload(next), "frame {next} intact");
        assert_eq!((e.time, e.feed), (next as i64, (next % 5) as u32));
        next += 1;
    }
    next
}

/// The child side (a no-op in a normal test run). `TF_JOURNAL_MODE`: `loop` (append until
/// killed) or `disk_full`.
#[test]
fn child_journal_writer() {
    let Some(dir) = std::env::var_os("TF_SHM_CHILD_DIR").map(PathBuf::from) else {
        return;
    };
    match std::env::var("TF_JOURNAL_MODE").unwrap().as_str() {
        "loop" => append_until_killed(&dir),
        "disk_full" => disk_full(&dir),
        m => panic!("unknown mode {m}"),
    }
}

fn append_until_killed(dir: &Path) {
    let mut w = JournalWriter::open(cfg(dir)).unwrap();
    for c in 0u64.. {
        append(&mut w, c).unwrap();
        if c == 300 {
            std::fs::write(dir.join("started"), b"").unwrap();
        }
        // Bursts with short pauses keep the disk use modest; a cap keeps it bounded.
        if c % 500 == 499 {
            std::thread::sleep(Duration::from_micros(500));
        }
        if c == 1_000_000 {
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

#[test]
fn a_writer_killed_mid_stream_leaves_only_whole_entries_and_a_new_writer_goes_on() {
    let mut cuts = 0;
    for round in 0..8u64 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut child = ChildGuard::spawn(
            "child_journal_writer",
            dir,
            &[("TF_JOURNAL_MODE", "loop".to_string())],
        );
        wait_for(&dir.join("started"));
        // Follow the live journal from this process for a while, then kill the writer.
        let mut r = JournalReader::open(dir).unwrap();
        let mut seen = 0;
        let until = Instant::now() + Duration::from_millis(20 + 25 * round);
        while Instant::now() < until {
            seen = follow(&mut r, seen);
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut proc = child.0.take().unwrap();
        proc.kill().unwrap(); // SIGKILL
        proc.wait().unwrap();
        let total = follow(&mut r, seen);
        assert!(
            total >= seen && total > 300,
            "round {round}: {total} frames"
        );

        let report = verify(dir).unwrap();
        assert!(report.is_clean(), "round {round}: {:?}", report.first_bad);
        // Every entry reads back, all of them the child's: counters 0..total exactly.
        let mut fresh = JournalReader::open(dir).unwrap();
        assert_eq!(follow(&mut fresh, 0), total);

        // A new writer cuts whatever the kill left after the valid prefix, and goes on.
        let mut w = JournalWriter::open(cfg(dir)).unwrap();
        let rec = w.recovery().clone();
        if let Some(stray) = &report.unpublished {
            let cut = rec.cut.as_ref().expect("the stray bytes are cut");
            assert_eq!((cut.position, cut.bytes), (stray.position, stray.bytes));
            assert_eq!(cut.damage, None);
            cuts += 1;
        } else {
            assert_eq!(rec.cut, None);
        }
        for c in total..total + 500 {
            append(&mut w, c).unwrap();
        }
        drop(w);
        let mut fresh = JournalReader::open(dir).unwrap();
        assert_eq!(follow(&mut fresh, 0), total + 500);
        let report = verify(dir).unwrap();
        assert!(report.is_clean() && report.unpublished.is_none());
    }
    eprintln!("a torn entry was cut in {cuts} of 8 rounds");
}

/// Sets the soft file-size limit (the hard limit stays).
fn set_file_size_limit(bytes: libc::rlim_t) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the local struct only.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
        lim.rlim_cur = bytes.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

fn disk_full(dir: &Path) {
    // Past the file-size limit, the kernel sends SIGXFSZ (fatal by default) and the system
    // call fails with EFBIG: the same path as ENOSPC on a full disk.
    // SAFETY: installs the "ignore" disposition; no handler code runs.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let mut w = JournalWriter::open(cfg(dir)).unwrap();
    let mut accepted = Vec::new();
    let mut c = 0u64;
    for _ in 0..5 {
        append(&mut w, c).unwrap();
        accepted.push(c);
        c += 1;
    }
    set_file_size_limit(16 << 10);

    // Fill the current segment (and one the pre-toucher may have prepared already) until a
    // new segment is needed and cannot be created.
    let first_error = loop {
        assert!(c < 1000, "no segment creation failed");
        match append(&mut w, c) {
            Ok(()) => accepted.push(c),
            Err(e) => break e,
        }
        c += 1;
    };
    c += 1;
    match &first_error {
        JournalError::Preallocate { source, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::EFBIG))
        }
        e => panic!("unexpected error {e}"),
    }
    // Meanwhile appends fail fast (or fit the current segment), never panic.
    let mut refused = 0;
    for _ in 0..2000 {
        match append(&mut w, c) {
            Ok(()) => accepted.push(c),
            Err(JournalError::Preallocate { .. } | JournalError::SegmentUnavailable { .. }) => {
                refused += 1
            }
            Err(e) => panic!("unexpected error {e}"),
        }
        c += 1;
    }
    assert!(refused > 1000, "{refused}");

    // Space is back: within a retry interval or two, appends succeed again.
    set_file_size_limit(libc::RLIM_INFINITY);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "the writer never recovered");
        let ok = append(&mut w, c).is_ok();
        if ok {
            accepted.push(c);
        }
        c += 1;
        if ok {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..300 {
        append(&mut w, c).unwrap();
        accepted.push(c);
        c += 1;
    }
    drop(w);

    // Exactly the accepted entries, in order.
    let mut r = JournalReader::open(dir).unwrap();
    let mut got = Vec::new();
    while let Some(e) = r.next_entry().unwrap() {
        if e.kind == EntryKind::Frame {
            assert!(e.payload == payload(e.detail));
            got.push(e.detail);
        }
    }
    assert_eq!(got, accepted);
    assert!(verify(dir).unwrap().is_clean());
}

#[test]
fn a_writer_that_cannot_preallocate_refuses_entries_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    ChildGuard::spawn(
        "child_journal_writer",
        tmp.path(),
        &[("TF_JOURNAL_MODE", "disk_full".to_string())],
    )
    .wait_success();
}
