//! The engine's own stages: aggregator, scanner and publisher. (The reader and parser live
//! in `tickforge-feeds`, next to the sockets and JSON they handle.)

mod aggregate;
mod publish;
mod scan;

pub use aggregate::AggregatorStage;
pub use publish::{EventTap, PublisherOutput, PublisherStage};
pub use scan::ScannerStage;

use std::collections::VecDeque;

use crate::record::Record;
use crate::ring::{Inbox, Outbox};

/// Records processed per poll before giving other stages a turn.
pub(crate) const BUDGET: usize = 512;

/// A lossless output: what does not fit in the ring waits here, in order, and the stage
/// takes no new input until it has gone out.
pub(crate) struct Backlogged {
    out: Outbox<Record>,
    backlog: VecDeque<Record>,
}

impl Backlogged {
    pub(crate) fn new(out: Outbox<Record>) -> Self {
        Backlogged {
            out,
            backlog: VecDeque::new(),
        }
    }

    /// Sends waiting records; true when none is left.
    pub(crate) fn flush(&mut self) -> bool {
        while let Some(r) = self.backlog.front() {
            if self.out.push(*r).is_err() {
                return false;
            }
            self.backlog.pop_front();
        }
        true
    }

    #[inline]
    pub(crate) fn push(&mut self, r: Record) {
        if !self.backlog.is_empty() || self.out.push(r).is_err() {
            self.backlog.push_back(r);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.backlog.is_empty()
    }

    pub(crate) fn notify(&mut self) {
        self.out.notify();
    }

    /// One poll of a pass-through stage: hands up to [`BUDGET`] records from `input` to
    /// `handle` while the output keeps up, then wakes the consumer. Returns the work done.
    pub(crate) fn pump(
        &mut self,
        input: &mut Inbox<Record>,
        done: &mut bool,
        mut handle: impl FnMut(Record, &mut Backlogged, &mut bool),
    ) -> usize {
        let mut work = 0;
        while work < BUDGET && !*done && self.flush() {
            let Ok(rec) = input.pop() else { break };
            handle(rec, self, done);
            work += 1;
        }
        if work == 0 && !self.is_empty() && self.flush() {
            work = 1;
        }
        self.notify();
        work
    }
}
