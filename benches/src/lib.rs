//! Shared helpers for the tickforge benchmarks.
