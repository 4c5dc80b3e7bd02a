//! The simulator's injected faults, observed over real loopback sockets by a plain
//! tungstenite client: disconnects (Close frame, FIN, RST), stalls, slow handshakes,
//! bursts, trade-id gaps, shutdown notices, and servers that send the same trades.
//!
//! Every wait has a deadline; time bounds are one-sided and generous.

use std::collections::BTreeMap;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tickforge::config::Config;
use tickforge::sim::{CloseStyle, FaultConfig, SimConfig, SimServer};
use tickforge_engine::shm::StatsReader;
use tickforge_engine::symbol::venue;
use tungstenite::error::ProtocolError;
use tungstenite::Message;

mod common;
use common::{connect, wait_for, Client};

const BTC_ETH: &str = "/stream?streams=btcusdt@trade/ethusdt@trade";

fn base() -> SimConfig {
    SimConfig {
        seed: 7,
        ..SimConfig::default()
    }
}

fn with_faults(rate: u64, faults: FaultConfig) -> SimConfig {
    SimConfig {
        rate,
        faults,
        ..base()
    }
}

fn start(cfg: SimConfig) -> SimServer {
    SimServer::start(cfg).expect("simulator starts")
}

/// What one read brought.
#[derive(Debug)]
enum Got {
    Text(String),
    Ping,
    /// A Close frame: its code and reason, if it had any.
    Close(Option<(u16, String)>),
    /// The connection ended without a Close frame.
    Gone(tungstenite::Error),
}

/// One read: `None` when nothing arrived within the socket's read timeout.
fn try_recv(ws: &mut Client) -> Option<Got> {
    loop {
        return match ws.read() {
            Ok(Message::Text(t)) => Some(Got::Text(t.as_str().to_owned())),
            Ok(Message::Ping(_)) => Some(Got::Ping),
            Ok(Message::Close(f)) => Some(Got::Close(
                f.map(|f| (u16::from(f.code), f.reason.to_string())),
            )),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => Some(Got::Gone(e)),
        };
    }
}

/// The next thing to arrive before `deadline`; panics without one.
fn recv(ws: &mut Client, deadline: Instant) -> Got {
    loop {
        assert!(Instant::now() < deadline, "nothing arrived in time");
        if let Some(g) = try_recv(ws) {
            return g;
        }
    }
}

/// Up to `max` things that have already arrived (a read waits at most the socket's read
/// timeout), so that one busy client cannot starve the others.
fn recv_some(ws: &mut Client, max: usize) -> Vec<Got> {
    let mut out = Vec::new();
    while out.len() < max {
        match try_recv(ws) {
            Some(g) => out.push(g),
            None => break,
        }
    }
    out
}

/// Reads data frames until the connection ends: the number of text frames, then how it
/// ended.
fn read_to_end(ws: &mut Client, within: Duration) -> (u64, Got) {
    let deadline = Instant::now() + within;
    let mut data = 0;
    loop {
        match recv(ws, deadline) {
            Got::Text(_) => data += 1,
            Got::Ping => {}
            end => return (data, end),
        }
    }
}

/// The path of the server's endpoint (`/stream`, `/ws/v5/public`, …).
fn path_of(server: &SimServer) -> String {
    let url = server.url();
    let host = format!("ws://{}", server.local_addr());
    url[host.len()..].to_owned()
}

/// A Binance trade as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Trade {
    symbol: String,
    id: u64,
    price: String,
    qty: String,
    time: u64,
}

fn trade(text: &str) -> Option<Trade> {
    let v: Value = serde_json::from_str(text).ok()?;
    let d = v.get("data").unwrap_or(&v);
    if d.get("e")? != "trade" {
        return None;
    }
    Some(Trade {
        symbol: d["s"].as_str()?.to_owned(),
        id: d["t"].as_u64()?,
        price: d["p"].as_str()?.to_owned(),
        qty: d["q"].as_str()?.to_owned(),
        time: d["T"].as_u64()?,
    })
}

/// The next `n` trades on `ws`.
fn trades(ws: &mut Client, n: usize, within: Duration) -> Vec<Trade> {
    let deadline = Instant::now() + within;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        if let Got::Text(t) = recv(ws, deadline) {
            out.extend(trade(&t));
        }
    }
    out
}

fn now_ms() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(d.as_millis()).unwrap()
}

#[test]
fn disconnect_after_n_sends_n_frames_then_a_close_frame() {
    let server = start(with_faults(
        1_000,
        FaultConfig {
            disconnect_after: Some(25),
            ..FaultConfig::default()
        },
    ));
    let mut ws = connect(
        server.local_addr(),
        "/stream?streams=btcusdt@trade/ethusdt@bookTicker",
    );
    let (data, end) = read_to_end(&mut ws, Duration::from_secs(10));
    assert_eq!(data, 25);
    match end {
        Got::Close(Some((code, reason))) => {
            assert_eq!(code, 1001);
            assert_eq!(reason, "simulated disconnect");
        }
        other => panic!("expected a Close frame, got {other:?}"),
    }
    // Send tungstenite's Close reply: the server then ends the connection.
    let _ = ws.flush();
    let s = wait_for(&server, Duration::from_secs(5), |s| {
        s.active_connections == 0
    });
    assert_eq!(
        (s.disconnects, s.messages, s.active_connections),
        (1, 25, 0)
    );
}

#[test]
fn abrupt_close_ends_the_stream_without_a_close_frame() {
    let server = start(with_faults(
        1_000,
        FaultConfig {
            disconnect_after: Some(25),
            close_style: CloseStyle::Abrupt,
            ..FaultConfig::default()
        },
    ));
    let mut ws = connect(server.local_addr(), BTC_ETH);
    let (data, end) = read_to_end(&mut ws, Duration::from_secs(10));
    assert_eq!(data, 25);
    assert!(
        matches!(
            end,
            Got::Gone(tungstenite::Error::Protocol(
                ProtocolError::ResetWithoutClosingHandshake
            ))
        ),
        "expected end of stream without a Close frame, got {end:?}"
    );
    drop(ws);
    let s = wait_for(&server, Duration::from_secs(5), |s| {
        s.active_connections == 0
    });
    assert_eq!((s.disconnects, s.active_connections), (1, 0));
}

#[test]
fn reset_close_resets_the_connection() {
    let server = start(with_faults(
        1_000,
        FaultConfig {
            disconnect_after: Some(25),
            close_style: CloseStyle::Reset,
            ..FaultConfig::default()
        },
    ));
    let mut ws = connect(server.local_addr(), BTC_ETH);
    let (data, end) = read_to_end(&mut ws, Duration::from_secs(10));
    // A reset may discard data still in flight.
    assert!(data <= 25, "{data}");
    match end {
        Got::Gone(tungstenite::Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset)
        }
        other => panic!("expected a reset, got {other:?}"),
    }
    assert_eq!(server.stats().disconnects, 1);
}

#[test]
fn disconnect_every_closes_each_connection_after_its_time() {
    let every = Duration::from_millis(400);
    let server = start(with_faults(
        500,
        FaultConfig {
            disconnect_every: Some(every),
            ..FaultConfig::default()
        },
    ));
    for _ in 0..2 {
        let t0 = Instant::now();
        let mut ws = connect(server.local_addr(), BTC_ETH);
        let (data, end) = read_to_end(&mut ws, Duration::from_secs(10));
        assert!(t0.elapsed() >= every, "closed after {:?}", t0.elapsed());
        assert!(data > 0);
        assert!(matches!(end, Got::Close(Some((1001, _)))), "{end:?}");
        let _ = ws.flush();
    }
    let s = wait_for(&server, Duration::from_secs(5), |s| {
        s.active_connections == 0
    });
    assert_eq!((s.connections, s.disconnects), (2, 2));
}

#[test]
fn stall_sends_nothing_for_its_time_on_an_open_socket() {
    let stall = Duration::from_millis(700);
    let server = start(SimConfig {
        ping_interval: Duration::from_millis(100),
        ..with_faults(
            500,
            FaultConfig {
                stall_after: Some(20),
                stall_for: stall,
                ..FaultConfig::default()
            },
        )
    });
    let mut ws = connect(server.local_addr(), BTC_ETH);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut data = 0;
    while data < 20 {
        if let Got::Text(_) = recv(&mut ws, deadline) {
            data += 1;
        }
    }
    let t20 = Instant::now();
    // A request during the stall is not answered until it ends.
    thread::sleep(Duration::from_millis(150));
    ws.send(Message::text(r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#))
        .unwrap();
    let first_after = recv(&mut ws, deadline);
    let gap = t20.elapsed();
    // Nothing at all (data, ping, reply) during the stall; the socket stayed open.
    assert!(
        gap >= stall - Duration::from_millis(100),
        "{first_after:?} after {gap:?}"
    );
    // Then everything resumes: the reply, pings and data.
    let (mut replied, mut pinged, mut more) = (false, false, 0);
    let mut got = first_after;
    loop {
        match got {
            Got::Text(t) if t.contains(r#""id":1"#) => replied = true,
            Got::Text(_) => more += 1,
            Got::Ping => pinged = true,
            other => panic!("{other:?}"),
        }
        if replied && pinged && more > 20 {
            break;
        }
        got = recv(&mut ws, deadline);
    }
    assert_eq!(server.stats().stalls, 1);
}

#[test]
fn handshake_delay_slows_the_handshake() {
    let delay = Duration::from_millis(400);
    let server = start(with_faults(
        500,
        FaultConfig {
            handshake_delay: delay,
            ..FaultConfig::default()
        },
    ));
    let t0 = Instant::now();
    let mut ws = connect(server.local_addr(), BTC_ETH);
    assert!(t0.elapsed() >= delay, "handshake took {:?}", t0.elapsed());
    assert_eq!(trades(&mut ws, 5, Duration::from_secs(5)).len(), 5);
    assert_eq!(server.stats().delayed_handshakes, 1);
}

#[test]
fn bursts_send_more_in_their_windows() {
    // 100/s, ten times that for 300 ms every second: windows at 1.0-1.3 s and 2.0-2.3 s.
    let server = start(with_faults(
        100,
        FaultConfig {
            burst_factor: 10.0,
            burst_every: Some(Duration::from_secs(1)),
            burst_len: Duration::from_millis(300),
            ..FaultConfig::default()
        },
    ));
    let mut ws = connect(server.local_addr(), BTC_ETH);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_millis(2_600);
    // Frames by 100 ms bucket of arrival.
    let mut buckets = [0u32; 26];
    while Instant::now() < deadline {
        if let Some(Got::Text(_)) = try_recv(&mut ws) {
            let i = (t0.elapsed().as_millis() / 100) as usize;
            buckets[i.min(25)] += 1;
        }
    }
    drop(ws);
    // Well inside the windows, and well outside them (per 100 ms).
    let inside: u32 = [10, 11, 12, 20, 21, 22].iter().map(|&i| buckets[i]).sum();
    let outside: u32 = [3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18]
        .iter()
        .map(|&i| buckets[i])
        .sum();
    let (inside, outside) = (f64::from(inside) / 6.0, f64::from(outside) / 11.0);
    assert!(
        inside >= 3.0 * outside.max(1.0),
        "{inside} vs {outside} per 100 ms: {buckets:?}"
    );
    assert!(server.stats().bursts >= 2, "{:?}", server.stats());
}

/// Trade ids per symbol: the number of jumps and of ids skipped.
fn gaps_in(trades: &[Trade]) -> (u64, u64) {
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut gaps, mut skipped) = (0, 0);
    for t in trades {
        match last.insert(&t.symbol, t.id) {
            None => assert_eq!(t.id, 1, "ids start at 1"),
            Some(prev) => {
                assert!(t.id > prev, "{t:?} after {prev}");
                if t.id > prev + 1 {
                    gaps += 1;
                    skipped += t.id - prev - 1;
                }
            }
        }
    }
    (gaps, skipped)
}

#[test]
fn id_gaps_skip_ids_and_are_counted() {
    let server = start(SimConfig {
        max_messages: Some(1_000),
        ..with_faults(
            5_000,
            FaultConfig {
                id_gap_rate: 0.1,
                ..FaultConfig::default()
            },
        )
    });
    let mut ws = connect(server.local_addr(), BTC_ETH);
    let got = trades(&mut ws, 1_000, Duration::from_secs(10));
    let (gaps, skipped) = gaps_in(&got);
    assert!(gaps > 20, "{gaps}");
    let s = wait_for(&server, Duration::from_secs(5), |s| s.messages == 1_000);
    assert_eq!((s.id_gaps, s.ids_skipped), (gaps, skipped));
}

#[test]
fn the_engine_detects_the_injected_gaps() {
    let server = start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        max_messages: Some(2_000),
        quote_ratio: 0.0,
        ..with_faults(
            4_000,
            FaultConfig {
                id_gap_rate: 0.05,
                ..FaultConfig::default()
            },
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.engine.name = "gaps".into();
    cfg.engine.shm_dir = dir.path().to_path_buf();
    cfg.feeds[0].url = server.url();
    cfg.feeds[0].symbols = server.symbols();
    cfg.feeds[0].reconnect = false;
    let engine = common::start_tapped(&cfg, |_| {});
    let stats = StatsReader::open(dir.path(), "gaps").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let sim = wait_for(&server, Duration::from_secs(20), |s| s.messages == 2_000);
    assert_eq!(sim.trades, 2_000);
    while stats.counter("aggregator.trades").unwrap_or(0) < sim.trades {
        assert!(
            Instant::now() < deadline,
            "the engine counted {:?} of {} trades",
            stats.counter("aggregator.trades"),
            sim.trades
        );
        thread::sleep(Duration::from_millis(20));
    }
    let gaps = stats.counter("aggregator.gaps").unwrap();
    engine.request_stop();
    engine.join().unwrap();
    assert!(sim.id_gaps > 10, "{sim:?}");
    assert_eq!(gaps, sim.id_gaps);
}

#[test]
fn binance_shutdown_notice_then_data_for_the_grace_then_close() {
    let grace = Duration::from_millis(500);
    let server = start(with_faults(
        500,
        FaultConfig {
            shutdown_after: Some(30),
            shutdown_grace: grace,
            ..FaultConfig::default()
        },
    ));
    let mut ws = connect(server.local_addr(), BTC_ETH);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut data = 0;
    let notice = loop {
        if let Got::Text(t) = recv(&mut ws, deadline) {
            if trade(&t).is_some() {
                data += 1;
            } else {
                break t;
            }
        }
    };
    let noticed = Instant::now();
    assert_eq!(data, 30);
    let v: Value = serde_json::from_str(&notice).unwrap();
    assert_eq!(v["e"], "serverShutdown", "{notice}");
    let e = v["E"].as_u64().unwrap();
    assert!(e.abs_diff(now_ms()) < 60_000, "{notice}");
    let (after, end) = read_to_end(&mut ws, Duration::from_secs(10));
    assert!(after > 0, "data keeps flowing during the grace period");
    assert!(noticed.elapsed() >= grace - Duration::from_millis(100));
    assert!(
        matches!(&end, Got::Close(Some((1001, r))) if r == "server shutdown"),
        "{end:?}"
    );
    let s = server.stats();
    assert_eq!((s.shutdown_notices, s.disconnects), (1, 0));
}

#[test]
fn okx_shutdown_notice_and_venues_without_one() {
    let faults = FaultConfig {
        shutdown_after_time: Some(Duration::from_millis(200)),
        shutdown_grace: Duration::from_millis(200),
        ..FaultConfig::default()
    };
    let server = start(SimConfig {
        faults: faults.clone(),
        ..SimConfig::for_venue(venue::OKX)
    });
    let mut ws = connect(server.local_addr(), &path_of(&server));
    ws.send(Message::text(
        r#"{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}"#,
    ))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let notice = loop {
        match recv(&mut ws, deadline) {
            Got::Text(t) if t.contains(r#""event":"notice""#) => break t,
            Got::Text(_) | Got::Ping => {}
            other => panic!("{other:?}"),
        }
    };
    let v: Value = serde_json::from_str(&notice).unwrap();
    assert_eq!(v["code"], "64008");
    assert_eq!(
        v["msg"],
        "The connection will soon be closed for a service upgrade. Please reconnect."
    );
    assert!(v["connId"].is_string());
    let (_, end) = read_to_end(&mut ws, Duration::from_secs(10));
    assert!(matches!(end, Got::Close(Some((1001, _)))), "{end:?}");
    assert_eq!(server.stats().shutdown_notices, 1);

    // Kraken has no such notice: the setting is ignored and the connection stays.
    let server = start(SimConfig {
        faults,
        ..SimConfig::for_venue(venue::KRAKEN)
    });
    let mut ws = connect(server.local_addr(), &path_of(&server));
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        if let Some(g @ (Got::Close(_) | Got::Gone(_))) = try_recv(&mut ws) {
            panic!("{g:?}");
        }
    }
    let s = server.stats();
    assert_eq!((s.shutdown_notices, s.active_connections), (0, 1));
}

#[test]
fn servers_with_one_seed_send_the_same_trades() {
    let cfg = SimConfig {
        max_messages: Some(300),
        ..with_faults(
            2_000,
            FaultConfig {
                id_gap_rate: 0.05,
                ..FaultConfig::default()
            },
        )
    };
    let a = start(cfg.clone());
    let b = start(cfg);
    let mut wa = connect(a.local_addr(), BTC_ETH);
    let mut wb = connect(b.local_addr(), BTC_ETH);
    let ta = trades(&mut wa, 300, Duration::from_secs(10));
    let tb = trades(&mut wb, 300, Duration::from_secs(10));
    let strip = |v: &[Trade]| -> Vec<(String, u64, String, String)> {
        v.iter()
            .map(|t| (t.symbol.clone(), t.id, t.price.clone(), t.qty.clone()))
            .collect()
    };
    assert_eq!(strip(&ta), strip(&tb));
    // Without --continue-ids, a new connection starts over at id 1.
    drop(wa);
    let mut again = connect(a.local_addr(), BTC_ETH);
    let first = trades(&mut again, 300, Duration::from_secs(10));
    assert_eq!(strip(&first), strip(&ta));
}

fn shared(epoch_ms: Option<u64>) -> SimConfig {
    SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        quote_ratio: 0.0,
        rate: 1_000,
        continue_ids: true,
        epoch_ms,
        ..base()
    }
}

/// Ids of `trades` for `symbol` are consecutive.
fn assert_consecutive(trades: &[Trade], symbol: &str) {
    let ids: Vec<u64> = trades
        .iter()
        .filter(|t| t.symbol == symbol)
        .map(|t| t.id)
        .collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "{symbol}: {ids:?}"
    );
}

#[test]
fn continue_ids_carry_on_across_reconnects() {
    let server = start(shared(None));
    let mut ws = connect(server.local_addr(), "/stream?streams=btcusdt@trade");
    let first = trades(&mut ws, 50, Duration::from_secs(10));
    assert_consecutive(&first, "BTCUSDT");
    let last = first.last().unwrap().id;
    ws.close(None).unwrap();
    let _ = ws.flush();
    drop(ws);
    thread::sleep(Duration::from_millis(300));
    let mut ws = connect(server.local_addr(), "/stream?streams=btcusdt@trade");
    let next = trades(&mut ws, 50, Duration::from_secs(10));
    assert_consecutive(&next, "BTCUSDT");
    // The market moved on while no one was connected: no restart at 1.
    assert!(next[0].id > last + 10, "{} after {last}", next[0].id);
}

#[test]
fn servers_sharing_an_epoch_send_the_same_trades_at_the_same_times() {
    let epoch = now_ms();
    let a = start(shared(Some(epoch)));
    thread::sleep(Duration::from_millis(150));
    let b = start(shared(Some(epoch)));
    let mut wa = connect(a.local_addr(), BTC_ETH);
    let mut wb = connect(b.local_addr(), BTC_ETH);
    for ws in [&mut wa, &mut wb] {
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
    }
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        for (ws, out) in [(&mut wa, &mut ta), (&mut wb, &mut tb)] {
            for g in recv_some(ws, 50) {
                if let Got::Text(t) = g {
                    out.extend(trade(&t));
                }
            }
        }
    }
    let by_key = |v: &[Trade]| -> BTreeMap<(String, u64), Trade> {
        v.iter()
            .map(|t| ((t.symbol.clone(), t.id), t.clone()))
            .collect()
    };
    let (ma, mb) = (by_key(&ta), by_key(&tb));
    let common: Vec<_> = ma.keys().filter(|k| mb.contains_key(*k)).collect();
    assert!(common.len() >= 200, "{} trades in common", common.len());
    for k in common {
        assert_eq!(ma[k], mb[k], "prices, sizes and times agree");
    }
    for v in [&ta, &tb] {
        assert_consecutive(v, "BTCUSDT");
        assert_consecutive(v, "ETHUSDT");
    }
}

#[test]
fn failover_to_a_backup_loses_and_repeats_nothing() {
    let epoch = now_ms();
    let mut primary = Some(start(shared(Some(epoch))));
    let backup = start(shared(Some(epoch)));
    let addr = primary.as_ref().unwrap().local_addr();
    let mut clients = [
        Some(connect(addr, BTC_ETH)),
        Some(connect(backup.local_addr(), BTC_ETH)),
    ];
    for ws in clients.iter_mut().flatten() {
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
    }
    // Downstream: the first copy of each id is kept, later ones are duplicates.
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let mut kept: Vec<Trade> = Vec::new();
    let mut primary_last = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(Instant::now() < deadline, "only {} trades kept", kept.len());
        for (i, slot) in clients.iter_mut().enumerate() {
            let Some(ws) = slot else { continue };
            for g in recv_some(ws, 50) {
                match g {
                    Got::Text(t) => {
                        let Some(t) = trade(&t) else { continue };
                        if i == 0 {
                            primary_last = primary_last.max(t.id);
                        }
                        if last.get(&t.symbol).is_none_or(|&l| t.id > l) {
                            last.insert(t.symbol.clone(), t.id);
                            kept.push(t);
                        }
                    }
                    Got::Ping => {}
                    Got::Close(_) | Got::Gone(_) => {
                        *slot = None;
                        break;
                    }
                }
            }
        }
        if kept.len() >= 200 {
            if let Some(p) = primary.take() {
                // Kill the primary mid-stream.
                p.stop();
            }
        }
        if primary.is_none() && kept.last().is_some_and(|t| t.id > primary_last + 100) {
            break;
        }
    }
    assert!(clients[0].is_none(), "the primary's connection ended");
    assert_consecutive(&kept, "BTCUSDT");
    assert_consecutive(&kept, "ETHUSDT");
}

#[test]
fn sim_help_lists_the_fault_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickforge"))
        .args(["sim", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--disconnect-after",
        "--disconnect-every",
        "--abrupt-close",
        "--reset-close",
        "--stall-after",
        "--stall-every",
        "--stall-secs",
        "--handshake-delay-ms",
        "--malformed-rate",
        "--burst-factor",
        "--burst-every",
        "--burst-ms",
        "--id-gap-rate",
        "--shutdown-after",
        "--shutdown-after-secs",
        "--shutdown-grace-ms",
        "--continue-ids",
        "--epoch-ms",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
