//! A conventional market-data pipeline, the baseline tickforge is measured against.
//!
//! The architecture most services would start with: a tokio runtime (multi-thread, two
//! workers), tokio-tungstenite as the WebSocket client, every text frame read with
//! serde_json into owned structs ([`wire`]), a bounded tokio `mpsc` channel to an
//! aggregator task keeping a `HashMap<String, BaselineBar>` per timeframe ([`bars`]), a
//! tokio `broadcast` channel of output events (trades, quotes, closed bars), and a
//! subscriber task. Three tasks:
//!
//! ```text
//! reader (socket → serde_json) ─mpsc→ aggregator (bars) ─broadcast→ subscriber (latency)
//! ```
//!
//! The reader stamps each frame with the instant the socket read that brought its last
//! byte returned (as tickforge does, so both count the time a frame waits behind others
//! that arrived with it); the
//! subscriber records, per event, the time from that stamp to the moment it sees the event
//! in an HDR histogram (ns). A bar carries the stamp of the frame that closed it (or of the
//! end of input).
//!
//! Numbers agree exactly with tickforge: decimals go through
//! [`tickforge_engine::fixed::parse_unsigned_decimal`], and for input in exchange-time
//! order the closed bars are the engine's (see [`bars`] for the semantics).
//!
//! ```no_run
//! use tickforge_benches::baseline::{self, BaselineConfig, StopCondition};
//! let report = baseline::run(BaselineConfig {
//!     url: "ws://127.0.0.1:9443/stream".into(),
//!     subscribe: vec![r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}"#.into()],
//!     stop_after: StopCondition::ServerClose,
//!     ..BaselineConfig::default()
//! })?;
//! println!("{} events, p50 {} ns", report.events, report.latency.value_at_quantile(0.5));
//! # Ok::<(), tickforge_benches::baseline::BaselineError>(())
//! ```

pub mod bars;
mod pipeline;
mod stamped;
pub mod wire;

use std::time::Duration;

use hdrhistogram::Histogram;
use tickforge_engine::timeframe::Timeframe;

pub use bars::{BarBook, BaselineBar};
pub use wire::{Quote, Trade, WireMessage};

/// When a run stops reading (at the latest, [`BaselineConfig::timeout`] after it
/// started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCondition {
    /// When the server closes the connection (a tick file is done).
    ServerClose,
    /// This long after the subscription was sent, or when the server closes.
    After(Duration),
    /// After this many text or binary frames, or when the server closes.
    Frames(u64),
}

/// Why a run stopped reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The server closed the connection.
    ServerClosed,
    /// [`StopCondition::After`] elapsed.
    Duration,
    /// [`StopCondition::Frames`] frames were read.
    Frames,
}

/// What to connect to and when to stop.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineConfig {
    /// A `ws://` URL (Binance combined streams: `ws://HOST:PORT/stream`).
    pub url: String,
    /// Text messages sent once connected, in order (`SUBSCRIBE` requests).
    pub subscribe: Vec<String>,
    /// Bar timeframes (default 1s, 1m, 5m).
    pub timeframes: Vec<Timeframe>,
    /// When to stop (default: when the server closes).
    pub stop_after: StopCondition,
    /// Give up with [`BaselineError::Timeout`] after this long (default 120 s).
    pub timeout: Duration,
    /// tokio worker threads (default 2).
    pub worker_threads: usize,
    /// Slots of the reader → aggregator `mpsc` channel (default 4096).
    pub channel_capacity: usize,
    /// Slots of the output `broadcast` channel (default 16384); a subscriber that falls
    /// further behind loses events, counted in [`BaselineReport::lagged`].
    pub broadcast_capacity: usize,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            url: String::new(),
            subscribe: Vec::new(),
            timeframes: ["1s", "1m", "5m"]
                .iter()
                .map(|t| t.parse().expect("valid timeframe"))
                .collect(),
            stop_after: StopCondition::ServerClose,
            timeout: Duration::from_secs(120),
            worker_threads: 2,
            channel_capacity: 4096,
            broadcast_capacity: 16384,
        }
    }
}

impl BaselineConfig {
    fn validate(&self) -> Result<(), BaselineError> {
        let bad = |m: &str| Err(BaselineError::Config(m.to_owned()));
        if self.timeframes.is_empty() {
            return bad("no timeframe");
        }
        if self.worker_threads == 0 || self.channel_capacity == 0 || self.broadcast_capacity == 0 {
            return bad("worker threads and channel capacities must be at least 1");
        }
        Ok(())
    }
}

/// What a run saw.
#[derive(Debug, Clone)]
pub struct BaselineReport {
    /// Text and binary frames read.
    pub frames: u64,
    /// Payload bytes of those frames.
    pub bytes: u64,
    /// Frames that were not a trade, a quote or a reply.
    pub rejected: u64,
    /// Replies to requests.
    pub replies: u64,
    /// Events the subscriber saw (trades + quotes + bars).
    pub events: u64,
    /// Trades the subscriber saw.
    pub trades: u64,
    /// Quotes the subscriber saw.
    pub quotes: u64,
    /// Sum of the sizes of the trades the subscriber saw, 1e-9 units.
    pub trade_volume: u128,
    /// A wrapping sum over the quotes the subscriber saw (bid xor ask), so that it reads
    /// each event as a consumer would.
    pub quote_checksum: u64,
    /// Closed bars the subscriber saw, in the order it saw them.
    pub bars: Vec<BaselineBar>,
    /// Trades older than their symbol's open bar (left out of that timeframe).
    pub late: u64,
    /// Events the subscriber lost by falling behind the broadcast channel.
    pub lagged: u64,
    /// Per event, ns from the frame's receive instant to the subscriber seeing it.
    pub latency: Histogram<u64>,
    /// From sending the subscription to the subscriber's end.
    pub elapsed: Duration,
    /// Why reading stopped.
    pub ended: EndReason,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The configuration cannot run.
    #[error("invalid baseline configuration: {0}")]
    Config(String),
    /// The tokio runtime could not start.
    #[error("starting the tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The connection or the WebSocket handshake failed.
    #[error("connecting to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// The error.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The connection failed while reading or writing.
    #[error("WebSocket error: {0}")]
    WebSocket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The run did not end within [`BaselineConfig::timeout`].
    #[error("the run did not end within {0:?}")]
    Timeout(Duration),
    /// A pipeline task panicked or was cancelled.
    #[error("a pipeline task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The latency histogram could not be created.
    #[error("latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// Runs the pipeline against `cfg.url` on its own tokio runtime until `cfg.stop_after`.
pub fn run(cfg: BaselineConfig) -> Result<BaselineReport, BaselineError> {
    cfg.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.worker_threads)
        .thread_name("baseline-worker")
        .enable_io()
        .enable_time()
        .build()
        .map_err(BaselineError::Runtime)?;
    let timeout = cfg.timeout;
    runtime.block_on(async move {
        tokio::time::timeout(timeout, pipeline::run(cfg))
            .await
            .map_err(|_| BaselineError::Timeout(timeout))?
    })
}
