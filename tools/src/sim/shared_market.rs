//! One market for all of a server's connections, advancing with wall time
//! ([`super::SimConfig::continue_ids`]).
//!
//! The market is a single seeded sequence of events over every symbol and both kinds
//! (trades and quotes, mixed by `quote_ratio`): event `k` is the `k`-th draw of a
//! [`Market`] over all symbols. Event `k` falls due at `epoch + due_at(k)` of the rate
//! [`Schedule`] (bursts included), on the wall clock. Two servers with the same seed,
//! symbols, quote ratio, rate, bursts, id-gap rate and epoch therefore produce the same
//! events (same ids, prices and sizes) at the same instants, whoever is connected.
//!
//! A connection starts at the event due next when it first has a subscription and from
//! then on gets every later event of the streams it subscribed to, in order: while it
//! cannot send (the socket is full, a stall) its position waits and it catches up at up to
//! 50 ms worth of events per round. A connection left without any subscription rejoins at
//! the current event when it subscribes again.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::generator::{Event, Market};
use super::schedule::Schedule;

/// A position in the shared sequence: the market state just before event `next`.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    market: Market,
    /// Index of the next event to draw.
    next: u64,
}

/// One event of the shared sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedEvent {
    /// Its index in the sequence.
    pub index: u64,
    /// The event.
    pub event: Event,
    /// Trade ids skipped just before it (an injected gap).
    pub skipped: u64,
}

impl Cursor {
    /// The market state at this position (for malformed frames, which only peek at it).
    pub(crate) fn market(&self) -> &Market {
        &self.market
    }

    /// Index of the next event.
    pub(crate) fn next_index(&self) -> u64 {
        self.next
    }
}

/// The server's shared market.
#[derive(Debug)]
pub(crate) struct SharedMarket {
    /// Origin of the clock, ns since the Unix epoch.
    epoch_ns: u64,
    schedule: Schedule,
    quote_ratio: f64,
    /// Every symbol index: events are drawn over all of them.
    all: Vec<usize>,
    /// The most advanced position, from which connections start.
    head: Mutex<Cursor>,
}

impl SharedMarket {
    /// The sequence of `market` (a fresh, seeded market over `specs.len()` symbols) paced
    /// by `schedule` from `epoch_ns`.
    pub(crate) fn new(
        market: Market,
        schedule: Schedule,
        quote_ratio: f64,
        epoch_ns: u64,
    ) -> SharedMarket {
        let all = (0..market.specs().len()).collect();
        SharedMarket {
            epoch_ns,
            schedule,
            quote_ratio,
            all,
            head: Mutex::new(Cursor { market, next: 0 }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cursor> {
        // A panic while drawing leaves a consistent cursor (at worst one event behind).
        self.head.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Time since the epoch at wall-clock `now_ns` (0 before the epoch).
    pub(crate) fn elapsed_ns(&self, now_ns: u64) -> u64 {
        now_ns.saturating_sub(self.epoch_ns)
    }

    /// Number of events due at wall-clock `now_ns`.
    pub(crate) fn due(&self, now_ns: u64) -> u64 {
        self.schedule.due(self.elapsed_ns(now_ns))
    }

    /// The wall-clock time (ns since the Unix epoch) at which event `index` fell due: its
    /// exchange timestamp, the same on every server sharing the epoch.
    pub(crate) fn timestamp_ns(&self, index: u64) -> u64 {
        self.epoch_ns.saturating_add(self.schedule.due_at(index))
    }

    /// The schedule pacing the sequence.
    pub(crate) fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Draws every event due at `now_ns` into the head; returns how many were drawn.
    pub(crate) fn advance(&self, now_ns: u64) -> u64 {
        let target = self.due(now_ns);
        let mut head = self.lock();
        let n = target.saturating_sub(head.next);
        while head.next < target {
            self.draw(&mut head);
        }
        n
    }

    /// A cursor at the event due next at `now_ns`.
    pub(crate) fn join(&self, now_ns: u64) -> Cursor {
        self.advance(now_ns);
        self.lock().clone()
    }

    /// Draws the event at `cursor` and moves it on.
    pub(crate) fn draw(&self, cursor: &mut Cursor) -> SharedEvent {
        let index = cursor.next;
        cursor.next += 1;
        // Both lists hold every symbol, so there is always an event.
        let event = cursor
            .market
            .next_event(&self.all, &self.all, self.quote_ratio)
            .unwrap_or_else(|| cursor.market.trade(0));
        SharedEvent {
            index,
            event,
            skipped: cursor.market.last_skipped(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::faults::FaultConfig;
    use crate::sim::SimConfig;

    const SEC: u64 = 1_000_000_000;

    fn shared(epoch_ns: u64) -> SharedMarket {
        let specs = SimConfig::default().symbol_specs();
        let schedule = Schedule::new(1_000, &FaultConfig::default());
        SharedMarket::new(Market::new(specs, 5), schedule, 0.5, epoch_ns)
    }

    #[test]
    fn cursors_joining_later_continue_the_same_sequence() {
        let epoch = 1_000 * SEC;
        let a = shared(epoch);
        let b = shared(epoch);
        // Before the epoch nothing is due.
        assert_eq!(a.advance(epoch - SEC), 0);
        let mut early = a.join(epoch);
        assert_eq!(early.next_index(), 0);
        let mut late = b.join(epoch + 2 * SEC);
        assert_eq!(late.next_index(), 2_000);
        let early_events: Vec<_> = (0..2_100).map(|_| a.draw(&mut early)).collect();
        for e in &early_events[2_000..] {
            let l = b.draw(&mut late);
            assert_eq!((l.index, l.event), (e.index, e.event));
        }
        assert_eq!(a.timestamp_ns(0), epoch + 1_000_000);
        assert_eq!(a.timestamp_ns(1_999), epoch + 2 * SEC);
        // A cursor is independent of the head and of other cursors.
        let again = a.join(epoch + 2 * SEC);
        assert_eq!(again.next_index(), 2_000);
    }
}
