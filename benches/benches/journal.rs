//! Journal costs: append per 150-byte frame, and read throughput.
//!
//! - `journal_append/frame_150B/{pretouch,no_pretouch}`: back-to-back appends of one
//!   realistic 150-byte frame into 256 MiB segments (the default), retention 1 GiB. Back to
//!   back the writer fills pages faster than any realistic feed, so this is the saturated
//!   cost, rollovers and any page fault the pre-toucher could not prevent included.
//! - A paced run (printed, not a criterion bench; only under `cargo bench`): 2 M appends at
//!   1 M frames/s, each timed with the TSC, giving the latency distribution of one append
//!   and the page faults the writer thread took (from `/proc/thread-self/stat`): the
//!   pre-toucher's job is to make those zero. Some virtual machines advance the TSC in
//!   coarse steps (10 ns on the development VM), so the same run is repeated in bursts of
//!   64 back-to-back appends (the same 1 M frames/s on average), each burst timed as one:
//!   the median burst over 64 is the per-append cost at sub-nanosecond resolution.
//! - `journal_read/iterate_150B_frames`: a reader iterating 1 M frames (checksums checked),
//!   throughput in entries per second.
//!
//! The journal goes to `$TF_JOURNAL_BENCH_DIR` or the system temporary directory.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickforge_engine::journal::{JournalConfig, JournalReader, JournalWriter};

/// A 150-byte Binance trade frame.
fn frame() -> Vec<u8> {
    let mut f = br#"{"e":"trade","E":1700000000123,"s":"BTCUSDT","t":3290311234,"p":"37012.34000000","q":"0.00123000","T":1700000000122,"m":false,"M":true,"x":"pad"}"#.to_vec();
    f.resize(150, b' ');
    f
}

/// A scratch journal directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let base = std::env::var_os("TF_JOURNAL_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let d = base.join(format!(
            "tickforge-journal-bench-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn writer(dir: &Path, pretouch: bool) -> JournalWriter {
    JournalWriter::open(JournalConfig {
        retain_bytes: 1 << 30,
        start_payload: vec![b'c'; 4096],
        pretouch,
        ..JournalConfig::new(dir)
    })
    .unwrap()
}

fn append(c: &mut Criterion) {
    paced_latency();
    let frame = frame();
    let mut g = c.benchmark_group("journal_append");
    g.throughput(Throughput::Elements(1));
    for pretouch in [true, false] {
        let dir = Dir::new("append");
        let mut w = writer(&dir.0, pretouch);
        let mut t = 0i64;
        let name = if pretouch { "pretouch" } else { "no_pretouch" };
        g.bench_function(format!("frame_150B/{name}"), |b| {
            b.iter(|| {
                t += 1;
                w.append_frame(0, 1, t, false, black_box(&frame)).unwrap()
            })
        });
    }
    g.finish();
}

fn read(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let dir = Dir::new("read");
    let frame = frame();
    {
        let mut w = JournalWriter::open(JournalConfig {
            segment_size: 64 << 20,
            retain_bytes: u64::MAX,
            pretouch: false,
            ..JournalConfig::new(&dir.0)
        })
        .unwrap();
        for t in 0..N as i64 {
            w.append_frame(0, 1, t, false, &frame).unwrap();
        }
    }
    let mut g = c.benchmark_group("journal_read");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("iterate_150B_frames", |b| {
        b.iter(|| {
            let mut r = JournalReader::open(&dir.0).unwrap();
            let (mut n, mut bytes) = (0u64, 0usize);
            while let Some(e) = r.next_entry().unwrap() {
                n += 1;
                bytes += e.payload.len();
            }
            assert!(n > N);
            black_box(bytes)
        })
    });
    g.finish();
}

/// The time-stamp counter.
#[cfg(target_arch = "x86_64")]
fn ticks() -> u64 {
    // SAFETY: `rdtsc` exists on every x86_64 CPU and only reads the time-stamp counter.
    unsafe { std::arch::x86_64::_rdtsc() }
}

/// Nanoseconds since the first call, where there is no TSC.
#[cfg(not(target_arch = "x86_64"))]
fn ticks() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// TSC ticks per nanosecond, measured against the monotonic clock.
fn ticks_per_ns() -> f64 {
    let (t0, i0) = (ticks(), Instant::now());
    std::thread::sleep(Duration::from_millis(200));
    (ticks() - t0) as f64 / i0.elapsed().as_nanos() as f64
}

/// Minor and major page faults of the calling thread so far.
fn thread_faults() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let field = |i: usize| fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0);
    (field(7), field(9))
}

/// 2 M appends paced at 1 M/s, each timed, then in timed bursts of 64; prints the
/// distributions and the writer's page faults, with and without the pre-toucher.
fn paced_latency() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches`: skip the 2-second runs
    }
    const N: usize = 2_000_000;
    const BURST: usize = 64;
    let per_ns = ticks_per_ns();
    let interval = (1000.0 * per_ns) as u64;
    let overhead = {
        let mut v: Vec<u64> = (0..10_000)
            .map(|_| (ticks(), ticks()))
            .map(|(a, b)| b - a)
            .collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let frame = frame();
    for pretouch in [true, false] {
        let dir = Dir::new("paced");
        let mut w = writer(&dir.0, pretouch);
        // Warm up past the first SEGMENT_START and wake-up threshold.
        for t in 0..100_000 {
            w.append_frame(0, 1, t, false, &frame).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut samples = vec![1u64; N]; // written, so its pages are faulted in now
        let (min0, maj0) = thread_faults();
        let start_pos = w.position();
        let mut next = ticks();
        for (i, s) in samples.iter_mut().enumerate() {
            while ticks() < next {
                std::hint::spin_loop();
            }
            let t0 = ticks();
            black_box(
                w.append_frame(0, 1, i as i64, false, black_box(&frame))
                    .unwrap(),
            );
            *s = ticks().saturating_sub(t0).saturating_sub(overhead);
            next += interval;
        }
        let (min1, maj1) = thread_faults();
        let end_pos = w.position();
        let over = |us: f64| {
            samples
                .iter()
                .filter(|&&t| t as f64 / per_ns > us * 1000.0)
                .count()
        };
        let (over10, over100) = (over(10.0), over(100.0));
        samples.sort_unstable();
        let ns = |v: &[u64], q: f64, div: usize| {
            v[((v.len() as f64 * q) as usize).min(v.len() - 1)] as f64 / per_ns / div as f64
        };
        println!(
            "journal paced 1M frames/s, 150 B, pretouch={pretouch}: p50 {:.0} ns, p90 {:.0} ns, \
             p99 {:.0} ns, p99.9 {:.0} ns, p99.99 {:.0} ns, max {:.0} ns; {over10} appends over \
             10 us, {over100} over 100 us; writer thread page faults: {} minor, {} major in {N} \
             appends (segments {}..{})",
            ns(&samples, 0.5, 1),
            ns(&samples, 0.9, 1),
            ns(&samples, 0.99, 1),
            ns(&samples, 0.999, 1),
            ns(&samples, 0.9999, 1),
            ns(&samples, 1.0, 1),
            min1 - min0,
            maj1 - maj0,
            start_pos.segment,
            end_pos.segment,
        );

        let mut bursts = vec![1u64; N / BURST];
        let mut next = ticks();
        for (b, s) in bursts.iter_mut().enumerate() {
            while ticks() < next {
                std::hint::spin_loop();
            }
            let t0 = ticks();
            for i in 0..BURST {
                let t = (b * BURST + i) as i64;
                black_box(w.append_frame(0, 1, t, false, black_box(&frame)).unwrap());
            }
            *s = ticks().saturating_sub(t0).saturating_sub(overhead);
            next += interval * BURST as u64;
        }
        bursts.sort_unstable();
        println!(
            "journal paced bursts of {BURST}, pretouch={pretouch}: per append p50 {:.1} ns, \
             p90 {:.1} ns, p99 {:.1} ns",
            ns(&bursts, 0.5, BURST),
            ns(&bursts, 0.9, BURST),
            ns(&bursts, 0.99, BURST),
        );
    }
}

criterion_group!(benches, append, read);
criterion_main!(benches);
