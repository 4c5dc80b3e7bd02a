//! A sliding window of the last N closed bars of one symbol and timeframe.

use crate::record::BarRecord;

/// The last `capacity` closed bars, oldest first; storage is allocated on the first push
/// and reused after that.
#[derive(Debug, Clone, Default)]
pub struct BarWindow {
    bars: Vec<BarRecord>,
    head: usize,
    capacity: usize,
}

impl BarWindow {
    /// An empty window that will hold up to `capacity` bars.
    pub fn new(capacity: usize) -> Self {
        BarWindow {
            bars: Vec::new(),
            head: 0,
            capacity: capacity.max(1),
        }
    }

    /// Appends a bar, evicting the oldest when full.
    pub fn push(&mut self, bar: BarRecord) {
        if self.bars.len() < self.capacity {
            if self.bars.capacity() == 0 {
                self.bars.reserve_exact(self.capacity);
            }
            self.bars.push(bar);
        } else {
            self.bars[self.head] = bar;
            self.head = (self.head + 1) % self.capacity;
        }
    }

    /// Number of bars held.
    pub fn len(&self) -> usize {
        self.bars.len()
    }

    /// True when no bar is held.
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }

    /// The bar `back` places before the newest (`back = 0` is the newest).
    pub fn back(&self, back: usize) -> Option<BarRecord> {
        let n = self.bars.len();
        if back >= n {
            return None;
        }
        Some(self.bars[(self.head + n - 1 - back) % n])
    }

    /// Bars from oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = BarRecord> + '_ {
        let (newer, older) = self.bars.split_at(self.head);
        older.iter().chain(newer.iter()).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(c: i64) -> BarRecord {
        BarRecord {
            close: c,
            ..Default::default()
        }
    }

    #[test]
    fn keeps_the_last_n_in_order() {
        let mut w = BarWindow::new(3);
        assert!(w.is_empty());
        for c in 1..=5 {
            w.push(bar(c));
        }
        assert_eq!(w.len(), 3);
        let closes: Vec<i64> = w.iter().map(|b| b.close).collect();
        assert_eq!(closes, vec![3, 4, 5]);
        assert_eq!(w.back(0).unwrap().close, 5);
        assert_eq!(w.back(2).unwrap().close, 3);
        assert!(w.back(3).is_none());
    }
}
