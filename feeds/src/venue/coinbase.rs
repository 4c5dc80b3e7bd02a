//! Coinbase Exchange (the former Coinbase Pro feed): the `matches` channel (`match` and
//! `last_match`), `ticker`, `heartbeat`, and the `subscriptions` and `error` replies.
//!
//! Sources (Coinbase's own documentation):
//! - WebSocket overview and subscribe: <https://docs.cdp.coinbase.com/exchange/docs/websocket-overview>
//! - Channels (`heartbeat`, `ticker`, `matches`): <https://docs.cdp.coinbase.com/exchange/docs/websocket-channels>
//!
//! Normalization:
//! - Prices and sizes are decimal strings; times are RFC 3339 with microseconds.
//! - `side` on a match is the *maker's* side ("if the side is sell this indicates the
//!   maker was a sell order and the match is considered an up-tick"): the aggressor is the
//!   other side, so `"side":"sell"` is [`Side::Buy`].
//! - `last_match` is the most recent match, sent once after subscribing: a snapshot, not a
//!   new trade. It gives no record (counted as ignored).
//! - Trade ids are integers consecutive per product; the quote's update id is the
//!   ticker's `sequence`.
//! - `subscriptions` acknowledges a subscribe or unsubscribe; `error` is a venue error
//!   naming the refused product or channel when its `reason` does (`BTC-XXX is not a
//!   valid product`); `message` and `reason` are joined as the error's text.
//! - The feed needs no client pings and no login for these public channels; the
//!   subscribe request adds `heartbeat` so that a quiet product still shows life.

use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::SymbolTable;

use super::fields::{decimal_str, fields, present, string, time_rfc3339, u64_num};
use super::json::{self, Object, Value};
use super::{AdapterBase, AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter};

/// The Coinbase Exchange adapter. See the [module documentation](self) for the mapping.
pub struct CoinbaseAdapter {
    base: AdapterBase,
}

impl CoinbaseAdapter {
    /// Frames longer than this are rejected by default.
    pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;
    /// Coinbase Exchange's public market-data feed.
    pub const DEFAULT_URL: &'static str = "wss://ws-feed.exchange.coinbase.com";

    /// An adapter writing `venue_id` into its records, knowing `symbols` of that venue.
    pub fn new(venue_id: u8, symbols: &SymbolTable) -> Self {
        CoinbaseAdapter {
            base: AdapterBase::new(venue_id, symbols, Self::DEFAULT_MAX_FRAME_LEN),
        }
    }

    /// Rejects frames longer than `len` bytes.
    pub fn with_max_frame_len(mut self, len: usize) -> Self {
        self.base.max_frame_len = len;
        self
    }

    /// A `match`:
    ///
    /// ```json
    /// {"type":"match","trade_id":10,"sequence":50,
    ///  "maker_order_id":"ac928c66-ca53-498f-9c13-a110027a60e8",
    ///  "taker_order_id":"132fb6ae-456b-4654-b4e0-d681ac05cea1",
    ///  "time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD",
    ///  "size":"5.23512","price":"400.23","side":"sell"}
    /// ```
    fn trade(&self, obj: &Object<'_>, recv_ts: i64) -> Result<TradeRecord, RejectReason> {
        let [id, time, product, size, price, side] = fields(
            obj,
            &["trade_id", "time", "product_id", "size", "price", "side"],
        )?;
        let symbol = self.base.symbol(product, "product_id")?;
        // The maker's side: the taker did the opposite.
        let side = match string(present(side), "side")?.to_cow().as_ref() {
            "sell" => Side::Buy,
            "buy" => Side::Sell,
            _ => return Err(RejectReason::WrongType("side")),
        };
        Ok(TradeRecord::new(
            self.base.venue,
            symbol,
            time_rfc3339(present(time), "time")?,
            recv_ts,
            decimal_str(present(price), "price", false)?,
            decimal_str(present(size), "size", true)?,
            side,
            u64_num(present(id), "trade_id")?,
        ))
    }

    /// A `ticker` (other fields ignored):
    ///
    /// ```json
    /// {"type":"ticker","sequence":37475248783,"product_id":"ETH-USD","price":"1285.22",
    ///  "open_24h":"1310.79","volume_24h":"245532.79269678","low_24h":"1280.52",
    ///  "high_24h":"1313.8","volume_30d":"9788783.60117027","best_bid":"1285.04",
    ///  "best_bid_size":"0.46688654","best_ask":"1285.27","best_ask_size":"1.56637040",
    ///  "side":"buy","time":"2022-10-19T23:28:22.061769Z","trade_id":370843401,
    ///  "last_size":"11.4396987"}
    /// ```
    fn ticker(&self, obj: &Object<'_>, recv_ts: i64) -> Result<QuoteRecord, RejectReason> {
        let [seq, product, bid, bid_size, ask, ask_size, time] = fields(
            obj,
            &[
                "sequence",
                "product_id",
                "best_bid",
                "best_bid_size",
                "best_ask",
                "best_ask_size",
                "time",
            ],
        )?;
        let symbol = self.base.symbol(product, "product_id")?;
        Ok(QuoteRecord::new(
            self.base.venue,
            symbol,
            time_rfc3339(present(time), "time")?,
            recv_ts,
            decimal_str(present(bid), "best_bid", false)?,
            decimal_str(present(bid_size), "best_bid_size", true)?,
            decimal_str(present(ask), "best_ask", false)?,
            decimal_str(present(ask_size), "best_ask_size", true)?,
            u64_num(present(seq), "sequence")?,
        ))
    }
}

/// An `error` reply:
///
/// ```json
/// {"type":"error","message":"Failed to subscribe","reason":"BTC-XXX is not a valid product"}
/// ```
fn error(obj: &Object<'_>) -> Result<ControlEvent, RejectReason> {
    let [message, reason] = fields(obj, &["message", "reason"])?;
    let text = |v: Option<Value<'_>>| match present(v) {
        Some(Value::String(s)) => s.to_cow().into_owned(),
        _ => String::new(),
    };
    let (message, reason) = (text(message), text(reason));
    let subject = refused(&reason);
    let message = if reason.is_empty() {
        message
    } else {
        format!("{message}: {reason}")
    };
    Ok(ControlEvent::VenueError {
        code: 0,
        message,
        id: None,
        subject,
    })
}

/// The product or channel a `reason` refuses: `BTC-XXX is not a valid product`,
/// `level9 is not a valid channel`.
fn refused(reason: &str) -> Option<String> {
    [" is not a valid product", " is not a valid channel"]
        .iter()
        .find_map(|tail| reason.split_once(tail))
        .and_then(|(head, _)| head.split_whitespace().last())
        .map(str::to_owned)
}

fn ignored(what: &'static str) -> AdapterEvent {
    AdapterEvent::Control(ControlEvent::Ignored { what })
}

/// `{"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches","ticker","heartbeat"]}`:
/// one request with every product and channel (Coinbase ids no requests), plus the
/// `heartbeat` channel on subscribe, so a quiet product still shows life.
fn requests(kind: &str, subs: &[Subscription]) -> Vec<String> {
    if subs.is_empty() {
        return Vec::new();
    }
    let mut products: Vec<&str> = Vec::new();
    let mut channels: Vec<&str> = Vec::new();
    for s in subs {
        if !products.contains(&s.symbol.as_str()) {
            products.push(&s.symbol);
        }
        if !channels.contains(&s.channel.as_str()) {
            channels.push(&s.channel);
        }
    }
    if kind == "subscribe" && !channels.contains(&"heartbeat") {
        channels.push("heartbeat");
    }
    let list = |v: &[&str]| {
        v.iter()
            .map(|s| json::quote(s))
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![format!(
        r#"{{"type":"{kind}","product_ids":[{}],"channels":[{}]}}"#,
        list(&products),
        list(&channels)
    )]
}

impl VenueAdapter for CoinbaseAdapter {
    fn venue(&self) -> u8 {
        self.base.venue
    }

    fn parse(
        &mut self,
        frame: &[u8],
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason> {
        let obj = self.base.object(frame)?;
        let [kind] = fields(&obj, &["type"])?;
        let kind = string(present(kind), "type")?.to_cow();
        match kind.as_ref() {
            "match" => out(AdapterEvent::Trade(self.trade(&obj, recv_ts)?)),
            "last_match" => out(ignored("last_match")),
            "ticker" => out(AdapterEvent::Quote(self.ticker(&obj, recv_ts)?)),
            "heartbeat" => out(AdapterEvent::Control(ControlEvent::Heartbeat)),
            "subscriptions" => out(AdapterEvent::Control(ControlEvent::SubscribeAck {
                id: None,
            })),
            "error" => out(AdapterEvent::Control(error(&obj)?)),
            _ => out(ignored("unknown_type")),
        }
        Ok(())
    }

    fn default_url(&self) -> &'static str {
        Self::DEFAULT_URL
    }

    /// `matches` and `ticker`.
    fn default_channels(&self) -> &'static [&'static str] {
        &["matches", "ticker"]
    }

    fn subscribe_messages(&self, subs: &[Subscription], _first_id: u64) -> Vec<String> {
        requests("subscribe", subs)
    }

    fn unsubscribe_messages(&self, subs: &[Subscription], _first_id: u64) -> Vec<String> {
        requests("unsubscribe", subs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_with_heartbeats() {
        let subs = Subscription::product(&["matches", "ticker"], &["BTC-USD", "ETH-USD"]);
        assert_eq!(
            requests("subscribe", &subs),
            vec![
                r#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channels":["matches","ticker","heartbeat"]}"#
            ]
        );
        assert_eq!(
            requests("unsubscribe", &subs[..1]),
            vec![r#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channels":["matches"]}"#]
        );
        assert!(requests("subscribe", &[]).is_empty());
    }

    #[test]
    fn names_the_refused_product_or_channel() {
        assert_eq!(
            refused("BTC-XXX is not a valid product"),
            Some("BTC-XXX".into())
        );
        assert_eq!(
            refused("level9 is not a valid channel"),
            Some("level9".into())
        );
        assert_eq!(refused(" is not a valid product"), None);
        assert_eq!(refused("Failed to subscribe"), None);
    }
}
