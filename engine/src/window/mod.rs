//! A sliding window of the last N closed bars of one symbol and timeframe, stored packed.
//!
//! The engine keeps one window per symbol and timeframe (300,000 of them for 100,000
//! symbols × 3 timeframes, 200 bars each by default), so a plain 64-byte [`BarRecord`] per
//! bar would take 3.84 GB. A window instead stores each bar as a short bit-packed row
//! under a per-window layout (see `codec`): prices in the window's tick (the gcd of its
//! prices) as offsets from a base, `open`/`high`/`low` relative to the bar's close, open
//! times in the window's step, volume in its lot, and nothing for the kind, timeframe,
//! symbol and flags while they are the same on every bar. A BTC-like stream takes 10 to
//! 16 bytes per bar. Decoding is exact for every bar: a bar that does not fit the layout
//! (a finer price, a wider range, another symbol, …) makes the window re-plan its layout
//! from the bars it holds and re-encode them; the widest layout holds anything in 64
//! bytes per bar, so there is no separate fallback path.
//!
//! Costs: [`BarWindow::push`] is a few multiplications and one row write; every
//! `capacity` pushes the window re-plans its layout from its bars (O(capacity), so O(1)
//! per push) and shrinks its rows when its ranges have narrowed. A re-encode (O(capacity),
//! one allocation) happens only when a bar does not fit; ranges are planned with room to
//! grow so that a random walk rarely triggers one. [`BarWindow::back`] decodes one row.

mod codec;

use crate::record::BarRecord;
use codec::{Layout, RowView, Stats, ROW_VIEW};

/// Capacity of a window made by [`Default`]: the scanner's default window.
pub const DEFAULT_CAPACITY: usize = 200;

/// Largest row, in bytes, for which [`BarWindow::is_compact`] holds.
pub const COMPACT_BAR_BYTES: usize = 32;

/// The last `capacity` closed bars, oldest first; storage is allocated on the first push
/// and reused after that (see the module docs for when it is re-allocated).
#[derive(Clone)]
pub struct BarWindow {
    store: Option<Box<Store>>,
    capacity: u32,
    len: u32,
    /// Slot of the oldest bar.
    head: u32,
}

/// The packed rows of a non-empty window.
#[derive(Clone)]
struct Store {
    layout: Layout,
    /// `capacity` rows of `layout.row_bytes()` bytes, padded so that [`ROW_VIEW`] bytes
    /// can be read from the start of any row.
    data: Box<[u8]>,
    row_bytes: u32,
    /// Times the rows were re-encoded under a new layout.
    reencodes: u32,
    /// Pushes since the layout was last planned.
    since_plan: u64,
    /// Value of `since_plan` at which to check whether a narrower layout would do.
    next_check: u64,
}

impl Store {
    fn new(layout: Layout, capacity: u32) -> Self {
        let row_bytes = layout.row_bytes();
        let size = (capacity as usize - 1)
            .checked_mul(row_bytes)
            .and_then(|n| n.checked_add(ROW_VIEW))
            .expect("window size overflows usize");
        Store {
            layout,
            data: vec![0; size].into_boxed_slice(),
            row_bytes: row_bytes as u32,
            reencodes: 0,
            since_plan: 0,
            next_check: u64::from(capacity),
        }
    }

    /// Row `slot` with the bytes after it, as the decoder reads it.
    #[inline(always)]
    fn row(&self, slot: u32) -> &RowView {
        let at = slot as usize * self.row_bytes as usize;
        self.data[at..at + ROW_VIEW].try_into().expect("row view")
    }

    /// Packs `raw` (encoded under this store's layout) into row `slot`.
    #[inline(always)]
    fn write(&mut self, slot: u32, raw: &codec::Raw) {
        let at = slot as usize * self.row_bytes as usize;
        self.layout.write(raw, &mut self.data, at);
    }

    #[inline(always)]
    fn decode(&self, slot: u32) -> BarRecord {
        self.layout.decode(self.row(slot))
    }
}

impl Default for BarWindow {
    /// An empty window of [`DEFAULT_CAPACITY`] bars.
    fn default() -> Self {
        BarWindow::new(DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for BarWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarWindow")
            .field("capacity", &self.capacity)
            .field("len", &self.len)
            .field("bytes_per_bar", &self.bytes_per_bar())
            .field("bars", &DebugBars(self))
            .finish()
    }
}

struct DebugBars<'a>(&'a BarWindow);

impl std::fmt::Debug for DebugBars<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl BarWindow {
    /// An empty window that will hold up to `capacity` bars (at least 1, at most
    /// `u32::MAX`).
    pub fn new(capacity: usize) -> Self {
        BarWindow {
            store: None,
            capacity: capacity.clamp(1, u32::MAX as usize) as u32,
            len: 0,
            head: 0,
        }
    }

    /// Appends a bar, evicting the oldest when full.
    #[inline]
    pub fn push(&mut self, bar: BarRecord) {
        let Some(store) = self.store.as_deref_mut() else {
            self.replan_and_push(bar);
            return;
        };
        let Some(raw) = store.layout.encode(&bar) else {
            self.replan_and_push(bar);
            return;
        };
        let slot = claim_slot(&mut self.len, &mut self.head, self.capacity);
        store.write(slot, &raw);
        store.since_plan += 1;
        if store.since_plan >= store.next_check {
            self.shrink_if_narrower();
        }
    }

    /// Number of bars held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when no bar is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most bars the window holds.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// The bar `back` places before the newest (`back = 0` is the newest).
    #[inline]
    pub fn back(&self, back: usize) -> Option<BarRecord> {
        if back >= self.len as usize {
            return None;
        }
        let store = self.store.as_deref()?;
        Some(store.decode(self.slot(self.len - 1 - back as u32)))
    }

    /// Bars from oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = BarRecord> + '_ {
        Iter {
            window: self,
            front: 0,
            end: self.len,
        }
    }

    /// True when every bar is stored in at most [`COMPACT_BAR_BYTES`] bytes (always true
    /// for an empty window).
    pub fn is_compact(&self) -> bool {
        self.bytes_per_bar() <= COMPACT_BAR_BYTES
    }

    /// Bytes each bar takes in storage under the current layout (0 before the first push;
    /// at most 64).
    pub fn bytes_per_bar(&self) -> usize {
        self.store.as_ref().map_or(0, |s| s.row_bytes as usize)
    }

    /// Heap bytes owned by the window (the rows and the layout; not the `BarWindow`
    /// itself nor the allocator's own overhead). Zero before the first push.
    pub fn heap_bytes(&self) -> usize {
        self.store
            .as_ref()
            .map_or(0, |s| std::mem::size_of::<Store>() + s.data.len())
    }

    /// Times the window re-encoded its bars under a new layout: a diagnostic for how
    /// often bars arrive that its layout cannot hold.
    pub fn reencodes(&self) -> u32 {
        self.store.as_ref().map_or(0, |s| s.reencodes)
    }

    /// The storage slot of the `i`-th bar from the oldest.
    #[inline(always)]
    fn slot(&self, i: u32) -> u32 {
        // head < capacity and i < len <= capacity, so one subtraction wraps it.
        let s = self.head as u64 + u64::from(i);
        if s >= u64::from(self.capacity) {
            (s - u64::from(self.capacity)) as u32
        } else {
            s as u32
        }
    }

    /// Slow path of `push`: the bar does not fit (or nothing is stored yet). Plans a
    /// layout for the bars that stay plus `bar`, re-encodes them under it, then pushes.
    #[cold]
    #[inline(never)]
    fn replan_and_push(&mut self, bar: BarRecord) {
        if self.len == self.capacity {
            // The oldest bar is evicted by this push: leave it out of the plan.
            self.head = self.slot(1);
            self.len -= 1;
        }
        let mut stats = Stats::new();
        for b in self.iter() {
            stats.add(&b);
        }
        stats.add(&bar);
        self.reencode(stats.layout());
        let store = self.store.as_deref().expect("re-encoded");
        let raw = match store.layout.encode(&bar) {
            Some(raw) => raw,
            None => {
                debug_assert!(
                    false,
                    "a planned layout must hold the bar it was planned for"
                );
                self.reencode(Layout::full());
                let store = self.store.as_deref().expect("re-encoded");
                store
                    .layout
                    .encode(&bar)
                    .expect("the full layout holds any bar")
            }
        };
        let slot = claim_slot(&mut self.len, &mut self.head, self.capacity);
        let store = self.store.as_deref_mut().expect("re-encoded");
        store.write(slot, &raw);
        store.since_plan = 1;
    }

    /// `capacity` pushes after a layout was planned, then after 2, 4, 8, 16 times that
    /// and every 16 times that from then on: re-plans from the bars held and re-encodes if
    /// rows get shorter (after a spike, an odd price or a gap has left the window, or the
    /// market calmed down).
    #[cold]
    #[inline(never)]
    fn shrink_if_narrower(&mut self) {
        let mut stats = Stats::new();
        for b in self.iter() {
            stats.add(&b);
        }
        let layout = stats.layout();
        let cap = u64::from(self.capacity);
        let store = self.store.as_deref_mut().expect("non-empty");
        if layout.row_bytes() < store.row_bytes as usize {
            self.reencode(layout);
            let store = self.store.as_deref_mut().expect("re-encoded");
            store.since_plan = 0;
            store.next_check = cap;
        } else {
            store.next_check = store.since_plan + store.since_plan.min(16 * cap);
        }
    }

    /// Moves the bars held into fresh storage under `layout`, oldest in slot 0. Falls back
    /// to the full layout if `layout` cannot hold them (which would be a planning bug).
    fn reencode(&mut self, layout: Layout) {
        let mut fresh = Store::new(layout, self.capacity);
        if !self.copy_into(&mut fresh) {
            debug_assert!(
                false,
                "a planned layout must hold the bars it was planned from"
            );
            fresh = Store::new(Layout::full(), self.capacity);
            let copied = self.copy_into(&mut fresh);
            assert!(copied, "the full layout holds any bar");
        }
        if let Some(old) = &self.store {
            fresh.reencodes = old.reencodes.saturating_add(1);
        }
        self.store = Some(Box::new(fresh));
        self.head = 0;
    }

    /// Encodes the bars held into `fresh`, in order from slot 0; false if one does not fit.
    fn copy_into(&self, fresh: &mut Store) -> bool {
        for (i, b) in self.iter().enumerate() {
            let Some(raw) = fresh.layout.encode(&b) else {
                return false;
            };
            fresh.write(i as u32, &raw);
        }
        true
    }
}

/// Claims the slot for a new bar in a ring of `capacity` slots: a free one, or the oldest
/// bar's when full.
#[inline(always)]
fn claim_slot(len: &mut u32, head: &mut u32, capacity: u32) -> u32 {
    if *len < capacity {
        let s = u64::from(*head) + u64::from(*len);
        *len += 1;
        if s >= u64::from(capacity) {
            (s - u64::from(capacity)) as u32
        } else {
            s as u32
        }
    } else {
        let s = *head;
        *head = if s + 1 == capacity { 0 } else { s + 1 };
        s
    }
}

/// Bars of a window, oldest first.
struct Iter<'a> {
    window: &'a BarWindow,
    front: u32,
    end: u32,
}

impl Iterator for Iter<'_> {
    type Item = BarRecord;

    #[inline]
    fn next(&mut self) -> Option<BarRecord> {
        if self.front >= self.end {
            return None;
        }
        let store = self.window.store.as_deref()?;
        let b = store.decode(self.window.slot(self.front));
        self.front += 1;
        Some(b)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.front) as usize;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<BarRecord> {
        if self.front >= self.end {
            return None;
        }
        let store = self.window.store.as_deref()?;
        self.end -= 1;
        Some(store.decode(self.window.slot(self.end)))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{bar_flags, Kind};

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

    #[test]
    fn the_window_struct_is_small_and_empty_windows_own_no_heap() {
        assert!(std::mem::size_of::<BarWindow>() <= 24);
        let w = BarWindow::default();
        assert_eq!(
            (w.capacity(), w.heap_bytes(), w.bytes_per_bar()),
            (200, 0, 0)
        );
        assert!(w.is_compact());
        assert_eq!(BarWindow::new(0).capacity(), 1);
    }

    #[test]
    fn a_steady_stream_packs_small_and_odd_bars_round_trip() {
        let mut w = BarWindow::new(50);
        let s = 1_000_000_000i64;
        let mut want = Vec::new();
        for i in 0..120i64 {
            let close = 60_000 * s + (i % 7 - 3) * 10_000_000 * (i % 11);
            let mut b = BarRecord {
                kind: Kind::Bar as u8,
                tf: 1,
                flags: bar_flags::CLOSED,
                symbol: 42,
                open_ts: 1_700_000_000 * s + i * 60 * s,
                open: close - 10_000_000,
                high: close + 20_000_000,
                low: close - 30_000_000,
                close,
                count: 10 + (i as u32 % 100),
                ..Default::default()
            };
            b.set_volume(u128::from(i as u64 % 13 + 1) * 12_345_000);
            w.push(b);
            want.push(b);
        }
        assert!(w.bytes_per_bar() <= 12, "{}", w.bytes_per_bar());
        assert!(w.iter().eq(want[70..].iter().copied()));
        // An odd price, a huge volume and another flag: exact, and wider.
        let mut odd = want[119];
        odd.open_ts += 60 * s;
        odd.high += 1;
        odd.flags |= bar_flags::STALE;
        odd.set_volume(crate::record::MAX_BAR_VOLUME);
        w.push(odd);
        assert_eq!(w.back(0), Some(odd));
        assert_eq!(w.back(1), Some(want[119]));
        assert!(w.iter().skip(49).eq([odd]));
    }
}
