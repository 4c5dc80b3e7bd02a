//! Candle settings and the per-bar quantities TA-Lib's candlestick functions compare.
//!
//! TA-Lib judges a body or a shadow against a *candle setting*: a range type (real body,
//! high-low range, or both shadows), an averaging period and a factor. With a period `N`
//! the yardstick for the candle at position `k` is
//!
//! ```text
//! factor * (sum of the range over the N bars before k) / N / (2 for shadows, else 1)
//! ```
//!
//! and with `N = 0` it is the candle's own range times the factor. The bars averaged are
//! always the `N` bars *before* the candle being judged, so in a 3-candle pattern the first
//! candle's yardstick covers the 10 bars before the first candle, not before the last.
//!
//! [`Series`] holds the newest bars of one symbol as `f64` and evaluates these yardsticks
//! with TA-Lib's exact operation order (see the module documentation of
//! [`crate::patterns`] for why that is bit-compatible).

use crate::fixed::ONE;
use crate::record::BarRecord;
use crate::window::BarWindow;

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

/// A fixed-point price (1e-9 units) as the `f64` nearest to its decimal value — the same
/// `f64` that parsing the price's decimal text (`float("25.3519")`) gives.
///
/// Up to 2^53 nano-units (about 9,007,199.25) the integer converts exactly and one IEEE
/// division by 1e9 rounds correctly. Above that the integer itself would round first, so
/// the decimal text is parsed instead (on the stack, no allocation).
pub fn price_to_f64(nanos: i64) -> f64 {
    const EXACT: u64 = 1 << 53;
    if nanos.unsigned_abs() <= EXACT {
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
    fn new(bar: &BarRecord) -> Self {
        let open = price_to_f64(bar.open);
        let high = price_to_f64(bar.high);
        let low = price_to_f64(bar.low);
        let close = price_to_f64(bar.close);
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

/// The bar being evaluated and the bars before it, newest first, as [`Candle`]s.
pub(crate) struct Series {
    candles: [Candle; SERIES_LEN],
    len: usize,
}

impl Series {
    /// `bar` at position 0 and the newest bars of `prev` after it.
    pub fn new(prev: &BarWindow, bar: &BarRecord) -> Self {
        let mut candles = [Candle::default(); SERIES_LEN];
        candles[0] = Candle::new(bar);
        let mut len = 1;
        while len < SERIES_LEN {
            let Some(b) = prev.back(len - 1) else { break };
            candles[len] = Candle::new(&b);
            len += 1;
        }
        Series { candles, len }
    }

    /// The candle `k` bars before the evaluated one (`k = 0` is the evaluated bar).
    ///
    /// Callers only ask for positions inside their pattern's lookback, which `scan` has
    /// checked are present.
    pub fn at(&self, k: usize) -> &Candle {
        debug_assert!(k < self.len, "candle {k} outside the series");
        &self.candles[k]
    }

    /// The yardstick of `setting` for the candle at position `k` (`TA_CANDLEAVERAGE`):
    /// `factor * (sum / period) / divisor`, the sum running over the `period` bars before
    /// `k`, oldest first.
    pub fn avg(&self, setting: CandleSetting, k: usize) -> f64 {
        let base = if setting.period != 0 {
            let mut sum = 0.0;
            for j in (k + 1..=k + setting.period).rev() {
                sum += self.at(j).measure(setting.range);
            }
            sum / setting.period as f64
        } else {
            self.at(k).measure(setting.range)
        };
        let divisor = if setting.range == RangeType::Shadows {
            2.0
        } else {
            1.0
        };
        setting.factor * base / divisor
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
