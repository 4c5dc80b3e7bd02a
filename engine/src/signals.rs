//! Signals on closed bars, exactly as DESIGN.md defines them, in exact integer arithmetic.
//!
//! Each takes the **previous** closed bars, newest first (the new bar is not among them),
//! and the new bar, and needs enough previous bars to be defined; until then it never fires.
//! - `breakout`: the close above the highest high, or below the lowest low, of the
//!   previous N bars.
//! - `sma_cross`: the SMA(fast) of closes crosses the SMA(slow): on the previous bar
//!   `fast <= slow` and on this bar `fast > slow` (up), or the mirror (down).
//! - `vol_spike`: volume above k × the mean volume of the previous N bars.

use crate::patterns::Pattern;
use crate::record::{BarRecord, Kind, SignalKind, SignalRecord};

/// Parameters of the signals for one timeframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalParams {
    /// `breakout` lookback in bars; 0 disables.
    pub breakout_lookback: usize,
    /// `sma_cross` fast period; 0 disables.
    pub sma_fast: usize,
    /// `sma_cross` slow period.
    pub sma_slow: usize,
    /// `vol_spike` lookback in bars; 0 disables.
    pub vol_lookback: usize,
    /// `vol_spike` multiple of the mean volume, in thousandths (3000 = 3×).
    pub vol_factor_milli: u64,
    /// Evaluate candlestick patterns.
    pub patterns: bool,
}

impl Default for SignalParams {
    fn default() -> Self {
        SignalParams {
            breakout_lookback: 20,
            sma_fast: 5,
            sma_slow: 20,
            vol_lookback: 20,
            vol_factor_milli: 3000,
            patterns: true,
        }
    }
}

impl SignalParams {
    /// The most previous bars any signal of these parameters needs.
    pub fn lookback(&self) -> usize {
        self.breakout_lookback
            .max(self.sma_slow + 1)
            .max(self.vol_lookback)
            .max(if self.patterns {
                crate::patterns::MAX_LOOKBACK
            } else {
                0
            })
    }
}

/// The lower-case name of a signal code: `breakout`, `sma_cross`, `vol_spike`, or a
/// candlestick pattern's `cdl_*` name.
pub fn signal_name(code: u16) -> Option<&'static str> {
    SignalKind::from_u16(code)
        .map(SignalKind::name)
        .or_else(|| Pattern::from_code(code).map(Pattern::name))
}

/// Relative distance of `value` beyond `level`, in 1e-9 units, clamped to i64.
fn relative(value: i128, level: i128) -> i64 {
    if level == 0 {
        return 0;
    }
    ((value - level) * 1_000_000_000 / level).clamp(i128::from(i64::MIN), i128::from(i64::MAX))
        as i64
}

/// A signal record for `bar`.
pub fn signal_record(
    bar: &BarRecord,
    code: u16,
    value: i32,
    strength: i64,
    level: i64,
) -> SignalRecord {
    SignalRecord {
        kind: Kind::Signal as u8,
        tf: bar.tf,
        flags: bar.flags,
        symbol: bar.symbol,
        bar_open_ts: bar.open_ts,
        signal: code,
        direction: value.signum() as i8,
        reserved0: 0,
        value,
        strength,
        level,
        close: bar.close,
        reserved: [0; 2],
    }
}

/// `breakout` over the previous `lookback` bars.
pub fn breakout(prev: &[BarRecord], bar: &BarRecord, lookback: usize) -> Option<SignalRecord> {
    if lookback == 0 || prev.len() < lookback {
        return None;
    }
    let (mut hi, mut lo) = (i64::MIN, i64::MAX);
    for b in (0..lookback).filter_map(|k| prev.get(k).copied()) {
        hi = hi.max(b.high);
        lo = lo.min(b.low);
    }
    let close = i128::from(bar.close);
    let code = SignalKind::Breakout as u16;
    if bar.close > hi {
        Some(signal_record(
            bar,
            code,
            100,
            relative(close, hi.into()),
            hi,
        ))
    } else if bar.close < lo {
        Some(signal_record(
            bar,
            code,
            -100,
            relative(close, lo.into()),
            lo,
        ))
    } else {
        None
    }
}

/// Sum of the closes of the `n` bars ending `skip` bars back in `prev`.
fn closes(prev: &[BarRecord], skip: usize, n: usize) -> i128 {
    (skip..skip + n)
        .filter_map(|k| prev.get(k).copied())
        .map(|b| i128::from(b.close))
        .sum()
}

/// `sma_cross` with periods `fast` < `slow`: needs `slow` previous bars.
pub fn sma_cross(
    prev: &[BarRecord],
    bar: &BarRecord,
    fast: usize,
    slow: usize,
) -> Option<SignalRecord> {
    if fast == 0 || slow <= fast || prev.len() < slow {
        return None;
    }
    let c = i128::from(bar.close);
    // Sums of the last `fast` and `slow` closes, now (with the new bar) and one bar before.
    let fast_now = c + closes(prev, 0, fast - 1);
    let slow_now = c + closes(prev, 0, slow - 1);
    let fast_prev = closes(prev, 0, fast);
    let slow_prev = closes(prev, 0, slow);
    let (f, s) = (fast as i128, slow as i128);
    // fast/f > slow/s  ⇔  fast·s > slow·f, exactly.
    let above_now = fast_now * s > slow_now * f;
    let above_prev = fast_prev * s > slow_prev * f;
    let below_now = fast_now * s < slow_now * f;
    let below_prev = fast_prev * s < slow_prev * f;
    let value = if !above_prev && above_now {
        100
    } else if !below_prev && below_now {
        -100
    } else {
        return None;
    };
    let level = (slow_now / s).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let strength = relative(fast_now * s, slow_now * f);
    Some(signal_record(
        bar,
        SignalKind::SmaCross as u16,
        value,
        strength,
        level,
    ))
}

/// `vol_spike`: volume above `factor_milli`/1000 × the mean of the previous `lookback` bars.
pub fn vol_spike(
    prev: &[BarRecord],
    bar: &BarRecord,
    lookback: usize,
    factor_milli: u64,
) -> Option<SignalRecord> {
    if lookback == 0 || prev.len() < lookback {
        return None;
    }
    let sum: u128 = (0..lookback)
        .filter_map(|k| prev.get(k).copied())
        .map(|b| b.volume())
        .sum();
    let v = bar.volume();
    // v > factor · sum / n  ⇔  v · n · 1000 > factor_milli · sum (volumes < 2^96: no overflow).
    if v * lookback as u128 * 1000 <= u128::from(factor_milli) * sum {
        return None;
    }
    let mean = sum / lookback as u128;
    let value = if bar.close >= bar.open { 100 } else { -100 };
    let level = mean.min(i64::MAX as u128) as i64;
    // Strength: the volume as a multiple of the mean, in 1e-9 units.
    let strength = (v * 1_000_000_000)
        .checked_div(mean)
        .map_or(i64::MAX, |r| r.min(i64::MAX as u128) as i64);
    Some(signal_record(
        bar,
        SignalKind::VolSpike as u16,
        value,
        strength,
        level,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(high: i64, low: i64, close: i64, volume: u128) -> BarRecord {
        let mut b = BarRecord {
            kind: Kind::Bar as u8,
            high,
            low,
            close,
            open: close,
            ..Default::default()
        };
        b.set_volume(volume);
        b
    }

    /// The previous bars newest first, as the scanner hands them over.
    fn window(bars: &[BarRecord]) -> Vec<BarRecord> {
        bars.iter().rev().copied().collect()
    }

    #[test]
    fn breakout_compares_with_previous_bars_only() {
        let prev = window(&[
            bar(110, 90, 100, 1),
            bar(120, 95, 100, 1),
            bar(130, 99, 125, 1),
        ]);
        assert!(
            breakout(&prev, &bar(131, 100, 131, 1), 4).is_none(),
            "needs 4 previous bars"
        );
        let s = breakout(&prev, &bar(131, 100, 131, 1), 3).unwrap();
        assert_eq!((s.direction, s.value, s.level), (1, 100, 130));
        assert_eq!(s.strength, 1_000_000_000 / 130);
        assert!(
            breakout(&prev, &bar(131, 100, 130, 1), 3).is_none(),
            "equal is not beyond"
        );
        let s = breakout(&prev, &bar(100, 80, 89, 1), 3).unwrap();
        assert_eq!((s.direction, s.level), (-1, 90));
    }

    #[test]
    fn sma_cross_fires_on_the_crossing_bar_only() {
        // 3/5 SMA. Flat at 10, then a rise.
        let flat: Vec<BarRecord> = (0..5).map(|_| bar(10, 10, 10, 1)).collect();
        let prev = window(&flat);
        // fast = (10·2+20)/3 = 13.3 > slow = (10·4+20)/5 = 12: previous fast == slow → up.
        let s = sma_cross(&prev, &bar(20, 20, 20, 1), 3, 5).unwrap();
        assert_eq!((s.value, s.level), (100, 12));
        // Equal SMAs now: no cross.
        assert!(sma_cross(&prev, &bar(10, 10, 10, 1), 3, 5).is_none());
        // Once above, staying above does not fire again.
        let mut up = flat.clone();
        up.push(bar(20, 20, 20, 1));
        assert!(sma_cross(&window(&up), &bar(20, 20, 20, 1), 3, 5).is_none());
        // A fall crosses down.
        let s = sma_cross(&prev, &bar(1, 1, 1, 1), 3, 5).unwrap();
        assert_eq!(s.value, -100);
        // Not enough history.
        assert!(sma_cross(&window(&flat[..4]), &bar(20, 20, 20, 1), 3, 5).is_none());
    }

    #[test]
    fn vol_spike_is_strictly_above_k_times_the_mean() {
        let prev = window(&[bar(1, 1, 1, 10), bar(1, 1, 1, 20), bar(1, 1, 1, 30)]);
        // Mean 20, 3× = 60.
        assert!(vol_spike(&prev, &bar(1, 1, 1, 60), 3, 3000).is_none());
        let s = vol_spike(&prev, &bar(1, 1, 1, 61), 3, 3000).unwrap();
        assert_eq!((s.value, s.level), (100, 20));
        assert_eq!(s.strength, 3_050_000_000);
        assert!(
            vol_spike(&prev, &bar(1, 1, 1, 61), 4, 3000).is_none(),
            "needs 4 previous bars"
        );
        // Volumes beyond 64 bits stay exact.
        let big = 1u128 << 90;
        let prev = window(&[bar(1, 1, 1, big), bar(1, 1, 1, big)]);
        assert!(vol_spike(&prev, &bar(1, 1, 1, 3 * big), 2, 3000).is_none());
        assert!(vol_spike(&prev, &bar(1, 1, 1, 3 * big + 1), 2, 3000).is_some());
    }
}
