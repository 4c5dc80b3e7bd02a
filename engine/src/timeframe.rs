//! Bar timeframes: whole seconds, from 1 s to 1 day, written `1s`, `1m`, `5m`, `1h`, `1d`.

use std::fmt;
use std::str::FromStr;

/// Nanoseconds in a second.
pub const NS_PER_SEC: i64 = 1_000_000_000;
/// Longest timeframe: one day.
pub const MAX_TIMEFRAME_SECS: u32 = 86_400;
/// Most timeframes one engine aggregates at once.
pub const MAX_TIMEFRAMES: usize = 16;

/// A bar timeframe: a whole number of seconds, at most a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeframe {
    secs: u32,
}

/// Why a timeframe text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timeframe {0:?}: use a whole number of seconds from 1s to 1d, like 1s, 15s, 1m, 5m, 4h, 1d")]
pub struct TimeframeError(pub String);

impl Timeframe {
    /// A timeframe of `secs` seconds (1 ..= 86400).
    pub fn from_secs(secs: u32) -> Result<Self, TimeframeError> {
        if secs == 0 || secs > MAX_TIMEFRAME_SECS {
            return Err(TimeframeError(format!("{secs}s")));
        }
        Ok(Timeframe { secs })
    }

    /// Length in seconds.
    pub fn secs(self) -> u32 {
        self.secs
    }

    /// Length in nanoseconds.
    pub fn nanos(self) -> i64 {
        i64::from(self.secs) * NS_PER_SEC
    }

    /// Open time of the bar holding `ts` (epoch-aligned, half-open intervals).
    pub fn bar_open(self, ts: i64) -> i64 {
        // Saturates below i64::MIN, where no real timestamp lives.
        ts.saturating_sub(ts.rem_euclid(self.nanos()))
    }
}

impl FromStr for Timeframe {
    type Err = TimeframeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TimeframeError(s.to_string());
        let unit_at = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (num, unit) = s.split_at(unit_at);
        let n: u32 = num.parse().map_err(|_| err())?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(err()),
        };
        Timeframe::from_secs(n.checked_mul(mult).ok_or_else(err)?).map_err(|_| err())
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs;
        if s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl serde::Serialize for Timeframe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timeframe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (text, secs) in [
            ("1s", 1),
            ("15s", 15),
            ("1m", 60),
            ("5m", 300),
            ("4h", 14_400),
            ("1d", 86_400),
        ] {
            let tf: Timeframe = text.parse().unwrap();
            assert_eq!(tf.secs(), secs);
            assert_eq!(tf.to_string(), text);
        }
        assert_eq!("90s".parse::<Timeframe>().unwrap().to_string(), "90s");
        for bad in ["", "0s", "2d", "1x", "m", "1.5m", "-1s", "99999999999s"] {
            assert!(bad.parse::<Timeframe>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bars_are_epoch_aligned_and_half_open() {
        let tf: Timeframe = "1m".parse().unwrap();
        let k = 60 * NS_PER_SEC;
        assert_eq!(tf.bar_open(5 * k), 5 * k);
        assert_eq!(tf.bar_open(5 * k - 1), 4 * k);
        assert_eq!(tf.bar_open(5 * k + 1), 5 * k);
        assert_eq!(tf.bar_open(-1), -k);
    }
}
