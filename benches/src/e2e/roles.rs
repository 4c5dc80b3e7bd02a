//! The child processes' side: the engine, the shared-memory reader, the baseline pipeline
//! and the floor client, each run by this binary under a hidden subcommand, each writing
//! what it saw as JSON to a file the parent reads.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tickforge::config::Config;
use tickforge::engine::{Engine, StartOptions};
use tickforge_engine::clock::wall_ns;
use tickforge_engine::record::{bar_flags, RecordView};
use tickforge_engine::shm::{EventReader, Poll, StartAt};

use super::compare::BarRow;
use super::hist::{self, HistData};
use super::proc::{lower_timer_slack, own_cpu_ns};
use super::wire;
use super::{E2eError, TIMEFRAME_SECS};
use crate::baseline::{self, BaselineConfig, StopCondition};
use crate::floor::{self, FloorConfig};

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> E2eError {
    let what = what.into();
    move |source| E2eError::Io { what, source }
}

/// Writes `value` as JSON to `path`.
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), E2eError> {
    let bytes = serde_json::to_vec(value)?;
    std::fs::write(path, bytes).map_err(io(format!("writing {}", path.display())))
}

/// Reads a child's JSON result.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, E2eError> {
    let bytes = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Prints one line to stdout for the parent, flushed.
fn tell(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Blocks until stdin is closed or says `stop`.
fn wait_for_stop() {
    for line in std::io::stdin().lock().lines() {
        match line {
            Ok(l) if l.trim() == "stop" => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

/// The engine: starts `tickforge`'s engine with the config at `config` (its normal
/// layout), says `ready <layout>`, runs until stdin closes, then stops it (every open bar
/// closes) and waits for its threads.
pub fn engine(config: &Path) -> Result<(), E2eError> {
    let text =
        std::fs::read_to_string(config).map_err(io(format!("reading {}", config.display())))?;
    let cfg = Config::from_toml(&text).map_err(|e| E2eError::Engine(format!("{e:#}")))?;
    let engine = Engine::start(&cfg, StartOptions::default())
        .map_err(|e| E2eError::Engine(format!("{e:#}")))?;
    tell(&format!(
        "ready {}",
        engine.layout.to_string().replace('\n', " |")
    ));
    wait_for_stop();
    engine.request_stop();
    let give_up = Instant::now() + Duration::from_secs(20);
    while !engine.is_finished() && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
    if !engine.is_finished() {
        return Err(E2eError::Engine("did not stop within 20 s".into()));
    }
    engine
        .join()
        .map_err(|e| E2eError::Engine(format!("{e:#}")))?;
    tell("stopped");
    Ok(())
}

/// How the shared-memory reader waits for events: it polls without pause for `spin`
/// after the last event, then yields the core between polls until `spin + yield_for`,
/// then sleeps `sleep` between polls.
#[derive(Debug, Clone, Copy)]
pub struct ReaderWait {
    /// Poll without pause this long after the last event.
    pub spin: Duration,
    /// Then yield the core between polls for this long.
    pub yield_for: Duration,
    /// Then sleep this long between polls.
    pub sleep: Duration,
}

/// What the shared-memory reader saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReaderResult {
    /// Events read.
    pub events: u64,
    /// Trades among them.
    pub trades: u64,
    /// Quotes among them.
    pub quotes: u64,
    /// Events lost to lapping (the reader fell a whole ring behind).
    pub lost: u64,
    /// Per trade and quote: wall clock when the reader saw it minus its `recv_ts`.
    pub latency: HistData,
    /// Per quote: wall clock when the reader saw it minus the sender's stamp (`u`).
    pub from_send: HistData,
    /// Wall clock when the first trade or quote was seen, ns.
    pub first_event_ns: i64,
    /// Wall clock when the last trade or quote was seen, ns.
    pub last_event_ns: i64,
    /// Closed bars.
    pub bars: Vec<BarRow>,
    /// Why reading ended: `stopped` (the engine exited), `restarted` or `timeout`.
    pub ended: String,
}

/// The shared-memory reader: follows `dir/NAME.events` from its oldest event, records
/// per trade and quote `wall_ns() - recv_ts` (and, for quotes, the time since the sender's
/// stamp), keeps the closed bars, until the engine stops (or `timeout`); writes a
/// [`ReaderResult`] to `out`.
pub fn reader(
    dir: &Path,
    name: &str,
    out: &Path,
    wait: ReaderWait,
    timeout: Duration,
) -> Result<(), E2eError> {
    lower_timer_slack();
    let mut events = EventReader::open_at(dir, name, StartAt::Oldest)?;
    tell("ready");
    let names = wire::symbols();
    let mut latency = hist::new_histogram();
    let mut from_send = hist::new_histogram();
    let mut r = ReaderResult::default();
    let give_up = Instant::now() + timeout;
    let mut idle_since: Option<Instant> = None;
    let mut polls = 0u32;
    r.ended = loop {
        match events.poll() {
            Poll::Event { record, .. } => {
                idle_since = None;
                r.events += 1;
                match record.view() {
                    Some(RecordView::Trade(t)) => {
                        let now = wall_ns();
                        hist::record(&mut latency, now - t.recv_ts);
                        r.trades += 1;
                        r.last_event_ns = now;
                    }
                    Some(RecordView::Quote(q)) => {
                        let now = wall_ns();
                        hist::record(&mut latency, now - q.recv_ts);
                        hist::record(&mut from_send, now - q.update_id as i64);
                        r.quotes += 1;
                        r.last_event_ns = now;
                    }
                    Some(RecordView::Bar(b)) if b.flags & bar_flags::CLOSED != 0 => {
                        r.bars
                            .push(BarRow::from_record(&b, &names, &TIMEFRAME_SECS));
                    }
                    _ => {}
                }
                if r.first_event_ns == 0 && r.last_event_ns != 0 {
                    r.first_event_ns = r.last_event_ns;
                }
            }
            Poll::Lapped { lost } => r.lost += lost,
            Poll::Stopped => break "stopped".to_owned(),
            Poll::Restarted => break "restarted".to_owned(),
            Poll::Empty => {
                let idle = idle_since.get_or_insert_with(Instant::now).elapsed();
                if idle < wait.spin {
                    std::hint::spin_loop();
                } else if idle < wait.spin.saturating_add(wait.yield_for) {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(wait.sleep);
                }
            }
        }
        polls = polls.wrapping_add(1);
        if polls % 1024 == 0 && Instant::now() >= give_up {
            break "timeout".to_owned();
        }
    };
    r.latency = HistData::from_histogram(&latency);
    r.from_send = HistData::from_histogram(&from_send);
    write_json(out, &r)
}

/// What the baseline pipeline saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaselineResult {
    /// Frames read (replies included).
    pub frames: u64,
    /// Replies among them.
    pub replies: u64,
    /// Frames not understood.
    pub rejected: u64,
    /// Events the subscriber saw.
    pub events: u64,
    /// Trades the subscriber saw.
    pub trades: u64,
    /// Quotes the subscriber saw.
    pub quotes: u64,
    /// Events the subscriber lost by lagging behind the broadcast channel.
    pub lagged: u64,
    /// Trades left out of a bar as late.
    pub late: u64,
    /// Per event, frame received → subscriber saw it, ns.
    pub latency: HistData,
    /// Closed bars.
    pub bars: Vec<BarRow>,
    /// Wall clock when the pipeline had finished, ns.
    pub end_ns: i64,
    /// CPU time of the whole process at the end, ns.
    pub cpu_ns: Option<u64>,
}

/// The baseline pipeline: reads `url` until the server closes; writes a
/// [`BaselineResult`] to `out`.
pub fn baseline(url: &str, out: &Path, timeout: Duration) -> Result<(), E2eError> {
    let report = baseline::run(BaselineConfig {
        url: url.to_owned(),
        subscribe: vec![wire::subscribe_request(&wire::symbols(), 1)],
        timeframes: super::timeframes(),
        stop_after: StopCondition::ServerClose,
        timeout,
        ..BaselineConfig::default()
    })?;
    let end_ns = wall_ns();
    let r = BaselineResult {
        frames: report.frames,
        replies: report.replies,
        rejected: report.rejected,
        events: report.events,
        trades: report.trades,
        quotes: report.quotes,
        lagged: report.lagged,
        late: report.late,
        latency: HistData::from_histogram(&report.latency),
        bars: report.bars.iter().map(BarRow::from_baseline).collect(),
        end_ns,
        cpu_ns: own_cpu_ns(),
    };
    write_json(out, &r)
}

/// What the floor client saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloorResult {
    /// Frames read (replies included).
    pub frames: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Per data frame, the sender's stamp → the `read` call returned it, ns.
    pub latency: HistData,
    /// Wall clock when reading had finished, ns.
    pub end_ns: i64,
    /// CPU time of the whole process at the end, ns.
    pub cpu_ns: Option<u64>,
}

/// The floor client: reads `url` until the server closes; writes a [`FloorResult`] to
/// `out`.
pub fn floor(url: &str, out: &Path, timeout: Duration) -> Result<(), E2eError> {
    let report = floor::run_stamped(
        &FloorConfig {
            url: url.to_owned(),
            subscribe: vec![wire::subscribe_request(&wire::symbols(), 1)],
            stop_after: StopCondition::ServerClose,
            timeout,
        },
        wire::send_stamp,
    )?;
    let end_ns = wall_ns();
    let r = FloorResult {
        frames: report.frames,
        bytes: report.bytes,
        latency: HistData::from_histogram(&report.send_to_read_ns),
        end_ns,
        cpu_ns: own_cpu_ns(),
    };
    write_json(out, &r)
}

/// Where a child writes its result: `dir/<role>-<label>.json`.
pub fn result_path(dir: &Path, role: &str, label: &str) -> PathBuf {
    dir.join(format!("{role}-{label}.json"))
}
