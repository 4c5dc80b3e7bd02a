//! Planning a replay: which run of the journal to replay, with which recorded config, and
//! which trades the live engine dropped.
//!
//! Every segment of a run starts with the same `SEGMENT_START` payload (the engine's config
//! and symbol table, and a line naming the run), so a payload that differs from the one
//! before marks the start of another run: a restarted engine that appended to the same
//! journal. A replay covers one run, because the pipeline is built from one config and the
//! live engine closed every bar when that run ended.

use std::collections::HashMap;
use std::path::Path;

use tickforge_engine::frame::DropNote;
use tickforge_engine::journal::{EntryKind, JournalError, JournalReader, Position};

use crate::ReplayError;

/// What to replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayPlan {
    /// The run's `SEGMENT_START` payload: its recorded config.
    pub config: Vec<u8>,
    /// Where the run starts (its first `SEGMENT_START`).
    pub start: Position,
    /// Where the next run starts, if the journal holds one after this run.
    pub next_run: Option<Position>,
    /// The trades the live engine dropped: frame position → bit `i` set when the frame's
    /// trade `i` was dropped (trades beyond the 64th of one frame are not reproduced).
    pub drops: HashMap<Position, u64>,
    /// Recorded drops that could not be reproduced (bad payload or trade index ≥ 64).
    pub unreproducible_drops: u64,
    /// Damage met while planning: the replay stops there.
    pub damage: Option<String>,
}

/// Scans the journal in `dir` and plans the replay of the run holding the first entry at
/// or after `from` (ns since the epoch; `None`: the first run).
pub fn plan(dir: &Path, from: Option<i64>) -> Result<ReplayPlan, ReplayError> {
    let mut reader = JournalReader::open(dir)?;
    let mut plan = ReplayPlan::default();
    let mut found = false;
    loop {
        let entry = match reader.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(JournalError::Damaged { position, damage }) => {
                plan.damage = Some(format!("journal damaged at {position}: {damage}"));
                break;
            }
            Err(e) => return Err(e.into()),
        };
        match entry.kind {
            EntryKind::SegmentStart => {
                if entry.payload == plan.config.as_slice() {
                    continue;
                }
                if found {
                    plan.next_run = Some(entry.position);
                    break;
                }
                plan.config = entry.payload.to_vec();
                plan.start = entry.position;
                plan.drops.clear();
                plan.unreproducible_drops = 0;
            }
            EntryKind::SegmentEnd => {}
            EntryKind::Drop => match DropNote::decode(entry.payload) {
                Some((segment, offset, index, _)) if index < 64 => {
                    *plan
                        .drops
                        .entry(Position::new(segment, offset))
                        .or_default() |= 1 << index;
                }
                _ => plan.unreproducible_drops += 1,
            },
            _ => {
                if !plan.config.is_empty() && from.is_none_or(|t| entry.time >= t) {
                    found = true;
                }
            }
        }
    }
    if plan.config.is_empty() {
        return Err(ReplayError::NoRun);
    }
    Ok(plan)
}
