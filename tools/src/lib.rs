//! Library half of the `tickforge` binary: configuration, engine assembly, the exchange
//! simulator and the commands, so that integration tests can drive them in-process.
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod sim;
pub mod stat;
pub mod tail;
