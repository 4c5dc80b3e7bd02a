//! tickforge feeds: the network reader stage and venue adapters.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
pub mod backoff;
pub mod connection;
pub mod failover;
pub mod frame_journal;
pub mod link;
pub mod parser;
pub mod quality;
pub mod reader;
#[cfg(feature = "reference")]
pub mod reference;
pub mod tls;
pub mod venue;
