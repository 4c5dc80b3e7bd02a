//! The whole run: every rate, every system, then the files in `--out`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tickforge_engine::clock::wall_ns;

use super::hist::{self, HistData};
use super::report::{self, hgrm_name, StepResults};
use super::roles::ReaderWait;
use super::steps::{self, Schedule, StepContext};
use super::svg::{self, Series};
use super::wire::FramePool;
use super::{E2eError, Rate};

/// Frames in the pool the sender cycles through.
const POOL_FRAMES: usize = 8192;
/// Fraction of quotes among the frames (the simulator's default).
const QUOTE_RATIO: f64 = 0.5;
/// Seed of the frame pool.
const SEED: u64 = 42;

/// How to run the bench.
#[derive(Debug, Clone)]
pub struct Options {
    /// The rates, in order.
    pub rates: Vec<Rate>,
    /// How long each system sends at each rate.
    pub duration: Duration,
    /// Where the outputs go.
    pub out: PathBuf,
    /// How the shared-memory reader waits.
    pub reader_wait: ReaderWait,
    /// Whether this is the quick mode (for the record).
    pub quick: bool,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> E2eError {
    let what = what.into();
    move |source| E2eError::Io { what, source }
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: &Path, name: &str) -> Result<Scratch, E2eError> {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The first line of a file under /proc or /sys, trimmed.
fn first_line(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.lines().next()?.trim().to_owned())
}

/// The output of `git args…`, trimmed, if it succeeds: in the current directory, else in
/// the source tree this binary was built from.
fn git(args: &[&str]) -> Option<String> {
    let run = |dir: &Path| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    run(Path::new(".")).or_else(|| run(Path::new(env!("CARGO_MANIFEST_DIR"))))
}

/// What the run ran on.
pub fn machine() -> Value {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|m| m.trim().to_owned())
    });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({
        "cores": cores,
        "usable_cores": tickforge_engine::layout::available_cores(),
        "cpu_model": cpu_model,
        "kernel": first_line("/proc/sys/kernel/osrelease"),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "loadavg_start": first_line("/proc/loadavg"),
        "git_commit": git(&["rev-parse", "HEAD"]),
        "git_dirty": git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
    })
}

/// The default reader wait for this machine: with 4 or more usable cores, poll without
/// pause (a consumer with a core of its own); with fewer, poll 50 µs after each event,
/// then sleep 20 µs between polls.
pub fn default_reader_wait() -> ReaderWait {
    if tickforge_engine::layout::available_cores().len() >= 4 {
        ReaderWait {
            spin: Duration::from_secs(3600),
            yield_for: Duration::ZERO,
            sleep: Duration::from_micros(20),
        }
    } else {
        ReaderWait {
            spin: Duration::from_micros(50),
            yield_for: Duration::ZERO,
            sleep: Duration::from_micros(20),
        }
    }
}

/// Runs every rate and system, writes the outputs into `opts.out`, and returns the
/// summary (as written to `summary.json`).
pub fn run(opts: &Options) -> Result<Value, E2eError> {
    let started = wall_ns();
    std::fs::create_dir_all(&opts.out).map_err(io(format!("creating {}", opts.out.display())))?;
    let machine = machine();
    let tag = format!("tickforge-e2e-{}", std::process::id());
    let work = Scratch::new(&std::env::temp_dir(), &tag)?;
    let shm_parent = Path::new("/dev/shm");
    let shm = if shm_parent.is_dir() {
        Scratch::new(shm_parent, &tag)?
    } else {
        Scratch::new(&work.0, "shm")?
    };
    let ctx = StepContext {
        pool: Arc::new(FramePool::new(POOL_FRAMES, QUOTE_RATIO, SEED)),
        work: work.0.clone(),
        shm_dir: shm.0.clone(),
        duration: opts.duration,
        reader_wait: opts.reader_wait,
    };
    let mut steps = Vec::new();
    for &rate in &opts.rates {
        // Exchange time starts at the step's start (so tickforge, first, sees it near
        // its receive time) and is the same for every system of the step: every system
        // gets the same frames.
        let t0_ms = wall_ns() / 1_000_000;
        let s = Schedule { rate, t0_ms };
        eprintln!("e2e: rate {} msg/s: tickforge", rate.label());
        let tickforge = steps::run_tickforge(&ctx, s).map_err(|e| e.to_string());
        eprintln!("e2e: rate {} msg/s: baseline", rate.label());
        let baseline = steps::run_baseline(&ctx, s).map_err(|e| e.to_string());
        eprintln!("e2e: rate {} msg/s: floor", rate.label());
        let floor = steps::run_floor(&ctx, s).map_err(|e| e.to_string());
        steps.push(StepResults {
            rate,
            t0_ms,
            tickforge,
            baseline,
            floor,
        });
    }
    let rates: Vec<Value> = steps.iter().map(report::rate_json).collect();
    let finished = wall_ns();
    let mut machine = machine;
    machine["loadavg_end"] = json!(first_line("/proc/loadavg"));
    let summary = json!({
        "bench": "tickforge end-to-end",
        "format": 1,
        "started": tickforge::timefmt::rfc3339(started, 0),
        "finished": tickforge::timefmt::rfc3339(finished, 0),
        "elapsed_secs": ((finished - started) as f64 / 1e9 * 10.0).round() / 10.0,
        "settings": {
            "rates": opts.rates.iter().map(|r| r.label()).collect::<Vec<_>>(),
            "secs_per_step": opts.duration.as_secs_f64(),
            "quick": opts.quick,
            "reader_spin_us": opts.reader_wait.spin.as_micros() as u64,
            "reader_yield_us": opts.reader_wait.yield_for.as_micros() as u64,
            "reader_sleep_us": opts.reader_wait.sleep.as_micros() as u64,
            "symbols": ctx.pool.symbols(),
            "quote_ratio": QUOTE_RATIO,
            "frames_in_pool": ctx.pool.len(),
        },
        "units": { "latency": "ns", "throughput": "messages/s", "cpu_per_msg": "ns", "hgrm_values": "µs" },
        "latency_definitions": {
            "tickforge": "frame fully received by the engine (recv_ts) to the event visible to a reader process polling NAME.events",
            "tickforge.latency_from_send": "quotes: the sender's stamp to visible to the reader",
            "tickforge.engine_histograms": "NAME.stats, as the engine exports them (e2e_latency_ns: received to published, measured by the publisher)",
            "baseline": "frame received by tokio-tungstenite to the subscriber task saw the event",
            "floor": "the sender's stamp to the bare client's read returned the frame",
        },
        "machine": machine,
        "rates": rates,
        "targets": report::targets(&rates),
    });
    write_outputs(&opts.out, &steps, &summary)?;
    Ok(summary)
}

/// The distributions of a step, by system name, with the file each goes to.
fn distributions(step: &StepResults) -> Vec<(&'static str, usize, &HistData)> {
    let mut v = Vec::new();
    if let Ok(t) = &step.tickforge {
        v.push(("tickforge", 0, &t.reader.latency));
    }
    if let Ok(b) = &step.baseline {
        v.push(("baseline", 1, &b.result.latency));
    }
    if let Ok(f) = &step.floor {
        v.push(("floor", 2, &f.result.latency));
    }
    if let Ok(t) = &step.tickforge {
        v.push(("tickforge-send", 3, &t.reader.from_send));
    }
    v
}

/// `.hgrm` files, `latency.svg` and `summary.json`.
fn write_outputs(out: &Path, steps: &[StepResults], summary: &Value) -> Result<(), E2eError> {
    let write = |name: &str, text: &[u8]| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))
    };
    let mut series = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        for (system, index, data) in distributions(step) {
            let h = data.to_histogram()?;
            write(&hgrm_name(step.rate, system), hist::hgrm(&h).as_bytes())?;
            // The chart compares like with like: the three systems' own latencies.
            if index < 3 && !h.is_empty() {
                series.push(Series {
                    label: format!("{system} {}", step.rate.label()),
                    rate_index: i,
                    system: index,
                    points: hist::plot_points(&h),
                });
            }
        }
    }
    let title = "tickforge end-to-end latency by percentile";
    let note = "tickforge: frame received → visible to the reader; baseline: received → subscriber; floor: sent → read";
    write("latency.svg", svg::chart(title, note, &series).as_bytes())?;
    let json = serde_json::to_vec_pretty(summary)?;
    write("summary.json", &json)
}
