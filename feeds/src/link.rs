//! One connection of a feed as the reader tracks it, and the timers that watch it.
//!
//! A feed has one active link; while it is being replaced (make before break) it also has a
//! successor. A link counts as alive only while data frames arrive: WebSocket pings, pongs
//! and other control frames do not count.

use std::time::{Duration, Instant};

use crate::connection::Connection;

/// Which of a feed's two connection slots (the mio token is `feed * 2 + slot`).
pub type Slot = usize;

/// One connection and what the reader knows about it.
pub struct Link {
    /// The connection.
    pub conn: Connection,
    /// Connection id (increases with every connection the reader opens).
    pub id: u32,
    /// The socket may have data: read it.
    pub readable: bool,
    /// When the connection was started (TCP connect).
    pub started: Instant,
    /// When the WebSocket opened (subscriptions sent); `None` while connecting.
    pub opened: Option<Instant>,
    /// Receive time of the last data frame (or when the link opened), wall ns: the frame's
    /// own receive stamp, so no extra clock read per frame.
    pub last_data_ns: i64,
    /// When the connection last sent a message (subscriptions or keepalive), wall ns.
    pub last_sent: Option<i64>,
    /// Data frames received.
    pub frames: u64,
    /// For a rotation's successor: when its first data frame arrived.
    pub first_data: Option<Instant>,
    /// For a rotation's successor: its frames, held back until it takes over (the old
    /// connection stays the feed's source until then).
    pub held: Vec<(tickforge_engine::frame::FrameRef, Vec<u8>)>,
    /// Payload bytes in `held`.
    pub held_bytes: usize,
}

impl Link {
    /// A link for `conn`, started now.
    pub fn new(conn: Connection, id: u32) -> Link {
        let now = Instant::now();
        Link {
            conn,
            id,
            readable: true,
            started: now,
            opened: None,
            last_data_ns: tickforge_engine::clock::wall_ns(),
            last_sent: None,
            frames: 0,
            first_data: None,
            held: Vec::new(),
            held_bytes: 0,
        }
    }

    /// How long the connection has been open, if it is.
    pub fn up_for(&self, now: Instant) -> Option<Duration> {
        self.opened.map(|t| now.saturating_duration_since(t))
    }

    /// How long the link has gone without a data frame, at wall time `now_ns`.
    pub fn silent(&self, now_ns: i64) -> Duration {
        Duration::from_nanos(now_ns.saturating_sub(self.last_data_ns).max(0) as u64)
    }

    /// How long until the link counts as stale under `idle` (zero: it is): no data frame
    /// for that long after it opened, or not opened that long after it started (a stuck
    /// handshake). `now` and `now_ns` are the same moment on the two clocks.
    pub fn until_stale(&self, idle: Duration, now: Instant, now_ns: i64) -> Duration {
        match self.opened {
            Some(_) => idle.saturating_sub(self.silent(now_ns)),
            None => (self.started + idle).saturating_duration_since(now),
        }
    }
}
