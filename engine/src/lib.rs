//! tickforge engine: fixed-size records, SPSC rings between stages, the stage runner and
//! layout planner, bar aggregation, signal scanning, and the shared-memory output with its
//! reader API.
//!
//! The engine knows nothing of JSON or sockets: venue adapters (in `tickforge-feeds`)
//! turn frames into [`record`]s, and everything from there on lives here.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod aggregator;
pub mod backpressure;
pub mod clock;
pub mod fixed;
pub mod frame;
pub mod journal;
pub mod layout;
pub mod patterns;
pub mod prefetch;
pub mod record;
pub mod ring;
pub mod scanner;
pub mod shm;
pub mod signals;
pub mod stage;
pub mod stages;
pub mod symbol;
pub mod throttle;
pub mod timeframe;
pub mod wait;
pub mod window;
