//! OKX v5 public channels as the simulator speaks them: `trades`, `bbo-tbt` and `tickers`
//! pushes, the `subscribe`/`unsubscribe` operations with their `event` replies, errors
//! naming an unknown instrument or channel, and the text `ping` → `pong` keepalive.
//!
//! Shapes follow OKX's API v5 documentation (<https://www.okx.com/docs-v5/en/>, "WebSocket"
//! and the trades / order book / tickers channels): prices, sizes, ids and millisecond
//! times as strings; `side` is the taker's side. A symbol's quotes go out as `bbo-tbt`
//! pushes when the client subscribed to `bbo-tbt` for it, else as `tickers` pushes (one
//! frame per quote even when both are subscribed).

use std::fmt::Write;

use serde_json::Value;

use super::generator::{Event, SymbolSpec, PRICE_DECIMALS, QTY_DECIMALS};
use super::venue::{
    expect_path, find_symbol, push_decimal, FileTrade, Overrides, Reply, Subscribed, VenueSim,
};

/// The path of OKX's public endpoint.
pub(crate) const PATH: &str = "/ws/v5/public";

/// A session for a client that asked for `path` (`/ws/v5/public`).
pub(crate) fn open(path: &str, _specs: &[SymbolSpec]) -> Result<Box<dyn VenueSim>, String> {
    expect_path(path, PATH)?;
    Ok(Box::new(OkxSession::default()))
}

/// One connection's subscriptions.
#[derive(Debug, Default)]
struct OkxSession {
    /// Trades, and quotes by either channel.
    subs: Subscribed,
    /// Symbols subscribed through `bbo-tbt` (as "trades") and through `tickers` (as
    /// "quotes").
    quote_channels: Subscribed,
}

/// The quote channels OKX offers that the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Trades,
    Bbo,
    Tickers,
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
            let kind = match channel {
                "trades" => Channel::Trades,
                "bbo-tbt" => Channel::Bbo,
                "tickers" => Channel::Tickers,
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
            match kind {
                Channel::Trades => self.subs.set(true, symbol, on),
                Channel::Bbo | Channel::Tickers => {
                    self.quote_channels.set(kind == Channel::Bbo, symbol, on);
                    let any = self.quote_channels.trades().binary_search(&symbol).is_ok()
                        || self.quote_channels.quotes().binary_search(&symbol).is_ok();
                    self.subs.set(false, symbol, any);
                }
            }
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
                push_decimal(out, price, PRICE_DECIMALS, true, ov.price);
                out.push_str(r#","sz":"#);
                push_decimal(out, qty, QTY_DECIMALS, true, None);
                // The buyer made the market, so the taker sold.
                let side = if buyer_maker { "sell" } else { "buy" };
                let _ = write!(out, r#","side":"{side}","ts":"{ts}","count":"1"}}]}}"#);
            }
            Event::Quote {
                symbol,
                bid,
                bid_qty,
                ask,
                ask_qty,
                ..
            } if self.quote_channels.trades().binary_search(&symbol).is_err()
                && self.quote_channels.quotes().binary_search(&symbol).is_ok() =>
            {
                // Subscribed through `tickers` only: no sequence id in this channel.
                let _ = write!(
                    out,
                    r#"{{"arg":{{"channel":"tickers","instId":"{inst}"}},"data":[{{"instType":"SPOT","instId":"{inst}","askPx":"#
                );
                push_decimal(out, ask, PRICE_DECIMALS, true, None);
                out.push_str(r#","askSz":"#);
                push_decimal(out, ask_qty, QTY_DECIMALS, true, None);
                out.push_str(r#","bidPx":"#);
                push_decimal(out, bid, PRICE_DECIMALS, true, ov.price);
                out.push_str(r#","bidSz":"#);
                push_decimal(out, bid_qty, QTY_DECIMALS, true, None);
                let _ = write!(out, r#","ts":"{ts}"}}]}}"#);
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
                push_decimal(out, ask, PRICE_DECIMALS, true, None);
                out.push(',');
                push_decimal(out, ask_qty, QTY_DECIMALS, true, None);
                out.push_str(r#","0","1"]],"bids":[["#);
                push_decimal(out, bid, PRICE_DECIMALS, true, ov.price);
                out.push(',');
                push_decimal(out, bid_qty, QTY_DECIMALS, true, None);
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

    /// OKX's service-upgrade notice (code 64008).
    fn shutdown_notice(&self, _now_ms: u64) -> Option<String> {
        Some(format!(
            r#"{{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"{CONN_ID}"}}"#
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::conformance::{parse, setup};

    use tickforge_engine::record::QuoteRecord;
    use tickforge_engine::symbol::venue;

    use tickforge_feeds::venue::{AdapterEvent, ControlEvent, RejectReason};

    #[test]
    fn okx_sim_answers_requests_pings_and_unknown_instruments() {
        let (s, mut a) = setup(venue::OKX);
        let mut sess = OkxSession::default();
        let subs = a.subscribe_messages(
            &tickforge_feeds::venue::Subscription::product(a.default_channels(), &["BTC-USDT"]),
            3,
        );
        let replies = sess.handle(&subs[0], &s);
        assert_eq!(replies.len(), 2);
        assert!(replies.iter().all(|r| !r.is_error));
        assert_eq!(
            parse(a.as_mut(), &replies[0].text).unwrap(),
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
        match &parse(a.as_mut(), &bad[0].text).unwrap()[0] {
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
        let bad_channel = sess.handle(
            r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#,
            &s,
        );
        assert!(bad_channel[0].is_error);
        assert!(open("/ws/v5/public", &s).is_ok());
        assert!(open("/stream", &s).is_err());
    }

    #[test]
    fn okx_sim_shutdown_notice_reads_as_one() {
        let (_, mut a) = setup(venue::OKX);
        let notice = OkxSession::default().shutdown_notice(1).unwrap();
        assert!(matches!(
            parse(a.as_mut(), &notice).unwrap()[..],
            [AdapterEvent::Control(ControlEvent::ServerShutdown { .. })]
        ));
    }

    #[test]
    fn okx_sim_serves_tickers_quotes_to_tickers_subscribers() {
        let (s, mut a) = setup(venue::OKX);
        let mut sess = OkxSession::default();
        let sub = |ch: &str, op: &str| {
            format!(r#"{{"op":"{op}","args":[{{"channel":"{ch}","instId":"ETH-USDT"}}]}}"#)
        };
        let r = sess.handle(&sub("tickers", "subscribe"), &s);
        assert!(!r[0].is_error);
        assert_eq!(sess.quote_symbols(), &[1]);
        let quote = Event::Quote {
            symbol: 1,
            update_id: 9,
            bid: 2_535_190_000,
            bid_qty: 3_121_000_000,
            ask: 2_536_520_000,
            ask_qty: 4_066_000_000,
        };
        let mut out = String::new();
        sess.encode(&mut out, &s[1], &quote, 1_000_000, &Overrides::default());
        assert!(out.contains(r#""channel":"tickers""#), "{out}");
        let tickers_quote = AdapterEvent::Quote(QuoteRecord::new(
            venue::OKX,
            1,
            1_000_000,
            5,
            25_351_900_000,
            31_210_000_000,
            25_365_200_000,
            40_660_000_000,
            0,
        ));
        assert_eq!(
            parse(a.as_mut(), &out).unwrap(),
            vec![tickers_quote.clone()]
        );
        out.clear();
        let ov = Overrides {
            price: Some("123.4"),
            ..Overrides::default()
        };
        sess.encode(&mut out, &s[1], &quote, 1_000_000, &ov);
        assert_eq!(
            parse(a.as_mut(), &out),
            Err(RejectReason::WrongType("bidPx"))
        );
        // With `bbo-tbt` too, quotes go out as `bbo-tbt` (with the sequence id).
        sess.handle(&sub("bbo-tbt", "subscribe"), &s);
        out.clear();
        sess.encode(&mut out, &s[1], &quote, 1_000_000, &Overrides::default());
        assert!(out.contains(r#""channel":"bbo-tbt""#), "{out}");
        // Dropping `bbo-tbt` keeps the quotes flowing through `tickers`.
        sess.handle(&sub("bbo-tbt", "unsubscribe"), &s);
        assert_eq!(sess.quote_symbols(), &[1]);
        out.clear();
        sess.encode(&mut out, &s[1], &quote, 1_000_000, &Overrides::default());
        assert_eq!(parse(a.as_mut(), &out).unwrap(), vec![tickers_quote]);
        sess.handle(&sub("tickers", "unsubscribe"), &s);
        assert!(sess.quote_symbols().is_empty());
    }
}
