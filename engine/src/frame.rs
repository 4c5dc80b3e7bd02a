//! The reader → parser edge: fixed-size frame references plus the frames' bytes.
//!
//! The reader copies each frame's payload once, into a byte ring, and passes a [`FrameRef`]
//! (kind, feed, connection, receive time, offset, length) down an SPSC ring. Nothing is
//! allocated per frame. Besides data frames the same edge carries the reader's clock ticks,
//! connection status changes (their reason text in the byte ring) and the end of input, so
//! the parser sees everything in the order the reader saw it.

use std::sync::Arc;

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

/// A fixed-size reference to a frame in the byte ring.
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
    /// Receive time, ns since the Unix epoch.
    pub recv_ts: i64,
    /// Byte offset of the payload in the stream of all payloads (for the journal).
    pub offset: u64,
    /// For [`FrameKind::Status`]: a detail (attempt number, close code, …).
    pub detail: i64,
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

    /// Appends a frame. `head.len` and `head.offset` are filled in here. Gives `head` back
    /// when it does not fit.
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
        let result = if len == 0 {
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
