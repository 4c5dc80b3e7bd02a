//! Coinbase Exchange as the simulator speaks it: `subscribe`/`unsubscribe` with product
//! ids and channels (`matches`, `ticker`, `heartbeat`), the `subscriptions` reply, `error`
//! for an unknown product or channel, `match` and `ticker` messages, and a `heartbeat`
//! per product every second.
//!
//! Shapes follow Coinbase's Exchange WebSocket documentation
//! (<https://docs.cdp.coinbase.com/exchange/docs/websocket-channels>): decimal strings,
//! RFC 3339 times, and `side` on a match is the maker's side.

use std::fmt::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::generator::{Event, SymbolSpec, PRICE_DECIMALS, QTY_DECIMALS};
use super::venue::{
    expect_path, find_symbol, push_decimal, rfc3339_micros, FileTrade, Overrides, Reply,
    Subscribed, VenueSim,
};

/// The feed has no path: `wss://ws-feed.exchange.coinbase.com`.
pub(crate) const PATH: &str = "/";

const HEARTBEAT: Duration = Duration::from_secs(1);

/// A session for a client that asked for `path`.
pub(crate) fn open(path: &str, _specs: &[SymbolSpec]) -> Result<Box<dyn VenueSim>, String> {
    expect_path(path, PATH)?;
    Ok(Box::new(CoinbaseSession::default()))
}

#[derive(Debug, Default)]
struct CoinbaseSession {
    subs: Subscribed,
    /// Products subscribed to `heartbeat`, sorted.
    beats: Vec<usize>,
    /// Heartbeats still to send this second.
    pending_beats: Vec<usize>,
    next_beat: Option<Instant>,
    /// `sequence` of the messages sent.
    sequence: u64,
}

impl CoinbaseSession {
    fn request(&mut self, v: &Value, specs: &[SymbolSpec]) -> Reply {
        let error = |reason: &str| {
            Reply::error(format!(
                r#"{{"type":"error","message":"Failed to subscribe","reason":{}}}"#,
                Value::from(reason)
            ))
        };
        let on = match v.get("type").and_then(Value::as_str) {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            _ => return error("type must be subscribe or unsubscribe"),
        };
        let names = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let products = names(v.get("product_ids"));
        let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
        for ch in v
            .get("channels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match ch {
                Value::String(name) => pairs.push((name.clone(), products.clone())),
                Value::Object(_) => pairs.push((
                    ch.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    names(ch.get("product_ids")),
                )),
                _ => {}
            }
        }
        let mut changes = Vec::new();
        for (channel, products) in &pairs {
            for p in products {
                let Some(i) = find_symbol(specs, p) else {
                    return error(&format!("{p} is not a valid product"));
                };
                match channel.as_str() {
                    "matches" => changes.push((Some(true), i)),
                    "ticker" => changes.push((Some(false), i)),
                    "heartbeat" => changes.push((None, i)),
                    other => return error(&format!("{other} is not a valid channel")),
                }
            }
        }
        for (kind, i) in changes {
            match kind {
                Some(trade) => self.subs.set(trade, i, on),
                None => {
                    match (self.beats.binary_search(&i), on) {
                        (Err(at), true) => self.beats.insert(at, i),
                        (Ok(at), false) => {
                            self.beats.remove(at);
                        }
                        _ => {}
                    }
                    if self.next_beat.is_none() {
                        self.next_beat = Some(Instant::now() + HEARTBEAT);
                    }
                }
            }
        }
        let list = |v: &[usize]| -> Value {
            Value::from(v.iter().map(|&i| specs[i].name.clone()).collect::<Vec<_>>())
        };
        Reply::ok(format!(
            r#"{{"type":"subscriptions","channels":[{{"name":"matches","product_ids":{}}},{{"name":"ticker","product_ids":{}}},{{"name":"heartbeat","product_ids":{}}}]}}"#,
            list(self.subs.trades()),
            list(self.subs.quotes()),
            list(&self.beats)
        ))
    }
}

impl VenueSim for CoinbaseSession {
    fn handle(&mut self, text: &str, specs: &[SymbolSpec]) -> Vec<Reply> {
        let reply = match serde_json::from_str::<Value>(text) {
            Ok(v) => self.request(&v, specs),
            Err(_) => Reply::error(r#"{"type":"error","message":"Malformed JSON"}"#),
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
        self.sequence += 1;
        let seq = self.sequence;
        let p = ov.symbol.unwrap_or(&spec.name);
        let time = rfc3339_micros(ts_ns);
        // Writing to a String cannot fail.
        match *ev {
            Event::Trade {
                id,
                price,
                qty,
                buyer_maker,
                ..
            } => {
                out.push_str(r#"{"type":"match","trade_id":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, "{id}");
                    }
                }
                let _ = write!(
                    out,
                    r#","sequence":{seq},"maker_order_id":"m{seq}","taker_order_id":"t{seq}","time":"{time}","product_id":"{p}","size":"#
                );
                push_decimal(out, qty, QTY_DECIMALS, true, None);
                out.push_str(r#","price":"#);
                push_decimal(out, price, PRICE_DECIMALS, true, ov.price);
                // The maker's side.
                let side = if buyer_maker { "buy" } else { "sell" };
                let _ = write!(out, r#","side":"{side}"}}"#);
            }
            Event::Quote {
                update_id,
                bid,
                bid_qty,
                ask,
                ask_qty,
                ..
            } => {
                out.push_str(r#"{"type":"ticker","sequence":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, "{update_id}");
                    }
                }
                let _ = write!(out, r#","product_id":"{p}","price":"#);
                push_decimal(out, bid, PRICE_DECIMALS, true, None);
                out.push_str(r#","best_bid":"#);
                push_decimal(out, bid, PRICE_DECIMALS, true, ov.price);
                out.push_str(r#","best_bid_size":"#);
                push_decimal(out, bid_qty, QTY_DECIMALS, true, None);
                out.push_str(r#","best_ask":"#);
                push_decimal(out, ask, PRICE_DECIMALS, true, None);
                out.push_str(r#","best_ask_size":"#);
                push_decimal(out, ask_qty, QTY_DECIMALS, true, None);
                let _ = write!(out, r#","time":"{time}"}}"#);
            }
        }
    }

    fn encode_file_trade(&mut self, out: &mut String, spec: &SymbolSpec, t: &FileTrade<'_>) {
        self.sequence += 1;
        let _ = write!(
            out,
            r#"{{"type":"match","trade_id":{id},"sequence":{seq},"time":"{time}","product_id":"{p}","size":"{q}","price":"{px}","side":"{side}"}}"#,
            id = t.id,
            seq = self.sequence,
            time = rfc3339_micros(t.ts_ns),
            p = spec.name,
            q = t.size,
            px = t.price,
            // The maker's side: the opposite of the aggressor's.
            side = if t.sell { "buy" } else { "sell" },
        );
    }

    fn wrong_type_price(&self) -> &'static str {
        "123.4"
    }

    fn wrong_type_id(&self) -> &'static str {
        r#""x""#
    }

    fn heartbeat(&mut self, now: Instant, specs: &[SymbolSpec]) -> Option<String> {
        if self.pending_beats.is_empty() {
            let due = self.next_beat.filter(|t| now >= *t)?;
            self.next_beat = Some(due.max(now) + HEARTBEAT);
            self.pending_beats = self.beats.iter().rev().copied().collect();
        }
        let i = self.pending_beats.pop()?;
        self.sequence += 1;
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
        Some(format!(
            r#"{{"type":"heartbeat","sequence":{},"last_trade_id":0,"product_id":"{}","time":"{}"}}"#,
            self.sequence,
            specs[i].name,
            rfc3339_micros(now_ns)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::conformance::{parse, setup};

    use tickforge_engine::symbol::venue;

    use tickforge_feeds::venue::{AdapterEvent, ControlEvent, Subscription};

    #[test]
    fn coinbase_sim_answers_subscriptions_and_beats() {
        let (s, mut a) = setup(venue::COINBASE);
        let mut sess = CoinbaseSession::default();
        let sub = a.subscribe_messages(
            &Subscription::product(a.default_channels(), &["ETH-USDT"]),
            1,
        );
        let r = sess.handle(&sub[0], &s);
        assert_eq!(
            parse(a.as_mut(), &r[0].text).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::SubscribeAck {
                id: None
            })]
        );
        assert_eq!(
            (sess.trade_symbols(), sess.quote_symbols()),
            (&[1][..], &[1][..])
        );
        let beat = sess.heartbeat(Instant::now() + HEARTBEAT, &s).unwrap();
        assert_eq!(
            parse(a.as_mut(), &beat).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::Heartbeat)]
        );
        let bad = sess.handle(
            r#"{"type":"subscribe","product_ids":["BTC-XXX"],"channels":["matches"]}"#,
            &s,
        );
        assert!(bad[0].is_error);
        match &parse(a.as_mut(), &bad[0].text).unwrap()[0] {
            AdapterEvent::Control(ControlEvent::VenueError { subject, .. }) => {
                assert_eq!(subject.as_deref(), Some("BTC-XXX"))
            }
            e => panic!("{e:?}"),
        }
        let bad = sess.handle(
            r#"{"type":"subscribe","product_ids":["ETH-USDT"],"channels":["level9"]}"#,
            &s,
        );
        match &parse(a.as_mut(), &bad[0].text).unwrap()[0] {
            AdapterEvent::Control(ControlEvent::VenueError { subject, .. }) => {
                assert_eq!(subject.as_deref(), Some("level9"))
            }
            e => panic!("{e:?}"),
        }
        let unsub = a.unsubscribe_messages(&[Subscription::new("matches", "ETH-USDT")], 1);
        sess.handle(&unsub[0], &s);
        assert!(sess.trade_symbols().is_empty());
        assert!(open("/", &s).is_ok() && open("/x", &s).is_err());
    }
}
