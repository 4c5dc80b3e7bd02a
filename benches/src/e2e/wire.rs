//! The frames the end-to-end bench sends: Binance combined-stream `trade` and `bookTicker`
//! messages, encoded once as whole WebSocket frames, with fixed-width numeric fields
//! patched in place as each frame goes out.
//!
//! A [`FramePool`] holds a few thousand frames over the eight simulated symbols (a random
//! walk of prices, random sizes and sides, trades and quotes mixed half and half), each
//! with its unmasked server frame header already written. A [`FrameCursor`] walks the
//! pool round and round and, for frame `k` of a run, patches:
//!
//! * trades: `t`, the symbol's next trade id (`1000000001`, `1000000002`, … per symbol,
//!   so ids are consecutive and never collide), and `T`, the exchange time in ms,
//!   `t0 + k · 1000 / nominal rate`: a function of `k` only, so two runs of the same length
//!   get the same trades, and bars, whatever their timing;
//! * the send stamp: `E` of a trade and `u` of a quote hold the wall-clock time
//!   (`CLOCK_REALTIME`, ns) at which the frame is handed to the kernel.
//!
//! Stamps go into fields the frames already have, not an extra field: tickforge reads a
//! trade's exchange time from `T` and skips `E`, and keeps a quote's `u` as its update id,
//! so the frames keep Binance's exact layout and meet the adapter's fast path, as real
//! Binance frames do. Binance's `u` increases but is not consecutive, like a clock.
//!
//! Every patched field has a fixed width (19 digits for ns stamps, 13 for ms, 10 for ids)
//! and never a leading zero in this era, so a frame's length never changes.

use tickforge::sim::DEFAULT_SYMBOLS;

use crate::Rng;

/// Digits of a nanosecond wall-clock stamp (until the year 2286).
const STAMP_DIGITS: usize = 19;
/// Digits of a millisecond exchange time (until the year 2286).
const MS_DIGITS: usize = 13;
/// Digits of a trade id.
const ID_DIGITS: usize = 10;
/// Trade ids are `ID_BASE + n`, `n` from 1: always ten digits.
const ID_BASE: u64 = 1_000_000_000;
/// Decimals of prices and sizes on the wire (Binance sends eight).
const DECIMALS: u32 = 8;
const UNIT: i64 = 10i64.pow(DECIMALS);

/// The simulated symbols, in the order the engine's symbol table gets them.
pub fn symbols() -> Vec<String> {
    DEFAULT_SYMBOLS.iter().map(|s| (*s).to_owned()).collect()
}

/// The streams of every symbol: `btcusdt@trade`, `btcusdt@bookTicker`, …
pub fn streams(symbols: &[String]) -> Vec<String> {
    symbols
        .iter()
        .flat_map(|s| {
            let s = s.to_ascii_lowercase();
            [format!("{s}@trade"), format!("{s}@bookTicker")]
        })
        .collect()
}

/// One Binance `SUBSCRIBE` request for every stream of `symbols`.
pub fn subscribe_request(symbols: &[String], id: u64) -> String {
    let params: Vec<String> = streams(symbols)
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    format!(
        r#"{{"method":"SUBSCRIBE","params":[{}],"id":{id}}}"#,
        params.join(",")
    )
}

/// The send stamp of a frame this module wrote (`E` of a trade, `u` of a quote), read
/// without parsing the rest; `None` for any other payload.
pub fn send_stamp(payload: &[u8]) -> Option<i64> {
    const DATA: &[u8] = b"\"data\":{\"";
    const TRADE: &[u8] = b"e\":\"trade\",\"E\":";
    const QUOTE: &[u8] = b"u\":";
    let at = payload.windows(DATA.len()).position(|w| w == DATA)? + DATA.len();
    let rest = &payload[at..];
    let digits = if rest.starts_with(TRADE) {
        &rest[TRADE.len()..]
    } else if rest.starts_with(QUOTE) {
        &rest[QUOTE.len()..]
    } else {
        return None;
    };
    let digits = digits.get(..STAMP_DIGITS)?;
    digits.iter().try_fold(0i64, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
    })
}

/// Writes `v` as exactly `dst.len()` decimal digits, zero padded on the left (callers
/// keep `v` in a range where the first digit is never 0).
#[inline]
fn put_digits(dst: &mut [u8], mut v: u64) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// `v` (in 1e-8 units) as a decimal with eight decimals.
fn decimal(v: i64) -> String {
    format!("{}.{:08}", v / UNIT, v % UNIT)
}

/// The header of an unmasked, final text frame of `len` payload bytes.
fn ws_header(len: usize) -> Vec<u8> {
    match len {
        0..=125 => vec![0x81, len as u8],
        126..=0xFFFF => vec![0x81, 126, (len >> 8) as u8, len as u8],
        _ => {
            let mut h = vec![0x81, 127];
            h.extend_from_slice(&(len as u64).to_be_bytes());
            h
        }
    }
}

/// What a pooled frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A `trade` message.
    Trade,
    /// A `bookTicker` message.
    Quote,
}

/// One pre-encoded frame: where it is in the pool's bytes and where its patched fields
/// are (offsets from the frame's first byte).
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    len: usize,
    kind: FrameKind,
    symbol: usize,
    stamp_at: usize,
    /// Trades only: the trade id and the exchange time.
    id_at: usize,
    time_at: usize,
}

/// Pre-encoded WebSocket frames over the simulated symbols, reused round and round.
#[derive(Debug)]
pub struct FramePool {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    symbols: Vec<String>,
}

/// Start price and tick of a symbol, in 1e-8 units.
fn price_spec(i: usize) -> (i64, i64) {
    const SPECS: [(i64, i64); 8] = [
        (65_000 * UNIT, UNIT / 100),   // BTC
        (3_500 * UNIT, UNIT / 100),    // ETH
        (150 * UNIT, UNIT / 100),      // SOL
        (600 * UNIT, UNIT / 10),       // BNB
        (UNIT * 6 / 10, UNIT / 10000), // XRP
        (UNIT * 45 / 100, UNIT / 10000),
        (UNIT * 15 / 100, UNIT / 100_000),
        (35 * UNIT, UNIT / 100),
    ];
    SPECS[i % SPECS.len()]
}

impl FramePool {
    /// `len` frames (at least one) over [`symbols`], a fraction `quote_ratio` of them
    /// quotes, from `seed`.
    pub fn new(len: usize, quote_ratio: f64, seed: u64) -> FramePool {
        let symbols = symbols();
        let mut rng = Rng::new(seed);
        let mut price: Vec<i64> = (0..symbols.len()).map(|i| price_spec(i).0).collect();
        let mut pool = FramePool {
            bytes: Vec::with_capacity(len.max(1) * 200),
            entries: Vec::with_capacity(len.max(1)),
            symbols,
        };
        let quote_cut = (quote_ratio.clamp(0.0, 1.0) * 1_000_000.0) as u64;
        for _ in 0..len.max(1) {
            let s = rng.below(pool.symbols.len() as u64) as usize;
            let tick = price_spec(s).1;
            price[s] = (price[s] + (rng.below(7) as i64 - 3) * tick).max(2 * tick);
            let kind = if rng.below(1_000_000) < quote_cut {
                FrameKind::Quote
            } else {
                FrameKind::Trade
            };
            let size = |rng: &mut Rng| decimal((rng.below(200_000) as i64 + 1) * 1_000);
            let payload = match kind {
                FrameKind::Trade => {
                    let maker = rng.below(2) == 0;
                    self::trade_json(&pool.symbols[s], price[s], &size(&mut rng), maker)
                }
                FrameKind::Quote => {
                    let (b, a) = (price[s] - tick, price[s] + tick);
                    let (bq, aq) = (size(&mut rng), size(&mut rng));
                    self::quote_json(&pool.symbols[s], b, &bq, a, &aq)
                }
            };
            pool.push(kind, s, &payload);
        }
        pool
    }

    fn push(&mut self, kind: FrameKind, symbol: usize, payload: &str) {
        let header = ws_header(payload.len());
        let find = |pat: &str| {
            payload
                .find(pat)
                .map_or(0, |i| header.len() + i + pat.len())
        };
        let entry = Entry {
            start: self.bytes.len(),
            len: header.len() + payload.len(),
            kind,
            symbol,
            stamp_at: match kind {
                FrameKind::Trade => find("\"E\":"),
                FrameKind::Quote => find("{\"u\":"),
            },
            id_at: find("\"t\":"),
            time_at: find("\"T\":"),
        };
        self.bytes.extend_from_slice(&header);
        self.bytes.extend_from_slice(payload.as_bytes());
        self.entries.push(entry);
    }

    /// Frames in the pool.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a pool holds at least one frame.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The symbols, in symbol-table order.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The longest frame, header included.
    pub fn max_frame_len(&self) -> usize {
        self.entries.iter().map(|e| e.len).max().unwrap_or(0)
    }
}

/// A trade payload with placeholder stamp, id and time.
fn trade_json(symbol: &str, price: i64, qty: &str, maker: bool) -> String {
    let stream = symbol.to_ascii_lowercase();
    let (stamp, id, ms) = (
        "1".repeat(STAMP_DIGITS),
        "1".repeat(ID_DIGITS),
        "1".repeat(MS_DIGITS),
    );
    format!(
        r#"{{"stream":"{stream}@trade","data":{{"e":"trade","E":{stamp},"s":"{symbol}","t":{id},"p":"{}","q":"{qty}","T":{ms},"m":{maker},"M":true}}}}"#,
        decimal(price)
    )
}

/// A bookTicker payload with a placeholder stamp.
fn quote_json(symbol: &str, bid: i64, bid_qty: &str, ask: i64, ask_qty: &str) -> String {
    let stream = symbol.to_ascii_lowercase();
    let stamp = "1".repeat(STAMP_DIGITS);
    format!(
        r#"{{"stream":"{stream}@bookTicker","data":{{"u":{stamp},"s":"{symbol}","b":"{}","B":"{bid_qty}","a":"{}","A":"{ask_qty}"}}}}"#,
        decimal(bid),
        decimal(ask)
    )
}

/// Where a run stands in the frame sequence: frames written so far and each symbol's
/// next trade id.
#[derive(Debug)]
pub struct FrameCursor {
    k: u64,
    trades: u64,
    next_id: Vec<u64>,
    t0_ms: i64,
    nominal_rate: u64,
}

impl FrameCursor {
    /// The start of a run whose exchange time begins at `t0_ms` and advances one second
    /// per `nominal_rate` frames.
    pub fn new(pool: &FramePool, t0_ms: i64, nominal_rate: u64) -> FrameCursor {
        FrameCursor {
            k: 0,
            trades: 0,
            next_id: vec![ID_BASE + 1; pool.symbols.len()],
            t0_ms,
            nominal_rate: nominal_rate.max(1),
        }
    }

    /// The exchange time (ms) of frame `k` of a run starting at `t0_ms`.
    pub fn time_ms(t0_ms: i64, nominal_rate: u64, k: u64) -> i64 {
        let offset = u128::from(k) * 1000 / u128::from(nominal_rate.max(1));
        t0_ms.saturating_add(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    /// Appends the next frame to `out` and the offset of its send stamp (in `out`) to
    /// `stamps`; returns its kind.
    #[inline]
    pub fn next_into(
        &mut self,
        pool: &FramePool,
        out: &mut Vec<u8>,
        stamps: &mut Vec<usize>,
    ) -> FrameKind {
        let e = pool.entries[(self.k % pool.entries.len() as u64) as usize];
        let at = out.len();
        out.extend_from_slice(&pool.bytes[e.start..e.start + e.len]);
        let frame = &mut out[at..];
        if e.kind == FrameKind::Trade {
            let id = &mut self.next_id[e.symbol];
            put_digits(&mut frame[e.id_at..e.id_at + ID_DIGITS], *id);
            *id += 1;
            let ms = Self::time_ms(self.t0_ms, self.nominal_rate, self.k);
            put_digits(
                &mut frame[e.time_at..e.time_at + MS_DIGITS],
                ms.max(0) as u64,
            );
            self.trades += 1;
        }
        stamps.push(at + e.stamp_at);
        self.k += 1;
        e.kind
    }

    /// Writes the send stamp `now_ns` at each offset of `stamps` in `out`.
    #[inline]
    pub fn stamp(out: &mut [u8], stamps: &[usize], now_ns: i64) {
        for &at in stamps {
            put_digits(&mut out[at..at + STAMP_DIGITS], now_ns.max(0) as u64);
        }
    }

    /// Frames produced so far.
    pub fn frames(&self) -> u64 {
        self.k
    }

    /// Trades among them.
    pub fn trades(&self) -> u64 {
        self.trades
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::wire::{self as bw, WireMessage};

    /// The payloads of the frames in `bytes` (unmasked server frames).
    fn payloads(mut bytes: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], 0x81);
            let (len, head) = match bytes[1] {
                126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
                n => (usize::from(n), 2),
            };
            out.push(&bytes[head..head + len]);
            bytes = &bytes[head + len..];
        }
        out
    }

    #[test]
    fn frames_are_binance_messages_with_patched_ids_times_and_stamps() {
        let pool = FramePool::new(64, 0.5, 3);
        let t0 = 1_700_000_000_000;
        let mut cur = FrameCursor::new(&pool, t0, 1000);
        let (mut out, mut stamps) = (Vec::new(), Vec::new());
        for _ in 0..200 {
            cur.next_into(&pool, &mut out, &mut stamps);
        }
        let now = 1_750_000_000_123_456_789;
        FrameCursor::stamp(&mut out, &stamps, now);
        let frames = payloads(&out);
        assert_eq!(frames.len(), 200);
        let mut last_id = std::collections::HashMap::new();
        let mut trades = 0;
        for (k, f) in frames.iter().enumerate() {
            assert_eq!(send_stamp(f), Some(now), "{}", String::from_utf8_lossy(f));
            match bw::parse(std::str::from_utf8(f).unwrap()).unwrap() {
                WireMessage::Trade(t) => {
                    trades += 1;
                    assert_eq!(t.exch_ts, (t0 + k as i64) * 1_000_000);
                    let prev = last_id.insert(t.symbol.clone(), t.trade_id);
                    assert_eq!(t.trade_id, prev.unwrap_or(ID_BASE) + 1, "{}", t.symbol);
                }
                WireMessage::Quote(q) => {
                    assert_eq!(q.update_id, now as u64);
                    assert!(q.bid < q.ask);
                }
                WireMessage::Reply => panic!("not a reply"),
            }
        }
        assert_eq!(cur.trades(), trades);
        assert!(trades > 50 && trades < 150, "{trades}");
        assert_eq!(send_stamp(br#"{"result":null,"id":1}"#), None);
    }

    #[test]
    fn the_subscription_names_every_stream() {
        let req = subscribe_request(&symbols(), 1);
        let v: serde_json::Value = serde_json::from_str(&req).unwrap();
        assert_eq!(v["params"].as_array().unwrap().len(), 16);
        assert_eq!(v["params"][1], "btcusdt@bookTicker");
    }
}
