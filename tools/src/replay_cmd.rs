//! `tickforge replay DIR`: runs a journal's frames through the same parser, aggregator,
//! scanner and publisher as the live engine.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tickforge_engine::backpressure::FullPolicy;
use tickforge_engine::shm::StatsReader;
use tickforge_replay::digest::EventDigest;
use tickforge_replay::export::ExportFormat;
use tickforge_replay::plan::plan;
use tickforge_replay::source::{JournalSource, SourceSettings, Speed};

use crate::engine::{Engine, StartOptions};
use crate::recorded::recorded_config;
use crate::stat;
use crate::timefmt::parse_time;

/// `tickforge replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The journal directory.
    pub dir: PathBuf,
    /// Replay entries received at or after this (ns since the epoch or RFC 3339); the run
    /// holding the first such entry is replayed.
    #[arg(long)]
    pub from: Option<String>,
    /// Stop after entries received at this time.
    #[arg(long)]
    pub to: Option<String>,
    /// Only these symbols' trades and quotes (and so bars and signals).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// `max`, or a multiple of real time: `1x`, `10x`.
    #[arg(long, default_value = "max")]
    pub speed: String,
    /// Publish to shared memory under this instance name (default: a private name whose
    /// files are removed at the end).
    #[arg(long)]
    pub shm: Option<String>,
    /// Shared-memory directory (default: the recorded config's).
    #[arg(long)]
    pub shm_dir: Option<PathBuf>,
    /// Write what is published into this directory, as `run --export` does.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Export format: csv or jsonl.
    #[arg(long, default_value = "csv")]
    pub export_format: String,
    /// Print a SHA-256 of every event published, in order.
    #[arg(long)]
    pub digest: bool,
    /// Process every trade, also those the live engine dropped on a full ring.
    #[arg(long)]
    pub ideal: bool,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Frames replayed.
    pub frames: u64,
    /// Events published.
    pub events: u64,
    /// The digest, when asked for.
    pub digest: Option<String>,
    /// Damage that stopped the replay early.
    pub damage: Option<String>,
}

/// Runs a replay; prints the summary (and the digest). Exit status 1 when the journal was
/// damaged before the end of the replay.
pub fn run(a: &ReplayArgs) -> anyhow::Result<i32> {
    let from = a.from.as_deref().map(parse_time).transpose()?;
    let to = a.to.as_deref().map(parse_time).transpose()?;
    let speed: Speed = a.speed.parse().map_err(anyhow::Error::msg)?;
    let format = match a.export_format.as_str() {
        "csv" => ExportFormat::Csv,
        "jsonl" => ExportFormat::Jsonl,
        other => anyhow::bail!("export format {other:?}: use csv or jsonl"),
    };
    let plan = plan(&a.dir, from).with_context(|| format!("reading {}", a.dir.display()))?;
    let mut cfg = recorded_config(&plan.config)?;
    cfg.journal.enabled = false;
    // Threads, cores and ring sizes belong to this host, not to the recording; with the
    // lossless policy they change the speed of a replay, never its output.
    // Unlike a live run, a replay shares the host with no simulator and no network: with
    // two cores, the I/O and compute halves each get one.
    cfg.layout = Default::default();
    if tickforge_engine::layout::available_cores().len() >= 2 {
        cfg.layout.mode = tickforge_engine::layout::LayoutMode::Split;
    }
    let frame_bytes = cfg.backpressure.frame_bytes;
    cfg.backpressure = Default::default();
    cfg.backpressure.frame_bytes = cfg.backpressure.frame_bytes.max(frame_bytes);
    for f in &mut cfg.feeds {
        f.full_policy = FullPolicy::Block;
    }
    let private_shm = a.shm.is_none();
    cfg.engine.name = match &a.shm {
        Some(n) => n.clone(),
        None => format!("{}-replay-{}", cfg.engine.name, std::process::id()),
    };
    if let Some(d) = &a.shm_dir {
        cfg.engine.shm_dir = d.clone();
    }
    if let Some(reason) = &plan.damage {
        eprintln!("warning: {reason}; replaying the valid prefix");
    }
    if plan.unreproducible_drops > 0 {
        eprintln!(
            "warning: {} recorded drops cannot be reproduced (trade index beyond 64 in a frame)",
            plan.unreproducible_drops
        );
    }
    if let Some(p) = plan.next_run {
        eprintln!("note: a later run starts at {p}; replay it with --from");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let error = Arc::new(Mutex::new(None::<String>));
    let settings = SourceSettings {
        from,
        to,
        speed,
        ideal: a.ideal,
    };
    let digest = a.digest.then(|| Arc::new(Mutex::new(EventDigest::new())));
    let tap_digest = digest.clone();
    let (dir, src_plan, src_stop, src_error) =
        (a.dir.clone(), plan.clone(), stop.clone(), error.clone());
    let opts = StartOptions {
        tap: tap_digest.map(|d| -> tickforge_engine::stages::EventTap {
            Box::new(move |r| d.lock().unwrap_or_else(|p| p.into_inner()).add(r))
        }),
        export: a.export.clone().map(|d| (d, format)),
        source: Some(Box::new(move |out| {
            let s = JournalSource::new(&dir, &src_plan, settings, out, src_stop, src_error)?;
            Ok(Box::new(s) as Box<dyn tickforge_engine::stage::Stage>)
        })),
        symbols: (!a.symbols.is_empty()).then(|| a.symbols.clone()),
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let started = Instant::now();
    let engine = Engine::start(&cfg, opts)?;
    let stats = StatsReader::open(&engine.shm.dir, &engine.shm.name)?;
    while !engine.is_finished() {
        if interrupted.load(Ordering::Relaxed) {
            stop.store(true, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed();
    let shm = engine.shm.clone();
    engine.join()?;
    let t = stat::Totals::read(&stats);
    drop(stats);
    if private_shm {
        for ext in ["events", "latest", "stats"] {
            let _ = std::fs::remove_file(shm.dir.join(format!("{}.{ext}", shm.name)));
        }
    }
    let summary = ReplaySummary {
        frames: t.frames,
        events: t.events,
        digest: digest.map(|d| d.lock().unwrap_or_else(|p| p.into_inner()).hex()),
        damage: error.lock().unwrap_or_else(|p| p.into_inner()).take(),
    };
    eprintln!(
        "replayed {} frames in {:.3}s ({:.0} frames/s): {} trades, {} quotes, {} bars, {} signals, {} events, {} rejected, {} drops reproduced",
        t.frames,
        elapsed.as_secs_f64(),
        t.frames as f64 / elapsed.as_secs_f64().max(1e-9),
        t.trades,
        t.quotes,
        t.bars,
        t.signals,
        t.events,
        t.rejected,
        if a.ideal { 0 } else { t.dropped },
    );
    if let Some(d) = &summary.digest {
        println!("digest {d} events {}", summary.events);
    }
    if let Some(e) = &summary.damage {
        eprintln!("error: {e}: the replay stopped there");
        return Ok(1);
    }
    Ok(0)
}
