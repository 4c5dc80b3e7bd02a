//! Binance's messages read from any valid JSON: the general path, for every frame the
//! templates of [`super::fast`] do not match (other key orders, whitespace, escapes,
//! replies to requests, notices, unknown events).
//!
//! Dispatch follows the keys, never their order: the first `"e"` (event type) decides;
//! at the top level a `"data"` or `"event"` key before it is a wrapper
//! (`{"stream":..,"data":{..}}`, `{"event":{..}}`); without an event type, bookTicker keys
//! make a quote and `result`/`id`/`code`/`error` make a reply to a request. A field of a
//! message repeated in one object is [`RejectReason::MalformedJson`].

use std::borrow::Cow;

use tickforge_engine::fixed::parse_unsigned_decimal;
use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};

use super::super::fields::fields;
use super::super::json::{Number, Object, Value};
use super::super::{quoted_name, AdapterEvent, ControlEvent, RejectReason, SymbolIndex};

/// Everything a frame's normalization needs besides the frame.
pub(super) struct Ctx<'a> {
    pub(super) symbols: &'a SymbolIndex,
    pub(super) venue: u8,
    /// Nanoseconds per unit of the connection's timestamps.
    pub(super) ts_scale: u64,
    pub(super) recv_ts: i64,
}

/// A trade's fields, typed, from either path.
pub(super) struct TradeFields<'a> {
    pub(super) symbol: &'a str,
    pub(super) id: u64,
    pub(super) price: &'a str,
    pub(super) qty: &'a str,
    /// The trade time in the connection's unit, and the name of the field it came from.
    pub(super) time: (u64, &'static str),
    pub(super) buyer_is_maker: bool,
}

/// A quote's fields, typed, from either path.
pub(super) struct QuoteFields<'a> {
    pub(super) symbol: &'a str,
    pub(super) update_id: u64,
    pub(super) bid: &'a str,
    pub(super) bid_qty: &'a str,
    pub(super) ask: &'a str,
    pub(super) ask_qty: &'a str,
    /// The transaction or event time when the message has one.
    pub(super) time: Option<(u64, &'static str)>,
}

impl Ctx<'_> {
    /// The record for a trade.
    #[inline]
    pub(super) fn trade(&self, f: &TradeFields<'_>) -> Result<TradeRecord, RejectReason> {
        let symbol = self.symbol(f.symbol)?;
        let price = parse_unsigned_decimal(f.price.as_bytes()).map_err(RejectReason::BadPrice)?;
        let size = parse_unsigned_decimal(f.qty.as_bytes()).map_err(RejectReason::BadSize)?;
        let exch_ts = self.nanos(f.time.0, f.time.1)?;
        // `m`: the buyer rested on the book, so the seller took liquidity.
        let side = if f.buyer_is_maker {
            Side::Sell
        } else {
            Side::Buy
        };
        Ok(TradeRecord::new(
            self.venue,
            symbol,
            exch_ts,
            self.recv_ts,
            price,
            size,
            side,
            f.id,
        ))
    }

    /// The record for a quote; without a time in the message, the receive time.
    #[inline]
    pub(super) fn quote(&self, f: &QuoteFields<'_>) -> Result<QuoteRecord, RejectReason> {
        let symbol = self.symbol(f.symbol)?;
        let price = |t: &str| parse_unsigned_decimal(t.as_bytes()).map_err(RejectReason::BadPrice);
        let size = |t: &str| parse_unsigned_decimal(t.as_bytes()).map_err(RejectReason::BadSize);
        let exch_ts = match f.time {
            Some((t, field)) => self.nanos(t, field)?,
            None => self.recv_ts,
        };
        Ok(QuoteRecord::new(
            self.venue,
            symbol,
            exch_ts,
            self.recv_ts,
            price(f.bid)?,
            size(f.bid_qty)?,
            price(f.ask)?,
            size(f.ask_qty)?,
            f.update_id,
        ))
    }

    #[inline]
    fn symbol(&self, name: &str) -> Result<u32, RejectReason> {
        self.symbols
            .get(name.as_bytes())
            .ok_or(RejectReason::UnknownSymbol)
    }

    /// A timestamp in the connection's unit, in nanoseconds.
    #[inline]
    fn nanos(&self, t: u64, field: &'static str) -> Result<i64, RejectReason> {
        t.checked_mul(self.ts_scale)
            .and_then(|ns| i64::try_from(ns).ok())
            .ok_or(RejectReason::BadTimestamp(field))
    }

    /// Parses the message `value`; `top` is false inside a wrapper.
    pub(super) fn message<F: FnMut(AdapterEvent)>(
        &self,
        value: Value<'_>,
        top: bool,
        out: &mut F,
    ) -> Result<(), RejectReason> {
        let obj = match value {
            Value::Object(o) => o,
            // `!ticker@arr` and friends: valid, not ours.
            Value::Array(_) => {
                out(ignored("array"));
                return Ok(());
            }
            _ => return Err(RejectReason::NotAnObject),
        };
        let mut book = false;
        let mut control = false;
        for (key, value) in obj.iter() {
            let key = key.to_cow();
            match key.as_ref() {
                "e" => return self.event(obj, value, out),
                "data" | "event" if top => return self.message(value, false, out),
                "u" | "b" | "B" | "a" | "A" => book = true,
                "result" | "id" | "code" | "error" if top => control = true,
                _ => {}
            }
        }
        if book {
            out(AdapterEvent::Quote(self.book_ticker(obj)?));
            Ok(())
        } else if control {
            out(AdapterEvent::Control(control_reply(obj)?));
            Ok(())
        } else {
            out(ignored("unrecognized"));
            Ok(())
        }
    }

    fn event<F: FnMut(AdapterEvent)>(
        &self,
        obj: Object<'_>,
        kind: Value<'_>,
        out: &mut F,
    ) -> Result<(), RejectReason> {
        let Value::String(kind) = kind else {
            return Err(RejectReason::WrongType("e"));
        };
        match kind.to_cow().as_ref() {
            "trade" => out(AdapterEvent::Trade(self.trade_event(obj, "t")?)),
            "aggTrade" => out(AdapterEvent::Trade(self.trade_event(obj, "a")?)),
            "bookTicker" => out(AdapterEvent::Quote(self.book_ticker(obj)?)),
            "serverShutdown" => out(AdapterEvent::Control(self.server_shutdown(obj)?)),
            _ => out(ignored("unknown_event")),
        }
        Ok(())
    }

    /// Trade stream `<symbol>@trade` (`id` = `"t"`; older documentation also shows `"b"`
    /// and `"a"`, the buyer and seller order ids, which are ignored):
    ///
    /// ```json
    /// {
    ///   "e": "trade",       // Event type
    ///   "E": 1672515782136, // Event time
    ///   "s": "BNBBTC",      // Symbol
    ///   "t": 12345,         // Trade ID
    ///   "p": "0.001",       // Price
    ///   "q": "100",         // Quantity
    ///   "T": 1672515782136, // Trade time
    ///   "m": true,          // Is the buyer the market maker?
    ///   "M": true           // Ignore
    /// }
    /// ```
    ///
    /// Aggregate trade stream `<symbol>@aggTrade` (`id` = `"a"`, the aggregate id):
    ///
    /// ```json
    /// {
    ///   "e": "aggTrade",    // Event type
    ///   "E": 1672515782136, // Event time
    ///   "s": "BNBBTC",      // Symbol
    ///   "a": 12345,         // Aggregate trade ID
    ///   "p": "0.001",       // Price
    ///   "q": "100",         // Quantity
    ///   "f": 100,           // First trade ID
    ///   "l": 105,           // Last trade ID
    ///   "T": 1672515782136, // Trade time
    ///   "m": true,          // Is the buyer the market maker?
    ///   "M": true           // Ignore
    /// }
    /// ```
    ///
    /// The trade time `T` is the exchange time; without it, the event time `E`.
    fn trade_event(&self, obj: Object<'_>, id: &'static str) -> Result<TradeRecord, RejectReason> {
        let [e, s, t, p, q, tt, m] = fields(&obj, &["E", "s", id, "p", "q", "T", "m"])?;
        let symbol = text(s, "s")?;
        let price = text(p, "p")?;
        let qty = text(q, "q")?;
        let time = match (tt, e) {
            (Some(tt), _) => (unsigned(Some(tt), "T", RejectReason::BadTimestamp)?, "T"),
            (None, Some(e)) => (unsigned(Some(e), "E", RejectReason::BadTimestamp)?, "E"),
            (None, None) => return Err(RejectReason::MissingField("T")),
        };
        self.trade(&TradeFields {
            symbol: &symbol,
            id: unsigned(t, id, RejectReason::BadId)?,
            price: &price,
            qty: &qty,
            time,
            buyer_is_maker: boolean(m, "m")?,
        })
    }

    /// Book ticker stream `<symbol>@bookTicker` (spot sends no event type and no time;
    /// a `"T"` or `"E"`, as in the futures bookTicker, is used when present):
    ///
    /// ```json
    /// {
    ///   "u":400900217,     // order book updateId
    ///   "s":"BNBUSDT",     // symbol
    ///   "b":"25.35190000", // best bid price
    ///   "B":"31.21000000", // best bid qty
    ///   "a":"25.36520000", // best ask price
    ///   "A":"40.66000000"  // best ask qty
    /// }
    /// ```
    fn book_ticker(&self, obj: Object<'_>) -> Result<QuoteRecord, RejectReason> {
        let [u, s, b, bq, a, aq, e, t] = fields(&obj, &["u", "s", "b", "B", "a", "A", "E", "T"])?;
        let symbol = text(s, "s")?;
        let (bid, bid_qty) = (text(b, "b")?, text(bq, "B")?);
        let (ask, ask_qty) = (text(a, "a")?, text(aq, "A")?);
        let time = match (t, e) {
            (Some(t), _) => Some((unsigned(Some(t), "T", RejectReason::BadTimestamp)?, "T")),
            (None, Some(e)) => Some((unsigned(Some(e), "E", RejectReason::BadTimestamp)?, "E")),
            (None, None) => None,
        };
        self.quote(&QuoteFields {
            symbol: &symbol,
            update_id: unsigned(u, "u", RejectReason::BadId)?,
            bid: &bid,
            bid_qty: &bid_qty,
            ask: &ask,
            ask_qty: &ask_qty,
            time,
        })
    }

    /// Server shutdown notice, sent before Binance closes the connection (on the
    /// WebSocket API wrapped as `{"event":{...}}`); a missing or bad time is the receive
    /// time:
    ///
    /// ```json
    /// {"e": "serverShutdown", "E": 1770123456789}
    /// ```
    fn server_shutdown(&self, obj: Object<'_>) -> Result<ControlEvent, RejectReason> {
        let [e] = fields(&obj, &["E"])?;
        let exch_ts = unsigned(e, "E", RejectReason::BadTimestamp)
            .and_then(|t| self.nanos(t, "E"))
            .unwrap_or(self.recv_ts);
        Ok(ControlEvent::ServerShutdown { exch_ts })
    }
}

/// Replies to requests on a stream connection:
///
/// ```json
/// {"result": null, "id": 1}
/// {"result": ["btcusdt@aggTrade"], "id": 3}
/// {"result": true, "id": 2}
/// {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
/// {"code": 0, "msg": "Unknown property", "id": 5}
/// {"error": {"code": 2, "msg": "Invalid request: ..."}, "id": 1}
/// ```
fn control_reply(obj: Object<'_>) -> Result<ControlEvent, RejectReason> {
    let [result, id, code, msg, error] = fields(&obj, &["result", "id", "code", "msg", "error"])?;
    let id = unsigned(id, "id", RejectReason::BadId).ok();
    Ok(match error {
        Some(Value::Object(body)) => {
            let [code, msg] = fields(&body, &["code", "msg"])?;
            let message = message(msg);
            ControlEvent::VenueError {
                code: error_code(code)?,
                subject: quoted_name(&message).map(str::to_owned),
                message,
                id,
            }
        }
        Some(_) => return Err(RejectReason::WrongType("error")),
        None if code.is_some() => {
            let message = message(msg);
            ControlEvent::VenueError {
                code: error_code(code)?,
                subject: quoted_name(&message).map(str::to_owned),
                message,
                id,
            }
        }
        None => match result {
            Some(Value::Null) => ControlEvent::SubscribeAck { id },
            Some(Value::Array(_)) => ControlEvent::Info {
                id,
                what: "subscriptions",
            },
            Some(Value::Object(_)) => ControlEvent::Info { id, what: "result" },
            None => ControlEvent::Ignored {
                what: "unrecognized",
            },
            Some(_) => ControlEvent::Info {
                id,
                what: "property",
            },
        },
    })
}

pub(super) fn ignored(what: &'static str) -> AdapterEvent {
    AdapterEvent::Control(ControlEvent::Ignored { what })
}

/// A string field, decoded (a copy only when it holds escapes).
fn text<'a>(v: Option<Value<'a>>, field: &'static str) -> Result<Cow<'a, str>, RejectReason> {
    match v {
        Some(Value::String(s)) => Ok(s.to_cow()),
        Some(_) => Err(RejectReason::WrongType(field)),
        None => Err(RejectReason::MissingField(field)),
    }
}

/// An unsigned integer field (an id or a time); a negative integer is `negative(field)`,
/// anything else but an integer is [`RejectReason::WrongType`]. `-0` counts as negative
/// (serde_json reads it as the float -0.0).
fn unsigned(
    v: Option<Value<'_>>,
    field: &'static str,
    negative: fn(&'static str) -> RejectReason,
) -> Result<u64, RejectReason> {
    match v {
        Some(Value::Number(n)) => integer(n, field, negative),
        Some(_) => Err(RejectReason::WrongType(field)),
        None => Err(RejectReason::MissingField(field)),
    }
}

fn integer(
    n: Number<'_>,
    field: &'static str,
    negative: fn(&'static str) -> RejectReason,
) -> Result<u64, RejectReason> {
    match (n.as_u64(), n.as_i64()) {
        (Some(v), _) => Ok(v),
        (None, Some(_)) => Err(negative(field)),
        (None, None) => Err(RejectReason::WrongType(field)),
    }
}

fn boolean(v: Option<Value<'_>>, field: &'static str) -> Result<bool, RejectReason> {
    match v {
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(RejectReason::WrongType(field)),
        None => Err(RejectReason::MissingField(field)),
    }
}

fn error_code(v: Option<Value<'_>>) -> Result<i64, RejectReason> {
    match v {
        // `-0` is a float to serde_json, and no code.
        Some(Value::Number(n)) if n.text() == "-0" => Err(RejectReason::WrongType("code")),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
            (Some(c), _) => Ok(c),
            (None, Some(_)) => Ok(i64::MAX),
            (None, None) => Err(RejectReason::WrongType("code")),
        },
        Some(_) => Err(RejectReason::WrongType("code")),
        None => Err(RejectReason::MissingField("code")),
    }
}

fn message(v: Option<Value<'_>>) -> String {
    match v {
        Some(Value::String(s)) => s.to_cow().into_owned(),
        _ => String::new(),
    }
}
