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
pub mod bybit;
pub mod coinbase;
pub mod coinbase_advanced;
pub mod fields;
pub mod json;
pub mod kraken;
pub mod okx;
pub mod polygon;
pub mod time;

use std::collections::HashMap;
use std::time::Duration;

use tickforge_engine::fixed::DecimalError;
use tickforge_engine::record::{QuoteRecord, TradeRecord};
use tickforge_engine::symbol::{venue, SymbolTable};

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
        /// The venue's error code (0 when the venue sends none).
        code: i64,
        /// The venue's message, as sent.
        message: String,
        /// The request id echoed back, when there is one.
        id: Option<u64>,
        /// What the venue refused, when the message names it: the stream, channel or
        /// symbol (`nopeusdt@trade`, `BTC-XXX`). Reported in the feed-status event.
        subject: Option<String>,
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
    /// A venue heartbeat (Coinbase's `heartbeat` channel, Kraken's `heartbeat`): proof of
    /// life, no data.
    Heartbeat,
    /// The venue's answer to an application-level ping ([`VenueAdapter::keepalive`]),
    /// e.g. OKX's text `pong` or Bybit's `{"op":"ping","ret_msg":"pong",...}`.
    Pong,
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

/// One subscription: a venue channel for one symbol, both in the venue's own spelling
/// (`trade` + `BTCUSDT` on Binance, `matches` + `BTC-USD` on Coinbase, `T` + `AAPL` on
/// Polygon). Each adapter turns a list of them into its venue's request messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subscription {
    /// The venue's channel name.
    pub channel: String,
    /// The venue's symbol name, as in the symbol table.
    pub symbol: String,
}

impl Subscription {
    /// A subscription to `channel` for `symbol`.
    pub fn new(channel: impl Into<String>, symbol: impl Into<String>) -> Self {
        Subscription {
            channel: channel.into(),
            symbol: symbol.into(),
        }
    }

    /// Every `channels` × `symbols` pair, symbol-major.
    pub fn product(channels: &[impl AsRef<str>], symbols: &[impl AsRef<str>]) -> Vec<Self> {
        symbols
            .iter()
            .flat_map(|s| {
                channels
                    .iter()
                    .map(move |c| Subscription::new(c.as_ref(), s.as_ref()))
            })
            .collect()
    }
}

/// An application-level keepalive the client must send on a quiet connection (OKX's text
/// `ping`, Bybit's `{"op":"ping"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keepalive {
    /// Send `message` after this long without sending anything.
    pub interval: Duration,
    /// The text message to send.
    pub message: String,
}

/// A venue adapter: parses one venue's frames and writes its requests.
pub trait VenueAdapter: Send {
    /// The venue id written into every record ([`tickforge_engine::symbol::venue`]).
    fn venue(&self) -> u8;

    /// Parses one text frame received at `recv_ts` (ns since the Unix epoch) and passes
    /// every record or control event found to `out`, in frame order.
    ///
    /// Returns the reason when the frame is rejected; events already passed to `out` for
    /// that frame stay valid (a batch whose fifth trade is bad has delivered four).
    /// Never panics, and allocates nothing on the trade/quote path in the steady state.
    fn parse(
        &mut self,
        frame: &[u8],
        recv_ts: i64,
        out: &mut dyn FnMut(AdapterEvent),
    ) -> Result<(), RejectReason>;

    /// The venue's public market-data endpoint, used when a feed names no URL.
    fn default_url(&self) -> &'static str;

    /// The venue's channel names for trades and for best bid/offer, used when a feed
    /// names no channels.
    fn default_channels(&self) -> &'static [&'static str];

    /// Messages to send right after the WebSocket opens, before any subscription
    /// (Polygon's `auth`). Default: none.
    fn login_messages(&self) -> Vec<String> {
        Vec::new()
    }

    /// The text messages that subscribe to `subs`. Request ids, where the venue has them,
    /// are `first_id`, `first_id + 1`, ... in message order, so acks can be matched.
    fn subscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String>;

    /// The text messages that unsubscribe from `subs`, ids as for
    /// [`VenueAdapter::subscribe_messages`].
    fn unsubscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String>;

    /// The application-level ping this venue expects from clients, if any. Default: none
    /// (WebSocket pings are answered by the connection itself).
    fn keepalive(&self) -> Option<Keepalive> {
        None
    }

    /// How long a connection may go without a data frame before it counts as stale.
    /// Default 30 s: the trade and best bid/offer channels of a crypto venue are never
    /// silent that long while the venue works.
    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(30)
    }

    /// The venue's documented maximum connection lifetime, shortened by a margin: the
    /// connection is replaced, make before break, once it is this old. Default: none.
    fn max_lifetime(&self) -> Option<Duration> {
        None
    }
}

/// Options shared by every adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterOptions {
    /// Frames longer than this are rejected as [`RejectReason::Oversized`].
    pub max_frame_len: usize,
    /// Polygon's API key, sent in its `auth` message.
    pub api_key: Option<String>,
}

impl Default for AdapterOptions {
    fn default() -> Self {
        AdapterOptions {
            max_frame_len: 1 << 20,
            api_key: None,
        }
    }
}

/// The adapter for `venue_id`, knowing the symbols `table` lists for that venue; `None`
/// for an unknown venue id.
pub fn adapter_for(
    venue_id: u8,
    table: &SymbolTable,
    opts: &AdapterOptions,
) -> Option<Box<dyn VenueAdapter>> {
    let len = opts.max_frame_len;
    Some(match venue_id {
        venue::BINANCE => {
            Box::new(binance::BinanceAdapter::new(venue_id, table).with_max_frame_len(len))
        }
        venue::COINBASE => {
            Box::new(coinbase::CoinbaseAdapter::new(venue_id, table).with_max_frame_len(len))
        }
        venue::COINBASE_ADVANCED => Box::new(
            coinbase_advanced::CoinbaseAdvancedAdapter::new(venue_id, table)
                .with_max_frame_len(len),
        ),
        venue::KRAKEN => {
            Box::new(kraken::KrakenAdapter::new(venue_id, table).with_max_frame_len(len))
        }
        venue::POLYGON => Box::new(
            polygon::PolygonAdapter::new(venue_id, table)
                .with_max_frame_len(len)
                .with_api_key(opts.api_key.as_deref().unwrap_or("")),
        ),
        venue::BYBIT => Box::new(bybit::BybitAdapter::new(venue_id, table).with_max_frame_len(len)),
        venue::OKX => Box::new(okx::OkxAdapter::new(venue_id, table).with_max_frame_len(len)),
        _ => return None,
    })
}

/// The name a venue's error message gives in single or double quotes
/// (`unknown stream 'nopeusdt@trade'` → `nopeusdt@trade`), if any.
pub(crate) fn quoted_name(message: &str) -> Option<&str> {
    ['\'', '"'].into_iter().find_map(|q| {
        let start = message.find(q)? + 1;
        let len = message[start..].find(q)?;
        (len > 0).then(|| &message[start..start + len])
    })
}

/// What every adapter keeps: its venue id, its venue's symbols and its frame-length
/// limit, with the checks built on them.
pub(crate) struct AdapterBase {
    pub(crate) venue: u8,
    pub(crate) symbols: SymbolIndex,
    pub(crate) max_frame_len: usize,
}

impl AdapterBase {
    /// The base of an adapter writing `venue_id`, knowing that venue's symbols in `table`.
    pub(crate) fn new(venue_id: u8, table: &SymbolTable, max_frame_len: usize) -> Self {
        AdapterBase {
            venue: venue_id,
            symbols: SymbolIndex::new(table, venue_id),
            max_frame_len,
        }
    }

    /// [`RejectReason::Oversized`] for a frame longer than the limit.
    #[inline]
    pub(crate) fn check_len(&self, frame: &[u8]) -> Result<(), RejectReason> {
        if frame.len() > self.max_frame_len {
            Err(RejectReason::Oversized)
        } else {
            Ok(())
        }
    }

    /// The frame as one JSON object, after the length check: [`RejectReason::Oversized`],
    /// [`RejectReason::MalformedJson`] or [`RejectReason::NotAnObject`] otherwise.
    #[inline]
    pub(crate) fn object<'a>(&self, frame: &'a [u8]) -> Result<json::Object<'a>, RejectReason> {
        self.check_len(frame)?;
        match json::parse(frame).map_err(|_| RejectReason::MalformedJson)? {
            json::Value::Object(o) => Ok(o),
            _ => Err(RejectReason::NotAnObject),
        }
    }

    /// The id of the symbol named by the string field `v` (`field` for the reasons).
    #[inline]
    pub(crate) fn symbol(
        &self,
        v: Option<json::Value<'_>>,
        field: &'static str,
    ) -> Result<u32, RejectReason> {
        let name = fields::string(fields::present(v), field)?.to_cow();
        self.symbols
            .get(name.as_bytes())
            .ok_or(RejectReason::UnknownSymbol)
    }
}

/// Symbol name → id for one venue, queried with borrowed bytes (no allocation).
///
/// Names of up to 15 bytes (nearly all) are packed into a `u128` and found with one
/// multiply-shift hash and one integer comparison; longer names use a byte-keyed map.
#[derive(Debug, Clone, Default)]
pub(crate) struct SymbolIndex {
    short: HashMap<u128, u32, std::hash::BuildHasherDefault<PackedHasher>>,
    long: HashMap<Box<[u8]>, u32, fnv::FnvBuildHasher>,
}

/// `name` packed little-endian with its length in the top byte, for names of 1 to 15
/// bytes.
#[inline]
fn pack(name: &[u8]) -> Option<u128> {
    if name.is_empty() || name.len() > 15 {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..name.len()].copy_from_slice(name);
    buf[15] = name.len() as u8;
    Some(u128::from_le_bytes(buf))
}

/// Hashes one packed name: fold the halves, multiply by an odd constant.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PackedHasher(u64);

impl std::hash::Hasher for PackedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; this keeps any other use correct.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    #[inline]
    fn write_u128(&mut self, v: u128) {
        let folded = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
        self.0 = folded.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl SymbolIndex {
    /// The symbols of `venue` in `table`.
    pub(crate) fn new(table: &SymbolTable, venue: u8) -> Self {
        let mut index = SymbolIndex::default();
        for (_, name, id) in table.names().filter(|(v, _, _)| *v == venue) {
            match pack(name.as_bytes()) {
                Some(k) => {
                    index.short.insert(k, id);
                }
                None => {
                    index.long.insert(name.as_bytes().into(), id);
                }
            }
        }
        index
    }

    /// The id of the symbol spelled exactly `name`.
    #[inline]
    pub(crate) fn get(&self, name: &[u8]) -> Option<u32> {
        match pack(name) {
            Some(k) => self.short.get(&k).copied(),
            None => self.long.get(name).copied(),
        }
    }

    /// All (name, id) pairs, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Vec<u8>, u32)> + '_ {
        let short = self.short.iter().map(|(&k, &v)| {
            let b = k.to_le_bytes();
            (b[..usize::from(b[15])].to_vec(), v)
        });
        short.chain(self.long.iter().map(|(k, &v)| (k.to_vec(), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_index_finds_short_and_long_names_exactly() {
        let mut t = SymbolTable::new();
        let long = "A_VERY_LONG_SYMBOL_NAME_X";
        for name in ["BTCUSDT", "BTCUSD", "B", "ETH-USDT-SWAP-X", long] {
            t.add(venue::OKX, name, false).unwrap();
        }
        t.add(venue::BINANCE, "BTCUSDT", false).unwrap();
        let ix = SymbolIndex::new(&t, venue::OKX);
        assert_eq!(ix.get(b"BTCUSDT"), Some(0));
        assert_eq!(ix.get(b"BTCUSD"), Some(1));
        assert_eq!(ix.get(b"B"), Some(2));
        assert_eq!(ix.get(b"ETH-USDT-SWAP-X"), Some(3));
        assert_eq!(ix.get(long.as_bytes()), Some(4));
        for miss in [
            &b""[..],
            b"BTCUSDT\0",
            b"BTCUSDTT",
            b"btcusdt",
            b"A_VERY_LONG_SYMBOL_NAME_",
        ] {
            assert_eq!(ix.get(miss), None, "{miss:?}");
        }
        let mut all: Vec<_> = ix.iter().collect();
        all.sort_by_key(|e| e.1);
        assert_eq!(all[4], (long.as_bytes().to_vec(), 4));
        assert_eq!(all.len(), 5);
    }

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
