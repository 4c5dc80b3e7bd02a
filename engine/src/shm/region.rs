//! Views of a mapped file as words that are only ever accessed atomically.
//!
//! Every word of the shared-memory files may be read by another process at any time, so
//! neither side ever forms a `&[u8]`/`&mut [u8]` over the mapping: the writer sees the file
//! as [`AtomicU64`]/[`AtomicU32`] words ([`WriteRegion`]), a reader as [`RoWord`]s that can
//! only be loaded with `Relaxed` ordering ([`ReadRegion`]). Readers map the files
//! read-only, and Rust only guarantees that *relaxed* loads of at most a register's width
//! work on read-only pages, so a reader gets its acquire ordering from explicit
//! `fence(Acquire)` calls after relaxed loads (which is equivalent under the memory model).
//!
//! Each location is always accessed with the same width by everybody (a `u32` field as a
//! 32-bit atomic, everything else as 64-bit words), as the model requires.
//!
//! Offsets are bounds- and alignment-checked with `assert!`: the soundness of the returned
//! references depends on it, and callers only pass offsets that the file validation has
//! already proved to be in range, so the asserts never fire on a bad file.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// A 64-bit word of a read-only mapping: it can only be loaded, with `Relaxed` ordering.
#[repr(transparent)]
pub(crate) struct RoWord(AtomicU64);

impl RoWord {
    /// Loads the word (`Relaxed`; pair it with `fence(Acquire)` when ordering matters).
    #[inline(always)]
    pub(crate) fn load(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// Views ordinary atomics as read-only words (for in-memory tests of the protocols).
    #[cfg(test)]
    pub(crate) fn from_atomics(words: &[AtomicU64]) -> &[RoWord] {
        // SAFETY: `RoWord` is `repr(transparent)` over `AtomicU64`, so the slices have the
        // same layout; the lifetime is carried over unchanged.
        unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<RoWord>(), words.len()) }
    }
}

/// Checks that `size` bytes at `off` lie in a region of `len` bytes and that `off` is a
/// multiple of `align`. Panics otherwise: the callers' offsets come from validated layouts.
#[inline(always)]
fn check(len: usize, off: usize, size: usize, align: usize) {
    assert!(
        off % align == 0 && off.checked_add(size).is_some_and(|end| end <= len),
        "shared-memory access out of range: {size} bytes at {off} in a {len}-byte region"
    );
}

/// The writable mapping of a file this process created.
pub(crate) struct WriteRegion {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the region only hands out atomic views of a shared mapping that stays valid for
// the region's owner's lifetime; atomics may be used from any thread.
unsafe impl Send for WriteRegion {}
// SAFETY: as above: every access through `&WriteRegion` is an atomic operation.
unsafe impl Sync for WriteRegion {}

impl WriteRegion {
    /// Wraps a writable mapping.
    ///
    /// # Safety
    /// `ptr` must be the page-aligned start of a shared, readable and writable mapping of
    /// `len` bytes that stays mapped for as long as the returned region exists, and every
    /// access to that memory, by any thread or process, must be atomic.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> Self {
        debug_assert_eq!(ptr as usize % 64, 0);
        WriteRegion { ptr, len }
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The 64-bit word at byte offset `off` (a multiple of 8).
    pub(crate) fn u64(&self, off: usize) -> &AtomicU64 {
        check(self.len, off, 8, 8);
        // SAFETY: `check` proved the word is inside the mapping and 8-aligned (the mapping
        // is page aligned); the mapping outlives `&self` (contract of `new`), and all
        // accesses to it are atomic, so an `&AtomicU64` to it is valid.
        unsafe { &*self.ptr.add(off).cast::<AtomicU64>() }
    }

    /// The 32-bit word at byte offset `off` (a multiple of 4).
    pub(crate) fn u32(&self, off: usize) -> &AtomicU32 {
        check(self.len, off, 4, 4);
        // SAFETY: as in `u64`, for a 4-aligned, in-bounds 32-bit word.
        unsafe { &*self.ptr.add(off).cast::<AtomicU32>() }
    }

    /// `n` consecutive 64-bit words from byte offset `off` (a multiple of 8).
    pub(crate) fn words(&self, off: usize, n: usize) -> &[AtomicU64] {
        let size = n.checked_mul(8).expect("word count overflows");
        check(self.len, off, size, 8);
        // SAFETY: `check` proved the `n` words are inside the mapping and 8-aligned; the
        // mapping outlives `&self` and is only accessed atomically.
        unsafe { std::slice::from_raw_parts(self.ptr.add(off).cast::<AtomicU64>(), n) }
    }

    /// Stores `bytes` (a multiple of 8 long) at `off`, one relaxed 64-bit store per word.
    pub(crate) fn write_bytes(&self, off: usize, bytes: &[u8]) {
        assert_eq!(bytes.len() % 8, 0, "write_bytes needs whole words");
        let words = self.words(off, bytes.len() / 8);
        for (w, chunk) in words.iter().zip(bytes.chunks_exact(8)) {
            w.store(
                u64::from_ne_bytes(chunk.try_into().expect("8 bytes")),
                Relaxed,
            );
        }
    }
}

/// The read-only mapping of a file opened by a reader.
pub(crate) struct ReadRegion {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the region only hands out loads of a shared mapping that stays valid for the
// region's owner's lifetime; atomic loads may be done from any thread.
unsafe impl Send for ReadRegion {}
// SAFETY: as above: every access through `&ReadRegion` is an atomic load.
unsafe impl Sync for ReadRegion {}

impl ReadRegion {
    /// Wraps a read-only mapping.
    ///
    /// # Safety
    /// `ptr` must be the page-aligned start of a shared, readable mapping of `len` bytes that
    /// stays mapped for as long as the returned region exists, and every access to that
    /// memory, by any thread or process, must be atomic.
    pub(crate) unsafe fn new(ptr: *const u8, len: usize) -> Self {
        debug_assert_eq!(ptr as usize % 64, 0);
        ReadRegion { ptr, len }
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Loads the 64-bit word at `off` (a multiple of 8), `Relaxed`.
    pub(crate) fn load_u64(&self, off: usize) -> u64 {
        self.words(off, 1)[0].load()
    }

    /// Loads the 32-bit word at `off` (a multiple of 4), `Relaxed`.
    pub(crate) fn load_u32(&self, off: usize) -> u32 {
        check(self.len, off, 4, 4);
        // SAFETY: `check` proved the word is inside the mapping and 4-aligned; the mapping
        // outlives `&self`; the only operation is a relaxed 32-bit load, which Rust allows
        // on read-only memory, and all other accesses to this word are 32-bit atomics.
        let a = unsafe { &*self.ptr.add(off).cast::<AtomicU32>() };
        a.load(Relaxed)
    }

    /// `n` consecutive read-only words from byte offset `off` (a multiple of 8).
    pub(crate) fn words(&self, off: usize, n: usize) -> &[RoWord] {
        let size = n.checked_mul(8).expect("word count overflows");
        check(self.len, off, size, 8);
        // SAFETY: `check` proved the words are inside the mapping and 8-aligned; the
        // mapping outlives `&self`; `RoWord` only allows relaxed 64-bit loads, which Rust
        // allows on read-only memory, and every other access to these words is atomic.
        unsafe { std::slice::from_raw_parts(self.ptr.add(off).cast::<RoWord>(), n) }
    }

    /// Copies `N` bytes (a multiple of 8) from `off`, one relaxed load per word.
    pub(crate) fn read_bytes<const N: usize>(&self, off: usize) -> [u8; N] {
        assert_eq!(N % 8, 0, "read_bytes needs whole words");
        let mut out = [0u8; N];
        for (chunk, w) in out.chunks_exact_mut(8).zip(self.words(off, N / 8)) {
            chunk.copy_from_slice(&w.load().to_ne_bytes());
        }
        out
    }
}
