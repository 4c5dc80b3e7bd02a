//! Errors of the journal, and the kinds of damage a reader can find in a journal.

use std::fmt;
use std::path::{Path, PathBuf};

use super::layout::{EntryKind, Position};

/// What is wrong at the first bad position of a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The length word is zero where an entry must be: the segment stops without a
    /// `SEGMENT_END` although a later segment holds entries (a write was cut short).
    TornLength,
    /// The length is published but the checksum does not match the entry's bytes.
    BadChecksum,
    /// The length is below the entry header size or runs past the end of the segment.
    LengthOutOfBounds {
        /// The length found.
        length: u32,
    },
    /// The checksum matches but the kind is not one this layout version defines.
    UnknownKind {
        /// The kind code found.
        kind: u16,
    },
    /// The segment file's header is invalid (magic, version, sizes, number, checksum) or
    /// the file cannot be read as a segment.
    BadHeader {
        /// What is wrong.
        reason: String,
    },
    /// A segment is missing between the previous one and a later one.
    MissingSegment,
}

impl Damage {
    /// True when the damage is the segment file itself (bad header, missing), so none of
    /// it is valid; otherwise the segment's entries before the bad position are.
    pub fn is_whole_segment(&self) -> bool {
        matches!(self, Damage::BadHeader { .. } | Damage::MissingSegment)
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::TornLength => f.write_str(
                "torn length: no entry where one must be (the segment stops without an end \
                 but later segments hold entries)",
            ),
            Damage::BadChecksum => f.write_str("bad checksum"),
            Damage::LengthOutOfBounds { length } => {
                write!(f, "length {length} out of bounds")
            }
            Damage::UnknownKind { kind } => write!(f, "unknown entry kind {kind}"),
            Damage::BadHeader { reason } => write!(f, "bad segment header: {reason}"),
            Damage::MissingSegment => f.write_str("missing segment"),
        }
    }
}

/// Errors of the journal writer, reader, `verify` and `repair`.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A system call on a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Preallocating a new segment failed (`ENOSPC`: the disk is full; `EFBIG`: the file
    /// size limit). The writer stays usable and retries on later appends.
    #[error("{}: cannot preallocate the segment: {source}", path.display())]
    Preallocate {
        /// The segment file (its temporary name).
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Mapping a segment file into memory failed.
    #[error("{}: cannot map the segment: {source}", path.display())]
    Map {
        /// The segment file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The entry needs a new segment and none could be created yet; the writer retries
    /// shortly (the last attempt's error was returned and logged when it failed).
    #[error("journal segment {segment} is not available yet (creation failed; retrying)")]
    SegmentUnavailable {
        /// The segment the writer is waiting for.
        segment: u64,
    },
    /// The entry is larger than any segment can hold.
    #[error("a journal entry with a {len}-byte payload does not fit a segment (at most {max})")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// Largest payload a segment holds with this configuration.
        max: usize,
    },
    /// The kind is written by the writer itself (segment start and end), never by callers.
    #[error("journal entries of kind {kind} are written by the writer only")]
    ReservedKind {
        /// The kind given.
        kind: EntryKind,
    },
    /// The configuration is invalid.
    #[error("invalid journal configuration: {0}")]
    InvalidConfig(String),
    /// Another writer (or a repair) holds the journal directory.
    #[error("{}: the journal is in use by another writer or repair", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A reader met damage: nothing valid follows this position.
    #[error("journal damaged at {position}: {damage}")]
    Damaged {
        /// The first bad position.
        position: Position,
        /// What is wrong there.
        damage: Damage,
    },
}

/// An `Io` error for `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}
