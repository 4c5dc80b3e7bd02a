//! Shared workloads for the tickforge benchmarks: deterministic synthetic trades and bars,
//! so every bench and the memory measurement see the same data.

pub mod baseline;
pub mod e2e;
pub mod floor;

use tickforge_engine::record::{BarRecord, Kind, Side, TradeRecord};

/// Nanoseconds per second.
pub const S: i64 = 1_000_000_000;

/// A small deterministic generator (xorshift64*), so workloads are identical run to run.
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `n` trades spread over `symbols` symbols in random order, time advancing by
/// `step_ns` per trade, prices a random walk on a 0.01 tick: a busy market in which bars
/// of every timeframe keep closing.
pub fn trades(symbols: u32, n: usize, step_ns: i64, seed: u64) -> Vec<TradeRecord> {
    let mut rng = Rng::new(seed);
    let mut price: Vec<i64> = (0..symbols)
        .map(|s| (100 + i64::from(s % 1000)) * S)
        .collect();
    let mut ids = vec![0u64; symbols as usize];
    let mut t = 1_700_000_000 * S;
    (0..n)
        .map(|_| {
            t += step_ns;
            let s = rng.below(u64::from(symbols)) as u32;
            let p = &mut price[s as usize];
            *p += (rng.below(21) as i64 - 10) * 10_000_000;
            ids[s as usize] += 1;
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            TradeRecord::new(
                1,
                s,
                t,
                t,
                *p,
                (rng.below(1_000_000) as i64 + 1) * 1_000,
                side,
                ids[s as usize],
            )
        })
        .collect()
}

/// `n` consecutive closed bars of one symbol and timeframe: a random walk on a 0.01 tick
/// with realistic volumes.
pub fn bars(symbol: u32, tf: u8, tf_secs: i64, n: usize, seed: u64) -> Vec<BarRecord> {
    let mut rng = Rng::new(seed ^ u64::from(symbol) << 8 ^ u64::from(tf));
    let mut close = (100 + i64::from(symbol % 1000)) * S;
    (0..n)
        .map(|i| {
            let open = close;
            close += (rng.below(201) as i64 - 100) * 10_000_000;
            let high = open.max(close) + rng.below(50) as i64 * 10_000_000;
            let low = open.min(close) - rng.below(50) as i64 * 10_000_000;
            let mut b = BarRecord {
                kind: Kind::Bar as u8,
                tf,
                flags: tickforge_engine::record::bar_flags::CLOSED,
                symbol,
                open_ts: 1_700_000_000 * S + i as i64 * tf_secs * S,
                open,
                high,
                low,
                close,
                count: rng.below(500) as u32 + 1,
                ..Default::default()
            };
            b.set_volume(u128::from(rng.below(1_000_000_000)) * 1_000);
            b
        })
        .collect()
}
