//! Polygon stocks as the simulator speaks it: the `connected` greeting, `auth` (any key
//! is accepted), `subscribe`/`unsubscribe` with `T.SYM` / `Q.SYM` topics and a status per
//! topic, and `T` / `Q` events in arrays, with prices and sizes as JSON numbers. Data
//! flows only once the client has authenticated.
//!
//! Shapes follow Polygon's stocks WebSocket documentation
//! (<https://polygon.io/docs/stocks/ws_getting-started>).

use std::fmt::Write;

use serde_json::Value;

use super::generator::{Event, SymbolSpec, PRICE_DECIMALS, QTY_DECIMALS};
use super::venue::{
    expect_path, find_symbol, push_decimal, FileTrade, Overrides, Reply, Subscribed, VenueSim,
};

/// The path of Polygon's stocks endpoint.
pub(crate) const PATH: &str = "/stocks";

/// A session for a client that asked for `path`.
pub(crate) fn open(path: &str, _specs: &[SymbolSpec]) -> Result<Box<dyn VenueSim>, String> {
    expect_path(path, PATH)?;
    Ok(Box::new(PolygonSession::default()))
}

#[derive(Debug, Default)]
struct PolygonSession {
    authed: bool,
    subs: Subscribed,
    sequence: u64,
}

fn status(status: &str, message: &str) -> String {
    format!(
        r#"[{{"ev":"status","status":"{status}","message":{}}}]"#,
        Value::from(message)
    )
}

impl PolygonSession {
    fn request(&mut self, v: &Value, specs: &[SymbolSpec]) -> Vec<Reply> {
        let action = v.get("action").and_then(Value::as_str).unwrap_or("");
        let params = v.get("params").and_then(Value::as_str).unwrap_or("");
        match action {
            "auth" => {
                self.authed = true;
                return vec![Reply::ok(status("auth_success", "authenticated"))];
            }
            _ if !self.authed => {
                return vec![Reply::error(status("error", "not authorized"))];
            }
            "subscribe" | "unsubscribe" => {}
            _ => return vec![Reply::error(status("error", "unknown action"))],
        }
        let on = action == "subscribe";
        let mut replies = Vec::new();
        for topic in params.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let parsed = topic.split_once('.').and_then(|(kind, sym)| {
                let trade = match kind {
                    "T" => true,
                    "Q" => false,
                    _ => return None,
                };
                find_symbol(specs, sym).map(|i| (trade, i))
            });
            match parsed {
                Some((trade, i)) => {
                    self.subs.set(trade, i, on);
                    let verb = if on {
                        "subscribed to"
                    } else {
                        "unsubscribed to"
                    };
                    replies.push(Reply::ok(status("success", &format!("{verb}: {topic}"))));
                }
                None => replies.push(Reply::error(status(
                    "error",
                    &format!("invalid subscription: {topic}"),
                ))),
            }
        }
        replies
    }

    fn next_seq(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }
}

impl VenueSim for PolygonSession {
    fn greeting(&mut self) -> Vec<String> {
        vec![status("connected", "Connected Successfully")]
    }

    fn handle(&mut self, text: &str, specs: &[SymbolSpec]) -> Vec<Reply> {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => self.request(&v, specs),
            Err(_) => vec![Reply::error(status("error", "invalid JSON"))],
        }
    }

    fn trade_symbols(&self) -> &[usize] {
        if self.authed {
            self.subs.trades()
        } else {
            &[]
        }
    }

    fn quote_symbols(&self) -> &[usize] {
        if self.authed {
            self.subs.quotes()
        } else {
            &[]
        }
    }

    fn encode(
        &mut self,
        out: &mut String,
        spec: &SymbolSpec,
        ev: &Event,
        ts_ns: u64,
        ov: &Overrides<'_>,
    ) {
        let sym = ov.symbol.unwrap_or(&spec.name);
        let t = ts_ns / 1_000_000;
        let q = self.next_seq();
        // Writing to a String cannot fail.
        match *ev {
            Event::Trade { id, price, qty, .. } => {
                let _ = write!(out, r#"[{{"ev":"T","sym":"{sym}","x":4,"i":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, r#""{id}""#);
                    }
                }
                out.push_str(r#","z":3,"p":"#);
                push_decimal(out, price, PRICE_DECIMALS, false, ov.price);
                out.push_str(r#","s":"#);
                push_decimal(out, qty, QTY_DECIMALS, false, None);
                let _ = write!(out, r#","c":[0],"t":{t},"q":{q}}}]"#);
            }
            Event::Quote {
                bid,
                bid_qty,
                ask,
                ask_qty,
                ..
            } => {
                let _ = write!(out, r#"[{{"ev":"Q","sym":"{sym}","bx":4,"bp":"#);
                push_decimal(out, bid, PRICE_DECIMALS, false, ov.price);
                out.push_str(r#","bs":"#);
                push_decimal(out, bid_qty, QTY_DECIMALS, false, None);
                out.push_str(r#","ax":7,"ap":"#);
                push_decimal(out, ask, PRICE_DECIMALS, false, None);
                out.push_str(r#","as":"#);
                push_decimal(out, ask_qty, QTY_DECIMALS, false, None);
                let _ = write!(out, r#","c":0,"t":{t},"q":"#);
                match ov.id {
                    Some(raw) => out.push_str(raw),
                    None => {
                        let _ = write!(out, "{q}");
                    }
                }
                out.push_str(r#","z":3}]"#);
            }
        }
    }

    fn encode_file_trade(&mut self, out: &mut String, spec: &SymbolSpec, t: &FileTrade<'_>) {
        let q = self.next_seq();
        let _ = write!(
            out,
            r#"[{{"ev":"T","sym":"{sym}","x":4,"i":"{id}","z":3,"p":{p},"s":{s},"c":[0],"t":{ts},"q":{q}}}]"#,
            sym = spec.name,
            id = t.id,
            p = t.price,
            s = t.size,
            ts = t.ts_ns / 1_000_000,
        );
    }

    fn wrong_type_price(&self) -> &'static str {
        r#""123.4""#
    }

    /// Trade ids are strings and quote sequence numbers are numbers: a boolean is wrong
    /// for both.
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
    fn polygon_sim_needs_auth_then_subscribes_per_topic() {
        let (s, mut a) = setup(venue::POLYGON);
        let mut sess = PolygonSession::default();
        assert_eq!(
            parse(a.as_mut(), &sess.greeting()[0]).unwrap(),
            vec![AdapterEvent::Control(ControlEvent::Info {
                id: None,
                what: "status"
            })]
        );
        let sub = a.subscribe_messages(&Subscription::product(a.default_channels(), &["MSFT"]), 1);
        // Before auth: refused, and no data.
        assert!(sess.handle(&sub[0], &s)[0].is_error);
        assert!(!sess.has_subscriptions());
        let auth = sess.handle(&a.login_messages()[0], &s);
        assert!(!auth[0].is_error);
        let r = sess.handle(&sub[0], &s);
        assert_eq!(r.len(), 2);
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
        let bad = sess.handle(r#"{"action":"subscribe","params":"T.NOPE"}"#, &s);
        match &parse(a.as_mut(), &bad[0].text).unwrap()[0] {
            AdapterEvent::Control(ControlEvent::VenueError { subject, .. }) => {
                assert_eq!(subject.as_deref(), Some("T.NOPE"))
            }
            e => panic!("{e:?}"),
        }
        assert!(open("/stocks", &s).is_ok() && open("/", &s).is_err());
    }
}
