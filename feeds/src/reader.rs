//! The reader stage: one `mio` event loop driving every feed's connections.
//!
//! Each poll it reads ready connections (a bounded number of frames, so stages fused onto
//! the same thread get their turn), stamps every frame with its receive time, writes it once
//! into the journal (or the frame edge's byte ring) and passes it on, and injects clock
//! ticks for idle feeds. When the frame edge has no room for a largest frame, it stops
//! reading: the socket's data waits in the kernel and TCP pushes back to the sender.
//!
//! Connection policy, every transition reported as a status frame (and so as a feed-status
//! event in shared memory):
//! - a connection without a data frame for the feed's idle timeout (pings do not count), or
//!   stuck in its handshake that long, is declared `stale` and replaced;
//! - a lost connection is reopened after the [`Backoff`] delay (exponential with jitter, reset
//!   once a connection stayed up for the stable period; optionally giving up after a number
//!   of attempts), and the feed's subscriptions are sent again on every new connection;
//! - a venue's shutdown notice (reported by the parser) and the feed's maximum connection
//!   lifetime start a make-before-break rotation: a second connection is opened and
//!   subscribed, and the old one closes only once the new one delivers data (`rotating`,
//!   then `rotated`); trades that arrive on both are delivered once, by trade id, downstream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use tickforge_engine::clock::wall_ns;
use tickforge_engine::frame::{Feedback, FeedbackReceiver, FrameKind, FrameOutbox, FrameRef};
use tickforge_engine::record::FeedState;
use tickforge_engine::stage::Stage;

use crate::backoff::{Backoff, BackoffPolicy};
use crate::connection::{Connection, ConnectionError, Endpoint, Step};
use crate::frame_journal::{FrameJournal, JournalCounters};
use crate::link::{Link, Slot};

mod policy;

use crate::venue::Keepalive;
use policy::{Loss, ROTATION_HOLD_BYTES, ROTATION_OVERLAP};

/// One feed as the reader sees it.
#[derive(Debug, Clone)]
pub struct FeedSpec {
    /// Feed id (index in the engine's feed list).
    pub id: u32,
    /// Where to connect.
    pub url: String,
    /// Text messages to send on every new connection (login, then subscriptions).
    pub subscribe: Vec<String>,
    /// The venue's application-level ping, sent after this long without sending.
    pub keepalive: Option<Keepalive>,
    /// Inject a clock tick after this long without a frame.
    pub clock_interval: Duration,
    /// Largest frame accepted, bytes.
    pub max_frame: usize,
    /// Reconnect after the connection closes; when false the feed ends instead (finite
    /// inputs such as a tick file served by the simulator).
    pub reconnect: bool,
    /// Reconnect delays.
    pub backoff: BackoffPolicy,
    /// Declare a connection stale after this long without a data frame; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Replace a connection (make before break) after it has been open this long.
    pub max_lifetime: Option<Duration>,
    /// For `wss://`: extra CA certificates (PEM) trusted besides the platform's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Frames read per connection per poll before giving other stages a turn. Every stage
/// has a fixed cost per round (ring cursors, a clock read for its latency sample, wake-ups),
/// so frames that have arrived together go down the pipeline together. Measured with the
/// end-to-end bench on 2 cores: 1 frame per round topped out at 0.6–0.7 M msg/s at
/// 1.4–1.6 µs of engine CPU per message; 32 reach 1.0–1.5 M msg/s at 0.65–0.93 µs. A frame
/// waits behind at most 31 others of its read, each a few tens of ns to decode.
const READ_BUDGET: usize = 32;
/// On a connection that is never idle, keepalive timers are still looked at after this
/// many frames.
const TIMER_EVERY_FRAMES: usize = 4096;

/// Counters of the reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderCounters {
    /// Data frames read.
    pub frames: u64,
    /// Payload bytes read.
    pub bytes: u64,
    /// Connections opened (WebSocket handshakes completed).
    pub connects: u64,
    /// Connections lost or failed.
    pub disconnects: u64,
    /// Polls that stopped reading because the frame edge was full.
    pub backpressure_stalls: u64,
    /// Clock ticks injected.
    pub clocks: u64,
    /// Application-level keepalive messages sent.
    pub keepalives: u64,
    /// Connections declared stale.
    pub stale: u64,
    /// Make-before-break rotations started.
    pub rotations: u64,
    /// Rotations completed (the new connection took over).
    pub rotated: u64,
    /// Rotations given up (the new connection failed; the old one carried on).
    pub rotations_abandoned: u64,
}

struct FeedRuntime {
    spec: FeedSpec,
    endpoint: Option<Endpoint>,
    /// The feed's connections: `links[active]` is the feed's connection; the other slot
    /// holds the successor during a rotation.
    links: [Option<Link>; 2],
    active: Slot,
    next_attempt: Option<Instant>,
    backoff: Backoff,
    attempt: i64,
    /// Wall time of the last frame or clock tick (clock injection).
    last_recv: i64,
    /// Wall time the feed went down, until it is back.
    down_since: Option<i64>,
    ended: bool,
}

impl FeedRuntime {
    fn successor(&self) -> Slot {
        1 - self.active
    }

    fn rotating(&self) -> bool {
        self.links[self.successor()].is_some()
    }
}

/// The reader stage.
pub struct ReaderStage {
    poll: Poll,
    events: Events,
    feeds: Vec<FeedRuntime>,
    out: FrameOutbox,
    pending_status: VecDeque<(FrameRef, Vec<u8>)>,
    stop: Arc<AtomicBool>,
    next_conn: u32,
    end_sent: bool,
    /// Frames read since the timers were last looked at.
    since_timers: usize,
    counters: ReaderCounters,
    journal: Option<FrameJournal>,
    feedback: Option<FeedbackReceiver>,
}

/// Passes a frame down the edge: through the journal when there is one, else as a copy.
#[inline]
fn emit(
    out: &mut FrameOutbox,
    journal: &mut Option<FrameJournal>,
    head: FrameRef,
    payload: &[u8],
) -> Result<(), FrameRef> {
    match journal {
        Some(j) => j.emit(out, head, payload),
        None => out.push(head, payload),
    }
}

fn token(feed: usize, slot: Slot) -> Token {
    Token(feed * 2 + slot)
}

impl ReaderStage {
    /// A reader for `feeds`, writing to `out`, stopping when `stop` is set.
    pub fn new(
        feeds: Vec<FeedSpec>,
        out: FrameOutbox,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let now = Instant::now();
        let feeds = feeds
            .into_iter()
            .map(|spec| FeedRuntime {
                endpoint: None,
                links: [None, None],
                active: 0,
                next_attempt: Some(now),
                backoff: Backoff::new(spec.backoff, u64::from(spec.id) ^ wall_ns() as u64),
                attempt: 0,
                last_recv: wall_ns(),
                down_since: None,
                ended: false,
                spec,
            })
            .collect();
        Ok(ReaderStage {
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            feeds,
            out,
            pending_status: VecDeque::new(),
            stop,
            next_conn: 1,
            end_sent: false,
            since_timers: 0,
            counters: ReaderCounters::default(),
            journal: None,
            feedback: None,
        })
    }

    /// Writes every frame, clock tick and status change into `journal` before passing it
    /// on (by journal position: the parser's inbox must read through the journal's shared
    /// segments).
    pub fn with_journal(mut self, journal: FrameJournal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Takes the parser's reports: dropped trades (journaled) and venue shutdown notices
    /// (the connection is rotated).
    pub fn with_feedback(mut self, feedback: FeedbackReceiver) -> Self {
        self.feedback = Some(feedback);
        self
    }

    /// The journal's counters, when the reader journals.
    pub fn journal_counters(&self) -> Option<JournalCounters> {
        self.journal.as_ref().map(FrameJournal::counters)
    }

    /// The counters.
    pub fn counters(&self) -> ReaderCounters {
        self.counters
    }

    fn status(&mut self, feed: usize, conn: u32, state: FeedState, detail: i64, reason: String) {
        let id = self.feeds[feed].spec.id;
        self.status_of(id, conn, state, detail, reason);
    }

    fn status_of(&mut self, feed: u32, conn: u32, state: FeedState, detail: i64, reason: String) {
        let mut head = FrameRef::new(FrameKind::Status, feed, conn, wall_ns());
        head.state = state as u16;
        head.detail = detail;
        self.pending_status.push_back((head, reason.into_bytes()));
        self.flush_status();
    }

    fn flush_status(&mut self) {
        while let Some((head, reason)) = self.pending_status.pop_front() {
            if let Err(head) = emit(&mut self.out, &mut self.journal, head, &reason) {
                self.pending_status.push_front((head, reason));
                return;
            }
        }
        self.journal_event();
    }

    /// Queues a status event for a change in the journal's health.
    fn journal_event(&mut self) {
        let Some(ev) = self.journal.as_mut().and_then(FrameJournal::take_event) else {
            return;
        };
        if self.journal.as_ref().is_some_and(FrameJournal::must_stop) {
            self.stop.store(true, Ordering::Relaxed);
        }
        self.status_of(u32::MAX, 0, ev.state, ev.detail, ev.reason);
    }

    /// Handles what the parser reported since the last poll.
    fn take_feedback(&mut self) {
        while let Some(msg) = self.feedback.as_mut().and_then(FeedbackReceiver::recv) {
            match msg {
                Feedback::Drop(note) => {
                    if let Some(j) = self.journal.as_mut() {
                        j.journal_drop(&note);
                    }
                }
                Feedback::Rotate { feed, conn } => {
                    let i = self.feeds.iter().position(|f| f.spec.id == feed);
                    if let Some(i) = i {
                        let f = &self.feeds[i];
                        if f.links[f.active].as_ref().is_some_and(|l| l.id == conn) {
                            self.start_rotation(i, "server shutdown notice");
                        }
                    }
                }
            }
        }
        self.journal_event();
    }

    /// Opens a connection for feed `i` in `slot`.
    fn open(&mut self, i: usize, slot: Slot) -> Result<u32, ConnectionError> {
        let conn_id = self.next_conn;
        self.next_conn += 1;
        let f = &mut self.feeds[i];
        let endpoint = match &f.endpoint {
            Some(e) => e.clone(),
            None => {
                let e = Endpoint::parse_with_ca(&f.spec.url, f.spec.ca_file.as_deref())?;
                f.endpoint = Some(e.clone());
                e
            }
        };
        let conn = Connection::connect(
            &endpoint,
            token(i, slot),
            self.poll.registry(),
            f.spec.max_frame,
        )?;
        f.links[slot] = Some(Link::new(conn, conn_id));
        Ok(conn_id)
    }

    fn connect_due(&mut self, now: Instant) {
        for i in 0..self.feeds.len() {
            let f = &mut self.feeds[i];
            let slot = f.active;
            if f.ended || f.links[slot].is_some() || f.next_attempt.is_none_or(|t| t > now) {
                continue;
            }
            f.next_attempt = None;
            f.attempt += 1;
            let attempt = f.attempt;
            let url = f.spec.url.clone();
            match self.open(i, slot) {
                Ok(id) => self.status(i, id, FeedState::Connecting, attempt, url),
                Err(e) => self.lost(i, slot, Loss::Error(e)),
            }
        }
    }

    /// The WebSocket of feed `i`'s link in `slot` opened: subscribe.
    fn opened(&mut self, i: usize, slot: Slot) -> bool {
        self.counters.connects += 1;
        let f = &mut self.feeds[i];
        let Some(link) = f.links[slot].as_mut() else {
            return false;
        };
        for msg in &f.spec.subscribe {
            if let Err(e) = link.conn.send_text(msg) {
                self.lost(i, slot, Loss::Error(e));
                return false;
            }
        }
        link.opened = Some(Instant::now());
        let now_ns = wall_ns();
        link.last_data_ns = now_ns;
        link.last_sent = Some(now_ns);
        let id = link.id;
        if slot != f.active {
            return true;
        }
        let (attempt, reason) = match f.down_since.take() {
            Some(t) => (
                f.attempt,
                format!("back after {} ms", (wall_ns() - t).max(0) / 1_000_000),
            ),
            None => (f.attempt, "subscribed".to_string()),
        };
        self.status(i, id, FeedState::Live, attempt, reason);
        true
    }

    /// Reads from feed `i`'s link in `slot` until it would block, the budget is spent, or
    /// the edge is full. Returns the frames read.
    fn read_conn(&mut self, i: usize, slot: Slot) -> usize {
        let mut n = 0;
        while n < READ_BUDGET {
            let f = &mut self.feeds[i];
            let (feed_id, max_frame, active) = (f.spec.id, f.spec.max_frame, f.active);
            let Some(link) = f.links[slot].as_mut() else {
                return n;
            };
            if !self.out.has_room(max_frame) || !self.pending_status.is_empty() {
                self.counters.backpressure_stalls += 1;
                return n;
            }
            match link.conn.step() {
                Ok(Step::Idle) => {
                    link.readable = false;
                    return n;
                }
                Ok(Step::Opened) => {
                    if !self.opened(i, slot) {
                        return n;
                    }
                }
                Ok(Step::Control) => {
                    // Pings are answered by queueing a pong; write it out now.
                    if let Err(e) = link.conn.flush() {
                        self.lost(i, slot, Loss::Error(e));
                        return n;
                    }
                }
                Ok(Step::Frame {
                    binary,
                    payload,
                    received_ns: recv_ts,
                }) => {
                    link.last_data_ns = recv_ts;
                    link.frames += 1;
                    let conn_id = link.id;
                    f.last_recv = recv_ts;
                    let kind = if binary {
                        FrameKind::Binary
                    } else {
                        FrameKind::Text
                    };
                    let head = FrameRef::new(kind, feed_id, conn_id, recv_ts);
                    self.counters.frames += 1;
                    self.counters.bytes += payload.len() as u64;
                    n += 1;
                    if slot != active {
                        // A rotation's successor: held until it takes over.
                        let first = *link.first_data.get_or_insert_with(Instant::now);
                        link.held_bytes += payload.len();
                        link.held.push((head, payload.to_vec()));
                        if first.elapsed() >= ROTATION_OVERLAP
                            || link.held_bytes >= ROTATION_HOLD_BYTES
                        {
                            self.finish_rotation(i);
                            return n;
                        }
                        continue;
                    }
                    let pushed = emit(&mut self.out, &mut self.journal, head, &payload);
                    debug_assert!(pushed.is_ok(), "room for a largest frame was checked");
                    if self.journal.is_some() {
                        self.journal_event();
                    }
                }
                Err(e) => {
                    self.lost(i, slot, Loss::Error(e));
                    return n;
                }
            }
        }
        n
    }

    fn inject_clocks(&mut self, now_ns: i64) {
        for f in &mut self.feeds {
            let interval = f.spec.clock_interval.as_nanos() as i64;
            if f.ended || interval == 0 || now_ns - f.last_recv < interval {
                continue;
            }
            let conn = f.links[f.active].as_ref().map_or(0, |l| l.id);
            let head = FrameRef::new(FrameKind::Clock, f.spec.id, conn, now_ns);
            if emit(&mut self.out, &mut self.journal, head, &[]).is_ok() {
                f.last_recv = now_ns;
                self.counters.clocks += 1;
            }
        }
    }

    /// Sends each open connection's keepalive when it has sent nothing for the interval.
    fn send_keepalives(&mut self, now_ns: i64) {
        for i in 0..self.feeds.len() {
            for slot in 0..2 {
                let f = &mut self.feeds[i];
                let Some(ka) = f.spec.keepalive.as_ref() else {
                    break;
                };
                let Some(link) = f.links[slot].as_mut() else {
                    continue;
                };
                let Some(last) = link.last_sent else {
                    continue;
                };
                if now_ns - last < ka.interval.as_nanos() as i64 {
                    continue;
                }
                link.last_sent = Some(now_ns);
                match link.conn.send_text(&ka.message) {
                    Ok(()) => self.counters.keepalives += 1,
                    Err(e) => self.lost(i, slot, Loss::Error(e)),
                }
            }
        }
    }

    fn handle_events(&mut self) {
        for ev in self.events.iter() {
            let (i, slot) = (ev.token().0 / 2, ev.token().0 % 2);
            let Some(link) = self.feeds.get_mut(i).and_then(|f| f.links[slot].as_mut()) else {
                continue;
            };
            link.readable = true;
            if ev.is_writable() {
                // Pending writes (subscriptions, pongs) can go out now; errors surface on
                // the next read.
                let _ = link.conn.flush();
            }
        }
    }

    fn shutdown(&mut self) {
        let registry = self.poll.registry();
        for f in &mut self.feeds {
            for l in f.links.iter_mut().filter_map(Option::take) {
                l.conn.close(registry);
            }
            f.ended = true;
        }
    }

    fn any_readable(&self) -> bool {
        self.feeds
            .iter()
            .any(|f| f.links.iter().flatten().any(|l| l.readable))
    }
}

impl Stage for ReaderStage {
    fn name(&self) -> &'static str {
        "reader"
    }

    fn poll(&mut self) -> usize {
        if self.end_sent {
            return 0;
        }
        self.flush_status();
        self.take_feedback();
        let stopping = self.stop.load(Ordering::Relaxed);
        let all_ended = self.feeds.iter().all(|f| f.ended);
        if stopping || all_ended {
            if stopping && !all_ended {
                self.shutdown();
            }
            if self.pending_status.is_empty() {
                let end = FrameRef::new(FrameKind::End, u32::MAX, 0, wall_ns());
                if self.out.push(end, &[]).is_ok() {
                    self.end_sent = true;
                }
            }
            self.out.notify();
            return 1;
        }
        let mut work = 0;
        // Only ask the kernel for events when no connection has data waiting.
        if !self.any_readable()
            && self
                .poll
                .poll(&mut self.events, Some(Duration::ZERO))
                .is_ok()
        {
            self.handle_events();
        }
        for i in 0..self.feeds.len() {
            for slot in 0..2 {
                if self.feeds[i].links[slot]
                    .as_ref()
                    .is_some_and(|l| l.readable)
                {
                    work += self.read_conn(i, slot);
                }
            }
        }
        // Timers only matter when idle or reconnecting: no clock read per frame.
        if work == 0 || self.feeds.iter().any(|f| f.links[f.active].is_none()) {
            let now = Instant::now();
            if self
                .feeds
                .iter()
                .any(|f| f.next_attempt.is_some_and(|t| t <= now))
            {
                self.connect_due(now);
                work += 1;
            }
        }
        self.since_timers += work;
        if work == 0 || self.since_timers >= TIMER_EVERY_FRAMES {
            self.since_timers = 0;
            let now = wall_ns();
            self.check_links(Instant::now(), now);
            self.send_keepalives(now);
            if work == 0 {
                self.inject_clocks(now);
            }
        }
        self.out.notify();
        work
    }

    fn is_done(&self) -> bool {
        self.end_sent
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = &self.counters;
        out("frames", c.frames);
        out("bytes", c.bytes);
        out("connects", c.connects);
        out("disconnects", c.disconnects);
        out("stale", c.stale);
        out("rotations", c.rotations);
        out("rotated", c.rotated);
        out("rotations_abandoned", c.rotations_abandoned);
        out("keepalives", c.keepalives);
        out("backpressure_stalls", c.backpressure_stalls);
        out("clocks", c.clocks);
        if let Some(j) = self.journal_counters() {
            out("journal_entries", j.entries);
            out("journal_lost", j.lost);
            out("journal_loss_episodes", j.loss_episodes);
            out("journal_drops", j.drops);
            out("journal_drops_lost", j.drops_lost);
        }
    }

    fn block(&mut self, timeout: Duration) -> bool {
        if self.end_sent {
            return false;
        }
        // Wake in time for the next reconnect, clock tick and stale deadline.
        let now = Instant::now();
        let now_ns = wall_ns();
        let mut t = timeout;
        for f in &self.feeds {
            if let Some(at) = f.next_attempt {
                t = t.min(at.saturating_duration_since(now));
            }
            t = t.min(f.spec.clock_interval);
            if let Some(idle) = f.spec.idle_timeout {
                for l in f.links.iter().flatten() {
                    t = t.min(l.until_stale(idle, now, now_ns));
                }
            }
        }
        if self.poll.poll(&mut self.events, Some(t)).is_ok() {
            self.handle_events();
        }
        true
    }
}
