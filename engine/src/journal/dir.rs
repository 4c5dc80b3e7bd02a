//! The journal directory: listing its segments, the writer's lock, leftover temporary
//! files, and retention by total size.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::error::{io_err, JournalError};
use super::layout::{parse_segment_file_name, segment_path};

/// Name of the lock file a writer (or a repair) holds while it owns the directory.
pub const LOCK_FILE_NAME: &str = "journal.lock";

/// A segment file found in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listed {
    /// Segment number.
    pub number: u64,
    /// File size in bytes.
    pub size: u64,
}

/// The segment files `NNNNNNNNNN.tfj` of `dir`, by increasing number. Other names are
/// ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<Listed>, JournalError> {
    let mut out = Vec::new();
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        let Some(number) = item.file_name().to_str().and_then(parse_segment_file_name) else {
            continue;
        };
        // A file deleted between the listing and here (retention) is simply skipped.
        let Ok(meta) = item.metadata() else { continue };
        out.push(Listed {
            number,
            size: meta.len(),
        });
    }
    out.sort_unstable_by_key(|l| l.number);
    Ok(out)
}

/// Removes the temporary files of segments that were being created when a writer stopped
/// (`.NNNNNNNNNN.tfj.*.tmp`). Only call while holding the lock.
pub(crate) fn remove_temporaries(dir: &Path) -> Result<(), JournalError> {
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') && name.ends_with(".tmp") && name.contains(".tfj.") {
            let _ = fs::remove_file(item.path());
        }
    }
    Ok(())
}

/// Deletes the oldest segments while the segments of `dir` total more than `limit` bytes;
/// never segment `current` or a later one. Returns the numbers deleted.
pub(crate) fn enforce_retention(dir: &Path, current: u64, limit: u64) -> Vec<u64> {
    let Ok(listed) = list_segments(dir) else {
        return Vec::new();
    };
    let mut total: u64 = listed.iter().map(|l| l.size).sum();
    let mut removed = Vec::new();
    for l in listed {
        if total <= limit || l.number >= current {
            break;
        }
        let path = segment_path(dir, l.number);
        match fs::remove_file(&path) {
            Ok(()) => {
                total -= l.size;
                removed.push(l.number);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "journal retention: cannot delete segment");
                break;
            }
        }
    }
    if !removed.is_empty() {
        tracing::debug!(dir = %dir.display(), ?removed, "journal retention deleted old segments");
    }
    removed
}

/// An exclusive `flock` on the directory's lock file, held for the owner's lifetime: one
/// writer (or repair) per journal.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock without waiting; [`JournalError::Locked`] when somebody holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, JournalError> {
        let path: PathBuf = dir.join(LOCK_FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        // SAFETY: plain system call on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                JournalError::Locked { path }
            } else {
                JournalError::Io { path, source: e }
            });
        }
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            DirLock::acquire(dir.path()),
            Err(JournalError::Locked { .. })
        ));
        drop(a);
        DirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn listing_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        for n in [3u64, 1, 2, 10] {
            fs::write(segment_path(dir.path(), n), vec![0u8; 100]).unwrap();
        }
        fs::write(dir.path().join("0000000004.tfj.bad"), b"x").unwrap();
        fs::write(dir.path().join(".0000000011.tfj.w.tmp"), b"x").unwrap();
        let numbers =
            |d: &Path| -> Vec<u64> { list_segments(d).unwrap().iter().map(|l| l.number).collect() };
        assert_eq!(numbers(dir.path()), [1, 2, 3, 10]);
        remove_temporaries(dir.path()).unwrap();
        assert!(!dir.path().join(".0000000011.tfj.w.tmp").exists());
        // 400 bytes, limit 250: deletes 1 and 2; never 3 (current) or later.
        assert_eq!(enforce_retention(dir.path(), 3, 250), [1, 2]);
        assert_eq!(enforce_retention(dir.path(), 3, 0), Vec::<u64>::new());
        assert_eq!(numbers(dir.path()), [3, 10]);
    }
}
