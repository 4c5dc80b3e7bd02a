//! The policy edge: what happens when the parser's output ring fills.
//!
//! Market data enters the engine at one edge, parser → aggregator, and that is where the
//! full-ring policy lives; every later edge is lossless and simply stalls its producer, so
//! pressure anywhere downstream shows up here.
//!
//! In [`FullPolicy::Drop`] mode (live feeds: stay current):
//! - **quotes** are conflated: when the ring is full, the latest quote per symbol waits in a
//!   pending slot and goes out when space frees; an older pending quote it replaces is
//!   counted as conflated.
//! - under **pressure** (occupancy at or above `high`, until it falls to `low`), quotes of
//!   non-priority symbols are sampled: a fraction `sample_rate` goes through, the rest wait
//!   in the pending slot (counted as sampled), so the latest quote of every symbol is still
//!   delivered once pressure ends.
//! - **trades** are never sampled. A trade that finds the ring full is dropped and counted,
//!   and a drop notice (symbol, time range, count) is sent ahead of everything else once
//!   space frees, so the aggregator flags every bar the trade would have touched.
//! - control records (feed status, clocks, end) are never dropped: they wait in order.
//!
//! In [`FullPolicy::Block`] mode (replays, tick files) nothing is dropped or sampled: the
//! producer holds what does not fit and [`PolicyOutbox::can_accept`] tells it to stop
//! taking input, so the reader stops reading its socket and TCP pushes back to the sender.

use std::collections::VecDeque;

use crate::record::{DropNoticeRecord, Kind, QuoteRecord, Record, TradeRecord};
use crate::ring::Outbox;

/// What to do when the ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicy {
    /// Conflate and sample quotes, drop (and count) trades: stay current.
    Drop,
    /// Lose nothing: stop taking input until the ring drains.
    Block,
}

/// Pressure thresholds and the sampling rate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PressureConfig {
    /// Occupancy (0..1) at which pressure turns on.
    pub high: f64,
    /// Occupancy (0..1) at which pressure turns off.
    pub low: f64,
    /// Fraction of non-priority quotes kept under pressure (0..=1).
    pub sample_rate: f64,
}

impl Default for PressureConfig {
    fn default() -> Self {
        PressureConfig {
            high: 0.8,
            low: 0.5,
            sample_rate: 0.5,
        }
    }
}

/// Counters of the policy edge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyCounters {
    /// Trades dropped on a full ring.
    pub dropped_trades: u64,
    /// Pending quotes replaced by a newer one before they went out.
    pub conflated_quotes: u64,
    /// Quotes held back by sampling under pressure.
    pub sampled_quotes: u64,
    /// Times pressure turned on.
    pub pressure_episodes: u64,
}

/// Sampling accumulator resolution: `sample_rate` in 1/65536ths.
const SAMPLE_ONE: u32 = 1 << 16;
/// Most records one step may need to push (a frame's worth); in block mode the producer
/// takes input only when at least this much fits.
pub const MAX_RECORDS_PER_STEP: usize = 256;

/// The parser's output with the full-ring policy.
pub struct PolicyOutbox {
    out: Outbox<Record>,
    policy: FullPolicy,
    high_slots: usize,
    low_slots: usize,
    sample_step: u32,
    sample_acc: u32,
    pressure: bool,
    priority: Vec<bool>,
    pending_quote: Vec<Option<QuoteRecord>>,
    pending_quote_order: VecDeque<u32>,
    pending_drop: Vec<Option<DropNoticeRecord>>,
    pending_drop_order: VecDeque<u32>,
    /// Records that must not be lost and did not fit, in order.
    held: VecDeque<Record>,
    counters: PolicyCounters,
}

impl PolicyOutbox {
    /// Wraps `out`. `priority[s]` marks symbol `s` exempt from sampling; its length is the
    /// number of symbols.
    pub fn new(
        out: Outbox<Record>,
        policy: FullPolicy,
        cfg: PressureConfig,
        priority: Vec<bool>,
    ) -> Self {
        let cap = out.capacity();
        let n = priority.len();
        let high = cfg.high.clamp(0.0, 1.0);
        let low = cfg.low.clamp(0.0, high);
        PolicyOutbox {
            out,
            policy,
            high_slots: ((cap as f64) * high).ceil() as usize,
            low_slots: ((cap as f64) * low).floor() as usize,
            sample_step: (cfg.sample_rate.clamp(0.0, 1.0) * f64::from(SAMPLE_ONE)).round() as u32,
            sample_acc: 0,
            pressure: false,
            priority,
            pending_quote: vec![None; n],
            pending_quote_order: VecDeque::new(),
            pending_drop: vec![None; n],
            pending_drop_order: VecDeque::new(),
            held: VecDeque::new(),
            counters: PolicyCounters::default(),
        }
    }

    /// The edge's counters.
    pub fn counters(&self) -> PolicyCounters {
        self.counters
    }

    /// True while pressure is on.
    pub fn under_pressure(&self) -> bool {
        self.pressure
    }

    /// In block mode: true when a whole step's output is sure to fit, so the producer may
    /// take more input. In drop mode always true.
    pub fn can_accept(&self) -> bool {
        match self.policy {
            FullPolicy::Drop => true,
            FullPolicy::Block => {
                self.held.is_empty()
                    && self.out.free() >= MAX_RECORDS_PER_STEP.min(self.out.capacity())
            }
        }
    }

    /// True when nothing is held back or pending.
    pub fn is_drained(&self) -> bool {
        self.held.is_empty()
            && self.pending_quote_order.is_empty()
            && self.pending_drop_order.is_empty()
    }

    fn update_pressure(&mut self) {
        let len = self.out.len();
        if self.pressure {
            if len <= self.low_slots {
                self.pressure = false;
            }
        } else if len >= self.high_slots {
            self.pressure = true;
            self.counters.pressure_episodes += 1;
        }
    }

    /// Sends what waits: held control records and drop notices first, then pending quotes
    /// (all of them once pressure is off). Call at the start of each step. Returns how many
    /// records went out.
    pub fn flush(&mut self) -> usize {
        let mut sent = self.flush_urgent();
        if !self.held.is_empty() || !self.pending_drop_order.is_empty() {
            return sent;
        }
        self.update_pressure();
        if !self.pressure {
            while let Some(&s) = self.pending_quote_order.front() {
                let q = self.pending_quote[s as usize].expect("ordered symbols have a quote");
                if self.out.push(Record::from(q)).is_err() {
                    return sent;
                }
                self.pending_quote[s as usize] = None;
                self.pending_quote_order.pop_front();
                sent += 1;
            }
        }
        sent
    }

    /// Sends held control records and drop notices, which go before anything new.
    fn flush_urgent(&mut self) -> usize {
        let mut sent = 0;
        while let Some(r) = self.held.front() {
            if self.out.push(*r).is_err() {
                return sent;
            }
            self.held.pop_front();
            sent += 1;
        }
        while let Some(&s) = self.pending_drop_order.front() {
            let notice = self.pending_drop[s as usize].expect("ordered symbols have a notice");
            if self.out.push(Record::from(notice)).is_err() {
                return sent;
            }
            self.pending_drop[s as usize] = None;
            self.pending_drop_order.pop_front();
            sent += 1;
        }
        sent
    }

    /// True when records that go first still wait (after trying to send them).
    #[inline]
    fn backlogged(&mut self) -> bool {
        if self.held.is_empty() && self.pending_drop_order.is_empty() {
            return false;
        }
        self.flush_urgent();
        !self.held.is_empty() || !self.pending_drop_order.is_empty()
    }

    /// Pushes a trade: never sampled; dropped and noted when it does not fit (drop mode),
    /// held (block mode). Returns false when it was dropped.
    pub fn push_trade(&mut self, t: TradeRecord) -> bool {
        let rec = Record::from(t);
        if !self.backlogged() && self.out.push(rec).is_ok() {
            return true;
        }
        match self.policy {
            FullPolicy::Block => {
                self.held.push_back(rec);
                true
            }
            FullPolicy::Drop => {
                self.note_drop(&t);
                false
            }
        }
    }

    /// Drops a trade as if it had found the ring full: counted and noted, so the bars it
    /// would have touched are flagged. Replays use it to reproduce a recorded drop.
    pub fn drop_trade(&mut self, t: TradeRecord) {
        self.note_drop(&t);
    }

    fn note_drop(&mut self, t: &TradeRecord) {
        self.counters.dropped_trades += 1;
        let Some(slot) = self.pending_drop.get_mut(t.symbol as usize) else {
            return;
        };
        match slot {
            Some(n) => {
                n.min_ts = n.min_ts.min(t.exch_ts);
                n.max_ts = n.max_ts.max(t.exch_ts);
                n.count += 1;
            }
            None => {
                *slot = Some(DropNoticeRecord {
                    kind: Kind::DropNotice as u8,
                    venue: t.venue,
                    symbol: t.symbol,
                    min_ts: t.exch_ts,
                    max_ts: t.exch_ts,
                    count: 1,
                    ..Default::default()
                });
                self.pending_drop_order.push_back(t.symbol);
            }
        }
    }

    /// Pushes a quote under the quote policy.
    pub fn push_quote(&mut self, q: QuoteRecord) {
        let s = q.symbol as usize;
        if self.policy == FullPolicy::Block || s >= self.pending_quote.len() {
            // Unknown symbols cannot be pending; block mode holds everything in order.
            if self.backlogged() || self.out.push(Record::from(q)).is_err() {
                self.held.push_back(Record::from(q));
            }
            return;
        }
        self.update_pressure();
        let keep = if self.pressure && !self.priority[s] {
            self.sample_acc += self.sample_step;
            if self.sample_acc >= SAMPLE_ONE {
                self.sample_acc -= SAMPLE_ONE;
                true
            } else {
                false
            }
        } else {
            true
        };
        if keep && !self.backlogged() && self.out.push(Record::from(q)).is_ok() {
            // A newer quote went out: any pending one for the symbol is obsolete.
            if self.pending_quote[s].take().is_some() {
                self.counters.conflated_quotes += 1;
                self.pending_quote_order.retain(|&x| x as usize != s);
            }
            return;
        }
        if !keep {
            self.counters.sampled_quotes += 1;
        }
        match &mut self.pending_quote[s] {
            Some(p) => {
                *p = q;
                self.counters.conflated_quotes += 1;
            }
            slot @ None => {
                *slot = Some(q);
                self.pending_quote_order.push_back(q.symbol);
            }
        }
    }

    /// Pushes a record that must not be lost (status, clock, end): held in order when full.
    pub fn push_control(&mut self, r: Record) {
        if self.backlogged() || self.out.push(r).is_err() {
            self.held.push_back(r);
        }
    }

    /// Wakes the consumer if anything went out.
    pub fn notify(&mut self) {
        self.out.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordView, Side};
    use crate::ring::{edge, Inbox};
    use crate::wait::ThreadWake;

    fn outbox(cap: usize, policy: FullPolicy, symbols: usize) -> (PolicyOutbox, Inbox<Record>) {
        let (tx, rx) = edge(cap, ThreadWake::new());
        let mut prio = vec![false; symbols];
        prio[0] = true;
        (
            PolicyOutbox::new(tx, policy, PressureConfig::default(), prio),
            rx,
        )
    }

    fn trade(sym: u32, ts: i64, id: u64) -> TradeRecord {
        TradeRecord::new(1, sym, ts, ts, 100, 1, Side::Buy, id)
    }

    fn quote(sym: u32, bid: i64) -> QuoteRecord {
        QuoteRecord::new(1, sym, 0, 0, bid, 1, bid + 1, 1, 0)
    }

    fn drain(rx: &mut Inbox<Record>) -> Vec<RecordView> {
        std::iter::from_fn(|| rx.pop().ok())
            .map(|r| r.view().unwrap())
            .collect()
    }

    #[test]
    fn dropped_trades_are_counted_and_noticed_before_anything_else() {
        let (mut tx, mut rx) = outbox(4, FullPolicy::Drop, 3);
        for i in 0..4 {
            assert!(tx.push_trade(trade(1, 10 + i, i as u64)));
        }
        assert!(!tx.push_trade(trade(1, 50, 5)));
        assert!(!tx.push_trade(trade(1, 40, 6)));
        assert!(!tx.push_trade(trade(2, 70, 7)));
        assert_eq!(tx.counters().dropped_trades, 3);
        assert_eq!(drain(&mut rx).len(), 4);
        // Space again: the notices go out first, then the new trade.
        assert!(tx.push_trade(trade(1, 80, 8)));
        let got = drain(&mut rx);
        assert!(matches!(got[2], RecordView::Trade(t) if t.trade_id == 8));
        let RecordView::DropNotice(n) = got[0] else {
            panic!("{got:?}")
        };
        assert_eq!((n.symbol, n.min_ts, n.max_ts, n.count), (1, 40, 50, 2));
        let RecordView::DropNotice(n) = got[1] else {
            panic!("{got:?}")
        };
        assert_eq!((n.symbol, n.count), (2, 1));
        assert!(tx.is_drained());
    }

    #[test]
    fn quotes_conflate_per_symbol_when_full_and_latest_wins() {
        let (mut tx, mut rx) = outbox(2, FullPolicy::Drop, 3);
        tx.push_trade(trade(1, 1, 1));
        tx.push_trade(trade(1, 2, 2));
        for bid in [10, 11, 12] {
            tx.push_quote(quote(1, bid));
        }
        tx.push_quote(quote(2, 20));
        assert_eq!(tx.counters().conflated_quotes, 2);
        assert_eq!(tx.counters().dropped_trades, 0);
        drain(&mut rx);
        tx.flush();
        let got = drain(&mut rx);
        assert_eq!(got.len(), 2);
        assert!(matches!(got[0], RecordView::Quote(q) if q.symbol == 1 && q.bid == 12));
        assert!(matches!(got[1], RecordView::Quote(q) if q.symbol == 2 && q.bid == 20));
        assert!(tx.is_drained());
    }

    #[test]
    fn sampling_has_hysteresis_and_spares_priority_symbols() {
        // 10 slots: pressure on at 8 queued, off at 5.
        let (mut tx, mut rx) = outbox(10, FullPolicy::Drop, 3);
        for i in 0..7 {
            tx.push_quote(quote(1, i));
        }
        assert!(!tx.under_pressure());
        tx.push_quote(quote(1, 7));
        tx.push_quote(quote(1, 8)); // sees 8 queued: pressure on, sampled at 0.5
        assert!(tx.under_pressure());
        assert_eq!(tx.counters().pressure_episodes, 1);
        let before = tx.counters().sampled_quotes;
        tx.push_quote(quote(1, 9));
        tx.push_quote(quote(1, 10));
        assert_eq!(
            tx.counters().sampled_quotes - before,
            1,
            "one of two kept at rate 0.5"
        );
        // Priority symbol 0 is never sampled.
        let before = tx.counters().sampled_quotes;
        tx.push_quote(quote(0, 1));
        assert_eq!(tx.counters().sampled_quotes, before);
        // Drain to 6 queued: still above `low`, pressure stays on.
        for _ in 0..3 {
            rx.pop().unwrap();
        }
        tx.flush();
        assert!(tx.under_pressure());
        // Drain to 5: off, and the pending quote for symbol 1 (the latest) goes out.
        while rx.slots() > 5 {
            rx.pop().unwrap();
        }
        tx.flush();
        assert!(!tx.under_pressure());
        let got = drain(&mut rx);
        let last = got.iter().rev().find_map(|v| match v {
            RecordView::Quote(q) if q.symbol == 1 => Some(q.bid),
            _ => None,
        });
        assert_eq!(
            last,
            Some(10),
            "the newest quote of the symbol is delivered"
        );
        assert!(tx.is_drained());
    }

    #[test]
    fn block_mode_loses_nothing_and_stops_taking_input() {
        let (mut tx, mut rx) = outbox(300, FullPolicy::Block, 3);
        assert!(tx.can_accept());
        for i in 0..400 {
            assert!(tx.push_trade(trade(1, i, i as u64)));
            tx.push_quote(quote(2, i));
        }
        tx.push_control(Record::from(crate::record::EndRecord::all(0)));
        assert!(!tx.can_accept());
        assert_eq!(tx.counters(), PolicyCounters::default());
        let mut got = Vec::new();
        while !tx.is_drained() || rx.slots() > 0 {
            got.extend(drain(&mut rx));
            tx.flush();
        }
        assert_eq!(got.len(), 801);
        let ids: Vec<u64> = got
            .iter()
            .filter_map(|v| {
                if let RecordView::Trade(t) = v {
                    Some(t.trade_id)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(ids, (0..400).collect::<Vec<_>>(), "in order, none lost");
        assert!(matches!(got.last(), Some(RecordView::End(_))));
        assert!(tx.can_accept());
    }

    #[test]
    fn control_records_are_never_lost_in_drop_mode() {
        let (mut tx, mut rx) = outbox(1, FullPolicy::Drop, 1);
        tx.push_trade(trade(0, 1, 1));
        tx.push_control(Record::from(crate::record::ClockRecord::new(0, 5)));
        tx.push_control(Record::from(crate::record::EndRecord::all(6)));
        let mut got = Vec::new();
        for _ in 0..4 {
            got.extend(drain(&mut rx));
            tx.flush();
        }
        assert_eq!(got.len(), 3);
        assert!(matches!(got[2], RecordView::End(_)));
    }
}
