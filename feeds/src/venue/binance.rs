//! Binance spot: trade, aggTrade and bookTicker streams, raw or combined, and the
//! control messages of a stream connection.
//!
//! Sources (Binance's own documentation):
//! - WebSocket Streams: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>
//!   and its Markdown source
//!   <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md>
//!   (payloads, combined-stream wrapper, SUBSCRIBE / LIST_SUBSCRIPTIONS, error messages,
//!   `timeUnit=MICROSECOND`, `serverShutdown`).
//! - WebSocket API response and connection-event formats (the nested `error` object and
//!   the `{"event":{"e":"serverShutdown",...}}` wrapper):
//!   <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/response-format>,
//!   <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/connection-events>.
//!
//! Normalization:
//! - Prices and sizes are decimal strings, parsed exactly with
//!   [`parse_unsigned_decimal`]; a JSON number there is [`RejectReason::WrongType`].
//! - Timestamps are milliseconds by default; a connection opened with
//!   `timeUnit=MICROSECOND` sends microseconds ([`TimeUnit`]). A value that overflows i64
//!   nanoseconds is [`RejectReason::BadTimestamp`], so a microsecond stream read as
//!   milliseconds is rejected, not silently scaled wrong.
//! - `"m": true` means the buyer was the maker, so the aggressor sold: [`Side::Sell`].
//! - bookTicker carries no timestamp on spot: its `exch_ts` is the receive time (a `"T"`
//!   or `"E"` field, as in Binance's futures bookTicker, is used when present).
//! - Symbols are matched exactly as sent (`"s":"BNBBTC"`, upper case) against the symbol
//!   table; stream names are the lower-case symbol plus `@trade`, `@aggTrade`,
//!   `@bookTicker`.

use serde::{Deserialize, Serialize};
use simd_json::Node;
use tickforge_engine::fixed::parse_unsigned_decimal;
use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::SymbolTable;

use super::tape::{from_nodes, object_entries, JsonScratch, Nested, Val};
use super::{AdapterEvent, ControlEvent, RejectReason, SymbolIndex, VenueAdapter};

/// Unit of the timestamps on a Binance connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeUnit {
    /// Milliseconds, Binance's default.
    #[default]
    Millisecond,
    /// Microseconds: the connection URL carries `timeUnit=MICROSECOND`.
    Microsecond,
}

impl TimeUnit {
    fn nanos(self) -> u64 {
        match self {
            TimeUnit::Millisecond => 1_000_000,
            TimeUnit::Microsecond => 1_000,
        }
    }
}

/// The Binance spot streams this adapter normalizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinanceChannel {
    /// `<symbol>@trade`: every trade, with its own trade id.
    Trade,
    /// `<symbol>@aggTrade`: trades aggregated per taker order, with the aggregate id.
    AggTrade,
    /// `<symbol>@bookTicker`: best bid and offer.
    BookTicker,
}

impl BinanceChannel {
    /// The stream-name suffix: `trade`, `aggTrade` or `bookTicker`.
    pub fn suffix(self) -> &'static str {
        match self {
            BinanceChannel::Trade => "trade",
            BinanceChannel::AggTrade => "aggTrade",
            BinanceChannel::BookTicker => "bookTicker",
        }
    }

    /// The stream name for a symbol: `btcusdt@trade` for `BTCUSDT`.
    pub fn stream(self, symbol: &str) -> String {
        format!("{}@{}", symbol.to_ascii_lowercase(), self.suffix())
    }
}

/// The Binance spot adapter. See the [module documentation](self) for the mapping.
///
/// Construct it with the engine's symbol table; it keeps the symbols of its venue id and
/// reuses its parse buffers across frames, so it is one per connection (or per reader
/// thread), not shared.
pub struct BinanceAdapter {
    venue: u8,
    symbols: SymbolIndex,
    json: JsonScratch,
    time_unit: TimeUnit,
    max_frame_len: usize,
}

impl BinanceAdapter {
    /// Frames longer than this are rejected as [`RejectReason::Oversized`] by default.
    /// Market-data frames are a few hundred bytes; a `LIST_SUBSCRIPTIONS` reply for the
    /// 1024 streams a connection may hold is about 25 KiB.
    pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

    /// Streams per SUBSCRIBE request built by [`VenueAdapter::subscribe_messages`].
    /// Binance documents no per-request limit (only 1024 streams per connection and 5
    /// incoming messages per second); 200 keeps each request small.
    pub const MAX_STREAMS_PER_REQUEST: usize = 200;

    /// An adapter writing `venue_id` into its records (normally
    /// [`tickforge_engine::symbol::venue::BINANCE`]) and knowing the symbols that `symbols`
    /// lists for that venue id.
    pub fn new(venue_id: u8, symbols: &SymbolTable) -> Self {
        BinanceAdapter {
            venue: venue_id,
            symbols: SymbolIndex::new(symbols, venue_id),
            json: JsonScratch::new(4096),
            time_unit: TimeUnit::Millisecond,
            max_frame_len: Self::DEFAULT_MAX_FRAME_LEN,
        }
    }

    /// Reads timestamps in `unit` (match the connection URL: see
    /// [`BinanceAdapter::combined_stream_path`]).
    pub fn with_time_unit(mut self, unit: TimeUnit) -> Self {
        self.time_unit = unit;
        self
    }

    /// Rejects frames longer than `len` bytes; this also bounds the parse buffers.
    pub fn with_max_frame_len(mut self, len: usize) -> Self {
        self.max_frame_len = len;
        self
    }

    /// The timestamp unit this adapter expects.
    pub fn time_unit(&self) -> TimeUnit {
        self.time_unit
    }

    /// Stream names for `channels` of every symbol this adapter knows, by symbol id.
    pub fn streams(&self, channels: &[BinanceChannel]) -> Vec<String> {
        let mut symbols: Vec<(u32, &[u8])> =
            self.symbols.iter().map(|(name, id)| (id, name)).collect();
        symbols.sort_unstable();
        let mut streams = Vec::with_capacity(symbols.len() * channels.len());
        for (_, name) in symbols {
            let name = String::from_utf8_lossy(name);
            for channel in channels {
                streams.push(channel.stream(&name));
            }
        }
        streams
    }

    /// The path and query of a combined-stream connection for `streams`:
    /// `/stream?streams=btcusdt@trade/btcusdt@bookTicker`, plus `&timeUnit=MICROSECOND`
    /// when the adapter expects microseconds. Append it to `wss://stream.binance.com:9443`.
    pub fn combined_stream_path(&self, streams: &[String]) -> String {
        let mut path = String::from("/stream?streams=");
        path.push_str(&streams.join("/"));
        if self.time_unit == TimeUnit::Microsecond {
            path.push_str("&timeUnit=MICROSECOND");
        }
        path
    }

    /// [`VenueAdapter::parse`] with a statically dispatched callback.
    pub fn parse_with<F: FnMut(AdapterEvent)>(
        &mut self,
        frame: &[u8],
        recv_ts: i64,
        mut out: F,
    ) -> Result<(), RejectReason> {
        if frame.len() > self.max_frame_len {
            return Err(RejectReason::Oversized);
        }
        let ctx = Ctx {
            symbols: &self.symbols,
            venue: self.venue,
            ts_scale: self.time_unit.nanos(),
            recv_ts,
        };
        self.json.with_tape(frame, |nodes| match nodes {
            Some(nodes) => ctx.message(nodes, true, &mut out),
            None => Err(RejectReason::MalformedJson),
        })
    }
}

impl VenueAdapter for BinanceAdapter {
    fn venue(&self) -> u8 {
        self.venue
    }

    fn parse(
        &mut self,
        frame: &[u8],
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason> {
        self.parse_with(frame, recv_ts, out)
    }

    /// `{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker"],"id":1}`,
    /// at most [`BinanceAdapter::MAX_STREAMS_PER_REQUEST`] streams per message. Binance
    /// allows 5 incoming messages per second per connection: pace them.
    fn subscribe_messages(&self, streams: &[String], first_id: u64) -> Vec<String> {
        streams
            .chunks(Self::MAX_STREAMS_PER_REQUEST)
            .zip(first_id..)
            .map(|(params, id)| {
                simd_json::to_string(&SubscribeRequest {
                    method: "SUBSCRIBE",
                    params,
                    id,
                })
                .expect("a request of strings and an integer always serializes")
            })
            .collect()
    }

    /// `<symbol>@trade` and `<symbol>@bookTicker` for every symbol.
    fn default_streams(&self) -> Vec<String> {
        self.streams(&[BinanceChannel::Trade, BinanceChannel::BookTicker])
    }
}

/// A live-subscription request.
///
/// ```json
/// {"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}
/// ```
#[derive(Serialize)]
struct SubscribeRequest<'a> {
    method: &'static str,
    params: &'a [String],
    id: u64,
}

/// Trade stream `<symbol>@trade` (older documentation also shows `"b"` and `"a"`, the
/// buyer and seller order ids, which are ignored):
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
#[derive(Deserialize, Default)]
#[serde(default)]
struct TradeMsg<'a> {
    #[serde(rename = "E", borrow)]
    event_time: Val<'a>,
    #[serde(rename = "s", borrow)]
    symbol: Val<'a>,
    #[serde(rename = "t", borrow)]
    trade_id: Val<'a>,
    #[serde(rename = "p", borrow)]
    price: Val<'a>,
    #[serde(rename = "q", borrow)]
    qty: Val<'a>,
    #[serde(rename = "T", borrow)]
    trade_time: Val<'a>,
    #[serde(rename = "m", borrow)]
    buyer_is_maker: Val<'a>,
}

/// Aggregate trade stream `<symbol>@aggTrade`; the record's trade id is the aggregate id
/// `"a"`:
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
#[derive(Deserialize, Default)]
#[serde(default)]
struct AggTradeMsg<'a> {
    #[serde(rename = "E", borrow)]
    event_time: Val<'a>,
    #[serde(rename = "s", borrow)]
    symbol: Val<'a>,
    #[serde(rename = "a", borrow)]
    agg_id: Val<'a>,
    #[serde(rename = "p", borrow)]
    price: Val<'a>,
    #[serde(rename = "q", borrow)]
    qty: Val<'a>,
    #[serde(rename = "T", borrow)]
    trade_time: Val<'a>,
    #[serde(rename = "m", borrow)]
    buyer_is_maker: Val<'a>,
}

/// Book ticker stream `<symbol>@bookTicker` (spot sends no event type and no time):
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
#[derive(Deserialize, Default)]
#[serde(default)]
struct BookTickerMsg<'a> {
    #[serde(rename = "u", borrow)]
    update_id: Val<'a>,
    #[serde(rename = "s", borrow)]
    symbol: Val<'a>,
    #[serde(rename = "b", borrow)]
    bid: Val<'a>,
    #[serde(rename = "B", borrow)]
    bid_qty: Val<'a>,
    #[serde(rename = "a", borrow)]
    ask: Val<'a>,
    #[serde(rename = "A", borrow)]
    ask_qty: Val<'a>,
    #[serde(rename = "E", borrow)]
    event_time: Val<'a>,
    #[serde(rename = "T", borrow)]
    transaction_time: Val<'a>,
}

/// Server shutdown notice, sent before Binance closes the connection:
///
/// ```json
/// {"e": "serverShutdown", "E": 1770123456789}
/// ```
///
/// (On the WebSocket API it comes wrapped: `{"event":{"e":"serverShutdown","E":...}}`.)
#[derive(Deserialize, Default)]
#[serde(default)]
struct ServerShutdownMsg<'a> {
    #[serde(rename = "E", borrow)]
    event_time: Val<'a>,
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
#[derive(Deserialize, Default)]
#[serde(default)]
struct ControlMsg<'a> {
    #[serde(borrow)]
    result: Val<'a>,
    #[serde(borrow)]
    id: Val<'a>,
    #[serde(borrow)]
    code: Val<'a>,
    #[serde(borrow)]
    msg: Val<'a>,
    #[serde(borrow)]
    error: Nested<ErrorBody<'a>>,
}

/// The nested error object: `{"code": -2010, "msg": "..."}`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody<'a> {
    #[serde(borrow)]
    code: Val<'a>,
    #[serde(borrow)]
    msg: Val<'a>,
}

/// What one frame is, judged from its keys before any field is read.
enum Shape<'t, 'de> {
    /// Has an event type `"e"` (its value node).
    Event(&'t [Node<'de>]),
    /// A combined-stream `{"stream":..,"data":{..}}` or `{"event":{..}}` wrapper.
    Wrapped(&'t [Node<'de>]),
    /// bookTicker keys without an event type.
    BookTicker,
    /// A reply to a request.
    Control,
    /// None of the above.
    Unrecognized,
}

/// Everything a frame's parse needs besides the tape.
struct Ctx<'a> {
    symbols: &'a SymbolIndex,
    venue: u8,
    ts_scale: u64,
    recv_ts: i64,
}

impl Ctx<'_> {
    /// Parses the message at the start of `nodes`; `top` is false inside a wrapper.
    fn message<F: FnMut(AdapterEvent)>(
        &self,
        nodes: &[Node<'_>],
        top: bool,
        out: &mut F,
    ) -> Result<(), RejectReason> {
        match nodes.first() {
            Some(Node::Object { .. }) => {}
            Some(Node::Array { .. }) => {
                // `!ticker@arr` and friends: valid, not ours.
                out(ignored("array"));
                return Ok(());
            }
            _ => return Err(RejectReason::NotAnObject),
        }
        match shape(nodes, top) {
            Shape::Event(kind) => self.event(nodes, kind, out),
            Shape::Wrapped(payload) => self.message(payload, false, out),
            Shape::BookTicker => self.book_ticker(nodes, out),
            Shape::Control => control(nodes, out),
            Shape::Unrecognized => {
                out(ignored("unrecognized"));
                Ok(())
            }
        }
    }

    fn event<F: FnMut(AdapterEvent)>(
        &self,
        nodes: &[Node<'_>],
        kind: &[Node<'_>],
        out: &mut F,
    ) -> Result<(), RejectReason> {
        let Some(&Node::String(kind)) = kind.first() else {
            return Err(RejectReason::WrongType("e"));
        };
        match kind {
            "trade" => self.trade(nodes, out),
            "aggTrade" => self.agg_trade(nodes, out),
            "bookTicker" => self.book_ticker(nodes, out),
            "serverShutdown" => {
                let msg: ServerShutdownMsg = decode(nodes)?;
                let exch_ts = self.timestamp(msg.event_time, "E").unwrap_or(self.recv_ts);
                out(AdapterEvent::Control(ControlEvent::ServerShutdown {
                    exch_ts,
                }));
                Ok(())
            }
            _ => {
                out(ignored("unknown_event"));
                Ok(())
            }
        }
    }

    fn trade<F: FnMut(AdapterEvent)>(
        &self,
        nodes: &[Node<'_>],
        out: &mut F,
    ) -> Result<(), RejectReason> {
        let msg: TradeMsg = decode(nodes)?;
        let record = self.trade_record(
            msg.symbol,
            (msg.trade_id, "t"),
            msg.price,
            msg.qty,
            msg.trade_time,
            msg.event_time,
            msg.buyer_is_maker,
        )?;
        out(AdapterEvent::Trade(record));
        Ok(())
    }

    fn agg_trade<F: FnMut(AdapterEvent)>(
        &self,
        nodes: &[Node<'_>],
        out: &mut F,
    ) -> Result<(), RejectReason> {
        let msg: AggTradeMsg = decode(nodes)?;
        let record = self.trade_record(
            msg.symbol,
            (msg.agg_id, "a"),
            msg.price,
            msg.qty,
            msg.trade_time,
            msg.event_time,
            msg.buyer_is_maker,
        )?;
        out(AdapterEvent::Trade(record));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn trade_record(
        &self,
        symbol: Val<'_>,
        id: (Val<'_>, &'static str),
        price: Val<'_>,
        qty: Val<'_>,
        trade_time: Val<'_>,
        event_time: Val<'_>,
        buyer_is_maker: Val<'_>,
    ) -> Result<TradeRecord, RejectReason> {
        let symbol = self.symbol(symbol)?;
        let trade_id = unsigned(id.0, id.1)?;
        let price = decimal(price, "p").map_err(|e| e.into_reason(RejectReason::BadPrice))?;
        let size = decimal(qty, "q").map_err(|e| e.into_reason(RejectReason::BadSize))?;
        let exch_ts = if trade_time.is_present() {
            self.timestamp(trade_time, "T")?
        } else if event_time.is_present() {
            self.timestamp(event_time, "E")?
        } else {
            return Err(RejectReason::MissingField("T"));
        };
        let side = match buyer_is_maker {
            // The buyer rested on the book, so the seller took liquidity.
            Val::Bool(true) => Side::Sell,
            Val::Bool(false) => Side::Buy,
            Val::Absent => return Err(RejectReason::MissingField("m")),
            _ => return Err(RejectReason::WrongType("m")),
        };
        Ok(TradeRecord::new(
            self.venue,
            symbol,
            exch_ts,
            self.recv_ts,
            price,
            size,
            side,
            trade_id,
        ))
    }

    fn book_ticker<F: FnMut(AdapterEvent)>(
        &self,
        nodes: &[Node<'_>],
        out: &mut F,
    ) -> Result<(), RejectReason> {
        let msg: BookTickerMsg = decode(nodes)?;
        let symbol = self.symbol(msg.symbol)?;
        let update_id = unsigned(msg.update_id, "u")?;
        let bid = decimal(msg.bid, "b").map_err(|e| e.into_reason(RejectReason::BadPrice))?;
        let bid_size =
            decimal(msg.bid_qty, "B").map_err(|e| e.into_reason(RejectReason::BadSize))?;
        let ask = decimal(msg.ask, "a").map_err(|e| e.into_reason(RejectReason::BadPrice))?;
        let ask_size =
            decimal(msg.ask_qty, "A").map_err(|e| e.into_reason(RejectReason::BadSize))?;
        let exch_ts = if msg.transaction_time.is_present() {
            self.timestamp(msg.transaction_time, "T")?
        } else if msg.event_time.is_present() {
            self.timestamp(msg.event_time, "E")?
        } else {
            self.recv_ts
        };
        out(AdapterEvent::Quote(QuoteRecord::new(
            self.venue,
            symbol,
            exch_ts,
            self.recv_ts,
            bid,
            bid_size,
            ask,
            ask_size,
            update_id,
        )));
        Ok(())
    }

    fn symbol(&self, value: Val<'_>) -> Result<u32, RejectReason> {
        let name = string(value, "s")?;
        self.symbols
            .get(name.as_bytes())
            .ok_or(RejectReason::UnknownSymbol)
    }

    /// A venue timestamp in nanoseconds.
    fn timestamp(&self, value: Val<'_>, field: &'static str) -> Result<i64, RejectReason> {
        match value {
            Val::U64(t) => t
                .checked_mul(self.ts_scale)
                .and_then(|ns| i64::try_from(ns).ok())
                .ok_or(RejectReason::BadTimestamp(field)),
            Val::I64(_) => Err(RejectReason::BadTimestamp(field)),
            Val::Absent => Err(RejectReason::MissingField(field)),
            _ => Err(RejectReason::WrongType(field)),
        }
    }
}

/// Classifies an object from its keys. Stops at the first `"e"` (or wrapper key at the
/// top level); otherwise looks at every key, so key order never matters.
fn shape<'t, 'de>(nodes: &'t [Node<'de>], top: bool) -> Shape<'t, 'de> {
    let mut book = false;
    let mut control = false;
    for (key, value) in object_entries(nodes) {
        match key {
            "e" => return Shape::Event(value),
            "data" | "event" if top => return Shape::Wrapped(value),
            "u" | "b" | "B" | "a" | "A" => book = true,
            "result" | "id" | "code" | "error" if top => control = true,
            _ => {}
        }
    }
    if book {
        Shape::BookTicker
    } else if control {
        Shape::Control
    } else {
        Shape::Unrecognized
    }
}

/// A reply to a request: ack, venue error or information.
fn control<F: FnMut(AdapterEvent)>(nodes: &[Node<'_>], out: &mut F) -> Result<(), RejectReason> {
    let msg: ControlMsg = decode(nodes)?;
    let id = match msg.id {
        Val::U64(id) => Some(id),
        _ => None,
    };
    let event = match msg.error {
        Nested::Object(body) => ControlEvent::VenueError {
            code: error_code(body.code)?,
            message: text(body.msg),
            id,
        },
        Nested::NotObject => return Err(RejectReason::WrongType("error")),
        Nested::Absent if msg.code.is_present() => ControlEvent::VenueError {
            code: error_code(msg.code)?,
            message: text(msg.msg),
            id,
        },
        Nested::Absent => match msg.result {
            Val::Null => ControlEvent::SubscribeAck { id },
            Val::Array => ControlEvent::Info {
                id,
                what: "subscriptions",
            },
            Val::Object => ControlEvent::Info { id, what: "result" },
            Val::Absent => ControlEvent::Ignored {
                what: "unrecognized",
            },
            _ => ControlEvent::Info {
                id,
                what: "property",
            },
        },
    };
    out(AdapterEvent::Control(event));
    Ok(())
}

fn ignored(what: &'static str) -> AdapterEvent {
    AdapterEvent::Control(ControlEvent::Ignored { what })
}

fn decode<'t, 'de, T: Deserialize<'de>>(nodes: &'t [Node<'de>]) -> Result<T, RejectReason> {
    // With `Val` fields only a repeated known key can fail here.
    from_nodes(nodes).map_err(|_| RejectReason::MalformedJson)
}

fn string<'a>(value: Val<'a>, field: &'static str) -> Result<&'a str, RejectReason> {
    match value {
        Val::Str(s) => Ok(s),
        Val::Absent => Err(RejectReason::MissingField(field)),
        _ => Err(RejectReason::WrongType(field)),
    }
}

fn unsigned(value: Val<'_>, field: &'static str) -> Result<u64, RejectReason> {
    match value {
        Val::U64(n) => Ok(n),
        Val::I64(_) => Err(RejectReason::BadId(field)),
        Val::Absent => Err(RejectReason::MissingField(field)),
        _ => Err(RejectReason::WrongType(field)),
    }
}

fn error_code(value: Val<'_>) -> Result<i64, RejectReason> {
    match value {
        Val::I64(n) => Ok(n),
        Val::U64(n) => Ok(i64::try_from(n).unwrap_or(i64::MAX)),
        Val::Absent => Err(RejectReason::MissingField("code")),
        _ => Err(RejectReason::WrongType("code")),
    }
}

fn text(value: Val<'_>) -> String {
    match value {
        Val::Str(s) => s.to_owned(),
        _ => String::new(),
    }
}

/// Why a decimal field failed: either its JSON shape or its text.
enum FieldError {
    Shape(RejectReason),
    Decimal(tickforge_engine::fixed::DecimalError),
}

impl FieldError {
    fn into_reason(
        self,
        bad: fn(tickforge_engine::fixed::DecimalError) -> RejectReason,
    ) -> RejectReason {
        match self {
            FieldError::Shape(reason) => reason,
            FieldError::Decimal(e) => bad(e),
        }
    }
}

/// A non-negative decimal string in 1e-9 units.
fn decimal(value: Val<'_>, field: &'static str) -> Result<i64, FieldError> {
    let text = string(value, field).map_err(FieldError::Shape)?;
    parse_unsigned_decimal(text.as_bytes()).map_err(FieldError::Decimal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_engine::symbol::venue;

    fn adapter() -> BinanceAdapter {
        let mut t = SymbolTable::new();
        t.add(venue::BINANCE, "BNBBTC", false).unwrap();
        t.add(venue::BINANCE, "BNBUSDT", false).unwrap();
        t.add(venue::OKX, "BTCUSDT", false).unwrap();
        BinanceAdapter::new(venue::BINANCE, &t)
    }

    fn parse(a: &mut BinanceAdapter, s: &str) -> Result<Vec<AdapterEvent>, RejectReason> {
        let mut v = Vec::new();
        a.parse_with(s.as_bytes(), 7, |e| v.push(e)).map(|()| v)
    }

    #[test]
    fn shapes_dispatch_on_keys_not_order() {
        let mut a = adapter();
        // "e" after the bookTicker-like keys of an old trade payload still means trade.
        let ev = parse(
            &mut a,
            r#"{"b":88,"a":50,"s":"BNBBTC","t":1,"p":"1","q":"2","T":3,"m":false,"e":"trade"}"#,
        )
        .unwrap();
        assert!(
            matches!(ev[0], AdapterEvent::Trade(t) if t.trade_id == 1 && t.exch_ts == 3_000_000)
        );
        let ev = parse(&mut a, r#"{"lastUpdateId":160,"bids":[],"asks":[]}"#).unwrap();
        assert_eq!(ev, vec![ignored("unrecognized")]);
        // Only the top level unwraps, and only the top level has control replies.
        let ev = parse(&mut a, r#"{"data":{"data":{"e":"trade"},"id":1}}"#).unwrap();
        assert_eq!(ev, vec![ignored("unrecognized")]);
    }

    #[test]
    fn symbols_of_other_venues_are_unknown() {
        let mut a = adapter();
        assert_eq!(
            parse(
                &mut a,
                r#"{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}"#
            ),
            Err(RejectReason::UnknownSymbol)
        );
    }

    #[test]
    fn streams_are_lower_case_in_id_order() {
        let a = adapter();
        assert_eq!(
            a.default_streams(),
            vec![
                "bnbbtc@trade",
                "bnbbtc@bookTicker",
                "bnbusdt@trade",
                "bnbusdt@bookTicker"
            ]
        );
        assert_eq!(
            a.streams(&[BinanceChannel::AggTrade]),
            vec!["bnbbtc@aggTrade", "bnbusdt@aggTrade"]
        );
        let a = a.with_time_unit(TimeUnit::Microsecond);
        assert_eq!(
            a.combined_stream_path(&["btcusdt@trade".into(), "btcusdt@bookTicker".into()]),
            "/stream?streams=btcusdt@trade/btcusdt@bookTicker&timeUnit=MICROSECOND"
        );
    }

    #[test]
    fn subscribe_requests_are_chunked_with_consecutive_ids() {
        let a = adapter();
        let streams: Vec<String> = (0..450).map(|i| format!("s{i}@trade")).collect();
        let msgs = a.subscribe_messages(&streams, 7);
        assert_eq!(msgs.len(), 3);
        assert!(msgs[0].starts_with(r#"{"method":"SUBSCRIBE","params":["s0@trade","s1@trade""#));
        assert!(msgs[0].ends_with(r#""s199@trade"],"id":7}"#));
        assert!(msgs[2].ends_with(r#""s449@trade"],"id":9}"#));
        assert!(a.subscribe_messages(&[], 1).is_empty());
    }
}
