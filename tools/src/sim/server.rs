//! The listener and the per-connection threads.
//!
//! One accept thread polls a non-blocking listener; each accepted client gets its own
//! thread that runs the WebSocket handshake, then loops every millisecond: apply the
//! connection's faults ([`Disruptions`]), read and answer client messages, send a ping
//! when due, send the data due at the configured rate ([`data`]), flush, sleep. Every
//! socket is non-blocking, so every loop notices the stop flag within a few milliseconds.
//! A connection being closed on purpose runs only the closing steps ([`close`]).
//!
//! When serving a tick file, a round sends up to [`TICK_BATCH`] ticks and does not sleep
//! while more are ready and the socket takes them; when the socket would block, the
//! unsent bytes stay in tungstenite's buffer, no tick is produced, and the loop sleeps
//! [`TICK`] and retries the flush: the client's reading speed sets the pace.

mod close;
mod data;

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use tracing::{debug, info, warn};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::handshake::HandshakeError;
use tungstenite::http::StatusCode;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Bytes, Error as WsError, Message, WebSocket};

use super::disrupt::{Action, Disruptions};
use super::generator::{Market, SymbolSpec};
use super::malformed::MalformedKind;
use super::schedule::{Pacer, Schedule};
use super::shared_market::SharedMarket;
use super::tickfile::TickFile;
use super::venue::{self, VenueSim};
use super::{SimConfig, SimStats};

/// Sleep of the accept loop between polls.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// Sleep of a connection loop between rounds while it sends data (the pacing granularity).
const TICK: Duration = Duration::from_millis(1);
/// Sleep of a connection loop between rounds while it has no data to send (no
/// subscription, a zero rate, or `max_messages` reached): bounds the reply latency.
const IDLE_TICK: Duration = Duration::from_millis(5);
/// A client that has not finished the WebSocket handshake by then (plus the configured
/// handshake delay) is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many unanswered ping payloads are remembered.
const MAX_OUTSTANDING_PINGS: usize = 16;
/// XORed into the seed for the generator of malformed frames, so that fault injection
/// never changes the well-formed sequence.
const FAULT_SEED_MIX: u64 = 0x9e37_79b9_7f4a_7c15;
/// XORed into the seed for the generator of trade-id gaps.
const GAP_SEED_MIX: u64 = 0x2545_f491_4f6c_dd1d;
/// Tick-file mode: at most this many ticks are sent per round, so requests, pings and the
/// stop flag are looked at between batches.
const TICK_BATCH: usize = 1024;
/// Tick-file mode: at most this many ticks are looked at per round (skipped ticks of
/// unsubscribed symbols included).
const TICK_SCAN: usize = 64 * 1024;
/// The reason in the Close frame sent at the end of a tick file.
pub(crate) const END_OF_TICK_FILE: &str = "end of tick file";
/// The reason in the Close frame of a disconnect fault.
pub(crate) const SIMULATED_DISCONNECT: &str = "simulated disconnect";
/// The reason in the Close frame sent when a shutdown notice's grace period ends.
pub(crate) const SERVER_SHUTDOWN: &str = "server shutdown";

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
    disconnects: AtomicU64,
    stalls: AtomicU64,
    bursts: AtomicU64,
    id_gaps: AtomicU64,
    ids_skipped: AtomicU64,
    shutdown_notices: AtomicU64,
    delayed_handshakes: AtomicU64,
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
            disconnects: self.disconnects.load(Relaxed),
            stalls: self.stalls.load(Relaxed),
            bursts: self.bursts.load(Relaxed),
            id_gaps: self.id_gaps.load(Relaxed),
            ids_skipped: self.ids_skipped.load(Relaxed),
            shutdown_notices: self.shutdown_notices.load(Relaxed),
            delayed_handshakes: self.delayed_handshakes.load(Relaxed),
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
    /// The market all connections share ([`SimConfig::continue_ids`]).
    pub market: Option<Arc<SharedMarket>>,
    /// The data rate over time (bursts included).
    pub schedule: Schedule,
    pub counters: Arc<Counters>,
    pub stop: Arc<AtomicBool>,
}

/// A fresh synthetic market of `cfg` over `specs`, with its trade-id gaps.
pub(crate) fn new_market(cfg: &SimConfig, specs: Vec<SymbolSpec>) -> Market {
    Market::new(specs, cfg.seed).with_id_gaps(cfg.faults.id_gap_rate, cfg.seed ^ GAP_SEED_MIX)
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
        // Keep the shared market current, so that a new connection joins it at once.
        if let Some(m) = &shared.market {
            m.advance(now_ns());
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

/// Sleeps `d`, in short naps, unless the server stops first.
fn nap(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= end || stop.load(Relaxed) {
            return;
        }
        thread::sleep((end - now).min(IDLE_TICK));
    }
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
    let delay = sh.cfg.faults.handshake_delay;
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
                if !delay.is_zero() {
                    // Fault: a slow venue. The request has been read; the answer waits.
                    sh.counters.delayed_handshakes.fetch_add(1, Relaxed);
                    nap(delay, &sh.stop);
                }
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
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT + delay;
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

/// The result of one step of a connection round.
enum Flow {
    Continue,
    End(&'static str),
}

struct Connection {
    ws: WebSocket<TcpStream>,
    session: Box<dyn VenueSim>,
    /// When the handshake ended: the origin of the connection's fault times and pacing.
    opened: Instant,
    /// The greeting has been queued.
    greeted: bool,
    /// Where synthetic events come from.
    source: data::Source,
    /// Shared-market mode: the frame to send next, held back by a malformed frame.
    pending: Option<data::Frame>,
    /// Generator of malformed frames.
    faults: Pcg64Mcg,
    /// When disconnects, stalls and the shutdown notice fire.
    disrupt: Disruptions,
    /// The burst window the data rate was last seen in, if any.
    burst_window: Option<u64>,
    sh: Shared,
    /// Data frames sent on this connection (for `max_messages` and the faults).
    sent: u64,
    pings: VecDeque<Bytes>,
    next_ping: Option<Instant>,
    /// The last write or flush would have blocked: the client is not keeping up.
    blocked: bool,
    buf: String,
    /// Tick-file mode: index of the next tick to look at.
    cursor: usize,
    /// The connection is being closed on purpose; nothing more is produced.
    closing: Option<close::Closing>,
}

impl Connection {
    fn new(ws: WebSocket<TcpStream>, session: Box<dyn VenueSim>, sh: Shared) -> Connection {
        let opened = Instant::now();
        let seed = sh.cfg.seed;
        let interval = sh.cfg.ping_interval;
        let source = match &sh.market {
            Some(m) => data::Source::Shared {
                market: m.clone(),
                cursor: None,
            },
            None => data::Source::Own {
                market: new_market(&sh.cfg, sh.specs.as_ref().clone()),
                pacer: Pacer::new(sh.schedule, opened),
            },
        };
        let disrupt =
            Disruptions::new(&sh.cfg.faults, opened, session.shutdown_notice(0).is_some());
        Connection {
            ws,
            session,
            opened,
            greeted: false,
            source,
            pending: None,
            faults: Pcg64Mcg::seed_from_u64(seed ^ FAULT_SEED_MIX),
            disrupt,
            burst_window: None,
            sh,
            sent: 0,
            pings: VecDeque::new(),
            next_ping: (!interval.is_zero()).then(|| opened + interval),
            blocked: false,
            buf: String::with_capacity(256),
            cursor: 0,
            closing: None,
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
            if self.closing.is_some() {
                if let Flow::End(why) = self.continue_close() {
                    return why;
                }
                thread::sleep(if self.blocked { TICK } else { IDLE_TICK });
                continue;
            }
            let now = Instant::now();
            match self.disrupt.poll(now, self.sent) {
                Action::Serve => {}
                Action::Stall { until, began } => {
                    if began {
                        self.sh.counters.stalls.fetch_add(1, Relaxed);
                        debug!(sent = self.sent, "sim: stall");
                    }
                    thread::sleep(until.saturating_duration_since(now).min(IDLE_TICK));
                    continue;
                }
                Action::Resume => self.resume_after_stall(now),
                Action::Disconnect => {
                    self.sh.counters.disconnects.fetch_add(1, Relaxed);
                    let style = self.sh.cfg.faults.close_style;
                    if let Flow::End(why) =
                        self.begin_close(style, CloseCode::Away, SIMULATED_DISCONNECT)
                    {
                        return why;
                    }
                    continue;
                }
                Action::Notice => {
                    if let Some(text) = self.session.shutdown_notice(now_ms()) {
                        self.sh.counters.shutdown_notices.fetch_add(1, Relaxed);
                        debug!(sent = self.sent, "sim: shutdown notice");
                        if let Flow::End(why) = self.write(Message::text(text)) {
                            return why;
                        }
                    }
                }
                Action::ShutdownClose => {
                    let style = self.sh.cfg.faults.close_style;
                    if let Flow::End(why) =
                        self.begin_close(style, CloseCode::Away, SERVER_SHUTDOWN)
                    {
                        return why;
                    }
                    continue;
                }
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
                if self.closing.is_some() {
                    break;
                }
            }
            if let Some(pause) = self.pause() {
                thread::sleep(pause);
            }
        }
    }

    /// How long to sleep before the next round, if at all.
    fn pause(&self) -> Option<Duration> {
        if self.closing.is_some() {
            return None;
        }
        if self.sh.ticks.is_some() {
            // Tick file: straight on while ticks are ready and the socket takes them.
            return if self.blocked {
                Some(TICK)
            } else if !self.session.has_subscriptions() {
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
                    return Flow::End(match &self.closing {
                        Some(c) => c.reason,
                        None => "client closed",
                    });
                }
                // Pings are answered by tungstenite on the next read or flush; binary
                // frames mean nothing in this protocol.
                Message::Ping(_) | Message::Binary(_) | Message::Frame(_) => {}
            }
        }
    }

    fn ping(&mut self) -> Flow {
        let Some(at) = self.next_ping else {
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

    /// Queues a frame. If the socket would block, the frame stays buffered in tungstenite
    /// and data generation pauses until a flush gets through. Once the connection is being
    /// closed nothing more may be sent: replies and pings are dropped.
    fn write(&mut self, msg: Message) -> Flow {
        if self.closing.is_some() {
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
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
