//! The layout planner: which stages share a thread, on which core, waiting how.
//!
//! - 6 or more usable cores: one pinned thread per stage, busy-spinning.
//! - 3 to 5: two pinned threads, I/O (reader, parser) and compute (aggregator, scanner,
//!   publisher), spinning briefly then yielding.
//! - 1 or 2: one thread for every stage, blocking in `epoll` when idle, not pinned. On a
//!   2-core host this leaves the other core to the kernel's network stack (and the simulator),
//!   and no frame ever waits for a cross-thread hand-off.
//!
//! Config can force a mode, a wait strategy, pinning and the cores to use.

use std::fmt;

use crate::wait::WaitStrategy;

/// The pipeline's stages, in data-flow order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StageId {
    /// Network reader: sockets to frames.
    Reader,
    /// Venue adapter: frames to trades and quotes.
    Parser,
    /// Bars.
    Aggregator,
    /// Patterns and signals.
    Scanner,
    /// Shared-memory output.
    Publisher,
}

impl StageId {
    /// All stages in data-flow order.
    pub const ALL: [StageId; 5] = [
        StageId::Reader,
        StageId::Parser,
        StageId::Aggregator,
        StageId::Scanner,
        StageId::Publisher,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            StageId::Reader => "reader",
            StageId::Parser => "parser",
            StageId::Aggregator => "aggregator",
            StageId::Scanner => "scanner",
            StageId::Publisher => "publisher",
        }
    }
}

/// How stages are grouped onto threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutMode {
    /// Chosen from the usable cores.
    Auto,
    /// One thread for every stage.
    Single,
    /// Two threads: I/O and compute.
    Split,
    /// One thread per stage.
    Dedicated,
}

/// Layout settings from config.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LayoutConfig {
    /// Grouping of stages onto threads.
    pub mode: LayoutMode,
    /// Wait strategy for every stage thread; by default chosen with the mode.
    pub wait: Option<WaitStrategy>,
    /// Pin threads to cores; by default only when each thread has a core of its own.
    pub pin: Option<bool>,
    /// The cores the engine may use; by default every core this process may run on.
    pub cores: Option<Vec<usize>>,
    /// Cores to leave to other work (an in-process simulator, the kernel), taken from the
    /// front of the usable list.
    pub reserved_cores: usize,
    /// Longest park or block of an idle thread, in microseconds.
    pub park_timeout_us: u64,
}

impl Default for LayoutConfig {
    fn default() -> Self {
        LayoutConfig {
            mode: LayoutMode::Auto,
            wait: None,
            pin: None,
            cores: None,
            reserved_cores: 0,
            park_timeout_us: 1_000,
        }
    }
}

/// One planned thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSpec {
    /// Thread name.
    pub name: String,
    /// Its stages in data-flow order.
    pub stages: Vec<StageId>,
    /// Core to pin to.
    pub core: Option<usize>,
    /// How it waits.
    pub wait: WaitStrategy,
}

/// The chosen layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The mode after resolving `auto`.
    pub mode: LayoutMode,
    /// Usable cores the plan was made from.
    pub usable_cores: Vec<usize>,
    /// The threads.
    pub threads: Vec<ThreadSpec>,
}

impl Layout {
    /// The index of the thread that runs `stage`.
    pub fn thread_of(&self, stage: StageId) -> usize {
        self.threads
            .iter()
            .position(|t| t.stages.contains(&stage))
            .expect("every stage is planned onto a thread")
    }
}

/// The cores this process may run on, in id order.
pub fn available_cores() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    if ids.is_empty() {
        // Affinity unknown: assume as many cores as the OS reports.
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        ids = (0..n).collect();
    }
    ids
}

/// Plans the layout for `cfg` given the cores this process may use.
pub fn plan(cfg: &LayoutConfig, available: &[usize]) -> Layout {
    let mut usable: Vec<usize> = match &cfg.cores {
        Some(list) => list.clone(),
        None => available.to_vec(),
    };
    let reserved = cfg.reserved_cores.min(usable.len().saturating_sub(1));
    usable.drain(..reserved);
    let n = usable.len().max(1);
    let mode = match cfg.mode {
        LayoutMode::Auto if n >= 6 => LayoutMode::Dedicated,
        LayoutMode::Auto if n >= 3 => LayoutMode::Split,
        LayoutMode::Auto => LayoutMode::Single,
        m => m,
    };
    let (groups, default_wait): (Vec<(&str, Vec<StageId>)>, WaitStrategy) = match mode {
        // Spinning only pays on a core of one's own.
        LayoutMode::Dedicated => (
            StageId::ALL.iter().map(|&s| (s.name(), vec![s])).collect(),
            if usable.len() >= StageId::ALL.len() {
                WaitStrategy::Spin
            } else {
                WaitStrategy::SpinYield
            },
        ),
        LayoutMode::Split => (
            vec![
                ("io", vec![StageId::Reader, StageId::Parser]),
                (
                    "compute",
                    vec![StageId::Aggregator, StageId::Scanner, StageId::Publisher],
                ),
            ],
            WaitStrategy::SpinYield,
        ),
        _ => (vec![("engine", StageId::ALL.to_vec())], WaitStrategy::Park),
    };
    let wait = cfg.wait.unwrap_or(default_wait);
    // Pin only when every thread gets a core of its own, unless config says otherwise.
    let pin = cfg
        .pin
        .unwrap_or(groups.len() <= usable.len() && mode != LayoutMode::Single);
    let threads = groups
        .into_iter()
        .enumerate()
        .map(|(i, (name, stages))| ThreadSpec {
            name: format!("tf-{name}"),
            stages,
            core: if pin && !usable.is_empty() {
                Some(usable[i % usable.len()])
            } else {
                None
            },
            wait,
        })
        .collect();
    Layout {
        mode,
        usable_cores: usable,
        threads,
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "layout: {:?} mode, {} thread(s) on {} usable core(s) {:?}",
            self.mode,
            self.threads.len(),
            self.usable_cores.len(),
            self.usable_cores
        )?;
        for t in &self.threads {
            let stages: Vec<&str> = t.stages.iter().map(|s| s.name()).collect();
            let core = t
                .core
                .map_or("unpinned".to_string(), |c| format!("core {c}"));
            write!(
                f,
                "\n  {} [{}] {} wait={}",
                t.name,
                stages.join(" → "),
                core,
                t.wait.name()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cores(n: usize) -> Vec<usize> {
        (0..n).collect()
    }

    #[test]
    fn two_cores_fuse_everything_and_never_spin() {
        let l = plan(&LayoutConfig::default(), &cores(2));
        assert_eq!(l.mode, LayoutMode::Single);
        assert_eq!(l.threads.len(), 1);
        assert_eq!(l.threads[0].stages, StageId::ALL.to_vec());
        assert_eq!(l.threads[0].wait, WaitStrategy::Park);
        assert_eq!(l.threads[0].core, None);
    }

    #[test]
    fn four_cores_split_io_from_compute_and_pin() {
        let l = plan(&LayoutConfig::default(), &cores(4));
        assert_eq!(l.mode, LayoutMode::Split);
        assert_eq!(l.threads.len(), 2);
        assert_eq!(l.thread_of(StageId::Parser), 0);
        assert_eq!(l.thread_of(StageId::Publisher), 1);
        assert_eq!(l.threads[0].core, Some(0));
        assert_eq!(l.threads[1].core, Some(1));
        assert_ne!(l.threads[0].wait, WaitStrategy::Spin);
    }

    #[test]
    fn six_cores_dedicate_a_spinning_pinned_thread_per_stage() {
        let l = plan(
            &LayoutConfig {
                reserved_cores: 1,
                ..Default::default()
            },
            &cores(8),
        );
        assert_eq!(l.mode, LayoutMode::Dedicated);
        assert_eq!(l.threads.len(), 5);
        let pinned: Vec<_> = l.threads.iter().map(|t| t.core.unwrap()).collect();
        assert_eq!(pinned, vec![1, 2, 3, 4, 5]);
        assert!(l.threads.iter().all(|t| t.wait == WaitStrategy::Spin));
    }

    #[test]
    fn reserved_cores_shrink_the_plan() {
        let l = plan(
            &LayoutConfig {
                reserved_cores: 2,
                ..Default::default()
            },
            &cores(6),
        );
        assert_eq!(l.mode, LayoutMode::Split);
        assert_eq!(l.usable_cores, vec![2, 3, 4, 5]);
    }

    #[test]
    fn config_overrides_mode_wait_and_pinning() {
        let cfg = LayoutConfig {
            mode: LayoutMode::Dedicated,
            wait: Some(WaitStrategy::Park),
            pin: Some(false),
            ..Default::default()
        };
        let l = plan(&cfg, &cores(2));
        assert_eq!(l.threads.len(), 5);
        assert!(l
            .threads
            .iter()
            .all(|t| t.wait == WaitStrategy::Park && t.core.is_none()));
        // Dedicated threads on too few cores are not pinned unless asked.
        let l = plan(
            &LayoutConfig {
                mode: LayoutMode::Dedicated,
                ..Default::default()
            },
            &cores(2),
        );
        assert!(l
            .threads
            .iter()
            .all(|t| t.core.is_none() && t.wait != WaitStrategy::Spin));
        assert!(l.to_string().contains("tf-reader [reader]"));
    }

    #[test]
    fn available_cores_is_never_empty() {
        assert!(!available_cores().is_empty());
    }
}
