//! OHLCV bars the conventional way: per timeframe a `HashMap<String, BaselineBar>` of the
//! open bar of each symbol.
//!
//! Semantics are tickforge's for input in exchange-time order: a trade belongs to the
//! epoch-aligned, half-open bar `[k·tf, (k+1)·tf)` holding its exchange time, labelled by
//! its open time; open/close are the first/last trade in arrival order, high/low the
//! extremes, volume the exact sum of sizes, count the trades. A symbol's bar closes when a
//! trade of a later interval for that symbol arrives, or at the end of input. A trade
//! older than the symbol's open bar (which tickforge would count as late once that bar's
//! watermark passed) is counted and left out of that timeframe. Trade ids are not checked
//! for duplicates or gaps.

use std::collections::HashMap;

use tickforge_engine::timeframe::Timeframe;

use super::wire::Trade;

/// One bar of one symbol and timeframe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BaselineBar {
    /// The venue's symbol.
    pub symbol: String,
    /// The bar's timeframe.
    pub timeframe: Timeframe,
    /// Open time (the label), ns since the Unix epoch.
    pub open_ts: i64,
    /// First trade's price, 1e-9 units.
    pub open: i64,
    /// Highest price.
    pub high: i64,
    /// Lowest price.
    pub low: i64,
    /// Last trade's price.
    pub close: i64,
    /// Sum of sizes, 1e-9 units.
    pub volume: u128,
    /// Number of trades.
    pub count: u32,
}

impl BaselineBar {
    /// A bar opened by `t`.
    fn first(t: &Trade, timeframe: Timeframe, open_ts: i64) -> BaselineBar {
        BaselineBar {
            symbol: t.symbol.clone(),
            timeframe,
            open_ts,
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: t.size.unsigned_abs().into(),
            count: 1,
        }
    }

    /// Adds a trade of the bar's interval.
    fn add(&mut self, t: &Trade) {
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        self.close = t.price;
        self.volume += u128::from(t.size.unsigned_abs());
        self.count = self.count.saturating_add(1);
    }
}

/// The open bars of every symbol, per timeframe.
#[derive(Debug)]
pub struct BarBook {
    frames: Vec<(Timeframe, HashMap<String, BaselineBar>)>,
    late: u64,
}

impl BarBook {
    /// A book for `timeframes`.
    pub fn new(timeframes: &[Timeframe]) -> BarBook {
        BarBook {
            frames: timeframes.iter().map(|&tf| (tf, HashMap::new())).collect(),
            late: 0,
        }
    }

    /// Adds a trade; bars it closes go to `closed`.
    pub fn on_trade(&mut self, t: &Trade, closed: &mut impl FnMut(BaselineBar)) {
        let mut late = false;
        for (tf, bars) in &mut self.frames {
            let open_ts = tf.bar_open(t.exch_ts);
            match bars.get_mut(t.symbol.as_str()) {
                Some(bar) if bar.open_ts == open_ts => bar.add(t),
                Some(bar) if bar.open_ts < open_ts => {
                    closed(std::mem::replace(bar, BaselineBar::first(t, *tf, open_ts)));
                }
                Some(_) => late = true,
                None => {
                    bars.insert(t.symbol.clone(), BaselineBar::first(t, *tf, open_ts));
                }
            }
        }
        self.late += u64::from(late);
    }

    /// End of input: closes every open bar, in timeframe, symbol order.
    pub fn finish(&mut self, closed: &mut impl FnMut(BaselineBar)) {
        for (_, bars) in &mut self.frames {
            let mut open: Vec<BaselineBar> = bars.drain().map(|(_, b)| b).collect();
            open.sort_unstable_by(|a, b| a.symbol.cmp(&b.symbol));
            open.into_iter().for_each(&mut *closed);
        }
    }

    /// Trades older than their symbol's open bar in at least one timeframe.
    pub fn late(&self) -> u64 {
        self.late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn trade(symbol: &str, exch_ts: i64, price: i64, size: i64) -> Trade {
        Trade {
            symbol: symbol.into(),
            exch_ts,
            price,
            size,
            trade_id: 0,
            buyer_maker: false,
        }
    }

    #[test]
    fn bars_close_on_a_later_interval_and_at_the_end() {
        let tfs: Vec<Timeframe> = ["1s", "1m"].iter().map(|t| t.parse().unwrap()).collect();
        let mut book = BarBook::new(&tfs);
        let mut out = Vec::new();
        let base = 1_700_000_040 * S;
        book.on_trade(&trade("A", base, 10, 1), &mut |b| out.push(b));
        book.on_trade(&trade("A", base + S - 1, 12, 2), &mut |b| out.push(b));
        book.on_trade(&trade("B", base + S, 9, 3), &mut |b| out.push(b));
        assert!(out.is_empty(), "another symbol closes nothing");
        book.on_trade(&trade("A", base + S, 8, 4), &mut |b| out.push(b));
        assert_eq!(out.len(), 1);
        assert_eq!(
            (
                out[0].open_ts,
                out[0].open,
                out[0].high,
                out[0].low,
                out[0].close
            ),
            (base, 10, 12, 10, 12)
        );
        assert_eq!((out[0].volume, out[0].count), (3, 2));
        // Older than A's open 1 s bar: late there, left out; it still counts in the
        // open 1 m bar (`base` is on a minute).
        book.on_trade(&trade("A", base, 100, 1), &mut |b| out.push(b));
        assert_eq!(book.late(), 1);
        out.clear();
        book.finish(&mut |b| out.push(b));
        let keys: Vec<_> = out
            .iter()
            .map(|b| (b.timeframe.secs(), b.symbol.as_str(), b.open_ts, b.count))
            .collect();
        assert_eq!(
            keys,
            [
                (1, "A", base + S, 1),
                (1, "B", base + S, 1),
                (60, "A", base, 4),
                (60, "B", base, 1),
            ]
        );
    }
}
