//! Three-candle patterns: morning star, evening star, three white soldiers, three black
//! crows (which also looks at the bar before its three).
//!
//! Position 2 is the first candle, 1 the second, 0 the third (the bar being evaluated).
//! Each candle's yardstick averages the bars before *that* candle.

use super::candle::{Series, BODY_LONG, BODY_SHORT, FAR, NEAR, SHADOW_VERY_SHORT};
use super::STAR_PENETRATION;

/// `CDLMORNINGSTAR`: long black; a short body gapping down below it; a white body longer
/// than short closing above `close[2] + body[2] * penetration`.
pub(super) fn morning_star(s: &Series) -> i32 {
    let (a, b, c) = (s.at(2), s.at(1), s.at(0));
    // TA-Lib's build evaluates this threshold as one fused multiply-add (see the module
    // documentation).
    if a.color() == -1
        && c.color() == 1
        && b.top() < a.bottom()
        && c.close > a.body.mul_add(STAR_PENETRATION, a.close)
        && a.body > s.avg(BODY_LONG, 2)
        && b.body <= s.avg(BODY_SHORT, 1)
        && c.body > s.avg(BODY_SHORT, 0)
    {
        100
    } else {
        0
    }
}

/// `CDLEVENINGSTAR`: long white; a short body gapping up above it; a black body longer
/// than short closing below `close[2] - body[2] * penetration`.
pub(super) fn evening_star(s: &Series) -> i32 {
    let (a, b, c) = (s.at(2), s.at(1), s.at(0));
    if a.color() == 1
        && c.color() == -1
        && b.bottom() > a.top()
        && c.close < a.close - a.body * STAR_PENETRATION
        && a.body > s.avg(BODY_LONG, 2)
        && b.body <= s.avg(BODY_SHORT, 1)
        && c.body > s.avg(BODY_SHORT, 0)
    {
        -100
    } else {
        0
    }
}

/// `CDL3WHITESOLDIERS`: three white candles with very short upper shadows and rising
/// closes, each opening above the prior open and at most "near" above the prior close,
/// none "far" shorter than the one before, the last not short.
pub(super) fn three_white_soldiers(s: &Series) -> i32 {
    let (a, b, c) = (s.at(2), s.at(1), s.at(0));
    if a.color() == 1
        && a.upper < s.avg(SHADOW_VERY_SHORT, 2)
        && b.color() == 1
        && b.upper < s.avg(SHADOW_VERY_SHORT, 1)
        && c.color() == 1
        && c.upper < s.avg(SHADOW_VERY_SHORT, 0)
        && c.close > b.close
        && b.close > a.close
        && b.open > a.open
        && b.open <= a.close + s.avg(NEAR, 2)
        && c.open > b.open
        && c.open <= b.close + s.avg(NEAR, 1)
        && b.body > a.body - s.avg(FAR, 2)
        && c.body > b.body - s.avg(FAR, 1)
        && c.body > s.avg(BODY_SHORT, 0)
    {
        100
    } else {
        0
    }
}

/// `CDL3BLACKCROWS`: a white candle, then three black candles with very short lower
/// shadows and falling closes, each opening inside the prior black body, the first closing
/// under the white candle's high.
pub(super) fn three_black_crows(s: &Series) -> i32 {
    let (w, a, b, c) = (s.at(3), s.at(2), s.at(1), s.at(0));
    if w.color() == 1
        && a.color() == -1
        && b.color() == -1
        && c.color() == -1
        && b.open < a.open
        && b.open > a.close
        && c.open < b.open
        && c.open > b.close
        && w.high > a.close
        && a.close > b.close
        && b.close > c.close
        && a.lower < s.avg(SHADOW_VERY_SHORT, 2)
        && b.lower < s.avg(SHADOW_VERY_SHORT, 1)
        && c.lower < s.avg(SHADOW_VERY_SHORT, 0)
    {
        -100
    } else {
        0
    }
}
