//! The reader stage: one `mio` event loop driving every feed's connection.
//!
//! Each poll it reads ready connections (a bounded number of frames, so stages fused onto
//! the same thread get their turn), stamps every frame with its receive time, copies it once
//! into the frame edge, and injects clock ticks for idle feeds. When the frame edge has no
//! room for a largest frame, it stops reading: the socket's data waits in the kernel and TCP
//! pushes back to the sender. Connection changes go down the same edge as status frames.
//! A closed connection is reopened after a backoff (1 s, ×1.5, at most 30 s), and the
//! feed's subscriptions are sent again on every new connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use tickforge_engine::clock::wall_ns;
use tickforge_engine::frame::{FrameKind, FrameOutbox, FrameRef};
use tickforge_engine::record::FeedState;
use tickforge_engine::stage::Stage;

use crate::connection::{Connection, ConnectionError, Endpoint, Step};
use crate::frame_journal::{FrameJournal, JournalCounters};
use crate::venue::Keepalive;

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
    /// For `wss://`: extra CA certificates (PEM) trusted besides the platform's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Reconnect backoff: first delay, growth factor, cap.
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_FACTOR: f64 = 1.5;
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Frames read per connection per poll before giving other stages a turn.
const READ_BUDGET: usize = 1;
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
}

struct FeedRuntime {
    spec: FeedSpec,
    endpoint: Option<Endpoint>,
    conn: Option<Connection>,
    conn_id: u32,
    readable: bool,
    next_attempt: Option<Instant>,
    backoff: Duration,
    attempt: i64,
    last_recv: i64,
    /// When the connection last sent a message (subscriptions or keepalive), wall ns;
    /// `None` until the WebSocket is open.
    last_sent: Option<i64>,
    ended: bool,
}

/// The reader stage.
pub struct ReaderStage {
    poll: Poll,
    events: Events,
    feeds: Vec<FeedRuntime>,
    out: FrameOutbox,
    pending_status: VecDeque<(FrameRef, String)>,
    stop: Arc<AtomicBool>,
    next_conn: u32,
    end_sent: bool,
    /// Frames read since the keepalive timers were last looked at.
    since_timers: usize,
    counters: ReaderCounters,
    journal: Option<FrameJournal>,
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
                conn: None,
                conn_id: 0,
                readable: false,
                next_attempt: Some(now),
                backoff: BACKOFF_INITIAL,
                attempt: 0,
                last_recv: wall_ns(),
                last_sent: None,
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
        })
    }

    /// Writes every frame, clock tick and status change into `journal` before passing it
    /// on (by journal position: the parser's inbox must read through the journal's shared
    /// segments).
    pub fn with_journal(mut self, journal: FrameJournal) -> Self {
        self.journal = Some(journal);
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

    fn status(&mut self, feed: usize, state: FeedState, detail: i64, reason: String) {
        let f = &self.feeds[feed];
        let (id, conn) = (f.spec.id, f.conn_id);
        self.status_of(id, conn, state, detail, reason);
    }

    fn status_of(&mut self, feed: u32, conn: u32, state: FeedState, detail: i64, reason: String) {
        let mut head = FrameRef::new(FrameKind::Status, feed, conn, wall_ns());
        head.state = state as u16;
        head.detail = detail;
        self.pending_status.push_back((head, reason));
        self.flush_status();
    }

    fn flush_status(&mut self) {
        while let Some((head, reason)) = self.pending_status.pop_front() {
            if let Err(head) = emit(&mut self.out, &mut self.journal, head, reason.as_bytes()) {
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

    fn connect_due(&mut self, now: Instant) {
        for i in 0..self.feeds.len() {
            let f = &mut self.feeds[i];
            if f.ended || f.conn.is_some() || f.next_attempt.is_none_or(|t| t > now) {
                continue;
            }
            f.next_attempt = None;
            f.attempt += 1;
            let conn_id = self.next_conn;
            self.next_conn += 1;
            f.conn_id = conn_id;
            let result = match &f.endpoint {
                Some(e) => Ok(e.clone()),
                None => Endpoint::parse_with_ca(&f.spec.url, f.spec.ca_file.as_deref()),
            }
            .and_then(|e| {
                f.endpoint = Some(e.clone());
                Connection::connect(&e, Token(i), self.poll.registry(), f.spec.max_frame)
            });
            let attempt = f.attempt;
            let url = f.spec.url.clone();
            match result {
                Ok(conn) => {
                    self.feeds[i].conn = Some(conn);
                    self.feeds[i].readable = true;
                    self.status(i, FeedState::Connecting, attempt, url);
                }
                Err(e) => self.lost(i, e),
            }
        }
    }

    fn lost(&mut self, i: usize, err: ConnectionError) {
        self.counters.disconnects += 1;
        let registry = self.poll.registry();
        let f = &mut self.feeds[i];
        if let Some(c) = f.conn.take() {
            c.close(registry);
        }
        f.readable = false;
        f.last_sent = None;
        let attempt = f.attempt;
        if f.spec.reconnect && !self.stop.load(Ordering::Relaxed) {
            f.next_attempt = Some(Instant::now() + f.backoff);
            f.backoff = f.backoff.mul_f64(BACKOFF_FACTOR).min(BACKOFF_MAX);
            tracing::warn!(feed = f.spec.id, error = %err, retry_in = ?f.backoff, "feed disconnected");
        } else {
            f.ended = true;
            tracing::info!(feed = f.spec.id, reason = %err, "feed ended");
        }
        let ended = self.feeds[i].ended;
        // A finite input that the peer closed cleanly has ended, not failed: its bars are
        // not flagged stale.
        let clean_end = ended && matches!(err, ConnectionError::Closed);
        if !clean_end {
            self.status(i, FeedState::Disconnected, attempt, err.to_string());
        }
        if ended {
            self.status(i, FeedState::Ended, attempt, err.to_string());
        }
    }

    /// Reads from connection `i` until it would block, the budget is spent, or the edge is
    /// full. Returns the frames read.
    fn read_conn(&mut self, i: usize) -> usize {
        let mut n = 0;
        while n < READ_BUDGET {
            let f = &mut self.feeds[i];
            let Some(conn) = f.conn.as_mut() else {
                return n;
            };
            if !self.out.has_room(f.spec.max_frame) || !self.pending_status.is_empty() {
                self.counters.backpressure_stalls += 1;
                return n;
            }
            match conn.step() {
                Ok(Step::Idle) => {
                    f.readable = false;
                    return n;
                }
                Ok(Step::Opened) => {
                    self.counters.connects += 1;
                    f.backoff = BACKOFF_INITIAL;
                    let mut failed = None;
                    for msg in &f.spec.subscribe {
                        if let Err(e) = conn.send_text(msg) {
                            failed = Some(e);
                            break;
                        }
                    }
                    if let Some(e) = failed {
                        self.lost(i, e);
                        return n;
                    }
                    f.last_sent = Some(wall_ns());
                    let detail = f.attempt;
                    self.status(i, FeedState::Live, detail, "subscribed".into());
                }
                Ok(Step::Control) => {
                    // Pings are answered by queueing a pong; write it out now.
                    if let Err(e) = conn.flush() {
                        self.lost(i, e);
                        return n;
                    }
                }
                Ok(Step::Frame { binary, payload }) => {
                    let recv_ts = wall_ns();
                    f.last_recv = recv_ts;
                    let kind = if binary {
                        FrameKind::Binary
                    } else {
                        FrameKind::Text
                    };
                    let head = FrameRef::new(kind, f.spec.id, f.conn_id, recv_ts);
                    let pushed = emit(&mut self.out, &mut self.journal, head, &payload);
                    debug_assert!(pushed.is_ok(), "room for a largest frame was checked");
                    if self.journal.is_some() {
                        self.journal_event();
                    }
                    self.counters.frames += 1;
                    self.counters.bytes += payload.len() as u64;
                    n += 1;
                }
                Err(e) => {
                    self.lost(i, e);
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
            let head = FrameRef::new(FrameKind::Clock, f.spec.id, f.conn_id, now_ns);
            if emit(&mut self.out, &mut self.journal, head, &[]).is_ok() {
                f.last_recv = now_ns;
                self.counters.clocks += 1;
            }
        }
    }

    /// Sends each open connection's keepalive when it has sent nothing for the interval.
    fn send_keepalives(&mut self, now_ns: i64) {
        for i in 0..self.feeds.len() {
            let f = &mut self.feeds[i];
            let (Some(ka), Some(last), Some(conn)) =
                (f.spec.keepalive.as_ref(), f.last_sent, f.conn.as_mut())
            else {
                continue;
            };
            if now_ns - last < ka.interval.as_nanos() as i64 {
                continue;
            }
            f.last_sent = Some(now_ns);
            match conn.send_text(&ka.message) {
                Ok(()) => self.counters.keepalives += 1,
                Err(e) => self.lost(i, e),
            }
        }
    }

    fn handle_events(&mut self) {
        for ev in self.events.iter() {
            if let Some(f) = self.feeds.get_mut(ev.token().0) {
                f.readable = true;
                if ev.is_writable() {
                    if let Some(c) = f.conn.as_mut() {
                        // Pending writes (subscriptions, pongs) can go out now; errors
                        // surface on the next read.
                        let _ = c.flush();
                    }
                }
            }
        }
    }

    fn shutdown(&mut self) {
        let registry = self.poll.registry();
        for f in &mut self.feeds {
            if let Some(c) = f.conn.take() {
                c.close(registry);
            }
            f.ended = true;
        }
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
        if let Some(j) = self.journal.as_mut() {
            j.journal_drops();
            self.journal_event();
        }
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
        if !self.feeds.iter().any(|f| f.readable && f.conn.is_some())
            && self
                .poll
                .poll(&mut self.events, Some(Duration::ZERO))
                .is_ok()
        {
            self.handle_events();
        }
        for i in 0..self.feeds.len() {
            if self.feeds[i].readable {
                work += self.read_conn(i);
            }
        }
        // Timers only matter when idle or reconnecting: no clock read per frame.
        if work == 0 || self.feeds.iter().any(|f| f.conn.is_none()) {
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
        // Wake in time for the next reconnect and clock tick.
        let now = Instant::now();
        let mut t = timeout;
        for f in &self.feeds {
            if let Some(at) = f.next_attempt {
                t = t.min(at.saturating_duration_since(now));
            }
            t = t.min(f.spec.clock_interval);
        }
        if self.poll.poll(&mut self.events, Some(t)).is_ok() {
            self.handle_events();
        }
        true
    }
}
