//! Bybit v5 spot public streams as the simulator speaks them: `publicTrade` and
//! `orderbook.1` pushes, `subscribe`/`unsubscribe` with Bybit's replies, errors naming a
//! bad topic, and the `{"op":"ping"}` keepalive.
//!
//! Shapes follow Bybit's V5 documentation (<https://bybit-exchange.github.io/docs/v5/ws/connect>,
//! the Trade and Orderbook streams): prices and sizes as strings, millisecond times, `S`
//! the taker's side, numeric string trade ids. Every book message is an `orderbook.1`
//! snapshot of both sides, as Bybit documents level-1 data ("snapshot message only",
//! <https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>).

use std::fmt::Write;

use serde_json::Value;

use super::generator::{Event, SymbolSpec, PRICE_DECIMALS, QTY_DECIMALS};
use super::venue::{
    expect_path, find_symbol, push_decimal, FileTrade, Overrides, Reply, Subscribed, VenueSim,
};

/// The path of Bybit's public spot endpoint.
pub(crate) const PATH: &str = "/v5/public/spot";

/// A session for a client that asked for `path`.
pub(crate) fn open(path: &str, _specs: &[SymbolSpec]) -> Result<Box<dyn VenueSim>, String> {
    expect_path(path, PATH)?;
    Ok(Box::new(BybitSession::default()))
}

#[derive(Debug, Default)]
struct BybitSession {
    subs: Subscribed,
}

const CONN_ID: &str = "2324d924-aa4d-45b0-a858-7b8be29ab52b";

impl BybitSession {
    fn request(&mut self, v: &Value, specs: &[SymbolSpec]) -> Reply {
        let op = v.get("op").and_then(Value::as_str).unwrap_or("");
        let req_id = v.get("req_id").and_then(Value::as_str).unwrap_or("");
        let reply = |ok: bool, msg: &str, op: &str| {
            let text = format!(
                r#"{{"success":{ok},"ret_msg":{},"conn_id":"{CONN_ID}","req_id":{},"op":"{op}"}}"#,
                Value::from(msg),
                Value::from(req_id)
            );
            if ok {
                Reply::ok(text)
            } else {
                Reply::error(text)
            }
        };
        let on = match op {
            "ping" => return reply(true, "pong", "ping"),
            "subscribe" => true,
            "unsubscribe" => false,
            _ => return reply(false, &format!("error:unknown op {op}"), op),
        };
        let Some(args) = v.get("args").and_then(Value::as_array) else {
            return reply(false, "error:param error", op);
        };
        // Validate every topic first: a bad one fails the whole request.
        let mut parsed = Vec::with_capacity(args.len());
        for arg in args {
            let topic = arg.as_str().unwrap_or("");
            let (trade, sym) = if let Some(s) = topic.strip_prefix("publicTrade.") {
                (true, s)
            } else if let Some(s) = topic.strip_prefix("orderbook.1.") {
                (false, s)
            } else {
                return reply(false, &format!("error:handler not found,topic:{topic}"), op);
            };
            match find_symbol(specs, sym) {
                Some(i) => parsed.push((trade, i)),
                None => return reply(false, &format!("Invalid symbol :[{topic}]"), op),
            }
        }
        for (trade, i) in parsed {
            self.subs.set(trade, i, on);
        }
        reply(true, "", op)
    }
}

impl VenueSim for BybitSession {
    fn handle(&mut self, text: &str, specs: &[SymbolSpec]) -> Vec<Reply> {
        let reply = match serde_json::from_str::<Value>(text) {
            Ok(v) => self.request(&v, specs),
            Err(_) => Reply::error(format!(
                r#"{{"success":false,"ret_msg":"error:invalid json","conn_id":"{CONN_ID}","op":""}}"#
            )),
        };
        vec![reply]
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
        let ts = ts_ns / 1_000_000;
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
                let side = if buyer_maker { "Sell" } else { "Buy" };
                let _ = write!(
                    out,
                    r#"{{"topic":"publicTrade.{s}","type":"snapshot","ts":{ts},"data":[{{"T":{ts},"s":"{s}","S":"{side}","v":"#
                );
                push_decimal(out, qty, QTY_DECIMALS, true, None);
                out.push_str(r#","p":"#);
                push_decimal(out, price, PRICE_DECIMALS, true, ov.price);
                out.push_str(r#","L":"ZeroPlusTick","i":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, r#""{id}""#);
                    }
                }
                out.push_str(r#","BT":false}]}"#);
            }
            Event::Quote {
                update_id,
                bid,
                bid_qty,
                ask,
                ask_qty,
                ..
            } => {
                let _ = write!(
                    out,
                    r#"{{"topic":"orderbook.1.{s}","type":"snapshot","ts":{ts},"data":{{"s":"{s}","b":[["#
                );
                push_decimal(out, bid, PRICE_DECIMALS, true, ov.price);
                out.push(',');
                push_decimal(out, bid_qty, QTY_DECIMALS, true, None);
                out.push_str(r#"]],"a":[["#);
                push_decimal(out, ask, PRICE_DECIMALS, true, None);
                out.push(',');
                push_decimal(out, ask_qty, QTY_DECIMALS, true, None);
                out.push_str(r#"]],"u":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, "{update_id}");
                    }
                }
                let _ = write!(out, r#","seq":{update_id}}},"cts":{ts}}}"#);
            }
        }
    }

    fn encode_file_trade(&mut self, out: &mut String, spec: &SymbolSpec, t: &FileTrade<'_>) {
        let ts = t.ts_ns / 1_000_000;
        let _ = write!(
            out,
            r#"{{"topic":"publicTrade.{s}","type":"snapshot","ts":{ts},"data":[{{"T":{ts},"s":"{s}","S":"{side}","v":"{q}","p":"{p}","L":"ZeroPlusTick","i":"{id}","BT":false}}]}}"#,
            s = spec.name,
            side = if t.sell { "Sell" } else { "Buy" },
            q = t.size,
            p = t.price,
            id = t.id,
        );
    }

    fn wrong_type_price(&self) -> &'static str {
        "123.4"
    }

    /// Trade ids are strings and book update ids numbers: a boolean is wrong for both.
    fn wrong_type_id(&self) -> &'static str {
        "true"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::conformance::{parse, setup};

    use tickforge_engine::symbol::venue;

    use tickforge_feeds::venue::{AdapterEvent, ControlEvent, Subscription};

    #[test]
    fn bybit_sim_answers_requests_and_pings() {
        let (s, mut a) = setup(venue::BYBIT);
        let mut sess = BybitSession::default();
        let sub = a.subscribe_messages(
            &Subscription::product(a.default_channels(), &["ETHUSDT"]),
            4,
        );
        let r = sess.handle(&sub[0], &s);
        assert_eq!(
            parse(a.as_mut(), &r[0].text).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::SubscribeAck {
                id: Some(4)
            })]
        );
        assert_eq!(
            (sess.trade_symbols(), sess.quote_symbols()),
            (&[1][..], &[1][..])
        );
        let ping = sess.handle(&a.keepalive().unwrap().message, &s);
        assert_eq!(
            parse(a.as_mut(), &ping[0].text).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::Pong)]
        );
        let bad = sess.handle(r#"{"op":"subscribe","args":["publicTrade.NOPE"]}"#, &s);
        assert!(bad[0].is_error);
        match &parse(a.as_mut(), &bad[0].text).unwrap()[0] {
            AdapterEvent::Control(ControlEvent::VenueError { subject, .. }) => {
                assert_eq!(subject.as_deref(), Some("publicTrade.NOPE"))
            }
            e => panic!("{e:?}"),
        }
        let unsub = a.unsubscribe_messages(&[Subscription::new("publicTrade", "ETHUSDT")], 5);
        sess.handle(&unsub[0], &s);
        assert!(sess.trade_symbols().is_empty());
        assert!(open(PATH, &s).is_ok() && open("/", &s).is_err());
    }
}
