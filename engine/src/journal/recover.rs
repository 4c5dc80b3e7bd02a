//! Opening a journal directory for writing: finding where to go on.
//!
//! From the newest segment back: a file whose header is invalid is set aside (renamed
//! `NNNNNNNNNN.tfj.bad`), a segment without a single valid entry is removed; the first
//! segment with entries is the last one written. If its valid prefix ends with
//! `SEGMENT_END` the writer starts the next segment; otherwise it goes on after the valid
//! prefix, once everything after it is zeroed (so a torn entry can never be read later).
//! What was cut is logged and reported.

use std::fs;
use std::path::{Path, PathBuf};

use super::config::JournalConfig;
use super::dir::{list_segments, remove_temporaries};
use super::entry::{self, Slot};
use super::error::{Damage, JournalError};
use super::layout::{segment_path, EntryKind, Position, SEGMENT_HEADER_SIZE};
use super::segment::{OpenError, Segment};

/// What a writer found when it opened an existing journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Where the writer went on in an existing segment (the end of its valid prefix); `None`
    /// when it started a fresh segment.
    pub resumed: Option<Position>,
    /// What was cut off after the valid prefix of the last segment, if anything.
    pub cut: Option<Cut>,
    /// Segment files set aside (renamed `*.bad`) because their header is invalid.
    pub set_aside: Vec<PathBuf>,
    /// Segments removed because they held no valid entry (created, never written).
    pub removed: Vec<u64>,
}

/// Bytes cut off the end of a segment's valid prefix by a writer's recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The end of the valid prefix, where the cut starts.
    pub position: Position,
    /// What was there: the damage, or `None` for the bytes of an entry whose length was
    /// never published (a write cut short by a crash).
    pub damage: Option<Damage>,
    /// Bytes from the cut to the last non-zero byte (all now zero).
    pub bytes: u64,
}

/// Where a newly opened writer goes on.
pub(crate) struct Resume {
    /// The segment to write into (published).
    pub segment: Segment,
    /// Offset of the next entry.
    pub offset: usize,
    /// True when going on in the middle of an existing segment.
    pub resumed: bool,
    pub report: RecoveryReport,
}

/// The valid prefix of one segment.
struct Prefix {
    entries: u64,
    end: usize,
    ended: bool,
    damage: Option<Damage>,
}

/// Recovers the journal in `cfg.dir` (the caller holds its lock).
pub(crate) fn recover(cfg: &JournalConfig) -> Result<Resume, JournalError> {
    let dir = cfg.dir.as_path();
    remove_temporaries(dir)?;
    let listed = list_segments(dir)?;
    let mut report = RecoveryReport::default();
    for l in listed.iter().rev() {
        let path = segment_path(dir, l.number);
        let seg = match Segment::open(&path, l.number, true) {
            Ok(seg) => seg,
            Err(OpenError::NotFound) => continue,
            Err(OpenError::Io(e)) => return Err(e),
            Err(OpenError::Bad(reason)) => {
                report.set_aside.push(set_aside(&path, &reason)?);
                continue;
            }
        };
        let prefix = scan(&seg);
        if prefix.entries == 0 {
            if let Some(d) = &prefix.damage {
                tracing::warn!(path = %path.display(), damage = %d, "journal: removing a segment without a valid entry");
            }
            drop(seg);
            fs::remove_file(&path).map_err(super::error::io_err(&path))?;
            report.removed.push(l.number);
            continue;
        }
        if prefix.ended {
            return fresh(cfg, l.number + 1, report);
        }
        let dirty_end = seg.zero_tail(prefix.end);
        let position = Position::new(l.number, prefix.end as u64);
        if prefix.damage.is_some() || dirty_end > prefix.end {
            let cut = Cut {
                position,
                damage: prefix.damage,
                bytes: (dirty_end - prefix.end) as u64,
            };
            tracing::warn!(
                path = %path.display(),
                offset = prefix.end,
                bytes = cut.bytes,
                damage = %cut.damage.as_ref().map_or("an unpublished entry".to_string(), |d| d.to_string()),
                "journal: cut the end of the last segment after its valid prefix"
            );
            report.cut = Some(cut);
        }
        report.resumed = Some(position);
        tracing::info!(path = %path.display(), entries = prefix.entries, offset = prefix.end, "journal: going on in the last segment");
        return Ok(Resume {
            segment: seg,
            offset: prefix.end,
            resumed: true,
            report,
        });
    }
    let number = listed.last().map_or(0, |l| l.number + 1);
    fresh(cfg, number, report)
}

/// Starts a fresh segment `number`.
fn fresh(cfg: &JournalConfig, number: u64, report: RecoveryReport) -> Result<Resume, JournalError> {
    let mut segment = Segment::create(&cfg.dir, number, cfg.segment_size, "w")?;
    if let Err(e) = segment.publish(&cfg.dir) {
        segment.discard();
        return Err(e);
    }
    Ok(Resume {
        segment,
        offset: SEGMENT_HEADER_SIZE,
        resumed: false,
        report,
    })
}

/// The valid prefix of `seg`.
fn scan(seg: &Segment) -> Prefix {
    let mut p = Prefix {
        entries: 0,
        end: SEGMENT_HEADER_SIZE,
        ended: false,
        damage: None,
    };
    loop {
        match entry::read(seg, p.end) {
            Slot::Empty => return p,
            Slot::Full => {
                p.ended = true;
                return p;
            }
            Slot::Bad(d) => {
                p.damage = Some(d);
                return p;
            }
            Slot::Entry(found) => {
                p.entries += 1;
                p.end += found.padded();
                if found.fields.kind == EntryKind::SegmentEnd {
                    p.ended = true;
                    return p;
                }
            }
        }
    }
}

/// Renames an invalid segment file to `*.bad`.
fn set_aside(path: &Path, reason: &str) -> Result<PathBuf, JournalError> {
    let mut bad = path.as_os_str().to_owned();
    bad.push(".bad");
    let bad = PathBuf::from(bad);
    tracing::warn!(path = %path.display(), reason, to = %bad.display(), "journal: setting aside a segment with an invalid header");
    fs::rename(path, &bad).map_err(super::error::io_err(path))?;
    Ok(bad)
}
