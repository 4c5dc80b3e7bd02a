//! The packed `BarWindow` against a plain `VecDeque<BarRecord>` of the same capacity, over
//! realistic and adversarial bar streams, and its memory per bar on realistic streams.

use std::collections::VecDeque;

use proptest::prelude::*;
use tickforge_engine::record::{bar_flags, BarRecord, Kind, MAX_BAR_VOLUME};
use tickforge_engine::window::{BarWindow, COMPACT_BAR_BYTES};

const S: i64 = 1_000_000_000;

/// The obviously correct window.
struct Reference {
    capacity: usize,
    bars: VecDeque<BarRecord>,
}

impl Reference {
    fn new(capacity: usize) -> Self {
        Reference {
            capacity,
            bars: VecDeque::with_capacity(capacity),
        }
    }

    fn push(&mut self, b: BarRecord) {
        if self.bars.len() == self.capacity {
            self.bars.pop_front();
        }
        self.bars.push_back(b);
    }
}

fn assert_same(w: &BarWindow, r: &Reference) {
    assert_eq!(w.len(), r.bars.len());
    assert_eq!(w.is_empty(), r.bars.is_empty());
    for k in 0..=r.bars.len() {
        let want = r.bars.len().checked_sub(k + 1).map(|i| r.bars[i]);
        assert_eq!(w.back(k), want, "back({k})");
    }
    assert!(w.iter().eq(r.bars.iter().copied()), "iter");
    assert!(w.bytes_per_bar() <= 64);
}

/// One step of a generated stream: what to do, and random bits to do it with.
type Op = (u8, u64, u64, u64);

/// The next bar after `prev`: mostly a realistic step (tick 0.01, lot 0.00001, 1-minute
/// bars), sometimes one of the cases a packed layout cannot hold.
fn next_bar(prev: &BarRecord, (op, a, b, c): Op) -> BarRecord {
    let tick = 10_000_000i64;
    let mut n = *prev;
    let step = |x: u64, m: u64| (x % (2 * m + 1)) as i64 - m as i64;
    // A realistic bar first; the adversarial cases then damage it.
    n.open_ts = prev.open_ts.wrapping_add(60 * S * (1 + (c % 3) as i64));
    n.open = prev.close;
    n.close = prev.close.wrapping_add(step(a, 100) * tick);
    n.high = n.open.max(n.close).wrapping_add((b % 50) as i64 * tick);
    n.low = n
        .open
        .min(n.close)
        .wrapping_sub(((b >> 8) % 50) as i64 * tick);
    n.set_volume(u128::from((c >> 8) % 2_000_000) * 10_000);
    n.count = ((a >> 32) % 500) as u32 + 1;
    n.flags = bar_flags::CLOSED;
    match op {
        0..=15 => {}
        // A price off the tick, after many on it.
        16 => {
            let d = [1, tick / 2, tick / 10, -1][(b % 4) as usize];
            match a % 4 {
                0 => n.open = n.open.wrapping_add(d),
                1 => n.high = n.high.wrapping_add(d),
                2 => n.low = n.low.wrapping_add(d),
                _ => n.close = n.close.wrapping_add(d),
            }
        }
        // A huge jump, either way.
        17 => {
            let d = (a as i64) >> (b % 64);
            n.close = n.close.wrapping_add(d);
            n.high = n.high.max(n.close);
            n.low = n.low.min(n.close);
        }
        // Extreme prices.
        18 => {
            let pick = |x: u64| [i64::MIN, i64::MAX, 0, -1, 1, i64::MIN + 1][(x % 6) as usize];
            n.open = pick(a);
            n.high = pick(a >> 8);
            n.low = pick(a >> 16);
            n.close = pick(a >> 24);
        }
        // Volumes beyond 2^64, up to the largest a bar holds.
        19 => match a % 3 {
            0 => n.set_volume(MAX_BAR_VOLUME),
            1 => n.set_volume((1u128 << 64) + u128::from(b)),
            _ => n.set_volume(u128::from(b) << 32),
        },
        // Counts beyond 2^24.
        20 => n.count = [1 << 24, (1 << 24) + 1, u32::MAX, (a >> 32) as u32][(b % 4) as usize],
        // Times far apart, either way, or at the ends of the range.
        21 => {
            n.open_ts = match b % 4 {
                0 => prev.open_ts.wrapping_add(a as i64),
                1 => prev.open_ts.wrapping_sub((a >> (c % 64)) as i64),
                2 => i64::MIN,
                _ => i64::MAX,
            }
        }
        // Any flags.
        22 => n.flags = a as u16,
        // Another kind, timeframe or symbol.
        23 => match b % 3 {
            0 => n.kind = a as u8,
            1 => n.tf = a as u8,
            _ => n.symbol = a as u32,
        },
        // Anything at all.
        24 => n = arbitrary_bar(a, b, c),
        // The same bar again.
        25 => n = *prev,
        // Time going backwards by a bar or two.
        26 => n.open_ts = prev.open_ts.wrapping_sub(60 * S * (1 + (c % 2) as i64)),
        // Times off the minute grid (still whole seconds, or not).
        27 => {
            n.open_ts = n
                .open_ts
                .wrapping_add([S, 1, 500_000_000][(a % 3) as usize])
        }
        // An empty bar: flat at the previous close, no volume, flagged.
        _ => {
            n.open = prev.close;
            n.high = prev.close;
            n.low = prev.close;
            n.close = prev.close;
            n.set_volume(0);
            n.count = 0;
            n.flags = bar_flags::CLOSED | bar_flags::EMPTY;
        }
    }
    n
}

fn arbitrary_bar(a: u64, b: u64, c: u64) -> BarRecord {
    let mix = |x: u64, k: u32| x.rotate_left(k).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    BarRecord {
        kind: a as u8,
        tf: (a >> 8) as u8,
        flags: (a >> 16) as u16,
        symbol: (a >> 32) as u32,
        open_ts: b as i64,
        open: c as i64,
        high: mix(a, 7) as i64,
        low: mix(b, 13) as i64,
        close: mix(c, 29) as i64,
        volume_lo: mix(a ^ b, 3),
        volume_hi: (mix(b ^ c, 5) >> 32) as u32,
        count: (c >> 32) as u32,
    }
}

fn first_bar() -> BarRecord {
    let mut b = BarRecord {
        kind: Kind::Bar as u8,
        tf: 1,
        flags: bar_flags::CLOSED,
        symbol: 7,
        open_ts: 1_700_000_040 * S,
        open: 60_000 * S,
        high: 60_010 * S,
        low: 59_990 * S,
        close: 60_005 * S + 10_000_000,
        count: 12,
        ..Default::default()
    };
    b.set_volume(12_340_000);
    b
}

fn run(capacity: usize, ops: &[Op]) {
    let mut w = BarWindow::new(capacity);
    let mut r = Reference::new(capacity);
    assert_same(&w, &r);
    let mut prev = first_bar();
    for &op in ops {
        let b = next_bar(&prev, op);
        w.push(b);
        r.push(b);
        assert_same(&w, &r);
        prev = b;
    }
}

/// Mostly realistic steps with the adversarial cases mixed in.
fn mixed_ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec((0u8..32, any::<u64>(), any::<u64>(), any::<u64>()), 0..max)
}

/// Long realistic runs with a rare adversarial bar.
fn mostly_realistic_ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        40 => Just(0u8),
        1 => 16u8..32,
    ];
    prop::collection::vec((op, any::<u64>(), any::<u64>(), any::<u64>()), 0..max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn small_windows_agree_with_the_reference(cap in 1usize..=6, ops in mixed_ops(60)) {
        run(cap, &ops);
    }

    #[test]
    fn mid_windows_agree_with_the_reference(cap in 7usize..=70, ops in mixed_ops(200)) {
        run(cap, &ops);
    }

    #[test]
    fn realistic_windows_with_rare_odd_bars_agree(cap in 20usize..=80, ops in mostly_realistic_ops(400)) {
        run(cap, &ops);
    }

    #[test]
    fn arbitrary_bars_round_trip(
        cap in 1usize..=4,
        bars in prop::collection::vec((any::<u64>(), any::<u64>(), any::<u64>()), 0..12),
    ) {
        let mut w = BarWindow::new(cap);
        let mut r = Reference::new(cap);
        for (a, b, c) in bars {
            let bar = arbitrary_bar(a, b, c);
            w.push(bar);
            r.push(bar);
            assert_same(&w, &r);
        }
    }
}

#[test]
fn every_edge_value_round_trips_in_every_field() {
    let edges64 = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
    let mut w = BarWindow::new(3);
    let mut r = Reference::new(3);
    let mut push = |b: BarRecord| {
        w.push(b);
        r.push(b);
        assert_same(&w, &r);
    };
    let base = first_bar();
    for &v in &edges64 {
        for field in 0..5 {
            let mut b = base;
            *[
                &mut b.open_ts,
                &mut b.open,
                &mut b.high,
                &mut b.low,
                &mut b.close,
            ][field] = v;
            push(b);
            push(base);
        }
    }
    for v in [
        0,
        1,
        u128::from(u64::MAX),
        1u128 << 64,
        MAX_BAR_VOLUME - 1,
        MAX_BAR_VOLUME,
    ] {
        let mut b = base;
        b.set_volume(v);
        push(b);
    }
    for count in [0, 1 << 24, u32::MAX] {
        push(BarRecord { count, ..base });
    }
    for flags in [0, 1 << 5, u16::MAX] {
        push(BarRecord { flags, ..base });
    }
    for (kind, tf, symbol) in [(0, 0, 0), (u8::MAX, u8::MAX, u32::MAX)] {
        push(BarRecord {
            kind,
            tf,
            symbol,
            ..base
        });
    }
}

// ---------------------------------------------------------------------------------------
// Realistic streams: how small they pack.
// ---------------------------------------------------------------------------------------

/// A small deterministic generator (SplitMix64), so the sizes below are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Roughly normal, mean 0, standard deviation ~`sd`.
    fn normal(&mut self, sd: f64) -> f64 {
        let u: f64 = (0..12)
            .map(|_| self.below(1 << 20) as f64 / f64::from(1 << 20))
            .sum();
        (u - 6.0) * sd
    }
}

/// An instrument: price level, tick and lot in nano-units, volatility per √second.
#[derive(Clone, Copy)]
struct Asset {
    price: i64,
    tick: i64,
    lot: i64,
    /// Standard deviation of returns per √second, relative.
    vol: f64,
    /// Typical traded quantity per second, in lots.
    lots_per_sec: f64,
    /// Chance that an interval has no trade (so no bar).
    quiet: f64,
}

const ASSETS: [Asset; 5] = [
    // BTCUSDT: 60,000.00, tick 0.01, lot 0.00001 BTC.
    Asset {
        price: 60_000 * S,
        tick: 10_000_000,
        lot: 10_000,
        vol: 0.000_15,
        lots_per_sec: 50_000.0,
        quiet: 0.0,
    },
    // ETHUSDT: 3,000.00, tick 0.01, lot 0.0001 ETH.
    Asset {
        price: 3_000 * S,
        tick: 10_000_000,
        lot: 100_000,
        vol: 0.000_2,
        lots_per_sec: 20_000.0,
        quiet: 0.0,
    },
    // An altcoin at 0.5123, tick 0.0001, lot 0.1.
    Asset {
        price: 512_300_000,
        tick: 100_000,
        lot: 100_000_000,
        vol: 0.000_4,
        lots_per_sec: 3_000.0,
        quiet: 0.2,
    },
    // A meme coin at 0.00001234, tick 1e-8, whole-token lots, volumes past 2^64 nano.
    Asset {
        price: 12_340,
        tick: 10,
        lot: S,
        vol: 0.000_6,
        lots_per_sec: 300_000_000.0,
        quiet: 0.1,
    },
    // An illiquid pair: most intervals have no trade.
    Asset {
        price: 17_250_000_000,
        tick: 1_000_000,
        lot: 1_000_000,
        vol: 0.000_3,
        lots_per_sec: 40.0,
        quiet: 0.7,
    },
];

/// `n` closed bars of timeframe `tf_secs` for `asset`.
fn realistic_bars(
    asset: Asset,
    symbol: u32,
    tf: u8,
    tf_secs: i64,
    n: usize,
    seed: u64,
) -> Vec<BarRecord> {
    let mut rng = Rng(seed ^ (u64::from(symbol) << 20) ^ u64::from(tf));
    let sd = asset.vol * (tf_secs as f64).sqrt() * asset.price as f64 / asset.tick as f64;
    let mut close = asset.price / asset.tick;
    let mut t = 1_700_000_000 / tf_secs;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        t += 1;
        if (rng.below(1000) as f64) < asset.quiet * 1000.0 {
            continue;
        }
        let open = close;
        close = (close + rng.normal(sd) as i64).max(1);
        let high = open.max(close) + rng.normal(sd / 3.0).abs() as i64;
        let low = (open.min(close) - rng.normal(sd / 3.0).abs() as i64).max(1);
        let lots = (asset.lots_per_sec * tf_secs as f64 * (0.05 + rng.normal(1.0).abs().powi(3)))
            as u128
            + 1;
        let mut b = BarRecord {
            kind: Kind::Bar as u8,
            tf,
            flags: bar_flags::CLOSED,
            symbol,
            open_ts: t * tf_secs * S,
            open: open * asset.tick,
            high: high * asset.tick,
            low: low * asset.tick,
            close: close * asset.tick,
            count: (lots.isqrt() as u32).max(1),
            ..Default::default()
        };
        b.set_volume(lots * asset.lot as u128);
        out.push(b);
    }
    out
}

const TIMEFRAMES: [(u8, i64); 3] = [(0, 1), (1, 60), (2, 300)];

#[test]
fn realistic_streams_stay_compact_and_rarely_re_encode() {
    for (i, asset) in ASSETS.iter().enumerate() {
        for (tf, secs) in TIMEFRAMES {
            let bars = realistic_bars(*asset, i as u32, tf, secs, 5_000, 1);
            let mut w = BarWindow::new(200);
            let mut r = Reference::new(200);
            for (n, b) in bars.iter().enumerate() {
                w.push(*b);
                r.push(*b);
                if n % 97 == 0 {
                    assert_same(&w, &r);
                }
                assert!(
                    w.is_compact(),
                    "asset {i} tf {tf} bar {n}: {} bytes",
                    w.bytes_per_bar()
                );
            }
            assert_same(&w, &r);
            println!(
                "asset {i} tf {tf}: {} re-encodes, {} rebases; {} bytes per bar",
                w.reencodes(),
                w.rebases(),
                w.bytes_per_bar()
            );
            assert!(w.rebases() > 0, "drift is followed in place");
            assert!(
                w.reencodes() <= 25,
                "asset {i} tf {tf}: {} re-encodes in 5,000 bars",
                w.reencodes()
            );
        }
    }
}

/// Heap and struct bytes per bar over 300 windows (100 symbols × 3 timeframes) after
/// `pushes` realistic bars each, the rows' share of it, and the widest row.
fn bytes_per_bar(pushes: usize) -> (f64, f64, usize) {
    let mut total = 0usize;
    let mut rows = 0usize;
    let mut bars = 0usize;
    let mut widest = 0usize;
    for symbol in 0..100u32 {
        let asset = ASSETS[symbol as usize % ASSETS.len()];
        for (tf, secs) in TIMEFRAMES {
            let mut w = BarWindow::new(200);
            for b in realistic_bars(asset, symbol, tf, secs, pushes, 2) {
                w.push(b);
            }
            total += w.heap_bytes() + std::mem::size_of::<BarWindow>();
            rows += w.len() * w.bytes_per_bar();
            bars += w.len();
            widest = widest.max(w.bytes_per_bar());
        }
    }
    (
        total as f64 / bars as f64,
        rows as f64 / bars as f64,
        widest,
    )
}

#[test]
fn three_hundred_realistic_windows_take_at_most_32_bytes_per_bar() {
    for pushes in [200, 1_000] {
        let (per_bar, rows, widest) = bytes_per_bar(pushes);
        println!(
            "after {pushes} bars per window: {per_bar:.2} bytes per bar ({rows:.2} in rows, \
             the rest layout, padding and the {}-byte struct); widest row {widest} bytes",
            std::mem::size_of::<BarWindow>()
        );
        assert!(
            per_bar <= COMPACT_BAR_BYTES as f64,
            "{per_bar} bytes per bar"
        );
    }
}

#[test]
fn the_worst_case_is_a_bar_record_per_bar() {
    let mut w = BarWindow::new(200);
    let mut rng = Rng(3);
    for _ in 0..200 {
        w.push(arbitrary_bar(rng.next(), rng.next(), rng.next()));
    }
    println!(
        "arbitrary bars: {} bytes per bar, {:.2} with the layout and struct",
        w.bytes_per_bar(),
        (w.heap_bytes() + std::mem::size_of::<BarWindow>()) as f64 / 200.0
    );
    assert_eq!(w.bytes_per_bar(), 64);
    assert!(!w.is_compact());
}

#[test]
fn a_window_shrinks_back_once_an_odd_bar_has_left_it() {
    let bars = realistic_bars(ASSETS[0], 0, 1, 60, 1_000, 4);
    let mut w = BarWindow::new(200);
    for b in &bars[..400] {
        w.push(*b);
    }
    let compact = w.bytes_per_bar();
    let mut odd = bars[400];
    odd.high += 1; // off the tick
    odd.set_volume(MAX_BAR_VOLUME);
    odd.symbol = 99;
    w.push(odd);
    assert!(w.bytes_per_bar() > compact);
    assert_eq!(w.back(0), Some(odd));
    for b in &bars[401..] {
        w.push(*b);
    }
    assert!(
        w.bytes_per_bar() <= compact + 1,
        "{} vs {compact}",
        w.bytes_per_bar()
    );
    assert!(w.iter().eq(bars[800..].iter().copied()));
}
