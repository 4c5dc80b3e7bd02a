//! tickforge replay: journal reading, the replay driver, the determinism digest and exports.
#![warn(missing_docs)]

pub mod digest;
pub mod export;
pub mod plan;
pub mod source;

use tickforge_engine::journal::JournalError;

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// No run (no `SEGMENT_START` with a config) in the journal, or none at the time asked.
    #[error("the journal holds no run to replay (no segment start with a recorded config)")]
    NoRun,
}
