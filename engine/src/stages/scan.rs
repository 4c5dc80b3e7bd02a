//! The scanner stage: closed bars into signals; everything passes through in order.

use crate::record::{bar_flags, Record, RecordView};
use crate::ring::{Inbox, Outbox};
use crate::scanner::Scanner;
use crate::stage::Stage;

use super::Backlogged;

/// Runs a [`Scanner`] between two rings: each closed bar passes on, followed by the
/// signals found on it.
pub struct ScannerStage {
    input: Inbox<Record>,
    out: Backlogged,
    scanner: Scanner,
    done: bool,
}

impl ScannerStage {
    /// Where the stage's sampled latency since frame receipt goes in `NAME.stats`.
    pub fn set_latency_slot(&mut self, slot: crate::shm::HistogramSlot) {
        self.out.latency.set_slot(slot);
    }

    /// A stage around `scanner`.
    pub fn new(input: Inbox<Record>, out: Outbox<Record>, scanner: Scanner) -> Self {
        ScannerStage {
            input,
            out: Backlogged::new(out),
            scanner,
            done: false,
        }
    }

    /// Signals emitted so far.
    pub fn signals(&self) -> u64 {
        self.scanner.signals()
    }
}

impl Stage for ScannerStage {
    fn name(&self) -> &'static str {
        "scanner"
    }

    fn poll(&mut self) -> usize {
        let scanner = &mut self.scanner;
        self.out
            .pump(&mut self.input, &mut self.done, |rec, _, out, done| {
                out.push(rec);
                match rec.view() {
                    Some(RecordView::Bar(b)) if b.flags & bar_flags::CLOSED != 0 => {
                        scanner.on_bar(&b, &mut |s| out.push(Record::from(s)));
                    }
                    Some(RecordView::End(_)) => *done = true,
                    _ => {}
                }
            })
    }

    fn is_done(&self) -> bool {
        self.done && self.out.is_empty()
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        out("signals", self.scanner.signals());
    }
}
