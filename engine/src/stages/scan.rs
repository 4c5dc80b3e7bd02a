//! The scanner stage: closed bars into signals; everything passes through in order.

use crate::record::{bar_flags, Record, RecordView};
use crate::ring::{Inbox, Outbox};
use crate::scanner::Scanner;
use crate::stage::Stage;

use super::{Backlogged, BUDGET};

/// Runs a [`Scanner`] between two rings: each closed bar passes on, followed by the
/// signals found on it.
pub struct ScannerStage {
    input: Inbox<Record>,
    out: Backlogged,
    scanner: Scanner,
    done: bool,
}

impl ScannerStage {
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
        let mut work = 0;
        while work < BUDGET && !self.done && self.out.flush() {
            let Ok(rec) = self.input.pop() else { break };
            self.out.push(rec);
            match rec.view() {
                Some(RecordView::Bar(b)) if b.flags & bar_flags::CLOSED != 0 => {
                    let out = &mut self.out;
                    self.scanner.on_bar(&b, &mut |s| out.push(Record::from(s)));
                }
                Some(RecordView::End(_)) => self.done = true,
                _ => {}
            }
            work += 1;
        }
        if work == 0 && !self.out.is_empty() && self.out.flush() {
            work = 1;
        }
        self.out.notify();
        work
    }

    fn is_done(&self) -> bool {
        self.done && self.out.is_empty()
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        out("signals", self.scanner.signals());
    }
}
