//! Polygon stocks (real-time or delayed WebSocket): `T` trades and `Q` quotes, and the
//! `status` events of the connection (connected, authentication, subscriptions).
//!
//! Sources (Polygon's own documentation):
//! - WebSocket quickstart (connect, `auth`, `subscribe`, status messages):
//!   <https://polygon.io/docs/stocks/ws_getting-started>,
//!   <https://polygon.io/docs/websockets/ws_stocks_Q_anchor>
//! - Trades: <https://polygon.io/docs/stocks/ws_stocks_t>
//! - Quotes: <https://polygon.io/docs/stocks/ws_stocks_q>
//! - The same schemas and examples as Polygon's published spec:
//!   <https://github.com/polygon-io/client-python/blob/master/.polygon/websocket.json>
//!
//! Normalization:
//! - Every frame is a JSON array of events, of mixed kinds (`ev`: `T`, `Q`, `status`);
//!   each is handled in order. A single event object is accepted too.
//! - Prices and sizes are JSON *numbers* (`"p":114.125`, `"s":100`), read from their exact
//!   text, never through a float.
//! - `t` is the SIP timestamp in Unix milliseconds.
//! - A trade has no aggressor side in the feed: [`Side::Unknown`]. Its `i` (trade id) is a
//!   string unique per trade but not ordered, so trades carry
//!   [`trade_flags::ID_UNORDERED`]; the id is kept when it is a string of digits that
//!   fits in a `u64`, else it is 0.
//! - A quote's `bs`/`as` are taken as sent (the spec describes them as counts of round
//!   lots, not shares; they are not scaled); its update id is the sequence number `q`
//!   (increasing per symbol, not consecutive), 0 when absent.
//! - A trade's `q` (sequence number) is not used as its id: the trade id is `i`.
//! - `status` events: `connected` and `auth_success` are information (as is the older
//!   `success` + `authenticated`), any other `success` acknowledges a subscription,
//!   `auth_failed`, `error` and `max_connections` are venue errors (the subject is the
//!   `T.XXX`-style topic a message names), other statuses are information.
//! - Events other than `T`, `Q` and `status` (aggregates `A`/`AM`, `LULD`, `NOI`) are
//!   ignored and counted.
//! - [`VenueAdapter::login_messages`] is `{"action":"auth","params":KEY}`, sent before the
//!   subscription. The trait has no handshake, so the subscription follows without
//!   waiting for `auth_success`; a refused key shows as an `auth_failed` venue error.

use std::fmt::Write;

use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::SymbolTable;

use super::fields::{decimal_num, fields, present, string, time_num, u64_num};
use super::json::{self, Object, Value};
use super::{AdapterBase, AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter};

/// The Polygon stocks adapter. See the [module documentation](self) for the mapping.
pub struct PolygonAdapter {
    base: AdapterBase,
    api_key: String,
}

impl PolygonAdapter {
    /// Frames longer than this are rejected by default (Polygon batches many events).
    pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;
    /// Polygon's real-time stocks endpoint.
    pub const DEFAULT_URL: &'static str = "wss://socket.polygon.io/stocks";

    /// An adapter writing `venue_id` into its records, knowing `symbols` of that venue.
    pub fn new(venue_id: u8, symbols: &SymbolTable) -> Self {
        PolygonAdapter {
            base: AdapterBase::new(venue_id, symbols, Self::DEFAULT_MAX_FRAME_LEN),
            api_key: String::new(),
        }
    }

    /// The API key sent in the `auth` message.
    pub fn with_api_key(mut self, key: &str) -> Self {
        self.api_key = key.to_owned();
        self
    }

    /// Rejects frames longer than `len` bytes.
    pub fn with_max_frame_len(mut self, len: usize) -> Self {
        self.base.max_frame_len = len;
        self
    }

    fn event(
        &self,
        ev: Value<'_>,
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason> {
        let Value::Object(ev) = ev else {
            return Err(RejectReason::NotAnObject);
        };
        let [kind] = fields(&ev, &["ev"])?;
        let kind = string(present(kind), "ev")?.to_cow();
        match kind.as_ref() {
            "T" => out(AdapterEvent::Trade(self.trade(&ev, recv_ts)?)),
            "Q" => out(AdapterEvent::Quote(self.quote(&ev, recv_ts)?)),
            "status" => out(AdapterEvent::Control(status(&ev)?)),
            _ => out(AdapterEvent::Control(ControlEvent::Ignored {
                what: "unknown_event",
            })),
        }
        Ok(())
    }

    /// A trade:
    ///
    /// ```json
    /// {"ev":"T","sym":"MSFT","x":4,"i":"12345","z":3,"p":114.125,"s":100,"c":[0,12],
    ///  "t":1536036818784,"q":3681328}
    /// ```
    fn trade(&self, ev: &Object<'_>, recv_ts: i64) -> Result<TradeRecord, RejectReason> {
        let [sym, id, price, size, t] = fields(ev, &["sym", "i", "p", "s", "t"])?;
        let symbol = self.base.symbol(sym, "sym")?;
        let trade_id = string(present(id), "i")?.to_cow();
        Ok(TradeRecord::new(
            self.base.venue,
            symbol,
            time_num(present(t), "t", 1_000_000)?,
            recv_ts,
            decimal_num(present(price), "p", false)?,
            decimal_num(present(size), "s", true)?,
            Side::Unknown,
            json::parse_u64(trade_id.as_bytes()).unwrap_or(0),
        )
        .with_flags(trade_flags::ID_UNORDERED))
    }

    /// A quote:
    ///
    /// ```json
    /// {"ev":"Q","sym":"MSFT","bx":4,"bp":114.125,"bs":100,"ax":7,"ap":114.128,"as":160,
    ///  "c":0,"i":[604],"t":1536036818784,"q":50385480,"z":3}
    /// ```
    fn quote(&self, ev: &Object<'_>, recv_ts: i64) -> Result<QuoteRecord, RejectReason> {
        let [sym, bp, bs, ap, size_ask, t, q] =
            fields(ev, &["sym", "bp", "bs", "ap", "as", "t", "q"])?;
        let symbol = self.base.symbol(sym, "sym")?;
        let update_id = match present(q) {
            Some(q) => u64_num(Some(q), "q")?,
            None => 0,
        };
        Ok(QuoteRecord::new(
            self.base.venue,
            symbol,
            time_num(present(t), "t", 1_000_000)?,
            recv_ts,
            decimal_num(present(bp), "bp", false)?,
            decimal_num(present(bs), "bs", true)?,
            decimal_num(present(ap), "ap", false)?,
            decimal_num(present(size_ask), "as", true)?,
            update_id,
        ))
    }
}

/// A status event:
///
/// ```json
/// [{"ev":"status","status":"connected","message":"Connected Successfully"}]
/// [{"ev":"status","status":"auth_success","message":"authenticated"}]
/// [{"ev":"status","status":"success","message":"subscribed to: T.MSFT"}]
/// [{"ev":"status","status":"auth_failed","message":"authentication failed"}]
/// [{"ev":"status","status":"max_connections","message":"Maximum number of websocket connections exceeded. ..."}]
/// ```
fn status(ev: &Object<'_>) -> Result<ControlEvent, RejectReason> {
    let [status, message] = fields(ev, &["status", "message"])?;
    let status = string(present(status), "status")?.to_cow();
    let message = match present(message) {
        Some(Value::String(s)) => s.to_cow().into_owned(),
        _ => String::new(),
    };
    Ok(match status.as_ref() {
        // Polygon's first protocol answered `auth` with `success` too.
        "success" if message == "authenticated" => ControlEvent::Info {
            id: None,
            what: "status",
        },
        "success" => ControlEvent::SubscribeAck { id: None },
        "connected" | "auth_success" => ControlEvent::Info {
            id: None,
            what: "status",
        },
        "auth_failed" | "error" | "max_connections" => {
            let subject = topic_named(&message);
            ControlEvent::VenueError {
                code: 0,
                message,
                id: None,
                subject,
            }
        }
        _ => ControlEvent::Info {
            id: None,
            what: "status",
        },
    })
}

/// The first `T.XXX`-style topic a message names.
fn topic_named(message: &str) -> Option<String> {
    message
        .split(|c: char| c.is_whitespace() || c == ',' || c == ':' || c == '"')
        .find(|w| w.len() > 2 && w.as_bytes()[1] == b'.' && w.as_bytes()[0].is_ascii_uppercase())
        .map(str::to_owned)
}

/// `{"action":"subscribe","params":"T.AAPL,Q.AAPL"}`
fn request(action: &str, subs: &[Subscription]) -> Vec<String> {
    if subs.is_empty() {
        return Vec::new();
    }
    let mut params = String::new();
    for (i, s) in subs.iter().enumerate() {
        if i > 0 {
            params.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(params, "{}.{}", s.channel, s.symbol);
    }
    vec![format!(
        r#"{{"action":"{action}","params":{}}}"#,
        json::quote(&params)
    )]
}

impl VenueAdapter for PolygonAdapter {
    fn venue(&self) -> u8 {
        self.base.venue
    }

    fn parse(
        &mut self,
        frame: &[u8],
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason> {
        self.base.check_len(frame)?;
        match json::parse(frame).map_err(|_| RejectReason::MalformedJson)? {
            Value::Array(events) => {
                for ev in events.iter() {
                    self.event(ev, recv_ts, out)?;
                }
                Ok(())
            }
            ev @ Value::Object(_) => self.event(ev, recv_ts, out),
            _ => Err(RejectReason::NotAnObject),
        }
    }

    /// Stocks trade only in market hours, and a quiet ticker may not print for minutes:
    /// 120 s.
    fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(120)
    }

    fn default_url(&self) -> &'static str {
        Self::DEFAULT_URL
    }

    /// `T` (trades) and `Q` (quotes).
    fn default_channels(&self) -> &'static [&'static str] {
        &["T", "Q"]
    }

    /// `{"action":"auth","params":"KEY"}`.
    fn login_messages(&self) -> Vec<String> {
        vec![format!(
            r#"{{"action":"auth","params":{}}}"#,
            json::quote(&self.api_key)
        )]
    }

    fn subscribe_messages(&self, subs: &[Subscription], _first_id: u64) -> Vec<String> {
        request("subscribe", subs)
    }

    fn unsubscribe_messages(&self, subs: &[Subscription], _first_id: u64) -> Vec<String> {
        request("unsubscribe", subs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_topics_in_messages() {
        assert_eq!(topic_named("subscribed to: T.MSFT"), Some("T.MSFT".into()));
        assert_eq!(topic_named("authentication failed"), None);
    }
}
