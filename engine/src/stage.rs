//! Stages and the threads that run them.
//!
//! A stage is a plain struct with a `poll` step that does a bounded amount of work and
//! returns how much it did. A [`StageThread`] runs one or more stages round-robin and, when
//! none had work, waits according to its [`WaitStrategy`]: spinning, yielding, or blocking
//! (in the I/O stage's `epoll` if the thread has one, else parked until a producer wakes
//! it). Which stages share a thread, and on which core, is the layout's business
//! ([`crate::layout`]).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::wall_ns;
use crate::shm::Counter;
use crate::wait::{IdleAction, ThreadWake, WaitStrategy, Waiter};

/// How often a stage thread copies its stages' counters into `NAME.stats`, ns.
const STATS_EVERY_NS: i64 = 100_000_000;

/// The shared-memory counters of a thread's stages, aligned with their reports.
pub struct StageCounters {
    counters: Vec<Vec<Counter>>,
    next_sync: i64,
}

impl StageCounters {
    /// `counters[i][k]` receives the `k`-th value that stage `i` reports.
    pub fn new(counters: Vec<Vec<Counter>>) -> Self {
        StageCounters {
            counters,
            next_sync: 0,
        }
    }

    /// Copies every reported value into its counter, at most every 100 ms unless `force`.
    pub fn sync(&mut self, stages: &[Box<dyn Stage>], force: bool) {
        let now = wall_ns();
        if !force && now < self.next_sync {
            return;
        }
        self.next_sync = now + STATS_EVERY_NS;
        for (stage, counters) in stages.iter().zip(&self.counters) {
            let mut k = 0;
            stage.report(&mut |_, v| {
                if let Some(c) = counters.get(k) {
                    // Single writer: publish the value as a delta on the current one.
                    c.add(v.wrapping_sub(c.get()));
                }
                k += 1;
            });
        }
    }
}

/// One step of the pipeline.
pub trait Stage: Send {
    /// Short lower-case name (`reader`, `parser`, …).
    fn name(&self) -> &'static str;

    /// Does a bounded amount of work; returns how many items it handled (0 when idle).
    fn poll(&mut self) -> usize;

    /// True once the stage has seen the end of its input and passed everything on.
    fn is_done(&self) -> bool;

    /// For a stage fed by I/O: block for at most `timeout` waiting for input, and return
    /// true. Stages fed only by rings return false and the thread parks instead.
    fn block(&mut self, _timeout: Duration) -> bool {
        false
    }

    /// Reports the stage's counters as (name, value) pairs, always in the same order, for
    /// `NAME.stats`.
    fn report(&self, _out: &mut dyn FnMut(&'static str, u64)) {}
}

/// A thread's worth of stages, with how it waits and where it runs.
pub struct StageThread {
    /// Thread name (`tf-io`, `tf-compute`, …).
    pub name: String,
    /// Stages, polled in order each round.
    pub stages: Vec<Box<dyn Stage>>,
    /// Core to pin to, if any.
    pub core: Option<usize>,
    /// How the thread waits when idle.
    pub wait: WaitStrategy,
    /// Longest single block or park.
    pub park_timeout: Duration,
    /// The handle producers use to wake this thread.
    pub wake: Arc<ThreadWake>,
    /// Where the stages' counters go, if anywhere.
    pub counters: Option<StageCounters>,
}

impl StageThread {
    /// Starts the thread. It runs until every stage reports done, then returns its stages
    /// so the caller can read their final state.
    pub fn spawn(self) -> std::io::Result<JoinHandle<Vec<Box<dyn Stage>>>> {
        let StageThread {
            name,
            mut stages,
            core,
            wait,
            park_timeout,
            wake,
            mut counters,
        } = self;
        std::thread::Builder::new().name(name).spawn(move || {
            if let Some(core) = core {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                    tracing::warn!(core, "could not pin stage thread");
                }
            }
            let mut waiter = Waiter::new(wait, park_timeout, wake);
            run_stages(&mut stages, &mut waiter, counters.as_mut());
            stages
        })
    }
}

fn poll_all(stages: &mut [Box<dyn Stage>]) -> usize {
    stages.iter_mut().map(|s| s.poll()).sum()
}

/// Runs `stages` round-robin until all are done, keeping `counters` current.
pub fn run_stages(
    stages: &mut [Box<dyn Stage>],
    waiter: &mut Waiter,
    mut counters: Option<&mut StageCounters>,
) {
    let mut rounds: u32 = 0;
    loop {
        if poll_all(stages) > 0 {
            waiter.busy();
            rounds = rounds.wrapping_add(1);
            if rounds % 256 == 0 {
                if let Some(c) = counters.as_deref_mut() {
                    c.sync(stages, false);
                }
            }
            continue;
        }
        if let Some(c) = counters.as_deref_mut() {
            c.sync(stages, false);
        }
        if stages.iter().all(|s| s.is_done()) {
            if let Some(c) = counters.as_deref_mut() {
                c.sync(stages, true);
            }
            return;
        }
        if let IdleAction::Block(timeout) = waiter.idle() {
            waiter.mark_parked();
            // A producer may have pushed between our last poll and the mark: look once
            // more before sleeping.
            if poll_all(stages) > 0 {
                waiter.unmark();
                waiter.busy();
                continue;
            }
            let blocked = stages.iter_mut().any(|s| s.block(timeout));
            if blocked {
                waiter.unmark();
            } else {
                waiter.park(timeout);
            }
        }
    }
}
