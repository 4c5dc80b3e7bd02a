//! A tick file for the comparison tests: trades on three symbols with ties, trades on and
//! just before bar boundaries, sub-millisecond parts and silences of several minutes.
#![allow(dead_code)] // each test file uses only some of these

use std::fmt::Write as _;
use std::path::Path;

use tickforge_engine::fixed::Decimal;

/// Nanoseconds per second.
pub const S: i64 = 1_000_000_000;

/// The symbols of the tick file, in order of first appearance.
pub const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "DOGEUSDT"];

/// What was written: the number of ticks and the sum of their sizes (1e-9 units).
pub struct Written {
    /// Ticks in the file.
    pub ticks: u64,
    /// Sum of the sizes.
    pub volume: u128,
}

/// Writes `n` ticks to `path` (`ts_ns,symbol,price,size,side,trade_id`), deterministic.
pub fn write_tick_file(path: &Path, n: usize) -> Written {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = |m: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % m
    };
    let mut text = String::from("ts_ns,symbol,price,size,side,trade_id\n");
    let mut t: i64 = 1_700_000_123 * S + 456_789;
    let mut ids = [0u64; 3];
    let mut price = [30_000 * S, 2_000 * S, S / 10];
    let mut volume = 0u128;
    for i in 0..n {
        // The first ticks name every symbol once, so the order of first appearance is fixed.
        let s = if i < 3 { i } else { rand(3) as usize };
        t = match rand(20) {
            0 | 1 => t,                                       // a tie
            2 => t - t.rem_euclid(S) + S,                     // exactly on a second
            3 => t - t.rem_euclid(60 * S) + 60 * S,           // exactly on a minute
            4 => t - t.rem_euclid(S) + S - 1,                 // 1 ns before a second
            5 => t - t.rem_euclid(300 * S) + 300 * S - 1,     // 1 ns before 5 minutes
            6 => t + (3 + rand(6) as i64) * 60 * S + 123_457, // minutes of silence
            7 => t + 999_999,                                 // under a millisecond
            _ => t + rand(400_000_000) as i64 + 1,
        };
        let step = [S / 100, S / 100, S / 100_000][s];
        price[s] = (price[s] + (rand(41) as i64 - 20) * step).max(step);
        let size = rand(5_000_000_000) as i64 + 1;
        volume += size as u128;
        ids[s] += 1;
        let side = if rand(2) == 0 { "buy" } else { "sell" };
        writeln!(
            text,
            "{t},{},{},{},{side},{}",
            SYMBOLS[s],
            Decimal::from(price[s]),
            Decimal::from(size),
            ids[s]
        )
        .expect("writing to a String");
    }
    std::fs::write(path, text).expect("write the tick file");
    Written {
        ticks: n as u64,
        volume,
    }
}

/// A Binance `SUBSCRIBE` for the trade streams of `symbols`.
pub fn subscribe_trades(symbols: &[String]) -> String {
    let params: Vec<String> = symbols
        .iter()
        .map(|s| format!("\"{}@trade\"", s.to_ascii_lowercase()))
        .collect();
    format!(
        r#"{{"method":"SUBSCRIBE","params":[{}],"id":1}}"#,
        params.join(",")
    )
}
