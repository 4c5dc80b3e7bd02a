//! The Binance spot market-streams protocol: stream names, URL paths, the control
//! requests (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY), the
//! data payloads (`trade`, `bookTicker`) and the malformed frames used for fault injection.
//!
//! Message shapes follow the Binance spot documentation, "WebSocket Streams"
//! (<https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>, also
//! `web-socket-streams.md` in github.com/binance/binance-spot-api-docs):
//!
//! * data: `{"e":"trade","E":..,"s":..,"t":..,"p":"..","q":"..","T":..,"m":..,"M":true}` and
//!   `{"u":..,"s":..,"b":"..","B":"..","a":"..","A":".."}`; on `/stream` each payload is
//!   wrapped as `{"stream":"<name>","data":<payload>}`.
//! * acks: `{"result":null,"id":N}`; lists: `{"result":[..],"id":N}`.
//! * errors: the documented error objects `{"code":C,"msg":".."}` (code 0 unknown property,
//!   1 bad value type, 2 invalid request, 3 invalid JSON). A request whose JSON parsed gets
//!   the object wrapped with its id, `{"error":{"code":2,"msg":".."},"id":N}`, as live spot
//!   servers send it; text that is not JSON at all has no id to echo and gets the bare
//!   documented object `{"code":3,"msg":"Invalid JSON: .."}`.

use serde_json::Value;
use std::fmt::Write;

use super::generator::{write_decimal, Event, SymbolSpec, PRICE_DECIMALS, QTY_DECIMALS};
use super::venue::{FileTrade, Overrides, Reply, Subscribed, VenueSim};

/// A market-data channel the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Channel {
    /// `<symbol>@trade`.
    Trade,
    /// `<symbol>@bookTicker`.
    BookTicker,
}

impl Channel {
    fn suffix(self) -> &'static str {
        match self {
            Channel::Trade => "trade",
            Channel::BookTicker => "bookTicker",
        }
    }
}

/// One subscribable stream: a symbol index and a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StreamId {
    pub symbol: usize,
    pub channel: Channel,
}

/// The stream name, `btcusdt@trade` or `btcusdt@bookTicker`.
pub(crate) fn stream_name(spec: &SymbolSpec, channel: Channel) -> String {
    format!("{}@{}", spec.stream_symbol(), channel.suffix())
}

/// Why a stream name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamError {
    /// Not `<symbol>@trade` / `<symbol>@bookTicker` (another channel, or no `@`).
    Invalid(String),
    /// Well formed, but the symbol is not simulated.
    Unknown(String),
}

impl StreamError {
    pub(crate) fn message(&self) -> String {
        match self {
            StreamError::Invalid(s) => format!("Invalid request: invalid stream '{s}'"),
            StreamError::Unknown(s) => format!("Invalid request: unknown stream '{s}'"),
        }
    }
}

/// Parses a stream name. The symbol part is matched case-insensitively (Binance documents
/// lower case); the channel is case-sensitive as on Binance.
pub(crate) fn parse_stream(name: &str, specs: &[SymbolSpec]) -> Result<StreamId, StreamError> {
    let Some((sym, chan)) = name.split_once('@') else {
        return Err(StreamError::Invalid(name.to_owned()));
    };
    let channel = match chan {
        "trade" => Channel::Trade,
        "bookTicker" => Channel::BookTicker,
        _ => return Err(StreamError::Invalid(name.to_owned())),
    };
    let symbol = specs
        .iter()
        .position(|s| s.name.eq_ignore_ascii_case(sym))
        .ok_or_else(|| StreamError::Unknown(name.to_owned()))?;
    Ok(StreamId { symbol, channel })
}

/// What the handshake path asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `true` for `/stream` (wrapped payloads), `false` for `/ws` (raw payloads).
    pub combined: bool,
    /// Streams named in the URL, subscribed from the start.
    pub streams: Vec<StreamId>,
    /// The query asked for `timeUnit=MICROSECOND` (any ASCII case). Honoured when serving
    /// a tick file; the synthetic market always sends milliseconds.
    pub micros: bool,
}

/// Parses the request path: `/stream`, `/stream?streams=a/b`, `/ws`, `/ws/a`, `/ws/a/b`
/// (a trailing `/` is allowed), and `timeUnit=MICROSECOND` in the query of either. Other
/// query parameters and `timeUnit` values are ignored.
pub(crate) fn parse_path(path_and_query: &str, specs: &[SymbolSpec]) -> Result<Endpoint, String> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let micros = query.unwrap_or("").split('&').any(|pair| {
        pair.strip_prefix("timeUnit=")
            .is_some_and(|v| v.eq_ignore_ascii_case("MICROSECOND"))
    });
    let mut names: Vec<&str> = Vec::new();
    let combined = if path == "/stream" || path == "/stream/" {
        for pair in query.unwrap_or("").split('&') {
            if let Some(v) = pair.strip_prefix("streams=") {
                names.extend(v.split('/').filter(|s| !s.is_empty()));
            }
        }
        true
    } else if path == "/ws" || path.starts_with("/ws/") {
        names.extend(path[3..].split('/').filter(|s| !s.is_empty()));
        false
    } else {
        return Err(format!("unknown path '{path}': use /stream or /ws"));
    };
    let mut streams = Vec::new();
    for n in names {
        let id = parse_stream(n, specs).map_err(|e| e.message())?;
        if !streams.contains(&id) {
            streams.push(id);
        }
    }
    Ok(Endpoint {
        combined,
        streams,
        micros,
    })
}

/// Per-connection protocol state: the `combined` property and the subscriptions.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub combined: bool,
    /// Tick files: timestamps in microseconds (`timeUnit=MICROSECOND` in the URL).
    micros: bool,
    /// In subscription order (what LIST_SUBSCRIPTIONS reports).
    subs: Vec<StreamId>,
    /// Subscribed symbol indices per channel, sorted, so that the generator's choice
    /// depends on the set of streams and not on the order they were subscribed in.
    kinds: Subscribed,
}

const METHODS: &str =
    "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`";

impl Session {
    pub(crate) fn new(endpoint: Endpoint) -> Session {
        let mut s = Session {
            combined: endpoint.combined,
            micros: endpoint.micros,
            subs: Vec::new(),
            kinds: Subscribed::default(),
        };
        s.subscribe(&endpoint.streams);
        s
    }

    fn subscribe(&mut self, ids: &[StreamId]) {
        for id in ids {
            if !self.subs.contains(id) {
                self.subs.push(*id);
                self.kinds
                    .set(id.channel == Channel::Trade, id.symbol, true);
            }
        }
    }

    fn unsubscribe(&mut self, ids: &[StreamId]) {
        self.subs.retain(|s| !ids.contains(s));
        for id in ids {
            self.kinds
                .set(id.channel == Channel::Trade, id.symbol, false);
        }
    }

    /// Handles one text message from the client and returns the reply.
    pub(crate) fn reply(&mut self, text: &str, specs: &[SymbolSpec]) -> Reply {
        // Replies are written by hand to keep Binance's key order (`result` before `id`);
        // `Value`'s Display gives compact, correctly escaped JSON for each piece.
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let msg = Value::String(format!("Invalid JSON: {e}"));
                return Reply::error(format!(r#"{{"code":3,"msg":{msg}}}"#));
            }
        };
        let id = value.get("id").cloned().unwrap_or(Value::Null);
        match self.request(&value, specs) {
            Ok(result) => Reply::ok(format!(r#"{{"result":{result},"id":{id}}}"#)),
            Err((code, msg)) => {
                let msg = Value::String(msg);
                Reply::error(format!(
                    r#"{{"error":{{"code":{code},"msg":{msg}}},"id":{id}}}"#
                ))
            }
        }
    }

    fn request(&mut self, value: &Value, specs: &[SymbolSpec]) -> Result<Value, (i64, String)> {
        let invalid = |m: &str| (2, format!("Invalid request: {m}"));
        let Some(obj) = value.as_object() else {
            return Err(invalid("expected a JSON object"));
        };
        let method = match obj.get("method") {
            None => return Err(invalid("missing field `method`")),
            Some(Value::String(m)) => m.as_str(),
            Some(other) => {
                return Err(invalid(&format!(
                    "unknown variant {other}, expected one of {METHODS}"
                )))
            }
        };
        match obj.get("id") {
            Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            Some(Value::String(s))
                if s.len() <= 36 && s.bytes().all(|b| b.is_ascii_alphanumeric()) => {}
            _ => return Err(invalid("request ID must be an unsigned integer")),
        }
        let params = obj.get("params");
        match method {
            "SUBSCRIBE" | "UNSUBSCRIBE" => {
                let names = match params {
                    Some(Value::Array(a)) => a,
                    None => return Err(invalid("missing field `params`")),
                    Some(_) => return Err(invalid("params must be an array of stream names")),
                };
                let mut ids = Vec::with_capacity(names.len());
                for n in names {
                    let Some(n) = n.as_str() else {
                        return Err(invalid("stream names must be strings"));
                    };
                    match parse_stream(n, specs) {
                        Ok(id) => ids.push(id),
                        // Unsubscribing from something never subscribed is a no-op.
                        Err(_) if method == "UNSUBSCRIBE" => {}
                        Err(e) => return Err((2, e.message())),
                    }
                }
                if method == "SUBSCRIBE" {
                    self.subscribe(&ids);
                } else {
                    self.unsubscribe(&ids);
                }
                Ok(Value::Null)
            }
            "LIST_SUBSCRIPTIONS" => Ok(Value::Array(
                self.subs
                    .iter()
                    .map(|s| Value::String(stream_name(&specs[s.symbol], s.channel)))
                    .collect(),
            )),
            "SET_PROPERTY" | "GET_PROPERTY" => {
                let p = params.and_then(Value::as_array);
                let name = match p.and_then(|p| p.first()) {
                    Some(Value::String(s)) => s.as_str(),
                    _ => return Err(invalid("property name must be a string")),
                };
                if name != "combined" {
                    return Err((0, "Unknown property".to_owned()));
                }
                if method == "GET_PROPERTY" {
                    return Ok(Value::Bool(self.combined));
                }
                match p.and_then(|p| p.get(1)) {
                    Some(Value::Bool(b)) => {
                        self.combined = *b;
                        Ok(Value::Null)
                    }
                    _ => Err((1, "Invalid value type: expected Boolean".to_owned())),
                }
            }
            other => Err(invalid(&format!(
                "unknown variant `{other}`, expected one of {METHODS}"
            ))),
        }
    }
}

/// The path of Binance's combined-stream endpoint, served by the simulator.
pub(crate) const PATH: &str = "/stream";

/// A Binance session for a client that asked for `path` (`/stream...` or `/ws...`).
pub(crate) fn open(path: &str, specs: &[SymbolSpec]) -> Result<Box<dyn VenueSim>, String> {
    let endpoint = parse_path(path, specs)?;
    Ok(Box::new(Session::new(endpoint)))
}

impl VenueSim for Session {
    fn handle(&mut self, text: &str, specs: &[SymbolSpec]) -> Vec<Reply> {
        vec![self.reply(text, specs)]
    }

    fn trade_symbols(&self) -> &[usize] {
        self.kinds.trades()
    }

    fn quote_symbols(&self) -> &[usize] {
        self.kinds.quotes()
    }

    fn encode(
        &mut self,
        out: &mut String,
        spec: &SymbolSpec,
        ev: &Event,
        ts_ns: u64,
        ov: &Overrides<'_>,
    ) {
        // The synthetic market always sends milliseconds.
        encode_with(out, spec, ev, ts_ns / 1_000_000, self.combined, ov);
    }

    fn encode_file_trade(&mut self, out: &mut String, spec: &SymbolSpec, t: &FileTrade<'_>) {
        let ts = if self.micros {
            t.ts_ns / 1_000
        } else {
            t.ts_ns / 1_000_000
        };
        encode_file_trade(out, spec, t, ts, self.combined);
    }

    fn wrong_type_price(&self) -> &'static str {
        "123.4"
    }

    fn wrong_type_id(&self) -> &'static str {
        r#""x""#
    }

    /// Sent bare, outside the `{"stream":..,"data":..}` wrapper, on both endpoints.
    fn shutdown_notice(&self, now_ms: u64) -> Option<String> {
        Some(format!(r#"{{"e":"serverShutdown","E":{now_ms}}}"#))
    }
}

/// Appends the frame for `ev`, wrapped when `combined`, with `ov` replacing fields.
/// `ts_ms` is the event and trade time.
fn encode_with(
    out: &mut String,
    spec: &SymbolSpec,
    ev: &Event,
    ts_ms: u64,
    combined: bool,
    ov: &Overrides<'_>,
) {
    let symbol = ov.symbol.unwrap_or(&spec.name);
    let channel = match ev {
        Event::Trade { .. } => Channel::Trade,
        Event::Quote { .. } => Channel::BookTicker,
    };
    // Writing to a String cannot fail; the results are ignored below.
    if combined {
        let _ = write!(
            out,
            r#"{{"stream":"{}@{}","data":"#,
            symbol.to_ascii_lowercase(),
            channel.suffix()
        );
    }
    let price = |out: &mut String, v: i64, ov: Option<&str>| match ov {
        Some(raw) => out.push_str(raw),
        None => {
            out.push('"');
            write_decimal(out, v, PRICE_DECIMALS);
            out.push('"');
        }
    };
    let qty = |out: &mut String, v: i64| {
        out.push('"');
        write_decimal(out, v, QTY_DECIMALS);
        out.push('"');
    };
    match *ev {
        Event::Trade {
            id,
            price: p,
            qty: q,
            buyer_maker,
            ..
        } => {
            let _ = write!(out, r#"{{"e":"trade","E":{ts_ms},"s":"{symbol}","t":"#);
            match ov.id {
                Some(raw) => out.push_str(raw),
                None => {
                    let _ = write!(out, "{id}");
                }
            }
            out.push_str(r#","p":"#);
            price(out, p, ov.price);
            out.push_str(r#","q":"#);
            qty(out, q);
            let _ = write!(out, r#","T":{ts_ms},"m":{buyer_maker},"M":true}}"#);
        }
        Event::Quote {
            update_id,
            bid,
            bid_qty,
            ask,
            ask_qty,
            ..
        } => {
            out.push_str(r#"{"u":"#);
            match ov.id {
                Some(raw) => out.push_str(raw),
                None => {
                    let _ = write!(out, "{update_id}");
                }
            }
            let _ = write!(out, r#","s":"{symbol}","b":"#);
            price(out, bid, ov.price);
            out.push_str(r#","B":"#);
            qty(out, bid_qty);
            out.push_str(r#","a":"#);
            price(out, ask, None);
            out.push_str(r#","A":"#);
            qty(out, ask_qty);
            out.push('}');
        }
    }
    if combined {
        out.push('}');
    }
}

/// Appends the frame for a tick-file trade, wrapped when `combined`: the same shape and
/// key order as the synthetic trades; price and size are copied verbatim, `E` = `T` =
/// `ts` in the connection's time unit, and `m` is true when the aggressor sold.
fn encode_file_trade(
    out: &mut String,
    spec: &SymbolSpec,
    t: &FileTrade<'_>,
    ts: u64,
    combined: bool,
) {
    // Writing to a String cannot fail; the results are ignored below.
    if combined {
        let _ = write!(
            out,
            r#"{{"stream":"{}@trade","data":"#,
            spec.stream_symbol()
        );
    }
    let _ = write!(
        out,
        r#"{{"e":"trade","E":{ts},"s":"{s}","t":{id},"p":"{p}","q":"{q}","T":{ts},"m":{m},"M":true}}"#,
        s = spec.name,
        id = t.id,
        p = t.price,
        q = t.size,
        m = t.sell,
    );
    if combined {
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn specs() -> Vec<SymbolSpec> {
        crate::sim::SimConfig::default().symbol_specs()
    }

    #[test]
    fn parses_paths() {
        let s = specs();
        let e = parse_path("/stream", &s).unwrap();
        assert!(e.combined && e.streams.is_empty());
        let e = parse_path(
            "/stream?streams=btcusdt@trade/ethusdt@bookTicker&timeUnit=ms",
            &s,
        )
        .unwrap();
        assert_eq!(e.streams.len(), 2);
        assert_eq!(e.streams[1].symbol, 1);
        assert_eq!(e.streams[1].channel, Channel::BookTicker);
        let e = parse_path("/ws/btcusdt@trade", &s).unwrap();
        assert!(!e.combined);
        assert_eq!(e.streams.len(), 1);
        assert!(parse_path("/ws", &s).unwrap().streams.is_empty());
        assert!(parse_path("/ws/", &s).unwrap().streams.is_empty());
        assert!(parse_path("/other", &s).is_err());
        assert!(parse_path("/ws/foousdt@trade", &s).is_err());
        assert!(parse_path("/wsx", &s).is_err());
        assert!(!parse_path("/stream?timeUnit=ms", &s).unwrap().micros);
        assert!(
            parse_path("/stream?streams=btcusdt@trade&timeUnit=MICROSECOND", &s)
                .unwrap()
                .micros
        );
        assert!(
            parse_path("/ws/btcusdt@trade?timeUnit=microsecond", &s)
                .unwrap()
                .micros
        );
    }

    #[test]
    fn encodes_file_trades_verbatim() {
        let s = specs();
        let t = FileTrade {
            id: 9,
            price: "12345.678900001",
            size: "0.00000001",
            ts_ns: 1_700_000_000_999_123_456,
            sell: true,
        };
        let mut sess = Session::new(parse_path("/stream", &s).unwrap());
        let mut out = String::new();
        sess.encode_file_trade(&mut out, &s[0], &t);
        assert_eq!(
            out,
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000999,"s":"BTCUSDT","t":9,"p":"12345.678900001","q":"0.00000001","T":1700000000999,"m":true,"M":true}}"#
        );
        let mut sess = Session::new(parse_path("/ws?timeUnit=MICROSECOND", &s).unwrap());
        out.clear();
        sess.encode_file_trade(&mut out, &s[0], &t);
        assert!(
            out.starts_with(r#"{"e":"trade","E":1700000000999123,"#),
            "{out}"
        );
        assert!(serde_json::from_str::<Value>(&out).is_ok());
    }

    #[test]
    fn handles_requests() {
        let s = specs();
        let mut sess = Session::new(parse_path("/stream", &s).unwrap());
        let r = sess.reply(
            r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","solusdt@bookTicker"],"id":1}"#,
            &s,
        );
        assert_eq!(r.text, r#"{"result":null,"id":1}"#);
        assert!(!r.is_error);
        assert_eq!(sess.trade_symbols(), &[0]);
        assert_eq!(sess.quote_symbols(), &[2]);
        let r = sess.reply(r#"{"method":"LIST_SUBSCRIPTIONS","id":"a7"}"#, &s);
        let v: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["result"], json!(["btcusdt@trade", "solusdt@bookTicker"]));
        assert_eq!(v["id"], json!("a7"));

        let r = sess.reply(
            r#"{"method":"SUBSCRIBE","params":["foo@trade"],"id":9}"#,
            &s,
        );
        let v: Value = serde_json::from_str(&r.text).unwrap();
        assert!(r.is_error);
        assert_eq!(v["error"]["code"], 2);
        assert_eq!(v["id"], 9);
        assert!(v["error"]["msg"].as_str().unwrap().contains("foo@trade"));

        let r = sess.reply("{nope", &s);
        let v: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["code"], 3);
        assert!(v["msg"].as_str().unwrap().starts_with("Invalid JSON: "));

        let r = sess.reply(r#"{"method":"FOO","id":2}"#, &s);
        let v: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["error"]["code"], 2);
        let r = sess.reply(r#"{"method":"LIST_SUBSCRIPTIONS","id":1.5}"#, &s);
        assert!(r.is_error);
        let r = sess.reply(
            r#"{"method":"SET_PROPERTY","params":["combined",false],"id":3}"#,
            &s,
        );
        assert!(!r.is_error);
        assert!(!sess.combined);
        let r = sess.reply(
            r#"{"method":"GET_PROPERTY","params":["combined"],"id":4}"#,
            &s,
        );
        assert_eq!(r.text, r#"{"result":false,"id":4}"#);
        let r = sess.reply(
            r#"{"method":"SET_PROPERTY","params":["x",true],"id":5}"#,
            &s,
        );
        let v: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["error"]["code"], 0);
        let r = sess.reply(
            r#"{"method":"SET_PROPERTY","params":["combined",1],"id":6}"#,
            &s,
        );
        let v: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["error"]["code"], 1);

        let r = sess.reply(
            r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":7}"#,
            &s,
        );
        assert!(!r.is_error);
        assert!(sess.trade_symbols().is_empty());
        assert!(sess.has_subscriptions());
    }

    #[test]
    fn shutdown_notice_reads_as_one() {
        use crate::sim::conformance::{parse, setup};
        use tickforge_engine::symbol::venue;
        use tickforge_feeds::venue::{AdapterEvent, ControlEvent};
        let (s, mut a) = setup(venue::BINANCE);
        let sess = Session::new(parse_path("/stream", &s).unwrap());
        let notice = sess.shutdown_notice(1_770_123_456_789).unwrap();
        assert_eq!(notice, r#"{"e":"serverShutdown","E":1770123456789}"#);
        assert_eq!(
            parse(a.as_mut(), &notice).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::ServerShutdown {
                exch_ts: 1_770_123_456_789_000_000
            })]
        );
    }

    #[test]
    fn encodes_payloads() {
        let s = specs();
        let ev = Event::Trade {
            symbol: 0,
            id: 5,
            price: 6_500_001_000_000,
            qty: 1_000,
            buyer_maker: true,
        };
        let mut sess = Session::new(parse_path("/stream", &s).unwrap());
        let mut out = String::new();
        let ov = Overrides::default();
        sess.encode(&mut out, &s[0], &ev, 1_700_000_000_000_999_999, &ov);
        assert_eq!(
            out,
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000000,"s":"BTCUSDT","t":5,"p":"65000.01000000","q":"0.00001000","T":1700000000000,"m":true,"M":true}}"#
        );
        let ev = Event::Quote {
            symbol: 1,
            update_id: 400_900_217,
            bid: 2_535_190_000,
            bid_qty: 3_121_000_000,
            ask: 2_536_520_000,
            ask_qty: 4_066_000_000,
        };
        out.clear();
        sess.combined = false;
        sess.encode(&mut out, &s[1], &ev, 1, &ov);
        assert_eq!(
            out,
            r#"{"u":400900217,"s":"ETHUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#
        );
    }
}
