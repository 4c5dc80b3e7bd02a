//! OKX v5 public channels: `trades` (and `trades-all`), `bbo-tbt` and `tickers`, with the
//! `event` replies of a public connection and OKX's text keepalive.
//!
//! Sources (OKX's own documentation, API v5):
//! - WebSocket overview, connect, subscribe, unsubscribe, `ping`/`pong`, notices:
//!   <https://www.okx.com/docs-v5/en/#overview-websocket>
//! - Trades channel: <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-trades-channel>
//! - Order book channel (`bbo-tbt`): <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel>
//! - Tickers channel: <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-tickers-channel>
//!
//! Normalization:
//! - Prices, sizes, times and trade ids are strings (`"px":"42219.9"`, `"ts":"1630048897897"`,
//!   `"tradeId":"130639474"`); decimals are parsed exactly, times are milliseconds.
//! - `side` on a trade is the taker's side: `buy` is [`Side::Buy`].
//! - Trade ids increase per instrument but skip values (the `trades` channel aggregates
//!   fills of one taker order and reports `count`), so trades carry
//!   [`trade_flags::ID_NOT_CONSECUTIVE`].
//! - `bbo-tbt` gives the best level of each side as `[price, size, "0", orders]`; its
//!   `seqId` becomes the quote's update id. `tickers` carries `bidPx`/`bidSz`/`askPx`/
//!   `askSz`. A book with an empty side gives no quote (counted as ignored).
//! - The symbol is the push's `arg.instId` (`BTC-USDT`).
//! - `null` means the same as an absent field.
//! - Replies: `{"event":"subscribe"|"unsubscribe",...}` are acknowledgements (the request
//!   `id`, when it is digits, is echoed back), `{"event":"error","code":"60012",...}` is a
//!   venue error naming the refused instrument, `{"event":"notice","code":"64008",...}`
//!   (service upgrade: the connection will close) is a server-shutdown notice. The text
//!   frame `pong` answers the client's text `ping`, which OKX requires within 30 s of
//!   silence ([`VenueAdapter::keepalive`]: every 25 s).

use std::time::Duration;

use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::SymbolTable;

use super::fields::{
    decimal_str, fields, object, present, required, string, time_str, u64_num, u64_str,
};
use super::json::{self, Array, Object, Value};
use super::{
    AdapterBase, AdapterEvent, ControlEvent, Keepalive, RejectReason, Subscription, VenueAdapter,
};

/// The OKX adapter. See the [module documentation](self) for the mapping.
pub struct OkxAdapter {
    base: AdapterBase,
}

impl OkxAdapter {
    /// Frames longer than this are rejected by default.
    pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;
    /// OKX's public market-data endpoint.
    pub const DEFAULT_URL: &'static str = "wss://ws.okx.com:8443/ws/v5/public";
    /// Subscriptions per request (OKX limits a request to 64 KiB of arguments).
    pub const MAX_ARGS_PER_REQUEST: usize = 100;

    /// An adapter writing `venue_id` into its records, knowing `symbols` of that venue.
    pub fn new(venue_id: u8, symbols: &SymbolTable) -> Self {
        OkxAdapter {
            base: AdapterBase::new(venue_id, symbols, Self::DEFAULT_MAX_FRAME_LEN),
        }
    }

    /// Rejects frames longer than `len` bytes.
    pub fn with_max_frame_len(mut self, len: usize) -> Self {
        self.base.max_frame_len = len;
        self
    }

    fn message(
        &self,
        frame: &[u8],
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason> {
        let Value::Object(top) = json::parse(frame).map_err(|_| RejectReason::MalformedJson)?
        else {
            return Err(RejectReason::NotAnObject);
        };
        let [event, arg, data, code, msg, id] =
            fields(&top, &["event", "arg", "data", "code", "msg", "id"])?;
        if let Some(event) = present(event) {
            let Value::String(event) = event else {
                return Err(RejectReason::WrongType("event"));
            };
            out(AdapterEvent::Control(reply(
                &event.to_cow(),
                present(code),
                present(msg),
                present(id),
                recv_ts,
            )?));
            return Ok(());
        }
        if present(data).is_none() {
            out(ignored("unrecognized"));
            return Ok(());
        }
        let arg = object(present(arg), "arg")?;
        let [channel, inst] = fields(&arg, &["channel", "instId"])?;
        let channel = string(present(channel), "channel")?.to_cow();
        let inst = string(present(inst), "instId")?.to_cow();
        let kind = match channel.as_ref() {
            "trades" | "trades-all" => Push::Trades,
            "bbo-tbt" => Push::Bbo,
            "tickers" => Push::Tickers,
            _ => {
                out(ignored("unknown_channel"));
                return Ok(());
            }
        };
        let symbol = self
            .base
            .symbols
            .get(inst.as_bytes())
            .ok_or(RejectReason::UnknownSymbol)?;
        let Some(Value::Array(data)) = present(data) else {
            return Err(RejectReason::WrongType("data"));
        };
        let cx = Cx {
            venue: self.base.venue,
            symbol,
            recv_ts,
        };
        for item in data.iter() {
            let Value::Object(item) = item else {
                return Err(RejectReason::WrongType("data"));
            };
            match kind {
                Push::Trades => out(AdapterEvent::Trade(cx.trade(item)?)),
                Push::Bbo => match cx.bbo(item)? {
                    Some(q) => out(AdapterEvent::Quote(q)),
                    None => out(ignored("one_sided_book")),
                },
                Push::Tickers => match cx.ticker(item)? {
                    Some(q) => out(AdapterEvent::Quote(q)),
                    None => out(ignored("one_sided_book")),
                },
            }
        }
        Ok(())
    }
}

/// The data channels this adapter normalizes.
#[derive(Clone, Copy)]
enum Push {
    Trades,
    Bbo,
    Tickers,
}

/// One push's context: the instrument resolved once for all its items.
struct Cx {
    venue: u8,
    symbol: u32,
    recv_ts: i64,
}

impl Cx {
    /// A `trades` item:
    ///
    /// ```json
    /// {"arg":{"channel":"trades","instId":"BTC-USDT"},
    ///  "data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306",
    ///           "side":"buy","ts":"1630048897897","count":"3"}]}
    /// ```
    fn trade(&self, item: Object<'_>) -> Result<TradeRecord, RejectReason> {
        let [id, px, sz, side, ts] = fields(&item, &["tradeId", "px", "sz", "side", "ts"])?;
        let trade_id = u64_str(present(id), "tradeId")?;
        let price = decimal_str(present(px), "px", false)?;
        let size = decimal_str(present(sz), "sz", true)?;
        let side = match string(present(side), "side")?.to_cow().as_ref() {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            _ => return Err(RejectReason::WrongType("side")),
        };
        let exch_ts = time_str(present(ts), "ts", 1_000_000)?;
        Ok(TradeRecord::new(
            self.venue,
            self.symbol,
            exch_ts,
            self.recv_ts,
            price,
            size,
            side,
            trade_id,
        )
        .with_flags(trade_flags::ID_NOT_CONSECUTIVE))
    }

    /// A `bbo-tbt` item (levels are `[price, size, deprecated "0", orders]`):
    ///
    /// ```json
    /// {"arg":{"channel":"bbo-tbt","instId":"BCH-USDT-SWAP"},
    ///  "data":[{"asks":[["111.06","55154","0","2"]],"bids":[["111.05","57745","0","2"]],
    ///           "ts":"1670324386802","seqId":363996337}]}
    /// ```
    fn bbo(&self, item: Object<'_>) -> Result<Option<QuoteRecord>, RejectReason> {
        let [asks, bids, ts, seq] = fields(&item, &["asks", "bids", "ts", "seqId"])?;
        let ask = best_level(present(asks), "asks")?;
        let bid = best_level(present(bids), "bids")?;
        let exch_ts = time_str(present(ts), "ts", 1_000_000)?;
        let update_id = match present(seq) {
            Some(v) => u64_num(Some(v), "seqId")?,
            None => 0,
        };
        let (Some((ask, ask_size)), Some((bid, bid_size))) = (ask, bid) else {
            return Ok(None);
        };
        Ok(Some(QuoteRecord::new(
            self.venue,
            self.symbol,
            exch_ts,
            self.recv_ts,
            bid,
            bid_size,
            ask,
            ask_size,
            update_id,
        )))
    }

    /// A `tickers` item (other fields ignored; an empty price means an empty side):
    ///
    /// ```json
    /// {"arg":{"channel":"tickers","instId":"BTC-USDT"},
    ///  "data":[{"instType":"SPOT","instId":"BTC-USDT","last":"9999.99","lastSz":"0.1",
    ///           "askPx":"9999.99","askSz":"11","bidPx":"8888.88","bidSz":"5",
    ///           "open24h":"9000","high24h":"10000","low24h":"8888.88","volCcy24h":"2222",
    ///           "vol24h":"2222","sodUtc0":"2222","sodUtc8":"2222","ts":"1597026383085"}]}
    /// ```
    fn ticker(&self, item: Object<'_>) -> Result<Option<QuoteRecord>, RejectReason> {
        let [bid_px, bid_sz, ask_px, ask_sz, ts] =
            fields(&item, &["bidPx", "bidSz", "askPx", "askSz", "ts"])?;
        let exch_ts = time_str(present(ts), "ts", 1_000_000)?;
        for (v, name) in [
            (bid_px, "bidPx"),
            (bid_sz, "bidSz"),
            (ask_px, "askPx"),
            (ask_sz, "askSz"),
        ] {
            if !matches!(present(v), None | Some(Value::String(_))) {
                return Err(RejectReason::WrongType(name));
            }
        }
        let empty = |v: Option<Value<'_>>| matches!(present(v), Some(Value::String(s)) if s.raw().is_empty());
        if empty(bid_px) || empty(ask_px) {
            return Ok(None);
        }
        Ok(Some(QuoteRecord::new(
            self.venue,
            self.symbol,
            exch_ts,
            self.recv_ts,
            decimal_str(present(bid_px), "bidPx", false)?,
            decimal_str(present(bid_sz), "bidSz", true)?,
            decimal_str(present(ask_px), "askPx", false)?,
            decimal_str(present(ask_sz), "askSz", true)?,
            0,
        )))
    }
}

/// The first level of a book side, `None` when the side is empty.
fn best_level(
    side: Option<Value<'_>>,
    field: &'static str,
) -> Result<Option<(i64, i64)>, RejectReason> {
    let Value::Array(levels) = required(side, field)? else {
        return Err(RejectReason::WrongType(field));
    };
    let Some(first) = levels.iter().next() else {
        return Ok(None);
    };
    let Value::Array(level) = first else {
        return Err(RejectReason::WrongType(field));
    };
    let (px, sz) = price_size(level).ok_or(RejectReason::MissingField(field))?;
    Ok(Some((
        decimal_str(Some(px), field, false)?,
        decimal_str(Some(sz), field, true)?,
    )))
}

fn price_size(level: Array<'_>) -> Option<(Value<'_>, Value<'_>)> {
    let mut it = level.iter();
    Some((it.next()?, it.next()?))
}

/// An `event` reply:
///
/// ```json
/// {"event":"subscribe","arg":{"channel":"trades","instId":"BTC-USDT"},"connId":"a4d3ae55"}
/// {"event":"error","code":"60012","msg":"Invalid request: {\"op\": \"subscribe\", \"args\":[{ \"channel\" : \"block-tickers\", \"instId\" : \"LTC-USD-200327\"}]}","connId":"a4d3ae55"}
/// {"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}
/// ```
fn reply(
    event: &str,
    code: Option<Value<'_>>,
    msg: Option<Value<'_>>,
    id: Option<Value<'_>>,
    recv_ts: i64,
) -> Result<ControlEvent, RejectReason> {
    let id = match id {
        Some(Value::String(s)) => json::parse_u64(s.to_cow().as_bytes()),
        _ => None,
    };
    let message = match msg {
        Some(Value::String(s)) => s.to_cow().into_owned(),
        _ => String::new(),
    };
    Ok(match event {
        "subscribe" | "unsubscribe" => ControlEvent::SubscribeAck { id },
        "error" => {
            let code = match code {
                None => 0,
                Some(Value::String(s)) => s.to_cow().parse().unwrap_or(0),
                Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                Some(_) => return Err(RejectReason::WrongType("code")),
            };
            let subject = instrument_named(&message);
            ControlEvent::VenueError {
                code,
                message,
                id,
                subject,
            }
        }
        "notice" if matches!(&code, Some(Value::String(s)) if s.eq_str("64008")) => {
            ControlEvent::ServerShutdown { exch_ts: recv_ts }
        }
        "notice" | "login" | "channel-conn-count" => ControlEvent::Info { id, what: "notice" },
        _ => ControlEvent::Ignored {
            what: "unknown_event",
        },
    })
}

/// The instrument an OKX error message names: `instId:BTC-XXX doesn't exist` or
/// `"instId" : "LTC-USD-200327"` → the id.
fn instrument_named(message: &str) -> Option<String> {
    let at = message.find("instId")? + "instId".len();
    let rest = message[at..].trim_start_matches(['"', ':', ' ', '\\']);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '/'))
        .unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_owned())
}

fn ignored(what: &'static str) -> AdapterEvent {
    AdapterEvent::Control(ControlEvent::Ignored { what })
}

/// `{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}],"id":"1"}`
fn requests(op: &str, subs: &[Subscription], first_id: u64) -> Vec<String> {
    subs.chunks(OkxAdapter::MAX_ARGS_PER_REQUEST)
        .zip(first_id..)
        .map(|(chunk, id)| {
            let args: Vec<String> = chunk
                .iter()
                .map(|s| {
                    format!(
                        r#"{{"channel":{},"instId":{}}}"#,
                        json::quote(&s.channel),
                        json::quote(&s.symbol)
                    )
                })
                .collect();
            format!(r#"{{"op":"{op}","args":[{}],"id":"{id}"}}"#, args.join(","))
        })
        .collect()
}

impl VenueAdapter for OkxAdapter {
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
        // The answer to the client's text `ping`: not JSON.
        if frame == b"pong" {
            out(AdapterEvent::Control(ControlEvent::Pong));
            return Ok(());
        }
        self.message(frame, recv_ts, out)
    }

    fn default_url(&self) -> &'static str {
        Self::DEFAULT_URL
    }

    /// `trades` and `bbo-tbt` (best bid/offer on every change, 10 ms).
    fn default_channels(&self) -> &'static [&'static str] {
        &["trades", "bbo-tbt"]
    }

    fn subscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String> {
        requests("subscribe", subs, first_id)
    }

    fn unsubscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String> {
        requests("unsubscribe", subs, first_id)
    }

    /// The text `ping`, every 25 s of silence (OKX closes a connection after 30 s without
    /// data).
    fn keepalive(&self) -> Option<Keepalive> {
        Some(Keepalive {
            interval: Duration::from_secs(25),
            message: "ping".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_refused_instrument() {
        assert_eq!(
            instrument_named("Wrong URL or channel:trades,instId:BTC-XXX doesn't exist."),
            Some("BTC-XXX".into())
        );
        assert_eq!(
            instrument_named(
                r#"Invalid request: {"op": "subscribe", "args":[{ "channel" : "block-tickers", "instId" : "LTC-USD-200327"}]}"#
            ),
            Some("LTC-USD-200327".into())
        );
        assert_eq!(instrument_named("Invalid OK-ACCESS-KEY"), None);
    }

    #[test]
    fn requests_carry_channel_instrument_and_id() {
        let subs = Subscription::product(&["trades", "bbo-tbt"], &["BTC-USDT"]);
        assert_eq!(
            requests("subscribe", &subs, 4),
            vec![
                r#"{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},{"channel":"bbo-tbt","instId":"BTC-USDT"}],"id":"4"}"#
            ]
        );
        let many: Vec<Subscription> = (0..250)
            .map(|i| Subscription::new("trades", format!("S{i}-USDT")))
            .collect();
        assert_eq!(requests("unsubscribe", &many, 1).len(), 3);
    }
}
