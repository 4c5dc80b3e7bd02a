//! Scanner cost per closed bar: every signal and pattern evaluated on a full 200-bar
//! window, across many symbols so windows are not all in cache.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tickforge_benches::bars;
use tickforge_engine::scanner::{Scanner, ScannerConfig};

fn scanner(c: &mut Criterion) {
    let mut group = c.benchmark_group("scanner_per_closed_bar");
    for symbols in [100u32, 10_000] {
        let mut scanner = Scanner::new(ScannerConfig::default(), symbols as usize, 1);
        let history: Vec<_> = (0..symbols).map(|s| bars(s, 0, 1, 400, 9)).collect();
        for h in &history {
            for b in &h[..200] {
                scanner.on_bar(b, &mut |_| {});
            }
        }
        let mut k = 200usize;
        let n = symbols as usize;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{symbols}_symbols"), |b| {
            b.iter_batched(
                || {
                    k = if k + 1 < 400 { k + 1 } else { 200 };
                    k
                },
                |k| {
                    let mut signals = 0u64;
                    for h in &history {
                        scanner.on_bar(&h[k], &mut |_| signals += 1);
                    }
                    signals
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, scanner);
criterion_main!(benches);
