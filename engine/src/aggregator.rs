//! Time bars: per symbol and timeframe, epoch-aligned, closed on an event-time watermark.
//!
//! - A trade belongs to the bar `[k·tf, (k+1)·tf)` holding its **exchange** timestamp; the
//!   bar is labelled by its open time. open/close are the first/last trade in arrival order,
//!   high/low the extremes, volume the exact sum of sizes (96 bits), count the trades.
//! - Each feed has a watermark: the newest exchange time seen minus `grace`. While the feed
//!   is idle, clock ticks (and quotes) advance it by the receive time elapsed since that
//!   newest trade arrived, so a quiet market still closes its bars. A bar closes when the
//!   watermark reaches its end.
//! - A trade whose bar has closed is late: counted, left out. A trade whose venue trade id
//!   is not above the symbol's last id is a duplicate: counted, dropped. An id that skips
//!   ahead flags the bar `gap`.
//! - Bars built while the feed was stale or reconnecting are flagged `stale`; bars that a
//!   dropped trade would have touched are flagged `incomplete`.
//! - At the end of a finite input every open bar closes.
//!
//! Per trade the work is O(timeframes) with no allocation: open bars live in a flat slot
//! array, and the bars due to close are found through per-feed, per-timeframe buckets of
//! symbols keyed by open time.

use std::collections::VecDeque;

use crate::record::{
    bar_flags, trade_flags, BarRecord, FeedState, Kind, TradeRecord, MAX_BAR_VOLUME,
};
use crate::timeframe::Timeframe;

/// Aggregator settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatorConfig {
    /// Timeframes, in the order of their index in bar records.
    pub timeframes: Vec<Timeframe>,
    /// Watermark grace, ns.
    pub grace_ns: i64,
    /// Emit a flat bar flagged `empty` (at the previous close, no volume) for each interval
    /// without a trade, once the symbol has traded.
    pub emit_empty: bool,
    /// Refuse trades whose exchange time is more than this far ahead of their receive time
    /// (a venue clock glitch would otherwise push the watermark into the future and make
    /// every later trade late); 0 disables the check.
    pub max_future_ns: i64,
}

impl AggregatorConfig {
    /// Checks that there is a timeframe and that the grace is below
    /// [`MAX_GRACE_BARS`] of the shortest timeframe.
    pub fn validate(&self) -> Result<(), String> {
        let min_tf = self
            .timeframes
            .iter()
            .map(|t| t.nanos())
            .min()
            .ok_or("no timeframe")?;
        if self.grace_ns < 0 || self.grace_ns >= MAX_GRACE_BARS * min_tf {
            return Err(format!(
                "grace of {} ms must be below {MAX_GRACE_BARS} × the shortest timeframe",
                self.grace_ns / 1_000_000
            ));
        }
        Ok(())
    }
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            timeframes: ["1s", "1m", "5m"]
                .iter()
                .map(|t| t.parse().expect("valid"))
                .collect(),
            grace_ns: 250_000_000,
            emit_empty: false,
            max_future_ns: 60_000_000_000,
        }
    }
}

/// Counters of the aggregator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggregatorCounters {
    /// Trades counted in bars.
    pub trades: u64,
    /// Trades whose bar had closed, in at least one timeframe (they still count in the
    /// timeframes whose bar is open).
    pub late: u64,
    /// Trades with an already-seen trade id.
    pub duplicates: u64,
    /// Trades for a symbol id outside the table.
    pub unknown_symbol: u64,
    /// Trades rejected because a bar's volume would exceed 96 bits.
    pub volume_overflow: u64,
    /// Bars closed and emitted.
    pub bars_closed: u64,
    /// Trade-id gaps seen.
    pub gaps: u64,
    /// Empty bars emitted (when configured).
    pub empty_bars: u64,
    /// Empty intervals skipped beyond [`MAX_EMPTY_RUN`] in a row.
    pub empty_skipped: u64,
    /// Trades whose exchange time was further ahead of their receive time than allowed.
    pub future: u64,
}

/// Most empty bars emitted in a row per symbol and timeframe before the next bar.
pub const MAX_EMPTY_RUN: i128 = 1000;

/// Most bars one symbol and timeframe can have open at once.
const MAX_OPEN_SLOTS: usize = 8;
/// The grace may span at most this many of the shortest timeframe (so every open bar has
/// a slot): [`AggregatorConfig::validate`] checks it.
pub const MAX_GRACE_BARS: i64 = MAX_OPEN_SLOTS as i64 - 1;

#[derive(Debug, Clone, Copy)]
struct FeedClock {
    /// Newest exchange time seen from a trade, or `i64::MIN` before the first.
    max_exch: i64,
    /// Receive time of the trade that set `max_exch`.
    anchor_recv: i64,
    watermark: i64,
    stale: bool,
    /// The last outage (stale or down): from, until (`i64::MAX` while it lasts); bars
    /// overlapping it are flagged stale. `(i64::MAX, i64::MIN)`: none yet.
    outage: (i64, i64),
}

#[derive(Debug, Clone, Copy, Default)]
struct SymState {
    last_trade_id: u64,
    /// Exchange-time range of dropped trades not yet past the watermark.
    drop: Option<(i64, i64)>,
    feed: u32,
}

struct Bucket {
    open_ts: i64,
    symbols: Vec<u32>,
}

/// Builds bars from trades for every symbol and timeframe.
pub struct BarAggregator {
    tfs: Vec<Timeframe>,
    grace: i64,
    slots_per: usize,
    /// Per symbol: its feed, last trade id and pending drop range, in one cache-friendly
    /// record.
    syms: Vec<SymState>,
    /// Timeframe lengths, ns, by index.
    tf_ns: Vec<i64>,
    /// Per feed: the earliest end of any open bar (no bar can close before it).
    next_due: Vec<i64>,
    feeds: Vec<FeedClock>,
    /// Open bars, `slots_per` per (symbol, timeframe); `kind == 0` marks a free slot.
    open: Vec<BarRecord>,
    /// Per (feed, timeframe): open-time buckets of symbols with an open bar, sorted.
    buckets: Vec<VecDeque<Bucket>>,
    pool: Vec<Vec<u32>>,
    /// Symbols with a drop range, so advancing never scans every symbol.
    drop_active: Vec<u32>,
    /// Emit flat bars for intervals without trades.
    emit_empty: bool,
    max_future_ns: i64,
    /// Per feed, its symbols in id order.
    feed_symbols: Vec<Vec<u32>>,
    /// Per (feed, timeframe): every interval ending at or before this has been closed.
    closed_upto: Vec<i64>,
    /// Per (symbol, timeframe): close of the last closed bar and its end.
    last_close: Vec<i64>,
    last_end: Vec<i64>,
    counters: AggregatorCounters,
}

impl BarAggregator {
    /// An aggregator for `symbol_feed.len()` symbols; `symbol_feed[s]` is the feed that
    /// carries symbol `s`, and feeds are numbered from 0.
    pub fn new(cfg: &AggregatorConfig, symbol_feed: Vec<u32>) -> Self {
        assert!(!cfg.timeframes.is_empty(), "at least one timeframe");
        let n_feeds = symbol_feed
            .iter()
            .map(|&f| f as usize + 1)
            .max()
            .unwrap_or(1);
        let min_tf = cfg
            .timeframes
            .iter()
            .map(|t| t.nanos())
            .min()
            .expect("non-empty");
        let grace = cfg.grace_ns.max(0);
        let slots_per =
            ((grace + min_tf - 1) / min_tf + 1).clamp(2, MAX_OPEN_SLOTS as i64) as usize;
        let n_sym = symbol_feed.len();
        let ntf = cfg.timeframes.len();
        BarAggregator {
            tfs: cfg.timeframes.clone(),
            grace,
            slots_per,
            feeds: vec![
                FeedClock {
                    max_exch: i64::MIN,
                    anchor_recv: 0,
                    watermark: i64::MIN,
                    stale: false,
                    outage: (i64::MAX, i64::MIN),
                };
                n_feeds
            ],
            open: vec![BarRecord::default(); n_sym * ntf * slots_per],
            syms: symbol_feed
                .iter()
                .map(|&feed| SymState {
                    feed,
                    ..SymState::default()
                })
                .collect(),
            tf_ns: cfg.timeframes.iter().map(|t| t.nanos()).collect(),
            next_due: vec![i64::MIN; n_feeds],
            buckets: (0..n_feeds * ntf).map(|_| VecDeque::new()).collect(),
            pool: Vec::new(),
            drop_active: Vec::new(),
            emit_empty: cfg.emit_empty,
            max_future_ns: cfg.max_future_ns.max(0),
            feed_symbols: (0..n_feeds as u32)
                .map(|f| {
                    (0..n_sym as u32)
                        .filter(|&s| symbol_feed[s as usize] == f)
                        .collect()
                })
                .collect(),
            closed_upto: vec![i64::MIN; n_feeds * ntf],
            last_close: vec![0; n_sym * ntf],
            last_end: vec![i64::MIN; n_sym * ntf],
            counters: AggregatorCounters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> AggregatorCounters {
        self.counters
    }

    /// Number of symbols.
    pub fn symbol_count(&self) -> usize {
        self.syms.len()
    }

    /// Trades refused as duplicates so far (one of [`BarAggregator::counters`]).
    #[inline]
    pub fn duplicates(&self) -> u64 {
        self.counters.duplicates
    }

    /// The timeframes, by index.
    pub fn timeframes(&self) -> &[Timeframe] {
        &self.tfs
    }

    /// The feed that carries `symbol`.
    pub fn feed_of(&self, symbol: u32) -> Option<u32> {
        self.syms.get(symbol as usize).map(|s| s.feed)
    }

    /// The current watermark of `feed` (`i64::MIN` before its first trade).
    pub fn watermark(&self, feed: u32) -> i64 {
        self.feeds
            .get(feed as usize)
            .map_or(i64::MIN, |f| f.watermark)
    }

    fn slot_base(&self, symbol: u32, tf: usize) -> usize {
        (symbol as usize * self.tfs.len() + tf) * self.slots_per
    }

    /// Adds a trade. Bars it closes (by advancing the watermark) go to `closed` first; then
    /// `updated` receives the open bar of each timeframe the trade landed in. Returns false
    /// when the trade was not counted (late, duplicate, unknown symbol, overflow).
    pub fn on_trade(
        &mut self,
        t: &TradeRecord,
        closed: &mut impl FnMut(BarRecord),
        updated: &mut impl FnMut(BarRecord),
    ) -> bool {
        let sym = t.symbol as usize;
        let Some(&st) = self.syms.get(sym) else {
            self.counters.unknown_symbol += 1;
            return false;
        };
        let mut extra_flags = 0;
        let last = st.last_trade_id;
        let ordered = t.flags & trade_flags::ID_UNORDERED == 0;
        if ordered && t.trade_id != 0 && last != 0 {
            if t.trade_id <= last {
                self.counters.duplicates += 1;
                return false;
            }
            if t.trade_id > last + 1 && t.flags & trade_flags::ID_NOT_CONSECUTIVE == 0 {
                self.counters.gaps += 1;
                extra_flags |= bar_flags::GAP;
            }
        }
        if self.max_future_ns > 0 && t.exch_ts > t.recv_ts.saturating_add(self.max_future_ns) {
            self.counters.future += 1;
            return false;
        }
        let feed = st.feed;
        let f = &mut self.feeds[feed as usize];
        if t.exch_ts >= f.max_exch {
            f.max_exch = t.exch_ts;
            f.anchor_recv = t.recv_ts;
        }
        if f.stale {
            extra_flags |= bar_flags::STALE;
        }
        let target = f.max_exch.saturating_sub(self.grace);
        self.advance(feed, target, closed);
        let wm = self.feeds[feed as usize].watermark;
        let outage = self.feeds[feed as usize].outage;

        // Lateness is per timeframe: a trade too late for its 1 s bar may still belong to
        // an open 1 m bar. Volume is checked for every timeframe before any bar changes.
        // The common case, a trade in an open bar, needs no division.
        let ntf = self.tfs.len();
        let mut slot_of = [usize::MAX; crate::timeframe::MAX_TIMEFRAMES];
        let mut late = false;
        for (i, (&tf_ns, tf)) in self.tf_ns.iter().zip(&self.tfs).enumerate() {
            let base = self.slot_base(t.symbol, i);
            let slots = &self.open[base..base + self.slots_per];
            let holding = slots.iter().position(|b| {
                b.kind != 0
                    && t.exch_ts
                        .checked_sub(b.open_ts)
                        .is_some_and(|d| (0..tf_ns).contains(&d))
            });
            match holding {
                Some(j) => {
                    let v = slots[j].volume() + t.size.max(0) as u128;
                    if v > MAX_BAR_VOLUME {
                        self.counters.volume_overflow += 1;
                        return false;
                    }
                    slot_of[i] = base + j;
                }
                None => {
                    let open_ts = tf.bar_open(t.exch_ts);
                    if open_ts.saturating_add(tf_ns) <= wm {
                        late = true;
                        continue;
                    }
                    // Open bars end after the watermark and start at or before the newest
                    // trade, so with a grace below `MAX_GRACE_BARS` timeframes a free slot
                    // always exists; were it ever full, the trade is counted as late.
                    match slots.iter().position(|b| b.kind == 0) {
                        Some(j) => slot_of[i] = base + j,
                        None => late = true,
                    }
                }
            }
        }
        if ordered {
            self.syms[sym].last_trade_id = last.max(t.trade_id);
        }
        if late {
            self.counters.late += 1;
        }
        if slot_of[..ntf].iter().all(|&s| s == usize::MAX) {
            return false;
        }
        self.counters.trades += 1;
        for (i, &slot) in slot_of.iter().enumerate().take(ntf) {
            if slot == usize::MAX {
                continue;
            }
            let tf_ns = self.tf_ns[i];
            let bar = &mut self.open[slot];
            if bar.kind == 0 {
                let open_ts = self.tfs[i].bar_open(t.exch_ts);
                *bar = BarRecord {
                    kind: Kind::Bar as u8,
                    tf: i as u8,
                    flags: 0,
                    symbol: t.symbol,
                    open_ts,
                    open: t.price,
                    high: t.price,
                    low: t.price,
                    close: t.price,
                    volume_lo: 0,
                    volume_hi: 0,
                    count: 0,
                };
                if let Some((lo, hi)) = st.drop {
                    if lo < open_ts.saturating_add(tf_ns) && hi >= open_ts {
                        bar.flags |= bar_flags::INCOMPLETE;
                    }
                }
                if outage.0 < open_ts.saturating_add(tf_ns) && outage.1 > open_ts {
                    bar.flags |= bar_flags::STALE;
                }
                let fi = feed as usize;
                let b = fi * ntf + i;
                let bucket = match self.buckets[b].iter().position(|k| k.open_ts >= open_ts) {
                    Some(p) if self.buckets[b][p].open_ts == open_ts => p,
                    pos => {
                        let p = pos.unwrap_or(self.buckets[b].len());
                        let symbols = self.pool.pop().unwrap_or_default();
                        self.buckets[b].insert(p, Bucket { open_ts, symbols });
                        self.next_due[fi] = self.next_due[fi].min(open_ts.saturating_add(tf_ns));
                        p
                    }
                };
                self.buckets[b][bucket].symbols.push(t.symbol);
            } else {
                bar.high = bar.high.max(t.price);
                bar.low = bar.low.min(t.price);
                bar.close = t.price;
            }
            bar.set_volume(bar.volume() + t.size.max(0) as u128);
            bar.count += 1;
            bar.flags |= extra_flags;
            updated(*bar);
        }
        true
    }

    /// Hints the CPU to fetch `symbol`'s state ahead of [`BarAggregator::on_trade`]: call
    /// it a few trades ahead so cache misses overlap when symbols are many.
    #[inline]
    pub fn prefetch(&self, symbol: u32) {
        if (symbol as usize) >= self.syms.len() {
            return;
        }
        let base = self.slot_base(symbol, 0);
        let n = self.tfs.len() * self.slots_per;
        crate::prefetch::read(&self.syms[symbol as usize]);
        for bar in &self.open[base..base + n] {
            crate::prefetch::read(bar);
        }
    }

    /// Advances `feed`'s watermark by receive time while it is idle (a clock tick or a
    /// quote received at `recv_ts`), closing bars that end at or before it.
    pub fn on_clock(&mut self, feed: u32, recv_ts: i64, closed: &mut impl FnMut(BarRecord)) {
        let Some(f) = self.feeds.get(feed as usize) else {
            return;
        };
        if f.max_exch == i64::MIN {
            return;
        }
        let elapsed = recv_ts.saturating_sub(f.anchor_recv).max(0);
        let wm = f
            .max_exch
            .saturating_add(elapsed)
            .saturating_sub(self.grace);
        self.advance(feed, wm, closed);
    }

    /// Flags the open bars that dropped trades of `symbol` in `[min_ts, max_ts]` would have
    /// touched, and bars opened later in that range.
    pub fn on_drops(&mut self, symbol: u32, min_ts: i64, max_ts: i64) {
        let sym = symbol as usize;
        if sym >= self.syms.len() {
            return;
        }
        let range = match self.syms[sym].drop {
            Some((lo, hi)) => (lo.min(min_ts), hi.max(max_ts)),
            None => (min_ts, max_ts),
        };
        if self.syms[sym].drop.is_none() {
            self.drop_active.push(symbol);
        }
        self.syms[sym].drop = Some(range);
        for (i, tf) in self.tfs.iter().enumerate() {
            let base = (sym * self.tfs.len() + i) * self.slots_per;
            for bar in &mut self.open[base..base + self.slots_per] {
                if bar.kind != 0
                    && min_ts < bar.open_ts.saturating_add(tf.nanos())
                    && max_ts >= bar.open_ts
                {
                    bar.flags |= bar_flags::INCOMPLETE;
                }
            }
        }
    }

    /// Notes a feed's state at time `since` (when it began: for a stale feed, its last
    /// data): while stale, disconnected or connecting, its bars are flagged stale (open ones
    /// at once, new ones as they open), and so is every bar opened later whose interval
    /// overlaps the outage.
    pub fn on_feed_state(&mut self, feed: u32, state: FeedState, since: i64) {
        let stale = matches!(
            state,
            FeedState::Stale | FeedState::Disconnected | FeedState::Connecting
        );
        let Some(f) = self.feeds.get_mut(feed as usize) else {
            return;
        };
        // Before its first trade a feed has no outage to speak of (start-up).
        let running = f.max_exch != i64::MIN;
        match (f.stale, stale) {
            (false, true) if running => f.outage = (since, i64::MAX),
            (false, true) => {}
            (true, true) => f.outage.0 = f.outage.0.min(since),
            (true, false) if f.outage.1 == i64::MAX => f.outage.1 = since,
            (true, false) => {}
            (false, false) => {}
        }
        f.stale = stale;
        if !stale {
            return;
        }
        let ntf = self.tfs.len();
        for i in 0..ntf {
            let b = feed as usize * ntf + i;
            for k in 0..self.buckets[b].len() {
                let open_ts = self.buckets[b][k].open_ts;
                for n in 0..self.buckets[b][k].symbols.len() {
                    let s = self.buckets[b][k].symbols[n];
                    let base = self.slot_base(s, i);
                    for bar in &mut self.open[base..base + self.slots_per] {
                        if bar.kind != 0 && bar.open_ts == open_ts {
                            bar.flags |= bar_flags::STALE;
                        }
                    }
                }
            }
        }
    }

    /// Closes every open bar of every feed (end of a finite input), in time order per
    /// timeframe. With empty bars on, intervals up to the last traded one are filled.
    pub fn finish(&mut self, closed: &mut impl FnMut(BarRecord)) {
        let ntf = self.tfs.len();
        for fi in 0..self.feeds.len() {
            for i in 0..ntf {
                let b = fi * ntf + i;
                if let Some(last) = self.buckets[b].back() {
                    let end = last.open_ts.saturating_add(self.tfs[i].nanos());
                    self.close_tf(fi, i, end, closed);
                }
            }
            self.feeds[fi].watermark = i64::MAX;
        }
    }

    fn advance(&mut self, feed: u32, wm: i64, closed: &mut impl FnMut(BarRecord)) {
        let fi = feed as usize;
        if wm <= self.feeds[fi].watermark {
            return;
        }
        self.feeds[fi].watermark = wm;
        if !self.drop_active.is_empty() {
            // Drop ranges wholly behind the watermark can no longer touch an open bar.
            let syms = &mut self.syms;
            self.drop_active.retain(|&s| {
                let st = &mut syms[s as usize];
                let expired = st.feed == feed && st.drop.is_some_and(|(_, hi)| hi < wm);
                if expired {
                    st.drop = None;
                }
                !expired
            });
        }
        // No bar ends before `next_due`: nothing to close yet.
        if wm < self.next_due[fi] && !self.emit_empty {
            return;
        }
        let ntf = self.tfs.len();
        let mut due = i64::MAX;
        for i in 0..ntf {
            self.close_tf(fi, i, wm, closed);
            if let Some(k) = self.buckets[fi * ntf + i].front() {
                due = due.min(k.open_ts.saturating_add(self.tf_ns[i]));
            }
        }
        self.next_due[fi] = due;
    }

    /// Closes the bars of feed `fi`, timeframe `i` that end at or before `wm`, in interval
    /// order; with empty bars on, also fills intervals without a trade.
    fn close_tf(&mut self, fi: usize, i: usize, wm: i64, closed: &mut impl FnMut(BarRecord)) {
        let ntf = self.tfs.len();
        let tf_ns = self.tfs[i].nanos();
        let b = fi * ntf + i;
        loop {
            let next_bucket = self.buckets[b].front().map(|k| k.open_ts);
            // The next interval to close: the next with a bar, or with empty bars on, the
            // one after the last closed (once the feed has history).
            let t = match (self.emit_empty, self.closed_upto[b], next_bucket) {
                (true, upto, Some(k)) if upto != i64::MIN => upto.min(k),
                (true, upto, None) if upto != i64::MIN => upto,
                (_, _, Some(k)) => k,
                (_, _, None) => return,
            };
            // Intervals that would end beyond i64::MAX never close.
            if t.checked_add(tf_ns).is_none_or(|end| end > wm) {
                return;
            }
            if next_bucket != Some(t) {
                // A run of empty intervals: keep at most MAX_EMPTY_RUN of them before the
                // next bar (or the watermark), so a long silence or a wild timestamp costs
                // a bounded amount; the rest are skipped and counted.
                let until = i128::from(next_bucket.unwrap_or(i64::MAX).min(wm));
                let run = (until - i128::from(t)) / i128::from(tf_ns);
                if run > MAX_EMPTY_RUN {
                    let skip = run - MAX_EMPTY_RUN;
                    let skipped = u64::try_from(skip).unwrap_or(u64::MAX);
                    self.counters.empty_skipped =
                        self.counters.empty_skipped.saturating_add(skipped);
                    let jumped = i128::from(t) + skip * i128::from(tf_ns);
                    self.closed_upto[b] = jumped.min(i128::from(i64::MAX)) as i64;
                    continue;
                }
            }
            if next_bucket == Some(t) {
                let mut bucket = self.buckets[b].pop_front().expect("checked");
                for (n, &s) in bucket.symbols.iter().enumerate() {
                    // Symbols in a bucket are scattered: fetch a few ahead.
                    if let Some(&ahead) = bucket.symbols.get(n + 8) {
                        let a = self.slot_base(ahead, i);
                        crate::prefetch::read(&self.open[a]);
                        crate::prefetch::read(&self.open[a + self.slots_per - 1]);
                    }
                    let base = self.slot_base(s, i);
                    if let Some(bar) = self.open[base..base + self.slots_per]
                        .iter_mut()
                        .find(|x| x.kind != 0 && x.open_ts == t)
                    {
                        let mut out = *bar;
                        out.flags |= bar_flags::CLOSED;
                        bar.kind = 0;
                        if self.emit_empty {
                            // History for empty bars; not worth a cache miss otherwise.
                            let h = s as usize * ntf + i;
                            self.last_close[h] = out.close;
                            self.last_end[h] = t.saturating_add(tf_ns);
                        }
                        self.counters.bars_closed += 1;
                        closed(out);
                    }
                }
                bucket.symbols.clear();
                self.pool.push(bucket.symbols);
            }
            if self.emit_empty {
                for k in 0..self.feed_symbols[fi].len() {
                    let s = self.feed_symbols[fi][k];
                    let h = s as usize * ntf + i;
                    let end = self.last_end[h];
                    if end == i64::MIN || end > t {
                        continue;
                    }
                    let c = self.last_close[h];
                    self.last_end[h] = t.saturating_add(tf_ns);
                    self.counters.bars_closed += 1;
                    self.counters.empty_bars += 1;
                    closed(BarRecord {
                        kind: Kind::Bar as u8,
                        tf: i as u8,
                        flags: bar_flags::CLOSED | bar_flags::EMPTY,
                        symbol: s,
                        open_ts: t,
                        open: c,
                        high: c,
                        low: c,
                        close: c,
                        volume_lo: 0,
                        volume_hi: 0,
                        count: 0,
                    });
                }
            }
            self.closed_upto[b] = t.saturating_add(tf_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Side;
    use crate::timeframe::NS_PER_SEC;

    const S: i64 = NS_PER_SEC;

    fn agg(tfs: &[&str], grace: i64, symbols: usize) -> BarAggregator {
        let cfg = AggregatorConfig {
            timeframes: tfs.iter().map(|t| t.parse().unwrap()).collect(),
            grace_ns: grace,
            emit_empty: false,
            max_future_ns: 0,
        };
        BarAggregator::new(&cfg, vec![0; symbols])
    }

    fn tr(sym: u32, ts: i64, price: i64, size: i64, id: u64) -> TradeRecord {
        TradeRecord::new(1, sym, ts, ts, price, size, Side::Buy, id)
    }

    fn feed(a: &mut BarAggregator, trades: &[TradeRecord]) -> Vec<BarRecord> {
        let mut out = Vec::new();
        for t in trades {
            a.on_trade(t, &mut |b| out.push(b), &mut |_| {});
        }
        out
    }

    #[test]
    fn ohlcv_of_one_bar_and_close_on_watermark() {
        let mut a = agg(&["1s"], 250_000_000, 1);
        let out = feed(
            &mut a,
            &[
                tr(0, 10 * S, 100, 1, 1),
                tr(0, 10 * S + 5, 105, 2, 2),
                tr(0, 10 * S + 7, 95, 3, 3),
                tr(0, 11 * S - 1, 101, 4, 4),
            ],
        );
        assert!(out.is_empty());
        // 11.25 s is when the watermark (newest - 250 ms) reaches 11 s.
        let out = feed(&mut a, &[tr(0, 11 * S + 250_000_000 - 1, 1, 1, 5)]);
        assert!(out.is_empty());
        let out = feed(&mut a, &[tr(0, 11 * S + 250_000_000, 1, 1, 6)]);
        assert_eq!(out.len(), 1);
        let b = out[0];
        assert_eq!(
            (b.open_ts, b.open, b.high, b.low, b.close, b.count),
            (10 * S, 100, 105, 95, 101, 4)
        );
        assert_eq!(b.volume(), 10);
        assert_eq!(b.flags, bar_flags::CLOSED);
    }

    #[test]
    fn boundary_trade_opens_the_next_bar() {
        let mut a = agg(&["1s"], 0, 1);
        let out = feed(&mut a, &[tr(0, 2 * S - 1, 1, 1, 1), tr(0, 2 * S, 2, 1, 2)]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].open_ts, out[0].close), (S, 1));
        let mut rest = Vec::new();
        a.finish(&mut |b| rest.push(b));
        assert_eq!((rest[0].open_ts, rest[0].close), (2 * S, 2));
    }

    #[test]
    fn late_duplicate_and_gap() {
        let mut a = agg(&["1s"], 250_000_000, 1);
        let mut out = feed(
            &mut a,
            &[
                tr(0, 10 * S, 100, 1, 10),
                tr(0, 10 * S + 900_000_000, 100, 1, 11),
            ],
        );
        // Within grace: 10.9 s newest, watermark 10.65 s; a trade at 10.1 s still counts.
        assert!(a.on_trade(
            &tr(0, 10 * S + 100_000_000, 90, 1, 12),
            &mut |b| out.push(b),
            &mut |_| {}
        ));
        // Watermark to 11.3 s: bar 10 closes; a trade for it is now late.
        out.extend(feed(&mut a, &[tr(0, 11 * S + 550_000_000, 100, 1, 13)]));
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].low, out[0].count), (90, 3));
        assert!(!a.on_trade(
            &tr(0, 10 * S + 999_999_999, 1, 1, 14),
            &mut |_| {},
            &mut |_| {}
        ));
        assert_eq!(a.counters().late, 1);
        // Duplicate id.
        assert!(!a.on_trade(
            &tr(0, 11 * S + 600_000_000, 1, 1, 13),
            &mut |_| {},
            &mut |_| {}
        ));
        assert_eq!(a.counters().duplicates, 1);
        // Gap: 15 after 13 (14 was late but seen).
        let mut updated = Vec::new();
        a.on_trade(
            &tr(0, 11 * S + 700_000_000, 1, 1, 16),
            &mut |_| {},
            &mut |b| updated.push(b),
        );
        assert_eq!(a.counters().gaps, 1);
        assert!(updated[0].flags & bar_flags::GAP != 0);
    }

    #[test]
    fn idle_feed_closes_bars_by_receive_time() {
        let mut a = agg(&["1s", "1m"], 250_000_000, 2);
        // Exchange clock 1 s behind the receive clock: elapsed receive time is what counts.
        let t = TradeRecord::new(1, 0, 10 * S, 11 * S, 5, 1, Side::Sell, 0);
        a.on_trade(&t, &mut |_| {}, &mut |_| {});
        let mut out = Vec::new();
        a.on_clock(0, 11 * S + 900_000_000, &mut |b| out.push(b));
        assert!(out.is_empty(), "watermark 10.65 s");
        a.on_clock(0, 12 * S + 250_000_000, &mut |b| out.push(b));
        assert_eq!(out.len(), 1, "watermark 11.0 s closes the 1 s bar only");
        a.on_clock(0, 71 * S + 250_000_000, &mut |b| out.push(b));
        assert_eq!(out.len(), 2);
        assert_eq!(a.timeframes()[out[1].tf as usize].secs(), 60);
    }

    #[test]
    fn lateness_is_per_timeframe() {
        let mut a = agg(&["1s", "1m"], 0, 1);
        feed(&mut a, &[tr(0, 10 * S, 1, 1, 0), tr(0, 11 * S, 1, 1, 0)]);
        let mut updated = Vec::new();
        assert!(
            a.on_trade(&tr(0, 10 * S + 1, 7, 1, 0), &mut |_| {}, &mut |b| updated
                .push(b))
        );
        assert_eq!(a.counters().late, 1);
        assert_eq!(updated.len(), 1);
        assert_eq!(
            (updated[0].tf, updated[0].count, updated[0].high),
            (1, 3, 7)
        );
    }

    #[test]
    fn drops_and_stale_flag_bars() {
        let mut a = agg(&["1s"], 250_000_000, 1);
        feed(&mut a, &[tr(0, 10 * S, 1, 1, 0)]);
        a.on_drops(0, 10 * S + 5, 10 * S + 6);
        a.on_feed_state(0, FeedState::Stale, 10 * S + 8);
        let mut updated = Vec::new();
        a.on_trade(&tr(0, 10 * S + 10, 1, 1, 0), &mut |_| {}, &mut |b| {
            updated.push(b)
        });
        assert_eq!(
            updated[0].flags & (bar_flags::INCOMPLETE | bar_flags::STALE),
            bar_flags::INCOMPLETE | bar_flags::STALE
        );
        a.on_feed_state(0, FeedState::Live, 11 * S + 500_000_000);
        let mut out = Vec::new();
        a.on_trade(
            &tr(0, 11 * S + 600_000_000, 1, 1, 0),
            &mut |b| out.push(b),
            &mut |b| updated.push(b),
        );
        assert!(
            updated.last().unwrap().flags & bar_flags::STALE != 0,
            "a bar opened after recovery that spans the outage is flagged"
        );
        a.on_trade(&tr(0, 12 * S, 1, 1, 0), &mut |b| out.push(b), &mut |b| {
            updated.push(b)
        });
        assert_eq!(
            updated.last().unwrap().flags,
            0,
            "a bar after recovery is clean"
        );
        assert!(out[0].flags & bar_flags::STALE != 0);
    }

    #[test]
    fn empty_intervals_emit_flat_bars_only_when_configured() {
        for emit_empty in [false, true] {
            let cfg = AggregatorConfig {
                timeframes: vec!["1s".parse().unwrap()],
                grace_ns: 0,
                emit_empty,
                max_future_ns: 0,
            };
            let mut a = BarAggregator::new(&cfg, vec![0, 0]);
            // Symbol 0 trades at 10 s and 13 s; symbol 1 only at 12 s.
            let mut out = feed(&mut a, &[tr(0, 10 * S, 7, 1, 0), tr(1, 12 * S, 9, 1, 0)]);
            out.extend(feed(&mut a, &[tr(0, 13 * S, 8, 1, 0)]));
            a.finish(&mut |b| out.push(b));
            let got: Vec<(u32, i64, i64, bool)> = out
                .iter()
                .map(|b| {
                    (
                        b.symbol,
                        b.open_ts / S,
                        b.close,
                        b.flags & bar_flags::EMPTY != 0,
                    )
                })
                .collect();
            if emit_empty {
                assert_eq!(
                    got,
                    vec![
                        (0, 10, 7, false),
                        (0, 11, 7, true),
                        (1, 12, 9, false),
                        (0, 12, 7, true),
                        (0, 13, 8, false),
                        (1, 13, 9, true),
                    ]
                );
                assert!(out
                    .iter()
                    .filter(|b| b.flags & bar_flags::EMPTY != 0)
                    .all(|b| b.count == 0 && b.volume() == 0));
                assert_eq!(a.counters().empty_bars, 3);
            } else {
                assert_eq!(
                    got,
                    vec![(0, 10, 7, false), (1, 12, 9, false), (0, 13, 8, false)]
                );
            }
        }
    }

    #[test]
    fn a_grace_beyond_the_slots_never_panics() {
        // Config refuses such a grace; the aggregator still copes: trades that find no
        // slot are counted as late.
        let mut a = agg(&["1s"], 20 * S, 1);
        assert!(AggregatorConfig {
            grace_ns: 20 * S,
            ..AggregatorConfig::default()
        }
        .validate()
        .is_err());
        for k in (0..15).rev() {
            a.on_trade(&tr(0, 100 * S + k * S, 1, 1, 0), &mut |_| {}, &mut |_| {});
        }
        assert!(a.counters().late > 0);
        let mut out = Vec::new();
        a.finish(&mut |b| out.push(b));
        assert_eq!(out.len() as u64 + a.counters().late, 15);
    }

    #[test]
    fn extreme_timestamps_never_overflow() {
        for emit_empty in [false, true] {
            let cfg = AggregatorConfig {
                emit_empty,
                max_future_ns: 0,
                ..AggregatorConfig::default()
            };
            let mut a = BarAggregator::new(&cfg, vec![0]);
            let mut bars = 0u64;
            for ts in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
                a.on_trade(&tr(0, ts, 1, 1, 0), &mut |_| bars += 1, &mut |_| {});
                a.on_drops(0, ts, ts);
                a.on_clock(0, i64::MAX, &mut |_| bars += 1);
            }
            a.finish(&mut |_| bars += 1);
            // Runs of empty bars are bounded however far time jumps.
            assert!(bars < 20 * MAX_EMPTY_RUN as u64, "{bars}");
        }
    }

    #[test]
    fn trades_from_the_future_are_refused() {
        let cfg = AggregatorConfig {
            max_future_ns: 60 * S,
            ..AggregatorConfig::default()
        };
        let mut a = BarAggregator::new(&cfg, vec![0]);
        let now = 1_700_000_000 * S;
        let at = |exch, recv| TradeRecord::new(1, 0, exch, recv, 1, 1, Side::Buy, 0);
        assert!(a.on_trade(&at(now + 59 * S, now), &mut |_| {}, &mut |_| {}));
        assert!(!a.on_trade(&at(now + 3600 * S, now), &mut |_| {}, &mut |_| {}));
        assert_eq!(a.counters().future, 1);
        // Historical data (a tick file, a replay) is far behind the receive clock: fine.
        assert!(a.on_trade(
            &at(now + 59 * S, now + 86_400 * S),
            &mut |_| {},
            &mut |_| {}
        ));
    }

    #[test]
    fn volume_is_exact_beyond_64_bits() {
        let mut a = agg(&["1s"], 0, 1);
        for i in 0..4 {
            a.on_trade(&tr(0, 10 * S + i, 1, i64::MAX, 0), &mut |_| {}, &mut |_| {});
        }
        let mut out = Vec::new();
        a.finish(&mut |b| out.push(b));
        assert_eq!(out[0].volume(), 4 * i64::MAX as u128);
    }
}
