//! The aggregator stage: trades into bars; everything passes through in order.

use crate::aggregator::{AggregatorCounters, BarAggregator};
use crate::record::{BarRecord, FeedState, Kind, Record, RecordView};
use crate::ring::{Inbox, Outbox};
use crate::stage::Stage;

use super::Backlogged;

/// Runs a [`BarAggregator`] between two rings.
///
/// Output order per trade: bars the trade's watermark advance closed, the trade (unless it
/// is a duplicate by trade id, which is counted and dropped), then the open bars it updated (flags without `CLOSED`; the publisher puts those in
/// `NAME.latest` only). Quotes and clock ticks advance an idle feed's watermark. At the end
/// of input every open bar closes before the end marker passes on.
pub struct AggregatorStage {
    input: Inbox<Record>,
    out: Backlogged,
    agg: BarAggregator,
    updated: Vec<BarRecord>,
    done: bool,
}

impl AggregatorStage {
    /// Where the stage's sampled latency since frame receipt goes in `NAME.stats`.
    pub fn set_latency_slot(&mut self, slot: crate::shm::HistogramSlot) {
        self.out.latency.set_slot(slot);
    }

    /// A stage around `agg`.
    pub fn new(input: Inbox<Record>, out: Outbox<Record>, agg: BarAggregator) -> Self {
        AggregatorStage {
            input,
            out: Backlogged::new(out),
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

/// Handles one record; bars go straight out, the trade's updated bars after the trade.
fn handle(
    agg: &mut BarAggregator,
    updated: &mut Vec<BarRecord>,
    rec: Record,
    out: &mut Backlogged,
    done: &mut bool,
) {
    let Some(view) = rec.view() else { return };
    match view {
        RecordView::Trade(t) => {
            let duplicates = agg.duplicates();
            agg.on_trade(&t, &mut |b| out.push(Record::from(b)), &mut |b| {
                updated.push(b)
            });
            // A trade already delivered (same venue trade id: a resend, or a trade seen on
            // both connections of a rotation) is not published again.
            if agg.duplicates() == duplicates {
                out.push(rec);
            }
            for b in updated.drain(..) {
                out.push(Record::from(b));
            }
        }
        RecordView::Quote(q) => {
            if let Some(feed) = agg.feed_of(q.symbol) {
                agg.on_clock(feed, q.recv_ts, &mut |b| out.push(Record::from(b)));
            }
            out.push(rec);
        }
        RecordView::Clock(c) => agg.on_clock(c.feed, c.recv_ts, &mut |b| out.push(Record::from(b))),
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
            agg.finish(&mut |b| out.push(Record::from(b)));
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
        let (agg, updated) = (&mut self.agg, &mut self.updated);
        self.out
            .pump(&mut self.input, &mut self.done, |rec, ahead, out, done| {
                if let Some(a) = ahead.filter(|a| a.kind() == Some(Kind::Trade)) {
                    agg.prefetch(a.symbol());
                }
                handle(agg, updated, rec, out, done)
            })
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
