//! Library half of the `tickforge` binary: configuration, engine assembly, the exchange
//! simulator and the commands, so that integration tests can drive them in-process.
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod journal_cmd;
pub mod recorded;
pub mod replay_cmd;
pub mod sim;
pub mod stat;
pub mod tail;
pub mod timefmt;
