//! Venue timestamps to nanoseconds since the Unix epoch.
//!
//! Venues send times as integers in a unit (Binance: ms, Polygon: ms or ns, OKX: ms
//! strings) or as RFC 3339 text (Coinbase: `2014-11-07T08:19:27.028459Z`, Kraken v2:
//! `2023-09-25T07:49:37.708706Z`). Both are converted exactly; a time before the epoch or
//! past `i64::MAX` ns (year 2262) is refused, never wrapped.

/// Nanoseconds for `value` counted in units of `unit_ns` (1_000_000 for milliseconds),
/// or `None` when it does not fit in an `i64`.
#[inline]
pub fn scaled(value: u64, unit_ns: u64) -> Option<i64> {
    value
        .checked_mul(unit_ns)
        .and_then(|ns| i64::try_from(ns).ok())
}

/// Parses an RFC 3339 UTC timestamp (`2014-11-07T08:19:27.028459Z`; a fraction of 0 to 9
/// digits; `Z`, `z` or a `+hh:mm` / `-hh:mm` offset; `T`, `t` or a space between date and
/// time) into nanoseconds since the Unix epoch. `None` when the text is not such a
/// timestamp, the date does not exist, or the time is before the epoch or after 2262.
pub fn parse_rfc3339_ns(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(range)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // 60 is a leap second; it is read as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ns = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        frac_ns = num(start..i)? * 10i64.pow((9 - digits) as u32);
    }
    let offset_s = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            if h > 23 || m > 59 {
                return None;
            }
            let s = h * 3600 + m * 60;
            if *sign == b'+' {
                s
            } else {
                -s
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    if secs < 0 {
        return None;
    }
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_venue_timestamps() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ns("2014-11-07T08:19:27.028459Z"),
            Some(1_415_348_367_028_459_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2023-02-09T20:32:50.714964855Z"),
            Some(1_675_974_770_714_964_855)
        );
        assert_eq!(
            parse_rfc3339_ns("2023-02-09T21:32:50.714964855+01:00"),
            Some(1_675_974_770_714_964_855)
        );
        assert_eq!(
            parse_rfc3339_ns("2024-02-29T23:59:59.5Z"),
            Some(1_709_251_199_500_000_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2262-04-11T23:47:16.854775807Z"),
            Some(i64::MAX)
        );
    }

    #[test]
    fn refuses_bad_timestamps() {
        for bad in [
            "",
            "2014-11-07",
            "2014-11-07T08:19:27",
            "2014-11-07T08:19:27.Z",
            "2014-11-07T08:19:27.0284591234Z",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "1969-12-31T23:59:59Z",
            "2262-04-11T23:47:16.854775808Z",
            "2023-01-01T00:00:00+0100",
            "2023-01-01T00:00:00Zjunk",
            "2023-01-0１T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_match_the_calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
