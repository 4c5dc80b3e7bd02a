//! Fixed-point decimals: prices and sizes as integers in units of 1e-9.
//!
//! Venues send prices and sizes as decimal text (`"25.35190000"`) or JSON numbers
//! (`25.3519`). Both are parsed here exactly, digit by digit, never through `f64`. A value
//! that does not fit in an `i64` of nano-units, or that has non-zero digits below 1e-9, is
//! rejected with a [`DecimalError`]: it is never wrapped, rounded or truncated.

use std::fmt;

/// Number of decimal digits after the point that a fixed-point value carries.
pub const SCALE_DIGITS: u32 = 9;
/// One unit (1.0) in fixed-point nano-units.
pub const ONE: i64 = 1_000_000_000;

/// Why a decimal text was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text was empty, or held only a sign or a point.
    #[error("empty decimal")]
    Empty,
    /// A byte that is not part of a decimal number.
    #[error("invalid character in decimal")]
    InvalidChar,
    /// The value does not fit in an i64 of 1e-9 units.
    #[error("decimal out of range")]
    OutOfRange,
    /// Non-zero digits below 1e-9, which fixed-point cannot hold exactly.
    #[error("decimal has more precision than 1e-9")]
    TooPrecise,
    /// A negative value where only non-negative values are valid (sizes, prices).
    #[error("negative decimal")]
    Negative,
}

/// Parses decimal text (`-12.345`, `0.00100000`, `1e-5`, `2.5E+3`) into nano-units.
///
/// Accepts an optional leading `-` or `+`, digits with an optional `.`, and an optional
/// exponent. Leading and trailing zeros are free; any non-zero digit below 1e-9 is
/// [`DecimalError::TooPrecise`].
#[inline]
pub fn parse_decimal(text: &[u8]) -> Result<i64, DecimalError> {
    match parse_plain(text) {
        Some(v) => Ok(v),
        None => parse_general(text),
    }
}

/// The common form, `digits[.digits]` with at most 10 integer digits and no non-zero
/// digit below 1e-9, in one pass; `None` for anything else (signs, exponents, errors,
/// large values), which [`parse_general`] decides. Both give the same value for every
/// text this accepts.
#[inline]
fn parse_plain(text: &[u8]) -> Option<i64> {
    let n = text.len();
    let mut i = 0;
    let mut int: u64 = 0;
    while i < n && text[i].is_ascii_digit() {
        if i == 10 {
            return None;
        }
        int = int * 10 + u64::from(text[i] - b'0');
        i += 1;
    }
    let int_digits = i;
    let mut frac: u64 = 0;
    let mut frac_digits = 0u32;
    if i < n {
        if text[i] != b'.' {
            return None;
        }
        i += 1;
        while i < n && text[i].is_ascii_digit() {
            if frac_digits < SCALE_DIGITS {
                frac = frac * 10 + u64::from(text[i] - b'0');
                frac_digits += 1;
            } else if text[i] != b'0' {
                return None;
            }
            i += 1;
        }
        if i != n {
            return None;
        }
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    // At most 10 integer digits: below 1e10 × 1e9 < u64::MAX.
    let v = int * ONE as u64 + frac * 10u64.pow(SCALE_DIGITS - frac_digits);
    i64::try_from(v).ok()
}

/// Every form [`parse_decimal`] accepts, and every error.
fn parse_general(text: &[u8]) -> Result<i64, DecimalError> {
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    // Split off the exponent, if any.
    let (mantissa, exponent) = match body.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => (&body[..i], parse_exponent(&body[i + 1..])?),
        None => (body, 0),
    };
    // Accumulate the magnitude as an unsigned value scaled by 1e9, tracking where the point
    // falls. `frac_digits` counts digits after the point.
    let mut magnitude: u64 = 0;
    let mut digits = 0u32;
    let mut frac_digits: i64 = 0;
    let mut seen_point = false;
    // Non-zero digits are only allowed while the final scale keeps them above 1e-9; since
    // the exponent shifts the scale, track the digits beyond the representable range.
    let mut pending_zeros: u32 = 0;
    for &b in mantissa {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                if seen_point {
                    frac_digits += 1;
                }
                let d = u64::from(b - b'0');
                if d == 0 {
                    // Defer zeros: a run of trailing zeros should not overflow the magnitude.
                    pending_zeros += 1;
                    continue;
                }
                magnitude = push_zeros(magnitude, pending_zeros)?;
                pending_zeros = 0;
                magnitude = magnitude
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(d))
                    .ok_or(DecimalError::OutOfRange)?;
            }
            b'.' if !seen_point => seen_point = true,
            _ => return Err(DecimalError::InvalidChar),
        }
    }
    if digits == 0 {
        return Err(DecimalError::Empty);
    }
    // value = (magnitude * 10^pending_zeros) * 10^(exponent - frac_digits); in nano-units
    // multiply by 1e9: shift = exponent - frac_digits + 9 + pending_zeros on `magnitude`.
    let shift = exponent - frac_digits + i64::from(SCALE_DIGITS) + i64::from(pending_zeros);
    let scaled = if magnitude == 0 {
        0
    } else if shift >= 0 {
        let shift = u32::try_from(shift).map_err(|_| DecimalError::OutOfRange)?;
        push_zeros(magnitude, shift)?
    } else {
        let shift = u32::try_from(-shift).map_err(|_| DecimalError::TooPrecise)?;
        let div = 10u64.checked_pow(shift).ok_or(DecimalError::TooPrecise)?;
        if magnitude % div != 0 {
            return Err(DecimalError::TooPrecise);
        }
        magnitude / div
    };
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX's.
        if scaled == 1u64 << 63 {
            return Ok(i64::MIN);
        }
        let v = i64::try_from(scaled).map_err(|_| DecimalError::OutOfRange)?;
        Ok(-v)
    } else {
        i64::try_from(scaled).map_err(|_| DecimalError::OutOfRange)
    }
}

/// Parses a decimal that must not be negative (a price or a size).
pub fn parse_unsigned_decimal(text: &[u8]) -> Result<i64, DecimalError> {
    let v = parse_decimal(text)?;
    if v < 0 {
        Err(DecimalError::Negative)
    } else {
        Ok(v)
    }
}

fn parse_exponent(text: &[u8]) -> Result<i64, DecimalError> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(DecimalError::InvalidChar);
    }
    let mut e: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(DecimalError::InvalidChar);
        }
        // Exponents beyond a few hundred can only overflow or underflow; cap the value
        // without wrapping so the range checks above reject it.
        e = (e * 10 + i64::from(b - b'0')).min(10_000);
    }
    Ok(if negative { -e } else { e })
}

fn push_zeros(magnitude: u64, zeros: u32) -> Result<u64, DecimalError> {
    if zeros == 0 || magnitude == 0 {
        return Ok(magnitude);
    }
    10u64
        .checked_pow(zeros)
        .and_then(|p| magnitude.checked_mul(p))
        .ok_or(DecimalError::OutOfRange)
}

/// Displays a fixed-point value as exact decimal text: `25.3519`, `100`, `-0.000000001`.
///
/// Trailing zeros after the point are trimmed; an integral value has no point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub i128);

impl From<i64> for Decimal {
    fn from(v: i64) -> Self {
        Decimal(i128::from(v))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = i128::from(ONE);
        let abs = self.0.unsigned_abs();
        let int = abs / scale as u128;
        let mut frac = abs % scale as u128;
        if self.0 < 0 {
            f.write_str("-")?;
        }
        write!(f, "{int}")?;
        if frac != 0 {
            let mut width = SCALE_DIGITS as usize;
            while frac % 10 == 0 {
                frac /= 10;
                width -= 1;
            }
            write!(f, ".{frac:0width$}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_general_parsers_agree() {
        let mut texts: Vec<String> = [
            "0",
            "0.0",
            "5.",
            ".5",
            "1.000000000",
            "1.0000000001",
            "1.00000000010",
            "9223372036",
            "9223372036.854775807",
            "9223372036.854775808",
            "99999999999",
            "0000000001.5",
            "",
            ".",
            "1..2",
            "1.2.3",
            "1a",
            "+1",
            "-1",
            "1e3",
            "37012.34000000",
            "0.00123000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let int = x % 100_000_000_000;
            let frac_len = (x >> 40) % 14;
            let frac = (x >> 8) % 10u64.pow(frac_len as u32).max(1);
            texts.push(match frac_len {
                0 => format!("{int}"),
                _ => format!("{int}.{frac:0w$}", w = frac_len as usize),
            });
        }
        for t in &texts {
            if let Some(v) = parse_plain(t.as_bytes()) {
                assert_eq!(Ok(v), parse_general(t.as_bytes()), "{t}");
            }
        }
    }

    fn p(s: &str) -> Result<i64, DecimalError> {
        parse_decimal(s.as_bytes())
    }

    #[test]
    fn parses_plain_decimals_exactly() {
        assert_eq!(p("25.35190000"), Ok(25_351_900_000));
        assert_eq!(p("0.001"), Ok(1_000_000));
        assert_eq!(p("100"), Ok(100 * ONE));
        assert_eq!(p("-1.5"), Ok(-1_500_000_000));
        assert_eq!(p("+2"), Ok(2 * ONE));
        assert_eq!(p(".5"), Ok(500_000_000));
        assert_eq!(p("5."), Ok(5 * ONE));
        assert_eq!(p("0.000000001"), Ok(1));
        assert_eq!(p("0.1000000000000000000000"), Ok(100_000_000));
        assert_eq!(p("0000000000000000000000012"), Ok(12 * ONE));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("-0.0"), Ok(0));
    }

    #[test]
    fn parses_exponents() {
        assert_eq!(p("1e-5"), Ok(10_000));
        assert_eq!(p("2.5E+3"), Ok(2_500 * ONE));
        assert_eq!(p("1.23e2"), Ok(123 * ONE));
        assert_eq!(p("12345e-9"), Ok(12_345));
        assert_eq!(p("0e999"), Ok(0));
        assert_eq!(p("1e-10"), Err(DecimalError::TooPrecise));
        assert_eq!(p("1e99999999999"), Err(DecimalError::OutOfRange));
        assert_eq!(p("1e"), Err(DecimalError::InvalidChar));
    }

    #[test]
    fn rejects_out_of_range_and_excess_precision() {
        // i64::MAX nano-units is 9223372036.854775807.
        assert_eq!(p("9223372036.854775807"), Ok(i64::MAX));
        assert_eq!(p("9223372036.854775808"), Err(DecimalError::OutOfRange));
        assert_eq!(p("-9223372036.854775808"), Ok(i64::MIN));
        assert_eq!(p("-9223372036.854775809"), Err(DecimalError::OutOfRange));
        assert_eq!(p("99999999999999999999"), Err(DecimalError::OutOfRange));
        assert_eq!(p("0.0000000001"), Err(DecimalError::TooPrecise));
        assert_eq!(p("1.0000000001"), Err(DecimalError::TooPrecise));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "", "-", ".", "1.2.3", "1,5", "abc", " 1", "1 ", "--1", "0x10", "NaN",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(parse_unsigned_decimal(b"-1"), Err(DecimalError::Negative));
    }

    #[test]
    fn displays_exact_decimals() {
        assert_eq!(Decimal::from(25_351_900_000).to_string(), "25.3519");
        assert_eq!(Decimal::from(100 * ONE).to_string(), "100");
        assert_eq!(Decimal::from(-1).to_string(), "-0.000000001");
        assert_eq!(Decimal::from(0).to_string(), "0");
        assert_eq!(Decimal::from(i64::MIN).to_string(), "-9223372036.854775808");
        assert_eq!(
            Decimal(i128::from(i64::MAX) * 4).to_string(),
            "36893488147.419103228"
        );
    }

    proptest::proptest! {
        #[test]
        fn display_then_parse_round_trips(v in proptest::num::i64::ANY) {
            let text = Decimal::from(v).to_string();
            proptest::prop_assert_eq!(parse_decimal(text.as_bytes()), Ok(v));
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = parse_decimal(&bytes);
        }

        #[test]
        fn agrees_with_integer_arithmetic(int in 0u64..9_000_000_000, frac in 0u64..1_000_000_000, zeros in 0usize..12) {
            let text = format!("{int}.{frac:09}{}", "0".repeat(zeros));
            let expected = int as i64 * ONE + frac as i64;
            proptest::prop_assert_eq!(parse_decimal(text.as_bytes()), Ok(expected));
        }
    }
}
