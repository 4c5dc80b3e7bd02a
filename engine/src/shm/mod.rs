//! Shared-memory output: `NAME.events`, `NAME.latest`, `NAME.stats`, and the reader API.
