//! Venue adapters: parse and normalize venue frames into records.
