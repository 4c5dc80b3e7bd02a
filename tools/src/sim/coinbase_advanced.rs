//! Coinbase Advanced Trade market data as the simulator speaks it: one
//! `subscribe`/`unsubscribe` per channel (`market_trades`, `ticker`, `heartbeats`), the
//! `subscriptions` reply, `error` for an unknown product or channel, `market_trades`
//! update events, `ticker` events, and a `heartbeats` message every second once
//! subscribed to it.
//!
//! Shapes follow Coinbase's Advanced Trade WebSocket documentation
//! (<https://docs.cdp.coinbase.com/advanced-trade/docs/ws-channels>); `side` on a market
//! trade is written as the maker's side, as the adapter reads it (Coinbase does not say
//! whose side it is; see `tickforge_feeds::venue::coinbase_advanced`).

use std::fmt::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::generator::{Event, SymbolSpec, PRICE_DECIMALS, QTY_DECIMALS};
use super::venue::{
    expect_path, find_symbol, push_decimal, rfc3339_micros, FileTrade, Overrides, Reply,
    Subscribed, VenueSim,
};

/// The endpoint has no path: `wss://advanced-trade-ws.coinbase.com`.
pub(crate) const PATH: &str = "/";

const HEARTBEAT: Duration = Duration::from_secs(1);

/// A session for a client that asked for `path`.
pub(crate) fn open(path: &str, _specs: &[SymbolSpec]) -> Result<Box<dyn VenueSim>, String> {
    expect_path(path, PATH)?;
    Ok(Box::new(AdvancedSession::default()))
}

#[derive(Debug, Default)]
struct AdvancedSession {
    subs: Subscribed,
    next_beat: Option<Instant>,
    beats: u64,
    sequence: u64,
}

fn now_text() -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
    rfc3339_micros(ns)
}

impl AdvancedSession {
    fn header(&mut self, channel: &str, ts: &str) -> String {
        self.sequence += 1;
        format!(
            r#"{{"channel":"{channel}","client_id":"","timestamp":"{ts}","sequence_num":{},"events":["#,
            self.sequence
        )
    }

    fn request(&mut self, v: &Value, specs: &[SymbolSpec]) -> Reply {
        let error = |m: &str| {
            Reply::error(format!(
                r#"{{"type":"error","message":{}}}"#,
                Value::from(m)
            ))
        };
        let on = match v.get("type").and_then(Value::as_str) {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            _ => return error("failure to parse request: type must be subscribe or unsubscribe"),
        };
        let channel = v.get("channel").and_then(Value::as_str).unwrap_or("");
        let kind = match channel {
            "market_trades" => Some(true),
            "ticker" => Some(false),
            "heartbeats" => None,
            other => return error(&format!("failure to subscribe: unknown channel {other}")),
        };
        let mut symbols = Vec::new();
        for p in v
            .get("product_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = p.as_str().unwrap_or("");
            match find_symbol(specs, name) {
                Some(i) => symbols.push(i),
                None => return error(&format!("failure to subscribe: product {name} not found")),
            }
        }
        match kind {
            Some(trade) => symbols.iter().for_each(|&i| self.subs.set(trade, i, on)),
            None => self.next_beat = on.then(|| Instant::now() + HEARTBEAT),
        }
        let list = |v: &[usize]| -> Value {
            Value::from(v.iter().map(|&i| specs[i].name.clone()).collect::<Vec<_>>())
        };
        let head = self.header("subscriptions", &now_text());
        Reply::ok(format!(
            r#"{head}{{"subscriptions":{{"market_trades":{},"ticker":{}}}}}]}}"#,
            list(self.subs.trades()),
            list(self.subs.quotes())
        ))
    }
}

impl VenueSim for AdvancedSession {
    fn handle(&mut self, text: &str, specs: &[SymbolSpec]) -> Vec<Reply> {
        let reply = match serde_json::from_str::<Value>(text) {
            Ok(v) => self.request(&v, specs),
            Err(_) => Reply::error(r#"{"type":"error","message":"failure to parse request"}"#),
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
                let head = self.header("market_trades", &time);
                out.push_str(&head);
                out.push_str(r#"{"type":"update","trades":[{"trade_id":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, r#""{id}""#);
                    }
                }
                let _ = write!(out, r#","product_id":"{p}","price":"#);
                push_decimal(out, price, PRICE_DECIMALS, true, ov.price);
                out.push_str(r#","size":"#);
                push_decimal(out, qty, QTY_DECIMALS, true, None);
                // The maker's side.
                let side = if buyer_maker { "BUY" } else { "SELL" };
                let _ = write!(out, r#","side":"{side}","time":"{time}"}}]}}]}}"#);
            }
            Event::Quote {
                bid,
                bid_qty,
                ask,
                ask_qty,
                ..
            } => {
                // The ticker has no id: a wrong-typed id goes into the message's sequence.
                self.sequence += 1;
                let _ = write!(
                    out,
                    r#"{{"channel":"ticker","client_id":"","timestamp":"{time}","sequence_num":"#
                );
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, "{}", self.sequence);
                    }
                }
                let _ = write!(
                    out,
                    r#","events":[{{"type":"update","tickers":[{{"type":"ticker","product_id":"{p}","price":"#
                );
                push_decimal(out, bid, PRICE_DECIMALS, true, None);
                out.push_str(r#","best_bid":"#);
                push_decimal(out, bid, PRICE_DECIMALS, true, ov.price);
                out.push_str(r#","best_bid_quantity":"#);
                push_decimal(out, bid_qty, QTY_DECIMALS, true, None);
                out.push_str(r#","best_ask":"#);
                push_decimal(out, ask, PRICE_DECIMALS, true, None);
                out.push_str(r#","best_ask_quantity":"#);
                push_decimal(out, ask_qty, QTY_DECIMALS, true, None);
                out.push_str("}]}]}");
            }
        }
    }

    fn encode_file_trade(&mut self, out: &mut String, spec: &SymbolSpec, t: &FileTrade<'_>) {
        let time = rfc3339_micros(t.ts_ns);
        let head = self.header("market_trades", &time);
        let _ = write!(
            out,
            r#"{head}{{"type":"update","trades":[{{"trade_id":"{id}","product_id":"{p}","price":"{px}","size":"{q}","side":"{side}","time":"{time}"}}]}}]}}"#,
            id = t.id,
            p = spec.name,
            px = t.price,
            q = t.size,
            // The maker's side: the opposite of the aggressor's.
            side = if t.sell { "BUY" } else { "SELL" },
        );
    }

    fn wrong_type_price(&self) -> &'static str {
        "123.4"
    }

    fn wrong_type_id(&self) -> &'static str {
        "true"
    }

    fn heartbeat(&mut self, now: Instant, _specs: &[SymbolSpec]) -> Option<String> {
        let due = self.next_beat.filter(|t| now >= *t)?;
        self.next_beat = Some(due.max(now) + HEARTBEAT);
        self.beats += 1;
        let ts = now_text();
        let head = self.header("heartbeats", &ts);
        Some(format!(
            r#"{head}{{"current_time":"{ts}","heartbeat_counter":"{}"}}]}}"#,
            self.beats
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
    fn coinbase_advanced_sim_answers_subscriptions_and_beats() {
        let (s, mut a) = setup(venue::COINBASE_ADVANCED);
        let mut sess = AdvancedSession::default();
        let subs = a.subscribe_messages(
            &Subscription::product(a.default_channels(), &["ETH-USDT"]),
            1,
        );
        assert_eq!(subs.len(), 3);
        for m in &subs {
            let r = sess.handle(m, &s);
            assert_eq!(
                parse(a.as_mut(), &r[0].text).unwrap(),
                vec![AdapterEvent::Control(ControlEvent::SubscribeAck {
                    id: None
                })]
            );
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
        let bad = sess.handle(
            r#"{"type":"subscribe","product_ids":["BTC-XXX"],"channel":"ticker"}"#,
            &s,
        );
        match &parse(a.as_mut(), &bad[0].text).unwrap()[0] {
            AdapterEvent::Control(ControlEvent::VenueError { subject, .. }) => {
                assert_eq!(subject.as_deref(), Some("BTC-XXX"))
            }
            e => panic!("{e:?}"),
        }
        let bad = sess.handle(
            r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level9"}"#,
            &s,
        );
        assert!(bad[0].is_error);
        match &parse(a.as_mut(), &bad[0].text).unwrap()[0] {
            AdapterEvent::Control(ControlEvent::VenueError { subject, .. }) => {
                assert_eq!(subject.as_deref(), Some("level9"))
            }
            e => panic!("{e:?}"),
        }
        let before = sess.quote_symbols().to_vec();
        assert!(!before.is_empty());
        let unsub = a.unsubscribe_messages(&[Subscription::new("ticker", &s[before[0]].name)], 1);
        let r = sess.handle(&unsub[0], &s);
        assert!(!r[0].is_error);
        assert_eq!(
            parse(a.as_mut(), &r[0].text).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::SubscribeAck {
                id: None
            })]
        );
        assert_eq!(sess.quote_symbols(), &before[1..]);
        assert!(!sess.trade_symbols().is_empty());
        assert!(open("/", &s).is_ok() && open("/ws", &s).is_err());
    }
}
