//! Reading a journal directory entry by entry, in order across segments, while a writer
//! may still be appending to it (in this process or another).
//!
//! An entry becomes visible once its length is published. At a zero length the reader has
//! caught up with the writer ([`JournalReader::next_entry`] gives `Ok(None)`; call again
//! later), unless the next segment already holds entries: then the segment was cut short
//! and the reader reports [`Damage::TornLength`]. After a `SEGMENT_END` it goes on with the
//! next file. Damage stops the reader for good: every later call returns the same error.
//! No file content makes it panic.

use std::path::{Path, PathBuf};

use super::dir::list_segments;
use super::entry::{self, Slot};
use super::error::{io_err, Damage, JournalError};
use super::layout::{segment_path, EntryKind, Position, SEGMENT_HEADER_SIZE};
use super::segment::{OpenError, Segment};

/// One entry of the journal, borrowed from the reader's mapping of its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Where the entry is.
    pub position: Position,
    /// What it holds.
    pub kind: EntryKind,
    /// Kind-specific flags ([`super::FLAG_BINARY`], [`super::FLAG_RESUMED`], or the
    /// [`crate::record::FeedState`] code of a connection entry).
    pub flags: u16,
    /// Feed id.
    pub feed: u32,
    /// Connection id.
    pub conn: u32,
    /// Receive time, ns since the Unix epoch.
    pub time: i64,
    /// Kind-specific detail (drop count, connection detail, next segment number, …).
    pub detail: u64,
    /// The payload bytes.
    pub payload: &'a [u8],
}

/// Reads the entries of a journal directory in order.
pub struct JournalReader {
    dir: PathBuf,
    /// The segment being read.
    seg: Option<Segment>,
    /// The segment to open when `seg` is `None`; `None`: the oldest in the directory.
    want: Option<u64>,
    /// Offset of the next entry in `seg` (or in `want` once opened).
    offset: usize,
    /// The last entry returned was a `SEGMENT_END`: go on with the next segment.
    after_end: bool,
    /// Damage met: the reader is stopped there.
    damage: Option<(Position, Damage)>,
}

impl JournalReader {
    /// A reader of the journal in `dir`, at the first entry of its oldest segment (or, if
    /// there is none yet, of the first one to appear).
    pub fn open(dir: impl Into<PathBuf>) -> Result<JournalReader, JournalError> {
        Self::start(dir.into(), None, SEGMENT_HEADER_SIZE)
    }

    /// A reader of the journal in `dir` at `position`, which must be an entry position
    /// (one returned by the writer or a reader).
    pub fn open_at(
        dir: impl Into<PathBuf>,
        position: Position,
    ) -> Result<JournalReader, JournalError> {
        let offset = usize::try_from(position.offset).unwrap_or(usize::MAX);
        if offset < SEGMENT_HEADER_SIZE || offset % 8 != 0 {
            return Err(JournalError::InvalidConfig(format!(
                "{position} is not an entry position"
            )));
        }
        Self::start(dir.into(), Some(position.segment), offset)
    }

    fn start(
        dir: PathBuf,
        want: Option<u64>,
        offset: usize,
    ) -> Result<JournalReader, JournalError> {
        let meta = std::fs::metadata(&dir).map_err(io_err(&dir))?;
        if !meta.is_dir() {
            return Err(JournalError::Io {
                path: dir,
                source: std::io::Error::from(std::io::ErrorKind::NotADirectory),
            });
        }
        Ok(JournalReader {
            dir,
            seg: None,
            want,
            offset,
            after_end: false,
            damage: None,
        })
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The position of the next entry to read: the end of what was read so far.
    pub fn position(&self) -> Position {
        match (&self.seg, self.want) {
            (Some(seg), _) if self.after_end => {
                Position::new(seg.number() + 1, SEGMENT_HEADER_SIZE as u64)
            }
            (Some(seg), _) => Position::new(seg.number(), self.offset as u64),
            (None, Some(n)) => Position::new(n, self.offset as u64),
            (None, None) => Position::new(0, SEGMENT_HEADER_SIZE as u64),
        }
    }

    /// The next entry: `Ok(None)` when there is none (yet); an error when the journal is
    /// damaged here ([`JournalError::Damaged`], for good) or a file cannot be read.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'_>>, JournalError> {
        loop {
            if let Some((position, damage)) = &self.damage {
                return Err(JournalError::Damaged {
                    position: *position,
                    damage: damage.clone(),
                });
            }
            if self.after_end {
                self.next_segment();
            }
            let Some(seg) = &self.seg else {
                if self.open_wanted()? {
                    continue;
                }
                return Ok(None);
            };
            let off = self.offset;
            match entry::read(seg, off) {
                Slot::Entry(found) => {
                    self.offset = off + found.padded();
                    self.after_end = found.fields.kind == EntryKind::SegmentEnd;
                    let seg = self.seg.as_ref().expect("segment is open");
                    let f = found.fields;
                    return Ok(Some(Entry {
                        position: Position::new(seg.number(), off as u64),
                        kind: f.kind,
                        flags: f.flags,
                        feed: f.feed,
                        conn: f.conn,
                        time: f.time,
                        detail: f.detail,
                        payload: entry::payload(seg, off, &found),
                    }));
                }
                Slot::Full => self.next_segment(),
                Slot::Bad(d) => self.damage = Some((Position::new(seg.number(), off as u64), d)),
                Slot::Empty => {
                    if !has_entries(&self.dir, seg.number() + 1) {
                        return Ok(None);
                    }
                    // The writer ends a segment before it writes into the next one: if the
                    // end is still not here, this segment was cut short.
                    if entry::read(seg, off) == Slot::Empty {
                        self.damage =
                            Some((Position::new(seg.number(), off as u64), Damage::TornLength));
                    }
                }
            }
        }
    }

    /// Leaves the current segment for the next one.
    fn next_segment(&mut self) {
        if let Some(seg) = self.seg.take() {
            self.want = Some(seg.number() + 1);
        }
        self.offset = SEGMENT_HEADER_SIZE;
        self.after_end = false;
    }

    /// Opens the wanted segment; false when it does not exist (yet). Records damage when
    /// it is invalid or missing for good.
    fn open_wanted(&mut self) -> Result<bool, JournalError> {
        let number = match self.want {
            Some(n) => n,
            None => match list_segments(&self.dir)?.first() {
                Some(l) => l.number,
                None => return Ok(false),
            },
        };
        match Segment::open(&segment_path(&self.dir, number), number, false) {
            Ok(seg) => {
                self.seg = Some(seg);
                self.want = Some(number);
                Ok(true)
            }
            Err(OpenError::NotFound) => {
                // Not created yet, deleted between listing and opening (retention), or
                // missing for good if later segments exist.
                if self.want.is_some()
                    && list_segments(&self.dir)?.iter().any(|l| l.number > number)
                {
                    self.damage = Some((Position::new(number, 0), Damage::MissingSegment));
                    return Ok(true);
                }
                Ok(false)
            }
            Err(OpenError::Bad(reason)) => {
                self.damage = Some((Position::new(number, 0), Damage::BadHeader { reason }));
                Ok(true)
            }
            Err(OpenError::Io(e)) => Err(e),
        }
    }
}

/// Whether segment `number` exists and its first slot is not empty (an entry, or damage).
fn has_entries(dir: &Path, number: u64) -> bool {
    match Segment::open(&segment_path(dir, number), number, false) {
        Ok(seg) => entry::read(&seg, SEGMENT_HEADER_SIZE) != Slot::Empty,
        Err(_) => false,
    }
}
