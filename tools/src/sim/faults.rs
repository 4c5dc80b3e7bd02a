//! Fault injection for the simulator: command-line options mapped onto [`SimConfig`].

use super::SimConfig;

/// Faults the simulator injects on purpose (`tickforge sim` options).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FaultArgs {}

impl FaultArgs {
    /// Applies these options to `sc`.
    pub fn apply(&self, sc: &mut SimConfig) {
        let _ = sc;
    }
}
