//! Reference parsers: each venue's messages read the conventional way, with serde_json
//! into derived structs, independently of the adapters.
//!
//! They exist to check and to measure the adapters: the differential tests require an
//! adapter and its reference to produce the same trades and quotes for every frame, or
//! both to reject it; the parse benchmarks run both on the same frames. They are simple
//! rather than fast (they allocate a `Vec` per frame) and are not used by the engine.
//! Enabled by the `reference` feature.
//!
//! A reference answers only "these records" or "rejected", so its errors are `()`.
#![allow(clippy::result_unit_err)]

use std::collections::HashMap;

use tickforge_engine::record::{QuoteRecord, TradeRecord};
use tickforge_engine::symbol::{venue, SymbolTable};

/// A symbol table holding the symbols that the fixtures, documentation examples and
/// simulators of every venue use, for tests, benchmarks and fuzzing.
pub fn sample_table() -> SymbolTable {
    let mut t = SymbolTable::new();
    let names: &[(u8, &[&str])] = &[
        (venue::BINANCE, &["BTCUSDT", "BNBBTC", "BNBUSDT", "ETHUSDT"]),
        (
            venue::COINBASE,
            &[
                "BTC-USD", "ETH-USD", "ETH-BTC", "BTC-EUR", "BTC-USDT", "ETH-USDT",
            ],
        ),
        (
            venue::COINBASE_ADVANCED,
            &["BTC-USD", "ETH-USD", "ETH-BTC", "BTC-USDT", "ETH-USDT"],
        ),
        (
            venue::KRAKEN,
            &[
                "BTC/USD",
                "ETH/USD",
                "MATIC/GBP",
                "ALGO/USD",
                "BTC/EUR",
                "BTC/USDT",
                "ETH/USDT",
            ],
        ),
        (
            venue::POLYGON,
            &["AAPL", "MSFT", "SPY", "TSLA", "NVDA", "AMZN"],
        ),
        (venue::BYBIT, &["BTCUSDT", "ETHUSDT", "BTCUSDC"]),
        (venue::OKX, &["BTC-USDT", "ETH-USDT", "BTC-USD", "LTC-USDT"]),
    ];
    for (v, syms) in names {
        for s in *syms {
            // Each name appears once per venue above.
            let _ = t.add(*v, s, false);
        }
    }
    t
}

/// A trade or a quote, as the reference reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefRecord {
    /// A trade.
    Trade(TradeRecord),
    /// A best bid/offer.
    Quote(QuoteRecord),
}

/// What every venue's reference parser needs besides the frame.
#[derive(Debug, Clone)]
pub struct RefContext {
    /// Venue id written into records.
    pub venue: u8,
    /// The venue's symbols: name → id.
    pub symbols: HashMap<String, u32>,
    /// Receive time of the frame, ns.
    pub recv_ts: i64,
    /// Binance: timestamps in microseconds instead of milliseconds.
    pub micros: bool,
}

impl RefContext {
    /// The id of `name`, or `Err` (unknown symbols are rejected, as by the adapters).
    pub fn symbol(&self, name: &str) -> Result<u32, ()> {
        self.symbols.get(name).copied().ok_or(())
    }
}

/// A reference parser for one venue.
#[derive(Debug, Clone)]
pub struct Reference {
    cx: RefContext,
    bybit_books: bybit::Books,
    strict: bool,
}

impl Reference {
    /// The reference for `venue_id`, knowing the symbols `table` lists for it.
    pub fn new(venue_id: u8, table: &SymbolTable) -> Self {
        let symbols = table
            .iter()
            .filter(|s| s.venue == venue_id)
            .map(|s| (s.name.clone(), s.id))
            .collect();
        Reference {
            cx: RefContext {
                venue: venue_id,
                symbols,
                recv_ts: 0,
                micros: false,
            },
            bybit_books: bybit::Books::new(),
            strict: true,
        }
    }

    /// Skips the strict validity check of the whole frame (see [`Reference::parse`]): the
    /// plain derived-struct reading, as a conventional parser does it (benchmarks).
    pub fn lenient(mut self) -> Self {
        self.strict = false;
        self
    }

    /// Binance only: read timestamps as microseconds.
    pub fn with_micros(mut self, micros: bool) -> Self {
        self.cx.micros = micros;
        self
    }

    /// The trades and quotes in `frame` received at `recv_ts`, or `Err` when the frame
    /// is rejected. Control messages (acks, heartbeats, errors) give no records.
    ///
    /// Unless [`Reference::lenient`], the whole frame must first be one valid JSON value
    /// to serde_json (`serde_json::Value`: UTF-8, escapes, numbers within `f64`'s range,
    /// nesting), as the adapters require; derived structs alone skip unknown fields
    /// without checking them. Venues' documented non-JSON frames (OKX's `pong`) pass.
    pub fn parse(&mut self, frame: &[u8], recv_ts: i64) -> Result<Vec<RefRecord>, ()> {
        self.cx.recv_ts = recv_ts;
        if self.strict
            && frame != b"pong"
            && serde_json::from_slice::<serde_json::Value>(frame).is_err()
        {
            return Err(());
        }
        let mut out = Vec::new();
        match self.cx.venue {
            venue::BINANCE => binance::parse(frame, &self.cx, &mut out)?,
            venue::COINBASE => coinbase::parse(frame, &self.cx, &mut out)?,
            venue::COINBASE_ADVANCED => coinbase_advanced::parse(frame, &self.cx, &mut out)?,
            venue::KRAKEN => kraken::parse(frame, &self.cx, &mut out)?,
            venue::POLYGON => polygon::parse(frame, &self.cx, &mut out)?,
            venue::BYBIT => bybit::parse(frame, &self.cx, &mut self.bybit_books, &mut out)?,
            venue::OKX => okx::parse(frame, &self.cx, &mut out)?,
            _ => return Err(()),
        }
        Ok(out)
    }
}

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod coinbase_advanced;
pub mod kraken;
pub mod okx;
pub mod polygon;

// Helpers shared by the venues' reference parsers.

/// `text` when it is a JSON object (derived structs would also read an array by position).
pub(crate) fn object(text: &str) -> Result<&str, ()> {
    if text.trim_start().starts_with('{') {
        Ok(text)
    } else {
        Err(())
    }
}

/// A non-negative decimal from a string field.
pub(crate) fn decimal(v: Option<std::borrow::Cow<str>>) -> Result<i64, ()> {
    tickforge_engine::fixed::parse_unsigned_decimal(v.ok_or(())?.as_bytes()).map_err(|_| ())
}

/// A non-negative decimal from a JSON number's exact text.
pub(crate) fn number(v: Option<&serde_json::value::RawValue>) -> Result<i64, ()> {
    let text = v.ok_or(())?.get();
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(());
    }
    tickforge_engine::fixed::parse_unsigned_decimal(text.as_bytes()).map_err(|_| ())
}

/// A string of decimal digits (leading zeros allowed, nothing else) as a `u64`.
pub(crate) fn digits(s: &str) -> Result<u64, ()> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    s.parse().map_err(|_| ())
}

/// Milliseconds since the epoch in ns.
pub(crate) fn millis(t: u64) -> Result<i64, ()> {
    t.checked_mul(1_000_000)
        .and_then(|ns| i64::try_from(ns).ok())
        .ok_or(())
}
