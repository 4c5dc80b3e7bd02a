//! Kraken WebSocket API v2: the `trade` and `ticker` channels, `heartbeat` and `status`,
//! and the method replies (`subscribe`, `unsubscribe`, `pong`).
//!
//! Sources (Kraken's own documentation, WebSocket v2):
//! - Trade: <https://docs.kraken.com/api/docs/websocket-v2/trade>
//! - Ticker: <https://docs.kraken.com/api/docs/websocket-v2/ticker>
//! - Heartbeat, status, ping: <https://docs.kraken.com/api/docs/websocket-v2/heartbeat>,
//!   <https://docs.kraken.com/api/docs/websocket-v2/status>,
//!   <https://docs.kraken.com/api/docs/websocket-v2/ping>
//! - The same pages at their newer address, whose ticker example carries `timestamp`:
//!   <https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/ticker> (and
//!   `.../trade`)
//!
//! Normalization:
//! - Prices and sizes are JSON *numbers* (`"price":0.5117`, `"qty":40.0`) whose exact
//!   digits matter: they are read from the number's text, digit by digit, never through a
//!   float, so `0.1` is exactly 0.1 and `1e-05` exactly 0.00001.
//! - `side` is the taker's side ("The side of the taker order"); `trade_id` is an integer
//!   "sequence number, unique per book": consecutive per pair, so trades carry no
//!   `trade_flags` and the aggregator can see gaps.
//! - Times are RFC 3339 text (`2023-09-25T07:49:37.708706Z`) to ns. The ticker had no
//!   time in the first v2 format and has a `timestamp` now: a quote gets its `timestamp`
//!   when present, else the receive time. Quotes carry no update id (0).
//! - `trade` and `ticker` messages hold a `data` array: every element is a record, in
//!   order; `snapshot` trades (the recent trades sent after subscribing with
//!   `snapshot:true`) are real trades too, and their ids let the aggregator drop the ones
//!   it has seen.
//! - `status` carries a `connection_id` beyond `i64` (a `u64`): it is never parsed as a
//!   number here, only skipped.
//! - Method replies: a successful `subscribe`/`unsubscribe` is an acknowledgement with
//!   its `req_id`, a failed one a venue error naming the refused `symbol`; `pong` answers
//!   the client's `ping`. `heartbeat` is a heartbeat, `status` information; other
//!   channels (`book`, `ohlc`, ...) and messages with neither `method` nor `channel` are
//!   ignored and counted.
//! - Requests: one `subscribe`/`unsubscribe` per channel listing its symbols, with
//!   `req_id`s from `first_id`; subscriptions ask for `snapshot:false` (no replay of old
//!   trades or a stale ticker) and, on `ticker`, `event_trigger:bbo` (a quote on every
//!   best bid/offer change, not only on trades). Kraken sends `heartbeat` itself, so no
//!   client ping is needed ([`VenueAdapter::keepalive`] is `None`).

use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::SymbolTable;

use super::fields::{decimal_num, fields, present, string, time_rfc3339, u64_num};
use super::json::{self, Object, Value};
use super::{AdapterBase, AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter};

/// The Kraken v2 adapter. See the [module documentation](self) for the mapping.
pub struct KrakenAdapter {
    base: AdapterBase,
}

impl KrakenAdapter {
    /// Frames longer than this are rejected by default.
    pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;
    /// Kraken's public WebSocket v2 endpoint.
    pub const DEFAULT_URL: &'static str = "wss://ws.kraken.com/v2";

    /// An adapter writing `venue_id` into its records, knowing `symbols` of that venue.
    pub fn new(venue_id: u8, symbols: &SymbolTable) -> Self {
        KrakenAdapter {
            base: AdapterBase::new(venue_id, symbols, Self::DEFAULT_MAX_FRAME_LEN),
        }
    }

    /// Rejects frames longer than `len` bytes.
    pub fn with_max_frame_len(mut self, len: usize) -> Self {
        self.base.max_frame_len = len;
        self
    }

    /// A `trade` element:
    ///
    /// ```json
    /// {"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell",
    ///  "price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,
    ///  "timestamp":"2023-09-25T07:49:37.708706Z"}]}
    /// ```
    fn trade(&self, item: Object<'_>, recv_ts: i64) -> Result<TradeRecord, RejectReason> {
        let [symbol, side, price, qty, id, ts] = fields(
            &item,
            &["symbol", "side", "price", "qty", "trade_id", "timestamp"],
        )?;
        let symbol = self.base.symbol(symbol, "symbol")?;
        let side = match string(present(side), "side")?.to_cow().as_ref() {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            _ => return Err(RejectReason::WrongType("side")),
        };
        Ok(TradeRecord::new(
            self.base.venue,
            symbol,
            time_rfc3339(present(ts), "timestamp")?,
            recv_ts,
            decimal_num(present(price), "price", false)?,
            decimal_num(present(qty), "qty", true)?,
            side,
            u64_num(present(id), "trade_id")?,
        ))
    }

    /// A `ticker` element (other fields ignored):
    ///
    /// ```json
    /// {"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,
    ///  "bid_qty":740.0,"ask":0.10036,"ask_qty":1361.44813783,"last":0.10035,
    ///  "volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,
    ///  "change":-0.00017,"change_pct":-0.17}]}
    /// ```
    fn ticker(&self, item: Object<'_>, recv_ts: i64) -> Result<QuoteRecord, RejectReason> {
        let [symbol, bid, bid_qty, ask, ask_qty, ts] = fields(
            &item,
            &["symbol", "bid", "bid_qty", "ask", "ask_qty", "timestamp"],
        )?;
        let symbol = self.base.symbol(symbol, "symbol")?;
        let exch_ts = match present(ts) {
            Some(ts) => time_rfc3339(Some(ts), "timestamp")?,
            None => recv_ts,
        };
        Ok(QuoteRecord::new(
            self.base.venue,
            symbol,
            exch_ts,
            recv_ts,
            decimal_num(present(bid), "bid", false)?,
            decimal_num(present(bid_qty), "bid_qty", true)?,
            decimal_num(present(ask), "ask", false)?,
            decimal_num(present(ask_qty), "ask_qty", true)?,
            0,
        ))
    }
}

/// A method reply:
///
/// ```json
/// {"method":"subscribe","req_id":1,"result":{"channel":"ticker","snapshot":true,"symbol":"ALGO/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}
/// {"error":"Currency pair not supported ALGO/XXX","method":"subscribe","req_id":1,"success":false,"symbol":"ALGO/XXX","time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}
/// {"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}
/// ```
fn reply(obj: &Object<'_>, method: &str) -> Result<ControlEvent, RejectReason> {
    let [req_id, success, error, symbol] = fields(obj, &["req_id", "success", "error", "symbol"])?;
    let id = match present(req_id) {
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    let ok = match present(success) {
        None => true,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(RejectReason::WrongType("success")),
    };
    let text = |v: Option<Value<'_>>| match present(v) {
        Some(Value::String(s)) => Some(s.to_cow().into_owned()),
        _ => None,
    };
    Ok(match method {
        "pong" => ControlEvent::Pong,
        _ if !ok => ControlEvent::VenueError {
            code: 0,
            message: text(error).unwrap_or_default(),
            id,
            subject: text(symbol),
        },
        "subscribe" | "unsubscribe" => ControlEvent::SubscribeAck { id },
        _ => ControlEvent::Info { id, what: "reply" },
    })
}

fn ignored(what: &'static str) -> AdapterEvent {
    AdapterEvent::Control(ControlEvent::Ignored { what })
}

/// One request per channel, every symbol of that channel in it:
/// `{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"],"snapshot":false},"req_id":1}`.
fn requests(method: &str, subs: &[Subscription], first_id: u64) -> Vec<String> {
    let mut channels: Vec<&str> = Vec::new();
    for s in subs {
        if !channels.contains(&s.channel.as_str()) {
            channels.push(&s.channel);
        }
    }
    channels
        .iter()
        .zip(first_id..)
        .map(|(channel, id)| {
            let symbols: Vec<String> = subs
                .iter()
                .filter(|s| s.channel == *channel)
                .map(|s| json::quote(&s.symbol))
                .collect();
            let snapshot = match (method, *channel) {
                ("subscribe", "ticker") => r#","event_trigger":"bbo","snapshot":false"#,
                ("subscribe", _) => r#","snapshot":false"#,
                _ => "",
            };
            format!(
                r#"{{"method":"{method}","params":{{"channel":{},"symbol":[{}]{snapshot}}},"req_id":{id}}}"#,
                json::quote(channel),
                symbols.join(",")
            )
        })
        .collect()
}

impl VenueAdapter for KrakenAdapter {
    fn venue(&self) -> u8 {
        self.base.venue
    }

    fn parse(
        &mut self,
        frame: &[u8],
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason> {
        let top = self.base.object(frame)?;
        let [channel, method, data] = fields(&top, &["channel", "method", "data"])?;
        if let Some(method) = present(method) {
            let Value::String(method) = method else {
                return Err(RejectReason::WrongType("method"));
            };
            out(AdapterEvent::Control(reply(&top, &method.to_cow())?));
            return Ok(());
        }
        let Some(channel) = present(channel) else {
            out(ignored("unrecognized"));
            return Ok(());
        };
        let Value::String(channel) = channel else {
            return Err(RejectReason::WrongType("channel"));
        };
        let trade = match channel.to_cow().as_ref() {
            "trade" => true,
            "ticker" => false,
            "heartbeat" => {
                out(AdapterEvent::Control(ControlEvent::Heartbeat));
                return Ok(());
            }
            "status" => {
                out(AdapterEvent::Control(ControlEvent::Info {
                    id: None,
                    what: "status",
                }));
                return Ok(());
            }
            _ => {
                out(ignored("unknown_channel"));
                return Ok(());
            }
        };
        let Some(Value::Array(items)) = present(data) else {
            return Err(match present(data) {
                None => RejectReason::MissingField("data"),
                Some(_) => RejectReason::WrongType("data"),
            });
        };
        for item in items.iter() {
            let Value::Object(item) = item else {
                return Err(RejectReason::WrongType("data"));
            };
            if trade {
                out(AdapterEvent::Trade(self.trade(item, recv_ts)?));
            } else {
                out(AdapterEvent::Quote(self.ticker(item, recv_ts)?));
            }
        }
        Ok(())
    }

    fn default_url(&self) -> &'static str {
        Self::DEFAULT_URL
    }

    /// `trade` and `ticker`; ticker subscriptions ask for `"event_trigger":"bbo"`, so a
    /// quote comes on every change of the best bid or offer (Kraken's default is on
    /// trades).
    fn default_channels(&self) -> &'static [&'static str] {
        &["trade", "ticker"]
    }

    fn subscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String> {
        requests("subscribe", subs, first_id)
    }

    fn unsubscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String> {
        requests("unsubscribe", subs, first_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_group_symbols_by_channel() {
        let subs = Subscription::product(&["trade", "ticker"], &["BTC/USD", "ETH/USD"]);
        assert_eq!(
            requests("subscribe", &subs, 3),
            vec![
                r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","ETH/USD"],"snapshot":false},"req_id":3}"#,
                r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD","ETH/USD"],"event_trigger":"bbo","snapshot":false},"req_id":4}"#,
            ]
        );
        assert_eq!(
            requests("unsubscribe", &subs[..1], 1),
            vec![
                r#"{"method":"unsubscribe","params":{"channel":"trade","symbol":["BTC/USD"]},"req_id":1}"#
            ]
        );
    }
}
