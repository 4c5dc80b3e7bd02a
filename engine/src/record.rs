//! Fixed-size records: trades, quotes, bars, signals and feed status.
//!
//! Every record is 64 bytes, `#[repr(C, align(64))]`, so one record is one cache line in the
//! rings and in the shared-memory files. All records share an 8-byte head: `kind` (u8), a
//! kind-specific byte (`venue` for market data and feed status, the timeframe index for
//! bars and signals), `flags` (u16) and `symbol` (u32). Prices and sizes are fixed-point
//! nano-units (see [`crate::fixed`]); timestamps are nanoseconds since the Unix epoch.
//!
//! The byte-by-byte layout of each record is documented in the README and checked by the
//! tests at the bottom of this file.

use std::mem::size_of;

/// Size of every record in bytes.
pub const RECORD_SIZE: usize = 64;

/// What a record holds; the first byte of every record.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A [`TradeRecord`].
    Trade = 1,
    /// A [`QuoteRecord`].
    Quote = 2,
    /// A [`BarRecord`].
    Bar = 3,
    /// A [`SignalRecord`].
    Signal = 4,
    /// A [`FeedStatusRecord`].
    FeedStatus = 5,
    /// Internal, never published: a [`ClockRecord`].
    Clock = 0x81,
    /// Internal, never published: a [`DropNoticeRecord`].
    DropNotice = 0x82,
    /// Internal, never published: an [`EndRecord`].
    End = 0x83,
}

impl Kind {
    /// The kind for a record's first byte, if it names one.
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Trade,
            2 => Kind::Quote,
            3 => Kind::Bar,
            4 => Kind::Signal,
            5 => Kind::FeedStatus,
            0x81 => Kind::Clock,
            0x82 => Kind::DropNotice,
            0x83 => Kind::End,
            _ => return None,
        })
    }

    /// Lower-case name, as used in `tail` filters and exports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Trade => "trade",
            Kind::Quote => "quote",
            Kind::Bar => "bar",
            Kind::Signal => "signal",
            Kind::FeedStatus => "status",
            Kind::Clock => "clock",
            Kind::DropNotice => "drop_notice",
            Kind::End => "end",
        }
    }

    /// True for the kinds that only travel between stages and are never published.
    pub fn is_internal(self) -> bool {
        (self as u8) & 0x80 != 0
    }
}

/// Aggressor side of a trade.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The venue did not say.
    Unknown = 0,
    /// The buyer took liquidity.
    Buy = 1,
    /// The seller took liquidity.
    Sell = 2,
}

impl Side {
    /// Side from the two low bits of trade flags.
    pub fn from_bits(bits: u16) -> Side {
        match bits & 0b11 {
            1 => Side::Buy,
            2 => Side::Sell,
            _ => Side::Unknown,
        }
    }

    /// Lower-case name: `buy`, `sell` or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Unknown => "unknown",
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// A trade (a print), normalized from any venue.
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 1 | kind = 1 |
/// | 1 | 1 | venue id |
/// | 2 | 2 | flags: bits 0-1 aggressor side (0 unknown, 1 buy, 2 sell); [`trade_flags`] |
/// | 4 | 4 | symbol id |
/// | 8 | 8 | exchange timestamp, ns |
/// | 16 | 8 | receive timestamp, ns |
/// | 24 | 8 | price, 1e-9 units |
/// | 32 | 8 | size, 1e-9 units |
/// | 40 | 8 | venue trade id (0 when the venue has none) |
/// | 48 | 16 | reserved, zero |
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TradeRecord {
    /// [`Kind::Trade`].
    pub kind: u8,
    /// Venue id.
    pub venue: u8,
    /// Bits 0-1: aggressor [`Side`].
    pub flags: u16,
    /// Symbol id from the symbol table.
    pub symbol: u32,
    /// Exchange timestamp, ns since the Unix epoch.
    pub exch_ts: i64,
    /// Receive timestamp, ns since the Unix epoch.
    pub recv_ts: i64,
    /// Price in 1e-9 units.
    pub price: i64,
    /// Size in 1e-9 units.
    pub size: i64,
    /// The venue's trade id, 0 when it has none.
    pub trade_id: u64,
    /// Reserved, zero.
    pub reserved: [u64; 2],
}

impl TradeRecord {
    /// A trade record with the kind set and the side in its flags.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        venue: u8,
        symbol: u32,
        exch_ts: i64,
        recv_ts: i64,
        price: i64,
        size: i64,
        side: Side,
        trade_id: u64,
    ) -> Self {
        TradeRecord {
            kind: Kind::Trade as u8,
            venue,
            flags: side as u16,
            symbol,
            exch_ts,
            recv_ts,
            price,
            size,
            trade_id,
            reserved: [0; 2],
        }
    }

    /// The aggressor side.
    pub fn side(&self) -> Side {
        Side::from_bits(self.flags)
    }

    /// The record with `flags` ([`trade_flags`]) added.
    pub fn with_flags(mut self, flags: u16) -> Self {
        self.flags |= flags;
        self
    }

    /// True when the trade has an id and its venue numbers a symbol's trades 1, 2, 3, …
    /// (neither [`trade_flags::ID_NOT_CONSECUTIVE`] nor [`trade_flags::ID_UNORDERED`]): a
    /// skipped id is then a gap and a repeated or older one a duplicate.
    #[inline]
    pub fn ids_consecutive(&self) -> bool {
        self.trade_id != 0
            && self.flags & (trade_flags::ID_NOT_CONSECUTIVE | trade_flags::ID_UNORDERED) == 0
    }
}

/// Trade flags above the side bits: what the venue's trade ids promise. With neither flag
/// the ids of one symbol run 1, 2, 3, … (Binance, Coinbase, Kraken): a repeated or older id
/// is a duplicate and a skipped id is a gap.
pub mod trade_flags {
    /// Bits 0-1: the aggressor side ([`super::Side`]).
    pub const SIDE_MASK: u16 = 0b11;
    /// Ids increase per symbol but skip values (OKX, Bybit): older ids are duplicates, a
    /// jump is not a gap.
    pub const ID_NOT_CONSECUTIVE: u16 = 1 << 2;
    /// Ids carry no order, or there are none (Polygon): no duplicate or gap detection.
    pub const ID_UNORDERED: u16 = 1 << 3;
}

/// Best bid and offer.
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 1 | kind = 2 |
/// | 1 | 1 | venue id |
/// | 2 | 2 | flags, zero |
/// | 4 | 4 | symbol id |
/// | 8 | 8 | exchange timestamp, ns (the receive time when the venue sends none) |
/// | 16 | 8 | receive timestamp, ns |
/// | 24 | 8 | bid price |
/// | 32 | 8 | bid size |
/// | 40 | 8 | ask price |
/// | 48 | 8 | ask size |
/// | 56 | 8 | venue update id or sequence (0 when none) |
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuoteRecord {
    /// [`Kind::Quote`].
    pub kind: u8,
    /// Venue id.
    pub venue: u8,
    /// Reserved, zero.
    pub flags: u16,
    /// Symbol id.
    pub symbol: u32,
    /// Exchange timestamp, ns.
    pub exch_ts: i64,
    /// Receive timestamp, ns.
    pub recv_ts: i64,
    /// Best bid price, 1e-9 units.
    pub bid: i64,
    /// Size at the best bid.
    pub bid_size: i64,
    /// Best ask price.
    pub ask: i64,
    /// Size at the best ask.
    pub ask_size: i64,
    /// The venue's update id or sequence, 0 when none.
    pub update_id: u64,
}

impl QuoteRecord {
    /// A quote record with the kind set.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        venue: u8,
        symbol: u32,
        exch_ts: i64,
        recv_ts: i64,
        bid: i64,
        bid_size: i64,
        ask: i64,
        ask_size: i64,
        update_id: u64,
    ) -> Self {
        QuoteRecord {
            kind: Kind::Quote as u8,
            venue,
            flags: 0,
            symbol,
            exch_ts,
            recv_ts,
            bid,
            bid_size,
            ask,
            ask_size,
            update_id,
        }
    }
}

/// Bar flags (the `flags` field of a [`BarRecord`] and of the signals computed from it).
pub mod bar_flags {
    /// The bar is closed (final); absent on a bar still being built in `NAME.latest`.
    pub const CLOSED: u16 = 1 << 0;
    /// No trade in the interval: a flat bar at the previous close.
    pub const EMPTY: u16 = 1 << 1;
    /// A trade in the interval was dropped on a full ring.
    pub const INCOMPLETE: u16 = 1 << 2;
    /// The feed was stale or reconnecting during the interval.
    pub const STALE: u16 = 1 << 3;
    /// The venue's trade-id sequence skipped during the interval.
    pub const GAP: u16 = 1 << 4;
    /// Names of the flags, in bit order.
    pub const NAMES: [(u16, &str); 5] = [
        (CLOSED, "closed"),
        (EMPTY, "empty"),
        (INCOMPLETE, "incomplete"),
        (STALE, "stale"),
        (GAP, "gap"),
    ];
}

/// An OHLCV bar of one symbol and timeframe.
///
/// Volume is an exact 96-bit sum, split into a low u64 and a high u32.
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 1 | kind = 3 |
/// | 1 | 1 | timeframe index (into the timeframe table of `NAME.latest`) |
/// | 2 | 2 | flags ([`bar_flags`]) |
/// | 4 | 4 | symbol id |
/// | 8 | 8 | open time, ns (the label; the bar covers `[open, open + tf)`) |
/// | 16 | 8 | open price |
/// | 24 | 8 | high price |
/// | 32 | 8 | low price |
/// | 40 | 8 | close price |
/// | 48 | 8 | volume, low 64 bits (1e-9 units) |
/// | 56 | 4 | volume, high 32 bits |
/// | 60 | 4 | trade count |
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BarRecord {
    /// [`Kind::Bar`].
    pub kind: u8,
    /// Index of the timeframe in the engine's timeframe table.
    pub tf: u8,
    /// [`bar_flags`].
    pub flags: u16,
    /// Symbol id.
    pub symbol: u32,
    /// Open time (label), ns since the Unix epoch.
    pub open_ts: i64,
    /// First trade's price.
    pub open: i64,
    /// Highest price.
    pub high: i64,
    /// Lowest price.
    pub low: i64,
    /// Last trade's price.
    pub close: i64,
    /// Volume, low 64 bits.
    pub volume_lo: u64,
    /// Volume, high 32 bits.
    pub volume_hi: u32,
    /// Number of trades.
    pub count: u32,
}

/// Largest volume a bar can hold: 2^96 - 1 nano-units.
pub const MAX_BAR_VOLUME: u128 = (1u128 << 96) - 1;

impl BarRecord {
    /// The exact volume in 1e-9 units.
    pub fn volume(&self) -> u128 {
        u128::from(self.volume_hi) << 64 | u128::from(self.volume_lo)
    }

    /// Sets the volume; the caller keeps it at or below [`MAX_BAR_VOLUME`].
    pub fn set_volume(&mut self, v: u128) {
        debug_assert!(v <= MAX_BAR_VOLUME);
        self.volume_lo = v as u64;
        self.volume_hi = (v >> 64) as u32;
    }
}

/// What a signal is. Candlestick patterns carry TA-Lib's integer value.
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// Close above the highest high (or below the lowest low) of the previous N bars.
    Breakout = 1,
    /// SMA(fast) of closes crosses SMA(slow).
    SmaCross = 2,
    /// Volume above k times the mean volume of the previous N bars.
    VolSpike = 3,
}

impl SignalKind {
    /// The kind for a signal record's code, if it names one.
    pub fn from_u16(code: u16) -> Option<SignalKind> {
        Some(match code {
            1 => SignalKind::Breakout,
            2 => SignalKind::SmaCross,
            3 => SignalKind::VolSpike,
            _ => return None,
        })
    }

    /// Lower-case name, as in exports: `breakout`, `sma_cross`, `vol_spike`.
    pub fn name(self) -> &'static str {
        match self {
            SignalKind::Breakout => "breakout",
            SignalKind::SmaCross => "sma_cross",
            SignalKind::VolSpike => "vol_spike",
        }
    }
}

/// A signal or candlestick pattern found on a closed bar.
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 1 | kind = 4 |
/// | 1 | 1 | timeframe index |
/// | 2 | 2 | flags of the bar it was found on |
/// | 4 | 4 | symbol id |
/// | 8 | 8 | open time of the bar, ns |
/// | 16 | 2 | signal kind code ([`SignalKind`]) |
/// | 18 | 1 | direction: 1 up/bullish, -1 down/bearish, 0 none (doji) (i8) |
/// | 19 | 1 | reserved |
/// | 20 | 4 | value: TA-Lib's integer for candlesticks, ±100 otherwise (i32) |
/// | 24 | 8 | strength, 1e-9 units (e.g. how far beyond the level, relative) |
/// | 32 | 8 | reference level (the broken high or low, the slow SMA, the mean volume) |
/// | 40 | 8 | close of the bar |
/// | 48 | 16 | reserved, zero |
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignalRecord {
    /// [`Kind::Signal`].
    pub kind: u8,
    /// Index of the timeframe.
    pub tf: u8,
    /// Flags of the bar the signal was found on.
    pub flags: u16,
    /// Symbol id.
    pub symbol: u32,
    /// Open time of the bar, ns.
    pub bar_open_ts: i64,
    /// [`SignalKind`] code.
    pub signal: u16,
    /// 1 up, -1 down.
    pub direction: i8,
    /// Reserved, zero.
    pub reserved0: u8,
    /// TA-Lib's integer for candlesticks; ±100 for signals.
    pub value: i32,
    /// Strength in 1e-9 units: relative distance beyond the level.
    pub strength: i64,
    /// The level that was crossed or exceeded.
    pub level: i64,
    /// Close of the bar.
    pub close: i64,
    /// Reserved, zero.
    pub reserved: [u64; 2],
}

/// Feed and connection states carried by a [`FeedStatusRecord`].
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedState {
    /// Connecting (TCP, TLS or WebSocket handshake).
    Connecting = 1,
    /// Connected and subscribed; data flows.
    Live = 2,
    /// No data within the idle timeout.
    Stale = 3,
    /// The connection closed or failed.
    Disconnected = 4,
    /// The venue acknowledged a subscription.
    Subscribed = 5,
    /// The venue reported an error (the code is in `detail`).
    VenueError = 6,
    /// The feed ended (a finite input is exhausted).
    Ended = 7,
    /// The journal cannot be written: frames are processed and published but not kept
    /// (engine-wide: feed id `u32::MAX`; `detail` counts the loss episodes so far).
    JournalLost = 8,
    /// The journal is written again after a loss (`detail`: frames not journaled meanwhile).
    JournalResumed = 9,
    /// The connection is being replaced, make before break (the venue announced a shutdown,
    /// or the connection reached its maximum lifetime); `detail`: the new connection's id.
    Rotating = 10,
    /// The new connection took over from the old one (`detail`: the old connection's id);
    /// no data was missed.
    Rotated = 11,
    /// A source group switched to a backup source (`detail`: its feed id).
    FailedOver = 12,
    /// A source group switched back to its primary (`detail`: its feed id).
    FailedBack = 13,
}

impl FeedState {
    /// The state for a record's code, if it names one.
    pub fn from_u16(code: u16) -> Option<FeedState> {
        Some(match code {
            1 => FeedState::Connecting,
            2 => FeedState::Live,
            3 => FeedState::Stale,
            4 => FeedState::Disconnected,
            5 => FeedState::Subscribed,
            6 => FeedState::VenueError,
            7 => FeedState::Ended,
            8 => FeedState::JournalLost,
            9 => FeedState::JournalResumed,
            10 => FeedState::Rotating,
            11 => FeedState::Rotated,
            12 => FeedState::FailedOver,
            13 => FeedState::FailedBack,
            _ => return None,
        })
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            FeedState::Connecting => "connecting",
            FeedState::Live => "live",
            FeedState::Stale => "stale",
            FeedState::Disconnected => "disconnected",
            FeedState::Subscribed => "subscribed",
            FeedState::VenueError => "venue_error",
            FeedState::Ended => "ended",
            FeedState::JournalLost => "journal_lost",
            FeedState::JournalResumed => "journal_resumed",
            FeedState::Rotating => "rotating",
            FeedState::Rotated => "rotated",
            FeedState::FailedOver => "failed_over",
            FeedState::FailedBack => "failed_back",
        }
    }
}

/// A change in a feed's or connection's state.
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 1 | kind = 5 |
/// | 1 | 1 | venue id |
/// | 2 | 2 | state ([`FeedState`]) |
/// | 4 | 4 | feed id |
/// | 8 | 8 | time of the change (receive clock), ns |
/// | 16 | 4 | connection id |
/// | 20 | 4 | reserved |
/// | 24 | 8 | detail: venue error code, reconnect attempt, … (i64) |
/// | 32 | 32 | reason: UTF-8 text, zero padded |
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedStatusRecord {
    /// [`Kind::FeedStatus`].
    pub kind: u8,
    /// Venue id.
    pub venue: u8,
    /// [`FeedState`] code.
    pub state: u16,
    /// Feed id (index in the engine's feed list).
    pub feed: u32,
    /// Time of the change, ns since the Unix epoch.
    pub ts: i64,
    /// Connection id.
    pub conn: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Detail: a venue error code, a reconnect attempt number, …
    pub detail: i64,
    /// Reason, UTF-8, zero padded.
    pub reason: [u8; 32],
}

impl FeedStatusRecord {
    /// A status record; `reason` is cut at 32 bytes on a character boundary.
    pub fn new(
        venue: u8,
        feed: u32,
        conn: u32,
        state: FeedState,
        ts: i64,
        detail: i64,
        reason: &str,
    ) -> Self {
        let mut r = FeedStatusRecord {
            kind: Kind::FeedStatus as u8,
            venue,
            state: state as u16,
            feed,
            ts,
            conn,
            reserved: 0,
            detail,
            reason: [0; 32],
        };
        let mut end = reason.len().min(32);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        r.reason[..end].copy_from_slice(&reason.as_bytes()[..end]);
        r
    }

    /// The reason text.
    pub fn reason(&self) -> &str {
        let end = self.reason.iter().position(|&b| b == 0).unwrap_or(32);
        std::str::from_utf8(&self.reason[..end]).unwrap_or("")
    }
}

/// Internal: the receive clock of an idle feed, so its bars close on time.
///
/// The reader injects one while a feed is quiet; the aggregator advances the feed's
/// watermark by the receive time elapsed since the feed's last trade.
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockRecord {
    /// [`Kind::Clock`].
    pub kind: u8,
    /// Reserved.
    pub reserved0: u8,
    /// Reserved.
    pub flags: u16,
    /// Feed id.
    pub feed: u32,
    /// Receive clock, ns since the Unix epoch.
    pub recv_ts: i64,
    /// Reserved.
    pub reserved: [u64; 6],
}

impl ClockRecord {
    /// A clock tick for `feed` at receive time `recv_ts`.
    pub fn new(feed: u32, recv_ts: i64) -> Self {
        ClockRecord {
            kind: Kind::Clock as u8,
            feed,
            recv_ts,
            ..Default::default()
        }
    }
}

/// Internal: trades of one symbol were dropped on a full ring; the bars they would have
/// touched must be flagged incomplete.
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropNoticeRecord {
    /// [`Kind::DropNotice`].
    pub kind: u8,
    /// Venue id.
    pub venue: u8,
    /// Reserved.
    pub flags: u16,
    /// Symbol id.
    pub symbol: u32,
    /// Earliest exchange timestamp among the dropped trades.
    pub min_ts: i64,
    /// Latest exchange timestamp among the dropped trades.
    pub max_ts: i64,
    /// Number of trades dropped.
    pub count: u64,
    /// Reserved.
    pub reserved: [u64; 4],
}

/// Internal: a feed (or, with feed `u32::MAX`, the whole input) has ended. Each stage
/// finishes its work (the aggregator closes every open bar) and passes it on.
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndRecord {
    /// [`Kind::End`].
    pub kind: u8,
    /// Reserved.
    pub reserved0: u8,
    /// Reserved.
    pub flags: u16,
    /// Feed id, or `u32::MAX` for the whole input.
    pub feed: u32,
    /// Receive clock at the end.
    pub recv_ts: i64,
    /// Reserved.
    pub reserved: [u64; 6],
}

impl EndRecord {
    /// The end of every feed.
    pub fn all(recv_ts: i64) -> Self {
        EndRecord {
            kind: Kind::End as u8,
            feed: u32::MAX,
            recv_ts,
            ..Default::default()
        }
    }
}

/// Any record, as raw 64 bytes with typed views.
///
/// This is what rings and the shared-memory event ring carry. The views check the kind
/// byte, so a reader can never misinterpret a record.
#[repr(C, align(64))]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Record {
    bytes: [u8; RECORD_SIZE],
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.view() {
            Some(v) => v.fmt(f),
            None => write!(f, "Record(kind={})", self.bytes[0]),
        }
    }
}

impl Default for Record {
    fn default() -> Self {
        Record {
            bytes: [0; RECORD_SIZE],
        }
    }
}

/// A typed view of a [`Record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordView {
    /// A trade.
    Trade(TradeRecord),
    /// A quote.
    Quote(QuoteRecord),
    /// A bar.
    Bar(BarRecord),
    /// A signal.
    Signal(SignalRecord),
    /// A feed status change.
    FeedStatus(FeedStatusRecord),
    /// Internal clock tick.
    Clock(ClockRecord),
    /// Internal drop notice.
    DropNotice(DropNoticeRecord),
    /// Internal end of input.
    End(EndRecord),
}

/// Marker for the plain-old-data record structs: 64 bytes, align 64, every bit pattern
/// valid, no padding.
///
/// # Safety
/// Implementors must be `#[repr(C, align(64))]`, exactly [`RECORD_SIZE`] bytes, contain no
/// padding bytes, and accept any bit pattern in every field.
pub unsafe trait Pod64: Copy + 'static {}

// SAFETY: each struct is repr(C, align(64)), 64 bytes of integer fields with no padding
// (checked by `layouts_have_no_padding` below), and any bit pattern is a valid integer.
unsafe impl Pod64 for TradeRecord {}
// SAFETY: as above.
unsafe impl Pod64 for QuoteRecord {}
// SAFETY: as above.
unsafe impl Pod64 for BarRecord {}
// SAFETY: as above.
unsafe impl Pod64 for SignalRecord {}
// SAFETY: as above.
unsafe impl Pod64 for FeedStatusRecord {}
// SAFETY: as above.
unsafe impl Pod64 for ClockRecord {}
// SAFETY: as above.
unsafe impl Pod64 for DropNoticeRecord {}
// SAFETY: as above.
unsafe impl Pod64 for EndRecord {}
// SAFETY: a 64-byte array, align 64.
unsafe impl Pod64 for Record {}

impl Record {
    /// The record's 64 bytes.
    pub fn as_bytes(&self) -> &[u8; RECORD_SIZE] {
        &self.bytes
    }

    /// A record from 64 raw bytes (as read from shared memory).
    pub fn from_bytes(bytes: [u8; RECORD_SIZE]) -> Self {
        Record { bytes }
    }

    /// Wraps a typed record.
    pub fn from_pod<T: Pod64>(rec: &T) -> Self {
        debug_assert_eq!(size_of::<T>(), RECORD_SIZE);
        // SAFETY: `T: Pod64` is 64 bytes with no padding, so all 64 bytes are initialized
        // and may be read as `[u8; 64]`; the read is from a valid reference.
        let bytes = unsafe { std::ptr::read((rec as *const T).cast::<[u8; RECORD_SIZE]>()) };
        Record { bytes }
    }

    fn to_pod<T: Pod64>(self) -> T {
        // SAFETY: `T: Pod64` accepts any bit pattern of 64 bytes, and `Record` is aligned
        // to 64 like `T`, so reading a `T` from it is valid.
        unsafe { std::ptr::read((&self.bytes as *const [u8; RECORD_SIZE]).cast::<T>()) }
    }

    /// The kind byte, if it names a known kind.
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_u8(self.bytes[0])
    }

    /// The receive time of a trade or quote (bytes 16..24 of both); `None` for others.
    #[inline]
    pub fn market_recv_ts(&self) -> Option<i64> {
        match self.kind() {
            Some(Kind::Trade) | Some(Kind::Quote) => {
                let b = self.as_bytes();
                Some(i64::from_le_bytes(b[16..24].try_into().expect("8 bytes")))
            }
            _ => None,
        }
    }

    /// The symbol id (bytes 4..8); for a feed status record, the feed id.
    pub fn symbol(&self) -> u32 {
        u32::from_ne_bytes([self.bytes[4], self.bytes[5], self.bytes[6], self.bytes[7]])
    }

    /// The typed view, or `None` for an unknown kind byte.
    pub fn view(&self) -> Option<RecordView> {
        Some(match self.kind()? {
            Kind::Trade => RecordView::Trade(self.to_pod()),
            Kind::Quote => RecordView::Quote(self.to_pod()),
            Kind::Bar => RecordView::Bar(self.to_pod()),
            Kind::Signal => RecordView::Signal(self.to_pod()),
            Kind::FeedStatus => RecordView::FeedStatus(self.to_pod()),
            Kind::Clock => RecordView::Clock(self.to_pod()),
            Kind::DropNotice => RecordView::DropNotice(self.to_pod()),
            Kind::End => RecordView::End(self.to_pod()),
        })
    }
}

/// `From<T> for Record` for each record type.
macro_rules! into_record {
    ($($t:ty),*) => {$(
        impl From<$t> for Record {
            fn from(r: $t) -> Self {
                Record::from_pod(&r)
            }
        }
    )*};
}

into_record!(
    TradeRecord,
    QuoteRecord,
    BarRecord,
    SignalRecord,
    FeedStatusRecord,
    ClockRecord,
    DropNoticeRecord,
    EndRecord
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of};

    #[test]
    fn records_are_one_cache_line() {
        for (size, align) in [
            (size_of::<TradeRecord>(), align_of::<TradeRecord>()),
            (size_of::<QuoteRecord>(), align_of::<QuoteRecord>()),
            (size_of::<BarRecord>(), align_of::<BarRecord>()),
            (size_of::<SignalRecord>(), align_of::<SignalRecord>()),
            (
                size_of::<FeedStatusRecord>(),
                align_of::<FeedStatusRecord>(),
            ),
            (size_of::<Record>(), align_of::<Record>()),
            (size_of::<ClockRecord>(), align_of::<ClockRecord>()),
            (
                size_of::<DropNoticeRecord>(),
                align_of::<DropNoticeRecord>(),
            ),
            (size_of::<EndRecord>(), align_of::<EndRecord>()),
        ] {
            assert_eq!(size, 64);
            assert_eq!(align, 64);
        }
    }

    #[test]
    fn layouts_have_no_padding() {
        // The last field of each record ends at byte 64, and the documented offsets hold.
        assert_eq!(offset_of!(TradeRecord, trade_id), 40);
        assert_eq!(offset_of!(TradeRecord, reserved) + 16, 64);
        assert_eq!(offset_of!(QuoteRecord, bid), 24);
        assert_eq!(offset_of!(QuoteRecord, update_id) + 8, 64);
        assert_eq!(offset_of!(BarRecord, open_ts), 8);
        assert_eq!(offset_of!(BarRecord, volume_lo), 48);
        assert_eq!(offset_of!(BarRecord, volume_hi), 56);
        assert_eq!(offset_of!(BarRecord, count) + 4, 64);
        assert_eq!(offset_of!(SignalRecord, signal), 16);
        assert_eq!(offset_of!(SignalRecord, direction), 18);
        assert_eq!(offset_of!(SignalRecord, value), 20);
        assert_eq!(offset_of!(SignalRecord, reserved) + 16, 64);
        assert_eq!(offset_of!(FeedStatusRecord, conn), 16);
        assert_eq!(offset_of!(FeedStatusRecord, detail), 24);
        assert_eq!(offset_of!(FeedStatusRecord, reason) + 32, 64);
    }

    #[test]
    fn views_round_trip_through_bytes() {
        let t = TradeRecord::new(1, 7, 10, 11, 12, 13, Side::Sell, 99);
        let r = Record::from(t);
        assert_eq!(r.kind(), Some(Kind::Trade));
        assert_eq!(r.symbol(), 7);
        assert_eq!(r.view(), Some(RecordView::Trade(t)));
        assert_eq!(t.side(), Side::Sell);
        let r2 = Record::from_bytes(*r.as_bytes());
        assert_eq!(r2, r);

        let mut b = BarRecord {
            kind: Kind::Bar as u8,
            ..Default::default()
        };
        b.set_volume(MAX_BAR_VOLUME);
        assert_eq!(b.volume(), MAX_BAR_VOLUME);
        assert_eq!(Record::from(b).view(), Some(RecordView::Bar(b)));

        assert_eq!(Record::from_bytes([0xff; 64]).view(), None);
    }

    #[test]
    fn status_reason_is_cut_on_a_char_boundary() {
        let s = FeedStatusRecord::new(1, 0, 3, FeedState::Stale, 5, 0, &"é".repeat(20));
        assert_eq!(s.reason(), "é".repeat(16));
        assert_eq!(FeedState::from_u16(s.state), Some(FeedState::Stale));
    }
}
