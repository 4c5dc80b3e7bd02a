//! The end-to-end bench (`cargo run --release -p tickforge-benches --bin e2e`): tickforge
//! from the wire to a reader in another process, against the conventional
//! [`crate::baseline`] pipeline and the bare [`crate::floor`] client, on the same frames.
//!
//! # What runs
//!
//! For each rate (default 10k, 100k and 1M messages/s, then `max`: as fast as the
//! receiver reads), three steps, one after the other:
//!
//! 1. **tickforge**: a [`sender`] on 127.0.0.1 (a minimal Binance combined-stream server)
//!    writes pre-encoded frames ([`wire`]) to the engine, which runs as its own process
//!    with `tickforge run`'s defaults (its layout planner, rings, full-ring policy,
//!    signals) and one Binance feed, no journal, its shared memory in a scratch directory.
//!    A second process follows `NAME.events` with [`tickforge_engine::shm::EventReader`]
//!    and records, per trade and quote, `wall_ns() - recv_ts`: from the frame fully
//!    received by the engine (the socket read that brought its last byte returned) to the
//!    event visible to the reader. After the step the
//!    engine's `NAME.stats` gives its counters and every histogram it exports (today
//!    `e2e_latency_ns`, measured by the publisher as it publishes; stage histograms
//!    added later appear in the report by themselves).
//! 2. **baseline**: the same frames to the tokio pipeline, in its own process; its
//!    latency is frame received (stamped the same way) → its subscriber saw the event,
//!    the same span.
//! 3. **floor**: the same frames to the bare blocking client, in its own process; its
//!    latency is the sender's stamp → the client's `read` returned the frame.
//!
//! Every process reads the same frame sequence: prices, sizes, sides, trade ids and
//! exchange times depend only on a frame's index, so the closed bars of tickforge and of
//! the baseline are compared ([`compare`]). The sender stamps each frame with its send
//! time (trades' `E`, quotes' `u`, see [`wire`]), so tickforge's quotes also give send →
//! visible, which set against the floor's send → read is tickforge's added latency over
//! the floor.
//!
//! # What it measures
//!
//! Per rate and system: percentiles (p50 … p99.99, max), throughput (messages handled /
//! time from the first send to the last event seen), drops (tickforge: trades dropped on
//! full rings, quotes conflated or sampled, events the reader lost; baseline: events its
//! subscriber lost to the broadcast channel), CPU per message (the process's user +
//! system time from `/proc/<pid>/stat` over the step, divided by the messages). Ratios:
//! tickforge's throughput over the baseline's, the baseline's p99 over tickforge's, and
//! tickforge's send → visible percentiles minus the floor's.
//!
//! # The reader's wait
//!
//! The reader sees an event when it polls, so how it waits bounds what it can measure.
//! With 4 or more usable cores it polls without pause (a consumer with a core of its
//! own). With fewer it must not hold a core the engine and the sender need: it polls
//! without pause for 50 µs after each event (at 20k events/s and more it is then polling
//! whenever events flow), then sleeps 20 µs between polls (timer slack 1 µs). A sleep
//! lasts longer than asked (60 µs and more on some virtual machines), and at low rates
//! most events arrive while the reader sleeps: its figures then include that wake-up.
//! `--reader-spin-us`, `--reader-yield-us` (a phase of `sched_yield` between polls after
//! the spin, default 0) and `--reader-sleep-us` change it. The engine's own
//! `e2e_latency_ns` does not depend on the reader.
//!
//! # Reading the figures
//!
//! At a fixed rate the sender keeps its schedule as long as the receiver keeps up; a
//! receiver that cannot (or a starved sender) shows as a throughput below the rate and a
//! `max_behind_ns` in the sender's figures. At `max` the sender always outruns the
//! receiver, the socket buffers stay full, and every send → … latency (the floor's,
//! tickforge's from-send) is mostly time queued in them: compare latencies at the fixed
//! rates. The exchange time `T` of the frames runs at the nominal rate from the start of
//! the step, so the engine's `exch_to_recv`-style histograms measure the schedule, not
//! the venue.
//!
//! # Outputs (in `--out DIR`)
//!
//! `<rate>.hgrm` (tickforge, frame received → visible to the reader), `<rate>.baseline.hgrm`,
//! `<rate>.floor.hgrm`, `<rate>.tickforge-send.hgrm` (quotes, send → visible): HdrHistogram
//! percentile distributions, values in µs; `latency.svg`: every distribution on one
//! log-percentile chart; `summary.json`: the machine (cores, kernel, CPU model, load, git
//! commit), the settings, and per rate and system every figure above, for tracking runs
//! over time.

pub mod bench;
pub mod compare;
pub mod hist;
pub mod proc;
pub mod report;
pub mod roles;
pub mod sender;
pub mod steps;
pub mod svg;
pub mod wire;

use tickforge_engine::timeframe::Timeframe;

/// The bar timeframes of every system.
pub const TIMEFRAMES: [&str; 3] = ["1s", "1m", "5m"];
/// The same, in seconds, by timeframe index.
pub const TIMEFRAME_SECS: [u32; 3] = [1, 60, 300];

/// [`TIMEFRAMES`] parsed.
pub fn timeframes() -> Vec<Timeframe> {
    TIMEFRAME_SECS
        .iter()
        .filter_map(|&s| Timeframe::from_secs(s).ok())
        .collect()
}

/// A step's sending rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// This many messages per second.
    Fixed(u64),
    /// As fast as the receiver reads.
    Max,
}

impl Rate {
    /// `10000`, `max`: for file names and the report.
    pub fn label(self) -> String {
        match self {
            Rate::Fixed(r) => r.to_string(),
            Rate::Max => "max".into(),
        }
    }

    /// Messages per second, `None` for [`Rate::Max`].
    pub fn per_sec(self) -> Option<u64> {
        match self {
            Rate::Fixed(r) => Some(r),
            Rate::Max => None,
        }
    }

    /// Frames per second of exchange time: the rate, or 1M for [`Rate::Max`].
    pub fn nominal(self) -> u64 {
        self.per_sec().unwrap_or(1_000_000).max(1)
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// `max`, or a positive integer with an optional `k`/`m` suffix (`100k`, `1m`).
    fn from_str(s: &str) -> Result<Rate, String> {
        let t = s.trim().to_ascii_lowercase();
        if t == "max" {
            return Ok(Rate::Max);
        }
        let (digits, mul) = match t.strip_suffix('k') {
            Some(d) => (d, 1_000),
            None => match t.strip_suffix('m') {
                Some(d) => (d, 1_000_000),
                None => (t.as_str(), 1),
            },
        };
        match digits.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Rate::Fixed(n.saturating_mul(mul))),
            _ => Err(format!(
                "bad rate {s:?}: a positive integer (10000, 100k, 1m) or max"
            )),
        }
    }
}

/// Why the bench, or one of its processes, failed.
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    /// A file, socket or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The sender or a client did not follow the script.
    #[error("{0}")]
    Protocol(String),
    /// A child process failed.
    #[error("{role} process: {msg}")]
    Child {
        /// Which child.
        role: &'static str,
        /// What happened.
        msg: String,
    },
    /// The engine failed to start or stop.
    #[error("engine: {0}")]
    Engine(String),
    /// A result file could not be written or read.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The baseline pipeline failed.
    #[error("baseline: {0}")]
    Baseline(#[from] crate::baseline::BaselineError),
    /// The floor client failed.
    #[error("floor: {0}")]
    Floor(#[from] crate::floor::FloorError),
    /// The engine's shared memory could not be read.
    #[error("shared memory: {0}")]
    Shm(#[from] tickforge_engine::shm::ShmError),
    /// A histogram could not be rebuilt.
    #[error("histogram: {0}")]
    Histogram(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!("10000".parse(), Ok(Rate::Fixed(10_000)));
        assert_eq!("100k".parse(), Ok(Rate::Fixed(100_000)));
        assert_eq!("1M".parse(), Ok(Rate::Fixed(1_000_000)));
        assert_eq!("max".parse(), Ok(Rate::Max));
        assert!("0".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        assert_eq!(Rate::Max.label(), "max");
        assert_eq!(timeframes().len(), 3);
    }
}
