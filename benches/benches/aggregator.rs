//! Aggregator updates per second with 3 timeframes (1s, 1m, 5m) at 100, 10k and 100k
//! symbols. Each iteration feeds a batch of trades whose times advance 10 µs apart, so
//! bars of every timeframe keep closing (their cost is included).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tickforge_benches::trades;
use tickforge_engine::aggregator::{AggregatorConfig, BarAggregator};

const BATCH: usize = 200_000;
const PREFETCH_AHEAD: usize = 8;

fn aggregator(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregator_update");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    for symbols in [100u32, 10_000, 100_000] {
        let cfg = AggregatorConfig::default();
        let mut agg = BarAggregator::new(&cfg, vec![0; symbols as usize]);
        // Warm up: every symbol has open bars, buckets and pools are allocated.
        let warm = trades(symbols, (symbols as usize * 4).max(BATCH), 10_000, 1);
        let mut bars = 0u64;
        for t in &warm {
            agg.on_trade(t, &mut |_| bars += 1, &mut |_| {});
        }
        let mut next = warm.last().map_or(0, |t| t.exch_ts);
        group.bench_function(format!("{symbols}_symbols"), |b| {
            b.iter_batched_ref(
                || {
                    // Fresh trades continuing in time (ids and times keep increasing).
                    let mut batch = trades(symbols, BATCH, 10_000, next as u64);
                    let shift = next - batch[0].exch_ts + 10_000;
                    for t in &mut batch {
                        t.exch_ts += shift;
                        t.recv_ts += shift;
                        t.trade_id = 0;
                    }
                    next = batch.last().map_or(next, |t| t.exch_ts);
                    batch
                },
                |batch: &mut Vec<_>| {
                    let mut closed = 0u64;
                    for (i, t) in batch.iter().enumerate() {
                        // As the aggregator stage does: prefetch a few trades ahead.
                        if let Some(ahead) = batch.get(i + PREFETCH_AHEAD) {
                            agg.prefetch(ahead.symbol);
                        }
                        agg.on_trade(t, &mut |_| closed += 1, &mut |_| {});
                    }
                    closed
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, aggregator);
criterion_main!(benches);
