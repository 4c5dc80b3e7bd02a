//! `tickforge`: run the engine, serve the simulator, tail and inspect a running engine.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use tickforge::config::Config;
use tickforge::engine::{Engine, StartOptions, LATENCY_RECENT, LATENCY_TOTAL};
use tickforge::journal_cmd::{self, JournalCommand};
use tickforge::replay_cmd::{self, ReplayArgs};
use tickforge::sim::{FaultArgs, SimConfig, SimServer};
use tickforge::{stat, tail};
use tickforge_engine::shm::StatsReader;
use tickforge_replay::export::ExportFormat;

#[derive(Parser)]
#[command(name = "tickforge", version, about = "Low-latency market-data engine")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormatArg {
    Csv,
    Jsonl,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine (default: against the built-in simulator on loopback).
    Run {
        /// TOML config; without one, the built-in simulator is used.
        config: Option<PathBuf>,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration: Option<f64>,
        /// Shared-memory directory (overrides the config).
        #[arg(long)]
        shm_dir: Option<PathBuf>,
        /// Instance name (overrides the config).
        #[arg(long)]
        name: Option<String>,
        /// Serve this tick file (CSV `ts_ns,symbol,price,size,side[,trade_id]`) through the
        /// simulator, losing nothing, and exit when it is done and every bar has closed.
        #[arg(long)]
        sim_file: Option<PathBuf>,
        /// Write what the engine publishes (bars, signals, trades, quotes) into this directory.
        #[arg(long)]
        export: Option<PathBuf>,
        /// Export format.
        #[arg(long, value_enum, default_value_t = ExportFormatArg::Csv)]
        export_format: ExportFormatArg,
        /// Journal every frame into this directory (default: the config's, `./journal`).
        #[arg(long, conflicts_with = "no_journal")]
        journal: Option<PathBuf>,
        /// Do not journal.
        #[arg(long)]
        no_journal: bool,
    },
    /// Serve a venue's protocol on loopback with a synthetic market.
    Sim {
        /// The venue: binance, coinbase, coinbase_advanced, kraken, polygon, bybit, okx.
        #[arg(long, default_value = "binance")]
        venue: String,
        /// Port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 9443)]
        port: u16,
        /// Symbols in the venue's spelling; default a built-in list.
        #[arg(long, value_delimiter = ',')]
        symbols: Vec<String>,
        /// Messages per second per connection.
        #[arg(long, default_value_t = 2000)]
        rate: u64,
        /// Fraction of messages that are quotes.
        #[arg(long, default_value_t = 0.5)]
        quote_ratio: f64,
        /// Seed of the synthetic market.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Fraction of frames replaced by malformed ones.
        #[arg(long, default_value_t = 0.0)]
        malformed_rate: f64,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// Faults to inject.
        #[command(flatten)]
        faults: FaultArgs,
    },
    /// Look into a journal: list, verify, dump, repair.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Run a journal's frames through the engine again.
    Replay(ReplayArgs),
    /// Print events from a running engine's shared memory.
    Tail(tail::TailArgs),
    /// Show a running engine's counters and latency.
    Stat(stat::StatArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let default = Command::Run {
        config: None,
        duration: None,
        shm_dir: None,
        name: None,
        sim_file: None,
        export: None,
        export_format: ExportFormatArg::Csv,
        journal: None,
        no_journal: false,
    };
    match cli.command.unwrap_or(default) {
        Command::Run {
            config,
            duration,
            shm_dir,
            name,
            sim_file,
            export,
            export_format,
            journal,
            no_journal,
        } => {
            let mut cfg = match &config {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Config::from_toml(&text).with_context(|| format!("in {}", path.display()))?
                }
                None => Config::default(),
            };
            if let Some(d) = shm_dir {
                cfg.engine.shm_dir = d;
            }
            if let Some(n) = name {
                cfg.engine.name = n;
            }
            if let Some(path) = sim_file {
                cfg.use_tick_file(path);
            }
            if let Some(dir) = journal {
                cfg.journal.enabled = true;
                cfg.journal.dir = dir;
            }
            if no_journal {
                cfg.journal.enabled = false;
            }
            let format = match export_format {
                ExportFormatArg::Csv => ExportFormat::Csv,
                ExportFormatArg::Jsonl => ExportFormat::Jsonl,
            };
            let opts = StartOptions {
                export: export.map(|d| (d, format)),
                ..StartOptions::default()
            };
            run(&cfg, duration.map(Duration::from_secs_f64), opts)
        }
        Command::Sim {
            venue,
            port,
            symbols,
            rate,
            quote_ratio,
            seed,
            malformed_rate,
            duration,
            faults,
        } => {
            let venue_id = tickforge_engine::symbol::venue::from_name(&venue)
                .with_context(|| format!("unknown venue {venue:?}"))?;
            let mut sc = SimConfig {
                bind: ([127, 0, 0, 1], port).into(),
                rate,
                quote_ratio,
                seed,
                malformed_rate,
                ..SimConfig::for_venue(venue_id)
            };
            if !symbols.is_empty() {
                sc.symbols = symbols;
            }
            faults.apply(&mut sc);
            let server = SimServer::start(sc).context("starting the simulator")?;
            eprintln!("{venue} simulator listening on {}", server.url());
            let stop = ctrl_c_flag()?;
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed)
                && duration.is_none_or(|d| start.elapsed().as_secs_f64() < d)
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            let s = server.stats();
            server.stop();
            eprintln!(
                "simulator sent {} messages ({} trades, {} quotes, {} malformed)",
                s.messages, s.trades, s.quotes, s.malformed
            );
            Ok(())
        }
        Command::Journal(cmd) => exit_with(journal_cmd::run(&cmd)?),
        Command::Replay(args) => exit_with(replay_cmd::run(&args)?),
        Command::Tail(args) => tail::run(&args),
        Command::Stat(args) => stat::run(&args),
    }
}

/// Ends the process with `code` when it is not 0.
fn exit_with(code: i32) -> anyhow::Result<()> {
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

fn ctrl_c_flag() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || f.store(true, Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;
    Ok(flag)
}

fn run(cfg: &Config, duration: Option<Duration>, opts: StartOptions) -> anyhow::Result<()> {
    let engine = Engine::start(cfg, opts)?;
    println!("{}", engine.layout);
    if cfg.journal.enabled {
        println!("journal: {}", cfg.journal.dir.display());
    }
    if let Some(sim) = engine.sim() {
        match &cfg.sim.tick_file {
            Some(path) => println!("simulator: {} serving {}", sim.url(), path.display()),
            None => println!("simulator: {} ({} msg/s)", sim.url(), cfg.sim.rate),
        }
    }
    let dir = engine.shm.dir.clone();
    let name = engine.shm.name.clone();
    println!(
        "shared memory: {}/{name}.{{events,latest,stats}}",
        dir.display()
    );
    let stats = StatsReader::open(&dir, &name).context("opening the stats file")?;
    let interrupted = ctrl_c_flag()?;
    let start = Instant::now();
    let mut last = stat::Totals::read(&stats);
    let mut last_at = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if engine.is_finished() {
            break;
        }
        if interrupted.load(Ordering::Relaxed) || duration.is_some_and(|d| start.elapsed() >= d) {
            engine.request_stop();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !engine.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            break;
        }
        if last_at.elapsed() >= Duration::from_secs(1) {
            let now = stat::Totals::read(&stats);
            let secs = last_at.elapsed().as_secs_f64();
            let lat = stats.histogram(LATENCY_RECENT).unwrap_or_default();
            println!(
                "[{:>5.0}s] {:>8.0} msg/s  rejected {}  dropped {}  bars {}  signals {}  e2e p50 {}  p99 {}",
                start.elapsed().as_secs_f64(),
                (now.frames - last.frames) as f64 / secs,
                now.rejected,
                now.dropped,
                now.bars,
                now.signals,
                stat::fmt_ns(lat.p50),
                stat::fmt_ns(lat.p99),
            );
            last = now;
            last_at = Instant::now();
        }
    }
    let finished = engine.is_finished();
    engine.join()?;
    anyhow::ensure!(finished, "the engine did not stop within 10 s");
    let t = stat::Totals::read(&stats);
    let lat = stats.histogram(LATENCY_TOTAL).unwrap_or_default();
    println!("summary after {:.1}s:", start.elapsed().as_secs_f64());
    println!(
        "  frames {}  trades {}  quotes {}  rejected {}  dropped {}  bars {}  signals {}  events {}",
        t.frames, t.trades, t.quotes, t.rejected, t.dropped, t.bars, t.signals, t.events
    );
    println!(
        "  end-to-end latency (frame received → visible in shared memory), {} samples: p50 {}  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}",
        lat.count,
        stat::fmt_ns(lat.p50),
        stat::fmt_ns(lat.p90),
        stat::fmt_ns(lat.p99),
        stat::fmt_ns(lat.p999),
        stat::fmt_ns(lat.p9999),
        stat::fmt_ns(lat.max),
    );
    Ok(())
}
