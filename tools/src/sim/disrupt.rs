//! When one connection's faults fire: disconnects, stalls and the shutdown notice, from
//! the connection's age and the number of data frames it has sent.
//!
//! [`Disruptions::poll`] is asked once per round, before anything is read or sent;
//! [`Disruptions::budget`] caps the data frames of a round so that a fault set to fire
//! "after N" fires after exactly N.

use std::time::{Duration, Instant};

use super::faults::FaultConfig;

/// What a connection does this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Serve as usual.
    Serve,
    /// Send and read nothing until `until`; `began` on the round the stall starts.
    Stall {
        /// When the stall ends.
        until: Instant,
        /// This is the first round of the stall.
        began: bool,
    },
    /// The stall just ended: serve, without making up for the time lost.
    Resume,
    /// Close the connection (a disconnect fault).
    Disconnect,
    /// Send the venue's shutdown notice, then serve on.
    Notice,
    /// The notice's grace period is over: close the connection.
    ShutdownClose,
}

/// The fault state of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Disruptions {
    cfg: FaultConfig,
    opened: Instant,
    /// The venue has a shutdown notice (otherwise the shutdown settings are ignored).
    has_notice: bool,
    stall_until: Option<Instant>,
    /// The one-shot stall after `stall_after` frames has happened.
    stalled_after_count: bool,
    /// When the next periodic stall starts.
    next_stall: Option<Instant>,
    /// When the shutdown notice was sent.
    notice_sent: Option<Instant>,
}

impl Disruptions {
    /// The faults of `cfg` for a connection whose handshake ended at `opened`.
    pub(crate) fn new(cfg: &FaultConfig, opened: Instant, has_notice: bool) -> Disruptions {
        Disruptions {
            cfg: cfg.clone(),
            opened,
            has_notice,
            stall_until: None,
            stalled_after_count: false,
            next_stall: cfg.stall_every.map(|every| opened + every),
            notice_sent: None,
        }
    }

    fn age_reached(&self, now: Instant, age: Option<Duration>) -> bool {
        age.is_some_and(|a| now.saturating_duration_since(self.opened) >= a)
    }

    fn notice_pending(&self) -> bool {
        self.has_notice && self.notice_sent.is_none() && self.cfg.shutdown_configured()
    }

    /// What to do at `now`, with `sent` data frames sent so far. A disconnect wins over a
    /// shutdown, which wins over a stall; a stall in progress delays everything.
    pub(crate) fn poll(&mut self, now: Instant, sent: u64) -> Action {
        if let Some(until) = self.stall_until {
            if now < until {
                return Action::Stall {
                    until,
                    began: false,
                };
            }
            self.stall_until = None;
            return Action::Resume;
        }
        let c = &self.cfg;
        if c.disconnect_after.is_some_and(|n| sent >= n)
            || self.age_reached(now, c.disconnect_every)
        {
            return Action::Disconnect;
        }
        if let Some(at) = self.notice_sent {
            if now.saturating_duration_since(at) >= c.shutdown_grace {
                return Action::ShutdownClose;
            }
        } else if self.notice_pending()
            && (c.shutdown_after.is_some_and(|n| sent >= n)
                || self.age_reached(now, c.shutdown_after_time))
        {
            self.notice_sent = Some(now);
            return Action::Notice;
        }
        let by_count = !self.stalled_after_count && c.stall_after.is_some_and(|n| sent >= n);
        let by_time = self.next_stall.is_some_and(|at| now >= at);
        if by_count || by_time {
            if by_count {
                self.stalled_after_count = true;
            }
            if let (true, Some(every)) = (by_time, c.stall_every) {
                self.next_stall = Some(now + every);
            }
            let until = now + c.stall_for;
            self.stall_until = Some(until);
            return Action::Stall { until, began: true };
        }
        Action::Serve
    }

    /// How many more data frames may go out before a fault set to fire after a count of
    /// frames (`u64::MAX` when none is pending).
    pub(crate) fn budget(&self, sent: u64) -> u64 {
        let c = &self.cfg;
        let mut limit = u64::MAX;
        let mut cap = |n: Option<u64>| {
            if let Some(n) = n {
                limit = limit.min(n.saturating_sub(sent));
            }
        };
        cap(c.disconnect_after);
        if !self.stalled_after_count {
            cap(c.stall_after);
        }
        if self.notice_pending() {
            cap(c.shutdown_after);
        }
        limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nothing_configured_nothing_happens() {
        let t0 = Instant::now();
        let mut d = Disruptions::new(&FaultConfig::default(), t0, true);
        assert_eq!(d.poll(t0 + 100_000 * MS, 1 << 40), Action::Serve);
        assert_eq!(d.budget(5), u64::MAX);
    }

    #[test]
    fn disconnects_after_a_count_or_an_age() {
        let t0 = Instant::now();
        let cfg = FaultConfig {
            disconnect_after: Some(10),
            disconnect_every: Some(500 * MS),
            ..FaultConfig::default()
        };
        let mut d = Disruptions::new(&cfg, t0, false);
        assert_eq!(d.budget(4), 6);
        assert_eq!(d.poll(t0, 9), Action::Serve);
        assert_eq!(d.poll(t0, 10), Action::Disconnect);
        assert_eq!(d.budget(10), 0);
        assert_eq!(d.poll(t0 + 499 * MS, 0), Action::Serve);
        assert_eq!(d.poll(t0 + 500 * MS, 0), Action::Disconnect);
    }

    #[test]
    fn stalls_once_after_a_count_and_periodically() {
        let t0 = Instant::now();
        let cfg = FaultConfig {
            stall_after: Some(3),
            stall_every: Some(1_000 * MS),
            stall_for: 100 * MS,
            ..FaultConfig::default()
        };
        let mut d = Disruptions::new(&cfg, t0, false);
        assert_eq!(d.budget(1), 2);
        let t = t0 + 10 * MS;
        assert_eq!(
            d.poll(t, 3),
            Action::Stall {
                until: t + 100 * MS,
                began: true
            }
        );
        assert_eq!(d.budget(3), u64::MAX);
        assert_eq!(
            d.poll(t + 50 * MS, 3),
            Action::Stall {
                until: t + 100 * MS,
                began: false
            }
        );
        assert_eq!(d.poll(t + 100 * MS, 3), Action::Resume);
        assert_eq!(d.poll(t + 101 * MS, 50), Action::Serve);
        let t = t0 + 1_000 * MS;
        assert_eq!(
            d.poll(t, 60),
            Action::Stall {
                until: t + 100 * MS,
                began: true
            }
        );
        assert_eq!(d.poll(t + 100 * MS, 60), Action::Resume);
        assert_eq!(d.poll(t + 999 * MS, 60), Action::Serve);
        assert!(matches!(
            d.poll(t + 1_000 * MS, 60),
            Action::Stall { began: true, .. }
        ));
    }

    #[test]
    fn shutdown_notice_then_close_after_the_grace() {
        let t0 = Instant::now();
        let cfg = FaultConfig {
            shutdown_after: Some(5),
            shutdown_grace: 200 * MS,
            ..FaultConfig::default()
        };
        let mut d = Disruptions::new(&cfg, t0, true);
        assert_eq!(d.budget(0), 5);
        assert_eq!(d.poll(t0, 4), Action::Serve);
        assert_eq!(d.poll(t0 + MS, 5), Action::Notice);
        assert_eq!(d.budget(5), u64::MAX);
        assert_eq!(d.poll(t0 + 100 * MS, 50), Action::Serve);
        assert_eq!(d.poll(t0 + 201 * MS, 60), Action::ShutdownClose);
        // A venue without a notice ignores the setting.
        let mut d = Disruptions::new(&cfg, t0, false);
        assert_eq!(d.budget(0), u64::MAX);
        assert_eq!(d.poll(t0 + 10_000 * MS, 1_000), Action::Serve);
        // By age.
        let cfg = FaultConfig {
            shutdown_after_time: Some(300 * MS),
            ..FaultConfig::default()
        };
        let mut d = Disruptions::new(&cfg, t0, true);
        assert_eq!(d.poll(t0 + 299 * MS, 0), Action::Serve);
        assert_eq!(d.poll(t0 + 300 * MS, 0), Action::Notice);
    }
}
