//! The common header at the start of every shared-memory file.
//!
//! The first [`HEADER_SIZE`] bytes of each file are reserved for the header, so the data
//! that follows is page aligned. Bytes 0..128 are common to all files; each file kind puts
//! its own fields from byte 128 on. All integers are native-endian (little-endian on
//! x86_64).
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic: `TFEVENTS`, `TFLATEST` or `TFSTATS\0` |
//! | 8 | 4 | layout version (u32) = [`LAYOUT_VERSION`] |
//! | 12 | 4 | header size (u32) = 4096 |
//! | 16 | 8 | file size in bytes (u64) |
//! | 24 | 4 | writer pid (u32) |
//! | 28 | 4 | state (u32, atomic): 1 running, 2 stopped, 3 superseded |
//! | 32 | 8 | incarnation (u64): differs on every writer start |
//! | 40 | 8 | writer start time, ns since the Unix epoch (u64) |
//! | 48 | 32 | instance name, UTF-8, zero padded |
//! | 80 | 48 | reserved, zero |
//! | 128 | 3968 | per-file fields, then zero up to 4096 |

use std::path::Path;
use std::sync::atomic::{fence, Ordering};

use super::region::{ReadRegion, WriteRegion};
use super::{FileKind, ShmError};

/// Bytes reserved for the header at the start of every file; data starts page aligned.
pub const HEADER_SIZE: usize = 4096;

/// The layout version this code writes and understands.
pub const LAYOUT_VERSION: u32 = 1;

/// Byte offsets of the common header fields.
pub(crate) mod off {
    /// Magic, 8 bytes.
    pub const MAGIC: usize = 0;
    /// Layout version, u32.
    pub const VERSION: usize = 8;
    /// Header size, u32.
    pub const HEADER_SIZE: usize = 12;
    /// File size, u64.
    pub const FILE_SIZE: usize = 16;
    /// Writer pid, u32.
    pub const PID: usize = 24;
    /// State, u32.
    pub const STATE: usize = 28;
    /// Incarnation, u64.
    pub const INCARNATION: usize = 32;
    /// Start time, u64 ns.
    pub const START_NS: usize = 40;
    /// Instance name, 32 bytes.
    pub const NAME: usize = 48;
    /// First per-file field.
    pub const EXT: usize = 128;
}

/// Size of the instance-name field.
pub(crate) const NAME_FIELD: usize = 32;

/// The writer's state, as published in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriterState {
    /// The writer is running (or crashed without a chance to say otherwise: see
    /// `is_writer_alive`).
    Running,
    /// The writer stopped cleanly; the contents are final.
    Stopped,
    /// A new writer replaced this file (a restart); reopen the path to follow it.
    Superseded,
    /// A value this reader does not know.
    Unknown(u32),
}

impl WriterState {
    /// The state's code in the header.
    pub fn code(self) -> u32 {
        match self {
            WriterState::Running => 1,
            WriterState::Stopped => 2,
            WriterState::Superseded => 3,
            WriterState::Unknown(c) => c,
        }
    }

    /// The state for a header code.
    pub fn from_code(code: u32) -> WriterState {
        match code {
            1 => WriterState::Running,
            2 => WriterState::Stopped,
            3 => WriterState::Superseded,
            c => WriterState::Unknown(c),
        }
    }
}

/// The fixed part of a file's header, as read and validated when a reader opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    /// The file's magic.
    pub magic: [u8; 8],
    /// Layout version (always [`LAYOUT_VERSION`] once validated).
    pub layout_version: u32,
    /// File size in bytes.
    pub file_size: u64,
    /// Process id of the writer.
    pub writer_pid: u32,
    /// Incarnation: changes every time a writer (re)creates the file.
    pub incarnation: u64,
    /// When the writer started, ns since the Unix epoch.
    pub start_time_ns: u64,
    /// The engine instance name.
    pub instance: String,
}

/// The values a writer puts in a fresh header.
pub(crate) struct NewHeader<'a> {
    pub kind: FileKind,
    pub file_size: usize,
    pub pid: u32,
    pub incarnation: u64,
    pub start_time_ns: u64,
    pub instance: &'a str,
}

/// Writes the common header into a fresh (zero-filled, not yet visible) file.
pub(crate) fn init(region: &WriteRegion, h: &NewHeader<'_>) {
    debug_assert!(region.len() >= HEADER_SIZE && region.len() == h.file_size);
    debug_assert!(h.instance.len() < NAME_FIELD);
    region.write_bytes(off::MAGIC, &h.kind.magic());
    region
        .u32(off::VERSION)
        .store(LAYOUT_VERSION, Ordering::Relaxed);
    region
        .u32(off::HEADER_SIZE)
        .store(HEADER_SIZE as u32, Ordering::Relaxed);
    region
        .u64(off::FILE_SIZE)
        .store(h.file_size as u64, Ordering::Relaxed);
    region.u32(off::PID).store(h.pid, Ordering::Relaxed);
    region
        .u32(off::STATE)
        .store(WriterState::Running.code(), Ordering::Relaxed);
    region
        .u64(off::INCARNATION)
        .store(h.incarnation, Ordering::Relaxed);
    region
        .u64(off::START_NS)
        .store(h.start_time_ns, Ordering::Relaxed);
    let mut name = [0u8; NAME_FIELD];
    name[..h.instance.len()].copy_from_slice(h.instance.as_bytes());
    region.write_bytes(off::NAME, &name);
}

/// Publishes a new state (release: everything written before is visible to a reader that
/// sees the state).
pub(crate) fn set_state(region: &WriteRegion, state: WriterState) {
    region
        .u32(off::STATE)
        .store(state.code(), Ordering::Release);
}

/// The state as the writer side sees it.
pub(crate) fn state_of(region: &WriteRegion) -> WriterState {
    WriterState::from_code(region.u32(off::STATE).load(Ordering::Acquire))
}

/// Moves the state from running to stopped; leaves any other state (superseded) alone.
pub(crate) fn mark_stopped(region: &WriteRegion) {
    let _ = region.u32(off::STATE).compare_exchange(
        WriterState::Running.code(),
        WriterState::Stopped.code(),
        Ordering::AcqRel,
        Ordering::Relaxed,
    );
}

/// The state, with acquire ordering: what the writer wrote before setting it is visible.
pub(crate) fn state(region: &ReadRegion) -> WriterState {
    let code = region.load_u32(off::STATE);
    fence(Ordering::Acquire);
    WriterState::from_code(code)
}

/// The magic, version and sizes, before anything else is trusted.
pub(crate) fn validate(
    region: &ReadRegion,
    kind: FileKind,
    path: &Path,
) -> Result<HeaderInfo, ShmError> {
    if region.len() < HEADER_SIZE {
        return Err(ShmError::TooSmall {
            path: path.to_path_buf(),
            size: region.len() as u64,
            needed: HEADER_SIZE as u64,
        });
    }
    let magic: [u8; 8] = region.read_bytes(off::MAGIC);
    if magic != kind.magic() {
        return Err(ShmError::BadMagic {
            path: path.to_path_buf(),
            found: magic.escape_ascii().to_string(),
            expected: kind.magic().escape_ascii().to_string(),
        });
    }
    let version = region.load_u32(off::VERSION);
    if version != LAYOUT_VERSION {
        return Err(ShmError::LayoutVersion {
            path: path.to_path_buf(),
            found: version,
            expected: LAYOUT_VERSION,
        });
    }
    let header_size = region.load_u32(off::HEADER_SIZE);
    if header_size as usize != HEADER_SIZE {
        return Err(corrupt(
            path,
            format!("header size is {header_size}, expected {HEADER_SIZE}"),
        ));
    }
    let file_size = region.load_u64(off::FILE_SIZE);
    if file_size != region.len() as u64 {
        return Err(corrupt(
            path,
            format!(
                "the header says {file_size} bytes but the file has {}",
                region.len()
            ),
        ));
    }
    let name: [u8; NAME_FIELD] = region.read_bytes(off::NAME);
    let end = name.iter().position(|&b| b == 0).unwrap_or(NAME_FIELD);
    Ok(HeaderInfo {
        magic,
        layout_version: version,
        file_size,
        writer_pid: region.load_u32(off::PID),
        incarnation: region.load_u64(off::INCARNATION),
        start_time_ns: region.load_u64(off::START_NS),
        instance: String::from_utf8_lossy(&name[..end]).into_owned(),
    })
}

/// A [`ShmError::Corrupt`] for `path`.
pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> ShmError {
    ShmError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Whether process `pid` exists (`kill(pid, 0)`; a process of another user counts).
pub(crate) fn pid_alive(pid: u32) -> bool {
    // pid 0 and negative values would address process groups: never alive.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: `kill` with signal 0 sends nothing; it only checks that the process exists
    // and may be signalled. `pid` is positive, so it names a single process.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
