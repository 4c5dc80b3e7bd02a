//! OKX v5 public channels as the simulator speaks them: `trades` and `bbo-tbt` pushes,
//! the `subscribe`/`unsubscribe` operations with their `event` replies, errors naming an
//! unknown instrument, and the text `ping` → `pong` keepalive.
//!
//! Shapes follow OKX's API v5 documentation (<https://www.okx.com/docs-v5/en/>, "WebSocket"
//! and the trades / order book channels): prices, sizes, ids and millisecond times as
//! strings; `side` is the taker's side.

use std::fmt::Write;

use serde_json::Value;

use super::generator::{write_decimal, Event, SymbolSpec, PRICE_DECIMALS, QTY_DECIMALS};
use super::venue::{find_symbol, FileTrade, Overrides, Reply, Subscribed, VenueSim};

/// The path of OKX's public endpoint.
pub(crate) const PATH: &str = "/ws/v5/public";

/// A session for a client that asked for `path` (`/ws/v5/public`).
pub(crate) fn open(path: &str, _specs: &[SymbolSpec]) -> Result<Box<dyn VenueSim>, String> {
    if path.split('?').next() != Some(PATH) {
        return Err(format!("unknown path '{path}': use {PATH}"));
    }
    Ok(Box::new(OkxSession::default()))
}

/// One connection's subscriptions.
#[derive(Debug, Default)]
struct OkxSession {
    subs: Subscribed,
}

/// The connection id OKX puts in every reply.
const CONN_ID: &str = "5ec0a3c2";

impl OkxSession {
    fn request(&mut self, v: &Value, specs: &[SymbolSpec]) -> Result<Vec<Reply>, (u32, String)> {
        let op = v.get("op").and_then(Value::as_str).unwrap_or("");
        let on = match op {
            "subscribe" => true,
            "unsubscribe" => false,
            _ => return Err((60012, format!("Invalid request: {v}"))),
        };
        let args = v
            .get("args")
            .and_then(Value::as_array)
            .ok_or_else(|| (60012, format!("Invalid request: {v}")))?;
        let id = v.get("id").and_then(Value::as_str);
        let mut replies = Vec::with_capacity(args.len());
        for arg in args {
            let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
            let inst = arg.get("instId").and_then(Value::as_str).unwrap_or("");
            let trade = match channel {
                "trades" => true,
                "bbo-tbt" => false,
                _ => {
                    return Err((
                        60018,
                        format!("Wrong URL or channel:{channel},instId:{inst} doesn't exist."),
                    ))
                }
            };
            let Some(symbol) = find_symbol(specs, inst) else {
                return Err((
                    60018,
                    format!("Wrong URL or channel:{channel},instId:{inst} doesn't exist."),
                ));
            };
            self.subs.set(trade, symbol, on);
            let id = id
                .map(|i| format!(r#""id":{},"#, Value::from(i)))
                .unwrap_or_default();
            replies.push(Reply::ok(format!(
                r#"{{{id}"event":"{op}","arg":{{"channel":"{channel}","instId":"{inst}"}},"connId":"{CONN_ID}"}}"#
            )));
        }
        Ok(replies)
    }
}

impl VenueSim for OkxSession {
    fn handle(&mut self, text: &str, specs: &[SymbolSpec]) -> Vec<Reply> {
        if text == "ping" {
            return vec![Reply::ok("pong")];
        }
        let result = match serde_json::from_str::<Value>(text) {
            Ok(v) => self.request(&v, specs),
            Err(_) => Err((60012, format!("Invalid request: {text}"))),
        };
        match result {
            Ok(replies) => replies,
            Err((code, msg)) => vec![Reply::error(format!(
                r#"{{"event":"error","code":"{code}","msg":{},"connId":"{CONN_ID}"}}"#,
                Value::from(msg)
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
        let inst = ov.symbol.unwrap_or(&spec.name);
        let ts = ts_ns / 1_000_000;
        let dec = |out: &mut String, v: i64, d: u32, raw: Option<&str>| match raw {
            Some(raw) => out.push_str(raw),
            None => {
                out.push('"');
                write_decimal(out, v, d);
                out.push('"');
            }
        };
        // Writing to a String cannot fail.
        match *ev {
            Event::Trade {
                id,
                price,
                qty,
                buyer_maker,
                ..
            } => {
                let _ = write!(
                    out,
                    r#"{{"arg":{{"channel":"trades","instId":"{inst}"}},"data":[{{"instId":"{inst}","tradeId":"#
                );
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, r#""{id}""#);
                    }
                }
                out.push_str(r#","px":"#);
                dec(out, price, PRICE_DECIMALS, ov.price);
                out.push_str(r#","sz":"#);
                dec(out, qty, QTY_DECIMALS, None);
                // The buyer made the market, so the taker sold.
                let side = if buyer_maker { "sell" } else { "buy" };
                let _ = write!(out, r#","side":"{side}","ts":"{ts}","count":"1"}}]}}"#);
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
                    r#"{{"arg":{{"channel":"bbo-tbt","instId":"{inst}"}},"data":[{{"asks":[["#
                );
                dec(out, ask, PRICE_DECIMALS, None);
                out.push(',');
                dec(out, ask_qty, QTY_DECIMALS, None);
                out.push_str(r#","0","1"]],"bids":[["#);
                dec(out, bid, PRICE_DECIMALS, ov.price);
                out.push(',');
                dec(out, bid_qty, QTY_DECIMALS, None);
                let _ = write!(out, r#","0","1"]],"ts":"{ts}","seqId":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, "{update_id}");
                    }
                }
                out.push_str("}]}");
            }
        }
    }

    fn encode_file_trade(&mut self, out: &mut String, spec: &SymbolSpec, t: &FileTrade<'_>) {
        let _ = write!(
            out,
            r#"{{"arg":{{"channel":"trades","instId":"{inst}"}},"data":[{{"instId":"{inst}","tradeId":"{id}","px":"{p}","sz":"{q}","side":"{side}","ts":"{ts}","count":"1"}}]}}"#,
            inst = spec.name,
            id = t.id,
            p = t.price,
            q = t.size,
            side = if t.sell { "sell" } else { "buy" },
            ts = t.ts_ns / 1_000_000,
        );
    }

    fn wrong_type_price(&self) -> &'static str {
        "123.4"
    }

    fn wrong_type_id(&self) -> &'static str {
        "true"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimConfig;
    use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};
    use tickforge_engine::symbol::{venue, SymbolTable};
    use tickforge_feeds::venue::okx::OkxAdapter;
    use tickforge_feeds::venue::{AdapterEvent, ControlEvent, RejectReason, VenueAdapter};

    fn specs() -> Vec<SymbolSpec> {
        SimConfig::for_venue(venue::OKX).symbol_specs()
    }

    fn adapter(specs: &[SymbolSpec]) -> OkxAdapter {
        let mut t = SymbolTable::new();
        for s in specs {
            t.add(venue::OKX, &s.name, false).unwrap();
        }
        OkxAdapter::new(venue::OKX, &t)
    }

    fn parse(a: &mut OkxAdapter, text: &str) -> Result<Vec<AdapterEvent>, RejectReason> {
        let mut v = Vec::new();
        a.parse(text.as_bytes(), 5, &mut |e| v.push(e)).map(|()| v)
    }

    #[test]
    fn okx_sim_frames_parse_back_exactly() {
        let s = specs();
        assert_eq!(s[0].name, "BTC-USDT");
        let mut a = adapter(&s);
        let mut sess = OkxSession::default();
        let mut out = String::new();
        let ov = Overrides::default();
        let trade = Event::Trade {
            symbol: 0,
            id: 77,
            price: 6_500_001_000_000,
            qty: 1_000,
            buyer_maker: true,
        };
        sess.encode(&mut out, &s[0], &trade, 1_700_000_000_123_999_999, &ov);
        assert_eq!(
            parse(&mut a, &out).unwrap(),
            vec![AdapterEvent::Trade(
                TradeRecord::new(
                    venue::OKX,
                    0,
                    1_700_000_000_123_000_000,
                    5,
                    65_000_010_000_000,
                    10_000,
                    Side::Sell,
                    77
                )
                .with_flags(trade_flags::ID_NOT_CONSECUTIVE)
            )]
        );
        let quote = Event::Quote {
            symbol: 1,
            update_id: 9,
            bid: 2_535_190_000,
            bid_qty: 3_121_000_000,
            ask: 2_536_520_000,
            ask_qty: 4_066_000_000,
        };
        out.clear();
        sess.encode(&mut out, &s[1], &quote, 1_000_000, &ov);
        assert_eq!(
            parse(&mut a, &out).unwrap(),
            vec![AdapterEvent::Quote(QuoteRecord::new(
                venue::OKX,
                1,
                1_000_000,
                5,
                25_351_900_000,
                31_210_000_000,
                25_365_200_000,
                40_660_000_000,
                9
            ))]
        );
        // Fault overrides give the adapter's reasons.
        for (ov, reason) in [
            (
                Overrides {
                    price: Some("123.4"),
                    ..Overrides::default()
                },
                RejectReason::WrongType("px"),
            ),
            (
                Overrides {
                    id: Some("true"),
                    ..Overrides::default()
                },
                RejectReason::WrongType("tradeId"),
            ),
            (
                Overrides {
                    symbol: Some("NOSUCH-USDT"),
                    ..Overrides::default()
                },
                RejectReason::UnknownSymbol,
            ),
        ] {
            out.clear();
            sess.encode(&mut out, &s[0], &trade, 1, &ov);
            assert_eq!(parse(&mut a, &out), Err(reason), "{out}");
        }
    }

    #[test]
    fn okx_sim_answers_requests_pings_and_unknown_instruments() {
        let s = specs();
        let mut a = adapter(&s);
        let mut sess = OkxSession::default();
        let subs = a.subscribe_messages(
            &tickforge_feeds::venue::Subscription::product(a.default_channels(), &["BTC-USDT"]),
            3,
        );
        let replies = sess.handle(&subs[0], &s);
        assert_eq!(replies.len(), 2);
        assert!(replies.iter().all(|r| !r.is_error));
        assert_eq!(
            parse(&mut a, &replies[0].text).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::SubscribeAck {
                id: Some(3)
            })]
        );
        assert_eq!(sess.trade_symbols(), &[0]);
        assert_eq!(sess.quote_symbols(), &[0]);
        assert_eq!(sess.handle("ping", &s), vec![Reply::ok("pong")]);
        let bad = sess.handle(
            r#"{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-XXX"}]}"#,
            &s,
        );
        assert!(bad[0].is_error);
        match &parse(&mut a, &bad[0].text).unwrap()[0] {
            AdapterEvent::Control(ControlEvent::VenueError { code, subject, .. }) => {
                assert_eq!((*code, subject.as_deref()), (60018, Some("BTC-XXX")));
            }
            e => panic!("{e:?}"),
        }
        let unsub = a.unsubscribe_messages(
            &[tickforge_feeds::venue::Subscription::new(
                "trades", "BTC-USDT",
            )],
            4,
        );
        sess.handle(&unsub[0], &s);
        assert!(sess.trade_symbols().is_empty());
        assert!(open("/ws/v5/public", &s).is_ok());
        assert!(open("/stream", &s).is_err());
    }
}
