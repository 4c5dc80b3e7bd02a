//! Shared-memory output: `NAME.events`, `NAME.latest`, `NAME.stats`, and the reader API.
//!
//! An engine instance publishes three files in a directory (default `/dev/shm`), named
//! after the instance:
//!
//! - `NAME.events` ([`events`]): a broadcast ring of 64-byte records. The single writer
//!   never waits; a reader that is lapped learns how many events it lost.
//! - `NAME.latest` ([`latest`]): the symbol table, the timeframe table and, per symbol, the
//!   latest trade, best bid/offer and current/last closed bar per timeframe, each in a
//!   seqlocked cell.
//! - `NAME.stats` ([`stats`]): named counters and histogram snapshots.
//!
//! Each file starts with the common header ([`header`]): magic, layout version, sizes,
//! writer pid, state and an incarnation that changes on every start. Readers map the files
//! read-only and validate the header and every offset before trusting anything: a
//! truncated, foreign or garbage file gives an [`ShmError`], never a panic.
//!
//! Everything in the files is native-endian (little-endian on x86_64) and every shared
//! word is accessed atomically by both sides, which is what makes the lock-free protocols
//! sound in Rust and lets a C, C++ or Python consumer follow them.
//!
//! A writer that finds an existing file maps the old file, builds a fresh one under a
//! temporary name, renames it over the old path (a new inode; the old file is never
//! truncated under a reader's mapping), then marks the old file superseded so its readers
//! know to reopen. Dropping a writer marks its file stopped; the files stay in place so
//! tools can read the final values.
//!
//! Limitation: a file truncated by some other program while mapped would make accesses
//! fault (`SIGBUS`); tickforge itself never shrinks a file.

use std::path::{Path, PathBuf};

pub mod events;
mod file;
pub mod header;
pub mod latest;
mod region;
pub mod seqlock;
pub mod stats;

pub use events::{EventReader, EventWriter, Poll, StartAt, BUSY_BIT};
pub use header::{HeaderInfo, WriterState, HEADER_SIZE, LAYOUT_VERSION};
pub use latest::{Cell, CellRead, LatestReader, LatestWriter, MAX_TIMEFRAMES};
pub use seqlock::MAX_READ_TRIES;
pub use stats::{Counter, HistogramSlot, HistogramSnapshot, StatsLayout, StatsReader, StatsWriter};

/// Longest instance name, in bytes (the header field is 32 bytes, zero padded).
pub const MAX_NAME_LEN: usize = 31;

/// Default number of slots in `NAME.events`.
pub const DEFAULT_EVENTS_CAPACITY: usize = 65536;

/// Largest number of slots in `NAME.events`.
pub const MAX_EVENTS_CAPACITY: usize = 1 << 32;

/// Where and how the shared-memory files are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmConfig {
    /// Directory of the files (default `/dev/shm`).
    pub dir: PathBuf,
    /// Instance name: the files are `NAME.events`, `NAME.latest` and `NAME.stats`.
    /// 1 to 31 bytes, no `/` and no NUL.
    pub name: String,
    /// Slots in the event ring: a power of two from 2 to 2^32 (default 65536).
    pub events_capacity: usize,
    /// Create the files with mode 0640 (group may read) instead of 0600.
    pub group_read: bool,
}

impl Default for ShmConfig {
    fn default() -> Self {
        ShmConfig {
            dir: PathBuf::from("/dev/shm"),
            name: "tickforge".to_string(),
            events_capacity: DEFAULT_EVENTS_CAPACITY,
            group_read: false,
        }
    }
}

impl ShmConfig {
    /// A configuration for `name` in `dir`, with the other settings at their defaults.
    pub fn new(dir: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        ShmConfig {
            dir: dir.into(),
            name: name.into(),
            ..ShmConfig::default()
        }
    }

    /// Checks the name and the event capacity.
    pub fn validate(&self) -> Result<(), ShmError> {
        validate_name(&self.name)?;
        let cap = self.events_capacity;
        if !cap.is_power_of_two() || !(2..=MAX_EVENTS_CAPACITY).contains(&cap) {
            return Err(ShmError::InvalidConfig(format!(
                "events capacity {cap} must be a power of two from 2 to 2^32"
            )));
        }
        Ok(())
    }

    /// The path of one of the instance's files.
    pub fn path(&self, kind: FileKind) -> PathBuf {
        kind.path(&self.dir, &self.name)
    }

    /// The permission bits the files are created with: 0o600, or 0o640 with `group_read`.
    pub fn mode(&self) -> u32 {
        if self.group_read {
            0o640
        } else {
            0o600
        }
    }
}

/// Checks an instance name: 1 to [`MAX_NAME_LEN`] bytes, no `/`, no NUL.
pub fn validate_name(name: &str) -> Result<(), ShmError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['/', '\0']) {
        return Err(ShmError::InvalidConfig(format!(
            "instance name {name:?} must be 1 to {MAX_NAME_LEN} bytes without '/' or NUL"
        )));
    }
    Ok(())
}

/// The three files of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `NAME.events`, magic `TFEVENTS`.
    Events,
    /// `NAME.latest`, magic `TFLATEST`.
    Latest,
    /// `NAME.stats`, magic `TFSTATS\0`.
    Stats,
}

impl FileKind {
    /// The file name suffix: `events`, `latest` or `stats`.
    pub fn suffix(self) -> &'static str {
        match self {
            FileKind::Events => "events",
            FileKind::Latest => "latest",
            FileKind::Stats => "stats",
        }
    }

    /// The 8 magic bytes at the start of the file.
    pub fn magic(self) -> [u8; 8] {
        match self {
            FileKind::Events => *b"TFEVENTS",
            FileKind::Latest => *b"TFLATEST",
            FileKind::Stats => *b"TFSTATS\0",
        }
    }

    /// `dir/NAME.suffix`.
    pub fn path(self, dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.{}", self.suffix()))
    }
}

/// Errors of the shared-memory writers and readers.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// A system call on a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not exist (is the engine running, with this name and directory?).
    #[error("{}: no such file (is the engine running with this instance name?)", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file does not start with the expected magic: not a tickforge file of this kind.
    #[error("{}: not a tickforge file of this kind (magic \"{found}\", expected \"{expected}\")", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic found, escaped.
        found: String,
        /// The magic expected, escaped.
        expected: String,
    },
    /// The file has a layout version this code does not understand.
    #[error("{} has layout version {found}, this reader understands {expected}; upgrade the reader or the engine", path.display())]
    LayoutVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this code understands.
        expected: u32,
    },
    /// The file is too small to hold what it must.
    #[error("{}: file is {size} bytes, too small (at least {needed} needed)", path.display())]
    TooSmall {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The size needed.
        needed: u64,
    },
    /// The header or a table is inconsistent.
    #[error("{}: corrupt file: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A configuration or layout given to a writer is invalid.
    #[error("invalid shared-memory configuration: {0}")]
    InvalidConfig(String),
    /// No counter or histogram has this name (or index).
    #[error("no stats entry named {name:?}")]
    UnknownStat {
        /// The name (or `#index`).
        name: String,
    },
    /// The handle of this counter or histogram was already taken: each has one writer.
    #[error("the handle of stats entry {name:?} was already taken (each has exactly one writer)")]
    HandleTaken {
        /// The name.
        name: String,
    },
}

/// Adds the reader methods common to all three files to a type with a `map: ReaderMap`.
macro_rules! reader_common {
    ($ty:ty) => {
        impl $ty {
            /// The path of the mapped file.
            pub fn path(&self) -> &std::path::Path {
                self.map.path()
            }

            /// The header as read when the file was opened.
            pub fn info(&self) -> &$crate::shm::HeaderInfo {
                self.map.info()
            }

            /// The incarnation of the writer that created this file.
            pub fn incarnation(&self) -> u64 {
                self.map.info().incarnation
            }

            /// The process id of the writer.
            pub fn writer_pid(&self) -> u32 {
                self.map.info().writer_pid
            }

            /// Whether the writer's process still exists (`kill(pid, 0)`). A writer that
            /// crashed leaves the state at running; this tells the difference.
            pub fn is_writer_alive(&self) -> bool {
                self.map.writer_alive()
            }

            /// The writer's current state (acquire: what it wrote before is visible).
            pub fn state(&self) -> $crate::shm::WriterState {
                self.map.state()
            }

            /// True once a new writer replaced this file: reopen the path to follow it
            /// (the new file has another incarnation).
            pub fn restarted(&self) -> bool {
                self.map.state() == $crate::shm::WriterState::Superseded
            }
        }
    };
}
pub(crate) use reader_common;
