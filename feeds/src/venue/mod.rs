//! Venue adapters: parse and normalize venue frames into records.
//!
//! An adapter turns one text frame from a venue's WebSocket into zero or more
//! [`AdapterEvent`]s: trades and quotes as fixed-size records, and connection-level
//! [`ControlEvent`]s (acks, venue errors, shutdown notices). A frame that cannot be
//! understood is rejected with a [`RejectReason`] from a fixed set, so the caller can keep
//! one preallocated counter per reason.
//!
//! Adapters never panic on any input, never go through `f64` for prices or sizes, and do
//! not allocate on the trade/quote path once their buffers have grown to the largest frame
//! seen.
//!
//! ```
//! use tickforge_engine::symbol::{venue, SymbolTable};
//! use tickforge_feeds::venue::{binance::BinanceAdapter, AdapterEvent, RejectReason, VenueAdapter};
//!
//! let mut symbols = SymbolTable::new();
//! symbols.add(venue::BINANCE, "BNBBTC", false).unwrap();
//! let mut adapter = BinanceAdapter::new(venue::BINANCE, &symbols);
//! let mut rejects = [0u64; RejectReason::COUNT];
//!
//! let frame = br#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}"#;
//! let mut trades = Vec::new();
//! match adapter.parse(frame, 1_672_515_782_200_000_000, &mut |ev| {
//!     if let AdapterEvent::Trade(t) = ev {
//!         trades.push(t);
//!     }
//! }) {
//!     Ok(()) => {}
//!     Err(reason) => rejects[reason.index()] += 1,
//! }
//! assert_eq!(trades[0].price, 1_000_000); // 0.001 in 1e-9 units
//! ```

pub mod binance;
mod tape;

use std::collections::HashMap;

use tickforge_engine::fixed::DecimalError;
use tickforge_engine::record::{QuoteRecord, TradeRecord};
use tickforge_engine::symbol::SymbolTable;

/// What an adapter found in one frame.
#[derive(Debug, Clone, PartialEq)]
pub enum AdapterEvent {
    /// A trade (print).
    Trade(TradeRecord),
    /// A best bid/offer update.
    Quote(QuoteRecord),
    /// A connection-level message: never bad data, never market data.
    Control(ControlEvent),
}

/// Connection-level messages from a venue. None of them is bad data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlEvent {
    /// The venue accepted a request (subscribe, unsubscribe, set-property), e.g. Binance's
    /// `{"result":null,"id":1}`. `id` is the request id echoed back, when it is an
    /// unsigned integer (the ids this crate sends always are).
    SubscribeAck {
        /// The echoed request id.
        id: Option<u64>,
    },
    /// The venue reported an error, e.g. Binance's `{"code":2,"msg":"Invalid request: ..."}`
    /// or `{"error":{"code":2,"msg":"..."},"id":1}`.
    VenueError {
        /// The venue's error code.
        code: i64,
        /// The venue's message, as sent.
        message: String,
        /// The request id echoed back, when there is one.
        id: Option<u64>,
    },
    /// The venue announced that it will close this connection soon (Binance's
    /// `serverShutdown`): reconnect, make-before-break.
    ServerShutdown {
        /// When the venue sent the notice, ns since the Unix epoch (the receive time when
        /// the notice carries none).
        exch_ts: i64,
    },
    /// A reply to a query that carries information but no market data, e.g. Binance's
    /// `LIST_SUBSCRIPTIONS` result `{"result":["btcusdt@trade"],"id":3}`.
    Info {
        /// The request id echoed back, when there is one.
        id: Option<u64>,
        /// What the reply was: `"subscriptions"` (a list), `"property"` (a scalar) or
        /// `"result"` (anything else).
        what: &'static str,
    },
    /// A well-formed message the adapter does not use: an unknown event type, a stream the
    /// adapter does not normalize (klines, depth, tickers), an array payload. Count it;
    /// it is never an error.
    Ignored {
        /// Stable snake_case label for counting (`"unknown_event"`, `"array"`, ...).
        what: &'static str,
    },
}

/// Why a frame was rejected. The set is fixed: [`RejectReason::index`] maps every reason
/// to `0..RejectReason::COUNT` and [`RejectReason::NAMES`] names them, so counters can be
/// preallocated. Payloads (a field name, the decimal error) are for logs only and never
/// change the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The frame is longer than the adapter's maximum frame length.
    #[error("frame longer than the maximum frame length")]
    Oversized,
    /// Not JSON: syntax error, truncated text, invalid UTF-8, a number outside 64 bits,
    /// trailing bytes, an empty frame, or a known key repeated in one object.
    #[error("malformed JSON")]
    MalformedJson,
    /// Valid JSON, but a scalar (number, string, `null`, boolean) where a message object
    /// was expected.
    #[error("not a JSON object")]
    NotAnObject,
    /// A field the message type requires is absent.
    #[error("missing field {0:?}")]
    MissingField(&'static str),
    /// A field has the wrong JSON type (a price as a number instead of a string, a trade
    /// id as a string, a side flag that is not a boolean, ...).
    #[error("field {0:?} has the wrong JSON type")]
    WrongType(&'static str),
    /// A price that does not parse exactly into 1e-9 units (out of range, too precise,
    /// negative, not a decimal).
    #[error("bad price: {0}")]
    BadPrice(DecimalError),
    /// A size that does not parse exactly into 1e-9 units.
    #[error("bad size: {0}")]
    BadSize(DecimalError),
    /// A timestamp that is negative or does not fit in i64 nanoseconds.
    #[error("timestamp out of range in field {0:?}")]
    BadTimestamp(&'static str),
    /// A trade id or sequence number that is negative.
    #[error("negative id in field {0:?}")]
    BadId(&'static str),
    /// The symbol is not in the adapter's symbol table.
    #[error("unknown symbol")]
    UnknownSymbol,
}

impl RejectReason {
    /// Number of distinct reasons (the length of [`RejectReason::NAMES`]).
    pub const COUNT: usize = 10;

    /// Counter names, indexed by [`RejectReason::index`]: snake_case and stable.
    pub const NAMES: [&'static str; RejectReason::COUNT] = [
        "oversized",
        "malformed_json",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "bad_price",
        "bad_size",
        "bad_timestamp",
        "bad_id",
        "unknown_symbol",
    ];

    /// Dense index of the reason in `0..COUNT`, ignoring any payload.
    pub fn index(&self) -> usize {
        match self {
            RejectReason::Oversized => 0,
            RejectReason::MalformedJson => 1,
            RejectReason::NotAnObject => 2,
            RejectReason::MissingField(_) => 3,
            RejectReason::WrongType(_) => 4,
            RejectReason::BadPrice(_) => 5,
            RejectReason::BadSize(_) => 6,
            RejectReason::BadTimestamp(_) => 7,
            RejectReason::BadId(_) => 8,
            RejectReason::UnknownSymbol => 9,
        }
    }

    /// Stable snake_case name, used as the counter name.
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }
}

/// A venue adapter: parses one venue's frames and writes its subscribe requests.
pub trait VenueAdapter: Send {
    /// The venue id written into every record ([`tickforge_engine::symbol::venue`]).
    fn venue(&self) -> u8;

    /// Parses one text frame received at `recv_ts` (ns since the Unix epoch) and passes
    /// every record or control event found to `out`, in frame order.
    ///
    /// Returns the reason when the frame is rejected; events already passed to `out` for
    /// that frame (none for single-message venues) stay valid. Never panics, and allocates
    /// nothing on the trade/quote path in the steady state.
    fn parse(
        &mut self,
        frame: &[u8],
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason>;

    /// The text messages to send after connecting, to subscribe to `streams` (the venue's
    /// own channel names). Request ids are `first_id`, `first_id + 1`, ... in message
    /// order, so acks ([`ControlEvent::SubscribeAck`]) can be matched.
    fn subscribe_messages(&self, streams: &[String], first_id: u64) -> Vec<String>;

    /// The venue's channel names for trades and best bid/offer of every symbol the
    /// adapter knows, ready for [`VenueAdapter::subscribe_messages`].
    fn default_streams(&self) -> Vec<String>;
}

/// Symbol name → id for one venue, queried with borrowed bytes (no allocation).
#[derive(Debug, Clone, Default)]
pub(crate) struct SymbolIndex {
    by_name: HashMap<Box<[u8]>, u32, fnv::FnvBuildHasher>,
}

impl SymbolIndex {
    /// The symbols of `venue` in `table`.
    pub(crate) fn new(table: &SymbolTable, venue: u8) -> Self {
        let by_name = table
            .iter()
            .filter(|s| s.venue == venue)
            .map(|s| (s.name.as_bytes().into(), s.id))
            .collect();
        SymbolIndex { by_name }
    }

    /// The id of the symbol spelled exactly `name`.
    #[inline]
    pub(crate) fn get(&self, name: &[u8]) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// All (name, id) pairs, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> {
        self.by_name.iter().map(|(k, &v)| (&k[..], v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_reason_indices_are_dense_and_named() {
        let all = [
            RejectReason::Oversized,
            RejectReason::MalformedJson,
            RejectReason::NotAnObject,
            RejectReason::MissingField("p"),
            RejectReason::WrongType("p"),
            RejectReason::BadPrice(DecimalError::OutOfRange),
            RejectReason::BadSize(DecimalError::TooPrecise),
            RejectReason::BadTimestamp("T"),
            RejectReason::BadId("t"),
            RejectReason::UnknownSymbol,
        ];
        for (i, r) in all.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(r.name(), RejectReason::NAMES[i]);
        }
        assert_eq!(all.len(), RejectReason::COUNT);
    }
}
