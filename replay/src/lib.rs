//! tickforge replay: journal reading, the replay driver and exports.
#![warn(missing_docs)]

pub mod export;
