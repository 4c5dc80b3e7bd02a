//! SPSC ring edges between stages: an rtrb ring plus the consumer thread's wake handle.

use std::sync::Arc;

use crate::wait::ThreadWake;

/// The producing end of an edge. Pushes never block; [`Outbox::notify`] wakes the consumer
/// thread once per batch if it is parked.
pub struct Outbox<T> {
    producer: rtrb::Producer<T>,
    wake: Arc<ThreadWake>,
    pushed: bool,
}

/// The consuming end of an edge.
pub type Inbox<T> = rtrb::Consumer<T>;

/// Creates an edge of `capacity` slots whose consumer runs on the thread behind `wake`.
pub fn edge<T>(capacity: usize, wake: Arc<ThreadWake>) -> (Outbox<T>, Inbox<T>) {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    (
        Outbox {
            producer,
            wake,
            pushed: false,
        },
        consumer,
    )
}

impl<T> Outbox<T> {
    /// Pushes `value`, or gives it back when the ring is full.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), T> {
        match self.producer.push(value) {
            Ok(()) => {
                self.pushed = true;
                Ok(())
            }
            Err(rtrb::PushError::Full(v)) => Err(v),
        }
    }

    /// Free slots.
    #[inline]
    pub fn free(&self) -> usize {
        self.producer.slots()
    }

    /// Total slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.producer.buffer().capacity()
    }

    /// Occupied slots.
    #[inline]
    pub fn len(&self) -> usize {
        self.capacity() - self.free()
    }

    /// True when nothing is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes the consumer if anything was pushed since the last call and it is parked.
    #[inline]
    pub fn notify(&mut self) {
        if self.pushed {
            self.pushed = false;
            // A full fence orders our ring writes before reading the parked flag, pairing
            // with the consumer's SeqCst mark-then-recheck, so no wake-up is lost.
            std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
            self.wake.notify();
        }
    }

    /// True once the consumer has been dropped.
    pub fn is_abandoned(&self) -> bool {
        self.producer.is_abandoned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_gives_the_value_back() {
        let (mut tx, mut rx) = edge::<u32>(2, ThreadWake::new());
        assert!(tx.is_empty());
        assert_eq!(tx.push(1), Ok(()));
        assert_eq!(tx.push(2), Ok(()));
        assert_eq!(tx.push(3), Err(3));
        assert_eq!(tx.len(), 2);
        assert_eq!(rx.pop(), Ok(1));
        assert_eq!(tx.push(3), Ok(()));
        tx.notify();
        assert_eq!(rx.pop(), Ok(2));
        assert_eq!(rx.pop(), Ok(3));
    }
}
