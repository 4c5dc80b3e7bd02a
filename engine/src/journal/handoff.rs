//! Zero-copy hand-off: the stage that writes frames into the journal passes positions on,
//! and a later stage reads the frames' bytes straight out of the mapped segments.
//!
//! The writer registers every segment it maps in a [`SharedSegments`]; a reading stage
//! looks segments up by number through its own [`SegmentCursor`], which keeps the one it
//! reads mapped and tells the registry it is past the older ones. A segment stays mapped
//! until the writer has left it and every cursor has moved past it, even when retention has
//! already deleted its file (the mapping outlives the name).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::layout::{align_up, ENTRY_HEADER_SIZE};
use super::segment::Segment;

/// The segments a writer has mapped and not every reader has left yet.
///
/// Cloning gives another handle to the same registry. Locked only when a segment is added
/// (once per segment) or a cursor moves to another segment: never per frame.
#[derive(Clone, Default)]
pub struct SharedSegments {
    inner: Arc<Mutex<VecDeque<Arc<Segment>>>>,
}

impl SharedSegments {
    /// An empty registry.
    pub fn new() -> Self {
        SharedSegments::default()
    }

    /// Adds a segment the writer now writes.
    pub(crate) fn add(&self, seg: Arc<Segment>) {
        let mut list = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if list.back().is_none_or(|s| s.number() < seg.number()) {
            list.push_back(seg);
        }
    }

    /// Segment `number`, releasing every older one: the caller is past them.
    fn take(&self, number: u64) -> Option<Arc<Segment>> {
        let mut list = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while list.len() > 1 && list.front().is_some_and(|s| s.number() < number) {
            list.pop_front();
        }
        list.iter().find(|s| s.number() == number).cloned()
    }

    /// Number of segments held.
    pub fn held(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A reading stage's view of the journal: the payloads of entries by position.
pub struct SegmentCursor {
    shared: SharedSegments,
    current: Option<Arc<Segment>>,
}

impl SegmentCursor {
    /// A cursor over the segments registered in `shared`.
    pub fn new(shared: SharedSegments) -> Self {
        SegmentCursor {
            shared,
            current: None,
        }
    }

    /// The payload of the entry at `offset` in segment `segment` whose payload is `len`
    /// bytes long; `None` when that segment is not mapped or the range is out of bounds.
    ///
    /// The entry must have been published (its position came from
    /// [`super::JournalWriter::append`] through a happens-before edge, such as an SPSC ring)
    /// and positions must be asked for in non-decreasing segment order.
    #[inline]
    pub fn payload(&mut self, segment: u64, offset: u64, len: u32) -> Option<&[u8]> {
        if self.current.as_ref().is_none_or(|s| s.number() != segment) {
            self.current = Some(self.shared.take(segment)?);
        }
        let seg = self.current.as_ref()?;
        let start = usize::try_from(offset)
            .ok()?
            .checked_add(ENTRY_HEADER_SIZE)?;
        let end = start.checked_add(len as usize)?;
        if end > seg.len() || align_up(end) > seg.len() {
            return None;
        }
        // SAFETY: `start..end` is in bounds (checked above) and is the payload of a published
        // entry (the caller's contract): published entries are never written again while
        // the directory lock is held, which the writer holds for the whole run.
        Some(unsafe { seg.bytes(start, end - start) })
    }
}
