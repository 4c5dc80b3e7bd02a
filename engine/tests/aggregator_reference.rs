//! The bar aggregator against a plain reference implementation of the semantics in
//! DESIGN.md, over random streams with ties, trades exactly on and 1 ns before interval
//! boundaries, gaps of many intervals, late trades and duplicates.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tickforge_engine::aggregator::{AggregatorConfig, BarAggregator};
use tickforge_engine::record::{bar_flags, BarRecord, Kind, Side, TradeRecord};
use tickforge_engine::timeframe::Timeframe;

const S: i64 = 1_000_000_000;

/// The obvious implementation: bars in a map keyed by (timeframe, open time), each holding
/// its symbols' bars in creation order; a watermark per (single) feed.
struct Reference {
    tfs: Vec<i64>,
    grace: i64,
    max_exch: i64,
    watermark: i64,
    last_id: BTreeMap<u32, u64>,
    open: BTreeMap<(usize, i64), Vec<BarRecord>>,
    late: u64,
    duplicates: u64,
    out: Vec<BarRecord>,
}

impl Reference {
    fn new(tfs: &[Timeframe], grace: i64) -> Self {
        Reference {
            tfs: tfs.iter().map(|t| t.nanos()).collect(),
            grace,
            max_exch: i64::MIN,
            watermark: i64::MIN,
            last_id: BTreeMap::new(),
            open: BTreeMap::new(),
            late: 0,
            duplicates: 0,
            out: Vec::new(),
        }
    }

    fn close_until(&mut self, wm: i64) {
        for i in 0..self.tfs.len() {
            let due: Vec<(usize, i64)> = self
                .open
                .keys()
                .filter(|(t, open)| *t == i && open + self.tfs[i] <= wm)
                .copied()
                .collect();
            for key in due {
                for mut b in self.open.remove(&key).unwrap() {
                    b.flags |= bar_flags::CLOSED;
                    self.out.push(b);
                }
            }
        }
    }

    fn trade(&mut self, t: &TradeRecord) {
        let mut flags = 0;
        if t.trade_id != 0 {
            let last = self.last_id.get(&t.symbol).copied().unwrap_or(0);
            if last != 0 && t.trade_id <= last {
                self.duplicates += 1;
                return;
            }
            if last != 0 && t.trade_id > last + 1 {
                flags |= bar_flags::GAP;
            }
            self.last_id.insert(t.symbol, t.trade_id);
        }
        self.max_exch = self.max_exch.max(t.exch_ts);
        let wm = self.max_exch - self.grace;
        if wm > self.watermark {
            self.watermark = wm;
            self.close_until(wm);
        }
        let mut late = false;
        for i in 0..self.tfs.len() {
            let tf = self.tfs[i];
            let open = t.exch_ts - t.exch_ts.rem_euclid(tf);
            if open + tf <= self.watermark {
                late = true;
                continue;
            }
            let bars = self.open.entry((i, open)).or_default();
            match bars.iter_mut().find(|b| b.symbol == t.symbol) {
                Some(b) => {
                    b.high = b.high.max(t.price);
                    b.low = b.low.min(t.price);
                    b.close = t.price;
                    b.set_volume(b.volume() + t.size as u128);
                    b.count += 1;
                    b.flags |= flags;
                }
                None => {
                    let mut b = BarRecord {
                        kind: Kind::Bar as u8,
                        tf: i as u8,
                        flags,
                        symbol: t.symbol,
                        open_ts: open,
                        open: t.price,
                        high: t.price,
                        low: t.price,
                        close: t.price,
                        count: 1,
                        ..Default::default()
                    };
                    b.set_volume(t.size as u128);
                    bars.push(b);
                }
            }
        }
        if late {
            self.late += 1;
        }
    }

    fn finish(&mut self) {
        self.close_until(i64::MAX);
    }
}

/// One step of a generated stream.
#[derive(Debug, Clone)]
enum Step {
    /// Move time forward by this many ns (0 = a tie).
    Ahead(i64),
    /// Jump to the next boundary of timeframe `tf` index, exactly or 1 ns before.
    Boundary(usize, bool),
    /// A trade this far behind the newest time (late or within grace).
    Behind(i64),
    /// Repeat an earlier trade id.
    Duplicate,
    /// Skip trade ids.
    SkipIds(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop_oneof![Just(0i64), 1i64..1_000, 1_000i64..400_000_000, 400_000_000i64..3 * S].prop_map(Step::Ahead),
        1 => (S * 60..S * 900).prop_map(Step::Ahead),
        2 => (0usize..3, any::<bool>()).prop_map(|(t, exact)| Step::Boundary(t, exact)),
        2 => (1i64..2 * S).prop_map(Step::Behind),
        1 => Just(Step::Duplicate),
        1 => (2u64..5).prop_map(Step::SkipIds),
    ]
}

fn run_both(steps: &[(Step, u32, i64, i64)], grace: i64) {
    let tfs: Vec<Timeframe> = ["1s", "2s", "1m"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let cfg = AggregatorConfig {
        timeframes: tfs.clone(),
        grace_ns: grace,
        emit_empty: false,
        max_future_ns: 0,
    };
    let mut agg = BarAggregator::new(&cfg, vec![0, 0, 0]);
    let mut reference = Reference::new(&tfs, grace);
    let mut got = Vec::new();
    let mut now = 1_700_000_000 * S;
    let mut ids = [0u64; 3];
    for (st, sym, price, size) in steps {
        let s = *sym as usize;
        let mut id = ids[s] + 1;
        let ts = match st {
            Step::Ahead(d) => {
                now += d;
                now
            }
            Step::Boundary(t, exact) => {
                let tf = tfs[*t].nanos();
                now = now - now.rem_euclid(tf) + tf - i64::from(!exact);
                now
            }
            Step::Behind(d) => now - d,
            Step::Duplicate => {
                id = ids[s].max(1);
                now
            }
            Step::SkipIds(k) => {
                id = ids[s] + k;
                now
            }
        };
        ids[s] = ids[s].max(id);
        let t = TradeRecord::new(1, *sym, ts, ts, *price, *size, Side::Buy, id);
        agg.on_trade(&t, &mut |b| got.push(b), &mut |_| {});
        reference.trade(&t);
    }
    agg.finish(&mut |b| got.push(b));
    reference.finish();
    assert_eq!(got, reference.out);
    assert_eq!(agg.counters().late, reference.late);
    assert_eq!(agg.counters().duplicates, reference.duplicates);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn aggregator_matches_the_reference(
        steps in proptest::collection::vec((step(), 0u32..3, 1i64..1_000_000_000_000, 1i64..1_000_000_000), 1..400),
        grace in prop_oneof![Just(0i64), Just(250_000_000i64), 1i64..3 * S],
    ) {
        run_both(&steps, grace);
    }
}

#[test]
fn a_long_stream_matches_the_reference() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = proptest::collection::vec((step(), 0u32..3, 1i64..1_000_000, 1i64..1_000), 20_000);
    let steps = strat.new_tree(&mut runner).unwrap().current();
    run_both(&steps, 250_000_000);
}
