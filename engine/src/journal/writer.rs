//! The journal writer: appends entries to the current segment, moves on to the next
//! segment when one does not fit, and keeps working when a segment cannot be created.
//!
//! The hot path ([`JournalWriter::append_frame`], [`JournalWriter::append`]) is one bounds
//! comparison, a copy, a checksum and a release store: no allocation, lock, system call,
//! clock read or log line. Everything else (the first entry after opening, a full segment,
//! waking the pre-toucher every [`STEP`] bytes, errors) goes through one cold function.

use std::sync::Arc;
use std::time::Instant;

use super::config::JournalConfig;
use super::dir::{enforce_retention, DirLock};
use super::entry::{self, Fields};
use super::error::{io_err, JournalError};
use super::handoff::SharedSegments;
use super::layout::{
    align_up, EntryKind, Position, ENTRY_HEADER_SIZE, FLAG_BINARY, FLAG_RESUMED,
    MAX_SEGMENT_NUMBER, SEGMENT_HEADER_SIZE,
};
use super::pretouch::{Pretoucher, Settings, RETRY_INTERVAL, STEP};
use super::recover::{recover, RecoveryReport};
use super::segment::Segment;
use crate::record::FeedState;

/// Appends entries to a journal directory. One writer per directory (a lock file makes
/// sure); readers may read concurrently, in this process or others.
pub struct JournalWriter {
    seg: Arc<Segment>,
    /// Offset of the next entry in `seg`.
    offset: usize,
    /// Entries ending at or before this take the fast path (`offset <= fast_end`).
    fast_end: usize,
    /// The pre-toucher is woken when the writer passes this offset.
    wake_at: usize,
    /// The next append first writes `SEGMENT_START`.
    needs_start: bool,
    /// That `SEGMENT_START` resumes an existing segment.
    resumed: bool,
    /// No new segment is attempted before this (after a failed attempt).
    retry_at: Option<Instant>,
    cfg: JournalConfig,
    recovery: RecoveryReport,
    pretoucher: Option<Pretoucher>,
    /// Segments handed to reading stages (zero-copy hand-off), if any.
    shared: Option<SharedSegments>,
    _lock: DirLock,
}

impl JournalWriter {
    /// Opens the journal in `config.dir`: creates the directory, or recovers an existing
    /// journal (see [`RecoveryReport`]) and appends after its valid prefix. Fails when
    /// another writer holds the directory.
    pub fn open(config: JournalConfig) -> Result<JournalWriter, JournalError> {
        config.validate()?;
        std::fs::create_dir_all(&config.dir).map_err(io_err(&config.dir))?;
        let lock = DirLock::acquire(&config.dir)?;
        let resume = recover(&config)?;
        let seg = Arc::new(resume.segment);
        let pretoucher = if config.pretouch {
            let settings = Settings {
                dir: config.dir.clone(),
                segment_size: config.segment_size,
                retain_bytes: config.retain_bytes,
            };
            Some(Pretoucher::start(
                settings,
                Arc::clone(&seg),
                resume.offset,
            )?)
        } else {
            enforce_retention(&config.dir, seg.number(), config.retain_bytes);
            None
        };
        let mut w = JournalWriter {
            seg,
            offset: resume.offset,
            fast_end: resume.offset,
            wake_at: 0,
            needs_start: true,
            resumed: resume.resumed,
            retry_at: None,
            cfg: config,
            recovery: resume.report,
            pretoucher,
            shared: None,
            _lock: lock,
        };
        w.wake_at = w.next_wake();
        Ok(w)
    }

    /// Appends an entry; gives its position. The payload is written first, then the header
    /// fields and the checksum, then the length (release): a reader sees the whole entry or
    /// nothing. Errors: [`JournalError::ReservedKind`] for `SEGMENT_START`/`SEGMENT_END`,
    /// [`JournalError::TooLarge`], and, when a new segment is needed but cannot be created,
    /// the creation error or [`JournalError::SegmentUnavailable`] (retried on later
    /// appends; the writer stays usable).
    #[allow(clippy::too_many_arguments)] // one per entry header field, as on disk
    #[inline]
    pub fn append(
        &mut self,
        kind: EntryKind,
        flags: u16,
        feed: u32,
        conn: u32,
        time: i64,
        detail: u64,
        payload: &[u8],
    ) -> Result<Position, JournalError> {
        let f = Fields {
            kind,
            flags,
            feed,
            conn,
            time,
            detail,
        };
        // No overflow: a slice is at most isize::MAX bytes.
        let padded = align_up(ENTRY_HEADER_SIZE + payload.len());
        if padded <= self.fast_end - self.offset && !kind.is_reserved() {
            return Ok(self.put(&f, payload));
        }
        self.append_slow(&f, payload)
    }

    /// Appends a frame exactly as received (`binary`: a binary WebSocket frame, else text):
    /// the hot path of the reader stage.
    #[inline]
    pub fn append_frame(
        &mut self,
        feed: u32,
        conn: u32,
        time: i64,
        binary: bool,
        payload: &[u8],
    ) -> Result<Position, JournalError> {
        let flags = if binary { FLAG_BINARY } else { 0 };
        self.append(EntryKind::Frame, flags, feed, conn, time, 0, payload)
    }

    /// Appends a receive-clock tick for an idle feed.
    pub fn append_clock(
        &mut self,
        feed: u32,
        conn: u32,
        time: i64,
    ) -> Result<Position, JournalError> {
        self.append(EntryKind::Clock, 0, feed, conn, time, 0, &[])
    }

    /// Appends a feed-status change: its state, a detail (attempt number, close code, …)
    /// and the reason text.
    pub fn append_connection(
        &mut self,
        feed: u32,
        conn: u32,
        time: i64,
        state: FeedState,
        detail: u64,
        reason: &str,
    ) -> Result<Position, JournalError> {
        self.append(
            EntryKind::Connection,
            state as u16,
            feed,
            conn,
            time,
            detail,
            reason.as_bytes(),
        )
    }

    /// Appends a drop: `count` records lost on a full ring, `what` says which.
    pub fn append_drop(
        &mut self,
        feed: u32,
        conn: u32,
        time: i64,
        count: u64,
        what: &[u8],
    ) -> Result<Position, JournalError> {
        self.append(EntryKind::Drop, 0, feed, conn, time, count, what)
    }

    /// Where the next entry will go (if it fits the current segment).
    pub fn position(&self) -> Position {
        Position::new(self.seg.number(), self.offset as u64)
    }

    /// The largest payload an entry may have.
    pub fn max_payload(&self) -> usize {
        self.cfg.max_payload()
    }

    /// The registry through which later stages read the frames this writer appends, by
    /// position, without a copy ([`SegmentCursor`](super::SegmentCursor)).
    pub fn share(&mut self) -> SharedSegments {
        let shared = self.shared.get_or_insert_with(SharedSegments::new);
        shared.add(Arc::clone(&self.seg));
        shared.clone()
    }

    /// What opening the journal found and cut.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The configuration the writer was opened with.
    pub fn config(&self) -> &JournalConfig {
        &self.cfg
    }

    /// Writes an entry that fits the current segment.
    #[inline(always)]
    fn put(&mut self, f: &Fields, payload: &[u8]) -> Position {
        let off = self.offset;
        debug_assert!(off + align_up(ENTRY_HEADER_SIZE + payload.len()) <= self.seg.len());
        // SAFETY: `off` is the segment's published end (a multiple of 8), callers checked the
        // entry fits, the mapping is writable, and only this writer writes it (directory
        // lock; the pre-toucher only pre-faults pages).
        let padded = unsafe { entry::write(&self.seg, off, f, payload) };
        self.offset = off + padded;
        Position::new(self.seg.number(), off as u64)
    }

    /// Everything but the plain append of an entry that fits.
    #[cold]
    #[inline(never)]
    fn append_slow(&mut self, f: &Fields, payload: &[u8]) -> Result<Position, JournalError> {
        if f.kind.is_reserved() {
            return Err(JournalError::ReservedKind { kind: f.kind });
        }
        let max = self.cfg.max_payload();
        if payload.len() > max {
            return Err(JournalError::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let padded = align_up(ENTRY_HEADER_SIZE + payload.len());
        let start = if self.needs_start {
            align_up(ENTRY_HEADER_SIZE + self.cfg.start_payload.len())
        } else {
            0
        };
        if start + padded > room_end(&self.seg).saturating_sub(self.offset) {
            self.rollover(f.time)?;
        }
        if self.needs_start {
            self.write_start(f.time);
        }
        let pos = self.put(f, payload);
        self.after_slow();
        Ok(pos)
    }

    /// Writes the `SEGMENT_START` entry with the configured payload.
    fn write_start(&mut self, time: i64) {
        let f = Fields {
            kind: EntryKind::SegmentStart,
            flags: if self.resumed { FLAG_RESUMED } else { 0 },
            feed: 0,
            conn: 0,
            time,
            detail: self.seg.number(),
        };
        let payload = std::mem::take(&mut self.cfg.start_payload);
        self.put(&f, &payload);
        self.cfg.start_payload = payload;
        self.needs_start = false;
        self.resumed = false;
    }

    /// Ends the current segment and moves to the next one (whose `SEGMENT_START` is still
    /// to be written). On error nothing changed.
    fn rollover(&mut self, time: i64) -> Result<(), JournalError> {
        let number = self.seg.number() + 1;
        let next = self.obtain(number)?;
        // The room for it was kept, except in a resumed segment written by someone else.
        if self.offset + ENTRY_HEADER_SIZE <= self.seg.len() {
            let end = Fields {
                kind: EntryKind::SegmentEnd,
                flags: 0,
                feed: 0,
                conn: 0,
                time,
                detail: number,
            };
            self.put(&end, &[]);
        }
        self.seg = Arc::new(next);
        if let Some(shared) = &self.shared {
            shared.add(Arc::clone(&self.seg));
        }
        self.offset = SEGMENT_HEADER_SIZE;
        self.needs_start = true;
        self.resumed = false;
        self.wake_at = self.next_wake();
        match &self.pretoucher {
            Some(p) => p.switch(Arc::clone(&self.seg), self.offset),
            None => {
                enforce_retention(&self.cfg.dir, number, self.cfg.retain_bytes);
            }
        }
        Ok(())
    }

    /// Segment `number`, published: the one the pre-toucher prepared, or a new one.
    fn obtain(&mut self, number: u64) -> Result<Segment, JournalError> {
        if number > MAX_SEGMENT_NUMBER {
            return Err(JournalError::SegmentUnavailable { segment: number });
        }
        let prepared = self
            .pretoucher
            .as_ref()
            .and_then(|p| p.take_prepared(number));
        let mut seg = match prepared {
            Some(seg) => seg,
            None => {
                if self.retry_at.is_some_and(|at| Instant::now() < at) {
                    return Err(JournalError::SegmentUnavailable { segment: number });
                }
                match Segment::create(&self.cfg.dir, number, self.cfg.segment_size, "w") {
                    Ok(seg) => seg,
                    Err(e) => return Err(self.failed(number, e)),
                }
            }
        };
        if let Err(e) = seg.publish(&self.cfg.dir) {
            seg.discard();
            return Err(self.failed(number, e));
        }
        self.retry_at = None;
        Ok(seg)
    }

    /// Records a failed segment creation: no new attempt for a while.
    fn failed(&mut self, number: u64, e: JournalError) -> JournalError {
        tracing::warn!(segment = number, error = %e, "cannot create a journal segment; entries that need it are refused until it can be");
        self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
        e
    }

    /// Wakes the pre-toucher if the writer passed the threshold, and sets the fast-path
    /// limit.
    fn after_slow(&mut self) {
        if self.offset >= self.wake_at {
            if let Some(p) = &self.pretoucher {
                p.kick(self.offset);
            }
            self.wake_at = self.next_wake();
        }
        self.fast_end = if self.needs_start {
            self.offset
        } else {
            room_end(&self.seg).min(self.wake_at).max(self.offset)
        };
    }

    /// The next offset at which to wake the pre-toucher.
    fn next_wake(&self) -> usize {
        match self.pretoucher {
            Some(_) => (self.offset / STEP + 1) * STEP,
            None => usize::MAX,
        }
    }
}

/// Where entries of `seg` must end: the last entry-header's worth is kept for
/// `SEGMENT_END`.
fn room_end(seg: &Segment) -> usize {
    seg.len().saturating_sub(ENTRY_HEADER_SIZE)
}
