//! Coinbase Advanced Trade market data as the simulator speaks it: one
//! `subscribe`/`unsubscribe` per channel (`market_trades`, `ticker`, `heartbeats`), the
//! `subscriptions` reply, `error` for an unknown product, `market_trades` update events,
//! `ticker` events, and a `heartbeats` message every second once subscribed to it.
//!
//! Shapes follow Coinbase's Advanced Trade WebSocket documentation
//! (<https://docs.cdp.coinbase.com/advanced-trade/docs/ws-channels>); `side` on a market
//! trade is the maker's side, as the adapter reads it.

use std::fmt::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::generator::{write_decimal, Event, SymbolSpec, PRICE_DECIMALS, QTY_DECIMALS};
use super::venue::{
    find_symbol, rfc3339_micros, FileTrade, Overrides, Reply, Subscribed, VenueSim,
};

/// The endpoint has no path: `wss://advanced-trade-ws.coinbase.com`.
pub(crate) const PATH: &str = "/";

const HEARTBEAT: Duration = Duration::from_secs(1);

/// A session for a client that asked for `path`.
pub(crate) fn open(path: &str, _specs: &[SymbolSpec]) -> Result<Box<dyn VenueSim>, String> {
    if path.split('?').next() != Some(PATH) {
        return Err(format!("unknown path '{path}': use {PATH}"));
    }
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
                dec(out, price, PRICE_DECIMALS, ov.price);
                out.push_str(r#","size":"#);
                dec(out, qty, QTY_DECIMALS, None);
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
                dec(out, bid, PRICE_DECIMALS, None);
                out.push_str(r#","best_bid":"#);
                dec(out, bid, PRICE_DECIMALS, ov.price);
                out.push_str(r#","best_bid_quantity":"#);
                dec(out, bid_qty, QTY_DECIMALS, None);
                out.push_str(r#","best_ask":"#);
                dec(out, ask, PRICE_DECIMALS, None);
                out.push_str(r#","best_ask_quantity":"#);
                dec(out, ask_qty, QTY_DECIMALS, None);
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
    use crate::sim::SimConfig;
    use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};
    use tickforge_engine::symbol::{venue, SymbolTable};
    use tickforge_feeds::venue::coinbase_advanced::CoinbaseAdvancedAdapter;
    use tickforge_feeds::venue::{
        AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter,
    };

    const V: u8 = venue::COINBASE_ADVANCED;

    fn setup() -> (Vec<SymbolSpec>, CoinbaseAdvancedAdapter) {
        let specs = SimConfig::for_venue(V).symbol_specs();
        let mut t = SymbolTable::new();
        for s in &specs {
            t.add(V, &s.name, false).unwrap();
        }
        (specs, CoinbaseAdvancedAdapter::new(V, &t))
    }

    fn parse(
        a: &mut CoinbaseAdvancedAdapter,
        text: &str,
    ) -> Result<Vec<AdapterEvent>, RejectReason> {
        let mut v = Vec::new();
        a.parse(text.as_bytes(), 5, &mut |e| v.push(e)).map(|()| v)
    }

    #[test]
    fn coinbase_advanced_sim_frames_parse_back_exactly() {
        let (s, mut a) = setup();
        let mut sess = AdvancedSession::default();
        let mut out = String::new();
        let trade = Event::Trade {
            symbol: 0,
            id: 4,
            price: 6_500_001_000_000,
            qty: 1_000,
            buyer_maker: false,
        };
        sess.encode(
            &mut out,
            &s[0],
            &trade,
            1_675_973_976_265_000_999,
            &Overrides::default(),
        );
        assert_eq!(
            parse(&mut a, &out).unwrap(),
            vec![AdapterEvent::Trade(TradeRecord::new(
                V,
                0,
                1_675_973_976_265_000_000,
                5,
                65_000_010_000_000,
                10_000,
                Side::Buy,
                4
            ))]
        );
        let quote = Event::Quote {
            symbol: 1,
            update_id: 8,
            bid: 100,
            bid_qty: 200,
            ask: 300,
            ask_qty: 400,
        };
        out.clear();
        sess.encode(
            &mut out,
            &s[1],
            &quote,
            3_000_000_000,
            &Overrides::default(),
        );
        assert_eq!(
            parse(&mut a, &out).unwrap(),
            vec![AdapterEvent::Quote(QuoteRecord::new(
                V,
                1,
                3_000_000_000,
                5,
                1_000,
                2_000,
                3_000,
                4_000,
                2
            ))]
        );
        for (ev, ov, reason) in [
            (
                trade,
                Overrides {
                    price: Some("123.4"),
                    ..Overrides::default()
                },
                RejectReason::WrongType("price"),
            ),
            (
                trade,
                Overrides {
                    id: Some("true"),
                    ..Overrides::default()
                },
                RejectReason::WrongType("trade_id"),
            ),
            (
                quote,
                Overrides {
                    id: Some("true"),
                    ..Overrides::default()
                },
                RejectReason::WrongType("sequence_num"),
            ),
            (
                trade,
                Overrides {
                    symbol: Some("NOSUCH-USD"),
                    ..Overrides::default()
                },
                RejectReason::UnknownSymbol,
            ),
        ] {
            out.clear();
            sess.encode(&mut out, &s[0], &ev, 1, &ov);
            assert_eq!(parse(&mut a, &out), Err(reason), "{out}");
        }
    }

    #[test]
    fn coinbase_advanced_sim_answers_subscriptions_and_beats() {
        let (s, mut a) = setup();
        let mut sess = AdvancedSession::default();
        let subs = a.subscribe_messages(
            &Subscription::product(a.default_channels(), &["ETH-USDT"]),
            1,
        );
        assert_eq!(subs.len(), 3);
        for m in &subs {
            let r = sess.handle(m, &s);
            assert_eq!(
                parse(&mut a, &r[0].text).unwrap(),
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
            parse(&mut a, &beat).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::Heartbeat)]
        );
        let bad = sess.handle(
            r#"{"type":"subscribe","product_ids":["BTC-XXX"],"channel":"ticker"}"#,
            &s,
        );
        match &parse(&mut a, &bad[0].text).unwrap()[0] {
            AdapterEvent::Control(ControlEvent::VenueError { subject, .. }) => {
                assert_eq!(subject.as_deref(), Some("BTC-XXX"))
            }
            e => panic!("{e:?}"),
        }
        assert!(open("/", &s).is_ok());
    }
}
