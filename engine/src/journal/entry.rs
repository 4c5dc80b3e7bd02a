//! Writing one entry into a mapped segment, and reading (and checking) the entry at an
//! offset. Both sides of the publication protocol live here:
//!
//! - the writer writes the padding word, the payload, the header fields and the checksum
//!   with plain stores, then the length with a `Release` store;
//! - a reader loads the length (`Acquire`); zero means nothing is there yet; a non-zero
//!   length must be in bounds and the checksum must match before anything is trusted.

use std::sync::atomic::{AtomicU32, Ordering};

use super::error::Damage;
use super::layout::{align_up, ent, entry_crc, EntryKind, ENTRY_HEADER_SIZE};
use super::segment::Segment;

/// The header fields of an entry, apart from its length and checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fields {
    pub kind: EntryKind,
    pub flags: u16,
    pub feed: u32,
    pub conn: u32,
    pub time: i64,
    pub detail: u64,
}

/// A checked entry found at some offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub fields: Fields,
    /// Total length: header plus payload, without padding.
    pub len: usize,
}

impl Found {
    /// Payload length.
    pub(crate) fn payload_len(&self) -> usize {
        self.len - ENTRY_HEADER_SIZE
    }

    /// Bytes from this entry's start to the next one's.
    pub(crate) fn padded(&self) -> usize {
        align_up(self.len)
    }
}

/// What is at an entry offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Length zero: nothing written here (yet).
    Empty,
    /// Not even an entry header fits before the segment's end: the segment is full.
    Full,
    /// A complete, checked entry.
    Entry(Found),
    /// Something that is not a valid entry.
    Bad(Damage),
}

/// Reads and checks the entry at `off` (a multiple of 8) of `seg`. Never panics, whatever
/// the bytes.
pub(crate) fn read(seg: &Segment, off: usize) -> Slot {
    debug_assert_eq!(off % 8, 0);
    if off.saturating_add(ENTRY_HEADER_SIZE) > seg.len() {
        return Slot::Full;
    }
    let length = seg.load_len(off);
    if length == 0 {
        return Slot::Empty;
    }
    let len = length as usize;
    if len < ENTRY_HEADER_SIZE || align_up(len) > seg.len() - off {
        return Slot::Bad(Damage::LengthOutOfBounds { length });
    }
    // SAFETY: the length was loaded non-zero with acquire ordering and is in bounds: the
    // entry's bytes are complete, visible, and never written again.
    let bytes = unsafe { seg.bytes(off, align_up(len)) };
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    if entry_crc(&bytes[ent::KIND..], length) != u32_at(ent::CRC) {
        return Slot::Bad(Damage::BadChecksum);
    }
    let code = u16_at(ent::KIND);
    let Some(kind) = EntryKind::from_u16(code) else {
        return Slot::Bad(Damage::UnknownKind { kind: code });
    };
    Slot::Entry(Found {
        fields: Fields {
            kind,
            flags: u16_at(ent::FLAGS),
            feed: u32_at(ent::FEED),
            conn: u32_at(ent::CONN),
            time: u64_at(ent::TIME) as i64,
            detail: u64_at(ent::DETAIL),
        },
        len,
    })
}

/// The payload of the entry `found` at `off`, as returned by [`read`] for the same
/// segment and offset.
pub(crate) fn payload<'a>(seg: &'a Segment, off: usize, found: &Found) -> &'a [u8] {
    assert!(off + found.len <= seg.len(), "entry out of range");
    // SAFETY: `read` saw this entry's length published (acquire) and checked it in bounds:
    // its bytes never change again.
    unsafe { seg.bytes(off + ENTRY_HEADER_SIZE, found.payload_len()) }
}

/// Writes an entry at `off` and publishes it; returns its padded size (the distance to the
/// next entry).
///
/// # Safety
/// `off` is a multiple of 8 at the segment's published end, the entry fits
/// (`off + align_up(ENTRY_HEADER_SIZE + payload.len()) <= seg.len()`), the segment is
/// mapped writable and only the calling thread writes it.
#[inline(always)]
pub(crate) unsafe fn write(seg: &Segment, off: usize, f: &Fields, payload: &[u8]) -> usize {
    let len = ENTRY_HEADER_SIZE + payload.len();
    let padded = align_up(len);
    debug_assert!(off % 8 == 0 && off + padded <= seg.len() && len <= u32::MAX as usize);
    debug_assert_eq!(seg.load_len(off), 0, "writing over a published entry");
    let mut head = [0u8; ENTRY_HEADER_SIZE - ent::KIND];
    let mut put =
        |o: usize, b: &[u8]| head[o - ent::KIND..o - ent::KIND + b.len()].copy_from_slice(b);
    put(ent::KIND, &f.kind.code().to_le_bytes());
    put(ent::FLAGS, &f.flags.to_le_bytes());
    put(ent::FEED, &f.feed.to_le_bytes());
    put(ent::CONN, &f.conn.to_le_bytes());
    put(ent::RESERVED, &0u32.to_le_bytes());
    put(ent::TIME, &f.time.to_le_bytes());
    put(ent::DETAIL, &f.detail.to_le_bytes());
    // SAFETY: writes stay in `off..off + padded`: mapped, unpublished, read by nobody before
    // the length store below (caller's contract); `off` and `padded - 8` are multiples of 8
    // in a page-aligned mapping, so the u64 store is aligned.
    unsafe {
        let p = seg.base().add(off);
        if padded != len {
            // The padding, before the payload overwrites the front of this word.
            p.add(padded - 8).cast::<u64>().write(0);
        }
        std::ptr::copy_nonoverlapping(payload.as_ptr(), p.add(ENTRY_HEADER_SIZE), payload.len());
        p.add(ent::KIND)
            .cast::<[u8; ENTRY_HEADER_SIZE - ent::KIND]>()
            .write(head);
    }
    // SAFETY: the bytes were just written by this thread and nobody else writes them.
    let covered = unsafe { seg.bytes(off + ent::KIND, padded - ent::KIND) };
    let crc = entry_crc(covered, len as u32);
    // SAFETY: as above: in bounds, aligned, unpublished. The length word is accessed
    // atomically by everybody; the release store publishes everything written before.
    unsafe {
        let p = seg.base().add(off);
        p.add(ent::CRC).cast::<u32>().write(crc.to_le());
        (*p.add(ent::LEN).cast::<AtomicU32>()).store((len as u32).to_le(), Ordering::Release);
    }
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(kind: EntryKind) -> Fields {
        Fields {
            kind,
            flags: 3,
            feed: 4,
            conn: 5,
            time: -6,
            detail: 7,
        }
    }

    #[test]
    fn written_entries_read_back_and_any_flipped_byte_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let seg = Segment::create(dir.path(), 0, 4096, "t").unwrap();
        let mut off = 64;
        let mut at = Vec::new();
        for n in 0..20usize {
            let payload: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            // SAFETY: sequential appends at the end, well within the 4096-byte segment.
            let padded = unsafe { write(&seg, off, &fields(EntryKind::Frame), &payload) };
            at.push((off, payload));
            off += padded;
        }
        assert_eq!(read(&seg, off), Slot::Empty);
        for (o, p) in &at {
            let Slot::Entry(found) = read(&seg, *o) else {
                panic!("entry at {o}")
            };
            assert_eq!(found.fields, fields(EntryKind::Frame));
            assert_eq!(payload(&seg, *o, &found), &p[..]);
        }
        // Flip every byte of one entry with padding (payload 5: 45 bytes, padded 48).
        let (o, _) = at[5];
        for i in 0..48 {
            // SAFETY: test-only: nothing reads the segment concurrently.
            unsafe { *seg.base().add(o + i) ^= 0x40 };
            assert!(matches!(read(&seg, o), Slot::Bad(_)), "byte {i}");
            // SAFETY: as above.
            unsafe { *seg.base().add(o + i) ^= 0x40 };
        }
        assert!(matches!(read(&seg, o), Slot::Entry(_)));
        assert_eq!(read(&seg, 4096 - 32), Slot::Full);
        seg.discard();
    }
}
