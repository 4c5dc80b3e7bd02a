//! Reconnect backoff: exponential delays with jitter, a limit on attempts, and a reset once
//! a connection has stayed up for a while.
//!
//! The n-th consecutive failure waits `min(initial × factor^(n-1), max)`, shortened by a
//! random fraction of up to `jitter` (so many engines losing a venue at once do not
//! reconnect in lockstep). A connection that stayed up for `stable` or longer resets the
//! count: its loss is a first failure again. With `attempts` set, the feed gives up after
//! that many consecutive failures.

use std::time::Duration;

/// The reconnect policy of a feed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Delay before the first reconnect.
    pub initial: Duration,
    /// Growth per consecutive failure.
    pub factor: f64,
    /// Longest delay.
    pub max: Duration,
    /// Largest fraction (0..1) a delay is shortened by at random.
    pub jitter: f64,
    /// Consecutive failures after which the feed gives up; 0: never.
    pub attempts: u32,
    /// A connection up at least this long resets the failure count.
    pub stable: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_secs(1),
            factor: 1.5,
            max: Duration::from_secs(30),
            jitter: 0.2,
            attempts: 0,
            stable: Duration::from_secs(10),
        }
    }
}

impl BackoffPolicy {
    /// The delay before reconnect `n` (1-based) of a run of failures, before jitter.
    pub fn nominal(&self, n: u32) -> Duration {
        let exp = self
            .factor
            .max(1.0)
            .powi(n.saturating_sub(1).min(1000) as i32);
        let secs = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }
}

/// A feed's backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// Fresh state; `seed` varies the jitter between feeds.
    pub fn new(policy: BackoffPolicy, seed: u64) -> Self {
        Backoff {
            policy,
            failures: 0,
            rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A connection was lost (or an attempt failed) after being up for `up` (`None`: it
    /// never opened). Returns the delay before the next attempt, or `None` when the
    /// attempts are spent.
    pub fn next_delay(&mut self, up: Option<Duration>) -> Option<Duration> {
        if up.is_some_and(|u| u >= self.policy.stable) {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.policy.attempts > 0 && self.failures > self.policy.attempts {
            return None;
        }
        let nominal = self.policy.nominal(self.failures);
        let cut = self.policy.jitter.clamp(0.0, 1.0) * self.unit();
        Some(nominal.mul_f64(1.0 - cut))
    }

    /// A uniform number in [0, 1) (xorshift64*).
    fn unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap_with_bounded_jitter() {
        let policy = BackoffPolicy::default();
        let mut b = Backoff::new(policy, 7);
        let mut last_nominal = Duration::ZERO;
        for n in 1..=20 {
            let d = b.next_delay(None).unwrap();
            let nominal = policy.nominal(n);
            assert!(nominal >= last_nominal);
            assert!(
                d <= nominal && d >= nominal.mul_f64(0.8),
                "{n}: {d:?} vs {nominal:?}"
            );
            last_nominal = nominal;
        }
        assert_eq!(policy.nominal(1), Duration::from_secs(1));
        assert_eq!(policy.nominal(2), Duration::from_millis(1500));
        assert_eq!(policy.nominal(3), Duration::from_millis(2250));
        assert_eq!(policy.nominal(20), Duration::from_secs(30));
    }

    #[test]
    fn a_stable_connection_resets_the_count_and_attempts_run_out() {
        let policy = BackoffPolicy {
            attempts: 3,
            jitter: 0.0,
            ..BackoffPolicy::default()
        };
        let mut b = Backoff::new(policy, 1);
        assert_eq!(b.next_delay(None), Some(Duration::from_secs(1)));
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(2))),
            Some(Duration::from_millis(1500)),
            "up briefly: still failing"
        );
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(60))),
            Some(Duration::from_secs(1)),
            "up for longer than the stable period: reset"
        );
        assert!(b.next_delay(None).is_some());
        assert!(b.next_delay(None).is_some());
        assert_eq!(b.next_delay(None), None, "three failures in a row: give up");
    }

    #[test]
    fn jitter_differs_between_feeds() {
        let policy = BackoffPolicy::default();
        let a: Vec<_> = {
            let mut b = Backoff::new(policy, 1);
            (0..5).map(|_| b.next_delay(None).unwrap()).collect()
        };
        let c: Vec<_> = {
            let mut b = Backoff::new(policy, 2);
            (0..5).map(|_| b.next_delay(None).unwrap()).collect()
        };
        assert_ne!(a, c);
    }
}
