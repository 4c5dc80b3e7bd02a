//! The data rate over time: the configured rate, multiplied during bursts.
//!
//! Time is counted from an origin (a connection's start, or the shared market's epoch).
//! With bursts every `P` lasting `D`, the windows `[jP, jP + D)` for `j = 1, 2, …` run at
//! `factor` times the rate. The number of events due after `e` nanoseconds is
//! `floor(rate * eff(e))`, where the effective time `eff(e) = e + (factor - 1) * B(e)` and
//! `B(e)` is the time spent in bursts so far: a function of `e` alone, so every clock that
//! shares an origin agrees on which event is due when, and on the time each event was due
//! ([`Schedule::due_at`]).

use std::time::{Duration, Instant};

use super::faults::FaultConfig;

const NS_PER_SEC: f64 = 1e9;

/// A rate with optional periodic bursts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Schedule {
    /// Events per second outside bursts.
    rate: u64,
    /// Rate multiplier inside a burst.
    factor: f64,
    /// Burst period, ns; 0 means no bursts.
    every_ns: u64,
    /// Burst length, ns, below `every_ns`.
    len_ns: u64,
}

impl Schedule {
    /// The schedule of `rate` events per second with the bursts of `faults`.
    pub(crate) fn new(rate: u64, faults: &FaultConfig) -> Schedule {
        let (every_ns, len_ns) = match faults.burst_every {
            Some(every) if faults.burst_len < every => (nanos(every), nanos(faults.burst_len)),
            _ => (0, 0),
        };
        Schedule {
            rate,
            factor: faults.burst_factor,
            every_ns,
            len_ns,
        }
    }

    /// The index of the burst window `elapsed_ns` falls in (1 for the first), if any.
    pub(crate) fn burst_window(&self, elapsed_ns: u64) -> Option<u64> {
        if self.every_ns == 0 {
            return None;
        }
        let cycle = elapsed_ns / self.every_ns;
        (cycle >= 1 && elapsed_ns % self.every_ns < self.len_ns).then_some(cycle)
    }

    /// Time spent in bursts during the first `elapsed_ns` ns.
    fn burst_ns(&self, elapsed_ns: u64) -> u64 {
        if self.every_ns == 0 {
            return 0;
        }
        let cycle = elapsed_ns / self.every_ns;
        if cycle == 0 {
            return 0;
        }
        (cycle - 1) * self.len_ns + (elapsed_ns % self.every_ns).min(self.len_ns)
    }

    /// Number of events due during the first `elapsed_ns` ns: never decreasing in
    /// `elapsed_ns`.
    pub(crate) fn due(&self, elapsed_ns: u64) -> u64 {
        let eff = elapsed_ns as f64 + (self.factor - 1.0) * self.burst_ns(elapsed_ns) as f64;
        let n = (self.rate as f64 * eff / NS_PER_SEC).floor();
        if n <= 0.0 {
            0
        } else {
            // Saturates at u64::MAX, far beyond any run.
            n as u64
        }
    }

    /// The elapsed time, ns, at which event `k` (0-based) falls due: the first `e` with
    /// `due(e) > k`, give or take a nanosecond of rounding. With a burst factor of 0 no
    /// event falls due inside a window.
    pub(crate) fn due_at(&self, k: u64) -> u64 {
        if self.rate == 0 {
            return u64::MAX;
        }
        // Effective time of the event's slot, then the inverse of `eff`.
        let x = (k as f64 + 1.0) * NS_PER_SEC / self.rate as f64;
        let e = if self.every_ns == 0 || x < self.every_ns as f64 {
            x
        } else {
            let (p, d, f) = (self.every_ns as f64, self.len_ns as f64, self.factor);
            // After the first period, each period is a burst of `d` (worth `f * d` of
            // effective time) then `p - d` at the normal rate.
            let per_cycle = (p - d) + f * d;
            let x = x - p;
            let cycles = (x / per_cycle).floor();
            let r = x - cycles * per_cycle;
            let within = if r > f * d {
                d + (r - f * d)
            } else if f > 0.0 {
                r / f
            } else {
                0.0
            };
            p + cycles * p + within
        };
        // Saturates for absurd values.
        e.ceil() as u64
    }

    /// The most events worth sending in one round: 50 ms at the highest rate (at least
    /// one), so a late round or a connection catching up never turns into a huge batch.
    pub(crate) fn round_cap(&self) -> u64 {
        let peak = self.rate as f64 * self.factor.max(1.0);
        ((peak / 20.0).ceil() as u64).max(1)
    }
}

/// Duration in ns, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Paces one connection's own market: the events due since the connection started.
///
/// Whatever was due in a round and not sent (the client was not keeping up, nothing was
/// subscribed, a stall) is dropped: the rate is a ceiling, never caught up on.
#[derive(Debug)]
pub(crate) struct Pacer {
    schedule: Schedule,
    origin: Instant,
    /// Events accounted for: sent or dropped.
    done: u64,
}

impl Pacer {
    /// A pacer counting from `origin`.
    pub(crate) fn new(schedule: Schedule, origin: Instant) -> Pacer {
        Pacer {
            schedule,
            origin,
            done: 0,
        }
    }

    /// Events due since the previous call, at most [`Schedule::round_cap`].
    pub(crate) fn due(&mut self, now: Instant) -> u64 {
        let target = self
            .schedule
            .due(nanos(now.saturating_duration_since(self.origin)));
        let n = target
            .saturating_sub(self.done)
            .min(self.schedule.round_cap());
        self.done = self.done.max(target);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(rate: u64, factor: f64, every_ms: u64, len_ms: u64) -> Schedule {
        let faults = FaultConfig {
            burst_factor: factor,
            burst_every: (every_ms > 0).then(|| Duration::from_millis(every_ms)),
            burst_len: Duration::from_millis(len_ms),
            ..FaultConfig::default()
        };
        Schedule::new(rate, &faults)
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn plain_rate() {
        let s = sched(1_000, 1.0, 0, 0);
        assert_eq!(s.due(0), 0);
        assert_eq!(s.due(MS - 1), 0);
        assert_eq!(s.due(MS), 1);
        assert_eq!(s.due(1_000 * MS), 1_000);
        assert_eq!(s.burst_window(5_000 * MS), None);
        assert_eq!(s.round_cap(), 50);
        assert_eq!(s.due_at(0), MS);
        assert_eq!(s.due_at(999), 1_000 * MS);
        assert_eq!(sched(0, 1.0, 0, 0).due(u64::MAX), 0);
    }

    #[test]
    fn bursts_multiply_the_rate_in_their_windows() {
        // 100/s, x10 for 200 ms every second.
        let s = sched(100, 10.0, 1_000, 200);
        assert_eq!(s.due(1_000 * MS), 100);
        assert_eq!(s.burst_window(999 * MS), None);
        assert_eq!(s.burst_window(1_000 * MS), Some(1));
        assert_eq!(s.burst_window(1_199 * MS), Some(1));
        assert_eq!(s.burst_window(1_200 * MS), None);
        assert_eq!(s.burst_window(2_100 * MS), Some(2));
        // 200 ms at 1000/s.
        assert_eq!(s.due(1_200 * MS), 300);
        // Then 800 ms at 100/s.
        assert_eq!(s.due(2_000 * MS), 380);
        assert_eq!(s.due(2_200 * MS), 580);
        assert_eq!(s.round_cap(), 50);
    }

    #[test]
    fn due_at_inverts_due() {
        for s in [
            sched(100, 10.0, 1_000, 200),
            sched(7_919, 2.5, 300, 20),
            sched(1_000, 0.0, 500, 100),
            sched(2_000, 1.0, 0, 0),
        ] {
            let mut last = 0;
            for k in 0..20_000u64 {
                let t = s.due_at(k);
                assert!(t >= last, "{s:?} {k}: {t} < {last}");
                last = t;
                assert!(s.due(t + 1) > k, "{s:?}: event {k} at {t} not due");
                assert!(
                    s.due(t.saturating_sub(2)) <= k,
                    "{s:?}: event {k} due before {t}"
                );
            }
        }
    }

    #[test]
    fn pacer_drops_what_a_late_round_missed() {
        let s = sched(1_000, 1.0, 0, 0);
        let t0 = Instant::now();
        let mut p = Pacer::new(s, t0);
        assert_eq!(p.due(t0), 0);
        assert_eq!(p.due(t0 + Duration::from_millis(10)), 10);
        assert_eq!(p.due(t0 + Duration::from_millis(10)), 0);
        // Two seconds late: one capped round, the rest dropped.
        assert_eq!(p.due(t0 + Duration::from_millis(2_010)), 50);
        assert_eq!(p.due(t0 + Duration::from_millis(2_015)), 5);
    }
}
