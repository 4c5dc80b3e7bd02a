//! The aggregator stage: trades into bars; everything passes through in order.

use crate::aggregator::{AggregatorCounters, BarAggregator};
use crate::record::{BarRecord, FeedState, Record, RecordView};
use crate::ring::{Inbox, Outbox};
use crate::stage::Stage;

use super::{Backlogged, BUDGET};

/// Runs a [`BarAggregator`] between two rings.
///
/// Output order per trade: bars the trade's watermark advance closed, the trade, then the
/// open bars it updated (flags without `CLOSED`; the publisher puts those in
/// `NAME.latest` only). Quotes and clock ticks advance an idle feed's watermark. At the end
/// of input every open bar closes before the end marker passes on.
pub struct AggregatorStage {
    input: Inbox<Record>,
    out: Backlogged,
    agg: BarAggregator,
    symbol_feed: Vec<u32>,
    closed: Vec<BarRecord>,
    updated: Vec<BarRecord>,
    done: bool,
}

impl AggregatorStage {
    /// A stage around `agg`; `symbol_feed[s]` is the feed of symbol `s`.
    pub fn new(
        input: Inbox<Record>,
        out: Outbox<Record>,
        agg: BarAggregator,
        symbol_feed: Vec<u32>,
    ) -> Self {
        AggregatorStage {
            input,
            out: Backlogged::new(out),
            agg,
            symbol_feed,
            closed: Vec::new(),
            updated: Vec::new(),
            done: false,
        }
    }

    /// The aggregator's counters.
    pub fn counters(&self) -> AggregatorCounters {
        self.agg.counters()
    }

    fn emit_closed(&mut self) {
        for b in self.closed.drain(..) {
            self.out.push(Record::from(b));
        }
    }

    fn handle(&mut self, rec: Record) {
        let Some(view) = rec.view() else { return };
        match view {
            RecordView::Trade(t) => {
                let (closed, updated) = (&mut self.closed, &mut self.updated);
                self.agg
                    .on_trade(&t, &mut |b| closed.push(b), &mut |b| updated.push(b));
                self.emit_closed();
                self.out.push(rec);
                for b in self.updated.drain(..) {
                    self.out.push(Record::from(b));
                }
            }
            RecordView::Quote(q) => {
                if let Some(&feed) = self.symbol_feed.get(q.symbol as usize) {
                    let closed = &mut self.closed;
                    self.agg.on_clock(feed, q.recv_ts, &mut |b| closed.push(b));
                    self.emit_closed();
                }
                self.out.push(rec);
            }
            RecordView::Clock(c) => {
                let closed = &mut self.closed;
                self.agg
                    .on_clock(c.feed, c.recv_ts, &mut |b| closed.push(b));
                self.emit_closed();
            }
            RecordView::DropNotice(d) => self.agg.on_drops(d.symbol, d.min_ts, d.max_ts),
            RecordView::FeedStatus(s) => {
                if let Some(state) = FeedState::from_u16(s.state) {
                    self.agg.on_feed_state(s.feed, state);
                }
                self.out.push(rec);
            }
            RecordView::End(_) => {
                let closed = &mut self.closed;
                self.agg.finish(&mut |b| closed.push(b));
                self.emit_closed();
                self.out.push(rec);
                self.done = true;
            }
            RecordView::Bar(_) | RecordView::Signal(_) => self.out.push(rec),
        }
    }
}

impl Stage for AggregatorStage {
    fn name(&self) -> &'static str {
        "aggregator"
    }

    fn poll(&mut self) -> usize {
        let mut work = 0;
        while work < BUDGET && !self.done && self.out.flush() {
            let Ok(rec) = self.input.pop() else { break };
            self.handle(rec);
            work += 1;
        }
        if work == 0 && !self.out.is_empty() && self.out.flush() {
            work = 1;
        }
        self.out.notify();
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
    }
}
