//! The replay's source stage: journal entries in, frame references out, in place of the
//! network reader, so the same parser, aggregator, scanner and publisher run on them.
//!
//! Frames, clock ticks and connection changes become what the reader made of them live
//! (text or binary frames, clock ticks, status changes with their reason text). A frame
//! whose trades the live engine dropped carries the recorded drops in its reference
//! (bit `i` of `detail`: trade `i`), unless the replay is ideal. Entries before `from` are
//! skipped, the replay ends at `to`, at the end of the run or of the journal; paced replays
//! hold each entry until its receive time, scaled by the speed, has come.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickforge_engine::clock::wall_ns;
use tickforge_engine::frame::{FrameKind, FrameOutbox, FrameRef};
use tickforge_engine::journal::{EntryKind, JournalError, JournalReader, Position, FLAG_BINARY};
use tickforge_engine::stage::Stage;

use crate::plan::ReplayPlan;
use crate::ReplayError;

/// Entries passed on per poll before other stages get a turn.
const BUDGET: usize = 256;

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the pipeline goes.
    Max,
    /// This many times real time (1.0 = as recorded).
    Times(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;

    /// `max`, or a positive factor with an `x`: `1x`, `10x`, `0.5x`.
    fn from_str(s: &str) -> Result<Speed, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        let f = s
            .strip_suffix('x')
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f > 0.0)
            .ok_or_else(|| format!("speed {s:?}: use max, 1x, 10x, …"))?;
        Ok(Speed::Times(f))
    }
}

/// What a replay reads.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Skip entries received before this (ns since the epoch).
    pub from: Option<i64>,
    /// Stop at the first entry received after this.
    pub to: Option<i64>,
    /// Pacing.
    pub speed: Speed,
    /// Process every trade, ignoring the recorded drops.
    pub ideal: bool,
}

/// Counters of the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCounters {
    /// Entries read.
    pub entries: u64,
    /// Frames passed on.
    pub frames: u64,
    /// Frames carrying recorded drops.
    pub frames_with_drops: u64,
    /// Entries skipped (before `from`).
    pub skipped: u64,
}

/// What [`JournalSource::pass_next`] did.
enum Passed {
    /// Passed on an entry.
    One,
    /// Held an entry back (edge full or not due).
    Held,
    /// The replay's input ended.
    End,
}

/// An entry that did not fit the edge yet (or is not due yet).
struct Pending {
    head: FrameRef,
    payload: Vec<u8>,
}

/// The replay's source stage.
pub struct JournalSource {
    reader: JournalReader,
    out: FrameOutbox,
    settings: SourceSettings,
    drops: HashMap<Position, u64>,
    stop_at: Option<Position>,
    pending: Option<Pending>,
    /// Wall time and entry time of the first entry passed on (pacing).
    origin: Option<(Instant, i64)>,
    ended: bool,
    end_sent: bool,
    error: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    counters: SourceCounters,
}

impl JournalSource {
    /// A source reading the run `plan` describes from the journal in `dir`, writing to
    /// `out`. `stop` ends it early; damage met on the way is described in `error`.
    pub fn new(
        dir: &Path,
        plan: &ReplayPlan,
        settings: SourceSettings,
        out: FrameOutbox,
        stop: Arc<AtomicBool>,
        error: Arc<Mutex<Option<String>>>,
    ) -> Result<JournalSource, ReplayError> {
        let drops = if settings.ideal {
            HashMap::new()
        } else {
            plan.drops.clone()
        };
        Ok(JournalSource {
            reader: JournalReader::open_at(dir, plan.start)?,
            out,
            settings,
            drops,
            stop_at: plan.next_run,
            pending: None,
            origin: None,
            ended: false,
            end_sent: false,
            error,
            stop,
            counters: SourceCounters::default(),
        })
    }

    /// The counters.
    pub fn counters(&self) -> SourceCounters {
        self.counters
    }

    /// Reads the next entry to pass on and passes it on, or holds it (edge full, not due).
    fn pass_next(&mut self) -> Passed {
        loop {
            let entry = match self.reader.next_entry() {
                Ok(Some(e)) => e,
                Ok(None) => return Passed::End,
                Err(e) => {
                    let msg = match &e {
                        JournalError::Damaged { .. } => e.to_string(),
                        _ => format!("reading the journal: {e}"),
                    };
                    tracing::error!("{msg}; the replay stops there");
                    *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
                    return Passed::End;
                }
            };
            if self.stop_at.is_some_and(|p| entry.position >= p)
                || self.settings.to.is_some_and(|t| entry.time > t)
            {
                return Passed::End;
            }
            self.counters.entries += 1;
            let kind = match entry.kind {
                EntryKind::Frame if entry.flags & FLAG_BINARY != 0 => FrameKind::Binary,
                EntryKind::Frame => FrameKind::Text,
                EntryKind::Clock => FrameKind::Clock,
                EntryKind::Connection => FrameKind::Status,
                EntryKind::Drop | EntryKind::SegmentStart | EntryKind::SegmentEnd => continue,
            };
            if self.settings.from.is_some_and(|t| entry.time < t) {
                self.counters.skipped += 1;
                continue;
            }
            let mut head = FrameRef::new(kind, entry.feed, entry.conn, entry.time);
            match kind {
                FrameKind::Status => {
                    head.state = entry.flags;
                    head.detail = entry.detail as i64;
                }
                FrameKind::Text | FrameKind::Binary => {
                    if let Some(&mask) = self.drops.get(&entry.position) {
                        head.detail = mask as i64;
                        self.counters.frames_with_drops += 1;
                    }
                    self.counters.frames += 1;
                }
                _ => {}
            }
            let due = wait_for(&mut self.origin, self.settings.speed, entry.time).is_zero();
            let pushed = if due {
                self.out.push(head, entry.payload)
            } else {
                Err(head)
            };
            return match pushed {
                Ok(()) => Passed::One,
                Err(head) => {
                    self.pending = Some(Pending {
                        head,
                        payload: entry.payload.to_vec(),
                    });
                    Passed::Held
                }
            };
        }
    }

    /// Passes on the pending entry; false when it still does not fit or is not due.
    fn flush_pending(&mut self) -> bool {
        let Some(p) = self.pending.as_ref() else {
            return true;
        };
        if !wait_for(&mut self.origin, self.settings.speed, p.head.recv_ts).is_zero() {
            return false;
        }
        let Some(p) = self.pending.take() else {
            return true;
        };
        match self.out.push(p.head, &p.payload) {
            Ok(()) => true,
            Err(head) => {
                self.pending = Some(Pending {
                    head,
                    payload: p.payload,
                });
                false
            }
        }
    }
}

impl Stage for JournalSource {
    fn name(&self) -> &'static str {
        "reader"
    }

    fn poll(&mut self) -> usize {
        if self.end_sent {
            return 0;
        }
        let mut work = 0;
        if !self.flush_pending() {
            self.out.notify();
            return 0;
        }
        while !self.ended && work < BUDGET {
            if self.stop.load(Ordering::Relaxed) {
                self.ended = true;
                break;
            }
            match self.pass_next() {
                Passed::One => {}
                Passed::Held => break,
                Passed::End => {
                    self.ended = true;
                    break;
                }
            }
            work += 1;
        }
        if self.ended && self.pending.is_none() {
            let end = FrameRef::new(FrameKind::End, u32::MAX, 0, wall_ns());
            if self.out.push(end, &[]).is_ok() {
                self.end_sent = true;
                work += 1;
            }
        }
        self.out.notify();
        work
    }

    fn is_done(&self) -> bool {
        self.end_sent
    }

    fn block(&mut self, timeout: Duration) -> bool {
        let wait = match &self.pending {
            Some(p) => wait_for(&mut self.origin, self.settings.speed, p.head.recv_ts),
            None => Duration::ZERO,
        };
        std::thread::sleep(wait.min(timeout).max(Duration::from_micros(50)));
        true
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = &self.counters;
        out("entries", c.entries);
        out("frames", c.frames);
        out("frames_with_drops", c.frames_with_drops);
        out("skipped", c.skipped);
    }
}

/// How long until an entry received at `time` is due under the pacing; zero when it is.
/// The first entry asked about sets the origin.
fn wait_for(origin: &mut Option<(Instant, i64)>, speed: Speed, time: i64) -> Duration {
    let Speed::Times(factor) = speed else {
        return Duration::ZERO;
    };
    let (wall, first) = *origin.get_or_insert((Instant::now(), time));
    let due = Duration::from_nanos(((time - first).max(0) as f64 / factor) as u64);
    due.saturating_sub(wall.elapsed())
}
