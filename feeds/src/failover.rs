//! Source groups: several feeds carrying the same symbols, one primary and its backups, so
//! that the engine's output survives the loss of a source.
//!
//! Downstream, a group is one logical feed (its own feed id, which the aggregator's bars
//! and watermark follow); each source keeps its physical feed id for its own status events
//! and quality counters. Sources are healthy from `live` until they go `stale`,
//! `disconnected`, `connecting` or `ended`.
//!
//! - **Hot standby**: every source is connected, but only the active one's trades and
//!   quotes pass; the others' trades are held in a bounded buffer. When the active source
//!   goes down, the first healthy source in priority order becomes active and its held
//!   trades are passed on at once, so the trades the failed source never delivered are not
//!   lost (those it did deliver are dropped downstream by trade id). When the primary has
//!   been healthy again for the fail-back time, it becomes active the same way. A switch
//!   away from a source that is still healthy (fail-back, or the primary coming up after a
//!   backup at start-up) is a hand-over: per symbol, the old source's trades keep passing
//!   until the new one's ids meet what was delivered, and the new one's trades that are
//!   ahead wait for that, so trades still in flight on the old source are not lost.
//! - **Hot-hot**: every healthy source's trades and quotes pass; duplicates are dropped
//!   downstream by venue trade id. A source joins a symbol's stream only where its ids meet
//!   what was delivered: a (re)connected source whose first trade is ahead of the others
//!   (its id leaves a gap) is held until the others have delivered up to it, so that the
//!   downstream dedupe (an id at or below the newest is a duplicate) never drops a trade
//!   the others were still about to deliver. With no other healthy source it joins at once.
//!
//! The group's own status events (feed id = the group's) say `failed_over` / `failed_back`
//! (detail: the physical feed id now active), `disconnected` when no source is healthy, and
//! `live` when one is again. Decisions use only the times in the records, so a replay of the
//! journal makes the same ones.

use std::collections::VecDeque;

use tickforge_engine::record::{FeedState, TradeRecord};

/// How a group uses its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverMode {
    /// Only the active source's data passes.
    HotStandby,
    /// Every healthy source's data passes; duplicates are dropped by trade id.
    HotHot,
}

/// A group as configured.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    /// Name, for logs.
    pub name: String,
    /// Mode.
    pub mode: FailoverMode,
    /// Physical feed ids, primary first.
    pub sources: Vec<u32>,
    /// The group's feed id downstream.
    pub logical_feed: u32,
    /// Venue id of the primary (for the group's status records).
    pub venue: u8,
    /// Fail back to the primary after it has been healthy this long, ns.
    pub failback_ns: i64,
}

/// Trades held per group while their source is on standby.
const HELD_TRADES: usize = 1 << 16;

/// What happens to a record from a grouped source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Pass it on.
    Pass,
    /// Suppress it (standby source).
    Hold,
}

/// A status event of a group, for the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEvent {
    /// The group's feed id.
    pub feed: u32,
    /// Venue id of the primary.
    pub venue: u8,
    /// When (the time of the record that caused it).
    pub ts: i64,
    /// The new state.
    pub state: FeedState,
    /// Detail: the active physical feed id, or the number of held trades replayed.
    pub detail: i64,
    /// Why.
    pub reason: String,
}

/// Counters of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounters {
    /// Failovers to a backup.
    pub failovers: u64,
    /// Returns to the primary.
    pub failbacks: u64,
    /// Trades of standby sources held back.
    pub held_trades: u64,
    /// Quotes of standby sources dropped.
    pub suppressed_quotes: u64,
    /// Held trades passed on at a switch (those the previous source had not delivered).
    pub replayed_trades: u64,
    /// Held trades that fell out of the full buffer.
    pub held_overflow: u64,
}

struct Source {
    feed: u32,
    healthy: bool,
    healthy_since: i64,
    /// Per symbol, the source's ids have met the delivered ones (hot-hot: every source;
    /// hot standby: the active one during a hand-over).
    joined: Vec<bool>,
}

struct Group {
    spec: GroupSpec,
    /// Counter names in `NAME.stats`: `group.<name>.<counter>`.
    names: [&'static str; 6],
    sources: Vec<Source>,
    active: usize,
    up: bool,
    /// The primary has not been healthy yet: a backup serves only until it is (no fail-back
    /// wait at start-up).
    starting: bool,
    held: VecDeque<(usize, TradeRecord)>,
    /// Per symbol, the newest trade id delivered.
    last: Vec<u64>,
    /// Hot standby: the source active before a hand-over, still healthy, whose trades
    /// pass on the symbols the active source has not joined yet.
    draining: Option<usize>,
    counters: GroupCounters,
}

/// Every group of an engine.
pub struct Failover {
    groups: Vec<Group>,
    /// Per physical feed id: (group, source index).
    member: Vec<Option<(usize, usize)>>,
}

impl Failover {
    /// The groups of `specs`; `feeds` is the number of physical feeds, `symbols` the
    /// number of symbols.
    pub fn new(specs: Vec<GroupSpec>, feeds: usize, symbols: usize) -> Failover {
        let mut member = vec![None; feeds];
        let groups = specs
            .into_iter()
            .enumerate()
            .map(|(g, spec)| {
                for (k, &f) in spec.sources.iter().enumerate() {
                    if let Some(m) = member.get_mut(f as usize) {
                        *m = Some((g, k));
                    }
                }
                // Counter names must be 'static: six per group, made once per engine.
                let names = [
                    "failovers",
                    "failbacks",
                    "held_trades",
                    "suppressed_quotes",
                    "replayed_trades",
                    "held_overflow",
                ]
                .map(|c| &*Box::leak(format!("group.{}.{c}", spec.name).into_boxed_str()));
                Group {
                    names,
                    sources: spec
                        .sources
                        .iter()
                        .map(|&feed| Source {
                            feed,
                            healthy: false,
                            healthy_since: 0,
                            joined: vec![false; symbols],
                        })
                        .collect(),
                    spec,
                    active: 0,
                    up: false,
                    starting: true,
                    held: VecDeque::new(),
                    last: vec![0; symbols],
                    draining: None,
                    counters: GroupCounters::default(),
                }
            })
            .collect();
        Failover { groups, member }
    }

    /// True when there is no group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups' names and counters.
    pub fn counters(&self) -> impl Iterator<Item = (&str, GroupCounters)> {
        self.groups
            .iter()
            .map(|g| (g.spec.name.as_str(), g.counters))
    }

    /// Reports every group's counters as (name, value) pairs.
    pub fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        for g in &self.groups {
            let c = g.counters;
            let values = [
                c.failovers,
                c.failbacks,
                c.held_trades,
                c.suppressed_quotes,
                c.replayed_trades,
                c.held_overflow,
            ];
            for (name, v) in g.names.iter().zip(values) {
                out(name, v);
            }
        }
    }

    /// The logical feed of a physical one: its group's feed id, or itself.
    #[inline]
    pub fn logical_feed(&self, feed: u32) -> u32 {
        match self.member.get(feed as usize).copied().flatten() {
            Some((g, _)) => self.groups[g].spec.logical_feed,
            None => feed,
        }
    }

    /// Whether a trade of `feed` passes now. Trades held back are kept for a switch (hot
    /// standby) or until the others catch up (hot-hot); held trades that may pass because
    /// of this one go to `release`, in order, to follow it.
    #[inline]
    pub fn route_trade(
        &mut self,
        feed: u32,
        t: &TradeRecord,
        release: &mut Vec<TradeRecord>,
    ) -> Route {
        let Some((g, k)) = self.member.get(feed as usize).copied().flatten() else {
            return Route::Pass;
        };
        let group = &mut self.groups[g];
        match group.spec.mode {
            FailoverMode::HotHot => group.route_hot_hot(k, t, release),
            FailoverMode::HotStandby => group.route_standby(k, t, release),
        }
    }

    /// Whether a quote of `feed` passes now.
    #[inline]
    pub fn route_quote(&mut self, feed: u32) -> Route {
        let Some((g, k)) = self.member.get(feed as usize).copied().flatten() else {
            return Route::Pass;
        };
        let group = &mut self.groups[g];
        if group.spec.mode == FailoverMode::HotHot || k == group.active {
            Route::Pass
        } else {
            group.counters.suppressed_quotes += 1;
            Route::Hold
        }
    }

    /// Whether a clock tick of `feed` advances its logical feed: only the active source's.
    pub fn clock_feed(&self, feed: u32) -> Option<u32> {
        match self.member.get(feed as usize).copied().flatten() {
            None => Some(feed),
            Some((g, k)) => {
                let group = &self.groups[g];
                let passes = group.spec.mode == FailoverMode::HotHot || k == group.active;
                passes.then_some(group.spec.logical_feed)
            }
        }
    }

    /// Notes a physical feed's state at time `ts`; group events and held trades to pass on
    /// go to `events` and `replay`.
    pub fn on_status(
        &mut self,
        feed: u32,
        state: FeedState,
        ts: i64,
        events: &mut Vec<GroupEvent>,
        replay: &mut Vec<TradeRecord>,
    ) {
        let Some((g, k)) = self.member.get(feed as usize).copied().flatten() else {
            return;
        };
        let healthy = match state {
            FeedState::Live | FeedState::Subscribed | FeedState::Rotated => Some(true),
            FeedState::Stale
            | FeedState::Disconnected
            | FeedState::Connecting
            | FeedState::Ended => Some(false),
            _ => None,
        };
        let Some(healthy) = healthy else { return };
        let group = &mut self.groups[g];
        let src = &mut group.sources[k];
        if healthy && !src.healthy {
            src.healthy_since = ts;
        }
        if !healthy {
            // A source that comes back joins again where its ids meet the others'.
            src.joined.iter_mut().for_each(|j| *j = false);
        }
        src.healthy = healthy;
        if group.spec.mode == FailoverMode::HotHot && !healthy {
            // Sources held back waiting for others that are gone now join at once.
            let waiting: Vec<usize> = group.held.iter().map(|(j, _)| *j).collect();
            for j in waiting {
                let others = group
                    .sources
                    .iter()
                    .enumerate()
                    .any(|(i, src)| i != j && src.healthy && src.joined.iter().any(|&x| x));
                if !others && group.sources[j].healthy {
                    group.release_source(j, None, replay);
                }
            }
            group.held.retain(|(j, _)| group.sources[*j].healthy);
        }
        if group.draining == Some(k) && !healthy {
            // The old source of a hand-over is gone: the new one takes every symbol now.
            group.draining = None;
            let active = group.active;
            if group.sources[active].healthy {
                group.release_source(active, None, replay);
            }
        }
        group.reconsider(ts, events, replay);
    }

    /// Fails back to primaries that have been healthy long enough, at time `ts`. (At
    /// start-up a backup that came up first serves until the primary is up.)
    #[inline]
    pub fn tick(&mut self, ts: i64, events: &mut Vec<GroupEvent>, replay: &mut Vec<TradeRecord>) {
        for group in &mut self.groups {
            if group.active != 0 && group.sources[0].healthy {
                group.reconsider(ts, events, replay);
            }
        }
    }
}

impl Group {
    fn hold(&mut self, k: usize, t: &TradeRecord) {
        if self.held.len() == HELD_TRADES {
            self.held.pop_front();
            self.counters.held_overflow += 1;
        }
        self.held.push_back((k, *t));
        self.counters.held_trades += 1;
    }

    /// Whether trade `id` of symbol `s` meets what was delivered: nothing yet, a repeat, or
    /// the next id.
    #[inline]
    fn meets(&self, s: usize, id: u64) -> bool {
        self.last[s] == 0 || id <= self.last[s] + 1
    }

    /// Whether a source whose next trade is `t` can join `t`'s symbol: its id meets what was
    /// delivered, or it carries no order to wait for.
    fn can_join(&self, t: &TradeRecord) -> bool {
        let s = t.symbol as usize;
        !t.ids_consecutive() || s >= self.last.len() || self.meets(s, t.trade_id)
    }

    /// Hot standby: the active source's trades pass (during a hand-over, once its ids meet
    /// the delivered ones); the old source's pass on the symbols the active one has not
    /// joined yet; every other trade is held.
    fn route_standby(
        &mut self,
        k: usize,
        t: &TradeRecord,
        release: &mut Vec<TradeRecord>,
    ) -> Route {
        let s = t.symbol as usize;
        let a = self.active;
        if !t.ids_consecutive() || s >= self.last.len() {
            if k == a {
                return Route::Pass;
            }
            self.hold(k, t);
            return Route::Hold;
        }
        if k == a {
            if !self.sources[a].joined[s] {
                if !self.meets(s, t.trade_id) && self.draining.is_some() {
                    self.hold(k, t);
                    return Route::Hold;
                }
                self.sources[a].joined[s] = true;
            }
            self.last[s] = self.last[s].max(t.trade_id);
            return Route::Pass;
        }
        if self.draining == Some(k) && !self.sources[a].joined[s] {
            if t.trade_id > self.last[s] {
                self.last[s] = t.trade_id;
                self.release_caught_up(s, release);
            }
            return Route::Pass;
        }
        self.hold(k, t);
        Route::Hold
    }

    /// Hot-hot: a trade of source `k` passes once the source has joined the symbol.
    fn route_hot_hot(
        &mut self,
        k: usize,
        t: &TradeRecord,
        release: &mut Vec<TradeRecord>,
    ) -> Route {
        let s = t.symbol as usize;
        if !t.ids_consecutive() || s >= self.last.len() {
            return Route::Pass;
        }
        if !self.sources[k].joined[s] {
            let meets = self.meets(s, t.trade_id);
            let others = self
                .sources
                .iter()
                .enumerate()
                .any(|(j, src)| j != k && src.healthy && src.joined[s]);
            if !meets && others {
                self.hold(k, t);
                return Route::Hold;
            }
            self.sources[k].joined[s] = true;
        }
        if t.trade_id > self.last[s] {
            self.last[s] = t.trade_id;
            if !self.held.is_empty() {
                self.release_caught_up(s, release);
            }
        }
        Route::Pass
    }

    /// Sources held on symbol `s` (hot-hot: any; hot standby: the active one) whose next id
    /// now meets the delivered ones join, and their held trades beyond the delivered ones go
    /// to `release`.
    fn release_caught_up(&mut self, s: usize, release: &mut Vec<TradeRecord>) {
        let standby = self.spec.mode == FailoverMode::HotStandby;
        let active = self.active;
        let mut joining: Vec<usize> = self
            .held
            .iter()
            .filter(|(k, t)| t.symbol as usize == s && (!standby || *k == active))
            .map(|(k, _)| *k)
            .collect();
        joining.sort_unstable();
        joining.dedup();
        for k in joining {
            let first = self
                .held
                .iter()
                .find(|(j, t)| *j == k && t.symbol as usize == s);
            if first.is_some_and(|(_, t)| self.can_join(t)) {
                self.release_source(k, Some(s), release);
            }
        }
    }

    /// Marks source `k` joined (on symbol `s`, or every symbol) and passes on its held
    /// trades there that are newer than what was delivered.
    fn release_source(&mut self, k: usize, s: Option<usize>, release: &mut Vec<TradeRecord>) {
        let mut kept = VecDeque::with_capacity(self.held.len());
        for (j, t) in self.held.drain(..) {
            let sym = t.symbol as usize;
            if j == k && s.is_none_or(|s| s == sym) {
                let newer = match self.last.get_mut(sym) {
                    Some(last) if t.ids_consecutive() => {
                        let newer = t.trade_id > *last;
                        *last = (*last).max(t.trade_id);
                        newer
                    }
                    _ => true,
                };
                if newer {
                    release.push(t);
                    self.counters.replayed_trades += 1;
                }
            } else {
                kept.push_back((j, t));
            }
        }
        self.held = kept;
        match s {
            Some(s) => {
                if let Some(j) = self.sources[k].joined.get_mut(s) {
                    *j = true;
                }
            }
            None => self.sources[k].joined.iter_mut().for_each(|j| *j = true),
        }
    }

    /// Hot standby: source `next` becomes active after `from`. When `from` is dead, `next`
    /// takes every symbol at once with its held trades; when `from` is still healthy, it
    /// drains: `next` joins a symbol where its held trades meet the delivered ones, and on
    /// the others when its ids do.
    fn hand_over(&mut self, from: usize, next: usize, replay: &mut Vec<TradeRecord>) {
        self.sources[next]
            .joined
            .iter_mut()
            .for_each(|j| *j = false);
        if from == next || !self.sources[from].healthy {
            self.draining = None;
            self.release_source(next, None, replay);
            return;
        }
        self.draining = Some(from);
        let mut symbols: Vec<usize> = self
            .held
            .iter()
            .filter(|(k, _)| *k == next)
            .map(|(_, t)| t.symbol as usize)
            .collect();
        symbols.sort_unstable();
        symbols.dedup();
        // `next` is the active source now: it joins where its first held trade meets.
        for s in symbols {
            self.release_caught_up(s, replay);
        }
    }

    fn event(&self, ts: i64, state: FeedState, detail: i64, reason: String) -> GroupEvent {
        GroupEvent {
            feed: self.spec.logical_feed,
            venue: self.spec.venue,
            ts,
            state,
            detail,
            reason,
        }
    }

    /// Picks the active source after a change, at time `ts`.
    fn reconsider(&mut self, ts: i64, events: &mut Vec<GroupEvent>, replay: &mut Vec<TradeRecord>) {
        let any = self.sources.iter().position(|s| s.healthy);
        let primary_back = self.active != 0
            && self.sources[0].healthy
            && (self.starting
                || ts.saturating_sub(self.sources[0].healthy_since) >= self.spec.failback_ns);
        if self.sources[0].healthy {
            self.starting = false;
        }
        let active_ok = self.sources[self.active].healthy;
        let next = match any {
            None => {
                if self.up {
                    self.up = false;
                    let reason = format!("{}: no healthy source", self.spec.name);
                    events.push(self.event(ts, FeedState::Disconnected, -1, reason));
                }
                return;
            }
            Some(_) if primary_back => 0,
            Some(_) if active_ok => {
                if !self.up {
                    self.up = true;
                    let feed = i64::from(self.sources[self.active].feed);
                    events.push(self.event(
                        ts,
                        FeedState::Live,
                        feed,
                        format!("{} up", self.spec.name),
                    ));
                }
                return;
            }
            Some(first) => first,
        };
        let from = self.active;
        self.active = next;
        let feed = self.sources[next].feed;
        let state = if !self.up {
            FeedState::Live
        } else if next == 0 {
            self.counters.failbacks += 1;
            FeedState::FailedBack
        } else {
            self.counters.failovers += 1;
            FeedState::FailedOver
        };
        self.up = true;
        if self.spec.mode == FailoverMode::HotStandby {
            self.hand_over(from, next, replay);
        }
        tracing::warn!(group = %self.spec.name, from = self.sources[from].feed, to = feed, "source switch");
        let reason = format!("{}: now feed {feed}", self.spec.name);
        events.push(self.event(ts, state, i64::from(feed), reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_engine::record::Side;

    const S: i64 = 1_000_000_000;

    fn group(mode: FailoverMode) -> Failover {
        Failover::new(
            vec![GroupSpec {
                name: "g".into(),
                mode,
                sources: vec![0, 1],
                logical_feed: 2,
                venue: 1,
                failback_ns: 5 * S,
            }],
            2,
            4,
        )
    }

    fn trade(id: u64) -> TradeRecord {
        TradeRecord::new(1, 0, id as i64, id as i64, 1, 1, Side::Buy, id)
    }

    #[test]
    fn hot_standby_passes_the_primary_then_fails_over_with_the_held_trades() {
        let mut f = group(FailoverMode::HotStandby);
        let (mut ev, mut rp) = (Vec::new(), Vec::new());
        f.on_status(0, FeedState::Live, S, &mut ev, &mut rp);
        f.on_status(1, FeedState::Live, S, &mut ev, &mut rp);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!((ev[0].state, ev[0].feed), (FeedState::Live, 2));
        assert_eq!(f.route_trade(0, &trade(1), &mut Vec::new()), Route::Pass);
        assert_eq!(f.route_trade(1, &trade(1), &mut Vec::new()), Route::Hold);
        assert_eq!(f.route_trade(1, &trade(2), &mut Vec::new()), Route::Hold);
        assert_eq!(f.route_quote(1), Route::Hold);
        assert_eq!(f.clock_feed(0), Some(2));
        assert_eq!(f.clock_feed(1), None);
        ev.clear();
        f.on_status(0, FeedState::Disconnected, 2 * S, &mut ev, &mut rp);
        assert_eq!(ev[0].state, FeedState::FailedOver);
        assert_eq!(ev[0].detail, 1);
        assert_eq!(
            rp.iter().map(|t| t.trade_id).collect::<Vec<_>>(),
            vec![2],
            "the held trades the primary did not deliver"
        );
        assert_eq!(f.route_trade(1, &trade(3), &mut Vec::new()), Route::Pass);
        // The primary is back, but fails back only after 5 s of health.
        ev.clear();
        rp.clear();
        f.on_status(0, FeedState::Live, 3 * S, &mut ev, &mut rp);
        assert!(ev.is_empty());
        assert_eq!(f.route_trade(0, &trade(4), &mut Vec::new()), Route::Hold);
        f.tick(7 * S, &mut ev, &mut rp);
        assert!(ev.is_empty());
        f.tick(8 * S, &mut ev, &mut rp);
        assert_eq!(ev[0].state, FeedState::FailedBack);
        assert_eq!(rp.iter().map(|t| t.trade_id).collect::<Vec<_>>(), vec![4]);
        // Both down: the group is down; one back: up again.
        ev.clear();
        f.on_status(0, FeedState::Stale, 9 * S, &mut ev, &mut rp);
        f.on_status(1, FeedState::Stale, 9 * S, &mut ev, &mut rp);
        assert_eq!(ev.last().unwrap().state, FeedState::Disconnected);
        f.on_status(1, FeedState::Live, 10 * S, &mut ev, &mut rp);
        assert_eq!(ev.last().unwrap().state, FeedState::Live);
        let c = f.counters().next().unwrap().1;
        assert_eq!((c.failovers, c.failbacks), (2, 1), "{c:?}");
    }

    fn ids(v: &[TradeRecord]) -> Vec<u64> {
        v.iter().map(|t| t.trade_id).collect()
    }

    #[test]
    fn hot_standby_hands_over_from_a_healthy_source_without_losing_its_trades_in_flight() {
        let mut f = group(FailoverMode::HotStandby);
        let (mut ev, mut rp) = (Vec::new(), Vec::new());
        // The backup is up first and serves; the primary comes up at 2 s.
        f.on_status(1, FeedState::Live, S, &mut ev, &mut rp);
        for id in 1..=5 {
            assert_eq!(f.route_trade(1, &trade(id), &mut rp), Route::Pass);
        }
        f.on_status(0, FeedState::Live, 2 * S, &mut ev, &mut rp);
        assert_eq!(ev.last().unwrap().state, FeedState::FailedBack);
        assert!(rp.is_empty());
        // The primary's stream starts at 11; 6..=10 are still on their way from the backup.
        assert_eq!(f.route_trade(0, &trade(11), &mut rp), Route::Hold);
        for id in 6..=9 {
            assert_eq!(f.route_trade(1, &trade(id), &mut rp), Route::Pass);
        }
        assert!(rp.is_empty());
        assert_eq!(f.route_trade(1, &trade(10), &mut rp), Route::Pass);
        assert_eq!(
            ids(&rp),
            vec![11],
            "the primary joins where the backup reached"
        );
        rp.clear();
        assert_eq!(f.route_trade(1, &trade(11), &mut rp), Route::Hold);
        assert_eq!(f.route_trade(1, &trade(12), &mut rp), Route::Hold);
        assert_eq!(f.route_trade(0, &trade(12), &mut rp), Route::Pass);
        // Another symbol: the primary's first trade meets the backup's newest, so it joins.
        let mut t = trade(3);
        t.symbol = 1;
        let mut u = t;
        u.trade_id = 2;
        assert_eq!(f.route_trade(1, &u, &mut rp), Route::Pass, "not joined yet");
        assert_eq!(f.route_trade(0, &t, &mut rp), Route::Pass);
        assert_eq!(f.route_trade(1, &t, &mut rp), Route::Hold);
        // A third symbol the primary is ahead on, and the backup dies: it joins at once.
        let mut v = trade(9);
        v.symbol = 2;
        let mut w = v;
        w.trade_id = 4;
        assert_eq!(f.route_trade(1, &w, &mut rp), Route::Pass);
        assert_eq!(f.route_trade(0, &v, &mut rp), Route::Hold);
        f.on_status(1, FeedState::Disconnected, 3 * S, &mut ev, &mut rp);
        assert_eq!(ids(&rp), vec![9]);
        v.trade_id = 10;
        assert_eq!(f.route_trade(0, &v, &mut rp), Route::Pass);
    }

    #[test]
    fn hot_hot_passes_every_source() {
        let mut f = group(FailoverMode::HotHot);
        let (mut ev, mut rp) = (Vec::new(), Vec::new());
        f.on_status(0, FeedState::Live, S, &mut ev, &mut rp);
        f.on_status(1, FeedState::Live, S, &mut ev, &mut rp);
        assert_eq!(f.route_trade(0, &trade(1), &mut Vec::new()), Route::Pass);
        assert_eq!(f.route_trade(1, &trade(1), &mut Vec::new()), Route::Pass);
        assert_eq!(f.clock_feed(1), Some(2));
        f.on_status(0, FeedState::Disconnected, 2 * S, &mut ev, &mut rp);
        assert!(rp.is_empty());
    }

    #[test]
    fn hot_hot_holds_a_source_that_starts_ahead_until_the_others_catch_up() {
        let mut f = group(FailoverMode::HotHot);
        let (mut ev, mut rp) = (Vec::new(), Vec::new());
        f.on_status(0, FeedState::Live, S, &mut ev, &mut rp);
        f.on_status(1, FeedState::Live, S, &mut ev, &mut rp);
        for id in 1..=3 {
            assert_eq!(f.route_trade(0, &trade(id), &mut rp), Route::Pass);
        }
        assert_eq!(
            f.route_trade(1, &trade(5), &mut rp),
            Route::Hold,
            "ahead: 4 is due first"
        );
        assert_eq!(f.route_trade(1, &trade(6), &mut rp), Route::Hold);
        assert_eq!(f.route_trade(0, &trade(4), &mut rp), Route::Pass);
        assert_eq!(
            rp.iter().map(|t| t.trade_id).collect::<Vec<_>>(),
            vec![5, 6]
        );
        assert_eq!(f.route_trade(1, &trade(7), &mut rp), Route::Pass, "joined");
        // A source alone joins at once, gap or not.
        rp.clear();
        f.on_status(0, FeedState::Disconnected, 2 * S, &mut ev, &mut rp);
        f.on_status(0, FeedState::Live, 3 * S, &mut ev, &mut rp);
        assert_eq!(
            f.route_trade(0, &trade(20), &mut rp),
            Route::Hold,
            "20 leaves a gap after 7 while source 1 is healthy"
        );
        f.on_status(1, FeedState::Disconnected, 4 * S, &mut ev, &mut rp);
        assert_eq!(rp.iter().map(|t| t.trade_id).collect::<Vec<_>>(), vec![20]);
        assert_eq!(f.route_trade(0, &trade(21), &mut rp), Route::Pass);
    }

    #[test]
    fn feeds_outside_groups_pass_untouched() {
        let mut f = Failover::new(Vec::new(), 3, 4);
        assert_eq!(f.route_trade(2, &trade(1), &mut Vec::new()), Route::Pass);
        assert_eq!(f.logical_feed(2), 2);
        assert!(f.is_empty());
    }
}
