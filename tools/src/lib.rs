//! Library half of the `tickforge` binary: the exchange simulator and the commands, so that
//! integration tests can drive them in-process.
#![warn(missing_docs)]

pub mod sim;
