//! The simulator serving a tick file, over real loopback sockets with a tungstenite client.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tickforge::sim::{tick_file_symbols, SimConfig, SimServer};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

mod common;
use common::{connect, wait_for, Client};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ticks_small.csv")
}

fn serve(path: &Path) -> SimServer {
    SimServer::start(SimConfig {
        tick_file: Some(path.to_owned()),
        ..SimConfig::default()
    })
    .expect("start the simulator")
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(e)
        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

/// Everything the server sends until it closes the connection: the text frames and the
/// Close frame. The close reply goes back on the reads that follow the Close.
fn read_to_end(ws: &mut Client, within: Duration) -> (Vec<String>, Option<CloseFrame>) {
    read_to_end_slowly(ws, within, |_| {})
}

/// Like [`read_to_end`], calling `pause(n)` after the n-th text frame.
fn read_to_end_slowly(
    ws: &mut Client,
    within: Duration,
    mut pause: impl FnMut(usize),
) -> (Vec<String>, Option<CloseFrame>) {
    let deadline = Instant::now() + within;
    let mut texts = Vec::new();
    let mut close = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "connection not closed within {within:?} ({} frames)",
            texts.len()
        );
        match ws.read() {
            Ok(Message::Text(t)) => {
                assert!(close.is_none(), "data after the Close frame");
                texts.push(t.as_str().to_owned());
                pause(texts.len());
            }
            Ok(Message::Close(f)) => close = Some(f.expect("a close frame with a code")),
            Ok(Message::Binary(b)) => panic!("unexpected binary frame {b:?}"),
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return (texts, close)
            }
            Err(e) if would_block(&e) => {}
            Err(e) => panic!("client read failed after {} frames: {e}", texts.len()),
        }
    }
}

/// A tick as the test reads the file on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tick {
    ts_ns: i64,
    symbol: String,
    price: String,
    size: String,
    sell: bool,
    id: u64,
}

/// The ticks of a well-formed file, ids assigned as documented: a missing id is the
/// previous id of the symbol plus one, starting at 1.
fn read_ticks(path: &Path) -> Vec<Tick> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut ticks = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') || line.starts_with("ts_ns") {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let prev = last.entry(f[1].to_owned()).or_insert(0);
        let id = match f.get(5) {
            Some(id) => id.parse().unwrap(),
            None => *prev + 1,
        };
        *prev = id;
        ticks.push(Tick {
            ts_ns: f[0].parse().unwrap(),
            symbol: f[1].to_owned(),
            price: f[2].to_owned(),
            size: f[3].to_owned(),
            sell: match f[4] {
                "buy" => false,
                "sell" => true,
                s => panic!("side {s}"),
            },
            id,
        });
    }
    ticks
}

/// Checks one trade frame strictly and returns it as a tick (with `ts_ns` = `T`).
fn parse_trade(text: &str, combined: bool) -> Tick {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let d = if combined {
        let d = &v["data"];
        let s = d["s"].as_str().unwrap();
        assert_eq!(v["stream"], format!("{}@trade", s.to_ascii_lowercase()));
        assert_eq!(v.as_object().unwrap().len(), 2, "{text}");
        d
    } else {
        assert!(v.get("stream").is_none(), "{text}");
        &v
    };
    assert_eq!(d["e"], "trade", "{text}");
    assert_eq!(d["M"], true, "{text}");
    assert_eq!(d["E"], d["T"], "{text}");
    assert_eq!(d.as_object().unwrap().len(), 9, "{text}");
    Tick {
        ts_ns: d["T"].as_i64().unwrap(),
        symbol: d["s"].as_str().unwrap().to_owned(),
        price: d["p"].as_str().unwrap().to_owned(),
        size: d["q"].as_str().unwrap().to_owned(),
        sell: d["m"].as_bool().unwrap(),
        id: d["t"].as_u64().unwrap(),
    }
}

/// `t` with its time as the server must send it: floor(ts_ns / unit).
fn in_unit(t: &Tick, unit: i64) -> Tick {
    Tick {
        ts_ns: t.ts_ns / unit,
        ..t.clone()
    }
}

fn assert_end_of_file(close: Option<CloseFrame>) {
    let close = close.expect("a Close frame at the end of the file");
    assert_eq!(close.code, CloseCode::Normal);
    assert_eq!(close.reason.as_str(), "end of tick file");
}

#[test]
fn the_fixture_is_what_the_tests_claim() {
    let ticks = read_ticks(&fixture());
    assert!(ticks.len() >= 200, "{}", ticks.len());
    let on_second = ticks
        .iter()
        .filter(|t| t.ts_ns % 1_000_000_000 == 0)
        .count();
    let ns_before = ticks
        .iter()
        .filter(|t| t.ts_ns % 1_000_000_000 == 999_999_999)
        .count();
    let ties = ticks
        .windows(2)
        .filter(|w| w[0].ts_ns == w[1].ts_ns)
        .count();
    assert!(on_second >= 3 && ns_before >= 3 && ties >= 10);
    assert!(ticks.iter().any(|t| t.price == "12345.678900001"));
    assert!(ticks.iter().any(|t| t.size == "0.00000001"));
    assert!(ticks.iter().any(|t| t.price == "0.000000001"));
}

#[test]
fn symbols_come_from_the_file_in_first_appearance_order() {
    let want = ["SOLUSDT", "BTCUSDT", "ETHUSDT"];
    assert_eq!(tick_file_symbols(&fixture()).unwrap(), want);
    let server = serve(&fixture());
    assert_eq!(server.symbols(), want);
    server.stop();
    // Without a tick file, the configured symbols.
    let server = SimServer::start(SimConfig {
        symbols: vec!["AAAUSDT".into(), "BBBUSDT".into()],
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(server.symbols(), ["AAAUSDT", "BBBUSDT"]);
    server.stop();
}

#[test]
fn serves_exactly_the_subscribed_ticks_in_file_order_then_closes() {
    let server = serve(&fixture());
    let mut ws = connect(server.local_addr(), "/stream");
    // Nothing comes before a subscription.
    let quiet = Instant::now() + Duration::from_millis(150);
    while Instant::now() < quiet {
        match ws.read() {
            Err(e) if would_block(&e) => {}
            other => panic!("before any subscription: {other:?}"),
        }
    }
    // `bookTicker` is accepted but gets nothing from a tick file.
    ws.send(Message::text(
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","solusdt@trade","ethusdt@bookTicker"],"id":1}"#,
    ))
    .unwrap();
    let (texts, close) = read_to_end(&mut ws, Duration::from_secs(2));
    assert_end_of_file(close);
    assert_eq!(texts[0], r#"{"result":null,"id":1}"#, "the ack comes first");

    let want: Vec<Tick> = read_ticks(&fixture())
        .iter()
        .filter(|t| t.symbol != "ETHUSDT")
        .map(|t| in_unit(t, 1_000_000))
        .collect();
    let got: Vec<Tick> = texts[1..].iter().map(|t| parse_trade(t, true)).collect();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "trade #{i}: {}", texts[i + 1]);
    }

    // A few values written out by hand, independent of the parsing above.
    assert!(texts[1]
        .contains(r#""s":"SOLUSDT","t":1,"p":"150.123","q":"3","T":1699999999999,"m":true"#));
    assert!(texts[2].contains(
        r#""s":"BTCUSDT","t":4000000001,"p":"65000.1","q":"0.1","T":1699999999999,"m":false"#
    ));
    assert!(texts[3].contains(r#""p":"150.000000010","q":"12345.678900001","T":1699999999999"#));
    // Exactly on the second, after the tick 1 ns before it.
    assert!(
        texts[4].contains(r#""t":4000000002,"p":"65000.01","q":"0.1","T":1700000000000,"m":false"#)
    );
    // A SOLUSDT tick with an explicit id, then one without: the id after it.
    let sol: Vec<u64> = got
        .iter()
        .filter(|t| t.symbol == "SOLUSDT")
        .map(|t| t.id)
        .collect();
    assert_eq!(sol[..4], [1, 2, 3, 103]);
    assert!(sol.windows(2).all(|w| w[0] < w[1]));

    let stats = wait_for(&server, Duration::from_secs(1), |s| {
        s.active_connections == 0
    });
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.active_connections, 0);
    assert_eq!(stats.trades, want.len() as u64);
    assert_eq!(stats.messages, want.len() as u64);
    assert_eq!(stats.quotes + stats.malformed, 0);
    server.stop();
}

#[test]
fn every_connection_gets_the_whole_file_and_microseconds_on_request() {
    let server = serve(&fixture());
    let all = read_ticks(&fixture());
    // Streams named in the URL need no SUBSCRIBE; two clients at once.
    let mut raw = connect(
        server.local_addr(),
        "/ws/solusdt@trade/btcusdt@trade/ethusdt@trade?timeUnit=MICROSECOND",
    );
    let mut combined = connect(
        server.local_addr(),
        "/stream?streams=ethusdt@trade/btcusdt@trade/solusdt@trade",
    );
    let (texts, close) = read_to_end(&mut raw, Duration::from_secs(2));
    assert_end_of_file(close);
    let got: Vec<Tick> = texts.iter().map(|t| parse_trade(t, false)).collect();
    let want: Vec<Tick> = all.iter().map(|t| in_unit(t, 1_000)).collect();
    assert_eq!(got, want);

    let (texts, close) = read_to_end(&mut combined, Duration::from_secs(2));
    assert_end_of_file(close);
    let got: Vec<Tick> = texts.iter().map(|t| parse_trade(t, true)).collect();
    let want: Vec<Tick> = all.iter().map(|t| in_unit(t, 1_000_000)).collect();
    assert_eq!(got, want);

    let stats = wait_for(&server, Duration::from_secs(1), |s| {
        s.active_connections == 0
    });
    assert_eq!(stats.connections, 2);
    assert_eq!(stats.trades, 2 * all.len() as u64);
    server.stop();
}

#[test]
fn malformed_files_fail_at_start_with_the_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let head = "# comment\nts_ns,symbol,price,size,side,trade_id\n\n1,BTCUSDT,1.5,2,buy,1\n";
    let cases = [
        ("2,BTCUSDT,1.5x,2,buy", "invalid price \"1.5x\""),
        ("2,BTCUSDT,0.0000000001,2,buy", "invalid price"),
        ("2,BTCUSDT,1.5,2,short", "invalid side \"short\""),
        ("2,BTCUSDT,1.5,buy", "found 4"),
        ("-2,BTCUSDT,1.5,2,buy", "negative"),
        ("2,BTCUSDT,1.5,2,buy,id7", "invalid trade_id"),
        ("2,btcusdt,1.5,2,buy", "invalid symbol"),
        ("2,BTCUSDT,1.5,-2,buy", "invalid size"),
    ];
    for (i, (line, what)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.csv"));
        std::fs::write(&path, format!("{head}{line}\n3,BTCUSDT,1,1,sell\n")).unwrap();
        let e = SimServer::start(SimConfig {
            tick_file: Some(path.clone()),
            ..SimConfig::default()
        })
        .expect_err(line);
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{line}: {e}");
        let msg = e.to_string();
        assert!(msg.contains("line 5: "), "{line}: {msg}");
        assert!(msg.contains(what), "{line}: {msg}");
        assert!(msg.contains(&format!("bad{i}.csv")), "{line}: {msg}");
        // The same error without a server.
        assert_eq!(tick_file_symbols(&path).unwrap_err().to_string(), msg);
    }
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "ts_ns,symbol,price,size,side\n").unwrap();
    let e = tick_file_symbols(&empty).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert!(e.to_string().contains("no ticks"), "{e}");
    let e = tick_file_symbols(&dir.path().join("missing.csv")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn a_slow_client_loses_nothing() {
    const N: usize = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut text = String::with_capacity(N * 48);
    text.push_str("ts_ns,symbol,price,size,side,trade_id\n");
    let mut btc_id = 1_000u64;
    let mut btc_ids = Vec::with_capacity(N / 2);
    for i in 0..N {
        let ts = 1_700_000_000_000_000_000 + i as u64 * 333_333;
        let side = if i % 3 == 0 { "sell" } else { "buy" };
        if i % 2 == 0 {
            btc_id += 1 + u64::from(i % 5 == 0);
            btc_ids.push(btc_id);
            let _ = writeln!(
                text,
                "{ts},BTCUSDT,65000.{:02},0.{:08},{side},{btc_id}",
                i % 100,
                i % 1000 + 1
            );
        } else {
            let _ = writeln!(text, "{ts},ETHUSDT,3500.5,1.{:03},{side}", i % 1000);
        }
    }
    std::fs::write(&path, text).unwrap();

    let server = serve(&path);
    let mut ws = connect(
        server.local_addr(),
        "/stream?streams=btcusdt@trade/ethusdt@trade",
    );
    // Read nothing for a while: the socket buffers fill and the server must wait.
    thread::sleep(Duration::from_millis(200));
    let held = server.stats().messages;
    assert!(held < N as u64, "the server did not wait for the client");
    let t0 = Instant::now();
    let (texts, close) = read_to_end_slowly(&mut ws, Duration::from_secs(10), |n| {
        if n % 40_000 == 0 {
            thread::sleep(Duration::from_millis(20));
        }
    });
    assert_end_of_file(close);
    assert_eq!(
        texts.len(),
        N,
        "held back at {held}, read in {:?}",
        t0.elapsed()
    );
    let (mut btc, mut eth) = (Vec::new(), Vec::new());
    let mut last_ts = 0;
    for (i, text) in texts.iter().enumerate() {
        // A full JSON parse of 200k frames is slow in a debug build: pick the fields apart
        // by position, in the order "stream", "data":{"e", "E", "s", "t", "p", "q", "T",
        // "m", "M", and check that against a strict parse every 1000th frame.
        let mut parts = text.split(',').skip(3);
        let (s, t) = (parts.next().unwrap(), parts.next().unwrap());
        let ts: i64 = parts.nth(2).unwrap()["\"T\":".len()..].parse().unwrap();
        let id: u64 = t["\"t\":".len()..].parse().unwrap();
        let symbol = &s[r#""s":""#.len()..s.len() - 1];
        if i % 1000 == 0 || i == N - 1 {
            let strict = parse_trade(text, true);
            assert_eq!(
                (strict.symbol.as_str(), strict.id, strict.ts_ns),
                (symbol, id, ts)
            );
        }
        assert!(ts >= last_ts, "{text}");
        last_ts = ts;
        match symbol {
            "BTCUSDT" => btc.push(id),
            "ETHUSDT" => eth.push(id),
            s => panic!("symbol {s} in {text}"),
        }
    }
    assert_eq!(btc.len(), N / 2);
    assert_eq!(btc.last(), Some(&btc_id));
    assert_eq!(btc, btc_ids);
    assert_eq!(eth, (1..=(N / 2) as u64).collect::<Vec<_>>());
    let stats = wait_for(&server, Duration::from_secs(1), |s| {
        s.active_connections == 0
    });
    assert_eq!((stats.trades, stats.messages), (N as u64, N as u64));
    server.stop();
}
