//! `NAME.events`: a broadcast ring of 64-byte records with one writer and any number of
//! readers in other processes. The writer never waits; readers detect being lapped.
//!
//! Layout (native-endian), after the common header fields (bytes 0..128, see
//! [`super::header`]):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 128 | 8 | capacity: number of slots, a power of two (u64) |
//! | 136 | 4 | record size (u32) = 64 |
//! | 140 | 4 | reserved, zero |
//! | 144 | 8 | offset of the sequence array (u64) = 4096 |
//! | 152 | 8 | offset of the record slots (u64), 64-aligned |
//! | 160 | 32 | reserved, zero |
//! | 192 | 8 | write cursor (u64, atomic): sequence number of the next event to publish; alone in its cache line |
//! | 200 | 3896 | reserved, zero |
//! | seq offset | 8 × capacity | per slot, the sequence number of the event in it (u64, atomic) |
//! | slots offset | 64 × capacity | the records ([`crate::record::Record`]) |
//!
//! Events are numbered from 1; event `n` lives in slot `n & (capacity - 1)`. A sequence
//! word of 0 means the slot was never written; bit 63 ([`BUSY_BIT`]) set means the writer
//! is writing the event `seq & !BUSY_BIT` into the slot.
//!
//! Writer, for event `n` in slot `i`: `seq[i] = n | BUSY_BIT` (relaxed), release fence,
//! the 8 words of the record (relaxed), `seq[i] = n` (release); then, per event or per
//! batch, `cursor = n + 1` (release).
//!
//! Reader expecting event `n`: `s1 = seq[i]` then acquire fence. If `s1 == n`: copy the 8
//! words (relaxed), acquire fence, `s2 = seq[i]`; the copy is event `n` if `s2 == n`,
//! otherwise the reader was lapped. If `s1 & !BUSY_BIT <= n` and `s1 != n`, event `n` is
//! not published yet. If `s1 & !BUSY_BIT > n`, the reader was lapped: it skips to
//! `max(cursor, s + 1) - capacity + capacity / 8` and counts the skipped events as lost.
//! The cursor is only used to start and to resynchronize.

use std::path::Path;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::file::{ReaderMap, WriterMap};
use super::header::{corrupt, off, HEADER_SIZE};
use super::region::RoWord;
use super::seqlock::{record_to_words, words_to_record, RECORD_WORDS};
use super::{reader_common, FileKind, ShmConfig, ShmError, WriterState, MAX_EVENTS_CAPACITY};
use crate::record::{Record, RECORD_SIZE};

/// Bit 63 of a slot's sequence word: the writer is filling the slot.
pub const BUSY_BIT: u64 = 1 << 63;

/// Byte offsets of the events header fields.
mod eoff {
    use super::off::EXT;
    pub const CAPACITY: usize = EXT;
    pub const RECORD_SIZE: usize = EXT + 8;
    pub const SEQ: usize = EXT + 16;
    pub const SLOTS: usize = EXT + 24;
    pub const CURSOR: usize = EXT + 64;
}

/// Offsets of the sequence array and slots, and the file size, for `cap` slots.
fn layout(cap: usize) -> (usize, usize, usize) {
    let seq = HEADER_SIZE;
    let slots = seq + round_up(cap * 8, 4096);
    let size = round_up(slots + cap * RECORD_SIZE, 4096);
    (seq, slots, size)
}

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// The single writer of `NAME.events`.
///
/// The writer is `Send` (it can be created on one thread and moved to the output stage)
/// and all publishing takes `&mut self`, so there is exactly one writer.
pub struct EventWriter {
    seq: *const AtomicU64,
    slots: *const AtomicU64,
    mask: u64,
    next: u64,
    map: WriterMap,
}

// SAFETY: the raw pointers point into the mapping owned by `map`, which moves with the
// writer (the mapped address does not change when the struct moves); the words are
// atomics, usable from any thread.
unsafe impl Send for EventWriter {}

impl EventWriter {
    /// Creates (or replaces) `cfg.dir/NAME.events` with `cfg.events_capacity` slots.
    pub fn create(cfg: &ShmConfig) -> Result<EventWriter, ShmError> {
        cfg.validate()?;
        let cap = cfg.events_capacity;
        let (seq_off, slots_off, size) = layout(cap);
        let map = WriterMap::create(cfg, FileKind::Events, size, |r| {
            r.u64(eoff::CAPACITY).store(cap as u64, Ordering::Relaxed);
            r.u32(eoff::RECORD_SIZE)
                .store(RECORD_SIZE as u32, Ordering::Relaxed);
            r.u64(eoff::SEQ).store(seq_off as u64, Ordering::Relaxed);
            r.u64(eoff::SLOTS)
                .store(slots_off as u64, Ordering::Relaxed);
            r.u64(eoff::CURSOR).store(1, Ordering::Relaxed);
        })?;
        let seq = map.region().words(seq_off, cap).as_ptr();
        let slots = map.region().words(slots_off, cap * RECORD_WORDS).as_ptr();
        Ok(EventWriter {
            seq,
            slots,
            mask: cap as u64 - 1,
            next: 1,
            map,
        })
    }

    /// The sequence word and the 8 record words of slot `i`.
    #[inline(always)]
    fn slot(&self, i: usize) -> (&AtomicU64, &[AtomicU64]) {
        debug_assert!(i as u64 <= self.mask);
        // SAFETY: `i <= mask < capacity`; `seq`/`slots` come from bounds-checked slices of
        // `capacity` and `capacity * 8` words of the mapping `self.map` owns for as long as
        // `&self` lives, and those words are only ever accessed atomically.
        unsafe {
            (
                &*self.seq.add(i),
                std::slice::from_raw_parts(self.slots.add(i * RECORD_WORDS), RECORD_WORDS),
            )
        }
    }

    /// Writes `rec` as the next event and returns its sequence number, without advancing
    /// the header cursor: call [`flush_cursor`](Self::flush_cursor) after a batch.
    /// Readers that are already reading see the event at once.
    #[inline]
    pub fn push(&mut self, rec: &Record) -> u64 {
        let n = self.next;
        let (seq, data) = self.slot((n & self.mask) as usize);
        let words = record_to_words(rec);
        seq.store(n | BUSY_BIT, Ordering::Relaxed);
        fence(Ordering::Release);
        for (w, v) in data.iter().zip(words) {
            w.store(v, Ordering::Relaxed);
        }
        seq.store(n, Ordering::Release);
        self.next = n + 1;
        n
    }

    /// Publishes the cursor (the sequence number of the next event), used by readers to
    /// start and to resynchronize.
    #[inline]
    pub fn flush_cursor(&self) {
        self.map
            .region()
            .u64(eoff::CURSOR)
            .store(self.next, Ordering::Release);
    }

    /// Writes `rec` as the next event, advances the cursor, and returns the sequence number.
    #[inline]
    pub fn publish(&mut self, rec: &Record) -> u64 {
        let n = self.push(rec);
        self.flush_cursor();
        n
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.mask as usize + 1
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.map.path()
    }

    /// This writer's incarnation.
    pub fn incarnation(&self) -> u64 {
        self.map.incarnation()
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        // Then `map` drops and marks the file stopped.
        self.flush_cursor();
    }
}

/// Where a new reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// With the next event published.
    Latest,
    /// With the oldest event still safely in the ring: event 1 if the ring has not
    /// wrapped, else `cursor - capacity + capacity / 8`.
    Oldest,
    /// With this sequence number (lapped at once if it was already overwritten).
    Seq(u64),
}

/// What [`EventReader::poll`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// The next event.
    Event {
        /// Its sequence number.
        seq: u64,
        /// Its record.
        record: Record,
    },
    /// No new event yet.
    Empty,
    /// The writer overwrote events before this reader read them; the reader skipped
    /// `lost` events and continues with the oldest safe one.
    Lapped {
        /// Events skipped.
        lost: u64,
    },
    /// The writer stopped and every event it published was read (or counted lost).
    Stopped,
    /// A new writer replaced the file and every event of the old one was read (or counted
    /// lost): open the path again to follow the new writer.
    Restarted,
}

/// A reader of `NAME.events`. Never blocks and never waits for the writer.
pub struct EventReader {
    seq: *const RoWord,
    slots: *const RoWord,
    mask: u64,
    capacity: u64,
    margin: u64,
    next: u64,
    lost: u64,
    received: u64,
    map: ReaderMap,
}

// SAFETY: the raw pointers point into the read-only mapping owned by `map`, which moves
// with the reader (the mapped address does not change); the words are only loaded
// atomically, which is fine from any thread.
unsafe impl Send for EventReader {}

/// What one look at a slot found.
enum SlotRead {
    Event(Record),
    NotYet,
    /// Lapped: the sequence word seen.
    Lapped(u64),
}

impl EventReader {
    /// Opens `dir/NAME.events`, starting with the oldest event still in the ring.
    pub fn open(dir: impl AsRef<Path>, name: &str) -> Result<EventReader, ShmError> {
        Self::open_at(dir, name, StartAt::Oldest)
    }

    /// Opens `dir/NAME.events`, starting at `start`.
    pub fn open_at(
        dir: impl AsRef<Path>,
        name: &str,
        start: StartAt,
    ) -> Result<EventReader, ShmError> {
        let map = ReaderMap::open(dir.as_ref(), name, FileKind::Events)?;
        let r = map.region();
        let path = map.path();
        let cap = r.load_u64(eoff::CAPACITY);
        if !cap.is_power_of_two() || !(2..=MAX_EVENTS_CAPACITY as u64).contains(&cap) {
            return Err(corrupt(path, format!("event capacity {cap} is not valid")));
        }
        let record_size = r.load_u32(eoff::RECORD_SIZE);
        if record_size as usize != RECORD_SIZE {
            return Err(corrupt(
                path,
                format!("record size {record_size}, expected 64"),
            ));
        }
        let len = r.len() as u64;
        let seq_off = r.load_u64(eoff::SEQ);
        let slots_off = r.load_u64(eoff::SLOTS);
        // cap <= 2^32, so the products cannot overflow; the sums are checked.
        let (Some(seq_end), Some(slots_end)) = (
            seq_off.checked_add(cap * 8),
            slots_off.checked_add(cap * RECORD_SIZE as u64),
        ) else {
            return Err(corrupt(path, "data offsets overflow"));
        };
        let in_file =
            |start: u64, end: u64| start >= HEADER_SIZE as u64 && start % 64 == 0 && end <= len;
        if !in_file(seq_off, seq_end) || !in_file(slots_off, slots_end) {
            return Err(corrupt(
                path,
                format!(
                    "sequence array at {seq_off} or slots at {slots_off} \
                     out of the {len}-byte file"
                ),
            ));
        }
        if seq_end > slots_off && slots_end > seq_off {
            return Err(corrupt(path, "sequence array and slots overlap"));
        }
        let (cap_us, seq_us, slots_us) = (cap as usize, seq_off as usize, slots_off as usize);
        let seq = r.words(seq_us, cap_us).as_ptr();
        let slots = r.words(slots_us, cap_us * RECORD_WORDS).as_ptr();
        let margin = (cap / 8).max(1);
        let mut reader = EventReader {
            seq,
            slots,
            mask: cap - 1,
            capacity: cap,
            margin,
            next: 1,
            lost: 0,
            received: 0,
            map,
        };
        let cursor = reader.cursor().max(1);
        reader.next = match start {
            StartAt::Latest => cursor,
            StartAt::Oldest if cursor - 1 <= cap => 1,
            StartAt::Oldest => cursor - cap + margin,
            StartAt::Seq(s) => s.max(1),
        };
        Ok(reader)
    }

    /// The header cursor (acquire).
    fn cursor(&self) -> u64 {
        let c = self.map.region().load_u64(eoff::CURSOR);
        fence(Ordering::Acquire);
        c
    }

    /// The sequence word and the 8 record words of slot `i`.
    #[inline(always)]
    fn slot(&self, i: usize) -> (&RoWord, &[RoWord]) {
        debug_assert!(i as u64 <= self.mask);
        // SAFETY: `i <= mask < capacity`, and `seq`/`slots` were taken from bounds-checked
        // slices of `capacity` and `capacity * 8` words of the mapping owned by
        // `self.map`, which lives as long as `&self`; `RoWord` only allows relaxed loads.
        unsafe {
            (
                &*self.seq.add(i),
                std::slice::from_raw_parts(self.slots.add(i * RECORD_WORDS), RECORD_WORDS),
            )
        }
    }

    /// One look at the slot of event `n`.
    #[inline]
    fn read_slot(&self, n: u64) -> SlotRead {
        let (seq, data) = self.slot((n & self.mask) as usize);
        let s1 = seq.load();
        fence(Ordering::Acquire);
        if s1 == n {
            let mut words = [0u64; RECORD_WORDS];
            for (d, w) in words.iter_mut().zip(data) {
                *d = w.load();
            }
            fence(Ordering::Acquire);
            let s2 = seq.load();
            if s2 == n {
                return SlotRead::Event(words_to_record(&words));
            }
            return SlotRead::Lapped(s2);
        }
        if s1 & !BUSY_BIT <= n {
            SlotRead::NotYet
        } else {
            SlotRead::Lapped(s1)
        }
    }

    /// The next event, or why there is none. Never blocks, never spins.
    #[inline]
    pub fn poll(&mut self) -> Poll {
        let n = self.next;
        match self.read_slot(n) {
            SlotRead::Event(record) => self.deliver(n, record),
            SlotRead::Lapped(seen) => self.resync(seen),
            SlotRead::NotYet => {
                let state = self.map.state();
                if state == WriterState::Running {
                    return Poll::Empty;
                }
                // The writer set the state after its last event (release; `state()` is
                // acquire), so a second look sees everything it published.
                match self.read_slot(n) {
                    SlotRead::Event(record) => self.deliver(n, record),
                    SlotRead::Lapped(seen) => self.resync(seen),
                    SlotRead::NotYet if state == WriterState::Superseded => Poll::Restarted,
                    SlotRead::NotYet => Poll::Stopped,
                }
            }
        }
    }

    fn deliver(&mut self, seq: u64, record: Record) -> Poll {
        self.next = seq.wrapping_add(1);
        self.received += 1;
        Poll::Event { seq, record }
    }

    /// Skips to the oldest safe event after being lapped; `seen` is the sequence word that
    /// showed it. The words come from another process, so nothing here trusts them
    /// beyond making progress.
    fn resync(&mut self, seen: u64) -> Poll {
        let n = self.next;
        // Event `seen` is at least being written, so the writer is at least that far.
        let head = self.cursor().max((seen & !BUSY_BIT).saturating_add(1));
        let target = head
            .saturating_sub(self.capacity)
            .saturating_add(self.margin)
            .min(head)
            .max(n.saturating_add(1));
        let lost = target - n;
        self.next = target;
        self.lost = self.lost.saturating_add(lost);
        Poll::Lapped { lost }
    }

    /// The sequence number of the next event this reader expects.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Events received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Events lost to lapping so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// The writer's cursor: the sequence number of the next event it will publish (it may
    /// lag by a batch).
    pub fn writer_cursor(&self) -> u64 {
        self.cursor()
    }
}

reader_common!(EventReader);
