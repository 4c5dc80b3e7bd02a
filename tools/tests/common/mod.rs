//! Helpers shared by the integration tests: a loopback WebSocket client for the
//! simulator, and an engine whose published events go to a test's callback.
#![allow(dead_code)] // each test file uses only some of these

use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tickforge::config::Config;
use tickforge::engine::{Engine, StartOptions};
use tickforge::sim::{SimServer, SimStats};
use tickforge_engine::record::Record;
use tungstenite::WebSocket;

/// A blocking WebSocket client with short reads.
pub type Client = WebSocket<TcpStream>;

/// Connects to the simulator at `addr` on `path`; after the handshake every read waits at
/// most 10 ms, so each wait in a test is bounded by its own deadline.
pub fn connect(addr: SocketAddr, path: &str) -> Client {
    let stream = TcpStream::connect(addr).expect("tcp connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let (ws, _) = tungstenite::client(format!("ws://{addr}{path}"), stream).expect("handshake");
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    ws
}

/// Starts the engine of `cfg`, handing every published event to `tap`. Tests run in
/// parallel, so the journal is off unless the test chose a directory of its own.
pub fn start_tapped(cfg: &Config, tap: impl FnMut(&Record) + Send + 'static) -> Engine {
    let mut cfg = cfg.clone();
    if cfg.journal.dir == Config::default().journal.dir {
        cfg.journal.enabled = false;
    }
    let opts = StartOptions {
        tap: Some(Box::new(tap)),
        ..Default::default()
    };
    Engine::start(&cfg, opts).expect("engine starts")
}

/// The simulator's stats once `pred` holds of them, or when `within` has passed.
pub fn wait_for(
    server: &SimServer,
    within: Duration,
    pred: impl Fn(&SimStats) -> bool,
) -> SimStats {
    let deadline = Instant::now() + within;
    loop {
        let s = server.stats();
        if pred(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `done`, failing the test after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Tests that check reaction times (an idle timeout plus a margin) hold this, so that
/// they run one at a time rather than competing for the machine's cores with each other.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until `path` exists, failing the test after `within`.
pub fn wait_for_file(path: &std::path::Path, within: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < within,
            "{} did not appear",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `tickforge run CFG` for `secs` seconds, journaling into `dir/journal`; its output
/// piped (to read it afterwards) or discarded.
pub fn spawn_run(
    cfg: &std::path::Path,
    dir: &std::path::Path,
    secs: &str,
    piped: bool,
) -> std::process::Child {
    let out = || {
        if piped {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        }
    };
    std::process::Command::new(env!("CARGO_BIN_EXE_tickforge"))
        .arg("run")
        .arg(cfg)
        .arg("--journal")
        .arg(dir.join("journal"))
        .args(["--duration", secs])
        .stdout(out())
        .stderr(out())
        .spawn()
        .expect("tickforge runs")
}
