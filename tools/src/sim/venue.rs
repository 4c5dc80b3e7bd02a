//! What the simulator needs from one venue's protocol: the handshake path, the replies to
//! requests, the encoding of trades and quotes, and the venue's heartbeats.
//!
//! Each venue is one module implementing [`VenueSim`]; the server loop
//! ([`super::server`]), the market generator and the fault injection
//! ([`super::malformed`]) are shared by all of them.

use std::time::Instant;

use tickforge_engine::symbol::venue;

use super::generator::{Event, SymbolSpec};

/// The reply to one client message, or a frame the venue sends on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The text to send back.
    pub text: String,
    /// Whether it reports an error (counted in `SimStats::error_replies`).
    pub is_error: bool,
}

impl Reply {
    /// A reply that is not an error.
    pub(crate) fn ok(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            is_error: false,
        }
    }

    /// An error reply.
    pub(crate) fn error(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            is_error: true,
        }
    }
}

/// Raw JSON tokens that replace a field of an encoded message (fault injection). The
/// default encodes the event faithfully.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides<'a> {
    /// Replaces the price token (a trade's price, or a quote's bid price), quotes included.
    pub price: Option<&'a str>,
    /// Replaces the id token (a trade's id, or a quote's update id or sequence) where the
    /// venue sends one.
    pub id: Option<&'a str>,
    /// Replaces the symbol name everywhere it appears in the message.
    pub symbol: Option<&'a str>,
}

/// A trade read from a tick file, ready to encode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileTrade<'a> {
    /// Trade id.
    pub id: u64,
    /// Price text, already validated as a decimal; copied verbatim.
    pub price: &'a str,
    /// Size text, validated likewise.
    pub size: &'a str,
    /// Exchange time, ns since the Unix epoch (each venue rounds it down to its unit).
    pub ts_ns: u64,
    /// The aggressor sold.
    pub sell: bool,
}

/// One connection's protocol state for one venue.
pub(crate) trait VenueSim: Send {
    /// Frames sent right after the handshake, before any request (Polygon's `connected`
    /// status, Kraken's `status`). Default: none.
    fn greeting(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Handles one text message from the client; returns the frames to send back, in
    /// order (possibly none, possibly several).
    fn handle(&mut self, text: &str, specs: &[SymbolSpec]) -> Vec<Reply>;

    /// Indices (into the specs) of the symbols subscribed for trades, sorted and unique.
    fn trade_symbols(&self) -> &[usize];

    /// Indices of the symbols subscribed for quotes, sorted and unique.
    fn quote_symbols(&self) -> &[usize];

    /// Whether any data may be sent (the client subscribed to something, and is
    /// authenticated where the venue requires it).
    fn has_subscriptions(&self) -> bool {
        !self.trade_symbols().is_empty() || !self.quote_symbols().is_empty()
    }

    /// Appends the frame for a generated event at wall-clock time `ts_ns`, with `ov`
    /// replacing fields. Prices and sizes are in 10^-8 units
    /// ([`super::generator::PRICE_DECIMALS`]).
    fn encode(
        &mut self,
        out: &mut String,
        spec: &SymbolSpec,
        ev: &Event,
        ts_ns: u64,
        ov: &Overrides<'_>,
    );

    /// Appends the frame for a tick-file trade of `spec`.
    fn encode_file_trade(&mut self, out: &mut String, spec: &SymbolSpec, t: &FileTrade<'_>);

    /// A JSON token of the wrong type for this venue's price field (`123.4` where prices
    /// are strings, `"123.4"` where they are numbers).
    fn wrong_type_price(&self) -> &'static str;

    /// A JSON token of the wrong type for this venue's id field.
    fn wrong_type_id(&self) -> &'static str;

    /// A heartbeat frame when one is due at `now` (Coinbase's `heartbeat` channel,
    /// Kraken's `heartbeat`); called every round. Default: none.
    fn heartbeat(&mut self, _now: Instant, _specs: &[SymbolSpec]) -> Option<String> {
        None
    }

    /// The venue's notice that the server will soon close the connection, sent at
    /// wall-clock `now_ms` (Binance's `serverShutdown` event, OKX's notice 64008). Default:
    /// none, for venues that send no such notice.
    fn shutdown_notice(&self, _now_ms: u64) -> Option<String> {
        None
    }
}

/// The symbols of one connection's subscriptions, per kind, kept sorted so that the
/// generator's choices depend on the set subscribed and not on the order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subscribed {
    trades: Vec<usize>,
    quotes: Vec<usize>,
}

impl Subscribed {
    /// Adds (`on`) or removes a symbol for trades (`trade`) or quotes.
    pub(crate) fn set(&mut self, trade: bool, symbol: usize, on: bool) {
        let v = if trade {
            &mut self.trades
        } else {
            &mut self.quotes
        };
        match (v.binary_search(&symbol), on) {
            (Err(i), true) => v.insert(i, symbol),
            (Ok(i), false) => {
                v.remove(i);
            }
            _ => {}
        }
    }

    /// Trade symbols, sorted.
    pub(crate) fn trades(&self) -> &[usize] {
        &self.trades
    }

    /// Quote symbols, sorted.
    pub(crate) fn quotes(&self) -> &[usize] {
        &self.quotes
    }
}

/// Appends `v` (in 10^-`decimals` units) as a JSON string (`quoted`) or a JSON number;
/// `raw`, when set, is appended instead (fault injection).
pub(crate) fn push_decimal(
    out: &mut String,
    v: i64,
    decimals: u32,
    quoted: bool,
    raw: Option<&str>,
) {
    if let Some(raw) = raw {
        out.push_str(raw);
        return;
    }
    if quoted {
        out.push('"');
    }
    super::generator::write_decimal(out, v, decimals);
    if quoted {
        out.push('"');
    }
}

/// `Ok` when the handshake asked for `path` (a query is ignored), else the HTTP error.
pub(crate) fn expect_path(path: &str, expected: &str) -> Result<(), String> {
    if path.split('?').next() == Some(expected) {
        Ok(())
    } else {
        Err(format!("unknown path '{path}': use {expected}"))
    }
}

/// The index of the symbol named `name` (exact match).
pub(crate) fn find_symbol(specs: &[SymbolSpec], name: &str) -> Option<usize> {
    specs.iter().position(|s| s.name == name)
}

/// Opens a session of venue `venue_id` for a client that asked for `path` (path and
/// query) in its handshake; `Err` holds the HTTP error text for an unknown path.
pub(crate) fn open(
    venue_id: u8,
    path: &str,
    specs: &[SymbolSpec],
) -> Result<Box<dyn VenueSim>, String> {
    match venue_id {
        venue::BINANCE => super::binance::open(path, specs),
        venue::COINBASE => super::coinbase::open(path, specs),
        venue::COINBASE_ADVANCED => super::coinbase_advanced::open(path, specs),
        venue::KRAKEN => super::kraken::open(path, specs),
        venue::POLYGON => super::polygon::open(path, specs),
        venue::BYBIT => super::bybit::open(path, specs),
        venue::OKX => super::okx::open(path, specs),
        other => Err(format!(
            "the simulator does not speak {}",
            venue::name(other)
        )),
    }
}

/// The path of the venue's public endpoint, which the simulator serves (`/stream` for
/// Binance, `/v2` for Kraken, ...).
pub(crate) fn default_path(venue_id: u8) -> &'static str {
    match venue_id {
        venue::BINANCE => super::binance::PATH,
        venue::COINBASE => super::coinbase::PATH,
        venue::COINBASE_ADVANCED => super::coinbase_advanced::PATH,
        venue::KRAKEN => super::kraken::PATH,
        venue::POLYGON => super::polygon::PATH,
        venue::BYBIT => super::bybit::PATH,
        venue::OKX => super::okx::PATH,
        _ => "/",
    }
}

/// The venue's spelling of a symbol written `BTCUSDT` (base then quote, no separator):
/// `BTC-USDT` on Coinbase and OKX, `BTC/USDT` on Kraken, unchanged on Binance, Bybit and
/// Polygon. Names that already hold a separator, or whose quote currency is not one of
/// the usual ones, are returned unchanged.
pub fn venue_spelling(venue_id: u8, name: &str) -> String {
    let sep = match venue_id {
        venue::COINBASE | venue::COINBASE_ADVANCED | venue::OKX => "-",
        venue::KRAKEN => "/",
        _ => return name.to_owned(),
    };
    if name.contains(['-', '/']) {
        return name.to_owned();
    }
    for quote in ["USDT", "USDC", "USD", "EUR", "BTC"] {
        if let Some(base) = name.strip_suffix(quote) {
            if !base.is_empty() {
                return format!("{base}{sep}{quote}");
            }
        }
    }
    name.to_owned()
}

/// `ts_ns` as RFC 3339 UTC text with microseconds, as Coinbase and Kraken send times:
/// `2023-09-25T07:49:37.708706Z`.
pub(crate) fn rfc3339_micros(ts_ns: u64) -> String {
    crate::timefmt::rfc3339(ts_ns.min(i64::MAX as u64) as i64, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_as_venues_do() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_micros(1_695_628_177_708_706_999),
            "2023-09-25T07:49:37.708706Z"
        );
        assert_eq!(
            rfc3339_micros(1_709_251_199_500_000_000),
            "2024-02-29T23:59:59.500000Z"
        );
        for ns in [1u64, 951_782_400_000_000_000, 4_102_444_800_123_456_000] {
            let back = tickforge_feeds::venue::time::parse_rfc3339_ns(&rfc3339_micros(ns));
            assert_eq!(back, Some((ns / 1_000 * 1_000) as i64));
        }
    }
}
