//! The listener and the per-connection threads.
//!
//! One accept thread polls a non-blocking listener; each accepted client gets its own
//! thread that runs the WebSocket handshake, then loops every millisecond: read and answer
//! client messages, send a ping when due, send the data due at the configured rate, flush,
//! sleep. Every socket is non-blocking, so every loop notices the stop flag within a few
//! milliseconds.
//!
//! When serving a tick file, a round sends up to [`TICK_BATCH`] ticks and does not sleep
//! while more are ready and the socket takes them; when the socket would block, the
//! unsent bytes stay in tungstenite's buffer, no tick is produced, and the loop sleeps
//! [`TICK`] and retries the flush: the client's reading speed sets the pace.

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use tracing::{debug, info, warn};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::handshake::HandshakeError;
use tungstenite::http::StatusCode;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Error as WsError, Message, WebSocket};

use super::generator::{Event, Market, SymbolSpec};
use super::malformed::MalformedKind;
use super::malformed::{encode_malformed, random_stream, OutFrame};
use super::tickfile::TickFile;
use super::venue::{self, FileTrade, Overrides, VenueSim};
use super::{SimConfig, SimStats};

/// Sleep of the accept loop between polls.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// Sleep of a connection loop between rounds while it sends data (the pacing granularity).
const TICK: Duration = Duration::from_millis(1);
/// Sleep of a connection loop between rounds while it has no data to send (no
/// subscription, a zero rate, or `max_messages` reached): bounds the reply latency.
const IDLE_TICK: Duration = Duration::from_millis(5);
/// A client that has not finished the WebSocket handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many unanswered ping payloads are remembered.
const MAX_OUTSTANDING_PINGS: usize = 16;
/// XORed into the seed for the generator of malformed frames, so that fault injection
/// never changes the well-formed sequence.
const FAULT_SEED_MIX: u64 = 0x9e37_79b9_7f4a_7c15;
/// Tick-file mode: at most this many ticks are sent per round, so requests, pings and the
/// stop flag are looked at between batches.
const TICK_BATCH: usize = 1024;
/// Tick-file mode: at most this many ticks are looked at per round (skipped ticks of
/// unsubscribed symbols included).
const TICK_SCAN: usize = 64 * 1024;
/// Tick-file mode: how long to wait for the client's Close reply once the final Close
/// frame has been written to the socket.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// The reason in the Close frame sent at the end of a tick file.
pub(crate) const END_OF_TICK_FILE: &str = "end of tick file";

/// The shared counters behind [`SimStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    connections: AtomicU64,
    active: AtomicU64,
    messages: AtomicU64,
    trades: AtomicU64,
    quotes: AtomicU64,
    malformed: AtomicU64,
    malformed_by_kind: [AtomicU64; MalformedKind::COUNT],
    pings: AtomicU64,
    pongs: AtomicU64,
    requests: AtomicU64,
    error_replies: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> SimStats {
        SimStats {
            connections: self.connections.load(Relaxed),
            active_connections: self.active.load(Relaxed),
            messages: self.messages.load(Relaxed),
            trades: self.trades.load(Relaxed),
            quotes: self.quotes.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            malformed_by_kind: std::array::from_fn(|i| self.malformed_by_kind[i].load(Relaxed)),
            pings: self.pings.load(Relaxed),
            pongs: self.pongs.load(Relaxed),
            requests: self.requests.load(Relaxed),
            error_replies: self.error_replies.load(Relaxed),
        }
    }
}

/// Everything a connection thread shares with the server.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub cfg: Arc<SimConfig>,
    pub specs: Arc<Vec<SymbolSpec>>,
    /// The tick file to serve instead of the synthetic market.
    pub ticks: Option<Arc<TickFile>>,
    pub counters: Arc<Counters>,
    pub stop: Arc<AtomicBool>,
}

/// Binds the listener and spawns the accept thread.
pub(crate) fn spawn(shared: Shared) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(shared.cfg.bind)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = thread::Builder::new()
        .name("sim-accept".into())
        .spawn(move || accept_loop(listener, shared))?;
    Ok((addr, handle))
}

fn accept_loop(listener: TcpListener, shared: Shared) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    while !shared.stop.load(Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                next_id += 1;
                let sh = shared.clone();
                let id = next_id;
                match thread::Builder::new()
                    .name(format!("sim-conn-{id}"))
                    .spawn(move || run_connection(stream, peer, id, sh))
                {
                    Ok(h) => conns.push(h),
                    Err(e) => warn!(%peer, error = %e, "sim: cannot spawn a connection thread"),
                }
                continue; // There may be more clients waiting.
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => warn!(error = %e, "sim: accept failed"),
        }
        // Reap finished connection threads.
        let mut i = 0;
        while i < conns.len() {
            if conns[i].is_finished() {
                let _ = conns.swap_remove(i).join();
            } else {
                i += 1;
            }
        }
        thread::sleep(ACCEPT_POLL);
    }
    for h in conns {
        if h.join().is_err() {
            warn!("sim: a connection thread panicked");
        }
    }
}

/// Decrements the active-connection gauge when the connection ends, panics included.
struct ActiveGuard(Arc<Counters>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Relaxed);
    }
}

fn run_connection(stream: TcpStream, peer: SocketAddr, conn_id: u64, sh: Shared) {
    let Some((ws, session)) = handshake(stream, peer, &sh) else {
        return;
    };
    sh.counters.connections.fetch_add(1, Relaxed);
    sh.counters.active.fetch_add(1, Relaxed);
    let _guard = ActiveGuard(sh.counters.clone());
    info!(%peer, conn = conn_id, "sim: client connected");
    let mut conn = Connection::new(ws, session, sh);
    let why = conn.run();
    info!(%peer, conn = conn_id, sent = conn.sent, reason = why, "sim: client gone");
}

// The callback's error type is fixed by tungstenite.
#[allow(clippy::result_large_err)]
fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    sh: &Shared,
) -> Option<(WebSocket<TcpStream>, Box<dyn VenueSim>)> {
    // Non-blocking from the start: the handshake is retried until done, so a silent client
    // can neither block the thread nor delay a stop.
    if let Err(e) = stream
        .set_nonblocking(true)
        .and_then(|()| stream.set_nodelay(true))
    {
        debug!(%peer, error = %e, "sim: cannot configure the socket");
        return None;
    }
    let specs = sh.specs.clone();
    let venue_id = sh.cfg.venue;
    let mut endpoint: Option<Box<dyn VenueSim>> = None;
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let target = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        match venue::open(venue_id, &target, &specs) {
            Ok(e) => {
                endpoint = Some(e);
                Ok(resp)
            }
            Err(msg) => {
                let status = if msg.starts_with("unknown path") || msg.contains("does not speak") {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::BAD_REQUEST
                };
                let mut r = ErrorResponse::new(Some(msg));
                *r.status_mut() = status;
                Err(r)
            }
        }
    };
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut attempt = tungstenite::accept_hdr(stream, callback);
    let ws = loop {
        match attempt {
            Ok(ws) => break ws,
            Err(HandshakeError::Interrupted(mid)) => {
                if sh.stop.load(Relaxed) || Instant::now() > deadline {
                    debug!(%peer, "sim: handshake abandoned");
                    return None;
                }
                thread::sleep(TICK);
                attempt = mid.handshake();
            }
            Err(HandshakeError::Failure(e)) => {
                debug!(%peer, error = %e, "sim: handshake failed");
                return None;
            }
        }
    };
    endpoint.map(|e| (ws, e))
}

/// Spreads `rate` messages per second over time, carrying fractions between rounds.
#[derive(Debug)]
struct Pacer {
    rate: u64,
    last: Instant,
    /// Accumulated credit, in messages × 1e-9.
    credit: u128,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            rate,
            last: Instant::now(),
            credit: 0,
        }
    }

    /// Messages due since the previous call, at most 50 ms worth: a round that was late
    /// (a descheduled thread, a slow client) does not turn into a large burst.
    fn due(&mut self, now: Instant) -> u64 {
        let dt = now.saturating_duration_since(self.last);
        self.last = now;
        self.credit += u128::from(self.rate) * dt.as_nanos();
        let n = self.credit / 1_000_000_000;
        self.credit %= 1_000_000_000;
        let cap = (self.rate / 20).max(1);
        u64::try_from(n).unwrap_or(u64::MAX).min(cap)
    }
}

enum Flow {
    Continue,
    End(&'static str),
}

struct Connection {
    ws: WebSocket<TcpStream>,
    session: Box<dyn VenueSim>,
    /// The greeting has been queued.
    greeted: bool,
    market: Market,
    faults: Pcg64Mcg,
    sh: Shared,
    /// Data frames sent on this connection (for `max_messages`).
    sent: u64,
    pacer: Pacer,
    pings: VecDeque<Bytes>,
    next_ping: Option<Instant>,
    /// The last write or flush would have blocked: the client is not keeping up.
    blocked: bool,
    buf: String,
    /// Tick-file mode: index of the next tick to look at.
    cursor: usize,
    /// Tick-file mode: the final Close frame has been queued.
    closing: bool,
    /// Tick-file mode: when the final Close frame was fully written to the socket.
    close_flushed: Option<Instant>,
}

impl Connection {
    fn new(ws: WebSocket<TcpStream>, session: Box<dyn VenueSim>, sh: Shared) -> Connection {
        let seed = sh.cfg.seed;
        let interval = sh.cfg.ping_interval;
        Connection {
            ws,
            session,
            greeted: false,
            market: Market::new(sh.specs.as_ref().clone(), seed),
            faults: Pcg64Mcg::seed_from_u64(seed ^ FAULT_SEED_MIX),
            pacer: Pacer::new(sh.cfg.rate),
            sh,
            sent: 0,
            pings: VecDeque::new(),
            next_ping: (!interval.is_zero()).then(|| Instant::now() + interval),
            blocked: false,
            buf: String::with_capacity(256),
            cursor: 0,
            closing: false,
            close_flushed: None,
        }
    }

    fn run(&mut self) -> &'static str {
        loop {
            if self.sh.stop.load(Relaxed) {
                // Best effort: tell the client, but never wait for it.
                let _ = self.ws.close(None);
                let _ = self.ws.flush();
                return "server stopped";
            }
            for step in [
                Self::greet,
                Self::read_all,
                Self::ping,
                Self::heartbeat,
                Self::send_data,
                Self::flush,
            ] {
                if let Flow::End(why) = step(self) {
                    return why;
                }
            }
            if self.closing && !self.blocked {
                let at = *self.close_flushed.get_or_insert_with(Instant::now);
                if at.elapsed() > CLOSE_REPLY_TIMEOUT {
                    return "end of tick file, no close reply";
                }
            }
            if let Some(pause) = self.pause() {
                thread::sleep(pause);
            }
        }
    }

    /// How long to sleep before the next round, if at all.
    fn pause(&self) -> Option<Duration> {
        if self.sh.ticks.is_some() {
            // Tick file: straight on while ticks are ready and the socket takes them.
            return if self.blocked {
                Some(TICK)
            } else if self.closing || !self.session.has_subscriptions() {
                Some(IDLE_TICK)
            } else {
                None
            };
        }
        let cfg = &self.sh.cfg;
        let idle = !self.session.has_subscriptions()
            || cfg.rate == 0
            || cfg.max_messages.is_some_and(|m| self.sent >= m);
        Some(if idle { IDLE_TICK } else { TICK })
    }

    /// Sends the venue's greeting once, first thing.
    fn greet(&mut self) -> Flow {
        if self.greeted {
            return Flow::Continue;
        }
        self.greeted = true;
        for text in self.session.greeting() {
            if let Flow::End(why) = self.write(Message::text(text)) {
                return Flow::End(why);
            }
        }
        Flow::Continue
    }

    /// Sends the venue's heartbeat when one is due.
    fn heartbeat(&mut self) -> Flow {
        if self.closing {
            return Flow::Continue;
        }
        match self.session.heartbeat(Instant::now(), &self.sh.specs) {
            Some(text) => self.write(Message::text(text)),
            None => Flow::Continue,
        }
    }

    /// Reads and answers every client message already received.
    fn read_all(&mut self) -> Flow {
        loop {
            let msg = match self.ws.read() {
                Ok(m) => m,
                Err(e) => return self.on_error(e),
            };
            match msg {
                Message::Text(text) => {
                    self.sh.counters.requests.fetch_add(1, Relaxed);
                    let replies = self.session.handle(text.as_str(), &self.sh.specs);
                    for reply in replies {
                        debug!(request = text.as_str(), reply = %reply.text, "sim: request");
                        if reply.is_error {
                            self.sh.counters.error_replies.fetch_add(1, Relaxed);
                        }
                        if let Flow::End(why) = self.write(Message::text(reply.text)) {
                            return Flow::End(why);
                        }
                    }
                }
                Message::Pong(payload) => {
                    if let Some(i) = self.pings.iter().position(|p| *p == payload) {
                        self.pings.remove(i);
                        self.sh.counters.pongs.fetch_add(1, Relaxed);
                    }
                }
                Message::Close(_) => {
                    // tungstenite queued the close reply (or, if we closed first, this
                    // was the reply to ours); send what is pending and end.
                    let _ = self.ws.flush();
                    return Flow::End(if self.closing {
                        END_OF_TICK_FILE
                    } else {
                        "client closed"
                    });
                }
                // Pings are answered by tungstenite on the next read or flush; binary
                // frames mean nothing in this protocol.
                Message::Ping(_) | Message::Binary(_) | Message::Frame(_) => {}
            }
        }
    }

    fn ping(&mut self) -> Flow {
        let Some(at) = self.next_ping.filter(|_| !self.closing) else {
            return Flow::Continue;
        };
        let now = Instant::now();
        if now < at {
            return Flow::Continue;
        }
        self.next_ping = Some(now + self.sh.cfg.ping_interval);
        let payload = Bytes::from(now_ms().to_string());
        if self.pings.len() == MAX_OUTSTANDING_PINGS {
            self.pings.pop_front();
        }
        self.pings.push_back(payload.clone());
        self.sh.counters.pings.fetch_add(1, Relaxed);
        self.write(Message::Ping(payload))
    }

    fn send_data(&mut self) -> Flow {
        if let Some(ticks) = self.sh.ticks.clone() {
            return self.send_ticks(&ticks);
        }
        let due = self.pacer.due(Instant::now());
        // Nothing is generated while there is nowhere to send it, so the sequence a client
        // sees depends only on the seed and its subscriptions, never on timing.
        if self.blocked || !self.session.has_subscriptions() {
            return Flow::Continue;
        }
        let cfg = self.sh.cfg.clone();
        let mut n = due;
        if let Some(max) = cfg.max_messages {
            n = n.min(max.saturating_sub(self.sent));
        }
        let ts = now_ns();
        for _ in 0..n {
            let frame = if cfg.malformed_rate > 0.0
                && self.faults.random_bool(cfg.malformed_rate.clamp(0.0, 1.0))
            {
                let Some(stream) = random_stream(&mut self.faults, self.session.as_ref()) else {
                    break;
                };
                let (kind, frame) = encode_malformed(
                    &mut self.faults,
                    self.session.as_mut(),
                    &self.market,
                    stream,
                    ts,
                );
                let c = &self.sh.counters;
                c.malformed.fetch_add(1, Relaxed);
                c.malformed_by_kind[kind.index()].fetch_add(1, Relaxed);
                match frame {
                    OutFrame::Text(t) => Message::text(t),
                    OutFrame::Binary(b) => Message::binary(b),
                }
            } else {
                let Some(ev) = self.market.next_event(
                    self.session.trade_symbols(),
                    self.session.quote_symbols(),
                    cfg.quote_ratio,
                ) else {
                    break;
                };
                self.buf.clear();
                let spec = &self.sh.specs[ev.symbol()];
                self.session
                    .encode(&mut self.buf, spec, &ev, ts, &Overrides::default());
                let c = &self.sh.counters;
                match ev {
                    Event::Trade { .. } => c.trades.fetch_add(1, Relaxed),
                    Event::Quote { .. } => c.quotes.fetch_add(1, Relaxed),
                };
                Message::text(self.buf.as_str())
            };
            self.sent += 1;
            self.sh.counters.messages.fetch_add(1, Relaxed);
            if let Flow::End(why) = self.write(frame) {
                return Flow::End(why);
            }
            if self.blocked {
                break;
            }
        }
        Flow::Continue
    }

    /// Tick-file mode: sends the next ticks of the subscribed `@trade` streams, in file
    /// order, until the batch is done or the socket would block; after the last tick,
    /// queues the final Close frame.
    fn send_ticks(&mut self, tf: &TickFile) -> Flow {
        if self.closing || !self.session.has_subscriptions() {
            return Flow::Continue;
        }
        if self.blocked {
            // Retry the pending bytes first; produce nothing while they do not go out.
            if let Flow::End(why) = self.flush() {
                return Flow::End(why);
            }
            if self.blocked {
                return Flow::Continue;
            }
        }
        let ticks = tf.ticks();
        let end = ticks.len().min(self.cursor + TICK_SCAN);
        let mut sent = 0;
        while self.cursor < end && sent < TICK_BATCH && !self.blocked {
            let t = &ticks[self.cursor];
            self.cursor += 1;
            // Symbol indices of the tick file are those of the specs.
            if self
                .session
                .trade_symbols()
                .binary_search(&usize::from(t.symbol))
                .is_err()
            {
                continue;
            }
            let symbol = usize::from(t.symbol);
            let trade = FileTrade {
                id: t.id,
                price: tf.price(t),
                size: tf.size(t),
                // Non-negative, checked when the file was parsed.
                ts_ns: t.ts_ns.unsigned_abs(),
                sell: t.sell,
            };
            self.buf.clear();
            self.session
                .encode_file_trade(&mut self.buf, &self.sh.specs[symbol], &trade);
            sent += 1;
            self.sent += 1;
            let c = &self.sh.counters;
            c.trades.fetch_add(1, Relaxed);
            c.messages.fetch_add(1, Relaxed);
            if let Flow::End(why) = self.write(Message::text(self.buf.as_str())) {
                return Flow::End(why);
            }
        }
        if self.cursor == ticks.len() {
            self.closing = true;
            debug!(sent = self.sent, "sim: end of tick file, closing");
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: END_OF_TICK_FILE.into(),
            };
            // Queued behind every tick still buffered; `close` also tries a flush.
            match self.ws.close(Some(frame)) {
                Ok(()) => {}
                Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => self.blocked = true,
                Err(e) => return self.on_error(e),
            }
        }
        Flow::Continue
    }

    /// Queues a frame. If the socket would block, the frame stays buffered in tungstenite
    /// and data generation pauses until a flush gets through. After the final Close frame
    /// of a tick file nothing more may be sent: replies and pings are dropped.
    fn write(&mut self, msg: Message) -> Flow {
        if self.closing {
            return Flow::Continue;
        }
        match self.ws.write(msg) {
            Ok(()) => Flow::Continue,
            Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                self.blocked = true;
                Flow::Continue
            }
            Err(e) => self.on_error(e),
        }
    }

    fn flush(&mut self) -> Flow {
        match self.ws.flush() {
            Ok(()) => {
                self.blocked = false;
                Flow::Continue
            }
            Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                self.blocked = true;
                Flow::Continue
            }
            Err(e) => self.on_error(e),
        }
    }

    /// `WouldBlock` on a read means nothing more to read; anything else ends the
    /// connection.
    fn on_error(&mut self, e: WsError) -> Flow {
        match e {
            WsError::Io(e) if e.kind() == ErrorKind::WouldBlock => Flow::Continue,
            WsError::ConnectionClosed | WsError::AlreadyClosed => Flow::End("closed"),
            WsError::Io(e) => {
                debug!(error = %e, "sim: connection i/o error");
                Flow::End("i/o error")
            }
            WsError::Protocol(e) => {
                debug!(error = %e, "sim: protocol error");
                Flow::End("protocol error")
            }
            e => {
                warn!(error = %e, "sim: connection error");
                Flow::End("error")
            }
        }
    }
}

/// Wall-clock milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// Wall-clock nanoseconds since the Unix epoch.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
