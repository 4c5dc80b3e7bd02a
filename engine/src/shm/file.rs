//! Creating, replacing and opening the mapped files.
//!
//! A writer builds its file under a temporary name in the same directory (owner-only 0600,
//! or 0640 with `group_read`, set explicitly so the umask does not matter), sizes it, maps
//! it, writes the header and the initial contents, and only then renames it over
//! `NAME.kind`: readers never see a half-built file. If a file was there, the writer maps
//! it first and, once the new file is in place, marks the old one superseded, so readers
//! still mapping the old inode notice the restart. The old file is never truncated.
//!
//! A reader opens the file read-only, maps it read-only and validates the common header
//! before anything else looks at it.

use std::fs::{self, OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use memmap2::{Mmap, MmapMut, MmapOptions};

use super::header::{self, HeaderInfo, NewHeader, WriterState, HEADER_SIZE};
use super::region::{ReadRegion, WriteRegion};
use super::{validate_name, FileKind, ShmConfig, ShmError};

/// An `Io` error for `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ShmError + '_ {
    move |source| ShmError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file this process created and writes; marks itself stopped when dropped.
pub(crate) struct WriterMap {
    region: WriteRegion,
    // Keeps the mapping alive for `region`.
    _map: MmapMut,
    path: PathBuf,
    incarnation: u64,
}

impl WriterMap {
    /// Creates (or replaces) `cfg.dir/NAME.kind` with `size` bytes; `init` fills in the
    /// per-file header fields and data after the common header is written, before the
    /// file becomes visible.
    pub(crate) fn create(
        cfg: &ShmConfig,
        kind: FileKind,
        size: usize,
        init: impl FnOnce(&WriteRegion),
    ) -> Result<WriterMap, ShmError> {
        cfg.validate()?;
        debug_assert!(size >= HEADER_SIZE && size % 64 == 0);
        let path = cfg.path(kind);
        let old = OldFile::map(&path, kind);
        let pid = std::process::id();
        let start_time_ns = now_ns();
        let incarnation = new_incarnation(start_time_ns, pid, old.as_ref().map(|o| o.incarnation));

        let tmp = cfg.dir.join(format!(
            ".{}.{}.{}.{}.tmp",
            cfg.name,
            kind.suffix(),
            pid,
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let guard = RemoveOnDrop(Some(tmp.clone()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(cfg.mode())
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        // The umask may have removed bits from the mode given to open: set it exactly.
        file.set_permissions(Permissions::from_mode(cfg.mode()))
            .map_err(io_err(&tmp))?;
        file.set_len(size as u64).map_err(io_err(&tmp))?;
        // SAFETY: the file was just created by this process under a unique name and is
        // `size` bytes long; nothing truncates it while mapped (tickforge never shrinks a
        // file), and all accesses through the mapping are atomic (`WriteRegion`).
        let mut map = unsafe { MmapOptions::new().len(size).populate().map_mut(&file) }
            .map_err(io_err(&tmp))?;
        // SAFETY: `map` is a page-aligned shared read-write mapping of `size` bytes owned by
        // the returned `WriterMap` next to the region, so it outlives the region; every
        // access to the file, here and in readers, is atomic.
        let region = unsafe { WriteRegion::new(map.as_mut_ptr(), map.len()) };
        header::init(
            &region,
            &NewHeader {
                kind,
                file_size: size,
                pid,
                incarnation,
                start_time_ns,
                instance: &cfg.name,
            },
        );
        init(&region);
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        guard.disarm();
        drop(file);

        if let Some(old) = old {
            old.supersede(&path);
        }
        tracing::debug!(path = %path.display(), incarnation, "shared-memory file created");
        Ok(WriterMap {
            region,
            _map: map,
            path,
            incarnation,
        })
    }

    /// The mapped words.
    pub(crate) fn region(&self) -> &WriteRegion {
        &self.region
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The incarnation written in the header.
    pub(crate) fn incarnation(&self) -> u64 {
        self.incarnation
    }
}

impl Drop for WriterMap {
    fn drop(&mut self) {
        header::mark_stopped(&self.region);
    }
}

/// Counter making temporary names unique within the process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes a temporary file unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// A previous writer's file found at the path, mapped so it can be marked superseded.
struct OldFile {
    region: WriteRegion,
    _map: MmapMut,
    incarnation: u64,
    pid: u32,
}

impl OldFile {
    /// Maps the existing file at `path` if it looks like one of ours (magic and size);
    /// anything else is simply replaced.
    fn map(path: &Path, kind: FileKind) -> Option<OldFile> {
        // Never follow a symlink planted at the path, never block on a FIFO.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .ok()?;
        let meta = file.metadata().ok()?;
        let len = usize::try_from(meta.len()).ok()?;
        if !meta.is_file() || len < HEADER_SIZE {
            return None;
        }
        // SAFETY: the file is at least `len` bytes now; tickforge never shrinks its files
        // and we only touch the header (first page) through atomics, as every user of
        // these files does.
        let mut map = unsafe { MmapOptions::new().len(HEADER_SIZE).map_mut(&file) }.ok()?;
        // SAFETY: `map` is a page-aligned shared mapping of `HEADER_SIZE` bytes, owned next
        // to the region by the `OldFile`; accesses are atomic.
        let region = unsafe { WriteRegion::new(map.as_mut_ptr(), map.len()) };
        let magic = region.u64(header::off::MAGIC).load(Ordering::Relaxed);
        if magic.to_ne_bytes() != kind.magic() {
            return None;
        }
        let incarnation = region.u64(header::off::INCARNATION).load(Ordering::Relaxed);
        let pid = region.u32(header::off::PID).load(Ordering::Relaxed);
        Some(OldFile {
            region,
            _map: map,
            incarnation,
            pid,
        })
    }

    /// Marks the old file superseded so its readers reopen the path.
    fn supersede(self, path: &Path) {
        let state = header::state_of(&self.region);
        if state == WriterState::Running
            && self.pid != std::process::id()
            && header::pid_alive(self.pid)
        {
            tracing::warn!(
                path = %path.display(),
                pid = self.pid,
                "replacing a shared-memory file whose writer still runs: two engines with one name?"
            );
        }
        header::set_state(&self.region, WriterState::Superseded);
    }
}

/// A file opened by a reader: mapped read-only, common header validated.
pub(crate) struct ReaderMap {
    region: ReadRegion,
    // Keeps the mapping alive for `region`.
    _map: Mmap,
    path: PathBuf,
    info: HeaderInfo,
}

impl ReaderMap {
    /// Opens and validates `dir/NAME.kind`.
    pub(crate) fn open(dir: &Path, name: &str, kind: FileKind) -> Result<ReaderMap, ShmError> {
        validate_name(name)?;
        let path = kind.path(dir, name);
        // Non-blocking, so a FIFO planted at the path cannot hang the reader.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    ShmError::NotFound { path: path.clone() }
                } else {
                    ShmError::Io {
                        path: path.clone(),
                        source: e,
                    }
                }
            })?;
        let meta = file.metadata().map_err(io_err(&path))?;
        if !meta.is_file() {
            return Err(header::corrupt(&path, "not a regular file"));
        }
        let size = meta.len();
        if size < HEADER_SIZE as u64 {
            return Err(ShmError::TooSmall {
                path,
                size,
                needed: HEADER_SIZE as u64,
            });
        }
        let len = usize::try_from(size).map_err(|_| header::corrupt(&path, "file too large"))?;
        // SAFETY: the mapping is read-only and covers the file's current size; tickforge
        // never shrinks its files, and every access through the mapping is a relaxed atomic
        // load (`ReadRegion`), so concurrent writes by the writer are not data races.
        let map = unsafe { MmapOptions::new().len(len).map(&file) }.map_err(io_err(&path))?;
        // SAFETY: `map` is a page-aligned shared read-only mapping of `len` bytes, owned by
        // the returned `ReaderMap` next to the region, so it outlives the region; all
        // accesses to the file are atomic.
        let region = unsafe { ReadRegion::new(map.as_ptr(), map.len()) };
        let info = header::validate(&region, kind, &path)?;
        Ok(ReaderMap {
            region,
            _map: map,
            path,
            info,
        })
    }

    /// The mapped words.
    pub(crate) fn region(&self) -> &ReadRegion {
        &self.region
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The header read at open.
    pub(crate) fn info(&self) -> &HeaderInfo {
        &self.info
    }

    /// The writer's current state.
    pub(crate) fn state(&self) -> WriterState {
        header::state(&self.region)
    }

    /// Whether the writer's process exists.
    pub(crate) fn writer_alive(&self) -> bool {
        header::pid_alive(self.info.writer_pid)
    }
}

/// Nanoseconds since the Unix epoch.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// An incarnation: start time mixed with the pid, never 0 and never the previous one.
fn new_incarnation(now: u64, pid: u32, previous: Option<u64>) -> u64 {
    static SALT: AtomicU64 = AtomicU64::new(0);
    let salt = SALT.fetch_add(1, Ordering::Relaxed);
    let mut inc = now ^ (u64::from(pid) << 32) ^ salt.rotate_right(8);
    while inc == 0 || Some(inc) == previous {
        inc = inc.wrapping_add(1);
    }
    inc
}
