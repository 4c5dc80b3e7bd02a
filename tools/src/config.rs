//! The TOML configuration of `tickforge run`, with the embedded default: the built-in
//! simulator on loopback.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tickforge_engine::backpressure::{FullPolicy, PressureConfig};
use tickforge_engine::journal::JournalConfig;
use tickforge_engine::layout::LayoutConfig;
use tickforge_engine::scanner::SignalParams;
use tickforge_engine::throttle::ThrottleConfig;
use tickforge_engine::timeframe::Timeframe;
use tickforge_feeds::backoff::BackoffPolicy;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Instance, output and bar settings.
    pub engine: EngineSection,
    /// Signal parameters.
    pub signals: SignalsSection,
    /// Stage-to-thread layout.
    pub layout: LayoutConfig,
    /// Rings and the full-ring policy.
    pub backpressure: BackpressureSection,
    /// Quote throttle for slower consumers.
    pub throttle: ThrottleConfig,
    /// The in-process simulator, used by feeds whose url is `"sim"`.
    pub sim: SimSection,
    /// The journal of every frame that arrives.
    pub journal: JournalSection,
    /// The feeds.
    pub feeds: Vec<FeedSection>,
    /// Source groups by name (`[groups.NAME]`): feeds naming the same `group` carry the
    /// same symbols, the first listed being the primary.
    pub groups: BTreeMap<String, GroupSection>,
}

/// How a source group uses its feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMode {
    /// Every feed connected; only the active one's data passes.
    HotStandby,
    /// Every healthy feed's data passes; duplicates dropped by trade id.
    HotHot,
}

/// `[groups.NAME]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupSection {
    /// `hot_standby` or `hot_hot`.
    pub mode: GroupMode,
    /// Return to the primary once it has been healthy this long, ms.
    pub failback_ms: u64,
}

impl Default for GroupSection {
    fn default() -> Self {
        GroupSection {
            mode: GroupMode::HotStandby,
            failback_ms: 10_000,
        }
    }
}

/// `[engine]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSection {
    /// Instance name: the shared-memory files are `NAME.events`, `NAME.latest`, `NAME.stats`.
    pub name: String,
    /// Directory of the shared-memory files.
    pub shm_dir: PathBuf,
    /// Slots in `NAME.events` (a power of two).
    pub events_capacity: usize,
    /// Let the owner's group read the shared-memory files (0640 instead of 0600).
    pub group_read: bool,
    /// Bar timeframes.
    pub timeframes: Vec<Timeframe>,
    /// Watermark grace, ms.
    pub grace_ms: u64,
    /// Closed bars kept per symbol and timeframe.
    pub window: usize,
    /// Emit a flat bar flagged `empty` for each interval without a trade.
    pub emit_empty: bool,
    /// Refuse trades whose exchange time is this far ahead of their receive time, ms
    /// (0 disables).
    pub max_future_ms: u64,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            name: "tickforge".into(),
            shm_dir: "/dev/shm".into(),
            events_capacity: 1 << 16,
            group_read: false,
            timeframes: ["1s", "1m", "5m"]
                .iter()
                .map(|t| t.parse().expect("valid"))
                .collect(),
            grace_ms: 250,
            window: 200,
            emit_empty: false,
            max_future_ms: 60_000,
        }
    }
}

/// `[signals]`: parameters for every timeframe, and overrides per timeframe.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalsSection {
    /// `breakout` lookback in bars (0 disables).
    pub breakout_lookback: usize,
    /// `sma_cross` fast period (0 disables).
    pub sma_fast: usize,
    /// `sma_cross` slow period.
    pub sma_slow: usize,
    /// `vol_spike` lookback in bars (0 disables).
    pub vol_lookback: usize,
    /// `vol_spike` multiple of the mean volume (a multiple of 0.001).
    pub vol_factor: f64,
    /// Candlestick patterns.
    pub patterns: bool,
    /// `[signals.per_timeframe.1s]` and so on: overrides for one timeframe.
    pub per_timeframe: BTreeMap<String, SignalOverrides>,
}

/// Signal parameters that one timeframe overrides; see [`SignalsSection`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalOverrides {
    /// `breakout` lookback.
    pub breakout_lookback: Option<usize>,
    /// `sma_cross` fast period.
    pub sma_fast: Option<usize>,
    /// `sma_cross` slow period.
    pub sma_slow: Option<usize>,
    /// `vol_spike` lookback.
    pub vol_lookback: Option<usize>,
    /// `vol_spike` multiple.
    pub vol_factor: Option<f64>,
    /// Candlestick patterns.
    pub patterns: Option<bool>,
}

impl Default for SignalsSection {
    fn default() -> Self {
        let d = SignalParams::default();
        SignalsSection {
            breakout_lookback: d.breakout_lookback,
            sma_fast: d.sma_fast,
            sma_slow: d.sma_slow,
            vol_lookback: d.vol_lookback,
            vol_factor: d.vol_factor_milli as f64 / 1000.0,
            patterns: d.patterns,
            per_timeframe: BTreeMap::new(),
        }
    }
}

fn factor_milli(key: &str, f: f64) -> anyhow::Result<u64> {
    let milli = (f * 1000.0).round();
    anyhow::ensure!(
        f > 0.0 && milli <= 1e12 && (milli / 1000.0 - f).abs() < 1e-9,
        "{key} = {f}: use a positive multiple of 0.001"
    );
    Ok(milli as u64)
}

impl SignalsSection {
    /// The parameters of each timeframe, in timeframe-index order.
    pub fn params(&self, timeframes: &[Timeframe]) -> anyhow::Result<Vec<SignalParams>> {
        let mut overrides = Vec::new();
        for (key, o) in &self.per_timeframe {
            let tf: Timeframe = key.parse()?;
            anyhow::ensure!(
                timeframes.contains(&tf),
                "signals.per_timeframe.{key}: {tf} is not in engine.timeframes"
            );
            overrides.push((tf, o));
        }
        timeframes
            .iter()
            .map(|tf| {
                let none = SignalOverrides::default();
                let o = overrides
                    .iter()
                    .find(|(t, _)| t == tf)
                    .map_or(&none, |(_, o)| *o);
                let p = SignalParams {
                    breakout_lookback: o.breakout_lookback.unwrap_or(self.breakout_lookback),
                    sma_fast: o.sma_fast.unwrap_or(self.sma_fast),
                    sma_slow: o.sma_slow.unwrap_or(self.sma_slow),
                    vol_lookback: o.vol_lookback.unwrap_or(self.vol_lookback),
                    vol_factor_milli: factor_milli(
                        "vol_factor",
                        o.vol_factor.unwrap_or(self.vol_factor),
                    )?,
                    patterns: o.patterns.unwrap_or(self.patterns),
                };
                anyhow::ensure!(
                    p.sma_fast == 0 || p.sma_fast < p.sma_slow,
                    "signals for {tf}: sma_fast must be below sma_slow"
                );
                Ok(p)
            })
            .collect()
    }
}

/// `[backpressure]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackpressureSection {
    /// Slots of each record ring between stages.
    pub ring_capacity: usize,
    /// Frame references between reader and parser.
    pub frame_capacity: usize,
    /// Payload bytes between reader and parser.
    pub frame_bytes: usize,
    /// Pressure thresholds and quote sampling.
    #[serde(flatten)]
    pub pressure: PressureConfig,
}

impl Default for BackpressureSection {
    fn default() -> Self {
        BackpressureSection {
            ring_capacity: 1 << 16,
            frame_capacity: 1 << 14,
            frame_bytes: 8 << 20,
            pressure: PressureConfig::default(),
        }
    }
}

/// `[sim]`: the built-in exchange simulator.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimSection {
    /// Symbols to simulate; empty for the default list.
    pub symbols: Vec<String>,
    /// Messages per second over all symbols.
    pub rate: u64,
    /// Fraction of messages that are quotes.
    pub quote_ratio: f64,
    /// Seed of the synthetic market.
    pub seed: u64,
    /// Fraction of frames replaced by malformed ones.
    pub malformed_rate: f64,
    /// Stop sending data after this many messages per connection.
    pub max_messages: Option<u64>,
    /// Interval between the simulator's WebSocket pings, ms (Binance: 20 s).
    pub ping_interval_ms: u64,
    /// Serve this tick file (CSV `ts_ns,symbol,price,size,side[,trade_id]`) instead of the
    /// synthetic market; see [`Config::use_tick_file`].
    pub tick_file: Option<PathBuf>,
}

impl Default for SimSection {
    fn default() -> Self {
        SimSection {
            max_messages: None,
            ping_interval_ms: 20_000,
            tick_file: None,
            symbols: Vec::new(),
            rate: 2000,
            quote_ratio: 0.5,
            seed: 7,
            malformed_rate: 0.001,
        }
    }
}

/// What the engine does when the journal cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalOnError {
    /// Keep processing and publishing; count and report the loss; journal again as soon
    /// as it can.
    Continue,
    /// Stop the engine (with an error).
    Stop,
}

/// `[journal]`: fixed-size memory-mapped segments holding every frame as received.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalSection {
    /// Write the journal.
    pub enabled: bool,
    /// Directory of the segment files (created if missing).
    pub dir: PathBuf,
    /// Size of each segment file, MiB (1 to 4096).
    pub segment_mb: u64,
    /// The oldest segments are deleted when all of them take more than this, MiB.
    pub retain_mb: u64,
    /// Fault pages in and prepare the next segment on a background thread.
    pub pretouch: bool,
    /// What to do when the journal cannot be written.
    pub on_error: JournalOnError,
}

impl Default for JournalSection {
    fn default() -> Self {
        JournalSection {
            enabled: true,
            dir: "journal".into(),
            segment_mb: 256,
            retain_mb: 16 << 10,
            pretouch: true,
            on_error: JournalOnError::Continue,
        }
    }
}

/// `[[feeds]]`: one source.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSection {
    /// Name for logs.
    pub name: String,
    /// Venue adapter: `binance`, `coinbase`, `coinbase_advanced`, `kraken`, `polygon`,
    /// `bybit` or `okx`.
    pub venue: String,
    /// WebSocket URL; `"sim"` for the in-process simulator speaking the venue's protocol;
    /// empty for the venue's public endpoint.
    pub url: String,
    /// API key, for venues that need one (Polygon).
    pub api_key: Option<String>,
    /// The venue's symbol names; empty with `url = "sim"` means every simulated symbol.
    pub symbols: Vec<String>,
    /// Symbols exempt from sampling and throttling.
    pub priority: Vec<String>,
    /// Channels per symbol in the venue's names (Binance: `trade`, `aggTrade`,
    /// `bookTicker`); empty for the venue's trade and best bid/offer channels.
    pub channels: Vec<String>,
    /// `drop` (stay current) or `block` (lose nothing; stop reading the socket).
    pub full_policy: FullPolicy,
    /// Clock tick after this long without a frame, ms.
    pub clock_interval_ms: u64,
    /// Largest frame accepted, bytes.
    pub max_frame_bytes: usize,
    /// Reconnect after the connection closes (else the feed ends).
    pub reconnect: bool,
    /// Interval of the venue's application-level ping (OKX, Bybit) in ms; default the
    /// venue's own (OKX 25 s, Bybit 20 s). Ignored for venues without one.
    pub keepalive_ms: Option<u64>,
    /// For `wss://`: a PEM file of extra CA certificates trusted besides the platform's
    /// web roots.
    pub ca_file: Option<PathBuf>,
    /// The source group this feed belongs to (primary: the first feed naming it).
    pub group: Option<String>,
    /// A connection without a data frame for this long is stale and replaced, ms; default
    /// the venue's (30 s; Polygon 120 s); 0 disables.
    pub idle_timeout_ms: Option<u64>,
    /// Replace a connection (make before break) once it is this old, ms; default the
    /// venue's documented lifetime less a margin (Binance 23 h 30 min; others none); 0
    /// disables.
    pub max_lifetime_ms: Option<u64>,
    /// First reconnect delay, ms.
    pub reconnect_initial_ms: u64,
    /// Growth of the delay per consecutive failure.
    pub reconnect_factor: f64,
    /// Longest reconnect delay, ms.
    pub reconnect_max_ms: u64,
    /// Largest random fraction a delay is shortened by (0 to 1).
    pub reconnect_jitter: f64,
    /// Give up after this many consecutive failed connections; 0: never.
    pub reconnect_attempts: u32,
    /// A connection that stayed up this long resets the delay to the first one, ms.
    pub reconnect_stable_ms: u64,
}

impl FeedSection {
    /// The reconnect policy.
    pub fn backoff(&self) -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_millis(self.reconnect_initial_ms),
            factor: self.reconnect_factor,
            max: Duration::from_millis(self.reconnect_max_ms),
            jitter: self.reconnect_jitter,
            attempts: self.reconnect_attempts,
            stable: Duration::from_millis(self.reconnect_stable_ms),
        }
    }
}

impl Default for FeedSection {
    fn default() -> Self {
        FeedSection {
            name: "sim".into(),
            venue: "binance".into(),
            url: "sim".into(),
            api_key: None,
            symbols: Vec::new(),
            priority: Vec::new(),
            channels: Vec::new(),
            full_policy: FullPolicy::Drop,
            clock_interval_ms: 100,
            max_frame_bytes: 256 << 10,
            reconnect: true,
            keepalive_ms: None,
            ca_file: None,
            group: None,
            idle_timeout_ms: None,
            max_lifetime_ms: None,
            reconnect_initial_ms: 1000,
            reconnect_factor: 1.5,
            reconnect_max_ms: 30_000,
            reconnect_jitter: 0.2,
            reconnect_attempts: 0,
            reconnect_stable_ms: 10_000,
        }
    }
}

impl Default for Config {
    /// The embedded default: the built-in simulator. Its 1 s bars use a breakout lookback
    /// of 5 so that a new user sees signals within seconds; every other timeframe keeps 20.
    fn default() -> Self {
        let mut signals = SignalsSection::default();
        signals.per_timeframe.insert(
            "1s".into(),
            SignalOverrides {
                breakout_lookback: Some(5),
                ..SignalOverrides::default()
            },
        );
        Config {
            engine: EngineSection::default(),
            signals,
            layout: LayoutConfig::default(),
            backpressure: BackpressureSection::default(),
            throttle: ThrottleConfig::default(),
            sim: SimSection::default(),
            journal: JournalSection::default(),
            feeds: vec![FeedSection::default()],
            groups: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let cfg: Config = toml::from_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.feeds.is_empty(), "config has no [[feeds]]");
        anyhow::ensure!(
            !self.engine.timeframes.is_empty(),
            "engine.timeframes is empty"
        );
        anyhow::ensure!(
            self.engine.timeframes.len() <= tickforge_engine::timeframe::MAX_TIMEFRAMES,
            "at most {} timeframes",
            tickforge_engine::timeframe::MAX_TIMEFRAMES
        );
        self.signals.params(&self.engine.timeframes)?;
        tickforge_engine::aggregator::AggregatorConfig {
            timeframes: self.engine.timeframes.clone(),
            grace_ns: (self.engine.grace_ms as i64).saturating_mul(1_000_000),
            emit_empty: self.engine.emit_empty,
            max_future_ns: 0,
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("engine.grace_ms: {e}"))?;
        anyhow::ensure!(
            self.backpressure.ring_capacity >= 16,
            "backpressure.ring_capacity must be at least 16"
        );
        anyhow::ensure!(
            self.feeds
                .iter()
                .all(|f| f.full_policy == self.feeds[0].full_policy),
            "every feed must have the same full_policy: the feeds share one parser output"
        );
        for name in self.groups.keys() {
            anyhow::ensure!(
                self.feeds.iter().any(|f| f.group.as_deref() == Some(name)),
                "group {name:?} has no feed"
            );
        }
        anyhow::ensure!(
            (1..=4096).contains(&self.journal.segment_mb),
            "journal.segment_mb must be from 1 to 4096"
        );
        for f in &self.feeds {
            anyhow::ensure!(
                tickforge_engine::symbol::venue::from_name(&f.venue).is_some(),
                "feed {:?}: unknown venue {:?} (binance, coinbase, coinbase_advanced, kraken, \
                 polygon, bybit, okx)",
                f.name,
                f.venue
            );
            anyhow::ensure!(
                f.url == "sim" || !f.symbols.is_empty(),
                "feed {:?} lists no symbols",
                f.name
            );
            anyhow::ensure!(
                !self.journal.enabled
                    || f.max_frame_bytes as u64 <= (self.journal.segment_mb << 20) / 2,
                "feed {:?}: max_frame_bytes must be at most half of journal.segment_mb",
                f.name
            );
            anyhow::ensure!(
                f.reconnect_factor >= 1.0
                    && (0.0..=1.0).contains(&f.reconnect_jitter)
                    && f.reconnect_initial_ms > 0
                    && f.reconnect_max_ms >= f.reconnect_initial_ms,
                "feed {:?}: reconnect_factor must be at least 1, reconnect_jitter from 0 to 1, \
                 reconnect_initial_ms above 0 and at most reconnect_max_ms",
                f.name
            );
            anyhow::ensure!(
                f.max_frame_bytes <= self.backpressure.frame_bytes,
                "feed {:?}: max_frame_bytes exceeds backpressure.frame_bytes",
                f.name
            );
        }
        Ok(())
    }

    /// Serves `path` through the simulator over the real WebSocket path, losing nothing:
    /// one simulator feed of trades that pushes back instead of dropping, ends when the file
    /// does (so every bar closes and `run` exits), and takes time only from the file (no
    /// receive-clock ticks, so the bars depend on the file alone).
    pub fn use_tick_file(&mut self, path: PathBuf) {
        self.sim.tick_file = Some(path);
        self.feeds = vec![FeedSection {
            name: "tick-file".into(),
            url: "sim".into(),
            channels: vec!["trade".into()],
            full_policy: FullPolicy::Block,
            clock_interval_ms: 0,
            reconnect: false,
            ..FeedSection::default()
        }];
    }

    /// The journal writer's settings, with `start_payload` as the payload of every
    /// segment's first entry.
    pub fn journal_config(&self, start_payload: Vec<u8>) -> JournalConfig {
        JournalConfig {
            dir: self.journal.dir.clone(),
            segment_size: self.journal.segment_mb << 20,
            retain_bytes: self.journal.retain_mb.saturating_mul(1 << 20),
            start_payload,
            pretouch: self.journal.pretouch,
        }
    }

    /// True when a feed uses the in-process simulator.
    pub fn uses_sim(&self) -> bool {
        self.feeds.iter().any(|f| f.url == "sim")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configs_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let cfg = Config::from_toml(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                cfg.validate().unwrap_or_else(|e| panic!("{path:?}: {e}"));
                n += 1;
            }
        }
        assert_eq!(n, 8, "one example per venue plus the simulator");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Config::from_toml("[engine]\nnmae = \"x\"").is_err());
        assert!(Config::from_toml("[engine]\ntimeframes = [\"7x\"]").is_err());
        assert!(Config::from_toml("[[feeds]]\nvenue = \"nowhere\"").is_err());
        assert!(Config::from_toml("[signals.per_timeframe.1h]\nbreakout_lookback = 3").is_err());
        assert!(Config::from_toml("[engine]\ngrace_ms = 7000").is_err());
        let two = "[[feeds]]\nfull_policy = \"drop\"\n[[feeds]]\nfull_policy = \"block\"\n";
        assert!(Config::from_toml(two).is_err());
        assert!(Config::from_toml("[engine]\ngrace_ms = 6999").is_ok());
        let cfg = Config::from_toml("[signals.per_timeframe.1m]\nbreakout_lookback = 3").unwrap();
        let params = cfg.signals.params(&cfg.engine.timeframes).unwrap();
        let lookbacks: Vec<usize> = params.iter().map(|p| p.breakout_lookback).collect();
        assert_eq!(lookbacks, vec![20, 3, 20]);
        let cfg = Config::from_toml("[layout]\nmode = \"split\"\nwait = \"spin_yield\"").unwrap();
        assert_eq!(cfg.layout.mode, tickforge_engine::layout::LayoutMode::Split);
    }
}
