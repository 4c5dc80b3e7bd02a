//! When the journal cannot be written the engine keeps publishing, reports the loss loudly
//! and journals again once it can; or, configured to, stops with an error.
//!
//! The failure is real: the files the journal needs for its next segment cannot be
//! created, because a directory stands where each of them would be built (the same error
//! path as a full disk, where creating and preallocating the segment fails).

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickforge::config::{Config, JournalOnError};
use tickforge_engine::journal::{verify, EntryKind, JournalReader};
use tickforge_engine::record::{FeedState, RecordView};
use tickforge_engine::shm::StatsReader;

/// Directories standing where segment 1 would be created, by the writer ("w") and by the
/// background preparer ("bg").
fn block_segment_one(journal: &Path) -> Vec<std::path::PathBuf> {
    std::fs::create_dir_all(journal).unwrap();
    ["w", "bg"]
        .iter()
        .map(|tag| {
            let p = journal.join(format!(".0000000001.tfj.{tag}.tmp"));
            std::fs::create_dir(&p).unwrap();
            p
        })
        .collect()
}

fn config(dir: &Path, name: &str) -> Config {
    let mut cfg = Config::default();
    cfg.engine.name = name.into();
    cfg.engine.shm_dir = dir.to_path_buf();
    cfg.sim.rate = 20_000;
    cfg.journal.dir = dir.join("journal");
    cfg.journal.segment_mb = 1;
    cfg
}

type Seen = Arc<Mutex<Vec<(FeedState, u64)>>>;

/// A tap recording every status event with the number of trades published before it.
fn tap(seen: Seen) -> impl FnMut(&tickforge_engine::record::Record) + Send + 'static {
    let mut trades = 0u64;
    move |r| match r.view() {
        Some(RecordView::Trade(_)) => trades += 1,
        Some(RecordView::FeedStatus(f)) => {
            if let Some(s) = FeedState::from_u16(f.state) {
                seen.lock().unwrap().push((s, trades));
            }
        }
        _ => {}
    }
}

fn wait_for(seen: &Seen, state: FeedState, what: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(&(_, trades)) = seen.lock().unwrap().iter().find(|(s, _)| *s == state) {
            return trades;
        }
        assert!(
            Instant::now() < deadline,
            "no {what}: {:?}",
            seen.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_engine_keeps_publishing_through_a_journal_loss_and_journals_again() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "loss");
    let blockers = block_segment_one(&cfg.journal.dir);
    let seen: Seen = Arc::default();
    let engine = common::start_tapped(&cfg, tap(seen.clone()));
    let stats = StatsReader::open(dir.path(), "loss").unwrap();

    let at_loss = wait_for(&seen, FeedState::JournalLost, "journal_lost event");
    // Trades keep flowing while nothing can be journaled.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.counter("reader.journal_lost").unwrap() < 2_000 {
        assert!(Instant::now() < deadline, "frames stopped during the loss");
        std::thread::sleep(Duration::from_millis(20));
    }
    for b in &blockers {
        std::fs::remove_dir(b).unwrap();
    }
    let at_resume = wait_for(&seen, FeedState::JournalResumed, "journal_resumed event");
    assert!(
        at_resume > at_loss + 500,
        "trades published during the loss: {at_loss} → {at_resume}"
    );
    engine.request_stop();
    engine.join().unwrap();

    let lost = stats.counter("reader.journal_lost").unwrap();
    assert!(lost >= 2_000, "{lost}");
    assert_eq!(stats.counter("reader.journal_loss_episodes").unwrap(), 1);
    assert!(stats.counter("reader.journal_entries").unwrap() > 0);

    // The journal itself is sound, and says when journaling resumed.
    let report = verify(&cfg.journal.dir).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(report.segments.len() >= 2, "{report:?}");
    let mut reader = JournalReader::open(&cfg.journal.dir).unwrap();
    let mut resumed = false;
    while let Some(e) = reader.next_entry().unwrap() {
        if e.kind == EntryKind::Connection && e.flags == FeedState::JournalResumed as u16 {
            assert!(e.detail >= lost.min(2_000), "{e:?}");
            resumed = true;
        }
    }
    assert!(resumed, "no journal_resumed entry");
}

#[test]
fn configured_to_stop_the_engine_stops_with_an_error_when_the_journal_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), "stop");
    cfg.journal.on_error = JournalOnError::Stop;
    let _blockers = block_segment_one(&cfg.journal.dir);
    let seen: Seen = Arc::default();
    let engine = common::start_tapped(&cfg, tap(seen.clone()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !engine.is_finished() {
        assert!(Instant::now() < deadline, "the engine did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = engine.join().unwrap_err().to_string();
    assert!(err.contains("journal could not be written"), "{err}");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|(s, _)| *s == FeedState::JournalLost),
        "{:?}",
        seen.lock().unwrap()
    );
}
