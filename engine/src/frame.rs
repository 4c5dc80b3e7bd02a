//! The reader → parser edge: fixed-size frame references plus the frames' bytes.
//!
//! When the engine journals, the reader writes each frame into the journal and passes a
//! [`FrameRef`] holding its journal position (segment, offset, length, connection, receive
//! time) down an SPSC ring; the parser reads the bytes straight out of the mapped segment
//! through a [`SegmentCursor`]. Without a journal (or while it cannot be written) the reader
//! copies the payload once, into a byte ring, instead. Nothing is allocated per frame. Besides data frames the same edge carries the reader's clock ticks,
//! connection status changes (their reason text in the byte ring) and the end of input, so
//! the parser sees everything in the order the reader saw it.

use std::sync::Arc;

use crate::journal::{SegmentCursor, SharedSegments};
use crate::ring::{edge, Inbox, Outbox};
use crate::wait::ThreadWake;

/// What a [`FrameRef`] stands for.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A text frame from the venue.
    Text = 1,
    /// A binary frame from the venue.
    Binary = 2,
    /// The feed is idle: a receive-clock tick.
    Clock = 3,
    /// A connection status change; `state` and `detail` say which, the bytes say why.
    Status = 4,
    /// The input ended: no frame follows.
    End = 5,
}

/// [`FrameRef::segment`] of a payload that was copied into the byte ring.
pub const IN_BYTE_RING: u64 = u64::MAX;

/// A fixed-size reference to a frame: in the journal or in the byte ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    /// What this is.
    pub kind: FrameKind,
    /// For [`FrameKind::Status`]: the [`crate::record::FeedState`] code.
    pub state: u16,
    /// Feed id.
    pub feed: u32,
    /// Connection id (increases with every connection the reader opens).
    pub conn: u32,
    /// Payload length in bytes.
    pub len: u32,
    /// Receive time, ns since the Unix epoch: when the socket read that brought the
    /// frame's last byte returned.
    pub recv_ts: i64,
    /// The journal segment holding the payload, or [`IN_BYTE_RING`] when the payload was
    /// copied into the edge's byte ring.
    pub segment: u64,
    /// Where the payload is: the entry's offset in the journal segment, or the payload's
    /// offset in the stream of all byte-ring payloads.
    pub offset: u64,
    /// For [`FrameKind::Status`]: a detail (attempt number, close code, …).
    pub detail: i64,
}

impl FrameRef {
    /// A reference of `kind` for `feed` and `conn`, received at `recv_ts`, with every other
    /// field zero (the payload's place is filled in when it is pushed).
    pub fn new(kind: FrameKind, feed: u32, conn: u32, recv_ts: i64) -> FrameRef {
        FrameRef {
            kind,
            state: 0,
            feed,
            conn,
            len: 0,
            recv_ts,
            segment: IN_BYTE_RING,
            offset: 0,
            detail: 0,
        }
    }
}

/// A trade the parser dropped on a full ring, sent back to the reader ([`Feedback::Drop`]),
/// which journals it (a `DROP` entry) so that a replay can reproduce the drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropNote {
    /// Journal segment of the frame the trade came from.
    pub segment: u64,
    /// Offset of that frame's entry in the segment.
    pub offset: u64,
    /// Index of the trade among the frame's trades (0 = first).
    pub index: u32,
    /// Symbol id of the trade.
    pub symbol: u32,
    /// Feed id.
    pub feed: u32,
    /// Connection id.
    pub conn: u32,
    /// Receive time of the frame.
    pub recv_ts: i64,
}

impl DropNote {
    /// Size of [`DropNote::encode`]'s output.
    pub const ENCODED_LEN: usize = 24;

    /// The `DROP` entry payload: segment u64, offset u64, index u32, symbol u32, all
    /// little-endian.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[0..8].copy_from_slice(&self.segment.to_le_bytes());
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b[16..20].copy_from_slice(&self.index.to_le_bytes());
        b[20..24].copy_from_slice(&self.symbol.to_le_bytes());
        b
    }

    /// Reads a `DROP` entry payload: (segment, offset, index, symbol); `None` when it is
    /// not one.
    pub fn decode(payload: &[u8]) -> Option<(u64, u64, u32, u32)> {
        let b: &[u8; Self::ENCODED_LEN] = payload.try_into().ok()?;
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Some((u64_at(0), u64_at(8), u32_at(16), u32_at(20)))
    }
}

/// What the parser tells the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// A trade was dropped on the full ring: journal it.
    Drop(DropNote),
    /// The venue announced it will close this connection: replace it (make before break).
    Rotate {
        /// Feed id.
        feed: u32,
        /// The connection the notice came on.
        conn: u32,
    },
}

/// The parser's end of the feedback channel.
pub struct FeedbackSender(rtrb::Producer<Feedback>);

/// The reader's end of the feedback channel.
pub struct FeedbackReceiver(rtrb::Consumer<Feedback>);

/// A channel for up to `capacity` pending messages, parser → reader.
pub fn feedback_channel(capacity: usize) -> (FeedbackSender, FeedbackReceiver) {
    let (tx, rx) = rtrb::RingBuffer::new(capacity.max(1));
    (FeedbackSender(tx), FeedbackReceiver(rx))
}

impl FeedbackSender {
    /// Sends a message; false when the channel is full (the reader is not keeping up).
    pub fn send(&mut self, msg: Feedback) -> bool {
        self.0.push(msg).is_ok()
    }
}

impl FeedbackReceiver {
    /// The next pending message.
    pub fn recv(&mut self) -> Option<Feedback> {
        self.0.pop().ok()
    }
}

/// Producer half: the reader's.
pub struct FrameOutbox {
    refs: Outbox<FrameRef>,
    bytes: rtrb::Producer<u8>,
    offset: u64,
}

/// Consumer half: the parser's.
pub struct FrameInbox {
    refs: Inbox<FrameRef>,
    bytes: rtrb::Consumer<u8>,
    journal: Option<SegmentCursor>,
    missing: u64,
}

/// Creates the edge with room for `frames` references and `byte_capacity` payload bytes;
/// the consumer runs on the thread behind `wake`.
pub fn frame_edge(
    frames: usize,
    byte_capacity: usize,
    wake: Arc<ThreadWake>,
) -> (FrameOutbox, FrameInbox) {
    let (refs_tx, refs_rx) = edge(frames, wake);
    let (bytes_tx, bytes_rx) = rtrb::RingBuffer::new(byte_capacity);
    (
        FrameOutbox {
            refs: refs_tx,
            bytes: bytes_tx,
            offset: 0,
        },
        FrameInbox {
            refs: refs_rx,
            bytes: bytes_rx,
            journal: None,
            missing: 0,
        },
    )
}

impl FrameOutbox {
    /// True when a frame of `len` bytes fits now.
    #[inline]
    pub fn has_room(&self, len: usize) -> bool {
        self.refs.free() > 0 && self.bytes.slots() >= len
    }

    /// Largest payload the byte ring can ever hold.
    pub fn max_payload(&self) -> usize {
        self.bytes.buffer().capacity()
    }

    /// True when a reference fits now.
    #[inline]
    pub fn has_ref_room(&self) -> bool {
        self.refs.free() > 0
    }

    /// Passes on a frame that is in the journal: `head.segment`, `head.offset` and
    /// `head.len` say where. Gives `head` back when it does not fit.
    #[inline]
    pub fn push_journaled(&mut self, head: FrameRef) -> Result<(), FrameRef> {
        debug_assert!(head.segment != IN_BYTE_RING);
        self.refs.push(head)
    }

    /// Appends a frame, copying its payload into the byte ring. `head.len`, `head.segment`
    /// and `head.offset` are filled in here. Gives `head` back when it does not fit.
    pub fn push(&mut self, mut head: FrameRef, payload: &[u8]) -> Result<(), FrameRef> {
        if !self.has_room(payload.len()) {
            return Err(head);
        }
        if !payload.is_empty() {
            let Ok(mut chunk) = self.bytes.write_chunk(payload.len()) else {
                return Err(head);
            };
            let (a, b) = chunk.as_mut_slices();
            let split = a.len();
            a.copy_from_slice(&payload[..split]);
            b.copy_from_slice(&payload[split..]);
            chunk.commit_all();
        }
        head.len = payload.len() as u32;
        head.segment = IN_BYTE_RING;
        head.offset = self.offset;
        self.offset += payload.len() as u64;
        let pushed = self.refs.push(head);
        debug_assert!(pushed.is_ok(), "room was checked");
        pushed
    }

    /// Wakes the parser's thread if it is parked and frames were pushed.
    pub fn notify(&mut self) {
        self.refs.notify();
    }
}

impl FrameInbox {
    /// Reads journaled payloads through the segments `shared` holds.
    pub fn with_journal(mut self, shared: SharedSegments) -> Self {
        self.journal = Some(SegmentCursor::new(shared));
        self
    }

    /// Journaled frames whose bytes could not be found (always 0 unless the journal's
    /// hand-off is broken); they were passed on empty.
    pub fn missing(&self) -> u64 {
        self.missing
    }

    /// The next frame, if any: calls `f` with its reference and payload, then releases the
    /// payload. When the payload wraps around the ring's end it is first copied into
    /// `scratch`, so `f` always sees one contiguous slice.
    pub fn pop_with<R>(
        &mut self,
        scratch: &mut Vec<u8>,
        f: impl FnOnce(&FrameRef, &[u8]) -> R,
    ) -> Option<R> {
        let head = *self.refs.peek().ok()?;
        let len = head.len as usize;
        let result = if head.segment != IN_BYTE_RING {
            let payload = self
                .journal
                .as_mut()
                .and_then(|j| j.payload(head.segment, head.offset, head.len));
            debug_assert!(payload.is_some(), "journaled frame not mapped: {head:?}");
            match payload {
                Some(p) => f(&head, p),
                None => {
                    self.missing += 1;
                    f(&head, &[])
                }
            }
        } else if len == 0 {
            f(&head, &[])
        } else {
            let chunk = self
                .bytes
                .read_chunk(len)
                .expect("payload is pushed before its reference");
            let (a, b) = chunk.as_slices();
            let r = if b.is_empty() {
                f(&head, a)
            } else {
                scratch.clear();
                scratch.extend_from_slice(a);
                scratch.extend_from_slice(b);
                f(&head, scratch)
            };
            chunk.commit_all();
            r
        };
        let _ = self.refs.pop();
        Some(result)
    }

    /// True when no frame waits.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(kind: FrameKind) -> FrameRef {
        FrameRef {
            kind,
            state: 0,
            feed: 0,
            conn: 1,
            len: 0,
            recv_ts: 5,
            segment: IN_BYTE_RING,
            offset: 0,
            detail: 0,
        }
    }

    #[test]
    fn frames_round_trip_across_the_ring_end() {
        let (mut tx, mut rx) = frame_edge(4, 16, ThreadWake::new());
        let mut scratch = Vec::new();
        for i in 0..50u8 {
            let payload: Vec<u8> = (0..(i % 11 + 1)).map(|k| i.wrapping_add(k)).collect();
            tx.push(head(FrameKind::Text), &payload).unwrap();
            let got = rx
                .pop_with(&mut scratch, |h, p| (h.len, p.to_vec()))
                .unwrap();
            assert_eq!(got, (payload.len() as u32, payload));
        }
        assert!(rx.is_empty());
    }

    #[test]
    fn full_edge_gives_the_frame_back() {
        let (mut tx, mut rx) = frame_edge(2, 8, ThreadWake::new());
        assert!(tx.push(head(FrameKind::Text), b"12345").is_ok());
        assert!(
            tx.push(head(FrameKind::Text), b"12345").is_err(),
            "bytes full"
        );
        assert!(tx.push(head(FrameKind::Clock), b"").is_ok());
        assert!(tx.push(head(FrameKind::Clock), b"").is_err(), "refs full");
        let mut scratch = Vec::new();
        let first = rx
            .pop_with(&mut scratch, |h, p| (h.offset, p.to_vec()))
            .unwrap();
        assert_eq!(first, (0, b"12345".to_vec()));
        let second = rx
            .pop_with(&mut scratch, |h, _| (h.kind, h.offset))
            .unwrap();
        assert_eq!(second, (FrameKind::Clock, 5));
        assert!(rx.pop_with(&mut scratch, |_, _| ()).is_none());
    }
}
