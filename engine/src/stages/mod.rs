//! The engine's own stages: aggregator, scanner and publisher. (The reader and parser live
//! in `tickforge-feeds`, next to the sockets and JSON they handle.)

mod aggregate;
mod latency;
mod publish;
mod scan;

pub use aggregate::AggregatorStage;
pub use latency::{stage_latency_name, StageLatency};
pub use publish::{EventTap, PublisherOutput, PublisherStage};
pub use scan::ScannerStage;

use std::collections::VecDeque;

use crate::record::Record;
use crate::ring::{Inbox, Outbox};

/// Records processed per poll before giving other stages a turn.
pub(crate) const BUDGET: usize = 512;
/// How far ahead a stage looks to prefetch the state a record will need.
pub(crate) const PREFETCH_AHEAD: usize = 8;

/// A lossless output: what does not fit in the ring waits here, in order, and the stage
/// takes no new input until it has gone out.
pub(crate) struct Backlogged {
    out: Outbox<Record>,
    backlog: VecDeque<Record>,
    /// Sampled latency of the stage's input since frame receipt.
    pub(crate) latency: StageLatency,
}

impl Backlogged {
    pub(crate) fn new(out: Outbox<Record>) -> Self {
        Backlogged {
            out,
            backlog: VecDeque::new(),
            latency: StageLatency::default(),
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
    /// `handle`, once the output has caught up, then wakes the consumer. With each record
    /// `handle` also sees the one [`PREFETCH_AHEAD`] places further on, to start its cache
    /// misses early. Returns the work done.
    pub(crate) fn pump(
        &mut self,
        input: &mut Inbox<Record>,
        done: &mut bool,
        mut handle: impl FnMut(Record, Option<&Record>, &mut Backlogged, &mut bool),
    ) -> usize {
        let mut work = 0;
        let n = input.slots().min(BUDGET);
        if n > 0 && !*done && self.flush() {
            let chunk = input.read_chunk(n).expect("that many records are readable");
            let (a, b) = chunk.as_slices();
            let at = |i: usize| if i < a.len() { a[i] } else { b[i - a.len()] };
            if let Some(ts) = (0..n.min(8)).find_map(|i| at(i).market_recv_ts()) {
                self.latency.sample(ts);
            }
            while work < n && !*done {
                let ahead = (work + PREFETCH_AHEAD < n).then(|| at(work + PREFETCH_AHEAD));
                handle(at(work), ahead.as_ref(), self, done);
                work += 1;
            }
            chunk.commit(work);
        }
        if work == 0 && !self.is_empty() && self.flush() {
            work = 1;
        }
        self.notify();
        work
    }
}
