//! The parser stage: frames in, normalized records out, through the policy edge.
//!
//! Each frame goes to its feed's venue adapter. Trades and quotes go out under the
//! full-ring policy ([`PolicyOutbox`]); acknowledgements and venue errors become feed-status
//! records; rejected frames are counted by reason and skipped. Clock ticks, status changes
//! and the end of input pass through in order.

use tickforge_engine::backpressure::PolicyOutbox;
use tickforge_engine::frame::{
    DropNote, Feedback, FeedbackSender, FrameInbox, FrameKind, FrameRef, IN_BYTE_RING,
};
use tickforge_engine::record::{
    ClockRecord, EndRecord, FeedState, FeedStatusRecord, Record, TradeRecord,
};
use tickforge_engine::stage::Stage;
use tickforge_engine::stages::StageLatency;
use tickforge_engine::symbol::venue;

use crate::failover::{Failover, GroupEvent, Route};
use crate::quality::SourceQuality;
use crate::venue::{AdapterEvent, ControlEvent, RejectReason, VenueAdapter};

/// Frames parsed per poll before giving other stages a turn.
const PARSE_BUDGET: usize = 256;

/// Counters of the parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParserCounters {
    /// Data frames parsed.
    pub frames: u64,
    /// Trades out.
    pub trades: u64,
    /// Quotes out.
    pub quotes: u64,
    /// Control messages (acks, errors, notices).
    pub control: u64,
    /// Well-formed messages the adapter does not use.
    pub ignored: u64,
    /// Venue heartbeats.
    pub heartbeats: u64,
    /// Rejected frames by [`RejectReason::index`]; binary frames are counted in the last slot.
    pub rejected: [u64; RejectReason::COUNT + 1],
    /// Trades and quotes left out by the symbol filter (replays).
    pub filtered: u64,
    /// Recorded drops reproduced (replays).
    pub replayed_drops: u64,
    /// Dropped trades whose note to the journal was lost (the reader fell behind).
    pub drop_notes_lost: u64,
    /// Shutdown notices that could not be passed to the reader.
    pub rotations_lost: u64,
    /// Trades of standby sources held back (failover groups).
    pub standby: u64,
}

impl ParserCounters {
    /// Counter names for `rejected`, by index.
    pub fn reject_names() -> impl Iterator<Item = &'static str> {
        RejectReason::NAMES
            .iter()
            .copied()
            .chain(std::iter::once("binary_frame"))
    }

    /// All rejected frames.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

/// Rejected frames of one venue, by reason, with their counter names
/// (`<venue>.<reason>`).
struct VenueRejects {
    venue: u8,
    names: Vec<&'static str>,
    counts: [u64; RejectReason::COUNT + 1],
}

/// The parser stage.
pub struct ParserStage {
    input: FrameInbox,
    out: PolicyOutbox,
    /// Adapter per feed id.
    adapters: Vec<Box<dyn VenueAdapter>>,
    /// Index into `venue_rejects` per feed id.
    venue_slot: Vec<usize>,
    venue_rejects: Vec<VenueRejects>,
    scratch: Vec<u8>,
    done: bool,
    counters: ParserCounters,
    /// Where dropped trades (for the journal) and shutdown notices (for the connection)
    /// are reported to the reader.
    feedback: Option<FeedbackSender>,
    /// Symbols let through, by id (replays); `None`: all.
    symbol_filter: Option<Vec<bool>>,
    /// Source groups (primary and backups).
    failover: Failover,
    /// Per-feed quality, when asked for.
    quality: Option<SourceQuality>,
    group_events: Vec<GroupEvent>,
    group_replay: Vec<TradeRecord>,
    /// Sampled latency from frame receipt to the parser taking the frame.
    latency: StageLatency,
}

impl ParserStage {
    /// A parser reading `input`, with `adapters[feed]` for each feed, writing to `out`.
    pub fn new(input: FrameInbox, out: PolicyOutbox, adapters: Vec<Box<dyn VenueAdapter>>) -> Self {
        let mut venue_rejects: Vec<VenueRejects> = Vec::new();
        let mut venue_slot = Vec::with_capacity(adapters.len());
        for a in &adapters {
            let v = a.venue();
            let slot = match venue_rejects.iter().position(|r| r.venue == v) {
                Some(i) => i,
                None => {
                    // Counter names must be 'static; a few dozen short strings per engine.
                    let names = ParserCounters::reject_names()
                        .map(|r| &*Box::leak(format!("{}.{r}", venue::name(v)).into_boxed_str()))
                        .collect();
                    venue_rejects.push(VenueRejects {
                        venue: v,
                        names,
                        counts: [0; RejectReason::COUNT + 1],
                    });
                    venue_rejects.len() - 1
                }
            };
            venue_slot.push(slot);
        }
        ParserStage {
            input,
            out,
            adapters,
            venue_slot,
            venue_rejects,
            scratch: Vec::new(),
            done: false,
            counters: ParserCounters::default(),
            feedback: None,
            symbol_filter: None,
            failover: Failover::new(Vec::new(), 0, 0),
            quality: None,
            group_events: Vec::new(),
            group_replay: Vec::new(),
            latency: StageLatency::default(),
        }
    }

    /// Where the parser's sampled latency since frame receipt goes in `NAME.stats`.
    pub fn set_latency_slot(&mut self, slot: tickforge_engine::shm::HistogramSlot) {
        self.latency.set_slot(slot);
    }

    /// Arbitrates between the sources of these groups (see [`crate::failover`]).
    pub fn with_failover(mut self, failover: Failover) -> Self {
        self.failover = failover;
        self
    }

    /// Keeps per-feed quality counters and latency histograms.
    pub fn with_quality(mut self, quality: SourceQuality) -> Self {
        self.quality = Some(quality);
        self
    }

    /// Where the per-feed latency histograms go in `NAME.stats`.
    pub fn set_quality_slots(&mut self, slots: Vec<tickforge_engine::shm::HistogramSlot>) {
        if let Some(q) = self.quality.as_mut() {
            q.set_slots(slots);
        }
    }

    /// Reports every trade dropped on the full ring (for the journal) and every shutdown
    /// notice (to replace the connection) to the reader through `feedback`.
    pub fn with_feedback(mut self, feedback: FeedbackSender) -> Self {
        self.feedback = Some(feedback);
        self
    }

    /// Passes on only the trades and quotes of the symbols marked in `keep` (by id).
    pub fn with_symbol_filter(mut self, keep: Vec<bool>) -> Self {
        self.symbol_filter = Some(keep);
        self
    }

    /// The parser's counters.
    pub fn counters(&self) -> ParserCounters {
        self.counters
    }

    /// The policy edge's counters (drops, conflation, sampling).
    pub fn policy(&self) -> &PolicyOutbox {
        &self.out
    }
}

/// Passes on what the source groups decided: their status events, then the held trades of
/// a newly active source.
fn flush_groups(
    out: &mut PolicyOutbox,
    events: &mut Vec<GroupEvent>,
    replay: &mut Vec<TradeRecord>,
) {
    for ev in events.drain(..) {
        out.push_control(status_record(
            ev.venue, ev.feed, 0, ev.state, ev.ts, ev.detail, &ev.reason,
        ));
    }
    for t in replay.drain(..) {
        out.push_trade(t);
    }
}

/// The part of a venue's error message worth keeping in a 32-byte status reason: the
/// quoted subject when there is one (`unknown stream 'nopeusdt@trade'` → `nopeusdt@trade`),
/// else the message itself. The full message goes to the log.
fn error_subject(message: &str) -> &str {
    crate::venue::quoted_name(message).unwrap_or(message)
}

/// True when the replay marked trade `index` of this frame as dropped by the live engine:
/// bit `index` of a data frame's `detail`.
#[inline]
fn recorded_drop(head: &FrameRef, index: u32) -> bool {
    head.detail != 0 && index < 64 && (head.detail as u64 >> index) & 1 == 1
}

fn status_record(
    venue: u8,
    feed: u32,
    conn: u32,
    state: FeedState,
    ts: i64,
    detail: i64,
    reason: &str,
) -> Record {
    Record::from(FeedStatusRecord::new(
        venue, feed, conn, state, ts, detail, reason,
    ))
}

impl Stage for ParserStage {
    fn name(&self) -> &'static str {
        "parser"
    }

    fn poll(&mut self) -> usize {
        let mut work = self.out.flush();
        let ParserStage {
            input,
            out,
            adapters,
            venue_slot,
            venue_rejects,
            scratch,
            done,
            counters,
            feedback,
            symbol_filter,
            failover,
            quality,
            group_events,
            group_replay,
            latency,
        } = self;
        let mut sampled = false;
        while work < PARSE_BUDGET && !*done && out.can_accept() {
            let handled = input.pop_with(scratch, |head, payload| {
                let venue = adapters.get(head.feed as usize).map_or(0, |a| a.venue());
                match head.kind {
                    FrameKind::Text => {
                        counters.frames += 1;
                        if !sampled {
                            sampled = true;
                            latency.sample(head.recv_ts);
                        }
                        if let Some(q) = quality.as_mut() {
                            q.frame(head.feed);
                        }
                        let Some(adapter) = adapters.get_mut(head.feed as usize) else {
                            return head.recv_ts;
                        };
                        let (feed, conn, ts) = (head.feed, head.conn, head.recv_ts);
                        let keep = |s: u32| {
                            symbol_filter
                                .as_ref()
                                .is_none_or(|k| k.get(s as usize).copied().unwrap_or(false))
                        };
                        let mut trade_index = 0u32;
                        let result = adapter.parse(payload, ts, &mut |ev| match ev {
                            AdapterEvent::Trade(t) => {
                                let index = trade_index;
                                trade_index += 1;
                                if let Some(q) = quality.as_mut() {
                                    q.trade(feed, &t);
                                }
                                if !keep(t.symbol) {
                                    counters.filtered += 1;
                                } else if failover.route_trade(feed, &t, group_replay)
                                    == Route::Hold
                                {
                                    counters.standby += 1;
                                } else if recorded_drop(head, index) {
                                    counters.replayed_drops += 1;
                                    out.drop_trade(t);
                                } else {
                                    counters.trades += 1;
                                    if !out.push_trade(t) && head.segment != IN_BYTE_RING {
                                        let note = DropNote {
                                            segment: head.segment,
                                            offset: head.offset,
                                            index,
                                            symbol: t.symbol,
                                            feed,
                                            conn,
                                            recv_ts: ts,
                                        };
                                        let sent = feedback
                                            .as_mut()
                                            .is_none_or(|f| f.send(Feedback::Drop(note)));
                                        if !sent {
                                            counters.drop_notes_lost += 1;
                                        }
                                    }
                                }
                            }
                            AdapterEvent::Quote(q) => {
                                if keep(q.symbol) && failover.route_quote(feed) == Route::Pass {
                                    counters.quotes += 1;
                                    out.push_quote(q);
                                } else {
                                    counters.filtered += 1;
                                }
                            }
                            AdapterEvent::Control(c) => {
                                counters.control += 1;
                                let rec = match &c {
                                    ControlEvent::SubscribeAck { id } => Some(status_record(
                                        venue,
                                        feed,
                                        conn,
                                        FeedState::Subscribed,
                                        ts,
                                        id.map_or(-1, |i| i as i64),
                                        "ack",
                                    )),
                                    ControlEvent::VenueError {
                                        code,
                                        message,
                                        subject,
                                        ..
                                    } => {
                                        tracing::warn!(feed, code, message, "venue error");
                                        Some(status_record(
                                            venue,
                                            feed,
                                            conn,
                                            FeedState::VenueError,
                                            ts,
                                            *code,
                                            subject
                                                .as_deref()
                                                .unwrap_or_else(|| error_subject(message)),
                                        ))
                                    }
                                    ControlEvent::ServerShutdown { .. } => {
                                        let asked = feedback.as_mut().is_some_and(|f| {
                                            f.send(Feedback::Rotate { feed, conn })
                                        });
                                        if !asked {
                                            counters.rotations_lost += 1;
                                        }
                                        Some(status_record(
                                            venue,
                                            feed,
                                            conn,
                                            FeedState::VenueError,
                                            ts,
                                            0,
                                            "server shutdown notice",
                                        ))
                                    }
                                    ControlEvent::Info { .. } => None,
                                    ControlEvent::Heartbeat => {
                                        counters.heartbeats += 1;
                                        None
                                    }
                                    ControlEvent::Pong => None,
                                    ControlEvent::Ignored { .. } => {
                                        counters.ignored += 1;
                                        None
                                    }
                                };
                                if let Some(r) = rec {
                                    out.push_control(r);
                                }
                            }
                        });
                        if let Err(reason) = result {
                            counters.rejected[reason.index()] += 1;
                            if let Some(&slot) = venue_slot.get(head.feed as usize) {
                                venue_rejects[slot].counts[reason.index()] += 1;
                            }
                        }
                    }
                    FrameKind::Binary => {
                        counters.frames += 1;
                        counters.rejected[RejectReason::COUNT] += 1;
                        if let Some(&slot) = venue_slot.get(head.feed as usize) {
                            venue_rejects[slot].counts[RejectReason::COUNT] += 1;
                        }
                    }
                    FrameKind::Clock => {
                        if let Some(feed) = failover.clock_feed(head.feed) {
                            out.push_control(Record::from(ClockRecord::new(feed, head.recv_ts)))
                        }
                    }
                    FrameKind::Status => {
                        let state =
                            FeedState::from_u16(head.state).unwrap_or(FeedState::Disconnected);
                        let reason = std::str::from_utf8(payload).unwrap_or("");
                        out.push_control(status_record(
                            venue,
                            head.feed,
                            head.conn,
                            state,
                            head.recv_ts,
                            head.detail,
                            reason,
                        ));
                        if state == FeedState::Live {
                            if let Some(q) = quality.as_mut() {
                                q.connected(head.feed);
                            }
                        }
                        failover.on_status(
                            head.feed,
                            state,
                            head.recv_ts,
                            group_events,
                            group_replay,
                        );
                    }
                    FrameKind::End => {
                        out.push_control(Record::from(EndRecord::all(head.recv_ts)));
                        *done = true;
                    }
                }
                head.recv_ts
            });
            let Some(ts) = handled else {
                break;
            };
            if !failover.is_empty() {
                failover.tick(ts, group_events, group_replay);
                flush_groups(out, group_events, group_replay);
            }
            work += 1;
        }
        self.out.notify();
        work
    }

    fn is_done(&self) -> bool {
        self.done && self.out.is_drained()
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = &self.counters;
        out("frames", c.frames);
        out("trades", c.trades);
        out("quotes", c.quotes);
        out("control", c.control);
        out("ignored", c.ignored);
        out("heartbeats", c.heartbeats);
        out("rejected", c.rejected_total());
        for (name, v) in ParserCounters::reject_names().zip(c.rejected) {
            out(name, v);
        }
        for r in &self.venue_rejects {
            for (name, v) in r.names.iter().zip(r.counts) {
                out(name, v);
            }
        }
        let p = self.out.counters();
        out("dropped_trades", p.dropped_trades);
        out("conflated_quotes", p.conflated_quotes);
        out("sampled_quotes", p.sampled_quotes);
        out("pressure_episodes", p.pressure_episodes);
        out("filtered", c.filtered);
        out("replayed_drops", c.replayed_drops);
        out("drop_notes_lost", c.drop_notes_lost);
        out("rotations_lost", c.rotations_lost);
        out("standby", c.standby);
        if let Some(q) = &self.quality {
            q.report(out);
        }
        self.failover.report(out);
        out("journal_missing", self.input.missing());
    }
}

#[cfg(test)]
mod tests {
    use super::error_subject;

    #[test]
    fn error_subjects_keep_the_quoted_name() {
        assert_eq!(
            error_subject("Invalid request: unknown stream 'nopeusdt@trade'"),
            "nopeusdt@trade"
        );
        assert_eq!(error_subject("Unknown symbol \"FOO\" given"), "FOO");
        assert_eq!(error_subject("Too many requests"), "Too many requests");
        assert_eq!(error_subject("odd ' quote"), "odd ' quote");
    }
}
