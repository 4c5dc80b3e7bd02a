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
//!   [`tickforge_engine::fixed::parse_unsigned_decimal`]; a JSON number there is [`RejectReason::WrongType`].
//! - Timestamps are milliseconds by default; a connection opened with
//!   `timeUnit=MICROSECOND` sends microseconds ([`TimeUnit`]). A value that overflows i64
//!   nanoseconds is [`RejectReason::BadTimestamp`], so a microsecond stream read as
//!   milliseconds is rejected, not silently scaled wrong.
//! - `"m": true` means the buyer was the maker, so the aggressor sold: [`tickforge_engine::record::Side::Sell`].
//! - bookTicker carries no timestamp on spot: its `exch_ts` is the receive time (a `"T"`
//!   or `"E"` field, as in Binance's futures bookTicker, is used when present).
//! - Symbols are matched exactly as sent (`"s":"BNBBTC"`, upper case) against the symbol
//!   table; stream names are the lower-case symbol plus `@trade`, `@aggTrade`,
//!   `@bookTicker`.

mod fast;
mod messages;

use tickforge_engine::symbol::SymbolTable;

use self::messages::Ctx;
use super::json;
use super::{AdapterEvent, RejectReason, Subscription, SymbolIndex, VenueAdapter};

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
    time_unit: TimeUnit,
    max_frame_len: usize,
}

impl BinanceAdapter {
    /// Frames longer than this are rejected as [`RejectReason::Oversized`] by default.
    /// Market-data frames are a few hundred bytes; a `LIST_SUBSCRIPTIONS` reply for the
    /// 1024 streams a connection may hold is about 25 KiB.
    pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

    /// Binance's public market-data endpoint (combined streams).
    pub const DEFAULT_URL: &'static str = "wss://stream.binance.com:9443/stream";

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
        let mut symbols: Vec<(u32, Vec<u8>)> =
            self.symbols.iter().map(|(name, id)| (id, name)).collect();
        symbols.sort_unstable();
        let mut streams = Vec::with_capacity(symbols.len() * channels.len());
        for (_, name) in symbols {
            let name = String::from_utf8_lossy(&name);
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
        if let Some(t) = fast::trade(frame) {
            out(AdapterEvent::Trade(ctx.trade(&t)?));
            return Ok(());
        }
        if let Some(q) = fast::book_ticker(frame) {
            out(AdapterEvent::Quote(ctx.quote(&q)?));
            return Ok(());
        }
        if let Some(t) = fast::agg_trade(frame) {
            out(AdapterEvent::Trade(ctx.trade(&t)?));
            return Ok(());
        }
        let value = json::parse(frame).map_err(|_| RejectReason::MalformedJson)?;
        ctx.message(value, true, &mut out)
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

    /// Binance closes every connection after 24 hours ("A single connection to
    /// stream.binance.com is only valid for 24 hours; expect to be disconnected at the 24
    /// hour mark", WebSocket Streams documentation): replaced after 23 h 30 min.
    fn max_lifetime(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(23 * 3600 + 1800))
    }

    fn default_url(&self) -> &'static str {
        Self::DEFAULT_URL
    }

    /// `trade` and `bookTicker`.
    fn default_channels(&self) -> &'static [&'static str] {
        &["trade", "bookTicker"]
    }

    /// `{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker"],"id":1}`,
    /// at most [`BinanceAdapter::MAX_STREAMS_PER_REQUEST`] streams per message. Binance
    /// allows 5 incoming messages per second per connection: pace them.
    fn subscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String> {
        requests("SUBSCRIBE", subs, first_id)
    }

    /// `{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":2}`.
    fn unsubscribe_messages(&self, subs: &[Subscription], first_id: u64) -> Vec<String> {
        requests("UNSUBSCRIBE", subs, first_id)
    }
}

/// Stream names (`btcusdt@trade`) for `subs`, in requests of at most
/// [`BinanceAdapter::MAX_STREAMS_PER_REQUEST`]:
///
/// ```json
/// {"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}
/// ```
fn requests(method: &'static str, subs: &[Subscription], first_id: u64) -> Vec<String> {
    let streams: Vec<String> = subs
        .iter()
        .map(|s| format!("{}@{}", s.symbol.to_ascii_lowercase(), s.channel))
        .collect();
    streams
        .chunks(BinanceAdapter::MAX_STREAMS_PER_REQUEST)
        .zip(first_id..)
        .map(|(params, id)| {
            let params: Vec<String> = params.iter().map(|p| json::quote(p)).collect();
            format!(
                r#"{{"method":"{method}","params":[{}],"id":{id}}}"#,
                params.join(",")
            )
        })
        .collect()
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
        assert_eq!(ev, vec![messages::ignored("unrecognized")]);
        // Only the top level unwraps, and only the top level has control replies.
        let ev = parse(&mut a, r#"{"data":{"data":{"e":"trade"},"id":1}}"#).unwrap();
        assert_eq!(ev, vec![messages::ignored("unrecognized")]);
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
            a.streams(&[BinanceChannel::Trade, BinanceChannel::BookTicker]),
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
        let streams: Vec<Subscription> = (0..450)
            .map(|i| Subscription::new("trade", format!("S{i}")))
            .collect();
        let msgs = a.subscribe_messages(&streams, 7);
        assert_eq!(msgs.len(), 3);
        assert!(msgs[0].starts_with(r#"{"method":"SUBSCRIBE","params":["s0@trade","s1@trade""#));
        assert!(msgs[0].ends_with(r#""s199@trade"],"id":7}"#));
        assert!(msgs[2].ends_with(r#""s449@trade"],"id":9}"#));
        assert!(a.subscribe_messages(&[], 1).is_empty());
    }
}
