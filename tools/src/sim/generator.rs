//! The synthetic market: a seeded random walk of integer price ticks per symbol.
//!
//! Every price and size is an integer count of the symbol's smallest decimal unit
//! (10^-[`PRICE_DECIMALS`] for prices, 10^-[`QTY_DECIMALS`] for sizes), always a whole
//! multiple of the symbol's tick or lot. No floating point ever touches a price: the walk
//! moves the best bid by whole ticks and the text is produced by integer formatting
//! ([`write_decimal`]).
//!
//! A [`Market`] is fully determined by its seed and by the sequence of calls made on it,
//! so two markets built from the same seed and asked for the same streams produce the same
//! events.
//!
//! Trade-id gaps ([`Market::with_id_gaps`]) are drawn from a second generator, so the
//! prices, sizes and sides are the same with or without them; only the ids differ.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Decimals in every price text (Binance spot sends 8: `"25.35190000"`).
pub const PRICE_DECIMALS: u32 = 8;
/// Decimals in every quantity text (Binance spot sends 8: `"31.21000000"`).
pub const QTY_DECIMALS: u32 = 8;

/// The static description of one simulated symbol.
///
/// `tick`, `lot` and the prices derived from them are in units of 10^-[`PRICE_DECIMALS`]
/// (prices) and 10^-[`QTY_DECIMALS`] (sizes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolSpec {
    /// Upper-case venue symbol, e.g. `BTCUSDT`.
    pub name: String,
    /// Price increment, in 10^-8 units (0.01 is `1_000_000`).
    pub tick: i64,
    /// Quantity increment, in 10^-8 units (0.001 is `100_000`).
    pub lot: i64,
    /// Best bid at the start of the walk, in ticks.
    pub start_ticks: i64,
}

/// Realistic parameters for the default symbols: (name, tick, lot, start price in ticks).
const KNOWN: &[(&str, i64, i64, i64)] = &[
    ("BTCUSDT", 1_000_000, 1_000, 6_500_000), // 0.01, 0.00001, 65000.00
    ("ETHUSDT", 1_000_000, 10_000, 350_000),  // 0.01, 0.0001, 3500.00
    ("SOLUSDT", 1_000_000, 100_000, 15_000),  // 0.01, 0.001, 150.00
    ("BNBUSDT", 1_000_000, 100_000, 58_000),  // 0.01, 0.001, 580.00
    ("XRPUSDT", 10_000, 10_000_000, 5_200),   // 0.0001, 0.1, 0.5200
    ("ADAUSDT", 10_000, 10_000_000, 4_500),   // 0.0001, 0.1, 0.4500
    ("DOGEUSDT", 1_000, 100_000_000, 15_000), // 0.00001, 1, 0.15000
    ("AVAXUSDT", 1_000_000, 1_000_000, 3_500), // 0.01, 0.01, 35.00
];

/// The largest number of ids one trade-id gap skips ([`Market::with_id_gaps`]).
pub const MAX_ID_GAP: u64 = 5;

/// The default symbol list: eight liquid Binance spot pairs.
pub const DEFAULT_SYMBOLS: [&str; 8] = [
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT",
];

impl SymbolSpec {
    /// The spec for `name`: realistic tick, lot and price for the [`DEFAULT_SYMBOLS`],
    /// otherwise tick 0.01, lot 0.001 and a start price of `10 + 7 * index` units.
    ///
    /// `name` is upper-cased.
    pub fn for_name(name: &str, index: usize) -> SymbolSpec {
        let name = name.to_ascii_uppercase();
        if let Some(&(_, tick, lot, start_ticks)) = KNOWN.iter().find(|k| k.0 == name) {
            return SymbolSpec {
                name,
                tick,
                lot,
                start_ticks,
            };
        }
        let index = i64::try_from(index).unwrap_or(0).min(1_000_000);
        SymbolSpec {
            name,
            tick: 1_000_000,
            lot: 100_000,
            start_ticks: 1_000 + 700 * index,
        }
    }

    /// The lower-case symbol used in stream names (`btcusdt`).
    pub fn stream_symbol(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

/// One generated market-data event. Prices and sizes are in 10^-8 units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A trade (Binance `<symbol>@trade`).
    Trade {
        /// Index of the symbol in the market's spec list.
        symbol: usize,
        /// Trade id: 1, 2, 3, … per symbol (with gaps when [`Market::with_id_gaps`]).
        id: u64,
        /// Price, a whole number of ticks.
        price: i64,
        /// Quantity, a whole number of lots (at least one).
        qty: i64,
        /// Whether the buyer was the maker (the seller took liquidity at the bid).
        buyer_maker: bool,
    },
    /// A best bid/offer update (Binance `<symbol>@bookTicker`).
    Quote {
        /// Index of the symbol in the market's spec list.
        symbol: usize,
        /// Book update id, increasing by one per quote per symbol.
        update_id: u64,
        /// Best bid price.
        bid: i64,
        /// Best bid quantity.
        bid_qty: i64,
        /// Best ask price, always above `bid`.
        ask: i64,
        /// Best ask quantity.
        ask_qty: i64,
    },
}

impl Event {
    /// Index of the symbol the event belongs to.
    pub fn symbol(&self) -> usize {
        match *self {
            Event::Trade { symbol, .. } | Event::Quote { symbol, .. } => symbol,
        }
    }
}

#[derive(Debug, Clone)]
struct SymbolState {
    bid_ticks: i64,
    spread_ticks: i64,
    bid_lots: i64,
    ask_lots: i64,
    next_trade_id: u64,
    next_update_id: u64,
}

/// Trade-id gap injection: a probability and its own generator.
#[derive(Debug, Clone)]
struct IdGaps {
    rate: f64,
    rng: Pcg64Mcg,
}

/// A seeded synthetic market over a list of symbols.
#[derive(Debug, Clone)]
pub struct Market {
    specs: Vec<SymbolSpec>,
    states: Vec<SymbolState>,
    rng: Pcg64Mcg,
    gaps: Option<IdGaps>,
    /// Ids skipped just before the last trade produced (0 after a quote).
    last_skipped: u64,
}

impl Market {
    /// A market over `specs`, every random choice drawn from a generator seeded by `seed`.
    pub fn new(specs: Vec<SymbolSpec>, seed: u64) -> Market {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let states = specs
            .iter()
            .map(|spec| SymbolState {
                bid_ticks: spec.start_ticks.max(1),
                spread_ticks: 1,
                bid_lots: random_lots(&mut rng),
                ask_lots: random_lots(&mut rng),
                next_trade_id: 1,
                next_update_id: rng.random_range(1_000_000..10_000_000),
            })
            .collect();
        Market {
            specs,
            states,
            rng,
            gaps: None,
            last_skipped: 0,
        }
    }

    /// This market with trade-id gaps: each trade but a symbol's first skips ahead with
    /// probability `rate` (clamped to 0..=1), its id jumping by `1 + g` with `g` drawn
    /// uniformly from `1..=`[`MAX_ID_GAP`]. The draws come from a generator seeded by
    /// `seed`, so the walk itself is unchanged. A rate of 0 means no gaps.
    pub fn with_id_gaps(mut self, rate: f64, seed: u64) -> Market {
        self.gaps = (rate > 0.0).then(|| IdGaps {
            rate: rate.min(1.0),
            rng: Pcg64Mcg::seed_from_u64(seed),
        });
        self
    }

    /// How many ids the last event produced skipped: `g` when it was a trade whose id
    /// jumped by `1 + g`, otherwise 0.
    pub fn last_skipped(&self) -> u64 {
        self.last_skipped
    }

    /// The symbols, in index order.
    pub fn specs(&self) -> &[SymbolSpec] {
        &self.specs
    }

    /// The next event among the given streams: a quote with probability `quote_ratio`
    /// (clamped to 0..=1) when `quotes` is not empty, otherwise a trade; the symbol is drawn
    /// uniformly from the chosen list. `None` when both lists are empty.
    ///
    /// `trades` and `quotes` hold symbol indices; indices out of range are a caller bug and
    /// panic.
    pub fn next_event(
        &mut self,
        trades: &[usize],
        quotes: &[usize],
        quote_ratio: f64,
    ) -> Option<Event> {
        let want_quote = self.rng.random_bool(quote_ratio.clamp(0.0, 1.0));
        let (list, quote) = match (want_quote, trades.is_empty(), quotes.is_empty()) {
            (_, true, true) => return None,
            (true, _, false) | (false, true, false) => (quotes, true),
            _ => (trades, false),
        };
        let symbol = list[self.rng.random_range(0..list.len())];
        Some(if quote {
            self.quote(symbol)
        } else {
            self.trade(symbol)
        })
    }

    /// Moves the book of `symbol` and prints a trade at the bid (buyer is maker) or at the
    /// ask (buyer is taker).
    pub fn trade(&mut self, symbol: usize) -> Event {
        self.step(symbol);
        let buyer_maker = self.rng.random_bool(0.5);
        let lots = random_lots(&mut self.rng);
        let spec = &self.specs[symbol];
        let st = &mut self.states[symbol];
        let ticks = if buyer_maker {
            st.bid_ticks
        } else {
            st.bid_ticks + st.spread_ticks
        };
        let mut skipped = 0;
        if let Some(g) = self.gaps.as_mut().filter(|_| st.next_trade_id > 1) {
            if g.rng.random_bool(g.rate) {
                skipped = g.rng.random_range(1..=MAX_ID_GAP);
            }
        }
        self.last_skipped = skipped;
        let id = st.next_trade_id + skipped;
        st.next_trade_id = id + 1;
        Event::Trade {
            symbol,
            id,
            price: ticks * spec.tick,
            qty: lots * spec.lot,
            buyer_maker,
        }
    }

    /// Moves the book of `symbol` and reports its new best bid and offer.
    pub fn quote(&mut self, symbol: usize) -> Event {
        self.step(symbol);
        let bid_lots = random_lots(&mut self.rng);
        let ask_lots = random_lots(&mut self.rng);
        let st = &mut self.states[symbol];
        st.bid_lots = bid_lots;
        st.ask_lots = ask_lots;
        let update_id = st.next_update_id;
        st.next_update_id += 1;
        self.last_skipped = 0;
        self.book(symbol, update_id)
    }

    /// What the next trade of `symbol` would look like (its id, the current ask, one lot),
    /// without advancing anything. Used to shape malformed frames.
    pub fn peek_trade(&self, symbol: usize) -> Event {
        let spec = &self.specs[symbol];
        let st = &self.states[symbol];
        Event::Trade {
            symbol,
            id: st.next_trade_id,
            price: (st.bid_ticks + st.spread_ticks) * spec.tick,
            qty: spec.lot,
            buyer_maker: false,
        }
    }

    /// The current book of `symbol` as a quote carrying the next update id, without
    /// advancing anything. Used to shape malformed frames.
    pub fn peek_quote(&self, symbol: usize) -> Event {
        self.book(symbol, self.states[symbol].next_update_id)
    }

    fn book(&self, symbol: usize, update_id: u64) -> Event {
        let spec = &self.specs[symbol];
        let st = &self.states[symbol];
        Event::Quote {
            symbol,
            update_id,
            bid: st.bid_ticks * spec.tick,
            bid_qty: st.bid_lots * spec.lot,
            ask: (st.bid_ticks + st.spread_ticks) * spec.tick,
            ask_qty: st.ask_lots * spec.lot,
        }
    }

    /// One step of the walk: the bid moves by -3..=3 ticks a third of the time, and the
    /// spread is one tick most of the time, two or three otherwise.
    fn step(&mut self, symbol: usize) {
        let rng = &mut self.rng;
        let st = &mut self.states[symbol];
        if rng.random_ratio(1, 3) {
            let delta: i64 = rng.random_range(-3..=3);
            // Keep the price positive and bounded far below i64 overflow.
            let cap = self.specs[symbol].start_ticks.max(1).saturating_mul(1_000);
            st.bid_ticks = (st.bid_ticks + delta).clamp(1, cap);
        }
        st.spread_ticks = match rng.random_range(0..10) {
            0 => 3,
            1 | 2 => 2,
            _ => 1,
        };
    }
}

/// A size in lots: mostly small, sometimes ten or a hundred times larger.
fn random_lots(rng: &mut Pcg64Mcg) -> i64 {
    let scale = [1, 1, 1, 10, 10, 100][rng.random_range(0..6)];
    rng.random_range(1..=20) * scale
}

/// Appends `value` (in units of 10^-`decimals`) as decimal text with exactly `decimals`
/// digits after the point: `write_decimal(s, 2_535_190_000, 8)` appends `25.35190000`.
pub fn write_decimal(out: &mut String, value: i64, decimals: u32) {
    use std::fmt::Write;
    let scale = 10u64.pow(decimals);
    let abs = value.unsigned_abs();
    let sign = if value < 0 { "-" } else { "" };
    let width = decimals as usize;
    // Writing to a String cannot fail.
    let _ = if decimals == 0 {
        write!(out, "{sign}{abs}")
    } else {
        write!(out, "{sign}{}.{:0width$}", abs / scale, abs % scale)
    };
}

/// `value` (in units of 10^-`decimals`) as decimal text; see [`write_decimal`].
pub fn format_decimal(value: i64, decimals: u32) -> String {
    let mut s = String::new();
    write_decimal(&mut s, value, decimals);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<SymbolSpec> {
        crate::sim::SimConfig::default().symbol_specs()
    }

    #[test]
    fn formats_decimals_exactly() {
        assert_eq!(format_decimal(2_535_190_000, 8), "25.35190000");
        assert_eq!(format_decimal(1, 8), "0.00000001");
        assert_eq!(format_decimal(0, 8), "0.00000000");
        assert_eq!(format_decimal(-150, 2), "-1.50");
        assert_eq!(format_decimal(42, 0), "42");
        assert_eq!(format_decimal(i64::MAX, 8), "92233720368.54775807");
    }

    #[test]
    fn unknown_symbols_get_a_generic_spec() {
        let s = SymbolSpec::for_name("sim3usdt", 3);
        assert_eq!(s.name, "SIM3USDT");
        assert_eq!(s.stream_symbol(), "sim3usdt");
        assert_eq!(s.start_ticks, 3_100);
    }

    #[test]
    fn events_respect_ticks_lots_and_ordering() {
        let mut m = Market::new(specs(), 7);
        let all: Vec<usize> = (0..m.specs().len()).collect();
        let mut next_id = vec![1u64; all.len()];
        let mut last_u = vec![0u64; all.len()];
        for _ in 0..20_000 {
            let ev = m.next_event(&all, &all, 0.5).unwrap();
            let spec = m.specs()[ev.symbol()].clone();
            match ev {
                Event::Trade {
                    symbol,
                    id,
                    price,
                    qty,
                    ..
                } => {
                    assert_eq!(id, next_id[symbol]);
                    next_id[symbol] += 1;
                    assert!(price > 0 && price % spec.tick == 0);
                    assert!(qty > 0 && qty % spec.lot == 0);
                }
                Event::Quote {
                    symbol,
                    update_id,
                    bid,
                    ask,
                    bid_qty,
                    ask_qty,
                } => {
                    assert!(update_id > last_u[symbol]);
                    last_u[symbol] = update_id;
                    assert!(0 < bid && bid < ask);
                    assert_eq!(bid % spec.tick, 0);
                    assert_eq!(ask % spec.tick, 0);
                    assert!(bid_qty > 0 && ask_qty > 0);
                }
            }
        }
    }

    #[test]
    fn same_seed_same_events_and_peeks_do_not_advance() {
        let mut a = Market::new(specs(), 42);
        let mut b = Market::new(specs(), 42);
        for i in 0..1_000 {
            if i % 7 == 0 {
                let _ = b.peek_trade(i % 8);
                let _ = b.peek_quote(i % 8);
            }
            assert_eq!(
                a.next_event(&[0, 3], &[0, 1], 0.3),
                b.next_event(&[0, 3], &[0, 1], 0.3)
            );
        }
        let mut c = Market::new(specs(), 43);
        let mut a = Market::new(specs(), 42);
        let differs =
            (0..100).any(|_| a.next_event(&[0], &[0], 0.5) != c.next_event(&[0], &[0], 0.5));
        assert!(differs);
    }

    #[test]
    fn id_gaps_skip_ids_and_leave_the_walk_alone() {
        let mut plain = Market::new(specs(), 9);
        let mut gappy = Market::new(specs(), 9).with_id_gaps(0.2, 77);
        let mut next_id = [1u64; 2];
        let (mut gaps, mut skipped) = (0u64, 0u64);
        for _ in 0..5_000 {
            let a = plain.next_event(&[0, 1], &[1], 0.3).unwrap();
            let b = gappy.next_event(&[0, 1], &[1], 0.3).unwrap();
            match (a, b) {
                (
                    Event::Trade {
                        symbol,
                        price,
                        qty,
                        buyer_maker,
                        ..
                    },
                    Event::Trade {
                        symbol: s2,
                        id,
                        price: p2,
                        qty: q2,
                        buyer_maker: m2,
                    },
                ) => {
                    assert_eq!((symbol, price, qty, buyer_maker), (s2, p2, q2, m2));
                    let g = gappy.last_skipped();
                    assert!(g <= MAX_ID_GAP);
                    assert_eq!(id, next_id[symbol] + g);
                    if next_id[symbol] == 1 {
                        assert_eq!(g, 0, "a first trade never skips");
                    }
                    next_id[symbol] = id + 1;
                    gaps += u64::from(g > 0);
                    skipped += g;
                }
                (a, b) => {
                    assert_eq!(a, b);
                    assert_eq!(gappy.last_skipped(), 0);
                }
            }
        }
        assert!((500..1_000).contains(&gaps), "{gaps}");
        assert!(
            skipped >= gaps * 2 && skipped <= gaps * 4,
            "{skipped} over {gaps}"
        );
        let mut none = Market::new(specs(), 9).with_id_gaps(0.0, 77);
        for _ in 0..1_000 {
            let _ = none.next_event(&[0], &[], 0.0);
            assert_eq!(none.last_skipped(), 0);
        }
    }

    #[test]
    fn ratio_selects_channels() {
        let mut m = Market::new(specs(), 1);
        assert_eq!(m.next_event(&[], &[], 0.5), None);
        for _ in 0..100 {
            assert!(matches!(
                m.next_event(&[1], &[], 1.0),
                Some(Event::Trade { symbol: 1, .. })
            ));
            assert!(matches!(
                m.next_event(&[], &[2], 0.0),
                Some(Event::Quote { symbol: 2, .. })
            ));
        }
        let quotes = (0..10_000)
            .filter(|_| matches!(m.next_event(&[0], &[0], 0.25), Some(Event::Quote { .. })))
            .count();
        assert!((2_000..3_000).contains(&quotes), "{quotes}");
    }
}
