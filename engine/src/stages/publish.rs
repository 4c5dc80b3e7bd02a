//! The publisher stage: records into shared memory.
//!
//! Trades, throttle-admitted quotes, closed bars, signals and feed status go to the event
//! ring; `NAME.latest` gets every trade, every quote and every bar (open bars into the
//! current cell, closed ones into the last-closed cell). After each batch the ring's cursor
//! is published once and the end-to-end latency of every market-data event in the batch
//! (frame received → visible in shared memory) is recorded.

use hdrhistogram::Histogram;

use crate::clock::wall_ns;
use crate::record::{bar_flags, Record, RecordView};
use crate::ring::Inbox;
use crate::shm::{EventWriter, HistogramSlot, LatestWriter};
use crate::stage::Stage;
use crate::throttle::QuoteThrottle;

use super::BUDGET;

/// A callback that receives every event written to the ring (exports, tests).
pub type EventTap = Box<dyn FnMut(&Record) + Send>;

/// Where the publisher writes.
pub struct PublisherOutput {
    /// `NAME.events`.
    pub events: EventWriter,
    /// `NAME.latest`.
    pub latest: LatestWriter,
    /// End-to-end latency since start, in `NAME.stats`.
    pub latency_total: Option<HistogramSlot>,
    /// End-to-end latency over the last second, in `NAME.stats`.
    pub latency_recent: Option<HistogramSlot>,
}

/// Counters of the publisher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherCounters {
    /// Events written to the ring.
    pub events: u64,
    /// Trades published.
    pub trades: u64,
    /// Quotes published to the ring.
    pub quotes: u64,
    /// Quotes held back by the throttle (still in `NAME.latest`).
    pub throttled: u64,
    /// Closed bars published.
    pub bars: u64,
    /// Signals published.
    pub signals: u64,
    /// Feed status events published.
    pub status: u64,
}

/// Most latency worth recording, ns (larger values are clamped): 60 s.
const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// How often the latency snapshots in `NAME.stats` are refreshed, ns.
const SNAPSHOT_EVERY_NS: i64 = 250_000_000;
/// The recent-latency window, ns.
const RECENT_WINDOW_NS: i64 = 1_000_000_000;

/// The publisher stage.
pub struct PublisherStage {
    input: Inbox<Record>,
    out: PublisherOutput,
    throttle: QuoteThrottle,
    priority: Vec<bool>,
    tap: Option<EventTap>,
    recv_times: Vec<i64>,
    latency: Histogram<u64>,
    recent: Histogram<u64>,
    next_snapshot: i64,
    recent_started: i64,
    counters: PublisherCounters,
    done: bool,
}

impl PublisherStage {
    /// A publisher into `out`; `priority[s]` exempts symbol `s` from the throttle.
    pub fn new(
        input: Inbox<Record>,
        out: PublisherOutput,
        throttle: QuoteThrottle,
        priority: Vec<bool>,
    ) -> Self {
        let hist =
            || Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds");
        PublisherStage {
            input,
            out,
            throttle,
            priority,
            tap: None,
            recv_times: Vec::with_capacity(BUDGET),
            latency: hist(),
            recent: hist(),
            next_snapshot: 0,
            recent_started: 0,
            counters: PublisherCounters::default(),
            done: false,
        }
    }

    /// Sets where the latency snapshots go in `NAME.stats`.
    pub fn set_latency_slots(&mut self, total: HistogramSlot, recent: HistogramSlot) {
        self.out.latency_total = Some(total);
        self.out.latency_recent = Some(recent);
    }

    /// Also hands every event written to the ring to `tap` (exports, tests).
    pub fn with_tap(mut self, tap: EventTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// The counters.
    pub fn counters(&self) -> PublisherCounters {
        self.counters
    }

    /// End-to-end latency since start, ns.
    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    fn emit(&mut self, rec: &Record) {
        self.out.events.push(rec);
        self.counters.events += 1;
        if let Some(tap) = self.tap.as_mut() {
            tap(rec);
        }
    }

    fn handle(&mut self, rec: Record) {
        let Some(view) = rec.view() else { return };
        match view {
            RecordView::Trade(t) => {
                self.out.latest.set_trade(t.symbol, &t);
                self.emit(&rec);
                self.counters.trades += 1;
                self.recv_times.push(t.recv_ts);
            }
            RecordView::Quote(q) => {
                self.out.latest.set_quote(q.symbol, &q);
                let priority = self
                    .priority
                    .get(q.symbol as usize)
                    .copied()
                    .unwrap_or(false);
                if self.throttle.admit(&q, priority) {
                    self.emit(&rec);
                    self.counters.quotes += 1;
                    self.recv_times.push(q.recv_ts);
                } else {
                    self.counters.throttled += 1;
                }
            }
            RecordView::Bar(b) => {
                self.out.latest.set_bar(b.symbol, b.tf as usize, &b);
                if b.flags & bar_flags::CLOSED != 0 {
                    self.emit(&rec);
                    self.counters.bars += 1;
                }
            }
            RecordView::Signal(_) => {
                self.emit(&rec);
                self.counters.signals += 1;
            }
            RecordView::FeedStatus(_) => {
                self.emit(&rec);
                self.counters.status += 1;
            }
            RecordView::End(_) => self.done = true,
            RecordView::Clock(_) | RecordView::DropNotice(_) => {}
        }
    }

    fn record_latency(&mut self) {
        if self.recv_times.is_empty() {
            return;
        }
        let now = wall_ns();
        for &t in &self.recv_times {
            let ns = (now.saturating_sub(t)).clamp(1, MAX_LATENCY_NS as i64) as u64;
            self.latency.saturating_record(ns);
            self.recent.saturating_record(ns);
        }
        self.recv_times.clear();
        if now >= self.next_snapshot {
            self.publish_snapshots(now);
        }
    }

    fn publish_snapshots(&mut self, now: i64) {
        self.next_snapshot = now + SNAPSHOT_EVERY_NS;
        if let Some(slot) = self.out.latency_total.as_mut() {
            slot.publish(&self.latency);
        }
        if let Some(slot) = self.out.latency_recent.as_mut() {
            slot.publish(&self.recent);
        }
        if now - self.recent_started >= RECENT_WINDOW_NS {
            self.recent.reset();
            self.recent_started = now;
        }
    }
}

impl Stage for PublisherStage {
    fn name(&self) -> &'static str {
        "publisher"
    }

    fn poll(&mut self) -> usize {
        let mut work = 0;
        while work < BUDGET && !self.done {
            let Ok(rec) = self.input.pop() else { break };
            self.handle(rec);
            work += 1;
        }
        if work > 0 {
            self.out.events.flush_cursor();
            self.record_latency();
            if self.done {
                self.publish_snapshots(wall_ns());
            }
        }
        work
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = &self.counters;
        out("events", c.events);
        out("trades", c.trades);
        out("quotes", c.quotes);
        out("quotes_throttled", c.throttled);
        out("bars", c.bars);
        out("signals", c.signals);
        out("status", c.status);
    }
}
