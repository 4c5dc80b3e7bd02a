//! Two-candle patterns: engulfing, harami, harami cross, piercing, dark cloud cover.
//!
//! Position 1 is the first candle, 0 the second (the bar being evaluated). Each candle's
//! yardstick averages the bars before *that* candle.

use super::candle::{CandleSetting, Series, BODY_DOJI, BODY_LONG, BODY_SHORT};
use super::DARK_CLOUD_PENETRATION;

/// `CDLENGULFING`: the second body engulfs the first, opposite-colored one. ±100 when it
/// begins beyond one end and ends beyond the other, ±80 when one end matches; the sign is
/// the second candle's color.
pub(super) fn engulfing(s: &Series) -> i32 {
    let (a, b) = (s.at(1), s.at(0));
    let white_engulfs_black = b.color() == 1
        && a.color() == -1
        && ((b.close >= a.open && b.open < a.close) || (b.close > a.open && b.open <= a.close));
    let black_engulfs_white = b.color() == -1
        && a.color() == 1
        && ((b.open >= a.close && b.close < a.open) || (b.open > a.close && b.close <= a.open));
    if !(white_engulfs_black || black_engulfs_white) {
        0
    } else if b.open != a.close && b.close != a.open {
        b.color() * 100
    } else {
        b.color() * 80
    }
}

/// Harami and harami cross: a long first body holding a second body that is short by
/// `inner`. ±100 when strictly inside, ±80 when one end matches; the sign is the opposite
/// of the first candle's color.
fn harami_with(s: &Series, inner: CandleSetting) -> i32 {
    let (a, b) = (s.at(1), s.at(0));
    if a.body <= s.avg(BODY_LONG, 1) || b.body > s.avg(inner, 0) {
        return 0;
    }
    if b.top() < a.top() && b.bottom() > a.bottom() {
        -a.color() * 100
    } else if b.top() <= a.top() && b.bottom() >= a.bottom() {
        -a.color() * 80
    } else {
        0
    }
}

/// `CDLHARAMI`: the second body is short (at most the mean body of the 10 bars before it).
pub(super) fn harami(s: &Series) -> i32 {
    harami_with(s, BODY_SHORT)
}

/// `CDLHARAMICROSS`: the second body is a doji body.
pub(super) fn harami_cross(s: &Series) -> i32 {
    harami_with(s, BODY_DOJI)
}

/// `CDLPIERCING`: long black, then a long white opening below its low and closing inside
/// its body above the midpoint.
pub(super) fn piercing(s: &Series) -> i32 {
    let (a, b) = (s.at(1), s.at(0));
    // `a.body * 0.5` is exact, so TA-Lib's fused multiply-add build gives the same sum.
    if a.color() == -1
        && a.body > s.avg(BODY_LONG, 1)
        && b.color() == 1
        && b.body > s.avg(BODY_LONG, 0)
        && b.open < a.low
        && b.close < a.open
        && b.close > a.close + a.body * 0.5
    {
        100
    } else {
        0
    }
}

/// `CDLDARKCLOUDCOVER`: long white, then a black opening above its high and closing inside
/// its body below `close - body * penetration`.
pub(super) fn dark_cloud_cover(s: &Series) -> i32 {
    let (a, b) = (s.at(1), s.at(0));
    if a.color() == 1
        && a.body > s.avg(BODY_LONG, 1)
        && b.color() == -1
        && b.open > a.high
        && b.close > a.open
        && b.close < a.close - a.body * DARK_CLOUD_PENETRATION
    {
        -100
    } else {
        0
    }
}
