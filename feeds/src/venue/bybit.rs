//! Bybit v5 spot public streams: `publicTrade.<symbol>` and `orderbook.1.<symbol>` (the
//! best bid and offer), the `op` replies, and Bybit's application-level ping.
//!
//! Sources (Bybit's own documentation, V5 API):
//! - Connect, subscribe, ping/pong: <https://bybit-exchange.github.io/docs/v5/ws/connect>
//! - Trade: <https://bybit-exchange.github.io/docs/v5/websocket/public/trade>
//! - Orderbook: <https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>
//! - Ticker: <https://bybit-exchange.github.io/docs/v5/websocket/public/ticker> (the spot
//!   ticker carries no bid or ask, so the best bid/offer comes from `orderbook.1`)
//!
//! Normalization:
//! - Prices and sizes are decimal strings; times (`T`, `ts`) are milliseconds.
//! - `S` on a trade is the taker's side (`Buy`/`Sell`).
//! - Trade ids `i` are strings: digits on spot, increasing but not consecutive
//!   ([`trade_flags::ID_NOT_CONSECUTIVE`]); anything else (the UUIDs of derivatives) gives
//!   trade id 0 and [`trade_flags::ID_UNORDERED`].
//! - `orderbook.1` is documented as snapshots only for spot level-1 data (the whole
//!   one-level book each time, an empty list meaning an empty side, re-sent with the same
//!   `u` after 3 s without change). `delta`s, the format of the other depths that carries
//!   only what changed, are applied too: a side absent or empty in a delta keeps its last
//!   level, an entry of size `0` at the kept price empties the side, any other entry
//!   replaces it. The adapter keeps the last best bid and ask per symbol (preallocated by
//!   symbol id) and emits a full quote whenever both sides are known (an empty side is
//!   counted as ignored `one_sided_book`); the quote's update id is `u`.
//! - Replies `{"success":..,"ret_msg":..,"op":..}`: a successful `subscribe`/`unsubscribe`
//!   is an acknowledgement (a `req_id` of digits is echoed as its id), a failed one a
//!   venue error naming the refused topic, a `ping` reply (`ret_msg":"pong"` on spot,
//!   `"op":"pong"` elsewhere) is [`ControlEvent::Pong`]. Bybit drops a connection
//!   without traffic; [`VenueAdapter::keepalive`] sends `{"op":"ping"}` every 20 s.

use std::time::Duration;

use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::SymbolTable;

use super::fields::{decimal_str, fields, object, present, required, string, time_num, u64_num};
use super::json::{self, Object, Value};
use super::{
    AdapterBase, AdapterEvent, ControlEvent, Keepalive, RejectReason, Subscription, VenueAdapter,
};

/// Best (price, size) of one side of a book.
type Level = Option<(i64, i64)>;

/// The Bybit v5 spot adapter. See the [module documentation](self) for the mapping.
pub struct BybitAdapter {
    base: AdapterBase,
    /// Last best bid and ask per symbol id, from `orderbook.1`.
    books: Vec<[Level; 2]>,
}

impl BybitAdapter {
    /// Frames longer than this are rejected by default.
    pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;
    /// Bybit's public spot endpoint.
    pub const DEFAULT_URL: &'static str = "wss://stream.bybit.com/v5/public/spot";
    /// Topics per request: Bybit's spot limit.
    pub const MAX_ARGS_PER_REQUEST: usize = 10;

    /// An adapter writing `venue_id` into its records, knowing `symbols` of that venue.
    pub fn new(venue_id: u8, symbols: &SymbolTable) -> Self {
        BybitAdapter {
            base: AdapterBase::new(venue_id, symbols, Self::DEFAULT_MAX_FRAME_LEN),
            books: vec![[None, None]; symbols.len()],
        }
    }

    /// Rejects frames longer than `len` bytes.
    pub fn with_max_frame_len(mut self, len: usize) -> Self {
        self.base.max_frame_len = len;
        self
    }

    fn symbol(&self, name: &str) -> Result<u32, RejectReason> {
        self.base
            .symbols
            .get(name.as_bytes())
            .ok_or(RejectReason::UnknownSymbol)
    }

    /// A `publicTrade` push (a batch, oldest first):
    ///
    /// ```json
    /// {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,
    ///  "data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50",
    ///           "L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}
    /// ```
    fn trades(
        &self,
        data: Option<Value<'_>>,
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason> {
        let Value::Array(items) = required(present(data), "data")? else {
            return Err(RejectReason::WrongType("data"));
        };
        for item in items.iter() {
            let Value::Object(item) = item else {
                return Err(RejectReason::WrongType("data"));
            };
            let [t, s, side, v, p, i] = fields(&item, &["T", "s", "S", "v", "p", "i"])?;
            let symbol = self.symbol(&string(present(s), "s")?.to_cow())?;
            let exch_ts = time_num(present(t), "T", 1_000_000)?;
            let side = match string(present(side), "S")?.to_cow().as_ref() {
                "Buy" => Side::Buy,
                "Sell" => Side::Sell,
                _ => return Err(RejectReason::WrongType("S")),
            };
            let size = decimal_str(present(v), "v", true)?;
            let price = decimal_str(present(p), "p", false)?;
            let id = string(present(i), "i")?.to_cow();
            let (trade_id, flags) = match json::parse_u64(id.as_bytes()) {
                Some(n) => (n, trade_flags::ID_NOT_CONSECUTIVE),
                None => (0, trade_flags::ID_UNORDERED),
            };
            out(AdapterEvent::Trade(
                TradeRecord::new(
                    self.base.venue,
                    symbol,
                    exch_ts,
                    recv_ts,
                    price,
                    size,
                    side,
                    trade_id,
                )
                .with_flags(flags),
            ));
        }
        Ok(())
    }

    /// An `orderbook.1` push. Bybit documents level-1 data as snapshots only (each one the
    /// whole one-level book; an empty list is an empty side), re-sent with the same `u`
    /// after 3 s without change:
    ///
    /// ```json
    /// {"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1672304484978,
    ///  "data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],
    ///          "u":18521288,"seq":7961638724},"cts":1672304484976}
    /// ```
    ///
    /// A `delta` (the other depths' format, which older level-1 feeds also sent) is applied
    /// by the documented rules to the one level kept per side: an entry of size `0` deletes
    /// the level at its price, any other entry replaces the level; a side absent or empty
    /// in the delta is unchanged:
    ///
    /// ```json
    /// {"topic":"orderbook.1.BTCUSDT","type":"delta","ts":1672304484990,
    ///  "data":{"s":"BTCUSDT","b":[["16494.00","0.010"]],"a":[],"u":18521289,"seq":7961638725}}
    /// ```
    ///
    /// The book changes only when the whole message is valid.
    fn book(
        &mut self,
        kind: Option<Value<'_>>,
        ts: Option<Value<'_>>,
        data: Option<Value<'_>>,
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason> {
        let snapshot = match string(present(kind), "type")?.to_cow().as_ref() {
            "snapshot" => true,
            "delta" => false,
            _ => return Err(RejectReason::WrongType("type")),
        };
        let exch_ts = time_num(present(ts), "ts", 1_000_000)?;
        let data = object(present(data), "data")?;
        let [s, b, a, u] = fields(&data, &["s", "b", "a", "u"])?;
        let symbol = self.symbol(&string(present(s), "s")?.to_cow())?;
        let update_id = u64_num(present(u), "u")?;
        let Some(book) = self.books.get_mut(symbol as usize) else {
            return Err(RejectReason::UnknownSymbol);
        };
        let (bid, ask) = if snapshot {
            (
                side_update(None, present(b), "b")?,
                side_update(None, present(a), "a")?,
            )
        } else {
            (
                side_update(book[0], present(b), "b")?,
                side_update(book[1], present(a), "a")?,
            )
        };
        *book = [bid, ask];
        match *book {
            [Some((bid, bid_size)), Some((ask, ask_size))] => {
                out(AdapterEvent::Quote(QuoteRecord::new(
                    self.base.venue,
                    symbol,
                    exch_ts,
                    recv_ts,
                    bid,
                    bid_size,
                    ask,
                    ask_size,
                    update_id,
                )));
            }
            _ => out(ignored("one_sided_book")),
        }
        Ok(())
    }
}

/// One side of the book after applying the entries `v` (`[[price, size], ...]`, each
/// checked) to `level`, in order: size `0` deletes the level at that price, any other
/// entry replaces the level. A snapshot starts from `None`; an absent side changes
/// nothing.
fn side_update(
    mut level: Level,
    v: Option<Value<'_>>,
    field: &'static str,
) -> Result<Level, RejectReason> {
    let Some(v) = v else {
        return Ok(level);
    };
    let Value::Array(entries) = v else {
        return Err(RejectReason::WrongType(field));
    };
    for entry in entries.iter() {
        let Value::Array(entry) = entry else {
            return Err(RejectReason::WrongType(field));
        };
        let mut it = entry.iter();
        let (Some(px), Some(sz)) = (it.next(), it.next()) else {
            return Err(RejectReason::MissingField(field));
        };
        let price = decimal_str(Some(px), field, false)?;
        let size = decimal_str(Some(sz), field, true)?;
        if size != 0 {
            level = Some((price, size));
        } else if level.is_some_and(|(p, _)| p == price) {
            level = None;
        }
    }
    Ok(level)
}

/// A reply to a request:
///
/// ```json
/// {"success":true,"ret_msg":"subscribe","conn_id":"2324d924-aa4d-45b0-a858-7b8be29ab52b","req_id":"10001","op":"subscribe"}
/// {"success":false,"ret_msg":"Invalid symbol :[publicTrade.BTCUSDX]","conn_id":"..","req_id":"","op":"subscribe"}
/// {"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}
/// {"req_id":"100001","op":"pong","args":["1661486001089"],"conn_id":"cd8hhn2fmel0lcm3u7f0-31fh"}
/// ```
fn reply(obj: &Object<'_>) -> Result<ControlEvent, RejectReason> {
    let [op, success, ret_msg, req_id] = fields(obj, &["op", "success", "ret_msg", "req_id"])?;
    let op = string(present(op), "op")?.to_cow();
    let message = match present(ret_msg) {
        Some(Value::String(s)) => s.to_cow().into_owned(),
        _ => String::new(),
    };
    let id = match present(req_id) {
        Some(Value::String(s)) => json::parse_u64(s.to_cow().as_bytes()),
        _ => None,
    };
    let ok = match present(success) {
        None => true,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(RejectReason::WrongType("success")),
    };
    Ok(match op.as_ref() {
        "pong" => ControlEvent::Pong,
        "ping" if ok => ControlEvent::Pong,
        "subscribe" | "unsubscribe" if ok => ControlEvent::SubscribeAck { id },
        _ if !ok => {
            let subject = topic_named(&message);
            ControlEvent::VenueError {
                code: 0,
                message,
                id,
                subject,
            }
        }
        _ => ControlEvent::Info { id, what: "reply" },
    })
}

/// The topic or symbol a Bybit error names: `Invalid symbol :[publicTrade.BTCUSDX]` →
/// `publicTrade.BTCUSDX`; `error:handler not found,topic:orderbook.1.X` → the topic.
fn topic_named(message: &str) -> Option<String> {
    let start = message
        .find('[')
        .map(|i| i + 1)
        .or_else(|| message.find("topic:").map(|i| i + "topic:".len()))?;
    let rest = &message[start..];
    let end = rest.find([']', ',', ' ']).unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_owned())
}

fn ignored(what: &'static str) -> AdapterEvent {
    AdapterEvent::Control(ControlEvent::Ignored { what })
}

/// `{"req_id":"1","op":"subscribe","args":["publicTrade.BTCUSDT","orderbook.1.BTCUSDT"]}`
fn requests(op: &str, subs: &[Subscription], first_id: u64) -> Vec<String> {
    subs.chunks(BybitAdapter::MAX_ARGS_PER_REQUEST)
        .zip(first_id..)
        .map(|(chunk, id)| {
            let args: Vec<String> = chunk
                .iter()
                .map(|s| json::quote(&format!("{}.{}", s.channel, s.symbol)))
                .collect();
            format!(
                r#"{{"req_id":"{id}","op":"{op}","args":[{}]}}"#,
                args.join(",")
            )
        })
        .collect()
}

impl VenueAdapter for BybitAdapter {
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
        let [topic, kind, ts, data, op] = fields(&top, &["topic", "type", "ts", "data", "op"])?;
        if let Some(topic) = present(topic) {
            let Value::String(topic) = topic else {
                return Err(RejectReason::WrongType("topic"));
            };
            let topic = topic.to_cow();
            if topic.starts_with("publicTrade.") {
                return self.trades(data, recv_ts, out);
            }
            if topic.starts_with("orderbook.1.") {
                return self.book(kind, ts, data, recv_ts, out);
            }
            out(ignored("unknown_topic"));
            return Ok(());
        }
        if present(op).is_some() {
            out(AdapterEvent::Control(reply(&top)?));
            return Ok(());
        }
        out(ignored("unrecognized"));
        Ok(())
    }

    fn default_url(&self) -> &'static str {
        Self::DEFAULT_URL
    }

    /// `publicTrade` and `orderbook.1`.
    fn default_channels(&self) -> &'static [&'static str] {
        &["publicTrade", "orderbook.1"]
    }

    fn subscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String> {
        requests("subscribe", subs, first_id)
    }

    fn unsubscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String> {
        requests("unsubscribe", subs, first_id)
    }

    /// `{"op":"ping"}` every 20 s, as Bybit recommends.
    fn keepalive(&self) -> Option<Keepalive> {
        Some(Keepalive {
            interval: Duration::from_secs(20),
            message: r#"{"op":"ping"}"#.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_refused_topic() {
        assert_eq!(
            topic_named("Invalid symbol :[publicTrade.BTCUSDX]"),
            Some("publicTrade.BTCUSDX".into())
        );
        assert_eq!(
            topic_named("error:handler not found,topic:orderbook.1.XYZ"),
            Some("orderbook.1.XYZ".into())
        );
        assert_eq!(topic_named("error:param error"), None);
    }
}
