//! One rate step of one system: tickforge (engine process + shared-memory reader
//! process), the baseline pipeline, or the floor client, each fed by its own
//! [`Sender`] with the same frame sequence.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickforge_engine::shm::{HistogramSnapshot, StatsReader};

use super::proc::{cpu_ns, Child};
use super::roles::{self, BaselineResult, FloorResult, ReaderResult, ReaderWait};
use super::sender::{SendReport, Sender, SenderConfig};
use super::wire::FramePool;
use super::{E2eError, Rate, TIMEFRAMES};

/// Longest wait for a child to start, connect or stop.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait, after the sender is done, for a system to read every frame.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What every step shares.
#[derive(Debug, Clone)]
pub struct StepContext {
    /// The frames.
    pub pool: Arc<FramePool>,
    /// Scratch directory: configs and the children's results.
    pub work: PathBuf,
    /// The engine's shared-memory directory.
    pub shm_dir: PathBuf,
    /// How long each step sends.
    pub duration: Duration,
    /// How the shared-memory reader waits.
    pub reader_wait: ReaderWait,
}

/// The rate of a step and the exchange time of its first frame.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// The rate.
    pub rate: Rate,
    /// Exchange time of frame 0, ms since the Unix epoch.
    pub t0_ms: i64,
}

impl StepContext {
    fn sender(&self, s: Schedule) -> Result<Sender, E2eError> {
        Sender::start(SenderConfig {
            pool: self.pool.clone(),
            rate: s.rate.per_sec(),
            duration: self.duration,
            t0_ms: s.t0_ms,
            nominal_rate: s.rate.nominal(),
            timeout: CHILD_TIMEOUT,
        })
    }

    /// Room for a child to finish after the sender: the step plus a margin.
    fn child_timeout(&self) -> Duration {
        self.duration * 4 + Duration::from_secs(60)
    }
}

/// tickforge's step.
#[derive(Debug, Clone)]
pub struct TickforgeRun {
    /// The layout the engine chose.
    pub layout: String,
    /// What the sender wrote.
    pub send: SendReport,
    /// Data frames the engine read.
    pub frames: u64,
    /// What the shared-memory reader saw.
    pub reader: ReaderResult,
    /// Every counter of `NAME.stats` after the engine stopped.
    pub counters: Vec<(String, u64)>,
    /// Every histogram of `NAME.stats` after the engine stopped.
    pub histograms: Vec<(String, HistogramSnapshot)>,
    /// Engine CPU time from the start of sending until it had read every frame, ns.
    pub cpu_ns: Option<u64>,
    /// The reader process's CPU time over the same span, ns.
    pub reader_cpu_ns: Option<u64>,
}

impl TickforgeRun {
    /// The counter `name` (0 if absent).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }
}

/// The baseline's step.
#[derive(Debug, Clone)]
pub struct BaselineRun {
    /// What the sender wrote.
    pub send: SendReport,
    /// What the pipeline saw.
    pub result: BaselineResult,
    /// Process CPU time from the start of sending to the end, ns.
    pub cpu_ns: Option<u64>,
}

/// The floor's step.
#[derive(Debug, Clone)]
pub struct FloorRun {
    /// What the sender wrote.
    pub send: SendReport,
    /// What the client saw.
    pub result: FloorResult,
    /// Process CPU time from the start of sending to the end, ns.
    pub cpu_ns: Option<u64>,
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    list.iter().map(|a| a.as_ref().to_owned()).collect()
}

/// A TOML basic string holding `s` (JSON's escapes are TOML's).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The engine's configuration: the defaults of `tickforge run` (layout, rings, signals,
/// full-ring policy) with one Binance feed at `url`, no journal and the files in
/// `shm_dir`.
fn engine_config(name: &str, shm_dir: &Path, work: &Path, url: &str, symbols: &[String]) -> String {
    let list = |v: &[String]| v.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", ");
    let tfs: Vec<String> = TIMEFRAMES.iter().map(|s| (*s).to_owned()).collect();
    format!(
        "# The end-to-end bench's engine: the defaults plus one feed at the bench's sender.\n\
         [engine]\nname = {}\nshm_dir = {}\ntimeframes = [{}]\n\n\
         [journal]\nenabled = false\ndir = {}\n\n\
         [[feeds]]\nname = \"e2e\"\nvenue = \"binance\"\nurl = {}\nsymbols = [{}]\n\
         channels = [\"trade\", \"bookTicker\"]\nreconnect = false\n",
        toml_str(name),
        toml_str(&shm_dir.to_string_lossy()),
        list(&tfs),
        toml_str(&work.join("journal").to_string_lossy()),
        toml_str(url),
        list(symbols),
    )
}

/// Runs the engine and the reader as two processes for one step.
pub fn run_tickforge(ctx: &StepContext, s: Schedule) -> Result<TickforgeRun, E2eError> {
    let label = s.rate.label();
    let sender = ctx.sender(s)?;
    let name = format!("e2e-{}-{label}", std::process::id());
    let config = ctx.work.join(format!("engine-{label}.toml"));
    let text = engine_config(
        &name,
        &ctx.shm_dir,
        &ctx.work,
        sender.url(),
        ctx.pool.symbols(),
    );
    std::fs::write(&config, text).map_err(|source| E2eError::Io {
        what: format!("writing {}", config.display()),
        source,
    })?;
    let mut engine = Child::spawn("engine", args(&[&"engine", &"--config", &config]))?;
    let layout = engine.expect("ready", CHILD_TIMEOUT)?;
    let stats = StatsReader::open(&ctx.shm_dir, &name)?;
    let out = roles::result_path(&ctx.work, "reader", &label);
    let w = ctx.reader_wait;
    let mut reader = Child::spawn(
        "reader",
        args(&[
            &"reader",
            &"--shm-dir",
            &ctx.shm_dir,
            &"--name",
            &name,
            &"--out",
            &out,
            &"--spin-us",
            &w.spin.as_micros().to_string(),
            &"--yield-us",
            &w.yield_for.as_micros().to_string(),
            &"--sleep-us",
            &w.sleep.as_micros().to_string(),
            &"--timeout-secs",
            &ctx.child_timeout().as_secs().to_string(),
        ]),
    )?;
    reader.expect("ready", CHILD_TIMEOUT)?;
    sender.wait_subscribed()?;
    let cpu0 = cpu_ns(engine.pid());
    let reader_cpu0 = cpu_ns(reader.pid());
    sender.go();
    let send = sender.wait_done(ctx.duration, DRAIN_TIMEOUT)?;
    // The engine's counters are copied to NAME.stats at least every 100 ms.
    let want = send.frames + send.replies;
    let give_up = Instant::now() + DRAIN_TIMEOUT;
    while stats.counter("reader.frames").unwrap_or(0) < want && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(2));
    }
    let cpu1 = cpu_ns(engine.pid());
    let reader_cpu1 = cpu_ns(reader.pid());
    sender.close()?;
    engine.wait(CHILD_TIMEOUT)?;
    reader.wait(CHILD_TIMEOUT)?;
    let reader_result: ReaderResult = roles::read_json(&out)?;
    let counters = stats.counters();
    let frames = counters
        .iter()
        .find(|(n, _)| n == "reader.frames")
        .map_or(0, |(_, v)| *v)
        .saturating_sub(send.replies);
    Ok(TickforgeRun {
        layout,
        send,
        frames,
        reader: reader_result,
        counters,
        histograms: stats.histograms(),
        cpu_ns: cpu1.zip(cpu0).map(|(b, a)| b.saturating_sub(a)),
        reader_cpu_ns: reader_cpu1
            .zip(reader_cpu0)
            .map(|(b, a)| b.saturating_sub(a)),
    })
}

/// Starts `role` against a sender, sends, closes, and reads the child's result.
fn run_client<T: for<'de> serde::Deserialize<'de>>(
    ctx: &StepContext,
    s: Schedule,
    role: &'static str,
) -> Result<(SendReport, T, Option<u64>), E2eError> {
    let label = s.rate.label();
    let sender = ctx.sender(s)?;
    let out = roles::result_path(&ctx.work, role, &label);
    let mut child = Child::spawn(
        role,
        args(&[
            &role,
            &"--url",
            &sender.url(),
            &"--out",
            &out,
            &"--timeout-secs",
            &ctx.child_timeout().as_secs().to_string(),
        ]),
    )?;
    sender.wait_subscribed()?;
    let cpu0 = cpu_ns(child.pid());
    sender.go();
    let send = sender.wait_done(ctx.duration, DRAIN_TIMEOUT)?;
    sender.close()?;
    child.wait(ctx.child_timeout())?;
    let result: T = roles::read_json(&out)?;
    Ok((send, result, cpu0))
}

/// Runs the baseline pipeline as a process for one step.
pub fn run_baseline(ctx: &StepContext, s: Schedule) -> Result<BaselineRun, E2eError> {
    let (send, result, cpu0): (_, BaselineResult, _) = run_client(ctx, s, "baseline")?;
    let cpu_ns = result.cpu_ns.zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    Ok(BaselineRun {
        send,
        result,
        cpu_ns,
    })
}

/// Runs the floor client as a process for one step.
pub fn run_floor(ctx: &StepContext, s: Schedule) -> Result<FloorRun, E2eError> {
    let (send, result, cpu0): (_, FloorResult, _) = run_client(ctx, s, "floor")?;
    let cpu_ns = result.cpu_ns.zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    Ok(FloorRun {
        send,
        result,
        cpu_ns,
    })
}
