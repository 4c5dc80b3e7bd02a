//! The aggregator stage: trades into bars; everything passes through in order.

use crate::aggregator::{AggregatorCounters, BarAggregator};
use crate::record::{BarRecord, FeedState, Kind, Record, RecordView};
use crate::ring::{Inbox, Outbox};
use crate::stage::Stage;

use super::Backlogged;

/// Runs a [`BarAggregator`] between two rings.
///
/// Output order per trade: bars the trade's watermark advance closed, then the trade (unless
/// it is a duplicate by trade id, which is counted and dropped). The open bars trades
/// update (flags without `CLOSED`; the publisher puts those in `NAME.latest` only) are
/// coalesced: each batch sends the newest state of each open bar once, at its end, and
/// none for a bar that closed within the batch. Quotes and clock ticks advance an idle
/// feed's watermark. At the end of input every open bar closes before the end marker passes
/// on.
pub struct AggregatorStage {
    input: Inbox<Record>,
    out: Backlogged,
    agg: BarAggregator,
    updated: Vec<BarRecord>,
    open: OpenBars,
    done: bool,
}

/// The open bars updated in the current batch: the newest state per symbol and timeframe.
struct OpenBars {
    bars: Vec<BarRecord>,
    /// Per `symbol * timeframes + tf`: 1 + the bar's index in `bars`, 0 when absent.
    slot: Vec<u32>,
    timeframes: usize,
}

impl OpenBars {
    fn key(&self, b: &BarRecord) -> usize {
        b.symbol as usize * self.timeframes + b.tf as usize
    }

    /// Keeps `b` as the newest state of its bar.
    fn put(&mut self, b: BarRecord) {
        let k = self.key(&b);
        match self.slot.get(k).copied() {
            Some(0) => {
                self.bars.push(b);
                self.slot[k] = self.bars.len() as u32;
            }
            Some(i) => self.bars[i as usize - 1] = b,
            None => self.bars.push(b),
        }
    }

    /// Bar `b` closed: a pending open state of it is obsolete.
    fn closed(&mut self, b: &BarRecord) {
        let k = self.key(b);
        if let Some(&i) = self.slot.get(k).filter(|&&i| i != 0) {
            let p = &mut self.bars[i as usize - 1];
            if p.open_ts == b.open_ts {
                p.kind = 0;
            }
        }
    }

    /// Sends what is pending.
    fn flush(&mut self, out: &mut Backlogged) {
        for b in self.bars.drain(..) {
            let k = b.symbol as usize * self.timeframes + b.tf as usize;
            if let Some(s) = self.slot.get_mut(k) {
                *s = 0;
            }
            if b.kind != 0 {
                out.push(Record::from(b));
            }
        }
    }
}

impl AggregatorStage {
    /// Where the stage's sampled latency since frame receipt goes in `NAME.stats`.
    pub fn set_latency_slot(&mut self, slot: crate::shm::HistogramSlot) {
        self.out.latency.set_slot(slot);
    }

    /// A stage around `agg`.
    pub fn new(input: Inbox<Record>, out: Outbox<Record>, agg: BarAggregator) -> Self {
        let timeframes = agg.timeframes().len();
        AggregatorStage {
            input,
            out: Backlogged::new(out),
            open: OpenBars {
                bars: Vec::new(),
                slot: vec![0; agg.symbol_count() * timeframes],
                timeframes,
            },
            agg,
            updated: Vec::new(),
            done: false,
        }
    }

    /// The aggregator's counters.
    pub fn counters(&self) -> AggregatorCounters {
        self.agg.counters()
    }
}

/// Handles one record; closed bars go straight out, open ones wait for the batch's end.
fn handle(
    agg: &mut BarAggregator,
    updated: &mut Vec<BarRecord>,
    open: &mut OpenBars,
    rec: Record,
    out: &mut Backlogged,
    done: &mut bool,
) {
    let Some(view) = rec.view() else { return };
    let mut closed = |b: BarRecord| {
        open.closed(&b);
        out.push(Record::from(b));
    };
    match view {
        RecordView::Trade(t) => {
            let duplicates = agg.duplicates();
            agg.on_trade(&t, &mut closed, &mut |b| updated.push(b));
            // A trade already delivered (same venue trade id: a resend, or a trade seen on
            // both connections of a rotation) is not published again.
            if agg.duplicates() == duplicates {
                out.push(rec);
            }
            for b in updated.drain(..) {
                open.put(b);
            }
        }
        RecordView::Quote(q) => {
            if let Some(feed) = agg.feed_of(q.symbol) {
                agg.on_clock(feed, q.recv_ts, &mut closed);
            }
            out.push(rec);
        }
        RecordView::Clock(c) => agg.on_clock(c.feed, c.recv_ts, &mut closed),
        RecordView::DropNotice(d) => agg.on_drops(d.symbol, d.min_ts, d.max_ts),
        RecordView::FeedStatus(s) => {
            if let Some(state) = FeedState::from_u16(s.state) {
                // A stale feed's status says how long it had been silent (ms).
                let since = match state {
                    FeedState::Stale => {
                        s.ts.saturating_sub(s.detail.max(0).saturating_mul(1_000_000))
                    }
                    _ => s.ts,
                };
                agg.on_feed_state(s.feed, state, since);
            }
            out.push(rec);
        }
        RecordView::End(_) => {
            agg.finish(&mut closed);
            open.flush(out);
            out.push(rec);
            *done = true;
        }
        RecordView::Bar(_) | RecordView::Signal(_) => out.push(rec),
    }
}

impl Stage for AggregatorStage {
    fn name(&self) -> &'static str {
        "aggregator"
    }

    fn poll(&mut self) -> usize {
        let (agg, updated, open) = (&mut self.agg, &mut self.updated, &mut self.open);
        let work = self
            .out
            .pump(&mut self.input, &mut self.done, |rec, ahead, out, done| {
                if let Some(a) = ahead.filter(|a| a.kind() == Some(Kind::Trade)) {
                    agg.prefetch(a.symbol());
                }
                handle(agg, updated, open, rec, out, done)
            });
        if !self.open.bars.is_empty() {
            self.open.flush(&mut self.out);
            self.out.notify();
        }
        work
    }

    fn is_done(&self) -> bool {
        self.done && self.out.is_empty()
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = self.agg.counters();
        out("trades", c.trades);
        out("late", c.late);
        out("duplicates", c.duplicates);
        out("gaps", c.gaps);
        out("unknown_symbol", c.unknown_symbol);
        out("volume_overflow", c.volume_overflow);
        out("bars_closed", c.bars_closed);
        out("empty_bars", c.empty_bars);
        out("empty_skipped", c.empty_skipped);
        out("future", c.future);
    }
}
