//! One segment file: creating it (preallocated, header written, mapped), opening and
//! validating an existing one, and the raw access the entry code builds on.
//!
//! A new segment is built under a temporary name (`.NNNNNNNNNN.tfj.TAG.tmp`), preallocated
//! with `posix_fallocate` (so a full disk shows up here as `ENOSPC`, never later as a
//! `SIGBUS` on a write to the mapping), given its header, mapped, and only then renamed to
//! `NNNNNNNNNN.tfj` by [`Segment::publish`]: readers never see a half-built file.
//!
//! Concurrency contract for the mapped bytes (this process and others): the writer only
//! writes beyond the published end of its current segment, and publishes an entry by
//! storing its length last (`Release`); readers load a length word atomically (`Acquire`)
//! and only then look at the bytes it covers, which never change again. Recovery and
//! repair zero the bytes after a valid prefix; they run under the directory lock, so no
//! writer is active, and a reader that happens to be checking a damaged entry there at
//! that moment sees a checksum mismatch.
//!
//! Limitation (as for the shared-memory files): a segment truncated by another program
//! while mapped makes accesses fault (`SIGBUS`); tickforge never shrinks a segment.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use memmap2::{Advice, MmapOptions, MmapRaw};

use super::error::{io_err, JournalError};
use super::layout::{
    seg, segment_file_name, LAYOUT_VERSION, MAGIC, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
    SEGMENT_HEADER_SIZE,
};

/// Granularity of the tail scan in [`Segment::zero_tail`].
const ZERO_CHUNK: usize = 4096;

/// A mapped segment file.
pub(crate) struct Segment {
    map: MmapRaw,
    number: u64,
    len: usize,
    path: PathBuf,
    /// Still under its temporary name (not yet published).
    tmp: bool,
}

/// Why an existing segment could not be opened.
pub(crate) enum OpenError {
    /// There is no such file.
    NotFound,
    /// The file is not a valid segment (the reason).
    Bad(String),
    /// A system call failed for another reason.
    Io(JournalError),
}

impl Segment {
    /// Creates segment `number` of `size` bytes in `dir` under a temporary name tagged
    /// `tag` (the caller publishes it). Any stale temporary file of that name is replaced.
    pub(crate) fn create(
        dir: &Path,
        number: u64,
        size: u64,
        tag: &str,
    ) -> Result<Segment, JournalError> {
        debug_assert!((MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&size) && size % 8 == 0);
        let path = dir.join(format!(".{}.{tag}.tmp", segment_file_name(number)));
        let _ = fs::remove_file(&path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut guard = RemoveOnDrop(Some(path.clone()));
        preallocate(&file, size).map_err(|source| JournalError::Preallocate {
            path: path.clone(),
            source,
        })?;
        let created_ns = now_ns();
        file.write_all_at(&encode_header(number, size, created_ns), 0)
            .map_err(io_err(&path))?;
        let map = MmapOptions::new()
            .len(size as usize)
            .map_raw(&file)
            .map_err(|source| JournalError::Map {
                path: path.clone(),
                source,
            })?;
        guard.0 = None;
        Ok(Segment {
            map,
            number,
            len: size as usize,
            path,
            tmp: true,
        })
    }

    /// Renames a newly created segment to its final name `NNNNNNNNNN.tfj`.
    pub(crate) fn publish(&mut self, dir: &Path) -> Result<(), JournalError> {
        if self.tmp {
            let target = dir.join(segment_file_name(self.number));
            fs::rename(&self.path, &target).map_err(io_err(&target))?;
            self.path = target;
            self.tmp = false;
        }
        Ok(())
    }

    /// Drops a segment that was never published and removes its temporary file.
    pub(crate) fn discard(self) {
        if self.tmp {
            let _ = fs::remove_file(&self.path);
        }
    }

    /// Opens and validates segment `number` at `path`, mapped read-only (or read-write for
    /// recovery and repair).
    pub(crate) fn open(path: &Path, number: u64, writable: bool) -> Result<Segment, OpenError> {
        // Never block on a FIFO planted at the path.
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => OpenError::NotFound,
                _ => OpenError::Io(io_err(path)(e)),
            })?;
        let meta = file
            .metadata()
            .map_err(|e| OpenError::Io(io_err(path)(e)))?;
        if !meta.is_file() {
            return Err(OpenError::Bad("not a regular file".into()));
        }
        let mut header = [0u8; SEGMENT_HEADER_SIZE];
        if meta.len() < SEGMENT_HEADER_SIZE as u64 {
            return Err(OpenError::Bad(format!(
                "the file has {} bytes, less than a header",
                meta.len()
            )));
        }
        file.read_exact_at(&mut header, 0)
            .map_err(|e| OpenError::Io(io_err(path)(e)))?;
        let size = validate_header(&header, number, meta.len()).map_err(OpenError::Bad)?;
        let opts = {
            let mut o = MmapOptions::new();
            o.len(size as usize);
            o
        };
        let map = if writable {
            opts.map_raw(&file)
        } else {
            opts.map_raw_read_only(&file)
        }
        .map_err(|source| {
            OpenError::Io(JournalError::Map {
                path: path.to_path_buf(),
                source,
            })
        })?;
        Ok(Segment {
            map,
            number,
            len: size as usize,
            path: path.to_path_buf(),
            tmp: false,
        })
    }

    /// The segment number.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    /// Size of the segment (and of the mapping) in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Start of the mapping.
    #[inline(always)]
    pub(crate) fn base(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// Loads the length word of the entry at `off` with acquire ordering: when it is
    /// non-zero, the entry's bytes are complete and visible.
    #[inline]
    pub(crate) fn load_len(&self, off: usize) -> u32 {
        assert!(
            off % 8 == 0 && off + 4 <= self.len,
            "length word out of range"
        );
        // SAFETY: in the live mapping, 4-aligned (page-aligned base, `off` % 8 == 0); length
        // words are only ever accessed atomically, and a relaxed load of one word is allowed
        // on read-only memory (the fence below makes it an acquire).
        let word = unsafe { &*self.base().add(off).cast::<AtomicU32>() };
        let len = u32::from_le(word.load(Ordering::Relaxed));
        fence(Ordering::Acquire);
        len
    }

    /// The bytes `off..off + n` of the mapping.
    ///
    /// # Safety
    /// Nobody may write these bytes while the returned slice lives: they belong to an entry
    /// whose length was loaded non-zero (published entries never change), or to a region
    /// only this thread writes.
    #[inline]
    pub(crate) unsafe fn bytes(&self, off: usize, n: usize) -> &[u8] {
        debug_assert!(off.checked_add(n).is_some_and(|end| end <= self.len));
        // SAFETY: in bounds of the live mapping (checked by the callers, asserted above);
        // not written while borrowed (the caller's contract).
        unsafe { std::slice::from_raw_parts(self.base().add(off), n) }
    }

    /// Pre-faults `off..off + n` writable (`MADV_POPULATE_WRITE`), without changing any
    /// byte, so the writer takes no page fault there. Falls back to reading one byte per
    /// page on kernels without it (before 5.14).
    pub(crate) fn populate(&self, off: usize, n: usize) {
        let end = (off.saturating_add(n)).min(self.len);
        if off >= end {
            return;
        }
        if self
            .map
            .advise_range(Advice::PopulateWrite, off, end - off)
            .is_err()
        {
            let page = page_size();
            let mut p = off;
            while p < end {
                // SAFETY: `p` is inside the live mapping; a volatile one-byte read races with
                // nothing that matters (the byte is not used) and cannot fault: the file is
                // preallocated to the mapping's full length.
                unsafe { std::ptr::read_volatile(self.base().add(p)) };
                p += page;
            }
        }
    }

    /// Zeroes everything from `from` to the end of a writable segment, so nothing after a
    /// valid prefix can ever be read as an entry. Only non-zero pages are written (a
    /// preallocated tail is all zeros, and stays clean in the page cache). Returns the end
    /// of the last non-zero byte found, `from` when the tail was already clean.
    pub(crate) fn zero_tail(&self, from: usize) -> usize {
        assert!(from % 8 == 0 && from <= self.len, "tail start out of range");
        if from + 4 <= self.len {
            // The length word first, atomically: a reader polling it sees garbage or 0.
            // SAFETY: in bounds, 4-aligned, accessed atomically by everybody (see
            // `load_len`); the mapping is writable (callers open it so).
            let word = unsafe { &*self.base().add(from).cast::<AtomicU32>() };
            if word.load(Ordering::Relaxed) != 0 {
                word.store(0, Ordering::Release);
            }
        }
        let mut dirty_end = from;
        let mut start = from;
        while start < self.len {
            let end = ((start / ZERO_CHUNK + 1) * ZERO_CHUNK).min(self.len);
            // SAFETY: in bounds; no writer is active (the callers hold the directory lock
            // or own the segment), so nothing writes the chunk while it is borrowed.
            let chunk = unsafe { self.bytes(start, end - start) };
            if let Some(last) = chunk.iter().rposition(|&b| b != 0) {
                dirty_end = start + last + 1;
                // SAFETY: in bounds of the writable mapping; the borrow above has ended.
                unsafe { std::ptr::write_bytes(self.base().add(start), 0, end - start) };
            }
            start = end;
        }
        dirty_end
    }
}

/// The 64-byte header of a new segment.
pub(crate) fn encode_header(number: u64, size: u64, created_ns: i64) -> [u8; SEGMENT_HEADER_SIZE] {
    let mut h = [0u8; SEGMENT_HEADER_SIZE];
    h[seg::MAGIC..seg::MAGIC + 8].copy_from_slice(&MAGIC);
    h[seg::VERSION..seg::VERSION + 4].copy_from_slice(&LAYOUT_VERSION.to_le_bytes());
    h[seg::HEADER_SIZE..seg::HEADER_SIZE + 4]
        .copy_from_slice(&(SEGMENT_HEADER_SIZE as u32).to_le_bytes());
    h[seg::NUMBER..seg::NUMBER + 8].copy_from_slice(&number.to_le_bytes());
    h[seg::SIZE..seg::SIZE + 8].copy_from_slice(&size.to_le_bytes());
    h[seg::CREATED_NS..seg::CREATED_NS + 8].copy_from_slice(&created_ns.to_le_bytes());
    let crc = crc32c::crc32c(&h[..seg::CRC]);
    h[seg::CRC..seg::CRC + 4].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment header against the expected number and the file's size; gives the
/// segment size, or what is wrong.
pub(crate) fn validate_header(
    h: &[u8; SEGMENT_HEADER_SIZE],
    number: u64,
    file_len: u64,
) -> Result<u64, String> {
    let u32_at = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
    if h[seg::MAGIC..seg::MAGIC + 8] != MAGIC {
        return Err(format!(
            "magic \"{}\", expected \"TFJOURN1\"",
            h[..8].escape_ascii()
        ));
    }
    let version = u32_at(seg::VERSION);
    if version != LAYOUT_VERSION {
        return Err(format!(
            "layout version {version}, this reader understands {LAYOUT_VERSION}"
        ));
    }
    if crc32c::crc32c(&h[..seg::CRC]) != u32_at(seg::CRC) {
        return Err("header checksum mismatch".into());
    }
    let header_size = u32_at(seg::HEADER_SIZE);
    if header_size as usize != SEGMENT_HEADER_SIZE {
        return Err(format!(
            "header size {header_size}, expected {SEGMENT_HEADER_SIZE}"
        ));
    }
    let found = u64_at(seg::NUMBER);
    if found != number {
        return Err(format!(
            "the header says segment {found}, the name {number}"
        ));
    }
    let size = u64_at(seg::SIZE);
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&size) || size % 8 != 0 {
        return Err(format!("segment size {size} is not valid"));
    }
    if size != file_len {
        return Err(format!(
            "the header says {size} bytes but the file has {file_len}"
        ));
    }
    Ok(size)
}

/// `posix_fallocate` over the whole file.
fn preallocate(file: &File, size: u64) -> std::io::Result<()> {
    let len = libc::off_t::try_from(size)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: plain system call on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    // posix_fallocate returns the error number rather than setting errno.
    match rc {
        0 => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}

/// The system page size.
fn page_size() -> usize {
    // SAFETY: `sysconf` only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(1)
}

/// Nanoseconds since the Unix epoch (segment creation times only: entries carry the
/// caller's times).
fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Removes a file unless disarmed (by taking the path out).
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_every_flipped_byte_is_caught() {
        let h = encode_header(7, 65536, 123);
        assert_eq!(validate_header(&h, 7, 65536), Ok(65536));
        assert!(validate_header(&h, 8, 65536).is_err(), "number mismatch");
        assert!(validate_header(&h, 7, 65537).is_err(), "size mismatch");
        for i in 0..SEGMENT_HEADER_SIZE {
            let mut bad = h;
            bad[i] ^= 0x10;
            assert!(validate_header(&bad, 7, 65536).is_err(), "byte {i}");
        }
    }

    #[test]
    fn created_segments_are_preallocated_published_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), 3, 8192, "t").unwrap();
        let path = dir.path().join("0000000003.tfj");
        assert!(dir.path().join(".0000000003.tfj.t.tmp").exists() && !path.exists());
        s.populate(0, 8192);
        s.publish(dir.path()).unwrap();
        assert!(!dir.path().join(".0000000003.tfj.t.tmp").exists());
        assert_eq!(fs::metadata(&path).unwrap().len(), 8192);
        let r = match Segment::open(&path, 3, false) {
            Ok(r) => r,
            Err(_) => panic!("reopen"),
        };
        assert_eq!((r.number(), r.len()), (3, 8192));
        assert_eq!(r.load_len(SEGMENT_HEADER_SIZE), 0);
        assert!(matches!(
            Segment::open(&path, 4, false),
            Err(OpenError::Bad(_))
        ));
        assert!(matches!(
            Segment::open(&dir.path().join("x"), 4, false),
            Err(OpenError::NotFound)
        ));
    }

    #[test]
    fn zero_tail_cleans_only_what_is_dirty() {
        let dir = tempfile::tempdir().unwrap();
        let s = Segment::create(dir.path(), 0, 16384, "t").unwrap();
        // SAFETY: test-only writes into the fresh, unpublished mapping.
        unsafe {
            s.base().add(200).write(1);
            s.base().add(9000).write(2);
        }
        assert_eq!(s.zero_tail(128), 9001);
        // SAFETY: nothing writes the segment now.
        assert!(unsafe { s.bytes(0, 16384) }[64..].iter().all(|&b| b == 0));
        assert_eq!(s.zero_tail(128), 128);
        s.discard();
    }
}
