//! Candle settings and the per-bar quantities TA-Lib's candlestick functions compare.
//!
//! TA-Lib judges a body or a shadow against a *candle setting*: a range type (real body,
//! high-low range, or both shadows), an averaging period and a factor. With a period `N`
//! the yardstick for the candle at position `k` is
//!
//! ```text
//! factor * (sum of the range over the N bars before k / N) / (2 for shadows, else 1)
//! ```
//!
//! and with `N = 0` it is the candle's own range times the factor. The bars averaged are
//! always the `N` bars *before* the candle being judged, so in a 3-candle pattern the first
//! candle's yardstick covers the 10 bars before the first candle, not before the last.
//!
//! [`Series`] holds the newest bars of one symbol as `f64` and evaluates these yardsticks
//! with TA-Lib's exact operation order (see the module documentation of
//! [`crate::patterns`] for why that is bit-compatible).

use std::cell::Cell;

use crate::fixed::ONE;
use crate::record::BarRecord;

/// What a candle setting measures on a bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeType {
    /// `|close - open|`.
    RealBody,
    /// `high - low`.
    HighLow,
    /// Upper plus lower shadow; the average is halved (one shadow on average).
    Shadows,
}

/// One of TA-Lib's candle settings (`TA_CandleSetting`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CandleSetting {
    /// What is measured.
    pub range: RangeType,
    /// Number of previous bars averaged; 0 means the bar's own range.
    pub period: usize,
    /// Multiplier applied to the average.
    pub factor: f64,
}

impl CandleSetting {
    const fn new(range: RangeType, period: usize, factor: f64) -> Self {
        CandleSetting {
            range,
            period,
            factor,
        }
    }
}

/// TA-Lib default: a real body is long when longer than the mean body of the previous 10.
pub const BODY_LONG: CandleSetting = CandleSetting::new(RangeType::RealBody, 10, 1.0);
/// TA-Lib default: very long is 3 × the mean body of the previous 10.
pub const BODY_VERY_LONG: CandleSetting = CandleSetting::new(RangeType::RealBody, 10, 3.0);
/// TA-Lib default: a real body is short when shorter than the mean body of the previous 10.
pub const BODY_SHORT: CandleSetting = CandleSetting::new(RangeType::RealBody, 10, 1.0);
/// TA-Lib default: a doji body is at most 10% of the mean high-low range of the previous 10.
pub const BODY_DOJI: CandleSetting = CandleSetting::new(RangeType::HighLow, 10, 0.1);
/// TA-Lib default: a shadow is long when longer than the bar's own real body.
pub const SHADOW_LONG: CandleSetting = CandleSetting::new(RangeType::RealBody, 0, 1.0);
/// TA-Lib default: a shadow is very long when longer than 2 × the bar's own real body.
pub const SHADOW_VERY_LONG: CandleSetting = CandleSetting::new(RangeType::RealBody, 0, 2.0);
/// TA-Lib default: a shadow is short when shorter than the mean shadow of the previous 10.
pub const SHADOW_SHORT: CandleSetting = CandleSetting::new(RangeType::Shadows, 10, 1.0);
/// TA-Lib default: a shadow is very short when shorter than 10% of the mean high-low range
/// of the previous 10.
pub const SHADOW_VERY_SHORT: CandleSetting = CandleSetting::new(RangeType::HighLow, 10, 0.1);
/// TA-Lib default: "near" is 20% of the mean high-low range of the previous 5.
pub const NEAR: CandleSetting = CandleSetting::new(RangeType::HighLow, 5, 0.2);
/// TA-Lib default: "far" is 60% of the mean high-low range of the previous 5.
pub const FAR: CandleSetting = CandleSetting::new(RangeType::HighLow, 5, 0.6);
/// TA-Lib default: "equal" is 5% of the mean high-low range of the previous 5.
pub const EQUAL: CandleSetting = CandleSetting::new(RangeType::HighLow, 5, 0.05);

/// Largest magnitude (2^53) up to which a nano-unit integer converts to `f64` exactly.
const EXACT_NANOS: u64 = 1 << 53;

/// A fixed-point price (1e-9 units) as the `f64` nearest to its decimal value — the same
/// `f64` that parsing the price's decimal text (`float("25.3519")`) gives.
///
/// Up to 2^53 nano-units (about 9,007,199.25) the integer converts exactly and one IEEE
/// division by 1e9 rounds correctly. Above that the integer itself would round first, so
/// the decimal text is parsed instead (on the stack, no allocation).
pub fn price_to_f64(nanos: i64) -> f64 {
    if nanos.unsigned_abs() <= EXACT_NANOS {
        nanos as f64 / ONE as f64
    } else {
        parse_nanos(nanos)
    }
}

/// Correctly rounded conversion through the decimal text `[-]int.fffffffff`.
fn parse_nanos(nanos: i64) -> f64 {
    let mut buf = [0u8; 24];
    let mut at = buf.len();
    let mut push = |b: u8| {
        at -= 1;
        buf[at] = b;
    };
    let abs = nanos.unsigned_abs();
    let (mut int, mut frac) = (abs / ONE as u64, abs % ONE as u64);
    for _ in 0..9 {
        push(b'0' + (frac % 10) as u8);
        frac /= 10;
    }
    push(b'.');
    loop {
        push(b'0' + (int % 10) as u8);
        int /= 10;
        if int == 0 {
            break;
        }
    }
    if nanos < 0 {
        push(b'-');
    }
    std::str::from_utf8(&buf[at..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// One bar as TA-Lib sees it: prices as `f64` and the ranges derived from them, each
/// computed with TA-Lib's expression (`TA_REALBODY`, `TA_UPPERSHADOW`, …).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Candle {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// `|close - open|`.
    pub body: f64,
    /// `high - low`.
    pub range: f64,
    /// `high - max(open, close)`.
    pub upper: f64,
    /// `min(open, close) - low`.
    pub lower: f64,
}

impl Candle {
    /// A candle from its open, high, low and close as `f64`.
    fn new([open, high, low, close]: [f64; 4]) -> Self {
        let white = close >= open;
        Candle {
            open,
            high,
            low,
            close,
            body: (close - open).abs(),
            range: high - low,
            upper: high - (if white { close } else { open }),
            lower: (if white { open } else { close }) - low,
        }
    }

    /// TA-Lib's candle color: 1 for white (`close >= open`, so a flat bar is white), -1
    /// for black.
    pub fn color(&self) -> i32 {
        if self.close >= self.open {
            1
        } else {
            -1
        }
    }

    /// `max(open, close)`: the top of the real body.
    pub fn top(&self) -> f64 {
        self.open.max(self.close)
    }

    /// `min(open, close)`: the bottom of the real body.
    pub fn bottom(&self) -> f64 {
        self.open.min(self.close)
    }

    /// The quantity a candle setting measures on this bar (`TA_CANDLERANGE`).
    fn measure(&self, range: RangeType) -> f64 {
        match range {
            RangeType::RealBody => self.body,
            RangeType::HighLow => self.range,
            RangeType::Shadows => self.upper + self.lower,
        }
    }
}

/// Candles held by a [`Series`]: the bar being evaluated and up to this many before it
/// (enough for the longest TA-Lib lookback used here).
pub(crate) const SERIES_LEN: usize = super::MAX_LOOKBACK + 1;

/// A bar's open, high, low and close, the prices a [`Series`] reads.
pub(crate) fn ohlc(bar: &BarRecord) -> [i64; 4] {
    [bar.open, bar.high, bar.low, bar.close]
}

/// Positions whose means [`Series`] keeps once computed: the candles of a pattern of up to
/// three candles.
const CACHED_POSITIONS: usize = 3;

/// A mean not computed yet (a mean of finite ranges is never NaN).
#[allow(clippy::declare_interior_mutable_const)]
const NOT_YET: Cell<f64> = Cell::new(f64::NAN);

/// The bar being evaluated and the bars before it, newest first, as [`Candle`]s.
pub(crate) struct Series {
    candles: [Candle; SERIES_LEN],
    len: usize,
    /// Mean ranges before positions 0..3, by range type and period (5 or 10): many
    /// patterns ask for the same ones.
    means: [Cell<f64>; 3 * 2 * CACHED_POSITIONS],
}

impl Series {
    /// `bar` at position 0 and the previous bars after it, `prev` yielding them newest
    /// first; at most `SERIES_LEN - 1` of them are read.
    pub fn new(bar: &BarRecord, prev: impl Iterator<Item = [i64; 4]>) -> Self {
        let mut nanos = [[0i64; 4]; SERIES_LEN];
        nanos[0] = ohlc(bar);
        let mut len = 1;
        for (slot, p) in nanos[1..].iter_mut().zip(prev) {
            *slot = p;
            len += 1;
        }
        // All prices in one tight loop the compiler can vectorize (the division is the
        // cost); the rare price beyond 2^53 nano-units is redone through its text.
        let mut prices = [[0f64; 4]; SERIES_LEN];
        for (p, n) in prices.iter_mut().zip(&nanos) {
            let f = n.map(|n| n as f64);
            *p = [f[0] / 1e9, f[1] / 1e9, f[2] / 1e9, f[3] / 1e9];
        }
        // |n| > 2^53, as one unsigned comparison.
        let big = |n: i64| (n as u64).wrapping_add(EXACT_NANOS) > 2 * EXACT_NANOS;
        if nanos.iter().flatten().fold(false, |any, &n| any | big(n)) {
            for (p, &n) in prices.iter_mut().flatten().zip(nanos.iter().flatten()) {
                if big(n) {
                    *p = parse_nanos(n);
                }
            }
        }
        Series {
            // Unused slots past `len` hold zeros and are never read.
            candles: prices.map(Candle::new),
            len,
            means: [NOT_YET; 3 * 2 * CACHED_POSITIONS],
        }
    }

    /// The candle `k` bars before the evaluated one (`k = 0` is the evaluated bar).
    ///
    /// Callers only ask for positions inside their pattern's lookback, which `scan` has
    /// checked are present.
    pub fn at(&self, k: usize) -> &Candle {
        debug_assert!(k < self.len, "candle {k} outside the series");
        &self.candles[k]
    }

    /// The mean of `range` over the `period` bars before position `k`: their sum, added
    /// oldest first (as TA-Lib adds up its initial period), divided by `period`.
    #[inline(always)]
    fn mean(&self, range: RangeType, period: usize, k: usize) -> f64 {
        let compute = || {
            debug_assert!(k + period < self.len, "mean past the series");
            let mut sum = 0.0;
            for c in self.candles[k + 1..=k + period].iter().rev() {
                sum += c.measure(range);
            }
            sum / period as f64
        };
        let slot = match period {
            5 => 0,
            10 => 1,
            _ => return compute(),
        };
        if k >= CACHED_POSITIONS {
            return compute();
        }
        let cell = &self.means[(range as usize * 2 + slot) * CACHED_POSITIONS + k];
        let mut mean = cell.get();
        if mean.is_nan() {
            mean = compute();
            cell.set(mean);
        }
        mean
    }

    /// The yardstick of `setting` for the candle at position `k` (`TA_CANDLEAVERAGE`):
    /// `factor * (sum / period) / divisor`, the sum running over the `period` bars before
    /// `k`, oldest first.
    #[inline(always)]
    pub fn avg(&self, setting: CandleSetting, k: usize) -> f64 {
        let base = if setting.period != 0 {
            self.mean(setting.range, setting.period, k)
        } else {
            self.at(k).measure(setting.range)
        };
        let avg = setting.factor * base;
        // TA-Lib divides by 2.0 for shadows and by 1.0 otherwise; both are exact, so
        // halving and leaving alone give the same bits.
        if setting.range == RangeType::Shadows {
            avg * 0.5
        } else {
            avg
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_convert_like_parsing_their_decimal_text() {
        for (nanos, text) in [
            (25_351_900_000, "25.3519"),
            (100_000_000, "0.1"),
            (1, "0.000000001"),
            (-3_300_000_000, "-3.3"),
            (9_007_199_254_740_993, "9007199.254740993"),
            (12_345_678_123_456_789, "12345678.123456789"),
            (i64::MAX, "9223372036.854775807"),
            (i64::MIN, "-9223372036.854775808"),
        ] {
            let want: f64 = text.parse().unwrap();
            assert_eq!(price_to_f64(nanos).to_bits(), want.to_bits(), "{text}");
        }
    }

    #[test]
    fn a_series_converts_every_price_like_price_to_f64() {
        // 12345678.123456789: beyond 2^53 nano-units, where converting the integer and
        // then dividing rounds twice and lands on another f64.
        let big = 12_345_678_123_456_789;
        assert_ne!(big as f64 / 1e9, price_to_f64(big));
        let prices = [
            [
                100_000_000_000,
                101_250_000_000,
                98_750_000_000,
                100_500_000_000,
            ],
            [big, big + 2, big - 2, big + 1],
            [-big, 9_007_199_254_740_993, 1, i64::MAX],
        ];
        let bar = BarRecord {
            open: prices[0][0],
            high: prices[0][1],
            low: prices[0][2],
            close: prices[0][3],
            ..Default::default()
        };
        let s = Series::new(&bar, prices[1..].iter().copied());
        assert_eq!(s.len, 3);
        for (k, p) in prices.iter().enumerate() {
            let c = s.at(k);
            let got = [c.open, c.high, c.low, c.close].map(f64::to_bits);
            assert_eq!(got, p.map(|n| price_to_f64(n).to_bits()), "candle {k}");
        }
    }

    #[test]
    fn text_path_agrees_with_the_exact_path() {
        // Below 2^53 the division is provably the correctly rounded value; the text path
        // must give the same bits there.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x % (1 << 53)) as i64;
            for n in [v, -v, v % 1_000_000_000_000] {
                assert_eq!(price_to_f64(n).to_bits(), parse_nanos(n).to_bits(), "{n}");
            }
        }
    }
}
