//! The end-to-end bench: tickforge from a loopback WebSocket to a reader of its shared
//! memory in another process, against a conventional tokio pipeline and a bare client,
//! on the same frames, at fixed rates and at full speed.
//!
//! ```sh
//! cargo run --release -p tickforge-benches --bin e2e                    # under 2 minutes
//! cargo run --release -p tickforge-benches --bin e2e -- --quick         # under 20 s
//! cargo run --release -p tickforge-benches --bin e2e -- --rates 100k,max --secs 10 --out /tmp/e2e
//! ```
//!
//! Per rate (default 10k, 100k, 1M messages/s and `max`, 5 s each; `--quick`: 1 s each)
//! the sender feeds tickforge (engine process + shared-memory reader process), then the
//! baseline pipeline, then the floor client, each in a process of its own. It prints a
//! table per rate and writes into `--out` (default `target/e2e/<UTC timestamp>`):
//! `<rate>.hgrm`, `<rate>.baseline.hgrm`, `<rate>.floor.hgrm`,
//! `<rate>.tickforge-send.hgrm` (HdrHistogram percentile distributions, µs),
//! `latency.svg` and `summary.json`. The design, what each latency spans and how the
//! reader waits are in [`tickforge_benches::e2e`].
//!
//! The hidden subcommands `engine`, `reader`, `baseline` and `floor` are the bench's own
//! child processes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tickforge_benches::e2e::bench::{self, Options};
use tickforge_benches::e2e::roles::{self, ReaderWait};
use tickforge_benches::e2e::{report, E2eError, Rate};

/// Default rates.
const RATES: &str = "10000,100000,1000000,max";
/// Seconds per step by default, and with `--quick`.
const SECS: f64 = 5.0;
const QUICK_SECS: f64 = 1.0;

#[derive(Parser)]
#[command(
    name = "e2e",
    about = "tickforge end-to-end bench: loopback WebSocket → engine → shared memory → reader, against a tokio baseline and a bare client"
)]
struct Cli {
    /// Short run: 1 s per step (under 20 s in all).
    #[arg(long)]
    quick: bool,
    /// Output directory (default target/e2e/<UTC timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rates in messages/s, comma separated: integers (10000, 100k, 1m) or max.
    #[arg(long, value_delimiter = ',', default_value = RATES)]
    rates: Vec<Rate>,
    /// Seconds each system sends at each rate (default 5; 1 with --quick).
    #[arg(long)]
    secs: Option<f64>,
    /// The reader polls without pause this long after each event, µs (default: always on
    /// 4 or more usable cores, else 50).
    #[arg(long)]
    reader_spin_us: Option<u64>,
    /// Then it yields the core between polls this long, µs (default 0).
    #[arg(long)]
    reader_yield_us: Option<u64>,
    /// Then it sleeps this long between polls, µs (default 20).
    #[arg(long)]
    reader_sleep_us: Option<u64>,
    #[command(subcommand)]
    role: Option<Role>,
}

/// The bench's child processes.
#[derive(Subcommand)]
enum Role {
    /// Runs the engine with CONFIG until stdin closes.
    #[command(hide = true)]
    Engine {
        #[arg(long)]
        config: PathBuf,
    },
    /// Follows NAME.events and writes what it saw.
    #[command(hide = true)]
    Reader {
        #[arg(long)]
        shm_dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        spin_us: u64,
        #[arg(long)]
        yield_us: u64,
        #[arg(long)]
        sleep_us: u64,
        #[arg(long)]
        timeout_secs: u64,
    },
    /// Runs the baseline pipeline against URL.
    #[command(hide = true)]
    Baseline {
        #[arg(long)]
        url: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        timeout_secs: u64,
    },
    /// Runs the floor client against URL.
    #[command(hide = true)]
    Floor {
        #[arg(long)]
        url: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        timeout_secs: u64,
    },
}

/// `target/e2e/<UTC timestamp>`, under `CARGO_TARGET_DIR` when it is set.
fn default_out() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    let now = tickforge_engine::clock::wall_ns();
    let stamp: String = tickforge::timefmt::rfc3339(now, 0)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    target.join("e2e").join(stamp)
}

fn bench(cli: Cli) -> Result<(), E2eError> {
    let secs = cli
        .secs
        .unwrap_or(if cli.quick { QUICK_SECS } else { SECS });
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(E2eError::Protocol(format!(
            "--secs {secs}: between 0 and 3600"
        )));
    }
    let mut reader_wait = bench::default_reader_wait();
    if let Some(us) = cli.reader_spin_us {
        reader_wait.spin = Duration::from_micros(us);
    }
    if let Some(us) = cli.reader_yield_us {
        reader_wait.yield_for = Duration::from_micros(us);
    }
    if let Some(us) = cli.reader_sleep_us {
        reader_wait.sleep = Duration::from_micros(us.max(1));
    }
    let opts = Options {
        rates: cli.rates,
        duration: Duration::from_secs_f64(secs),
        out: cli.out.unwrap_or_else(default_out),
        reader_wait,
        quick: cli.quick,
    };
    let summary = bench::run(&opts)?;
    print!("{}", report::text(&summary));
    println!("\noutputs in {}", opts.out.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.role {
        None => bench(cli),
        Some(Role::Engine { config }) => roles::engine(&config),
        Some(Role::Reader {
            shm_dir,
            name,
            out,
            spin_us,
            yield_us,
            sleep_us,
            timeout_secs,
        }) => roles::reader(
            &shm_dir,
            &name,
            &out,
            ReaderWait {
                spin: Duration::from_micros(spin_us),
                yield_for: Duration::from_micros(yield_us),
                sleep: Duration::from_micros(sleep_us.max(1)),
            },
            Duration::from_secs(timeout_secs),
        ),
        Some(Role::Baseline {
            url,
            out,
            timeout_secs,
        }) => roles::baseline(&url, &out, Duration::from_secs(timeout_secs)),
        Some(Role::Floor {
            url,
            out,
            timeout_secs,
        }) => roles::floor(&url, &out, Duration::from_secs(timeout_secs)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e: {e}");
            ExitCode::FAILURE
        }
    }
}
