//! Assembles a running engine from a [`Config`]: symbols, adapters, rings, stages, the
//! layout's threads, and the shared-memory files.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tickforge_engine::aggregator::{AggregatorConfig, BarAggregator};
use tickforge_engine::backpressure::PolicyOutbox;
use tickforge_engine::frame::{feedback_channel, frame_edge, FrameOutbox};
use tickforge_engine::journal::JournalWriter;
use tickforge_engine::layout::{self, Layout, StageId};
use tickforge_engine::record::Record;
use tickforge_engine::ring::edge;
use tickforge_engine::scanner::{Scanner, ScannerConfig};
use tickforge_engine::shm::{EventWriter, LatestWriter, ShmConfig, StatsLayout, StatsWriter};
use tickforge_engine::stage::{Stage, StageCounters, StageThread};
use tickforge_engine::stages::{
    stage_latency_name, AggregatorStage, EventTap, PublisherOutput, PublisherStage, ScannerStage,
};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_engine::throttle::QuoteThrottle;
use tickforge_engine::wait::ThreadWake;
use tickforge_feeds::connection::Endpoint;
use tickforge_feeds::failover::{Failover, FailoverMode, GroupSpec};
use tickforge_feeds::frame_journal::FrameJournal;
use tickforge_feeds::parser::ParserStage;
use tickforge_feeds::quality::{latency_name, SourceQuality};
use tickforge_feeds::reader::{FeedSpec, ReaderStage};
use tickforge_feeds::venue::{adapter_for, AdapterOptions, Subscription, VenueAdapter};
use tickforge_replay::export::{ExportFormat, Exporter};

use crate::config::{Config, GroupMode, JournalOnError};
use crate::recorded::start_payload;
use crate::sim::{venue_spelling, SimConfig, SimServer};

/// Reports (dropped trades, shutdown notices) the parser may queue for the reader.
const FEEDBACK: usize = 1 << 14;

/// Histogram names in `NAME.stats`.
pub const LATENCY_TOTAL: &str = "e2e_latency_ns";
/// The last second's end-to-end latency.
pub const LATENCY_RECENT: &str = "e2e_latency_1s_ns";

/// A running engine.
pub struct Engine {
    /// The planned layout.
    pub layout: Layout,
    /// The shared-memory settings (directory and name).
    pub shm: ShmConfig,
    /// The in-process simulators, one per venue that a feed with `url = "sim"` uses.
    pub sims: Vec<SimServer>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Box<dyn Stage>>>>,
    exporter: Option<Arc<Mutex<ExportState>>>,
    /// Set when the journal could not be written and the config says to stop.
    journal_failed: Option<Arc<AtomicBool>>,
}

/// The exporter and the first error it met (the tap cannot return one).
struct ExportState {
    exporter: Exporter,
    error: Option<std::io::Error>,
}

/// Builds the stage that feeds frames to the parser in place of the network reader (a
/// replay): it gets the frame edge's producer.
pub type SourceFactory = Box<dyn FnOnce(FrameOutbox) -> anyhow::Result<Box<dyn Stage>> + Send>;

/// Extra wiring for tests, exports and replays.
#[derive(Default)]
pub struct StartOptions {
    /// Receives every event the publisher writes to the ring.
    pub tap: Option<EventTap>,
    /// Write what the engine publishes into this directory, in this format.
    pub export: Option<(PathBuf, ExportFormat)>,
    /// Take frames from this source instead of the network (no simulator, no journal).
    pub source: Option<SourceFactory>,
    /// Pass on only the trades and quotes of these symbols (names as in the config).
    pub symbols: Option<Vec<String>>,
}

fn sim_config(cfg: &Config, venue_id: u8) -> SimConfig {
    let mut sim = SimConfig {
        seed: cfg.sim.seed,
        rate: cfg.sim.rate,
        ..SimConfig::for_venue(venue_id)
    };
    if !cfg.sim.symbols.is_empty() {
        sim.symbols = cfg
            .sim
            .symbols
            .iter()
            .map(|s| venue_spelling(venue_id, s))
            .collect();
    }
    sim.quote_ratio = cfg.sim.quote_ratio;
    sim.malformed_rate = cfg.sim.malformed_rate;
    sim.max_messages = cfg.sim.max_messages;
    sim.ping_interval = Duration::from_millis(cfg.sim.ping_interval_ms);
    sim.tick_file = cfg.sim.tick_file.clone();
    sim
}

impl Engine {
    /// The first in-process simulator, if any.
    pub fn sim(&self) -> Option<&SimServer> {
        self.sims.first()
    }

    /// Starts the simulator (if used), creates the shared-memory files and starts the
    /// stage threads.
    pub fn start(cfg: &Config, opts: StartOptions) -> anyhow::Result<Engine> {
        cfg.validate()?;
        let live = opts.source.is_none();
        // One simulator per venue that a feed with `url = "sim"` uses.
        let mut sims: Vec<SimServer> = Vec::new();
        for f in cfg.feeds.iter().filter(|f| live && f.url == "sim") {
            let v = venue::from_name(&f.venue).context("unknown venue")?;
            if !sims.iter().any(|s| s.venue() == v) {
                let sc = sim_config(cfg, v);
                sims.push(
                    SimServer::start(sc)
                        .with_context(|| format!("starting the {} simulator", f.venue))?,
                );
            }
        }
        let sim_of = |v: u8| sims.iter().find(|s| s.venue() == v);

        // Symbols, fixed for the life of the engine. A source group is one logical feed
        // (id: the number of feeds plus the group's index); its backups' symbols are other
        // names of the primary's, position by position.
        let mut table = SymbolTable::new();
        let mut symbol_feed = Vec::new();
        let mut feed_symbols: Vec<Vec<String>> = Vec::new();
        let mut groups: Vec<(String, GroupSpec)> = Vec::new();
        for (fi, f) in cfg.feeds.iter().enumerate() {
            let v = venue::from_name(&f.venue).context("unknown venue")?;
            let names = match sim_of(v) {
                Some(s) if f.url == "sim" && f.symbols.is_empty() => s.symbols(),
                _ => f.symbols.clone(),
            };
            let group = f
                .group
                .as_ref()
                .map(|g| match groups.iter().position(|(n, _)| n == g) {
                    Some(i) => (i, false),
                    None => {
                        let gs = cfg.groups.get(g).cloned().unwrap_or_default();
                        groups.push((
                            g.clone(),
                            GroupSpec {
                                name: g.clone(),
                                mode: match gs.mode {
                                    GroupMode::HotStandby => FailoverMode::HotStandby,
                                    GroupMode::HotHot => FailoverMode::HotHot,
                                },
                                sources: Vec::new(),
                                logical_feed: (cfg.feeds.len() + groups.len()) as u32,
                                venue: v,
                                failback_ns: (gs.failback_ms as i64).saturating_mul(1_000_000),
                            },
                        ));
                        (groups.len() - 1, true)
                    }
                });
            match group {
                Some((gi, false)) => {
                    // A backup: its names point at the primary's symbols.
                    let primary = groups[gi].1.sources[0] as usize;
                    let primary_names = feed_symbols[primary].clone();
                    anyhow::ensure!(
                        names.len() == primary_names.len(),
                        "feed {:?}: a backup in group {:?} must list as many symbols as its primary, in the same order",
                        f.name,
                        groups[gi].0
                    );
                    let pv = groups[gi].1.venue;
                    for (name, pname) in names.iter().zip(&primary_names) {
                        let id = table.lookup(pv, pname).context("primary symbol")?;
                        table
                            .add_alias(v, name, id)
                            .with_context(|| format!("feed {:?}", f.name))?;
                    }
                    groups[gi].1.sources.push(fi as u32);
                }
                _ => {
                    let logical = match group {
                        Some((gi, _)) => {
                            groups[gi].1.sources.push(fi as u32);
                            groups[gi].1.logical_feed
                        }
                        None => fi as u32,
                    };
                    for name in &names {
                        let prio = f.priority.iter().any(|p| p == name);
                        table
                            .add(v, name, prio)
                            .with_context(|| format!("feed {:?}", f.name))?;
                        symbol_feed.push(logical);
                    }
                }
            }
            feed_symbols.push(names);
        }
        let failover = Failover::new(
            groups.into_iter().map(|(_, g)| g).collect(),
            cfg.feeds.len(),
            table.len(),
        );
        let priority: Vec<bool> = table.iter().map(|s| s.priority).collect();

        // Adapters and the reader's view of each feed.
        let mut adapters: Vec<Box<dyn VenueAdapter>> = Vec::new();
        let mut specs = Vec::new();
        for (fi, f) in cfg.feeds.iter().enumerate() {
            let v = venue::from_name(&f.venue).context("unknown venue")?;
            let opts = AdapterOptions {
                max_frame_len: f.max_frame_bytes,
                api_key: f.api_key.clone(),
            };
            let adapter = adapter_for(v, &table, &opts).context("unknown venue")?;
            let channels: Vec<&str> = if f.channels.is_empty() {
                adapter.default_channels().to_vec()
            } else {
                f.channels.iter().map(String::as_str).collect()
            };
            let subs = Subscription::product(&channels, &feed_symbols[fi]);
            let url = match (sim_of(v), f.url.as_str()) {
                (Some(s), "sim") => s.url(),
                (_, "") => adapter.default_url().to_owned(),
                _ => f.url.clone(),
            };
            if live {
                Endpoint::parse_with_ca(&url, f.ca_file.as_deref())
                    .with_context(|| format!("feed {:?}", f.name))?;
            }
            let mut subscribe = adapter.login_messages();
            subscribe.extend(adapter.subscribe_messages(&subs, 1));
            specs.push(FeedSpec {
                id: fi as u32,
                url,
                subscribe,
                keepalive: adapter.keepalive().map(|mut k| {
                    if let Some(ms) = f.keepalive_ms {
                        k.interval = Duration::from_millis(ms.max(1));
                    }
                    k
                }),
                clock_interval: Duration::from_millis(f.clock_interval_ms),
                max_frame: f.max_frame_bytes,
                reconnect: f.reconnect,
                ca_file: f.ca_file.clone(),
                backoff: f.backoff(),
                idle_timeout: match f.idle_timeout_ms {
                    Some(0) => None,
                    Some(ms) => Some(Duration::from_millis(ms)),
                    None => Some(adapter.idle_timeout()),
                },
                max_lifetime: match f.max_lifetime_ms {
                    Some(0) => None,
                    Some(ms) => Some(Duration::from_millis(ms)),
                    None => adapter.max_lifetime(),
                },
            });
            adapters.push(adapter);
        }

        // Shared memory.
        let shm = ShmConfig {
            dir: cfg.engine.shm_dir.clone(),
            name: cfg.engine.name.clone(),
            events_capacity: cfg.engine.events_capacity,
            group_read: cfg.engine.group_read,
        };
        std::fs::create_dir_all(&shm.dir)
            .with_context(|| format!("creating {}", shm.dir.display()))?;
        let tf_secs: Vec<u32> = cfg.engine.timeframes.iter().map(|t| t.secs()).collect();
        let events = EventWriter::create(&shm).context("creating the event ring")?;
        let latest =
            LatestWriter::create(&shm, &table, &tf_secs).context("creating the latest file")?;

        // Layout, wake handles and rings.
        let layout = layout::plan(&cfg.layout, &layout::available_cores());
        let wakes: Vec<Arc<ThreadWake>> =
            layout.threads.iter().map(|_| ThreadWake::new()).collect();
        let wake_of = |s: StageId| wakes[layout.thread_of(s)].clone();
        let bp = &cfg.backpressure;
        let (frames_tx, frames_rx) =
            frame_edge(bp.frame_capacity, bp.frame_bytes, wake_of(StageId::Parser));
        let (parsed_tx, parsed_rx) = edge::<Record>(bp.ring_capacity, wake_of(StageId::Aggregator));
        let (bars_tx, bars_rx) = edge::<Record>(bp.ring_capacity, wake_of(StageId::Scanner));
        let (out_tx, out_rx) = edge::<Record>(bp.ring_capacity, wake_of(StageId::Publisher));

        let stop = Arc::new(AtomicBool::new(false));
        let policy = cfg.feeds[0].full_policy;
        let mut frames_rx = frames_rx;
        let mut journal_failed = None;
        let (feedback_tx, feedback_rx) = feedback_channel(FEEDBACK);
        let mut feedback_tx = Some(feedback_tx);
        let reader: Box<dyn Stage> = match opts.source {
            Some(factory) => factory(frames_tx).context("opening the replay's source")?,
            None => {
                let mut reader =
                    ReaderStage::new(specs, frames_tx, stop.clone())?.with_feedback(feedback_rx);
                if cfg.journal.enabled {
                    let payload = start_payload(cfg, &feed_symbols, &table)?;
                    let mut writer = JournalWriter::open(cfg.journal_config(payload))
                        .with_context(|| {
                            format!("opening the journal in {}", cfg.journal.dir.display())
                        })?;
                    frames_rx = frames_rx.with_journal(writer.share());
                    let journal =
                        FrameJournal::new(writer, cfg.journal.on_error == JournalOnError::Stop);
                    journal_failed = Some(journal.failed_flag());
                    reader = reader.with_journal(journal);
                }
                Box::new(reader)
            }
        };
        // Per-source statistics are named after the feeds (made unique by feed id).
        let feed_names: Vec<String> = cfg
            .feeds
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if cfg.feeds.iter().filter(|g| g.name == f.name).count() > 1 {
                    format!("{}#{i}", f.name)
                } else {
                    f.name.clone()
                }
            })
            .collect();
        let mut parser = ParserStage::new(
            frames_rx,
            PolicyOutbox::new(parsed_tx, policy, bp.pressure, priority.clone()),
            adapters,
        )
        .with_failover(failover)
        .with_quality(SourceQuality::new(&feed_names, table.len()));
        if live {
            if let Some(tx) = feedback_tx.take() {
                parser = parser.with_feedback(tx);
            }
        }
        if let Some(names) = &opts.symbols {
            let mut keep = vec![false; table.len()];
            for name in names {
                let mut found = false;
                for (id, s) in table.iter().enumerate() {
                    if s.name.eq_ignore_ascii_case(name) {
                        keep[id] = true;
                        found = true;
                    }
                }
                anyhow::ensure!(found, "symbol {name:?} is not in the symbol table");
            }
            parser = parser.with_symbol_filter(keep);
        }
        let agg_cfg = AggregatorConfig {
            timeframes: cfg.engine.timeframes.clone(),
            grace_ns: cfg.engine.grace_ms as i64 * 1_000_000,
            emit_empty: cfg.engine.emit_empty,
            max_future_ns: (cfg.engine.max_future_ms as i64).saturating_mul(1_000_000),
        };
        let aggregator = AggregatorStage::new(
            parsed_rx,
            bars_tx,
            BarAggregator::new(&agg_cfg, symbol_feed),
        );
        let scanner_cfg = ScannerConfig {
            window: cfg.engine.window,
            params: cfg.signals.params(&cfg.engine.timeframes)?,
        };
        let scanner = ScannerStage::new(
            bars_rx,
            out_tx,
            Scanner::new(scanner_cfg, table.len(), tf_secs.len()),
        );
        let output = PublisherOutput {
            events,
            latest,
            latency_total: None,
            latency_recent: None,
        };
        let mut publisher = PublisherStage::new(
            out_rx,
            output,
            QuoteThrottle::new(cfg.throttle, table.len()),
            priority,
        );
        let exporter = match &opts.export {
            Some((dir, format)) => {
                let exporter = Exporter::create(dir, *format, &table, &cfg.engine.timeframes)
                    .with_context(|| format!("creating exports in {}", dir.display()))?;
                Some(Arc::new(Mutex::new(ExportState {
                    exporter,
                    error: None,
                })))
            }
            None => None,
        };
        let mut user_tap = opts.tap;
        let export_tap = exporter.clone();
        if user_tap.is_some() || export_tap.is_some() {
            publisher = publisher.with_tap(Box::new(move |r: &Record| {
                if let Some(t) = user_tap.as_mut() {
                    t(r);
                }
                if let Some(e) = &export_tap {
                    let mut st = e.lock().unwrap_or_else(|p| p.into_inner());
                    if st.error.is_none() {
                        if let Err(err) = st.exporter.write(r) {
                            st.error = Some(err);
                        }
                    }
                }
            }));
        }

        // Stats: every stage's counters and every histogram, declared up front.
        let names: Vec<Vec<String>> = vec![
            stage_names(reader.as_ref()),
            stage_names(&parser),
            stage_names(&aggregator),
            stage_names(&scanner),
            stage_names(&publisher),
        ];
        let all: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
        let source_hists: Vec<String> = feed_names.iter().map(|n| latency_name(n)).collect();
        let stage_hists: Vec<String> = ["parser", "aggregator", "scanner"]
            .iter()
            .map(|n| stage_latency_name(n))
            .collect();
        let mut hists = vec![LATENCY_TOTAL, LATENCY_RECENT];
        hists.extend(stage_hists.iter().map(String::as_str));
        hists.extend(source_hists.iter().map(String::as_str));
        let mut stats = StatsWriter::create(&shm, &StatsLayout::new(&all, &hists))
            .context("creating the stats file")?;
        let mut aggregator = aggregator;
        let mut scanner = scanner;
        parser.set_latency_slot(stats.histogram(&stage_hists[0])?);
        aggregator.set_latency_slot(stats.histogram(&stage_hists[1])?);
        scanner.set_latency_slot(stats.histogram(&stage_hists[2])?);
        parser.set_quality_slots(
            source_hists
                .iter()
                .map(|n| stats.histogram(n))
                .collect::<Result<Vec<_>, _>>()?,
        );
        let mut boxed: Vec<(StageId, Box<dyn Stage>)> = vec![
            (StageId::Reader, reader),
            (StageId::Parser, Box::new(parser)),
            (StageId::Aggregator, Box::new(aggregator)),
            (StageId::Scanner, Box::new(scanner)),
        ];
        let mut counters = Vec::new();
        for list in &names {
            counters.push(
                list.iter()
                    .map(|n| stats.counter(n))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        publisher.set_latency_slots(
            stats.histogram(LATENCY_TOTAL)?,
            stats.histogram(LATENCY_RECENT)?,
        );
        boxed.push((StageId::Publisher, Box::new(publisher)));

        // Threads, as the layout says.
        type ThreadStages = (
            Vec<Box<dyn Stage>>,
            Vec<Vec<tickforge_engine::shm::Counter>>,
        );
        let mut per_thread: Vec<ThreadStages> = layout
            .threads
            .iter()
            .map(|_| (Vec::new(), Vec::new()))
            .collect();
        for ((id, stage), c) in boxed.into_iter().zip(counters) {
            let t = layout.thread_of(id);
            per_thread[t].0.push(stage);
            per_thread[t].1.push(c);
        }
        let mut threads = Vec::new();
        for ((spec, (stages, counters)), wake) in layout.threads.iter().zip(per_thread).zip(wakes) {
            let thread = StageThread {
                name: spec.name.clone(),
                stages,
                core: spec.core,
                wait: spec.wait,
                park_timeout: Duration::from_micros(cfg.layout.park_timeout_us.max(1)),
                wake,
                counters: Some(StageCounters::new(counters)),
            };
            threads.push(thread.spawn().context("spawning a stage thread")?);
        }
        Ok(Engine {
            layout,
            shm,
            sims,
            stop,
            threads,
            exporter,
            journal_failed,
        })
    }

    /// Asks the engine to stop: the reader closes its connections and the end of input
    /// flows through every stage, closing open bars.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// A handle that stops the engine when set (for signal handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// True once every stage thread has finished.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Waits for every stage thread, then stops the simulator.
    pub fn join(self) -> anyhow::Result<()> {
        for t in self.threads {
            t.join()
                .map_err(|_| anyhow::anyhow!("a stage thread panicked"))?;
        }
        for sim in self.sims {
            sim.stop();
        }
        if self
            .journal_failed
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            anyhow::bail!(
                "stopped: the journal could not be written (journal.on_error = \"stop\")"
            );
        }
        if let Some(e) = self.exporter {
            let mut st = e.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(err) = st.error.take() {
                return Err(anyhow::Error::new(err).context("writing the export"));
            }
            st.exporter.finish().context("writing the export")?;
        }
        Ok(())
    }
}

fn stage_names(s: &dyn Stage) -> Vec<String> {
    let mut v = Vec::new();
    s.report(&mut |n, _| v.push(format!("{}.{n}", s.name())));
    v
}
