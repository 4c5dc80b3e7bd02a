//! The exchange simulator over real loopback sockets, driven by a tungstenite client.

use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use tickforge::sim::{SimConfig, SimServer, PRICE_DECIMALS, QTY_DECIMALS};
use tungstenite::Message;

mod common;
use common::{connect, wait_for, Client};

fn config() -> SimConfig {
    SimConfig {
        seed: 7,
        ..SimConfig::default()
    }
}

fn send(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).expect("send");
}

/// The next data or text message before `deadline`; pings are answered by tungstenite.
fn next(ws: &mut Client, deadline: Instant) -> Option<Message> {
    while Instant::now() < deadline {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => return Some(m),
            Ok(Message::Close(_)) => return None,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("client read failed: {e}"),
        }
    }
    None
}

fn next_text(ws: &mut Client, deadline: Instant) -> Option<String> {
    match next(ws, deadline)? {
        Message::Text(t) => Some(t.as_str().to_owned()),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The reply to a request: the first text frame that carries `"id"` (data frames never do).
fn reply(ws: &mut Client, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    while let Some(m) = next(ws, deadline) {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).expect("reply is JSON");
            if v.get("id").is_some() || v.get("code").is_some() {
                return v;
            }
        }
    }
    panic!("no reply within {within:?}");
}

/// Decimal text with exactly `decimals` digits after the point, as an integer of
/// 10^-decimals units.
fn decimal(v: &Value, decimals: u32) -> Result<i64, String> {
    let s = v.as_str().ok_or_else(|| format!("{v} is not a string"))?;
    let (int, frac) = s.split_once('.').ok_or_else(|| format!("{s}: no point"))?;
    if int.is_empty()
        || frac.len() != decimals as usize
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(format!("{s}: not a decimal with {decimals} places"));
    }
    format!("{int}{frac}")
        .parse()
        .map_err(|e| format!("{s}: {e}"))
}

/// A well-formed data message, timestamps left out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Data {
    Trade {
        stream: String,
        id: u64,
        price: i64,
        qty: i64,
        buyer_maker: bool,
    },
    Quote {
        stream: String,
        update_id: u64,
        bid: i64,
        bid_qty: i64,
        ask: i64,
        ask_qty: i64,
    },
}

/// Checks one combined-stream frame strictly against the Binance shapes.
fn parse_data(text: &str, subscribed: &HashSet<String>) -> Result<Data, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let stream = v["stream"].as_str().ok_or("no stream")?.to_owned();
    if !subscribed.contains(&stream) {
        return Err(format!("not subscribed: {stream}"));
    }
    let (sym, chan) = stream.split_once('@').ok_or("bad stream name")?;
    let d = &v["data"];
    if d["s"].as_str() != Some(&sym.to_ascii_uppercase()) {
        return Err(format!("symbol {} on stream {stream}", d["s"]));
    }
    let uint = |k: &str| {
        d[k].as_u64()
            .ok_or_else(|| format!("{k}: {} not an integer", d[k]))
    };
    match chan {
        "trade" => {
            if d["e"] != "trade" || d["M"] != true || !d["m"].is_boolean() {
                return Err(format!("bad trade fields: {d}"));
            }
            uint("E")?;
            uint("T")?;
            let price = decimal(&d["p"], PRICE_DECIMALS)?;
            let qty = decimal(&d["q"], QTY_DECIMALS)?;
            if price <= 0 || qty <= 0 {
                return Err(format!("non-positive trade: {d}"));
            }
            Ok(Data::Trade {
                stream,
                id: uint("t")?,
                price,
                qty,
                buyer_maker: d["m"] == true,
            })
        }
        "bookTicker" => {
            let bid = decimal(&d["b"], PRICE_DECIMALS)?;
            let ask = decimal(&d["a"], PRICE_DECIMALS)?;
            if !(0 < bid && bid < ask) {
                return Err(format!("bid {bid} not below ask {ask}"));
            }
            Ok(Data::Quote {
                stream,
                update_id: uint("u")?,
                bid,
                bid_qty: decimal(&d["B"], QTY_DECIMALS)?,
                ask,
                ask_qty: decimal(&d["A"], QTY_DECIMALS)?,
            })
        }
        _ => Err(format!("unexpected channel {chan}")),
    }
}

const STREAMS: [&str; 4] = [
    "btcusdt@trade",
    "btcusdt@bookTicker",
    "ethusdt@trade",
    "ethusdt@bookTicker",
];

fn subscribe_all(ws: &mut Client, id: u64) -> HashSet<String> {
    let params: Vec<Value> = STREAMS.iter().map(|s| Value::from(*s)).collect();
    let req = serde_json::json!({"method": "SUBSCRIBE", "params": params, "id": id});
    send(ws, &req.to_string());
    STREAMS.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn subscribe_then_receive_well_formed_data_at_the_rate() {
    let server = SimServer::start(config()).unwrap();
    assert!(server.url().starts_with("ws://127.0.0.1:"));
    assert!(server.url().ends_with("/stream"));
    let mut ws = connect(server.local_addr(), "/stream");
    let subscribed = subscribe_all(&mut ws, 1);
    // Nothing is sent before the subscription, so the ack comes first.
    let ack = next_text(&mut ws, Instant::now() + Duration::from_secs(1)).expect("ack");
    assert_eq!(ack, r#"{"result":null,"id":1}"#);

    let start = Instant::now();
    let window = Duration::from_millis(500);
    let mut next_trade_id: HashMap<String, u64> = HashMap::new();
    let mut last_update: HashMap<String, u64> = HashMap::new();
    let (mut trades, mut quotes) = (0u64, 0u64);
    let mut seen_streams = HashSet::new();
    while let Some(text) = next_text(&mut ws, start + window) {
        let data = parse_data(&text, &subscribed).unwrap_or_else(|e| panic!("{e}: {text}"));
        match data {
            Data::Trade { stream, id, .. } => {
                let want = next_trade_id.entry(stream.clone()).or_insert(1);
                assert_eq!(id, *want, "trade ids must be contiguous from 1 on {stream}");
                *want += 1;
                trades += 1;
                seen_streams.insert(stream);
            }
            Data::Quote {
                stream, update_id, ..
            } => {
                let last = last_update.entry(stream.clone()).or_insert(0);
                assert!(update_id > *last, "update ids must increase on {stream}");
                *last = update_id;
                quotes += 1;
                seen_streams.insert(stream);
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total = trades + quotes;
    let expected = 2000.0 * elapsed;
    // Loose bounds: the point is "about the rate", not a timing benchmark.
    assert!(
        (total as f64) > expected * 0.3 && (total as f64) < expected * 1.5 + 200.0,
        "{total} messages in {elapsed:.3} s at 2000/s"
    );
    assert!(
        trades > total / 5 && quotes > total / 5,
        "{trades} trades, {quotes} quotes"
    );
    assert_eq!(seen_streams.len(), 4, "{seen_streams:?}");
    let stats = server.stats();
    assert_eq!(stats.connections, 1);
    assert!(stats.messages >= total);
    assert_eq!(stats.messages, stats.trades + stats.quotes);
    assert_eq!(stats.malformed, 0);
    server.stop();
}

#[test]
fn unknown_streams_invalid_json_and_list_subscriptions() {
    let server = SimServer::start(config()).unwrap();
    let mut ws = connect(server.local_addr(), "/ws");
    let t = Duration::from_secs(1);

    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["foousdt@trade"],"id":1}"#,
    );
    let v = reply(&mut ws, t);
    assert_eq!(v["id"], 1);
    assert_eq!(v["error"]["code"], 2);
    assert!(v["error"]["msg"]
        .as_str()
        .unwrap()
        .contains("foousdt@trade"));

    send(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#);
    assert_eq!(
        reply(&mut ws, t),
        serde_json::json!({"result": [], "id": 2})
    );

    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["SOLUSDT@trade"] "id":3}"#,
    );
    let v = reply(&mut ws, t);
    assert_eq!(v["code"], 3, "{v}");
    assert!(v["msg"].as_str().unwrap().starts_with("Invalid JSON"));

    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["solusdt@trade"],"id":4}"#,
    );
    assert_eq!(
        reply(&mut ws, t),
        serde_json::json!({"result": null, "id": 4})
    );
    send(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":5}"#);
    assert_eq!(
        reply(&mut ws, t),
        serde_json::json!({"result": ["solusdt@trade"], "id": 5})
    );
    // /ws sends raw payloads.
    let text = next_text(&mut ws, Instant::now() + t).expect("data");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["e"], "trade");
    assert_eq!(v["s"], "SOLUSDT");
    assert!(v.get("stream").is_none());

    let stats = wait_for(&server, t, |s| s.requests >= 5);
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.error_replies, 2);
    server.stop();
}

#[test]
fn streams_named_in_the_url_are_subscribed() {
    let server = SimServer::start(config()).unwrap();
    let t = Instant::now() + Duration::from_secs(1);
    let mut ws = connect(
        server.local_addr(),
        "/stream?streams=xrpusdt@trade/xrpusdt@bookTicker",
    );
    let subscribed: HashSet<String> = ["xrpusdt@trade", "xrpusdt@bookTicker"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for _ in 0..20 {
        let text = next_text(&mut ws, t).expect("data");
        parse_data(&text, &subscribed).unwrap_or_else(|e| panic!("{e}: {text}"));
    }
    let mut raw = connect(server.local_addr(), "/ws/dogeusdt@bookTicker");
    let text = next_text(&mut raw, t).expect("data");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["s"], "DOGEUSDT");
    assert!(v["u"].is_u64());
    // An unknown stream in the URL is refused at the handshake.
    let stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let addr = server.local_addr();
    assert!(tungstenite::client(format!("ws://{addr}/ws/nopeusdt@trade"), stream).is_err());
    server.stop();
}

#[test]
fn server_pings_are_answered_and_counted() {
    let server = SimServer::start(SimConfig {
        ping_interval: Duration::from_millis(40),
        ..config()
    })
    .unwrap();
    let mut ws = connect(server.local_addr(), "/stream");
    // Reading is what makes tungstenite answer pings; there is no data (no subscription).
    let deadline = Instant::now() + Duration::from_millis(400);
    assert!(next(&mut ws, deadline).is_none());
    let stats = wait_for(&server, Duration::from_millis(500), |s| s.pongs >= 3);
    assert!(stats.pongs >= 3, "{stats:?}");
    assert!(stats.pings >= stats.pongs, "{stats:?}");
    server.stop();
}

/// Client-side check of a frame from a malformed-enabled stream: `Ok` if it is a
/// well-formed data message, `Err` if it is malformed.
fn classify(m: &Message, subscribed: &HashSet<String>) -> Result<Data, String> {
    match m {
        Message::Text(t) => parse_data(t.as_str(), subscribed),
        Message::Binary(_) => Err("binary frame".into()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn malformed_frames_are_injected_counted_and_the_connection_survives() {
    let server = SimServer::start(SimConfig {
        malformed_rate: 0.2,
        max_messages: Some(500),
        rate: 5000,
        ..config()
    })
    .unwrap();
    let mut ws = connect(server.local_addr(), "/stream");
    let subscribed = subscribe_all(&mut ws, 1);
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut got = Vec::new();
    while got.len() < 501 {
        match next(&mut ws, deadline) {
            Some(m) => got.push(m),
            None => break,
        }
    }
    assert_eq!(got.len(), 501, "ack plus max_messages frames");
    assert_eq!(got[0], Message::text(r#"{"result":null,"id":1}"#));
    let mut bad = 0u64;
    let mut next_trade_id: HashMap<String, u64> = HashMap::new();
    for m in &got[1..] {
        match classify(m, &subscribed) {
            Ok(Data::Trade { stream, id, .. }) => {
                // Malformed frames never consume a trade id.
                let want = next_trade_id.entry(stream).or_insert(1);
                assert_eq!(id, *want);
                *want += 1;
            }
            Ok(Data::Quote { .. }) => {}
            Err(_) => bad += 1,
        }
    }
    let stats = server.stats();
    assert_eq!(stats.messages, 500);
    assert_eq!(stats.malformed, bad, "{stats:?}");
    assert!((40..=160).contains(&bad), "{bad} malformed of 500 at 20%");
    assert_eq!(stats.malformed_by_kind.iter().sum::<u64>(), bad);
    assert!(
        stats.malformed_by_kind.iter().filter(|&&n| n > 0).count() >= 5,
        "{stats:?}"
    );
    // Still connected and answering.
    send(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#);
    let v = reply(&mut ws, Duration::from_secs(1));
    assert_eq!(v["result"].as_array().unwrap().len(), 4);
    assert_eq!(server.stats().active_connections, 1);
    server.stop();
}

/// The first `n` data frames of a fresh server, with 13-digit millisecond timestamps
/// replaced by `0` (the frames stay comparable and, when well formed, parsable).
fn first_frames(cfg: SimConfig, n: u64) -> Vec<String> {
    let server = SimServer::start(SimConfig {
        max_messages: Some(n),
        rate: 10_000,
        ..cfg
    })
    .unwrap();
    let mut ws = connect(server.local_addr(), "/stream");
    subscribe_all(&mut ws, 1);
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut out = Vec::new();
    while (out.len() as u64) < n + 1 {
        let m = next(&mut ws, deadline).expect("frames");
        out.push(match m {
            Message::Text(t) => mask_timestamps(t.as_str().as_bytes()),
            Message::Binary(b) => format!("<binary>{}", mask_timestamps(&b)),
            _ => unreachable!(),
        });
    }
    server.stop();
    out.remove(0); // the ack
    out
}

fn mask_timestamps(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run == 13 {
            out.push('0');
            i += run;
        } else if run > 0 {
            out.push_str(std::str::from_utf8(&bytes[i..i + run]).unwrap());
            i += run;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

#[test]
fn the_same_seed_gives_the_same_sequence() {
    let subscribed: HashSet<String> = STREAMS.iter().map(|s| (*s).to_owned()).collect();
    let a = first_frames(config(), 300);
    let b = first_frames(config(), 300);
    assert_eq!(a.len(), 300);
    let parse = |v: &[String]| -> Vec<Data> {
        v.iter()
            .map(|t| parse_data(t, &subscribed).unwrap_or_else(|e| panic!("{e}: {t}")))
            .collect()
    };
    assert_eq!(parse(&a), parse(&b));
    let other = first_frames(
        SimConfig {
            seed: 8,
            ..config()
        },
        300,
    );
    assert_ne!(parse(&a), parse(&other));

    // Fault injection is seeded too: the same frames, malformed ones included.
    let faulty = SimConfig {
        malformed_rate: 0.2,
        ..config()
    };
    let c = first_frames(faulty.clone(), 300);
    let d = first_frames(faulty, 300);
    assert_eq!(c, d);
    // And it never changes the well-formed sequence.
    let good: Vec<Data> = c
        .iter()
        .filter_map(|t| parse_data(t, &subscribed).ok())
        .collect();
    assert!(good.len() < 300);
    assert_eq!(good[..], parse(&a)[..good.len()]);
}

#[test]
fn stop_is_prompt_with_clients_connected() {
    let server = SimServer::start(config()).unwrap();
    let mut clients: Vec<Client> = (0..3)
        .map(|_| connect(server.local_addr(), "/stream"))
        .collect();
    subscribe_all(&mut clients[0], 1);
    subscribe_all(&mut clients[1], 1);
    // A client that connects at TCP level but never says anything.
    let _silent = TcpStream::connect(server.local_addr()).unwrap();
    let deadline = Instant::now() + Duration::from_millis(200);
    assert!(next(&mut clients[0], deadline).is_some());
    let stats = wait_for(&server, Duration::from_secs(1), |s| {
        s.active_connections == 3
    });
    assert_eq!(stats.active_connections, 3);

    let t0 = Instant::now();
    server.stop();
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(500), "stop took {took:?}");
    // The clients see the end of the connection soon after.
    let deadline = Instant::now() + Duration::from_secs(1);
    let c = &mut clients[2];
    loop {
        match c.read() {
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => break,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                assert!(Instant::now() < deadline, "client never saw the close");
            }
            Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[test]
fn client_disconnects_are_handled() {
    let server = SimServer::start(config()).unwrap();
    {
        let mut ws = connect(server.local_addr(), "/stream");
        subscribe_all(&mut ws, 1);
        assert!(next(&mut ws, Instant::now() + Duration::from_millis(300)).is_some());
        // Dropped without a close frame.
    }
    let mut polite = connect(server.local_addr(), "/stream");
    polite.close(None).unwrap();
    let stats = wait_for(&server, Duration::from_secs(1), |s| {
        s.connections == 2 && s.active_connections == 0
    });
    assert_eq!((stats.connections, stats.active_connections), (2, 0));
    // Still serving.
    let mut ws = connect(server.local_addr(), "/stream");
    send(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":9}"#);
    assert_eq!(reply(&mut ws, Duration::from_secs(1))["id"], 9);
    server.stop();
}
