//! Kraken WebSocket v2 as the simulator speaks it: the `status` greeting, `trade` and
//! `ticker` pushes with prices as JSON numbers, `subscribe`/`unsubscribe` with one
//! acknowledgement per symbol, errors naming an unsupported pair, `ping`/`pong`, and a
//! `heartbeat` every second while subscribed.
//!
//! Shapes follow Kraken's WebSocket v2 documentation
//! (<https://docs.kraken.com/api/docs/websocket-v2/>): RFC 3339 times with microseconds,
//! `side` the taker's side, integer trade ids.

use std::fmt::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::generator::{Event, SymbolSpec, PRICE_DECIMALS, QTY_DECIMALS};
use super::venue::{
    expect_path, find_symbol, push_decimal, rfc3339_micros, FileTrade, Overrides, Reply,
    Subscribed, VenueSim,
};

/// The path of Kraken's v2 endpoint.
pub(crate) const PATH: &str = "/v2";

/// Interval of the `heartbeat` messages.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// A session for a client that asked for `path`.
pub(crate) fn open(path: &str, _specs: &[SymbolSpec]) -> Result<Box<dyn VenueSim>, String> {
    expect_path(path, PATH)?;
    Ok(Box::new(KrakenSession::default()))
}

#[derive(Debug, Default)]
struct KrakenSession {
    subs: Subscribed,
    next_heartbeat: Option<Instant>,
}

/// `"time_in":..,"time_out":..` of a reply.
fn times() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
    let t = rfc3339_micros(now);
    format!(r#""time_in":"{t}","time_out":"{t}""#)
}

impl KrakenSession {
    fn request(&mut self, v: &Value, specs: &[SymbolSpec]) -> Vec<Reply> {
        let method = v.get("method").and_then(Value::as_str).unwrap_or("");
        let req_id = v.get("req_id").cloned().unwrap_or(Value::Null);
        let error = |msg: &str, symbol: Option<&str>| {
            let symbol = symbol
                .map(|s| format!(r#""symbol":{},"#, Value::from(s)))
                .unwrap_or_default();
            Reply::error(format!(
                r#"{{"error":{},"method":{},"req_id":{req_id},"success":false,{symbol}{}}}"#,
                Value::from(msg),
                Value::from(method),
                times()
            ))
        };
        let on = match method {
            "ping" => {
                return vec![Reply::ok(format!(
                    r#"{{"method":"pong","req_id":{req_id},{}}}"#,
                    times()
                ))]
            }
            "subscribe" => true,
            "unsubscribe" => false,
            _ => return vec![error("Method not found", None)],
        };
        let params = v.get("params");
        let channel = params
            .and_then(|p| p.get("channel"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let trade = match channel {
            "trade" => true,
            "ticker" => false,
            _ => return vec![error(&format!("Channel {channel} not found"), None)],
        };
        let Some(symbols) = params
            .and_then(|p| p.get("symbol"))
            .and_then(Value::as_array)
        else {
            return vec![error("Missing field: symbol", None)];
        };
        let mut replies = Vec::with_capacity(symbols.len());
        for s in symbols {
            let name = s.as_str().unwrap_or("");
            match find_symbol(specs, name) {
                Some(i) => {
                    self.subs.set(trade, i, on);
                    replies.push(Reply::ok(format!(
                        r#"{{"method":"{method}","req_id":{req_id},"result":{{"channel":"{channel}","symbol":{}}},"success":true,{}}}"#,
                        Value::from(name),
                        times()
                    )));
                }
                None => replies.push(error(
                    &format!("Currency pair not supported {name}"),
                    Some(name),
                )),
            }
        }
        if self.has_subscriptions() && self.next_heartbeat.is_none() {
            self.next_heartbeat = Some(Instant::now() + HEARTBEAT);
        }
        replies
    }
}

impl VenueSim for KrakenSession {
    fn greeting(&mut self) -> Vec<String> {
        vec![r#"{"channel":"status","data":[{"api_version":"v2","connection_id":13834774380200032777,"system":"online","version":"2.0.0"}],"type":"update"}"#.to_owned()]
    }

    fn handle(&mut self, text: &str, specs: &[SymbolSpec]) -> Vec<Reply> {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => self.request(&v, specs),
            Err(_) => vec![Reply::error(format!(
                r#"{{"error":"Malformed request","success":false,{}}}"#,
                times()
            ))],
        }
    }

    fn trade_symbols(&self) -> &[usize] {
        self.subs.trades()
    }

    fn quote_symbols(&self) -> &[usize] {
        self.subs.quotes()
    }

    fn encode(
        &mut self,
        out: &mut String,
        spec: &SymbolSpec,
        ev: &Event,
        ts_ns: u64,
        ov: &Overrides<'_>,
    ) {
        let s = ov.symbol.unwrap_or(&spec.name);
        let ts = rfc3339_micros(ts_ns);
        // Numbers, not strings: Kraken v2 sends prices and sizes as JSON numbers.
        // Writing to a String cannot fail.
        match *ev {
            Event::Trade {
                id,
                price,
                qty,
                buyer_maker,
                ..
            } => {
                // The buyer made the market, so the taker sold.
                let side = if buyer_maker { "sell" } else { "buy" };
                let _ = write!(
                    out,
                    r#"{{"channel":"trade","type":"update","data":[{{"symbol":"{s}","side":"{side}","price":"#
                );
                push_decimal(out, price, PRICE_DECIMALS, false, ov.price);
                out.push_str(r#","qty":"#);
                push_decimal(out, qty, QTY_DECIMALS, false, None);
                out.push_str(r#","ord_type":"market","trade_id":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, "{id}");
                    }
                }
                let _ = write!(out, r#","timestamp":"{ts}"}}]}}"#);
            }
            Event::Quote {
                bid,
                bid_qty,
                ask,
                ask_qty,
                ..
            } => {
                let _ = write!(
                    out,
                    r#"{{"channel":"ticker","type":"update","data":[{{"symbol":"{s}","bid":"#
                );
                push_decimal(out, bid, PRICE_DECIMALS, false, ov.price);
                out.push_str(r#","bid_qty":"#);
                push_decimal(out, bid_qty, QTY_DECIMALS, false, None);
                out.push_str(r#","ask":"#);
                push_decimal(out, ask, PRICE_DECIMALS, false, None);
                out.push_str(r#","ask_qty":"#);
                push_decimal(out, ask_qty, QTY_DECIMALS, false, None);
                // The ticker has no id: a wrong-typed id goes into its time instead.
                out.push_str(r#","timestamp":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, r#""{ts}""#);
                    }
                }
                out.push_str("}]}");
            }
        }
    }

    fn encode_file_trade(&mut self, out: &mut String, spec: &SymbolSpec, t: &FileTrade<'_>) {
        let _ = write!(
            out,
            r#"{{"channel":"trade","type":"update","data":[{{"symbol":"{s}","side":"{side}","price":{p},"qty":{q},"ord_type":"market","trade_id":{id},"timestamp":"{ts}"}}]}}"#,
            s = spec.name,
            side = if t.sell { "sell" } else { "buy" },
            p = t.price,
            q = t.size,
            id = t.id,
            ts = rfc3339_micros(t.ts_ns),
        );
    }

    fn wrong_type_price(&self) -> &'static str {
        r#""123.4""#
    }

    fn wrong_type_id(&self) -> &'static str {
        r#""x""#
    }

    fn heartbeat(&mut self, now: Instant, _specs: &[SymbolSpec]) -> Option<String> {
        let due = self.next_heartbeat.filter(|t| now >= *t)?;
        self.next_heartbeat = Some(due.max(now) + HEARTBEAT);
        Some(r#"{"channel":"heartbeat"}"#.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::conformance::{parse, setup};

    use tickforge_engine::symbol::venue;

    use tickforge_feeds::venue::{AdapterEvent, ControlEvent, Subscription};

    #[test]
    fn kraken_sim_answers_requests_pings_and_beats() {
        let (s, mut a) = setup(venue::KRAKEN);
        let mut sess = KrakenSession::default();
        assert_eq!(
            parse(a.as_mut(), &sess.greeting()[0]).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::Info {
                id: None,
                what: "status"
            })]
        );
        assert!(sess.heartbeat(Instant::now(), &s).is_none());
        let subs = a.subscribe_messages(
            &Subscription::product(a.default_channels(), &["ETH/USDT", "NOPE/USD"]),
            1,
        );
        let replies: Vec<Reply> = subs.iter().flat_map(|m| sess.handle(m, &s)).collect();
        assert_eq!(replies.len(), 4);
        assert_eq!(
            parse(a.as_mut(), &replies[0].text).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::SubscribeAck {
                id: Some(1)
            })]
        );
        assert!(replies[1].is_error);
        match &parse(a.as_mut(), &replies[1].text).unwrap()[0] {
            AdapterEvent::Control(ControlEvent::VenueError { subject, .. }) => {
                assert_eq!(subject.as_deref(), Some("NOPE/USD"))
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(
            (sess.trade_symbols(), sess.quote_symbols()),
            (&[1][..], &[1][..])
        );
        let beat = sess.heartbeat(Instant::now() + HEARTBEAT, &s).unwrap();
        assert_eq!(
            parse(a.as_mut(), &beat).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::Heartbeat)]
        );
        let pong = sess.handle(r#"{"method":"ping","req_id":9}"#, &s);
        assert_eq!(
            parse(a.as_mut(), &pong[0].text).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::Pong)]
        );
        assert!(open(PATH, &s).is_ok() && open("/", &s).is_err());
    }
}
