//! `wss://` end to end on loopback: a TLS WebSocket server on a thread (certificates made
//! here: a CA and leaves signed by it), the real `Connection` driven by a `mio` poll loop
//! the way the reader drives it, and the reader stage itself.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tickforge_engine::frame::{frame_edge, FrameKind};
use tickforge_engine::record::FeedState;
use tickforge_engine::stage::Stage;
use tickforge_engine::wait::ThreadWake;
use tickforge_feeds::connection::{Connection, ConnectionError, Endpoint, Step};
use tickforge_feeds::reader::{FeedSpec, ReaderStage};
use tungstenite::{Message, WebSocket};

/// Every wait in these tests ends by then.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Larger than a TLS record (16 KiB) and than 64 KiB: arrives in many records.
const LARGE: usize = 200 * 1024;
const MAX_FRAME: usize = 1 << 20;

/// A test CA, its PEM file, and a server certificate signed by it.
struct Pki {
    ca_file: tempfile::NamedTempFile,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn pki(names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tickforge test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().expect("leaf key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut leaf = CertificateParams::new(names).expect("leaf params");
    leaf.distinguished_name
        .push(DnType::CommonName, "tickforge test server");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .expect("leaf certificate");

    let mut ca_file = tempfile::NamedTempFile::new().expect("temp file");
    // Something that is not a certificate first: it is skipped.
    writeln!(ca_file, "tickforge test CA\n").expect("write CA file");
    ca_file
        .write_all(ca_cert.pem().as_bytes())
        .expect("write CA file");
    ca_file.flush().expect("flush CA file");
    Pki {
        ca_file,
        chain: vec![leaf_cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
    }
}

fn server_config(pki: &Pki) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), PrivateKeyDer::Pkcs8(pki.key.clone_key()))
        .expect("server certificate");
    Arc::new(config)
}

type ServerWs = WebSocket<Box<dyn ReadWrite>>;

/// A blocking stream the test server speaks WebSocket over (TLS or plain TCP).
trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// A one-connection server on 127.0.0.1: accepts, does TLS (when `tls` is given) and the
/// WebSocket handshake, then runs `script`. Everything blocking has a timeout.
fn serve<T: Send + 'static>(
    tls: Option<Arc<ServerConfig>>,
    script: impl FnOnce(&mut ServerWs) -> Result<T, String> + Send + 'static,
) -> (u16, JoinHandle<Result<T, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + TIMEOUT;
        let tcp = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        tcp.set_nonblocking(false).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        tcp.set_write_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        let stream: Box<dyn ReadWrite> = match tls {
            Some(config) => {
                let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
                Box::new(StreamOwned::new(conn, tcp))
            }
            None => Box::new(tcp),
        };
        let mut ws = tungstenite::accept(stream).map_err(|e| format!("accept: {e}"))?;
        script(&mut ws)
    });
    (port, handle)
}

/// Joins the server thread (which ends by itself within its timeouts).
fn join<T>(handle: JoinHandle<Result<T, String>>) -> Result<T, String> {
    handle.join().expect("server thread panicked")
}

/// The client side, driven like the reader drives it: `step()` until idle, then poll.
struct Client {
    poll: Poll,
    events: Events,
    conn: Option<Connection>,
    readable: bool,
}

impl Client {
    fn connect(endpoint: &Endpoint) -> Client {
        let poll = Poll::new().expect("poll");
        let conn =
            Connection::connect(endpoint, Token(7), poll.registry(), MAX_FRAME).expect("connect");
        Client {
            poll,
            events: Events::with_capacity(16),
            conn: Some(conn),
            readable: true,
        }
    }

    fn conn(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection open")
    }

    /// The next step that is not `Idle`; pongs queued by a ping are flushed right away.
    fn next(&mut self) -> Result<Step, ConnectionError> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if self.readable {
                match self.conn().step() {
                    Ok(Step::Idle) => self.readable = false,
                    Ok(Step::Control) => {
                        self.conn().flush()?;
                        return Ok(Step::Control);
                    }
                    other => return other,
                }
                continue;
            }
            assert!(Instant::now() < deadline, "client timed out");
            self.poll
                .poll(&mut self.events, Some(Duration::from_millis(100)))
                .expect("poll");
            for ev in self.events.iter() {
                assert_eq!(ev.token(), Token(7));
                self.readable = true;
                if ev.is_writable() {
                    let _ = self.conn.as_mut().map(Connection::flush);
                }
            }
        }
    }

    /// Runs until the connection fails; returns the error.
    fn until_error(&mut self) -> ConnectionError {
        loop {
            match self.next() {
                Ok(Step::Opened) => panic!("the connection should not open"),
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    }

    fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            c.close(self.poll.registry());
        }
    }
}

fn text_of(step: Step) -> String {
    match step {
        Step::Frame {
            binary: false,
            payload,
            received_ns,
        } => {
            // Stamped by the read that brought it: in the past, and this century.
            let now = tickforge_engine::clock::wall_ns();
            assert!(
                received_ns > now - 60_000_000_000 && received_ns <= now,
                "received_ns {received_ns}, now {now}"
            );
            String::from_utf8(payload.to_vec()).expect("utf-8")
        }
        other => panic!("expected a text frame, got {other:?}"),
    }
}

fn large_text() -> String {
    (0..LARGE)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect()
}

/// What the scripted server saw.
#[derive(Debug, Default)]
struct Seen {
    subscribe: String,
    pong: bool,
    close_reply: bool,
}

/// The server's side of the conversation: read the subscription, echo it, send frames
/// (one large), a binary frame and a ping, wait for the pong, close.
fn conversation(ws: &mut ServerWs) -> Result<Seen, String> {
    let mut seen = Seen::default();
    match ws.read().map_err(|e| format!("read: {e}"))? {
        Message::Text(t) => seen.subscribe = t.to_string(),
        other => return Err(format!("expected the subscription, got {other:?}")),
    }
    let send = |ws: &mut ServerWs, m: Message| ws.send(m).map_err(|e| format!("send: {e}"));
    send(ws, Message::text(format!("echo:{}", seen.subscribe)))?;
    for i in 0..5 {
        send(ws, Message::text(format!("{{\"seq\":{i}}}")))?;
    }
    send(ws, Message::text(large_text()))?;
    send(ws, Message::binary(vec![1u8, 2, 3]))?;
    send(ws, Message::Ping(b"are you there".to_vec().into()))?;
    match ws.read().map_err(|e| format!("read: {e}"))? {
        Message::Pong(p) if &p[..] == b"are you there" => seen.pong = true,
        other => return Err(format!("expected the pong, got {other:?}")),
    }
    ws.close(None).map_err(|e| format!("close: {e}"))?;
    // The client's reply to the close frame, then the end of the stream.
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => seen.close_reply = true,
            Ok(other) => return Err(format!("unexpected after close: {other:?}")),
            Err(tungstenite::Error::ConnectionClosed) => return Ok(seen),
            Err(e) => return Err(format!("closing: {e}")),
        }
    }
}

/// The client's side: open, subscribe, read everything, answer the ping, see the close.
fn run_client(endpoint: &Endpoint) {
    let mut client = Client::connect(endpoint);
    assert!(matches!(client.next().expect("open"), Step::Opened));
    client.conn().send_text("subscribe:BTCUSDT").expect("send");
    assert_eq!(
        text_of(client.next().expect("echo")),
        "echo:subscribe:BTCUSDT"
    );
    for i in 0..5 {
        assert_eq!(
            text_of(client.next().expect("frame")),
            format!("{{\"seq\":{i}}}")
        );
    }
    let large = text_of(client.next().expect("large frame"));
    assert_eq!(large.len(), LARGE);
    assert!(large == large_text(), "large frame corrupted");
    match client.next().expect("binary frame") {
        Step::Frame {
            binary: true,
            payload,
            ..
        } => assert_eq!(&payload[..], &[1, 2, 3]),
        other => panic!("expected a binary frame, got {other:?}"),
    }
    assert!(matches!(client.next().expect("ping"), Step::Control));
    match client.next() {
        Err(ConnectionError::Closed) => {}
        other => panic!("expected a clean close, got {other:?}"),
    }
    // Sends the close reply (and close_notify over TLS).
    client.close();
}

#[test]
fn wss_handshake_frames_ping_and_close() {
    let pki = pki(&["localhost", "127.0.0.1"]);
    let (port, server) = serve(Some(server_config(&pki)), conversation);
    let url = format!("wss://localhost:{port}/ws");
    let endpoint = Endpoint::parse_with_ca(&url, Some(pki.ca_file.path())).expect("endpoint");
    assert!(endpoint.is_tls());
    run_client(&endpoint);
    let seen = join(server).expect("server");
    assert_eq!(seen.subscribe, "subscribe:BTCUSDT");
    assert!(seen.pong && seen.close_reply, "{seen:?}");
}

#[test]
fn wss_to_an_ip_address_checks_the_ip_in_the_certificate() {
    let pki = pki(&["localhost", "127.0.0.1"]);
    let (port, server) = serve(Some(server_config(&pki)), conversation);
    let url = format!("wss://127.0.0.1:{port}/ws");
    let endpoint = Endpoint::parse_with_ca(&url, Some(pki.ca_file.path())).expect("endpoint");
    run_client(&endpoint);
    join(server).expect("server");
}

#[test]
fn plain_ws_runs_the_same_conversation() {
    let (port, server) = serve(None, conversation);
    let endpoint = Endpoint::parse(&format!("ws://127.0.0.1:{port}/ws")).expect("endpoint");
    assert!(!endpoint.is_tls());
    run_client(&endpoint);
    let seen = join(server).expect("server");
    assert!(seen.pong && seen.close_reply, "{seen:?}");
}

/// A message far larger than the socket and TLS buffers, sent while the server is not
/// reading: it goes out in pieces as writable events arrive.
fn large_message_from_the_client(tls: bool) {
    const SIZE: usize = 4 << 20;
    let pki = pki(&["localhost"]);
    let (port, server) = serve(tls.then(|| server_config(&pki)), |ws| {
        // Let the client's socket fill up first.
        std::thread::sleep(Duration::from_millis(200));
        let len = match ws.read().map_err(|e| format!("read: {e}"))? {
            Message::Text(t) if t.bytes().all(|b| b == b'x') => t.len(),
            other => return Err(format!("expected the large message, got {:?}", other.len())),
        };
        ws.send(Message::text(format!("got {len}")))
            .map_err(|e| format!("send: {e}"))?;
        ws.close(None).map_err(|e| format!("close: {e}"))?;
        while ws.read().is_ok() {}
        Ok(len)
    });
    let scheme = if tls { "wss" } else { "ws" };
    let url = format!("{scheme}://localhost:{port}/ws");
    let endpoint = Endpoint::parse_with_ca(&url, Some(pki.ca_file.path())).expect("endpoint");
    let mut client = Client::connect(&endpoint);
    assert!(matches!(client.next().expect("open"), Step::Opened));
    client.conn().send_text(&"x".repeat(SIZE)).expect("send");
    assert_eq!(
        text_of(client.next().expect("reply")),
        format!("got {SIZE}")
    );
    assert!(matches!(client.next(), Err(ConnectionError::Closed)));
    client.close();
    assert_eq!(join(server).expect("server"), SIZE);
}

#[test]
fn a_large_client_message_goes_out_as_the_tls_socket_drains() {
    large_message_from_the_client(true);
}

#[test]
fn a_large_client_message_goes_out_as_the_plain_socket_drains() {
    large_message_from_the_client(false);
}

fn assert_certificate_refused(err: &ConnectionError) {
    assert!(
        matches!(
            err,
            ConnectionError::Tls(rustls::Error::InvalidCertificate(_))
        ),
        "expected a certificate error, got {err:?}"
    );
}

#[test]
fn without_the_ca_file_the_server_is_refused() {
    let pki = pki(&["localhost", "127.0.0.1"]);
    let (port, server) = serve(Some(server_config(&pki)), conversation);
    let endpoint = Endpoint::parse(&format!("wss://localhost:{port}/ws")).expect("endpoint");
    let mut client = Client::connect(&endpoint);
    let err = client.until_error();
    assert_certificate_refused(&err);
    assert!(err.to_string().starts_with("tls: "), "{err}");
    client.close();
    assert!(join(server).is_err(), "the server saw the handshake fail");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    // Signed by the trusted CA, but for another host.
    let pki = pki(&["feed.example"]);
    let (port, server) = serve(Some(server_config(&pki)), conversation);
    let url = format!("wss://localhost:{port}/ws");
    let endpoint = Endpoint::parse_with_ca(&url, Some(pki.ca_file.path())).expect("endpoint");
    let mut client = Client::connect(&endpoint);
    let err = client.until_error();
    assert_certificate_refused(&err);
    client.close();
    assert!(join(server).is_err(), "the server saw the handshake fail");
}

#[test]
fn bad_ca_files_are_errors_from_parse_with_ca() {
    let url = "wss://localhost:9443/ws";
    let missing = Path::new("/nonexistent/dir/tickforge-ca.pem");
    let err = Endpoint::parse_with_ca(url, Some(missing)).unwrap_err();
    assert!(matches!(err, ConnectionError::CaFileRead { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("/nonexistent/dir/tickforge-ca.pem"),
        "{err}"
    );

    let mut empty = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(empty, "no certificate here").expect("write");
    let err = Endpoint::parse_with_ca(url, Some(empty.path())).unwrap_err();
    assert!(
        matches!(err, ConnectionError::CaFileEmpty { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&empty.path().display().to_string()),
        "{err}"
    );

    let pki = pki(&["localhost"]);
    assert!(Endpoint::parse_with_ca(url, Some(pki.ca_file.path())).is_ok());
}

#[test]
fn reader_stage_reads_a_wss_feed() {
    let pki = pki(&["localhost", "127.0.0.1"]);
    let (port, server) = serve(Some(server_config(&pki)), |ws| {
        let sub = match ws.read().map_err(|e| format!("read: {e}"))? {
            Message::Text(t) => t.to_string(),
            other => return Err(format!("expected the subscription, got {other:?}")),
        };
        for i in 0..20 {
            ws.send(Message::text(format!("{{\"seq\":{i}}}")))
                .map_err(|e| format!("send: {e}"))?;
        }
        ws.send(Message::text(large_text()))
            .map_err(|e| format!("send: {e}"))?;
        ws.close(None).map_err(|e| format!("close: {e}"))?;
        // Until the reader's close reply (or its end of stream).
        while ws.read().is_ok() {}
        Ok(sub)
    });
    let spec = FeedSpec {
        id: 3,
        url: format!("wss://localhost:{port}/stream"),
        subscribe: vec!["{\"op\":\"subscribe\"}".into()],
        keepalive: None,
        // No clock ticks during the test (and no zero-length poll timeouts).
        clock_interval: Duration::from_secs(3600),
        max_frame: MAX_FRAME,
        reconnect: false,
        ca_file: Some(pki.ca_file.path().to_path_buf()),
        backoff: Default::default(),
        idle_timeout: None,
        max_lifetime: None,
    };
    let (tx, mut rx) = frame_edge(64, 4 * MAX_FRAME, ThreadWake::new());
    let mut reader =
        ReaderStage::new(vec![spec], tx, Arc::new(AtomicBool::new(false))).expect("reader");

    let deadline = Instant::now() + TIMEOUT;
    let mut texts = Vec::new();
    let mut states = Vec::new();
    let mut scratch = Vec::new();
    let mut ended = false;
    while !ended {
        assert!(Instant::now() < deadline, "reader timed out");
        if reader.poll() == 0 {
            reader.block(Duration::from_millis(50));
        }
        while let Some((kind, state, text)) = rx.pop_with(&mut scratch, |head, bytes| {
            (
                head.kind,
                head.state,
                String::from_utf8_lossy(bytes).into_owned(),
            )
        }) {
            match kind {
                FrameKind::Text => texts.push(text),
                FrameKind::Status => states.push((state, text)),
                FrameKind::End => ended = true,
                other => panic!("unexpected frame kind {other:?}"),
            }
        }
    }
    assert_eq!(join(server).expect("server"), "{\"op\":\"subscribe\"}");
    assert_eq!(texts.len(), 21, "{states:?}");
    for (i, t) in texts[..20].iter().enumerate() {
        assert_eq!(t, &format!("{{\"seq\":{i}}}"));
    }
    assert!(texts[20] == large_text(), "large frame corrupted");
    let codes: Vec<u16> = states.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        codes,
        [
            FeedState::Connecting as u16,
            FeedState::Live as u16,
            FeedState::Ended as u16
        ],
        "{states:?}"
    );
    let counters = reader.counters();
    assert_eq!((counters.connects, counters.frames), (1, 21));
}
