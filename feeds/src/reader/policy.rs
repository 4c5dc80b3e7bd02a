//! The reader's connection policy: losing a connection (reconnect with backoff, promote a
//! rotation's successor, or give up), stale links, and make-before-break rotations.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tickforge_engine::clock::wall_ns;
use tickforge_engine::record::FeedState;

use super::ReaderStage;
use crate::connection::ConnectionError;
use crate::link::Slot;

/// A rotation's successor takes over once it has delivered data for this long: long enough
/// for the old connection to deliver what it has in flight.
pub(super) const ROTATION_OVERLAP: Duration = Duration::from_millis(500);
/// ... or once it holds this many bytes of frames.
pub(super) const ROTATION_HOLD_BYTES: usize = 16 << 20;

/// What ended a connection.
pub(super) enum Loss {
    /// The connection failed or closed.
    Error(ConnectionError),
    /// No data within the idle timeout.
    Stale(Duration),
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loss::Error(e) => write!(f, "{e}"),
            Loss::Stale(d) => write!(f, "stale: no data for {} ms", d.as_millis()),
        }
    }
}

impl ReaderStage {
    /// Starts replacing feed `i`'s connection (make before break).
    pub(super) fn start_rotation(&mut self, i: usize, why: &str) {
        let f = &self.feeds[i];
        if f.ended || f.rotating() || self.stop.load(Ordering::Relaxed) {
            return;
        }
        let Some(old) = f.links[f.active].as_ref().map(|l| l.id) else {
            return;
        };
        let slot = f.successor();
        self.counters.rotations += 1;
        match self.open(i, slot) {
            Ok(new) => {
                tracing::info!(
                    feed = self.feeds[i].spec.id,
                    old,
                    new,
                    why,
                    "rotating the connection"
                );
                self.status(i, old, FeedState::Rotating, i64::from(new), why.to_string());
            }
            Err(e) => {
                self.counters.rotations_abandoned += 1;
                tracing::warn!(feed = self.feeds[i].spec.id, error = %e, "cannot open a connection to rotate to");
            }
        }
    }

    /// The successor of feed `i` has delivered data for the overlap: it takes over, after
    /// the old link has passed on everything it holds, and the old link closes.
    pub(super) fn finish_rotation(&mut self, i: usize) {
        let old_slot = self.feeds[i].active;
        // Whatever the old connection already holds is read before it closes.
        self.drain(i, old_slot);
        if self.feeds[i].active != old_slot || self.feeds[i].links[1 - old_slot].is_none() {
            // The old link was lost while draining: its successor already took over (or
            // failed too).
            return;
        }
        let f = &mut self.feeds[i];
        f.active = f.successor();
        let new_id = f.links[f.active].as_ref().map_or(0, |l| l.id);
        let registry = self.poll.registry();
        let f = &mut self.feeds[i];
        let old_id = match f.links[old_slot].take() {
            Some(l) => {
                l.conn.close(registry);
                l.id
            }
            None => 0,
        };
        self.counters.rotated += 1;
        tracing::info!(feed = f.spec.id, old = old_id, new = new_id, "rotated");
        self.status(
            i,
            new_id,
            FeedState::Rotated,
            i64::from(old_id),
            "make before break".into(),
        );
        self.release_held(i);
    }

    /// Passes on the frames the new active link of feed `i` held during its rotation, in
    /// order, after everything the old one delivered (trades on both are dropped
    /// downstream by trade id).
    pub(super) fn release_held(&mut self, i: usize) {
        let f = &mut self.feeds[i];
        let Some(link) = f.links[f.active].as_mut() else {
            return;
        };
        link.held_bytes = 0;
        let held = std::mem::take(&mut link.held);
        self.pending_status.extend(held);
        self.flush_status();
    }

    /// Reads what a closing link still has, within a bound.
    pub(super) fn drain(&mut self, i: usize, slot: Slot) {
        for _ in 0..1024 {
            if self.feeds[i].links[slot].is_none() || self.read_conn(i, slot) == 0 {
                return;
            }
        }
    }

    pub(super) fn lost(&mut self, i: usize, slot: Slot, why: Loss) {
        self.counters.disconnects += 1;
        let now = Instant::now();
        let registry = self.poll.registry();
        let f = &mut self.feeds[i];
        let link = f.links[slot].take();
        let (id, up) = match &link {
            Some(l) => (l.id, l.up_for(now)),
            None => (0, None),
        };
        if let Some(l) = link {
            l.conn.close(registry);
        }
        if slot != f.active {
            // The successor of a rotation failed: the old connection carries on.
            self.counters.rotations_abandoned += 1;
            tracing::warn!(feed = f.spec.id, reason = %why, "rotation abandoned");
            return;
        }
        if f.links[f.successor()]
            .as_ref()
            .is_some_and(|l| l.opened.is_some())
        {
            // The old connection went before the new one delivered: the new one is open and
            // subscribed, so it takes over now.
            f.active = f.successor();
            let new_id = f.links[f.active].as_ref().map_or(0, |l| l.id);
            self.counters.rotated += 1;
            self.status(
                i,
                new_id,
                FeedState::Rotated,
                i64::from(id),
                why.to_string(),
            );
            self.release_held(i);
            return;
        }
        if let Some(l) = f.links[f.successor()].take() {
            l.conn.close(registry);
        }
        let attempt = f.attempt;
        f.down_since.get_or_insert(wall_ns());
        let delay = if f.spec.reconnect && !self.stop.load(Ordering::Relaxed) {
            f.backoff.next_delay(up)
        } else {
            None
        };
        match delay {
            Some(d) => {
                f.next_attempt = Some(now + d);
                tracing::warn!(feed = f.spec.id, reason = %why, retry_in = ?d, "feed disconnected");
            }
            None => {
                f.ended = true;
                tracing::info!(feed = f.spec.id, reason = %why, "feed ended");
            }
        }
        let ended = f.ended;
        let gave_up = ended && f.spec.reconnect && !self.stop.load(Ordering::Relaxed);
        // A finite input that the peer closed cleanly has ended, not failed: its bars are
        // not flagged stale.
        let clean_end = ended && !gave_up && matches!(why, Loss::Error(ConnectionError::Closed));
        if !clean_end {
            self.status(i, id, FeedState::Disconnected, attempt, why.to_string());
        }
        if gave_up {
            let n = self.feeds[i].backoff.failures().saturating_sub(1);
            self.status(
                i,
                id,
                FeedState::Ended,
                attempt,
                format!("gave up after {n} attempts"),
            );
        } else if ended {
            self.status(i, id, FeedState::Ended, attempt, why.to_string());
        }
    }

    /// Declares stale links, abandons rotations that do not take, starts rotations of
    /// connections at the end of their lifetime.
    pub(super) fn check_links(&mut self, now: Instant, now_ns: i64) {
        for i in 0..self.feeds.len() {
            let f = &self.feeds[i];
            let Some(idle) = f.spec.idle_timeout else {
                continue;
            };
            for slot in [f.successor(), f.active] {
                let Some(link) = self.feeds[i].links[slot].as_ref() else {
                    continue;
                };
                if !link.until_stale(idle, now, now_ns).is_zero() {
                    continue;
                }
                let silent = link.silent(now_ns);
                let (feed_id, id, opened) = (self.feeds[i].spec.id, link.id, link.opened.is_some());
                if slot == self.feeds[i].active {
                    self.counters.stale += 1;
                    tracing::warn!(
                        feed = feed_id,
                        conn = id,
                        silent_ms = silent.as_millis() as u64,
                        "feed stale: reconnecting"
                    );
                    if opened {
                        let reason = format!("no data for {} ms", silent.as_millis());
                        self.status(i, id, FeedState::Stale, silent.as_millis() as i64, reason);
                    }
                }
                self.lost(i, slot, Loss::Stale(silent));
            }
        }
        for i in 0..self.feeds.len() {
            let f = &self.feeds[i];
            let done = f.links[f.successor()]
                .as_ref()
                .and_then(|l| l.first_data)
                .is_some_and(|t| now.saturating_duration_since(t) >= ROTATION_OVERLAP);
            if done {
                self.finish_rotation(i);
            }
        }
        for i in 0..self.feeds.len() {
            let f = &self.feeds[i];
            let (Some(max), Some(link)) = (f.spec.max_lifetime, f.links[f.active].as_ref()) else {
                continue;
            };
            if !f.rotating() && link.up_for(now).is_some_and(|u| u >= max) {
                self.start_rotation(i, "maximum connection lifetime");
            }
        }
    }
}
