//! The floor: the cheapest way to read the same frames over loopback.
//!
//! A blocking `tungstenite` client on a `std::net::TcpStream` (TCP_NODELAY) subscribes and
//! reads frames on the calling thread, touching each payload (its length and its first
//! and last bytes) and nothing else: no parsing, no channels, no other thread. What it
//! costs is what any client on this host pays before doing any work, so it bounds from
//! below both tickforge and the [`crate::baseline`] pipeline.
//!
//! It reports throughput and the cost of reading one frame: per frame, the time spent in
//! the `read` call that returned it (when the server keeps the socket full, as a tick file
//! replay does, that is the per-frame read cost; when the client waits for data it
//! includes the wait), and the inter-arrival time between frames. [`run`] does not measure
//! latency: the only send time in a Binance frame is `E`, in milliseconds, far too coarse.
//! A sender that stamps its frames with its send time in nanoseconds (the end-to-end
//! bench's does) can be measured with [`run_stamped`], which also records, per stamped
//! frame, the wall clock when `read` returned it minus the stamp.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tickforge_engine::clock::wall_ns;
use tungstenite::{Message, WebSocket};

pub use crate::baseline::{EndReason, StopCondition};

/// How long one blocking read waits before the loop checks its deadlines.
const READ_SLICE: Duration = Duration::from_millis(50);
/// Highest value the histograms hold exactly (larger values are clamped): one minute.
const MAX_NS: u64 = 60_000_000_000;

/// What to connect to and when to stop.
#[derive(Debug, Clone, PartialEq)]
pub struct FloorConfig {
    /// A `ws://` URL.
    pub url: String,
    /// Text messages sent once connected, in order (`SUBSCRIBE` requests).
    pub subscribe: Vec<String>,
    /// When to stop (default: when the server closes).
    pub stop_after: StopCondition,
    /// Give up with [`FloorError::Timeout`] after this long (default 120 s).
    pub timeout: Duration,
}

impl Default for FloorConfig {
    fn default() -> Self {
        FloorConfig {
            url: String::new(),
            subscribe: Vec::new(),
            stop_after: StopCondition::ServerClose,
            timeout: Duration::from_secs(120),
        }
    }
}

/// What a floor run saw.
#[derive(Debug, Clone)]
pub struct FloorReport {
    /// Text and binary frames read (replies to requests included).
    pub frames: u64,
    /// Payload bytes of those frames.
    pub bytes: u64,
    /// A sum over the first and last byte of every payload, so the payloads are touched.
    pub checksum: u64,
    /// From sending the subscription to the end of reading.
    pub elapsed: Duration,
    /// From the first frame to the last.
    pub active: Duration,
    /// Per frame, ns spent in the `read` call that returned it.
    pub read_ns: Histogram<u64>,
    /// ns between consecutive frames.
    pub inter_arrival_ns: Histogram<u64>,
    /// Per frame with a send stamp ([`run_stamped`]): wall clock (`CLOCK_REALTIME`) when
    /// `read` returned it minus the stamp, ns. Empty for [`run`].
    pub send_to_read_ns: Histogram<u64>,
    /// Why reading stopped.
    pub ended: EndReason,
}

impl FloorReport {
    /// Frames per second between the first frame and the last.
    pub fn frames_per_sec(&self) -> f64 {
        let secs = self.active.as_secs_f64();
        if secs > 0.0 {
            self.frames.saturating_sub(1) as f64 / secs
        } else {
            0.0
        }
    }
}

/// Why a floor run failed.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    /// The URL is not a `ws://host:port/path` URL.
    #[error("bad URL {0:?}: expected ws://HOST:PORT/PATH")]
    Url(String),
    /// Connecting or setting socket options failed.
    #[error("connecting to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The WebSocket handshake failed.
    #[error("WebSocket handshake with {url}: {reason}")]
    Handshake {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The connection failed while reading or writing.
    #[error("WebSocket error: {0}")]
    WebSocket(#[source] Box<tungstenite::Error>),
    /// The run did not end within [`FloorConfig::timeout`].
    #[error("the run did not end within {0:?}")]
    Timeout(Duration),
    /// A histogram could not be created.
    #[error("histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// `host:port` of a `ws://` URL.
fn authority(url: &str) -> Result<(String, u16), FloorError> {
    let bad = || FloorError::Url(url.to_owned());
    let uri: tungstenite::http::Uri = url.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("ws") {
        return Err(bad());
    }
    let host = uri.host().ok_or_else(bad)?.to_owned();
    Ok((host, uri.port_u16().unwrap_or(80)))
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io)
        if matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

/// Connects with TCP_NODELAY and does the handshake, every step bounded by `timeout`.
fn connect(url: &str, timeout: Duration) -> Result<WebSocket<TcpStream>, FloorError> {
    let (host, port) = authority(url)?;
    let io_err = |source| FloorError::Connect {
        url: url.to_owned(),
        source,
    };
    let stream = TcpStream::connect((host.as_str(), port)).map_err(io_err)?;
    stream.set_nodelay(true).map_err(io_err)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let (ws, _) = tungstenite::client(url, stream).map_err(|e| FloorError::Handshake {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    ws.get_ref()
        .set_read_timeout(Some(READ_SLICE))
        .map_err(io_err)?;
    Ok(ws)
}

/// Reads a sender's stamp from a payload: wall-clock ns since the Unix epoch, or `None`
/// when the payload carries none.
pub type SendStamp = fn(&[u8]) -> Option<i64>;

/// Connects to `cfg.url`, subscribes and reads frames until `cfg.stop_after`.
pub fn run(cfg: &FloorConfig) -> Result<FloorReport, FloorError> {
    run_inner(cfg, None)
}

/// [`run`], also recording per frame the time since the send stamp `stamp` reads from it
/// ([`FloorReport::send_to_read_ns`]).
pub fn run_stamped(cfg: &FloorConfig, stamp: SendStamp) -> Result<FloorReport, FloorError> {
    run_inner(cfg, Some(stamp))
}

fn run_inner(cfg: &FloorConfig, stamp: Option<SendStamp>) -> Result<FloorReport, FloorError> {
    let started = Instant::now();
    let give_up = started + cfg.timeout;
    let mut ws = connect(&cfg.url, cfg.timeout)?;
    let ws_err = |e| FloorError::WebSocket(Box::new(e));
    for text in &cfg.subscribe {
        ws.send(Message::text(text.as_str())).map_err(ws_err)?;
    }
    let start = Instant::now();
    let stop_at = match cfg.stop_after {
        StopCondition::After(d) => Some(start + d),
        _ => None,
    };
    let max_frames = match cfg.stop_after {
        StopCondition::Frames(n) => n,
        _ => u64::MAX,
    };
    let mut report = FloorReport {
        frames: 0,
        bytes: 0,
        checksum: 0,
        elapsed: Duration::ZERO,
        active: Duration::ZERO,
        read_ns: Histogram::new_with_bounds(1, MAX_NS, 3)?,
        inter_arrival_ns: Histogram::new_with_bounds(1, MAX_NS, 3)?,
        send_to_read_ns: Histogram::new_with_bounds(1, MAX_NS, 3)?,
        ended: EndReason::ServerClosed,
    };
    let mut first: Option<Instant> = None;
    let mut last = start;
    let mut server_closed = false;
    loop {
        let now = Instant::now();
        if stop_at.is_some_and(|t| now >= t) {
            report.ended = EndReason::Duration;
            break;
        }
        if now >= give_up {
            return Err(FloorError::Timeout(cfg.timeout));
        }
        let t0 = Instant::now();
        let mut stamped = |b: &[u8]| {
            if let Some(sent) = stamp.and_then(|f| f(b)) {
                let ns = (wall_ns() - sent).clamp(1, MAX_NS as i64) as u64;
                report.send_to_read_ns.saturating_record(ns);
            }
        };
        let payload_len = match ws.read() {
            Ok(Message::Text(t)) => {
                let b = t.as_bytes();
                stamped(b);
                touch(&mut report.checksum, b);
                b.len()
            }
            Ok(Message::Binary(b)) => {
                stamped(&b);
                touch(&mut report.checksum, &b);
                b.len()
            }
            // tungstenite queued the reply; the next reads send it and end the stream.
            Ok(Message::Close(_)) => {
                server_closed = true;
                continue;
            }
            Ok(_) => continue,
            Err(e) if would_block(&e) => continue,
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => break,
            Err(_) if server_closed => break,
            Err(e) => return Err(ws_err(e)),
        };
        let t1 = Instant::now();
        report.read_ns.saturating_record(ns(t1 - t0));
        if first.is_some() {
            report.inter_arrival_ns.saturating_record(ns(t1 - last));
        } else {
            first = Some(t1);
        }
        last = t1;
        report.frames += 1;
        report.bytes += payload_len as u64;
        if report.frames >= max_frames {
            report.ended = EndReason::Frames;
            break;
        }
    }
    report.elapsed = start.elapsed();
    report.active = first.map_or(Duration::ZERO, |f| last - f);
    if report.ended != EndReason::ServerClosed {
        // Best effort: a polite close; the server may already be gone.
        let _ = ws.close(None);
        let _ = ws.flush();
    }
    Ok(report)
}

/// Touches a payload without parsing it.
#[inline]
fn touch(sum: &mut u64, payload: &[u8]) {
    let ends =
        payload.first().map_or(0, |&b| u64::from(b)) + payload.last().map_or(0, |&b| u64::from(b));
    *sum = sum.wrapping_add(ends);
}
