//! Where the time goes: how long after its frame was received a stage takes a record.
//!
//! Each stage samples one record per batch (the first trade or quote of the batch, so one
//! clock read per up to [`super::BUDGET`] records) and records `now - recv_ts` into a
//! histogram, published in `NAME.stats` as `stage.<name>_ns`. Read one after the other, the
//! stages' histograms show the hand-offs; the publisher's end-to-end histogram is the last.

use hdrhistogram::Histogram;

use crate::clock::wall_ns;
use crate::shm::HistogramSlot;

/// Largest latency recorded, ns (larger values are clamped): 60 s.
const MAX_NS: u64 = 60_000_000_000;
/// How often the histogram is published, ns.
const PUBLISH_EVERY_NS: i64 = 250_000_000;

/// The histogram name of stage `name` in `NAME.stats`.
pub fn stage_latency_name(name: &str) -> String {
    format!("stage.{name}_ns")
}

/// A stage's sampled latency since frame receipt.
pub struct StageLatency {
    hist: Histogram<u64>,
    slot: Option<HistogramSlot>,
    next_publish: i64,
}

impl Default for StageLatency {
    fn default() -> Self {
        StageLatency {
            hist: Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds"),
            slot: None,
            next_publish: 0,
        }
    }
}

impl StageLatency {
    /// Where the histogram goes; without a slot nothing is sampled.
    pub fn set_slot(&mut self, slot: HistogramSlot) {
        self.slot = Some(slot);
    }

    /// Records how long ago `recv_ts` was.
    #[inline]
    pub fn sample(&mut self, recv_ts: i64) {
        if self.slot.is_none() {
            return;
        }
        let now = wall_ns();
        let ns = now.saturating_sub(recv_ts).clamp(1, MAX_NS as i64) as u64;
        self.hist.saturating_record(ns);
        if now >= self.next_publish {
            self.next_publish = now + PUBLISH_EVERY_NS;
            if let Some(slot) = self.slot.as_mut() {
                slot.publish(&self.hist);
            }
        }
    }

    /// The histogram so far.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }
}
