//! The pre-toucher: a background thread that keeps the writer off the page-fault path.
//!
//! Each round it pre-faults, writable, the pages of the current segment up to [`WINDOW`]
//! bytes ahead of the writer (`MADV_POPULATE_WRITE`: the kernel maps the pages without
//! changing a byte, so it never races with the writer's stores), creates, preallocates and
//! maps the next segment under a temporary name (with its first window pre-faulted), and
//! applies retention once per segment. Between rounds it parks; the writer wakes it each
//! time it passes another [`STEP`] bytes and when it moves to a new segment, and a round
//! also runs every [`ROUND`] to retry a failed segment creation. Dropping the handle stops
//! and joins the thread and deletes an unused prepared segment.
//!
//! The thread runs at normal priority. Lower scheduling classes were measured and
//! rejected: `SCHED_IDLE` or nice 19 let the thread sit preempted while it holds kernel
//! locks the writer's page faults need (the process's `mmap_lock` during mmap, munmap and
//! `MADV_POPULATE_WRITE`, inode locks during fallocate and unlink), and saturated appends got
//! about 3 times slower on a busy 2-core host. Pre-faulting in small chunks with a yield in
//! between made it fall behind the writer. When the host has no idle core, a woken
//! pre-toucher can land on the writer's core and preempt it while it faults a few
//! megabytes in (a few hundred µs per wake-up, once per [`STEP`]); keep a core for it.
//!
//! The writer never waits for this thread: the two hand segments to each other through
//! lock-free single-slot cells, never a lock. The pre-toucher also holds the previous
//! segment until it picks up the new one, so unmapping it happens off the hot path.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::atomic::AtomicCell;

use super::dir::enforce_retention;
use super::error::{io_err, JournalError};
use super::layout::MAX_SEGMENT_NUMBER;
use super::segment::Segment;

/// How far ahead of the writer pages are pre-faulted (at 200 MB/s, 80 ms of lead).
pub(crate) const WINDOW: usize = 16 << 20;

/// The writer wakes the pre-toucher each time it passes another `STEP` bytes.
pub(crate) const STEP: usize = 4 << 20;

/// Longest sleep between two rounds.
const ROUND: Duration = Duration::from_millis(100);

/// Shortest time between two failed attempts at creating a segment (writer or pre-toucher).
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// What the writer and the pre-toucher share.
struct Shared {
    stop: AtomicBool,
    /// The writer's offset in its current segment.
    progress: AtomicUsize,
    /// The writer's new current segment, until the pre-toucher picks it up.
    switched: AtomicCell<Option<Arc<Segment>>>,
    /// The next segment, created but not yet published, until the writer takes it.
    prepared: AtomicCell<Option<Box<Segment>>>,
}

/// Where the pre-toucher creates segments and how it applies retention.
pub(crate) struct Settings {
    pub dir: PathBuf,
    pub segment_size: u64,
    pub retain_bytes: u64,
}

/// The writer's handle on the pre-toucher thread.
pub(crate) struct Pretoucher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Pretoucher {
    /// Starts the thread for a writer now at `offset` of `current`.
    pub(crate) fn start(
        settings: Settings,
        current: Arc<Segment>,
        offset: usize,
    ) -> Result<Pretoucher, JournalError> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            progress: AtomicUsize::new(offset),
            switched: AtomicCell::new(None),
            prepared: AtomicCell::new(None),
        });
        debug_assert!(AtomicCell::<Option<Arc<Segment>>>::is_lock_free());
        debug_assert!(AtomicCell::<Option<Box<Segment>>>::is_lock_free());
        let for_thread = Arc::clone(&shared);
        let dir = settings.dir.clone();
        let thread = std::thread::Builder::new()
            .name("tf-journal-touch".into())
            .spawn(move || run(&for_thread, &settings, current))
            .map_err(io_err(&dir))?;
        Ok(Pretoucher {
            shared,
            thread: Some(thread),
        })
    }

    /// Tells the pre-toucher the writer reached `offset` of its current segment, and wakes
    /// it.
    pub(crate) fn kick(&self, offset: usize) {
        self.shared.progress.store(offset, Ordering::Relaxed);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// The writer moved to `segment`, at `offset`.
    pub(crate) fn switch(&self, segment: Arc<Segment>, offset: usize) {
        self.shared.switched.store(Some(segment));
        self.kick(offset);
    }

    /// The prepared segment, if it is segment `number` (a stale one is deleted).
    pub(crate) fn take_prepared(&self, number: u64) -> Option<Segment> {
        let prepared = self.shared.prepared.take()?;
        if prepared.number() == number {
            Some(*prepared)
        } else {
            prepared.discard();
            None
        }
    }
}

impl Drop for Pretoucher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        if let Some(p) = self.shared.prepared.take() {
            p.discard();
        }
    }
}

/// The thread's loop.
fn run(shared: &Shared, settings: &Settings, mut current: Arc<Segment>) {
    let mut touched = 0usize;
    let mut prepared_for = None;
    let mut retained_for = None;
    let mut next_attempt = Instant::now();
    let mut failures = 0u64;
    while !shared.stop.load(Ordering::Acquire) {
        if let Some(new) = shared.switched.take() {
            // The previous segment is unmapped here if this was its last user.
            current = new;
            touched = 0;
        }

        // 1. Pages ahead of the writer.
        let progress = shared.progress.load(Ordering::Relaxed);
        let from = touched.max(progress);
        let to = progress.saturating_add(WINDOW).min(current.len());
        if to > from {
            current.populate(from, to - from);
            touched = to;
        }

        // 2. The next segment (the writer takes it, or finds it stale and deletes it).
        let want = current.number() + 1;
        if prepared_for != Some(want)
            && want <= MAX_SEGMENT_NUMBER
            && Instant::now() >= next_attempt
        {
            match Segment::create(&settings.dir, want, settings.segment_size, "bg") {
                Ok(seg) => {
                    if failures > 0 {
                        tracing::info!(
                            segment = want,
                            failures,
                            "journal segment created after failed attempts"
                        );
                        failures = 0;
                    }
                    seg.populate(0, WINDOW);
                    if let Some(stale) = shared.prepared.swap(Some(Box::new(seg))) {
                        stale.discard();
                    }
                    prepared_for = Some(want);
                }
                Err(e) => {
                    if failures == 0 {
                        tracing::warn!(segment = want, error = %e, "cannot create the next journal segment; retrying");
                    }
                    failures += 1;
                    next_attempt = Instant::now() + RETRY_INTERVAL;
                }
            }
        }

        // 3. Retention, once per segment.
        if retained_for != Some(current.number()) {
            enforce_retention(&settings.dir, current.number(), settings.retain_bytes);
            retained_for = Some(current.number());
        }

        std::thread::park_timeout(ROUND);
    }
}
