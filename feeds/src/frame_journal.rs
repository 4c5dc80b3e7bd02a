//! The reader's journal: every frame, clock tick and connection change is written into the
//! journal before it goes down the frame edge, and the parser reads it from there.
//!
//! When the journal cannot be written (no new segment: disk full, I/O error), the frame is
//! still processed: it is copied into the edge's byte ring instead, counted as lost to the
//! journal, and the loss is reported loudly once per episode (log line, a `journal_lost`
//! status event, counters). The first entry written again ends the episode (`journal_resumed`).
//! With `stop_on_error` the engine stops at the first loss instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tickforge_engine::frame::{DropNote, FrameKind, FrameOutbox, FrameRef};
use tickforge_engine::journal::{EntryKind, JournalError, JournalWriter, Position, FLAG_BINARY};
use tickforge_engine::record::FeedState;

/// Counters of the journal, as the reader writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalCounters {
    /// Entries written.
    pub entries: u64,
    /// Frames, clock ticks and status changes processed but not journaled.
    pub lost: u64,
    /// Times journaling stopped working.
    pub loss_episodes: u64,
    /// Dropped trades journaled (`DROP` entries).
    pub drops: u64,
    /// Dropped trades that could not be journaled.
    pub drops_lost: u64,
}

/// What the reader must report after a journal write: a change of the journal's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEvent {
    /// [`FeedState::JournalLost`] or [`FeedState::JournalResumed`].
    pub state: FeedState,
    /// Loss episodes so far, or the entries lost in the episode that ended.
    pub detail: i64,
    /// Why.
    pub reason: String,
}

/// The journal as the reader stage writes it.
pub struct FrameJournal {
    writer: JournalWriter,
    stop_on_error: bool,
    /// In a loss episode: the segment that was current when it began. Small entries may
    /// still fit its tail; the episode ends with the first entry in a later segment.
    failing: Option<u64>,
    lost_in_episode: u64,
    event: Option<JournalEvent>,
    failed: Arc<AtomicBool>,
    counters: JournalCounters,
}

impl FrameJournal {
    /// Journals through `writer`. With `stop_on_error`, a failed write sets the flag
    /// [`FrameJournal::failed_flag`] and the reader stops the engine.
    pub fn new(writer: JournalWriter, stop_on_error: bool) -> Self {
        FrameJournal {
            writer,
            stop_on_error,
            failing: None,
            lost_in_episode: 0,
            event: None,
            failed: Arc::new(AtomicBool::new(false)),
            counters: JournalCounters::default(),
        }
    }

    /// Set when a write failed and the configuration says to stop.
    pub fn failed_flag(&self) -> Arc<AtomicBool> {
        self.failed.clone()
    }

    /// The counters.
    pub fn counters(&self) -> JournalCounters {
        self.counters
    }

    /// A change of the journal's health to report, if one happened since the last call.
    pub fn take_event(&mut self) -> Option<JournalEvent> {
        self.event.take()
    }

    /// True when the engine must stop (a write failed and `stop_on_error` is set).
    pub fn must_stop(&self) -> bool {
        self.stop_on_error && self.failed.load(Ordering::Relaxed)
    }

    /// Journals `head` with `payload` and passes it down `out`: by journal position when
    /// the write worked, else as a copy. The caller checked `out.has_room(payload.len())`.
    #[inline]
    pub fn emit(
        &mut self,
        out: &mut FrameOutbox,
        mut head: FrameRef,
        payload: &[u8],
    ) -> Result<(), FrameRef> {
        if !out.has_room(payload.len()) {
            return Err(head);
        }
        match self.append(&head, payload) {
            Ok(Some(pos)) => {
                self.written(pos);
                head.segment = pos.segment;
                head.offset = pos.offset;
                head.len = payload.len() as u32;
                out.push_journaled(head)
            }
            Ok(None) => out.push(head, payload),
            Err(e) => {
                self.lose(&e);
                out.push(head, payload)
            }
        }
    }

    fn append(
        &mut self,
        head: &FrameRef,
        payload: &[u8],
    ) -> Result<Option<Position>, JournalError> {
        let w = &mut self.writer;
        let (feed, conn, t) = (head.feed, head.conn, head.recv_ts);
        match head.kind {
            FrameKind::Text => w.append(EntryKind::Frame, 0, feed, conn, t, 0, payload),
            FrameKind::Binary => w.append(EntryKind::Frame, FLAG_BINARY, feed, conn, t, 0, payload),
            FrameKind::Clock => w.append_clock(feed, conn, t),
            FrameKind::Status => w.append(
                EntryKind::Connection,
                head.state,
                feed,
                conn,
                t,
                head.detail as u64,
                payload,
            ),
            FrameKind::End => return Ok(None),
        }
        .map(Some)
    }

    /// Journals a trade the parser dropped (a `DROP` entry).
    pub fn journal_drop(&mut self, note: &DropNote) {
        match self
            .writer
            .append_drop(note.feed, note.conn, note.recv_ts, 1, &note.encode())
        {
            Ok(pos) => {
                self.counters.drops += 1;
                self.written(pos);
            }
            Err(e) => {
                self.counters.drops_lost += 1;
                self.lose(&e);
            }
        }
    }

    #[inline]
    fn written(&mut self, pos: Position) {
        self.counters.entries += 1;
        if self.failing.is_some_and(|seg| pos.segment != seg) {
            self.resumed();
        }
    }

    #[cold]
    fn resumed(&mut self) {
        self.failing = None;
        tracing::warn!(
            lost = self.lost_in_episode,
            "journal writable again: journaling resumed"
        );
        self.event = Some(JournalEvent {
            state: FeedState::JournalResumed,
            detail: self.lost_in_episode as i64,
            reason: "journal resumed".into(),
        });
        self.lost_in_episode = 0;
    }

    #[cold]
    fn lose(&mut self, e: &JournalError) {
        self.counters.lost += 1;
        self.lost_in_episode += 1;
        if self.failing.is_some() {
            return;
        }
        self.failing = Some(self.writer.position().segment);
        self.counters.loss_episodes += 1;
        if self.stop_on_error {
            self.failed.store(true, Ordering::Relaxed);
            tracing::error!(error = %e, "journal cannot be written; stopping (journal.on_error = \"stop\")");
        } else {
            tracing::error!(error = %e, "JOURNAL LOST: frames are processed and published but not journaled until it can be written again");
        }
        self.event = Some(JournalEvent {
            state: FeedState::JournalLost,
            detail: self.counters.loss_episodes as i64,
            reason: "journal cannot be written".into(),
        });
    }
}
