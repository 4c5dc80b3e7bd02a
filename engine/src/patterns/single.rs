//! One-candle patterns (some compare with the bar before): doji, hammer, inverted hammer,
//! hanging man, shooting star, marubozu.
//!
//! Position 0 is the bar being evaluated, 1 the bar before it.

use super::candle::{
    Series, BODY_DOJI, BODY_LONG, BODY_SHORT, NEAR, SHADOW_LONG, SHADOW_VERY_SHORT,
};

/// `CDLDOJI`: the body is at most the doji yardstick (10% of the mean range of the
/// previous 10 bars).
pub(super) fn doji(s: &Series) -> i32 {
    if s.at(0).body <= s.avg(BODY_DOJI, 0) {
        100
    } else {
        0
    }
}

/// The hammer shape shared by hammer and hanging man: short body, lower shadow longer than
/// the body, very short upper shadow.
fn hammer_shape(s: &Series) -> bool {
    let c = s.at(0);
    c.body < s.avg(BODY_SHORT, 0)
        && c.lower > s.avg(SHADOW_LONG, 0)
        && c.upper < s.avg(SHADOW_VERY_SHORT, 0)
}

/// The inverted shape shared by inverted hammer and shooting star: short body, upper
/// shadow longer than the body, very short lower shadow.
fn inverted_shape(s: &Series) -> bool {
    let c = s.at(0);
    c.body < s.avg(BODY_SHORT, 0)
        && c.upper > s.avg(SHADOW_LONG, 0)
        && c.lower < s.avg(SHADOW_VERY_SHORT, 0)
}

/// `CDLHAMMER`: hammer shape with the body's bottom at or below the prior bar's low plus
/// "near" (the prior bar's yardstick).
pub(super) fn hammer(s: &Series) -> i32 {
    if hammer_shape(s) && s.at(0).bottom() <= s.at(1).low + s.avg(NEAR, 1) {
        100
    } else {
        0
    }
}

/// `CDLHANGINGMAN`: hammer shape with the body's bottom at or above the prior bar's high
/// minus "near".
pub(super) fn hanging_man(s: &Series) -> i32 {
    if hammer_shape(s) && s.at(0).bottom() >= s.at(1).high - s.avg(NEAR, 1) {
        -100
    } else {
        0
    }
}

/// `CDLINVERTEDHAMMER`: inverted shape whose body gaps down from the prior body.
pub(super) fn inverted_hammer(s: &Series) -> i32 {
    if s.at(0).top() < s.at(1).bottom() && inverted_shape(s) {
        100
    } else {
        0
    }
}

/// `CDLSHOOTINGSTAR`: inverted shape whose body gaps up from the prior body.
pub(super) fn shooting_star(s: &Series) -> i32 {
    if s.at(0).bottom() > s.at(1).top() && inverted_shape(s) {
        -100
    } else {
        0
    }
}

/// `CDLMARUBOZU`: long body, both shadows very short; the sign is the color.
pub(super) fn marubozu(s: &Series) -> i32 {
    let c = s.at(0);
    let very_short = s.avg(SHADOW_VERY_SHORT, 0);
    if c.body > s.avg(BODY_LONG, 0) && c.upper < very_short && c.lower < very_short {
        c.color() * 100
    } else {
        0
    }
}
