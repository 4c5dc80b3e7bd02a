//! Closing a connection on purpose: at the end of a tick file, on a disconnect fault, or
//! when a shutdown notice's grace period ends, in one of three [`CloseStyle`]s.
//!
//! * [`CloseStyle::Frame`]: a Close frame is queued behind whatever is still buffered;
//!   the connection ends when the client's Close reply arrives, or
//!   [`CLOSE_REPLY_TIMEOUT`] after the frame was fully written.
//! * [`CloseStyle::Abrupt`]: everything buffered is written (at most [`DRAIN_TIMEOUT`]),
//!   the client's unread bytes are discarded, and the write side is shut down (a FIN, no
//!   Close frame). The client's bytes are then read and discarded until it closes too (at
//!   most [`FIN_WAIT`]), so the final close sends no reset.
//! * [`CloseStyle::Reset`]: everything buffered is written to the socket, then the socket
//!   is closed with `SO_LINGER` 0, which sends a reset (RST).

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use tracing::debug;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Error as WsError;

use super::{Connection, Flow};
use crate::sim::faults::CloseStyle;

/// How long to wait for the client's Close reply once our Close frame has been written
/// to the socket.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Abrupt and reset closes: how long buffered frames may take to reach the socket.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Abrupt close: how long to wait for the client's end of the connection after our FIN.
const FIN_WAIT: Duration = Duration::from_secs(2);

/// A close in progress.
#[derive(Debug)]
pub(super) struct Closing {
    /// Why the connection is closed (the Close frame's reason, the log's).
    pub(super) reason: &'static str,
    style: CloseStyle,
    started: Instant,
    /// Frame style: when the Close frame had been fully written.
    flushed: Option<Instant>,
    /// Abrupt style: when the write side was shut down.
    fin_sent: Option<Instant>,
}

impl Connection {
    /// Starts closing the connection: nothing is produced from now on.
    pub(super) fn begin_close(
        &mut self,
        style: CloseStyle,
        code: CloseCode,
        reason: &'static str,
    ) -> Flow {
        debug!(sent = self.sent, reason, ?style, "sim: closing");
        self.closing = Some(Closing {
            reason,
            style,
            started: Instant::now(),
            flushed: None,
            fin_sent: None,
        });
        if style == CloseStyle::Frame {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            // Queued behind every frame still buffered; `close` also tries a flush.
            match self.ws.close(Some(frame)) {
                Ok(()) => {}
                Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => self.blocked = true,
                Err(e) => return self.on_error(e),
            }
        }
        Flow::Continue
    }

    /// One round of a close in progress; `End` when the connection is to be dropped.
    pub(super) fn continue_close(&mut self) -> Flow {
        let Some(c) = &self.closing else {
            return Flow::Continue;
        };
        let (reason, style, started, fin_sent) = (c.reason, c.style, c.started, c.fin_sent);
        if let Some(at) = fin_sent {
            return drain_until_eof(self.ws.get_mut(), at, reason);
        }
        if style == CloseStyle::Frame {
            // The client's Close reply ends the connection in `read_all`.
            for step in [Self::read_all, Self::flush] {
                if let Flow::End(why) = step(self) {
                    return Flow::End(why);
                }
            }
            if !self.blocked {
                let now = Instant::now();
                let at = match self.closing.as_mut() {
                    Some(c) => *c.flushed.get_or_insert(now),
                    None => now,
                };
                if now.saturating_duration_since(at) > CLOSE_REPLY_TIMEOUT {
                    return Flow::End("no close reply");
                }
            }
            return Flow::Continue;
        }
        if let Flow::End(why) = self.flush() {
            return Flow::End(why);
        }
        if self.blocked && started.elapsed() < DRAIN_TIMEOUT {
            return Flow::Continue;
        }
        let stream = self.ws.get_mut();
        if style == CloseStyle::Reset {
            if let Err(e) = set_linger_zero(stream) {
                debug!(error = %e, "sim: cannot set SO_LINGER");
            }
            return Flow::End(reason);
        }
        // Unread bytes at close time would turn the FIN into a reset.
        discard_input(stream);
        if let Err(e) = stream.shutdown(Shutdown::Write) {
            debug!(error = %e, "sim: shutdown failed");
            return Flow::End(reason);
        }
        if let Some(c) = self.closing.as_mut() {
            c.fin_sent = Some(Instant::now());
        }
        Flow::Continue
    }
}

/// Reads and drops whatever the client has sent; `true` at end of stream or on an error.
fn discard_input(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// After our FIN: ends the connection once the client has closed its side, or after
/// [`FIN_WAIT`].
fn drain_until_eof(stream: &mut TcpStream, fin_at: Instant, reason: &'static str) -> Flow {
    if discard_input(stream) || fin_at.elapsed() > FIN_WAIT {
        Flow::End(reason)
    } else {
        Flow::Continue
    }
}

/// Makes closing `stream` send a reset instead of a FIN.
#[cfg(unix)]
fn set_linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::linger>())
        .map_err(|_| std::io::Error::from(ErrorKind::InvalidInput))?;
    // SAFETY: the descriptor belongs to `stream`, which is open for the whole call, and the
    // option value points to a live `linger` of exactly `len` bytes, which the kernel only
    // reads.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Elsewhere the close is a plain one.
#[cfg(not(unix))]
fn set_linger_zero(_stream: &TcpStream) -> std::io::Result<()> {
    Ok(())
}
