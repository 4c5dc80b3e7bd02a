//! The writer's configuration.

use std::path::PathBuf;

use super::error::JournalError;
use super::layout::{
    align_up, DEFAULT_SEGMENT_SIZE, ENTRY_HEADER_SIZE, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
    SEGMENT_HEADER_SIZE,
};

/// Default retention: 16 GiB of segments.
pub const DEFAULT_RETAIN_BYTES: u64 = 16 << 30;

/// Where and how the journal is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// The journal directory (created if missing).
    pub dir: PathBuf,
    /// Size of each segment file in bytes: a multiple of 4096 from 4 KiB to 4 GiB
    /// (default 256 MiB).
    pub segment_size: u64,
    /// When the segments total more than this, the oldest are deleted (never the current
    /// one). Default [`DEFAULT_RETAIN_BYTES`]; `u64::MAX` keeps everything.
    pub retain_bytes: u64,
    /// Payload of the `SEGMENT_START` entry that opens every segment: the engine's config
    /// text and symbol table, as opaque bytes.
    pub start_payload: Vec<u8>,
    /// Run the pre-toucher thread (pages faulted in ahead of the writer, next segment
    /// prepared in the background). Without it the writer creates segments itself and
    /// takes the page faults.
    pub pretouch: bool,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            dir: PathBuf::from("journal"),
            segment_size: DEFAULT_SEGMENT_SIZE,
            retain_bytes: DEFAULT_RETAIN_BYTES,
            start_payload: Vec::new(),
            pretouch: true,
        }
    }
}

impl JournalConfig {
    /// A configuration for `dir` with the other settings at their defaults.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            ..JournalConfig::default()
        }
    }

    /// Checks the segment size and that the start payload leaves room for entries.
    pub fn validate(&self) -> Result<(), JournalError> {
        let size = self.segment_size;
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&size) || size % 4096 != 0 {
            return Err(JournalError::InvalidConfig(format!(
                "segment size {size} must be a multiple of 4096 from {MIN_SEGMENT_SIZE} to {MAX_SEGMENT_SIZE}"
            )));
        }
        if self.dir.as_os_str().is_empty() {
            return Err(JournalError::InvalidConfig(
                "empty journal directory".into(),
            ));
        }
        if self.room_for_entries().is_none() {
            return Err(JournalError::InvalidConfig(format!(
                "a {}-byte start payload leaves no room for entries in a {size}-byte segment",
                self.start_payload.len()
            )));
        }
        Ok(())
    }

    /// The largest payload an entry may have: what a fresh segment holds after its header,
    /// its `SEGMENT_START` entry and the room kept for its `SEGMENT_END` entry. Zero for an
    /// invalid configuration.
    pub fn max_payload(&self) -> usize {
        self.room_for_entries().unwrap_or(0)
    }

    fn room_for_entries(&self) -> Option<usize> {
        let size = usize::try_from(self.segment_size).ok()?;
        size.checked_sub(SEGMENT_HEADER_SIZE)?
            .checked_sub(align_up(
                ENTRY_HEADER_SIZE.checked_add(self.start_payload.len())?,
            ))?
            .checked_sub(ENTRY_HEADER_SIZE)? // SEGMENT_END
            .checked_sub(ENTRY_HEADER_SIZE) // this entry's header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        let mut c = JournalConfig::new("/tmp/x");
        c.validate().unwrap();
        c.segment_size = 64 << 10;
        c.validate().unwrap();
        assert_eq!(c.max_payload(), (64 << 10) - 64 - 40 - 40 - 40);
        for bad in [0, 4095, 4097, 1 << 33] {
            c.segment_size = bad;
            assert!(c.validate().is_err(), "{bad}");
        }
        c.segment_size = 4096;
        c.start_payload = vec![0; 4096];
        assert!(c.validate().is_err());
        assert_eq!(c.max_payload(), 0);
    }
}
