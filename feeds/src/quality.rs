//! Per-source quality: for each feed, the frames it delivered, its reconnects, the gaps in
//! its trade ids, and how long its trades took from the venue's clock to ours.
//!
//! Counted before any failover decision, so a standby source's quality is visible too.
//! Published in `NAME.stats` as `parser.source.<feed>.{frames,trades,reconnects,gaps}` and
//! the histogram `source.<feed>.exch_to_recv_ns` (messages per second are the change of
//! `frames` over time, as `tickforge stat` shows it).

use hdrhistogram::Histogram;
use tickforge_engine::record::TradeRecord;
use tickforge_engine::shm::HistogramSlot;

/// Largest latency recorded, ns (larger values are clamped): 60 s.
const MAX_NS: u64 = 60_000_000_000;
/// How often the histograms are published, ns of receive time.
const PUBLISH_EVERY_NS: i64 = 250_000_000;

/// Counter names of one feed.
struct Names {
    frames: &'static str,
    trades: &'static str,
    reconnects: &'static str,
    gaps: &'static str,
}

/// Per-feed quality.
pub struct SourceQuality {
    names: Vec<Names>,
    frames: Vec<u64>,
    trades: Vec<u64>,
    connects: Vec<u64>,
    gaps: Vec<u64>,
    /// Last trade id per feed and symbol (`feed * symbols + symbol`).
    last_id: Vec<u64>,
    symbols: usize,
    latency: Vec<Histogram<u64>>,
    slots: Vec<Option<HistogramSlot>>,
    next_publish: i64,
}

/// The histogram name of a feed's exchange-to-receive latency in `NAME.stats`.
pub fn latency_name(feed: &str) -> String {
    format!("source.{feed}.exch_to_recv_ns")
}

impl SourceQuality {
    /// Quality of the feeds named `feeds` (by feed id), for `symbols` symbols.
    pub fn new(feeds: &[String], symbols: usize) -> Self {
        // Counter names must be 'static: a few per feed, made once per engine.
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let names = feeds
            .iter()
            .map(|f| Names {
                frames: leak(format!("source.{f}.frames")),
                trades: leak(format!("source.{f}.trades")),
                reconnects: leak(format!("source.{f}.reconnects")),
                gaps: leak(format!("source.{f}.gaps")),
            })
            .collect();
        let n = feeds.len();
        SourceQuality {
            names,
            frames: vec![0; n],
            trades: vec![0; n],
            connects: vec![0; n],
            gaps: vec![0; n],
            last_id: vec![0; n * symbols],
            symbols,
            latency: (0..n)
                .map(|_| Histogram::new_with_bounds(1, MAX_NS, 2).expect("valid bounds"))
                .collect(),
            slots: (0..n).map(|_| None).collect(),
            next_publish: 0,
        }
    }

    /// Where each feed's latency histogram goes in `NAME.stats` (by feed id).
    pub fn set_slots(&mut self, slots: Vec<HistogramSlot>) {
        for (s, slot) in self.slots.iter_mut().zip(slots) {
            *s = Some(slot);
        }
    }

    /// A data frame of `feed`.
    #[inline]
    pub fn frame(&mut self, feed: u32) {
        if let Some(n) = self.frames.get_mut(feed as usize) {
            *n += 1;
        }
    }

    /// A connection of `feed` opened (the first one is not a reconnect).
    pub fn connected(&mut self, feed: u32) {
        if let Some(n) = self.connects.get_mut(feed as usize) {
            *n += 1;
        }
    }

    /// A trade of `feed`.
    #[inline]
    pub fn trade(&mut self, feed: u32, t: &TradeRecord) {
        let f = feed as usize;
        let Some(n) = self.trades.get_mut(f) else {
            return;
        };
        *n += 1;
        if t.ids_consecutive() {
            if let Some(last) = self.last_id.get_mut(f * self.symbols + t.symbol as usize) {
                if *last != 0 && t.trade_id > *last + 1 {
                    self.gaps[f] += 1;
                }
                *last = (*last).max(t.trade_id);
            }
        }
        if t.exch_ts > 0 {
            let ns = t.recv_ts.saturating_sub(t.exch_ts).clamp(1, MAX_NS as i64) as u64;
            self.latency[f].saturating_record(ns);
        }
        if t.recv_ts >= self.next_publish {
            self.publish(t.recv_ts);
        }
    }

    /// Publishes the histograms now.
    pub fn publish(&mut self, now: i64) {
        self.next_publish = now.saturating_add(PUBLISH_EVERY_NS);
        for (slot, h) in self.slots.iter_mut().zip(&self.latency) {
            if let Some(slot) = slot {
                slot.publish(h);
            }
        }
    }

    /// Reports the counters as (name, value) pairs.
    pub fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        for (i, n) in self.names.iter().enumerate() {
            out(n.frames, self.frames[i]);
            out(n.trades, self.trades[i]);
            out(n.reconnects, self.connects[i].saturating_sub(1));
            out(n.gaps, self.gaps[i]);
        }
    }
}
