//! One WebSocket connection driven by readiness: non-blocking TCP connect, the WebSocket
//! handshake, then frame reads and writes, all without blocking the reader's thread.
//!
//! The transport is a plain `mio` TCP stream for `ws://`; for `wss://` the same stream is
//! wrapped in TLS ([`crate::tls`]) once connected, so the state machine is the same for
//! both: the TLS handshake runs inside the WebSocket handshake's reads and writes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use tickforge_engine::clock::wall_ns;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::tls::{TlsClient, TlsStream};

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
    /// TLS failed: the server's certificate was refused (unknown issuer, name mismatch,
    /// expired, …), the handshake or a record was bad, or the configuration is unusable.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The CA file could not be read.
    #[error("CA file {}: {source}", path.display())]
    CaFileRead {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// The CA file holds no certificate.
    #[error("CA file {}: no PEM certificate in it", path.display())]
    CaFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// The CA file is not valid PEM, or a certificate in it is unusable as a trust anchor.
    #[error("CA file {}: {reason}", path.display())]
    CaFileInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The peer closed the connection.
    #[error("closed by peer")]
    Closed,
}

/// Where to connect: parsed once from the feed's URL. For `wss://` it also holds the TLS
/// settings, built once (certificate files are read here, never on reconnect).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The full URL, for the handshake request.
    pub url: String,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    tls: Option<TlsClient>,
}

impl Endpoint {
    /// Parses a `ws://host[:port]/path` (port 80 by default) or `wss://host[:port]/path`
    /// (port 443 by default) URL; `wss://` trusts the platform's web roots.
    pub fn parse(url: &str) -> Result<Self, ConnectionError> {
        Self::parse_with_ca(url, None)
    }

    /// Parses a URL like [`Endpoint::parse`]; for `wss://`, `ca_file` names a PEM file of
    /// CA certificates trusted besides the platform's web roots. The file is read and
    /// checked now (also for `ws://`, where it is otherwise unused), so a bad file is a
    /// configuration error at start-up.
    pub fn parse_with_ca(url: &str, ca_file: Option<&Path>) -> Result<Self, ConnectionError> {
        let bad = |reason| ConnectionError::BadUrl {
            url: url.to_string(),
            reason,
        };
        let uri: tungstenite::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let (default_port, secure) = match uri.scheme_str() {
            Some("ws") => (80, false),
            Some("wss") => (443, true),
            _ => return Err(bad("scheme must be ws:// or wss://")),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_matches(['[', ']'])
            .to_string();
        let tls = if secure {
            Some(TlsClient::new(&host, ca_file).map_err(|e| match e {
                ConnectionError::BadUrl { reason, .. } => bad(reason),
                other => other,
            })?)
        } else {
            if let Some(path) = ca_file {
                crate::tls::load_ca_file(path)?;
            }
            None
        };
        Ok(Endpoint {
            url: url.to_string(),
            host,
            port: uri.port_u16().unwrap_or(default_port),
            tls,
        })
    }

    /// True for `wss://`.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The TLS settings of a `wss://` endpoint.
    pub fn tls(&self) -> Option<&TlsClient> {
        self.tls.as_ref()
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

/// The byte stream under the WebSocket: the socket itself, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// The stream, and when bytes last came out of it: a frame is fully received when the
/// read that brought its last byte returned. The WebSocket reads only when the bytes it
/// holds do not make a whole frame, so that is the newest read when the frame is decoded
/// (one clock read per read call, not per frame).
struct Transport {
    stream: Stream,
    last_read_ns: i64,
}

impl Transport {
    fn new(stream: Stream) -> Transport {
        Transport {
            stream,
            last_read_ns: 0,
        }
    }

    /// The socket, for (de)registration.
    fn socket_mut(&mut self) -> &mut TcpStream {
        match &mut self.stream {
            Stream::Plain(s) => s,
            Stream::Tls(t) => t.socket_mut(),
        }
    }

    /// Ends TLS with a close_notify (best effort); nothing for plain TCP.
    fn close_notify(&mut self) {
        if let Stream::Tls(t) = &mut self.stream {
            t.close_notify();
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }?;
        if n > 0 {
            self.last_read_ns = wall_ns();
        }
        Ok(n)
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

/// A TLS failure arrives from tungstenite as an I/O error wrapping the rustls error: it is
/// reported as [`ConnectionError::Tls`]; other errors keep their kind.
fn ws_error(e: tungstenite::Error) -> ConnectionError {
    if let tungstenite::Error::Io(io) = &e {
        let tls = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
        if let Some(tls) = tls {
            return ConnectionError::Tls(tls.clone());
        }
    }
    ConnectionError::WebSocket(e)
}

enum State {
    /// TCP connect in progress.
    Connecting(Option<TcpStream>),
    /// WebSocket handshake (over TLS: with the TLS handshake first) in progress.
    Handshaking(Option<MidHandshake<ClientHandshake<Transport>>>),
    /// Open: frames flow.
    Open(Box<WebSocket<Transport>>),
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
        /// When it was fully received: the wall clock (ns) when the read that brought its
        /// last byte returned.
        received_ns: i64,
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
                // Empty only after a failed step, which ends the connection.
                let Some(s) = stream.as_ref() else {
                    return Err(ConnectionError::Closed);
                };
                if let Some(e) = s.take_error()? {
                    return Err(e.into());
                }
                match s.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(Step::Idle),
                    Err(e) => return Err(e.into()),
                }
                s.set_nodelay(true)?;
                let Some(s) = stream.take() else {
                    return Err(ConnectionError::Closed);
                };
                let transport = Transport::new(match &self.endpoint.tls {
                    None => Stream::Plain(s),
                    Some(client) => Stream::Tls(Box::new(client.start(s)?)),
                });
                let result = tungstenite::client::client_with_config(
                    self.endpoint.url.as_str(),
                    transport,
                    Some(self.config),
                );
                self.finish_handshake(result)
            }
            State::Handshaking(mid) => {
                let Some(m) = mid.take() else {
                    return Err(ConnectionError::Closed);
                };
                self.finish_handshake(m.handshake())
            }
            State::Open(ws) => match ws.read() {
                Ok(Message::Text(t)) => Ok(Step::Frame {
                    binary: false,
                    payload: t.into(),
                    received_ns: ws.get_ref().last_read_ns,
                }),
                Ok(Message::Binary(b)) => Ok(Step::Frame {
                    binary: true,
                    payload: b,
                    received_ns: ws.get_ref().last_read_ns,
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
                Err(e) => Err(ws_error(e)),
            },
        }
    }

    fn finish_handshake(
        &mut self,
        result: Result<
            (
                WebSocket<Transport>,
                tungstenite::handshake::client::Response,
            ),
            HandshakeError<ClientHandshake<Transport>>,
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
            Err(HandshakeError::Failure(e)) => Err(ws_error(e)),
        }
    }

    /// Queues a text message and writes what the socket takes now; the rest goes out on
    /// later [`Connection::flush`] calls.
    pub fn send_text(&mut self, text: &str) -> Result<(), ConnectionError> {
        let State::Open(ws) = &mut self.state else {
            return Ok(());
        };
        match ws.write(Message::text(text)) {
            Ok(()) => {}
            // Queued: a large message goes out as the socket drains (see `flush`).
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(ws_error(e)),
        }
        self.flush()
    }

    /// Writes out queued frames (subscriptions, pongs) and, over TLS, pending TLS records
    /// (also during the handshake); would-block is not an error. Call it when the socket
    /// turns writable.
    pub fn flush(&mut self) -> Result<(), ConnectionError> {
        match &mut self.state {
            State::Open(ws) => match ws.flush() {
                Ok(()) => Ok(()),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                Err(e) => Err(ws_error(e)),
            },
            State::Handshaking(Some(m)) => match m.get_mut().get_mut().flush() {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                Err(e) => Err(ws_error(tungstenite::Error::Io(e))),
            },
            _ => Ok(()),
        }
    }

    /// Sends a close frame and, over TLS, a close_notify (best effort, without blocking),
    /// and deregisters the socket.
    pub fn close(mut self, registry: &Registry) {
        match &mut self.state {
            State::Open(ws) => {
                let _ = ws.close(None);
                let _ = ws.flush();
                let transport = ws.get_mut();
                transport.close_notify();
                let _ = registry.deregister(transport.socket_mut());
            }
            State::Connecting(Some(s)) => {
                let _ = registry.deregister(s);
            }
            State::Handshaking(Some(m)) => {
                let _ = registry.deregister(m.get_mut().get_mut().socket_mut());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_ws_and_wss_urls() {
        let e = Endpoint::parse("ws://127.0.0.1:9443/stream").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 9443));
        assert!(!e.is_tls());
        assert_eq!(Endpoint::parse("ws://localhost/ws").unwrap().port, 80);
        let e = Endpoint::parse("wss://stream.example/ws").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.is_tls()),
            ("stream.example", 443, true)
        );
        assert_eq!(Endpoint::parse("wss://[::1]:9443/ws").unwrap().host, "::1");
        assert!(Endpoint::parse("http://x/").is_err());
        assert!(Endpoint::parse("not a url").is_err());
    }

    #[test]
    fn a_bad_ca_file_is_refused_at_parse_time() {
        let missing = Path::new("/nonexistent/tickforge-ca.pem");
        for url in ["wss://stream.example/ws", "ws://stream.example/ws"] {
            let err = Endpoint::parse_with_ca(url, Some(missing)).unwrap_err();
            assert!(matches!(err, ConnectionError::CaFileRead { .. }), "{err}");
        }
    }

    #[test]
    fn tls_errors_inside_io_errors_are_reported_as_tls() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, inner);
        let err = ws_error(tungstenite::Error::Io(io));
        assert!(matches!(err, ConnectionError::Tls(_)), "{err}");
        let plain = ws_error(tungstenite::Error::Io(io::ErrorKind::BrokenPipe.into()));
        assert!(matches!(plain, ConnectionError::WebSocket(_)), "{plain}");
    }
}
