//! `verify`: the valid prefix of a journal and its first bad position; `repair`: truncate
//! the journal to that prefix.
//!
//! Verify reads every entry with a [`JournalReader`] (so it judges exactly as readers do)
//! and then checks the segments after where the reader stopped: they must be empty
//! (created but never written), or the journal was cut at the reader's stop. It also
//! reports non-zero bytes after the last entry of the last segment (read with `pread`,
//! so this is safe while a writer appends). Repair takes the writer's lock (so it never
//! runs under a live writer), zeroes the bad segment from the first bad offset (or those
//! stray bytes) and removes every later segment (the whole bad segment when its header is
//! bad or it is missing).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::dir::{list_segments, remove_temporaries, DirLock};
use super::entry::{self, Slot};
use super::error::{io_err, Damage, JournalError};
use super::layout::{segment_path, EntryKind, Position, SEGMENT_HEADER_SIZE};
use super::reader::JournalReader;
use super::recover::Cut;
use super::segment::{OpenError, Segment};

/// What `verify` found in one segment's valid part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    /// Segment number.
    pub number: u64,
    /// File size in bytes.
    pub size: u64,
    /// Valid entries (all kinds, `SEGMENT_START` and `SEGMENT_END` included).
    pub entries: u64,
    /// Time of the first valid entry.
    pub first_time: Option<i64>,
    /// Time of the last valid entry.
    pub last_time: Option<i64>,
    /// The segment ends with `SEGMENT_END` (else it is the one being written, or was cut
    /// by a crash, or is damaged).
    pub ended: bool,
}

/// The first bad position of a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPosition {
    /// Where: nothing from here on is valid.
    pub position: Position,
    /// What is wrong.
    pub damage: Damage,
}

/// Non-zero bytes after the last entry of the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpublished {
    /// The end of the valid prefix, where they start.
    pub position: Position,
    /// Bytes from there to the last non-zero byte.
    pub bytes: u64,
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The segments of the valid prefix, in order (the damaged one included, with its valid
    /// entries, unless its header is bad).
    pub segments: Vec<SegmentReport>,
    /// Valid entries in all.
    pub entries: u64,
    /// The end of the valid prefix: where the next entry would go.
    pub end: Position,
    /// The first bad position, if the journal is damaged.
    pub first_bad: Option<BadPosition>,
    /// Segments after the bad position (a repair removes them).
    pub beyond: Vec<u64>,
    /// In an undamaged journal, non-zero bytes after the last entry: an entry a live writer
    /// is writing, one a crash cut short before its length was published, or a damaged
    /// length word (which makes the journal look as if it ended there). Never read as
    /// entries; repair and a writer's recovery zero them.
    pub unpublished: Option<Unpublished>,
}

impl VerifyReport {
    /// True when no damage was found.
    pub fn is_clean(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Reads the whole journal in `dir` and reports its valid prefix and first bad position.
/// Safe to run while a writer appends (the report then describes a moment of it).
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport, JournalError> {
    let dir = dir.as_ref();
    let listed = list_segments(dir)?;
    let mut segs: BTreeMap<u64, SegmentReport> = listed
        .iter()
        .map(|l| (l.number, new_segment_report(l.number, l.size)))
        .collect();
    let mut report = VerifyReport::default();
    let mut reader = JournalReader::open(dir)?;
    loop {
        match reader.next_entry() {
            Ok(Some(e)) => {
                let s = segs
                    .entry(e.position.segment)
                    .or_insert_with(|| new_segment_report(e.position.segment, 0));
                s.entries += 1;
                s.first_time.get_or_insert(e.time);
                s.last_time = Some(e.time);
                s.ended = e.kind == EntryKind::SegmentEnd;
                report.entries += 1;
            }
            Ok(None) => break,
            Err(JournalError::Damaged { position, damage }) => {
                report.first_bad = Some(BadPosition { position, damage });
                break;
            }
            Err(e) => return Err(e),
        }
    }
    report.end = match &report.first_bad {
        Some(bad) if bad.damage.is_whole_segment() => {
            Position::new(bad.position.segment, SEGMENT_HEADER_SIZE as u64)
        }
        Some(bad) => bad.position,
        None => reader.position(),
    };
    if report.first_bad.is_none() {
        report.first_bad = check_after(dir, report.end, segs.keys().copied());
    }
    if report.first_bad.is_none() {
        report.unpublished = nonzero_tail(dir, report.end)?;
    }
    // The segments of the valid prefix (the bad one too, unless it is wholly bad), then
    // those after the damage.
    for (n, s) in segs {
        match &report.first_bad {
            Some(bad) if n > bad.position.segment => report.beyond.push(n),
            Some(bad) if n == bad.position.segment && bad.damage.is_whole_segment() => {}
            _ => report.segments.push(s),
        }
    }
    Ok(report)
}

/// The segments after the reader's stop at `end` must be empty; the first that is not
/// makes the stop a cut (or has a bad header itself).
fn check_after(
    dir: &Path,
    end: Position,
    numbers: impl Iterator<Item = u64>,
) -> Option<BadPosition> {
    for n in numbers.filter(|&n| n > end.segment) {
        match Segment::open(&segment_path(dir, n), n, false) {
            Ok(seg) => {
                if entry::read(&seg, SEGMENT_HEADER_SIZE) != Slot::Empty {
                    return Some(BadPosition {
                        position: end,
                        damage: Damage::TornLength,
                    });
                }
            }
            // Deleted since the listing (retention): nothing to judge.
            Err(OpenError::NotFound) => {}
            Err(OpenError::Bad(reason)) => {
                return Some(BadPosition {
                    position: Position::new(n, 0),
                    damage: Damage::BadHeader { reason },
                })
            }
            Err(OpenError::Io(e)) => {
                return Some(BadPosition {
                    position: Position::new(n, 0),
                    damage: Damage::BadHeader {
                        reason: e.to_string(),
                    },
                })
            }
        }
    }
    None
}

/// Non-zero bytes from `end` to the end of its segment file, read with `pread`.
fn nonzero_tail(dir: &Path, end: Position) -> Result<Option<Unpublished>, JournalError> {
    let path = segment_path(dir, end.segment);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut off = end.offset;
    let mut last = None;
    loop {
        let n = file.read_at(&mut buf, off).map_err(io_err(&path))?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            last = Some(off + i as u64 + 1);
        }
        off += n as u64;
    }
    Ok(last.map(|l| Unpublished {
        position: end,
        bytes: l - end.offset,
    }))
}

fn new_segment_report(number: u64, size: u64) -> SegmentReport {
    SegmentReport {
        number,
        size,
        entries: 0,
        first_time: None,
        last_time: None,
        ended: false,
    }
}

/// The result of [`repair`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// What verify found before the repair.
    pub before: VerifyReport,
    /// The bytes zeroed after the valid prefix in the bad segment.
    pub cut: Option<Cut>,
    /// Segments removed (the bad one if its header was bad, and all later ones).
    pub removed: Vec<u64>,
}

/// Truncates the journal in `dir` to its valid prefix: zeroes the bad segment from the
/// first bad offset (removes it if its header is bad) and removes every later segment; in
/// an undamaged journal, zeroes the unpublished bytes after the last entry. Refuses
/// ([`JournalError::Locked`]) while a writer holds the journal.
pub fn repair(dir: impl AsRef<Path>) -> Result<RepairReport, JournalError> {
    let dir = dir.as_ref();
    let _lock = DirLock::acquire(dir)?;
    remove_temporaries(dir)?;
    let before = verify(dir)?;
    let mut out = RepairReport::default();
    if let Some(bad) = &before.first_bad {
        let mut doomed = before.beyond.clone();
        if bad.damage.is_whole_segment() {
            doomed.insert(0, bad.position.segment);
        } else {
            out.cut = Some(cut_tail(dir, bad.position, Some(bad.damage.clone()))?);
        }
        for m in doomed {
            let path = segment_path(dir, m);
            match fs::remove_file(&path) {
                Ok(()) => out.removed.push(m),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        tracing::warn!(dir = %dir.display(), position = %bad.position, damage = %bad.damage, removed = ?out.removed, "journal repaired: truncated to the valid prefix");
    } else if let Some(stray) = &before.unpublished {
        out.cut = Some(cut_tail(dir, stray.position, None)?);
        tracing::warn!(dir = %dir.display(), position = %stray.position, bytes = stray.bytes, "journal repaired: zeroed unpublished bytes after the last entry");
    }
    out.before = before;
    Ok(out)
}

/// Zeroes segment `position.segment` from `position.offset` to its end.
fn cut_tail(dir: &Path, position: Position, damage: Option<Damage>) -> Result<Cut, JournalError> {
    let n = position.segment;
    let path = segment_path(dir, n);
    let seg = match Segment::open(&path, n, true) {
        Ok(seg) => seg,
        Err(OpenError::Io(e)) => return Err(e),
        Err(OpenError::NotFound | OpenError::Bad(_)) => {
            return Err(JournalError::Io {
                path,
                source: std::io::Error::other("the segment changed during the repair"),
            })
        }
    };
    let from = position.offset as usize;
    let dirty_end = seg.zero_tail(from);
    Ok(Cut {
        position,
        damage,
        bytes: (dirty_end - from) as u64,
    })
}
