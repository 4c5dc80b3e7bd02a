//! `tickforge stat`: a running engine's counters and latency, read from `NAME.stats` by a
//! separate process.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tickforge_engine::shm::StatsReader;

/// Arguments of `tickforge stat`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatArgs {
    /// Instance name.
    #[arg(long, default_value = "tickforge")]
    pub name: String,
    /// Shared-memory directory.
    #[arg(long, default_value = "/dev/shm")]
    pub shm_dir: PathBuf,
    /// Print every this many seconds until interrupted (default: once).
    #[arg(long)]
    pub watch: Option<f64>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The headline totals of a running engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Frames read from the network.
    pub frames: u64,
    /// Trades parsed.
    pub trades: u64,
    /// Quotes parsed.
    pub quotes: u64,
    /// Frames rejected by the parser.
    pub rejected: u64,
    /// Trades dropped on a full ring.
    pub dropped: u64,
    /// Closed bars published.
    pub bars: u64,
    /// Signals published.
    pub signals: u64,
    /// Events written to the event ring.
    pub events: u64,
}

impl Totals {
    /// Reads the totals from a stats file.
    pub fn read(s: &StatsReader) -> Totals {
        let c = |n: &str| s.counter(n).unwrap_or(0);
        Totals {
            frames: c("reader.frames"),
            trades: c("parser.trades"),
            quotes: c("parser.quotes"),
            rejected: c("parser.rejected"),
            dropped: c("parser.dropped_trades"),
            bars: c("publisher.bars"),
            signals: c("publisher.signals"),
            events: c("publisher.events"),
        }
    }
}

/// Nanoseconds as a short human-readable duration.
pub fn fmt_ns(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns}ns"),
        10_000..=9_999_999 => format!("{:.1}µs", ns as f64 / 1e3),
        _ => format!("{:.1}ms", ns as f64 / 1e6),
    }
}

fn print_once(s: &StatsReader, json: bool) {
    if json {
        let mut obj = serde_json::Map::new();
        obj.insert("pid".into(), s.writer_pid().into());
        obj.insert("alive".into(), s.is_writer_alive().into());
        obj.insert("incarnation".into(), s.incarnation().into());
        for (k, v) in s.counters() {
            obj.insert(k, v.into());
        }
        for (k, h) in s.histograms() {
            obj.insert(
                k,
                serde_json::json!({"count": h.count, "min": h.min, "p50": h.p50, "p90": h.p90, "p99": h.p99,
                    "p999": h.p999, "p9999": h.p9999, "max": h.max, "mean": h.mean}),
            );
        }
        println!("{}", serde_json::Value::Object(obj));
        return;
    }
    println!(
        "engine pid {} ({}), incarnation {:#x}",
        s.writer_pid(),
        if s.is_writer_alive() {
            "running"
        } else {
            "not running"
        },
        s.incarnation()
    );
    for (k, v) in s.counters() {
        println!("  {k:<36} {v}");
    }
    for (name, h) in s.histograms() {
        println!(
            "  {name:<32} n={} p50 {} p90 {} p99 {} p99.9 {} max {}",
            h.count,
            fmt_ns(h.p50),
            fmt_ns(h.p90),
            fmt_ns(h.p99),
            fmt_ns(h.p999),
            fmt_ns(h.max)
        );
    }
}

/// Runs `tickforge stat`.
pub fn run(args: &StatArgs) -> anyhow::Result<()> {
    let s = StatsReader::open(&args.shm_dir, &args.name).with_context(|| {
        format!(
            "opening {}/{}.stats (is the engine running?)",
            args.shm_dir.display(),
            args.name
        )
    })?;
    let mut last: Option<(std::time::Instant, Vec<(String, u64)>)> = None;
    loop {
        print_once(&s, args.json);
        // With --watch, each source's messages per second since the last print.
        let now = (std::time::Instant::now(), source_frames(&s));
        if let Some((t, before)) = &last {
            let secs = now.0.duration_since(*t).as_secs_f64().max(1e-9);
            for ((name, a), (_, b)) in before.iter().zip(&now.1) {
                let rate = b.saturating_sub(*a) as f64 / secs;
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"source": name, "msgs_per_s": rate})
                    );
                } else {
                    println!("  source {name:<27} {rate:>10.0} msg/s");
                }
            }
        }
        last = Some(now);
        match args.watch {
            Some(secs) => std::thread::sleep(Duration::from_secs_f64(secs.max(0.05))),
            None => return Ok(()),
        }
    }
}

/// Every source's frame counter (`parser.source.<feed>.frames`), by feed name.
fn source_frames(s: &StatsReader) -> Vec<(String, u64)> {
    s.counters()
        .into_iter()
        .filter_map(|(k, v)| {
            let feed = k.strip_prefix("parser.source.")?.strip_suffix(".frames")?;
            Some((feed.to_string(), v))
        })
        .collect()
}
