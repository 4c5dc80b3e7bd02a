//! Same frames, same outputs: the closed bars tickforge published compared with the
//! baseline pipeline's.
//!
//! Both runs of a rate step get the same frame sequence (same trades, ids, sizes and
//! exchange times, which depend only on a frame's index), but each for as long as the
//! step lasts, so one may get more frames than the other. The bars compared are those
//! both runs saw whole: every bar when both got the same number of frames, otherwise the
//! bars that end no later than the exchange time of the last frame both got (every trade
//! of such a bar is in the common prefix). Bars are compared field by field: symbol,
//! timeframe, open time, open, high, low, close, volume, trade count.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tickforge_engine::record::BarRecord;

use crate::baseline::BaselineBar;

/// A closed bar, as either system published it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BarRow {
    /// The symbol's name.
    pub symbol: String,
    /// Timeframe, seconds.
    pub tf_secs: u32,
    /// Open time (the label), ns since the Unix epoch.
    pub open_ts: i64,
    /// First price, 1e-9 units.
    pub open: i64,
    /// Highest price.
    pub high: i64,
    /// Lowest price.
    pub low: i64,
    /// Last price.
    pub close: i64,
    /// Sum of sizes, 1e-9 units.
    pub volume: u128,
    /// Trades.
    pub count: u32,
    /// tickforge's bar flags (`closed`, `incomplete`, …); 1 (`closed`) for the baseline.
    pub flags: u16,
}

impl BarRow {
    /// A tickforge bar; `names` by symbol id, `tf_secs` by timeframe index.
    pub fn from_record(b: &BarRecord, names: &[String], tf_secs: &[u32]) -> BarRow {
        BarRow {
            symbol: names
                .get(b.symbol as usize)
                .cloned()
                .unwrap_or_else(|| format!("#{}", b.symbol)),
            tf_secs: tf_secs.get(usize::from(b.tf)).copied().unwrap_or(0),
            open_ts: b.open_ts,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume(),
            count: b.count,
            flags: b.flags,
        }
    }

    /// A baseline bar.
    pub fn from_baseline(b: &BaselineBar) -> BarRow {
        BarRow {
            symbol: b.symbol.clone(),
            tf_secs: b.timeframe.secs(),
            open_ts: b.open_ts,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            count: b.count,
            flags: tickforge_engine::record::bar_flags::CLOSED,
        }
    }

    /// The bar without its flags, for comparison.
    fn key(&self) -> BarRow {
        BarRow {
            flags: 0,
            ..self.clone()
        }
    }

    /// The end of the bar's interval, ns.
    fn end_ns(&self) -> i64 {
        self.open_ts
            .saturating_add(i64::from(self.tf_secs) * 1_000_000_000)
    }
}

/// What the comparison found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Comparison {
    /// Bars both should have, compared.
    pub compared: u64,
    /// Bars of the compared range that only tickforge published.
    pub only_tickforge: u64,
    /// Bars of the compared range that only the baseline published.
    pub only_baseline: u64,
    /// Whether the compared bars are equal; `None` when no bar was in range (a short
    /// common prefix that holds no whole bar).
    pub equal: Option<bool>,
    /// Whether every bar was in range (both runs got the same frames).
    pub whole_run: bool,
    /// The first difference, if any.
    pub first_difference: Option<String>,
}

/// Compares the bars of two runs that got `tickforge_frames` and `baseline_frames` frames
/// of the same sequence; `last_common_ns` is the exchange time of the last frame both got.
pub fn compare_bars(
    tickforge: &[BarRow],
    baseline: &[BarRow],
    same_frames: bool,
    last_common_ns: i64,
) -> Comparison {
    let in_range = |b: &&BarRow| same_frames || b.end_ns() <= last_common_ns;
    let ours: BTreeSet<BarRow> = tickforge.iter().filter(in_range).map(BarRow::key).collect();
    let theirs: BTreeSet<BarRow> = baseline.iter().filter(in_range).map(BarRow::key).collect();
    let only_ours: Vec<&BarRow> = ours.difference(&theirs).collect();
    let only_theirs: Vec<&BarRow> = theirs.difference(&ours).collect();
    let first_difference = match (only_ours.first(), only_theirs.first()) {
        (None, None) => None,
        (a, b) => Some(format!("tickforge {a:?}, baseline {b:?}")),
    };
    Comparison {
        compared: ours.union(&theirs).count() as u64,
        only_tickforge: only_ours.len() as u64,
        only_baseline: only_theirs.len() as u64,
        equal: (!ours.is_empty() || !theirs.is_empty())
            .then_some(only_ours.is_empty() && only_theirs.is_empty()),
        whole_run: same_frames,
        first_difference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(symbol: &str, open_s: i64, count: u32) -> BarRow {
        BarRow {
            symbol: symbol.into(),
            tf_secs: 1,
            open_ts: open_s * 1_000_000_000,
            open: 1,
            high: 2,
            low: 1,
            close: 2,
            volume: 10,
            count,
            flags: 1,
        }
    }

    #[test]
    fn only_bars_in_the_common_prefix_are_compared() {
        let ours = vec![bar("A", 10, 5), bar("A", 11, 7), bar("A", 12, 3)];
        let theirs = vec![bar("A", 10, 5), bar("A", 11, 2)];
        // The shorter run ended inside second 11: only second 10 is whole in both.
        let c = compare_bars(&ours, &theirs, false, 11_500_000_000);
        assert_eq!(c.equal, Some(true), "{c:?}");
        assert_eq!(c.compared, 1);
        let c = compare_bars(&ours, &theirs, true, 0);
        assert_eq!(c.equal, Some(false));
        assert_eq!((c.only_tickforge, c.only_baseline), (2, 1));
        assert!(c.first_difference.is_some());
        // A common prefix too short to hold a whole bar compares nothing.
        let c = compare_bars(&ours, &theirs, false, 10_500_000_000);
        assert_eq!((c.compared, c.equal), (0, None));
    }
}
