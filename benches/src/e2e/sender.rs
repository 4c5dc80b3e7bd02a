//! The loopback sender: a WebSocket server on 127.0.0.1 speaking just enough of Binance's
//! combined-stream protocol for one client, then writing pre-encoded frames
//! ([`super::wire`]) at a fixed rate or as fast as the client reads.
//!
//! One client per sender. The sender accepts it, completes the handshake, acknowledges its
//! `SUBSCRIBE` requests (`{"result":null,"id":N}`) until every stream is subscribed, and
//! reports [`Sender::wait_subscribed`]. On [`Sender::go`] it writes frames for the run's
//! duration: frame `k` is due `k / rate` after the start; whatever is due is written in
//! one batch (at most [`BATCH_BYTES`]), stamped just before the write, and between
//! batches the thread sleeps until the next frame is due (timer slack lowered to 1 µs).
//! A client that reads slower than the rate pushes back through TCP: the sender falls
//! behind its schedule and catches up in full batches, never skipping a frame. At full
//! speed (no rate) it writes full batches back to back. Then [`Sender::close`] sends a
//! Close frame (1000) and waits, bounded, for the client's reply.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tickforge_engine::clock::wall_ns;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use super::proc::lower_timer_slack;
use super::wire::{self, FrameCursor, FrameKind, FramePool};
use super::E2eError;

/// Most bytes written per batch.
pub const BATCH_BYTES: usize = 64 * 1024;
/// How long a blocking read or write of the sender may take before the run fails.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// What to send.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The frames.
    pub pool: Arc<FramePool>,
    /// Frames per second; `None`: as fast as the client reads.
    pub rate: Option<u64>,
    /// How long to send.
    pub duration: Duration,
    /// Exchange time of the first frame, ms since the Unix epoch.
    pub t0_ms: i64,
    /// Frames per second of exchange time (`T` advances 1 s per this many frames).
    pub nominal_rate: u64,
    /// Longest wait for the client to connect and subscribe, and for the go signal.
    pub timeout: Duration,
}

/// What a sender wrote.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct SendReport {
    /// Data frames written.
    pub frames: u64,
    /// Trades among them.
    pub trades: u64,
    /// Quotes among them.
    pub quotes: u64,
    /// Replies to requests written before the data.
    pub replies: u64,
    /// Payload and header bytes of the data frames.
    pub bytes: u64,
    /// Wall-clock time of the first write, ns since the Unix epoch.
    pub first_send_ns: i64,
    /// Wall-clock time after the last write returned.
    pub last_send_ns: i64,
    /// Largest lag behind the schedule seen before a batch, ns (0 at full speed).
    pub max_behind_ns: u64,
}

impl SendReport {
    /// Frames per second from the first write to the end of the last.
    pub fn rate(&self) -> f64 {
        let secs = (self.last_send_ns - self.first_send_ns) as f64 / 1e9;
        if secs > 0.0 {
            self.frames as f64 / secs
        } else {
            0.0
        }
    }
}

enum Command {
    Go,
    Close,
}

enum Event {
    Subscribed,
    Done(SendReport),
    Closed,
}

/// A running sender (one thread).
pub struct Sender {
    url: String,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Result<Event, String>>,
    thread: Option<JoinHandle<()>>,
    timeout: Duration,
}

impl Sender {
    /// Binds 127.0.0.1 on a free port and starts the thread, which waits for one client.
    pub fn start(cfg: SenderConfig) -> Result<Sender, E2eError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| E2eError::Io { what, source }
        };
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(io("binding the sender"))?;
        let addr = listener.local_addr().map_err(io("the sender's address"))?;
        listener
            .set_nonblocking(true)
            .map_err(io("configuring the sender's socket"))?;
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let timeout = cfg.timeout;
        let thread = std::thread::Builder::new()
            .name("e2e-sender".into())
            .spawn(move || {
                let result = serve(listener, &cfg, &command_rx, &event_tx);
                if let Err(e) = result {
                    let _ = event_tx.send(Err(e));
                }
            })
            .map_err(io("spawning the sender thread"))?;
        Ok(Sender {
            url: format!("ws://{addr}/stream"),
            commands,
            events,
            thread: Some(thread),
            timeout,
        })
    }

    /// The URL clients connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn next_event(&self, wait: Duration) -> Result<Event, E2eError> {
        match self.events.recv_timeout(wait) {
            Ok(Ok(e)) => Ok(e),
            Ok(Err(msg)) => Err(E2eError::Protocol(format!("sender: {msg}"))),
            Err(_) => Err(E2eError::Protocol(format!(
                "sender: nothing happened within {wait:?}"
            ))),
        }
    }

    /// Waits until the client has subscribed to every stream.
    pub fn wait_subscribed(&self) -> Result<(), E2eError> {
        match self.next_event(self.timeout)? {
            Event::Subscribed => Ok(()),
            _ => Err(E2eError::Protocol("sender: out of order".into())),
        }
    }

    /// Starts sending; returns at once.
    pub fn go(&self) {
        let _ = self.commands.send(Command::Go);
    }

    /// Waits until the run's frames are written (at most the duration plus `slack`).
    pub fn wait_done(&self, duration: Duration, slack: Duration) -> Result<SendReport, E2eError> {
        match self.next_event(duration + slack)? {
            Event::Done(r) => Ok(r),
            _ => Err(E2eError::Protocol("sender: out of order".into())),
        }
    }

    /// Sends the Close frame, waits (bounded) for the client's reply and joins the thread.
    pub fn close(mut self) -> Result<(), E2eError> {
        let _ = self.commands.send(Command::Close);
        let closed = self.next_event(Duration::from_secs(15));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        closed.map(|_| ())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        // Unblocks a thread still waiting for a command; it then ends within its timeouts.
        let _ = self.commands.send(Command::Close);
    }
}

/// The sender thread: accept, subscribe, send, close.
fn serve(
    listener: TcpListener,
    cfg: &SenderConfig,
    commands: &mpsc::Receiver<Command>,
    events: &mpsc::Sender<Result<Event, String>>,
) -> Result<(), String> {
    lower_timer_slack();
    let stream = accept(&listener, cfg.timeout, commands)?;
    let mut ws = tungstenite::accept(stream).map_err(|e| format!("handshake: {e}"))?;
    let replies = subscribe(&mut ws, cfg)?;
    let _ = events.send(Ok(Event::Subscribed));
    match commands.recv_timeout(cfg.timeout) {
        Ok(Command::Go) => {}
        Ok(Command::Close) | Err(_) => return Ok(()),
    }
    let mut report = send(ws.get_mut(), cfg)?;
    report.replies = replies;
    let _ = events.send(Ok(Event::Done(report)));
    let _ = commands.recv_timeout(Duration::from_secs(600));
    close(&mut ws);
    let _ = events.send(Ok(Event::Closed));
    Ok(())
}

/// Accepts one client within `timeout` (or until told to close).
fn accept(
    listener: &TcpListener,
    timeout: Duration,
    commands: &mpsc::Receiver<Command>,
) -> Result<TcpStream, String> {
    let give_up = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let setup = |s: &TcpStream| -> std::io::Result<()> {
                    s.set_nonblocking(false)?;
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(IO_TIMEOUT))?;
                    s.set_write_timeout(Some(IO_TIMEOUT))
                };
                setup(&stream).map_err(|e| format!("configuring the connection: {e}"))?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("accept: {e}")),
        }
        if Instant::now() >= give_up {
            return Err(format!("no client connected within {timeout:?}"));
        }
        if let Ok(Command::Close) = commands.try_recv() {
            return Err("closed before a client connected".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Acknowledges `SUBSCRIBE` requests until every stream is subscribed; returns the
/// number of replies sent.
fn subscribe(ws: &mut WebSocket<TcpStream>, cfg: &SenderConfig) -> Result<u64, String> {
    let wanted = wire::streams(cfg.pool.symbols());
    let mut have: Vec<String> = Vec::new();
    let mut replies = 0;
    let give_up = Instant::now() + cfg.timeout;
    while !wanted.iter().all(|s| have.contains(s)) {
        if Instant::now() >= give_up {
            return Err(format!(
                "the client did not subscribe within {:?}",
                cfg.timeout
            ));
        }
        let text = match ws.read().map_err(|e| format!("reading a request: {e}"))? {
            Message::Text(t) => t,
            _ => continue,
        };
        let req: serde_json::Value = serde_json::from_str(text.as_str())
            .map_err(|e| format!("request {text:?} is not JSON: {e}"))?;
        let id = req.get("id").cloned().unwrap_or(serde_json::Value::Null);
        if req.get("method").and_then(|m| m.as_str()) == Some("SUBSCRIBE") {
            let params = req.get("params").and_then(|p| p.as_array());
            have.extend(
                params
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str())
                    .map(str::to_owned),
            );
        }
        ws.send(Message::text(format!(r#"{{"result":null,"id":{id}}}"#)))
            .map_err(|e| format!("replying: {e}"))?;
        replies += 1;
    }
    Ok(replies)
}

/// Frames due `elapsed` into a run at `rate` per second (frame 0 is due at once).
fn due(elapsed: Duration, rate: u64) -> u64 {
    let n = elapsed.as_nanos() * u128::from(rate) / 1_000_000_000 + 1;
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// When frame `k` is due after the start, at `rate` per second.
fn due_time(k: u64, rate: u64) -> Duration {
    let ns = u128::from(k) * 1_000_000_000 / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Writes frames for `cfg.duration`.
fn send(stream: &mut TcpStream, cfg: &SenderConfig) -> Result<SendReport, String> {
    let pool = &cfg.pool;
    let mut cursor = FrameCursor::new(pool, cfg.t0_ms, cfg.nominal_rate);
    let mut buf = Vec::with_capacity(BATCH_BYTES + pool.max_frame_len());
    let mut stamps = Vec::with_capacity(BATCH_BYTES / 64);
    let mut report = SendReport::default();
    let start = Instant::now();
    let end = start + cfg.duration;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let want = match cfg.rate {
            Some(r) => {
                let due = due(now - start, r);
                let k = cursor.frames();
                let due_at = due_time(k, r);
                if due <= k {
                    // Sleep until frame `k` is due (or the run ends).
                    std::thread::sleep((start + due_at).min(end).saturating_duration_since(now));
                    continue;
                }
                let behind = (now - start).saturating_sub(due_at);
                report.max_behind_ns = report.max_behind_ns.max(behind.as_nanos() as u64);
                due - k
            }
            None => u64::MAX,
        };
        buf.clear();
        stamps.clear();
        let mut n = 0;
        while n < want && buf.len() < BATCH_BYTES {
            match cursor.next_into(pool, &mut buf, &mut stamps) {
                FrameKind::Trade => report.trades += 1,
                FrameKind::Quote => report.quotes += 1,
            }
            n += 1;
        }
        let now_ns = wall_ns();
        FrameCursor::stamp(&mut buf, &stamps, now_ns);
        if report.frames == 0 {
            report.first_send_ns = now_ns;
        }
        stream
            .write_all(&buf)
            .map_err(|e| format!("writing frames: {e}"))?;
        report.frames += n;
        report.bytes += buf.len() as u64;
    }
    report.last_send_ns = wall_ns();
    Ok(report)
}

/// Sends a Close frame (1000) and reads until the client's reply, at most 10 s.
fn close(ws: &mut WebSocket<TcpStream>) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "end of run".into(),
    };
    if ws.close(Some(frame)).is_err() {
        return;
    }
    let _ = ws
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)));
    let give_up = Instant::now() + Duration::from_secs(10);
    while Instant::now() < give_up {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}
