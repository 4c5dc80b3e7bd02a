//! Per-symbol throttling of published quotes, for consumers slower than the feed.
//!
//! A quote of a non-priority symbol is published to the event ring when its bid or ask
//! moved by at least `min_change` (relative) since the symbol's last published quote, or
//! when `min_interval_ms` has passed since then; and in any case only while the global
//! budget of `max_per_sec` quotes per second lasts. Priority symbols are exempt. Time is the
//! quotes' receive time, so replays throttle exactly as the live run did. `NAME.latest`
//! always holds the newest quote, throttled or not. Off by default.

use crate::record::QuoteRecord;

/// Throttle settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Throttle at all.
    pub enabled: bool,
    /// Publish at least this often per symbol while quotes change, ms.
    pub min_interval_ms: u64,
    /// Publish at once when bid or ask moved by this fraction (0.001 = 0.1 %).
    pub min_change: f64,
    /// Most quotes per second over all symbols (0: no global limit).
    pub max_per_sec: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: false,
            min_interval_ms: 100,
            min_change: 0.001,
            max_per_sec: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Last {
    ts: i64,
    bid: i64,
    ask: i64,
    seen: bool,
}

/// Decides which quotes reach the event ring.
pub struct QuoteThrottle {
    cfg: ThrottleConfig,
    min_interval_ns: i64,
    /// `min_change` in parts per billion.
    min_change_ppb: i128,
    last: Vec<Last>,
    window_start: i64,
    window_count: u64,
    throttled: u64,
}

impl QuoteThrottle {
    /// A throttle for `symbols` symbols.
    pub fn new(cfg: ThrottleConfig, symbols: usize) -> Self {
        QuoteThrottle {
            min_interval_ns: (cfg.min_interval_ms as i64).saturating_mul(1_000_000),
            min_change_ppb: (cfg.min_change.max(0.0) * 1e9).round() as i128,
            cfg,
            last: vec![Last::default(); symbols],
            window_start: i64::MIN,
            window_count: 0,
            throttled: 0,
        }
    }

    /// Quotes held back so far.
    pub fn throttled(&self) -> u64 {
        self.throttled
    }

    fn moved(&self, last: i64, now: i64) -> bool {
        if last == 0 {
            return now != 0;
        }
        let diff = (i128::from(now) - i128::from(last)).abs() * 1_000_000_000;
        diff >= self.min_change_ppb * i128::from(last).abs()
    }

    /// True when `q` should be published.
    pub fn admit(&mut self, q: &QuoteRecord, priority: bool) -> bool {
        if !self.cfg.enabled || priority {
            return true;
        }
        let s = q.symbol as usize;
        let Some(&last) = self.last.get(s) else {
            return true;
        };
        let due = !last.seen
            || q.recv_ts.saturating_sub(last.ts) >= self.min_interval_ns
            || self.moved(last.bid, q.bid)
            || self.moved(last.ask, q.ask);
        if !due {
            self.throttled += 1;
            return false;
        }
        if self.cfg.max_per_sec > 0 {
            if q.recv_ts.saturating_sub(self.window_start) >= 1_000_000_000 {
                self.window_start = q.recv_ts;
                self.window_count = 0;
            }
            if self.window_count >= self.cfg.max_per_sec {
                self.throttled += 1;
                return false;
            }
            self.window_count += 1;
        }
        self.last[s] = Last {
            ts: q.recv_ts,
            bid: q.bid,
            ask: q.ask,
            seen: true,
        };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn q(sym: u32, ts: i64, bid: i64) -> QuoteRecord {
        QuoteRecord::new(1, sym, ts, ts, bid, 1, bid + 10, 1, 0)
    }

    #[test]
    fn off_by_default() {
        let mut t = QuoteThrottle::new(ThrottleConfig::default(), 1);
        assert!((0..100).all(|i| t.admit(&q(0, i, 100_000), false)));
        assert_eq!(t.throttled(), 0);
    }

    #[test]
    fn interval_and_relative_change() {
        let cfg = ThrottleConfig {
            enabled: true,
            min_interval_ms: 100,
            min_change: 0.001,
            max_per_sec: 0,
        };
        let mut t = QuoteThrottle::new(cfg, 2);
        assert!(t.admit(&q(0, 0, 100_000), false));
        // Small move, too soon: held.
        assert!(!t.admit(&q(0, 10 * MS, 100_050), false));
        // 0.1 % move: published at once.
        assert!(t.admit(&q(0, 20 * MS, 100_100), false));
        assert!(!t.admit(&q(0, 30 * MS, 100_100), false));
        // Interval passed: published.
        assert!(t.admit(&q(0, 120 * MS, 100_101), false));
        // Priority symbols are exempt.
        assert!(t.admit(&q(1, 121 * MS, 5), true) && t.admit(&q(1, 122 * MS, 5), true));
        assert_eq!(t.throttled(), 2);
    }

    #[test]
    fn global_budget_per_second() {
        let cfg = ThrottleConfig {
            enabled: true,
            min_interval_ms: 0,
            min_change: 0.0,
            max_per_sec: 3,
        };
        let mut t = QuoteThrottle::new(cfg, 10);
        let admitted = (0..10)
            .filter(|&i| t.admit(&q(i, i64::from(i) * MS, 100), false))
            .count();
        assert_eq!(admitted, 3);
        assert!(
            t.admit(&q(0, 1_100 * MS, 100), false),
            "a new second, a new budget"
        );
        assert_eq!(t.throttled(), 7);
    }
}
