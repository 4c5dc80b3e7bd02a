//! Times as people type and read them: RFC 3339 UTC text and nanoseconds since the epoch.

use anyhow::Context;

/// `ts_ns` as RFC 3339 UTC text with `digits` fractional digits (0 to 9):
/// `rfc3339(1_695_628_177_708_706_000, 6)` is `2023-09-25T07:49:37.708706Z`.
pub fn rfc3339(ts_ns: i64, digits: u32) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let digits = digits.min(9);
    if digits > 0 {
        let frac = nanos / 10i64.pow(9 - digits);
        text.push_str(&format!(".{frac:0width$}", width = digits as usize));
    }
    text.push('Z');
    text
}

/// A time given on the command line: nanoseconds since the epoch, or RFC 3339
/// (`2026-11-21T10:00:00Z`, `2026-11-21T10:00:00.5+01:00`).
pub fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(ns) = text.parse::<i64>() {
        return Ok(ns);
    }
    tickforge_feeds::venue::time::parse_rfc3339_ns(text).with_context(|| {
        format!("{text:?} is neither nanoseconds since the epoch nor an RFC 3339 time")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_and_parse_back() {
        let t = 1_695_628_177_708_706_123;
        assert_eq!(rfc3339(t, 6), "2023-09-25T07:49:37.708706Z");
        assert_eq!(rfc3339(t, 9), "2023-09-25T07:49:37.708706123Z");
        assert_eq!(rfc3339(t, 0), "2023-09-25T07:49:37Z");
        assert_eq!(parse_time(&rfc3339(t, 9)).unwrap(), t);
        assert_eq!(parse_time("42").unwrap(), 42);
        assert_eq!(rfc3339(-1, 3), "1969-12-31T23:59:59.999Z");
        assert!(parse_time("yesterday").is_err());
    }
}
