//! The seqlocked cell: a sequence word guarding a few data words (a 64-byte record or a
//! histogram snapshot), with one writer and any number of readers in any process.
//!
//! Protocol (all words are 64-bit, native-endian, accessed atomically):
//!
//! - Writer: load the sequence word `s` (even); store `s + 1` (odd: write in progress,
//!   relaxed); release fence; store the data words (relaxed); store `s + 2` (release).
//! - Reader: load `s1`, acquire fence; `0` means never written, odd means a write is in
//!   progress (retry); load the data words (relaxed); acquire fence; load `s2`. The copy
//!   is consistent only if `s1 == s2`. After [`MAX_READ_TRIES`] failed attempts the reader
//!   gives up and reports the cell busy; it never waits for the writer.
//!
//! Why the fences suffice: if a reader's data load sees a value stored by a later write,
//! the writer's release fence (before that data store) synchronizes with the reader's
//! acquire fence (after the data load), so the reader's `s2` load sees that write's odd
//! value or something later, and the copy is rejected.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::region::RoWord;
use crate::record::{Record, RECORD_SIZE};

/// Words in a 64-byte record.
pub(crate) const RECORD_WORDS: usize = RECORD_SIZE / 8;

/// How many times a reader tries to get a consistent copy before reporting busy.
pub const MAX_READ_TRIES: u32 = 64;

/// Outcome of a seqlocked read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeqRead {
    /// The destination holds a consistent copy.
    Ok,
    /// The cell was never written (its sequence word is 0).
    Never,
    /// The writer kept changing the cell (or died in the middle of a write).
    Busy,
}

/// Writes `src` into the cell (single writer per cell).
#[inline]
pub(crate) fn write(seq: &AtomicU64, data: &[AtomicU64], src: &[u64]) {
    debug_assert_eq!(data.len(), src.len());
    let s = seq.load(Ordering::Relaxed);
    debug_assert!(s % 2 == 0, "seqlock word is odd: two writers on one cell?");
    seq.store(s.wrapping_add(1), Ordering::Relaxed);
    fence(Ordering::Release);
    for (word, &value) in data.iter().zip(src) {
        word.store(value, Ordering::Relaxed);
    }
    seq.store(s.wrapping_add(2), Ordering::Release);
}

/// Reads the cell into `dst`, trying at most [`MAX_READ_TRIES`] times.
#[inline]
pub(crate) fn read(seq: &RoWord, data: &[RoWord], dst: &mut [u64]) -> SeqRead {
    debug_assert_eq!(data.len(), dst.len());
    for _ in 0..MAX_READ_TRIES {
        let s1 = seq.load();
        fence(Ordering::Acquire);
        if s1 == 0 {
            return SeqRead::Never;
        }
        if s1 % 2 == 1 {
            std::hint::spin_loop();
            continue;
        }
        for (d, word) in dst.iter_mut().zip(data) {
            *d = word.load();
        }
        fence(Ordering::Acquire);
        if seq.load() == s1 {
            return SeqRead::Ok;
        }
        std::hint::spin_loop();
    }
    SeqRead::Busy
}

/// A record's 64 bytes as 8 native-endian words.
#[inline]
pub(crate) fn record_to_words(rec: &Record) -> [u64; RECORD_WORDS] {
    let bytes = rec.as_bytes();
    std::array::from_fn(|k| {
        u64::from_ne_bytes(bytes[8 * k..8 * k + 8].try_into().expect("8 bytes"))
    })
}

/// A record from 8 native-endian words.
#[inline]
pub(crate) fn words_to_record(words: &[u64; RECORD_WORDS]) -> Record {
    let mut bytes = [0u8; RECORD_SIZE];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    Record::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn words_round_trip() {
        let mut bytes = [0u8; RECORD_SIZE];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        let rec = Record::from_bytes(bytes);
        assert_eq!(words_to_record(&record_to_words(&rec)), rec);
    }

    #[test]
    fn never_written_then_written() {
        let cell: Vec<AtomicU64> = (0..9).map(|_| AtomicU64::new(0)).collect();
        let ro = RoWord::from_atomics(&cell);
        let mut dst = [0u64; 8];
        assert_eq!(read(&ro[0], &ro[1..], &mut dst), SeqRead::Never);
        write(&cell[0], &cell[1..], &[7; 8]);
        assert_eq!(read(&ro[0], &ro[1..], &mut dst), SeqRead::Ok);
        assert_eq!(dst, [7; 8]);
        assert_eq!(cell[0].load(Ordering::Relaxed), 2);
        // A writer that died mid-write leaves the word odd: readers give up, never hang.
        cell[0].store(3, Ordering::Relaxed);
        assert_eq!(read(&ro[0], &ro[1..], &mut dst), SeqRead::Busy);
    }

    #[test]
    fn readers_never_see_a_torn_cell() {
        let cell: Arc<Vec<AtomicU64>> = Arc::new((0..9).map(|_| AtomicU64::new(0)).collect());
        let done = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (cell, done, started) = (cell.clone(), done.clone(), started.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                while started.load(Ordering::Acquire) < 2 {
                    assert!(Instant::now() < deadline, "readers did not start");
                    std::thread::yield_now();
                }
                for c in 1..=200_000u64 {
                    write(&cell[0], &cell[1..], &[c; 8]);
                }
                done.store(true, Ordering::Release);
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (cell, done, started) = (cell.clone(), done.clone(), started.clone());
                std::thread::spawn(move || {
                    let ro = RoWord::from_atomics(&cell);
                    started.fetch_add(1, Ordering::Release);
                    let (mut ok, mut last) = (0u64, 0u64);
                    let mut dst = [0u64; 8];
                    loop {
                        let finished = done.load(Ordering::Acquire);
                        if read(&ro[0], &ro[1..], &mut dst) == SeqRead::Ok {
                            assert!(dst.iter().all(|&w| w == dst[0]), "torn read {dst:?}");
                            assert!(dst[0] >= last, "went back in time");
                            last = dst[0];
                            ok += 1;
                        }
                        if finished {
                            break;
                        }
                    }
                    (ok, last)
                })
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            let (ok, last) = r.join().unwrap();
            assert!(ok > 0);
            assert_eq!(last, 200_000, "the last read after the writer finished");
        }
    }
}
