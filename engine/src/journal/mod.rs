//! The journal: every frame that arrived, in crash-safe memory-mapped segments.
//!
//! A journal is a directory of fixed-size segment files, each preallocated
//! (`posix_fallocate`, so a full disk is an error at creation, never a `SIGBUS` later) and
//! memory-mapped. A [`JournalWriter`] appends entries; a background thread pre-faults the
//! pages ahead of it and prepares the next segment, so the writer's steady state has no
//! page fault and no system call. A [`JournalReader`] iterates the entries in order across
//! segments, also while the writer appends (from another process too). [`verify`] reports
//! the valid prefix and the first bad position of a damaged journal, [`repair`] truncates
//! it there, and a writer that opens a damaged journal keeps the valid prefix of its last
//! segment and goes on after it.
//!
//! An entry is written so that a crash can never leave a torn entry that looks whole: the
//! payload, header fields and checksum are written first and the length last, with a
//! release store; zero means "nothing written here yet". A reader loads the length with
//! acquire ordering and checks the length bounds and the checksum before trusting
//! anything.
//!
//! # On-disk layout (version 1)
//!
//! All integers are little-endian. The directory holds:
//!
//! - `NNNNNNNNNN.tfj`: segment number `N`, zero-padded to 10 digits. Numbers increase by
//!   one from segment to segment; the oldest may have been deleted by retention.
//! - `journal.lock`: locked (`flock`, exclusive) by the writer or a repair while it runs.
//! - `.NNNNNNNNNN.tfj.*.tmp`: a segment being created (renamed to `NNNNNNNNNN.tfj` once
//!   preallocated and given its header); ignored by readers, removed by the next writer.
//! - `NNNNNNNNNN.tfj.bad`: a segment with an invalid header, set aside by a writer's
//!   recovery; ignored by readers.
//!
//! ## Segment header (64 bytes, at offset 0)
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `TFJOURN1` |
//! | 8 | 4 | layout version (u32) = 1 |
//! | 12 | 4 | header size (u32) = 64: the first entry starts here |
//! | 16 | 8 | segment number (u64), the same as in the file name |
//! | 24 | 8 | segment size (u64) = the file size in bytes |
//! | 32 | 8 | creation time, ns since the Unix epoch (i64) |
//! | 40 | 20 | reserved, zero |
//! | 60 | 4 | crc32c of bytes 0..60 (u32) |
//!
//! ## Entries (from offset 64, each at a multiple of 8)
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | length (u32) = 40 + payload length; 0: nothing written here yet. Written last, with a release store |
//! | 4 | 4 | checksum (u32): CRC-32C of the entry's bytes 8..padded end, extended from the length as initial value (see below) |
//! | 8 | 2 | kind (u16), see below |
//! | 10 | 2 | flags (u16), per kind |
//! | 12 | 4 | feed id (u32) |
//! | 16 | 4 | connection id (u32) |
//! | 20 | 4 | reserved, zero |
//! | 24 | 8 | time (i64): receive time, ns since the Unix epoch |
//! | 32 | 8 | detail (u64), per kind |
//! | 40 | n | payload |
//! | 40 + n | 0..7 | zero padding up to a multiple of 8: the next entry starts at `offset + ((40 + n + 7) & !7)` |
//!
//! CRC-32C is the Castagnoli CRC of iSCSI and ext4 (reflected polynomial 0x82F63B78). The
//! segment header's checksum is the plain CRC-32C (initial value 0) of bytes 0..60. An
//! entry's checksum starts from its length instead of 0: it is
//! `crc32c_extend(length, entry[8..padded])`, the usual "continue a CRC" operation (Google
//! crc32c `Extend(length, data, n)`, Python `crc32c.crc32c(data, value=length)`, Rust
//! `crc32c::crc32c_append(length, data)`): complement the seed, run the bytes, complement
//! the result. So a damaged length word fails the check too. Kinds:
//!
//! | code | kind | flags | detail | payload |
//! | --- | --- | --- | --- | --- |
//! | 1 | `FRAME` | bit 0: binary frame (else text) | 0 | the frame's bytes as received |
//! | 2 | `CLOCK` | 0 | 0 | empty: a receive-clock tick for an idle feed |
//! | 3 | `CONNECTION` | the [`crate::record::FeedState`] code | attempt number, close code, … | reason text (UTF-8) |
//! | 4 | `DROP` | 0 | number of records dropped | what was dropped (text) |
//! | 5 | `SEGMENT_START` | bit 0: resumed (see below) | the segment number | the engine's config text and symbol table, opaque |
//! | 6 | `SEGMENT_END` | 0 | the next segment's number | empty |
//!
//! `SEGMENT_START` is the first entry of every segment. A writer that reopens a journal and
//! goes on in the middle of its last segment writes one too, with the resumed flag, so the
//! config and symbol table of every run precede its entries. `SEGMENT_START` and
//! `SEGMENT_END` carry the time of the entry that made the writer write them (no clock is
//! read).
//!
//! Every segment keeps its last 40 bytes free, so `SEGMENT_END` always fits. A reader that
//! meets `SEGMENT_END` goes on with the next file. A segment that ends without it is the
//! one being written, or was cut by a crash (then the writer goes on in it after restart);
//! if a later segment holds entries, it is damaged ([`Damage::TornLength`]). A segment
//! whose remaining space cannot hold an entry header ends there implicitly. Everything
//! after the last valid entry of a segment is zero.
//!
//! # Reading it without Rust
//!
//! For each segment in number order: check the header (magic, version, crc, number, size
//! = file size); from offset 64, read the u32 length at the entry offset (an aligned
//! 32-bit load; on a live journal, with acquire ordering). 0: stop (or wait). Otherwise
//! check `40 <= length` and `offset + pad8(length) <= size` and the crc; take the fields
//! and payload; go to `offset + pad8(length)`; after a `SEGMENT_END`, go to the next
//! segment.

mod config;
mod dir;
mod entry;
mod error;
mod handoff;
mod layout;
mod pretouch;
mod reader;
mod recover;
mod segment;
mod verify;
mod writer;

pub use config::{JournalConfig, DEFAULT_RETAIN_BYTES};
pub use dir::LOCK_FILE_NAME;
pub use error::{Damage, JournalError};
pub use handoff::{SegmentCursor, SharedSegments};
pub use layout::{
    parse_segment_file_name, segment_file_name, segment_path, EntryKind, Position,
    DEFAULT_SEGMENT_SIZE, ENTRY_ALIGN, ENTRY_HEADER_SIZE, FLAG_BINARY, FLAG_RESUMED,
    LAYOUT_VERSION, MAGIC, MAX_SEGMENT_NUMBER, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
    SEGMENT_EXTENSION, SEGMENT_HEADER_SIZE,
};
pub use reader::{Entry, JournalReader};
pub use recover::{Cut, RecoveryReport};
pub use verify::{
    repair, verify, BadPosition, RepairReport, SegmentReport, Unpublished, VerifyReport,
};
pub use writer::JournalWriter;
