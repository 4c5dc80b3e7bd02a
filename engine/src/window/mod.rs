//! A sliding window of the last N closed bars of one symbol and timeframe, stored packed.
//!
//! The engine keeps one window per symbol and timeframe (300,000 of them for 100,000
//! symbols × 3 timeframes, 200 bars each by default): at 64 bytes per [`BarRecord`] that
//! would be 3.84 GB. A window instead stores each bar as a short bit-packed row under a
//! per-window layout (see `codec`): prices in the window's tick (the gcd of its prices)
//! as offsets from a base, open, high and low relative to the bar's close, open times in
//! the window's step, volume in its lot, and nothing at all for the kind, timeframe,
//! symbol and flags while they are the same on every bar. Realistic streams take 7 to 16
//! bytes per bar (BTC-like: 13 to 16), plus about 300 bytes of layout per window.
//!
//! Every bar round-trips exactly. A bar that does not fit the layout is handled in one of
//! two ways:
//! - when only drifting fields are out of range (open times grow, a close wanders off),
//!   the window moves those fields' bases and shifts the rows in place: one pass over one
//!   field of the bars held, no allocation (see [`BarWindow::rebases`]);
//! - otherwise (a finer tick, a wider range, a huge volume, another flag or symbol, …) it
//!   plans a new layout from the bars it holds plus the new one and re-encodes them into a
//!   fresh allocation (see [`BarWindow::reencodes`]). The widest layout holds any bar in
//!   64 bytes, so there is no separate fallback representation.
//!
//! Layouts leave room to grow (an extra bit or two per field), so both are rare: a few
//! per thousand pushes on a realistic stream, mostly while a young window learns its
//! ranges. A window also re-plans from its own bars `capacity` pushes after each plan,
//! then at exponentially growing intervals (up to every 16 × `capacity` pushes), and
//! shrinks its rows when an odd bar has left it or the market calmed down.
//!
//! Costs: [`BarWindow::push`] is six exact divisions by multiplication (no divide
//! instruction), range checks and one row write; [`BarWindow::back`] is one 8-byte load,
//! a shift and a mask per field, and is inlined so that fields a caller does not read
//! are not decoded.

mod codec;

use crate::record::BarRecord;
use codec::{Layout, RowView, Stats, DRIFTING, ROW_VIEW};

/// Capacity of a window made by [`Default`]: the scanner's default window.
pub const DEFAULT_CAPACITY: usize = 200;

/// Largest row, in bytes, for which [`BarWindow::is_compact`] holds.
pub const COMPACT_BAR_BYTES: usize = 32;

/// The last `capacity` closed bars, oldest first; storage is allocated on the first push
/// and reused after that (see the module docs for when it is re-allocated).
///
/// The rows and their size live in the struct itself, so that a row's address does not
/// wait for the layout to load: on a cold window the two are fetched in parallel.
#[derive(Clone)]
pub struct BarWindow {
    /// The layout and bookkeeping; `None` until the first push.
    meta: Option<Box<Meta>>,
    /// `capacity` rows of `row_bytes` bytes, padded so that [`ROW_VIEW`] bytes can be read
    /// from the start of any row; empty until the first push.
    rows: Box<[u8]>,
    row_bytes: u32,
    capacity: u32,
    len: u32,
    /// Slot of the oldest bar.
    head: u32,
}

/// How a non-empty window packs its rows, and how it got there.
#[derive(Clone)]
struct Meta {
    layout: Layout,
    /// Times the rows were re-encoded under a new layout.
    reencodes: u32,
    /// Times drifting fields were moved in place (see `BarWindow::rebase_for`).
    rebases: u32,
    /// Pushes since the layout was last planned.
    since_plan: u64,
    /// Value of `since_plan` at which to check whether a narrower layout would do.
    next_check: u64,
}

/// Zeroed storage for `capacity` rows of `row_bytes` bytes and the padding after them.
fn alloc_rows(capacity: u32, row_bytes: usize) -> Box<[u8]> {
    let size = (capacity as usize - 1)
        .checked_mul(row_bytes)
        .and_then(|n| n.checked_add(ROW_VIEW))
        .expect("window size overflows usize");
    vec![0; size].into_boxed_slice()
}

/// Row `slot` of `rows` with the bytes after it.
#[inline(always)]
fn row_view(rows: &[u8], row_bytes: u32, slot: u32) -> &RowView {
    let at = slot as usize * row_bytes as usize;
    rows[at..at + ROW_VIEW].try_into().expect("row view")
}

#[inline(always)]
fn row_view_mut(rows: &mut [u8], row_bytes: u32, slot: u32) -> &mut RowView {
    let at = slot as usize * row_bytes as usize;
    (&mut rows[at..at + ROW_VIEW]).try_into().expect("row view")
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
            .field("layout", &self.meta.as_ref().map(|m| &m.layout))
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
            meta: None,
            rows: Box::default(),
            row_bytes: 0,
            capacity: capacity.clamp(1, u32::MAX as usize) as u32,
            len: 0,
            head: 0,
        }
    }

    /// Appends a bar, evicting the oldest when full.
    #[inline]
    pub fn push(&mut self, bar: BarRecord) {
        let Some(meta) = self.meta.as_deref_mut() else {
            self.replan_and_push(bar);
            return;
        };
        let Some(raw) = meta.layout.encode(&bar) else {
            self.replan_and_push(bar);
            return;
        };
        let slot = claim_slot(&mut self.len, &mut self.head, self.capacity);
        let dst = row_view_mut(&mut self.rows, self.row_bytes, slot);
        meta.layout.write(&raw, dst);
        meta.since_plan += 1;
        if meta.since_plan >= meta.next_check {
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
    #[inline(always)]
    pub fn back(&self, back: usize) -> Option<BarRecord> {
        if back >= self.len as usize {
            return None;
        }
        Some(self.decode(self.len - 1 - back as u32))
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
        self.row_bytes as usize
    }

    /// Heap bytes owned by the window (the rows and the layout; not the `BarWindow`
    /// itself nor the allocator's own overhead). Zero before the first push.
    pub fn heap_bytes(&self) -> usize {
        self.meta
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<Meta>() + self.rows.len())
    }

    /// Times the window re-encoded its bars under a new layout (O(capacity) work and an
    /// allocation each): a diagnostic for how often bars arrive that its layout cannot
    /// hold, or its ranges narrow enough to shrink rows.
    pub fn reencodes(&self) -> u32 {
        self.meta.as_ref().map_or(0, |m| m.reencodes)
    }

    /// Times the window moved the base of its open times, closes or spreads in place to
    /// follow a drifting market (a pass over one field of the bars held, no allocation).
    pub fn rebases(&self) -> u32 {
        self.meta.as_ref().map_or(0, |m| m.rebases)
    }

    /// The `i`-th bar from the oldest (`i < len`).
    #[inline(always)]
    fn decode(&self, i: u32) -> BarRecord {
        let row = row_view(&self.rows, self.row_bytes, self.slot(i));
        match &self.meta {
            Some(meta) => meta.layout.decode(row),
            None => unreachable!("a window holding bars has a layout"),
        }
    }

    /// The storage slot of the `i`-th bar from the oldest.
    #[inline(always)]
    fn slot(&self, i: u32) -> u32 {
        slot_of(self.head, self.capacity, i)
    }

    /// Slow path of `push`: the bar does not fit (or nothing is stored yet). Either moves
    /// the bases of drifting fields in place, or plans a layout for the bars that stay
    /// plus `bar` and re-encodes them under it; then pushes.
    #[cold]
    #[inline(never)]
    fn replan_and_push(&mut self, bar: BarRecord) {
        if self.len == self.capacity {
            // The oldest bar is evicted by this push: leave it out.
            self.head = self.slot(1);
            self.len -= 1;
        }
        let raw = match self.rebase_for(&bar) {
            Some(raw) => raw,
            None => {
                let mut stats = Stats::new();
                for b in self.iter() {
                    stats.add(&b);
                }
                stats.add(&bar);
                self.reencode(stats.layout());
                let layout = &self.meta.as_deref().expect("re-encoded").layout;
                match layout.encode(&bar) {
                    Some(raw) => raw,
                    None => {
                        debug_assert!(
                            false,
                            "a planned layout must hold the bar it was planned for"
                        );
                        self.reencode(Layout::full());
                        let layout = &self.meta.as_deref().expect("re-encoded").layout;
                        layout.encode(&bar).expect("the full layout holds any bar")
                    }
                }
            }
        };
        let slot = claim_slot(&mut self.len, &mut self.head, self.capacity);
        let meta = self.meta.as_deref_mut().expect("stored");
        meta.layout
            .write(&raw, row_view_mut(&mut self.rows, self.row_bytes, slot));
        meta.since_plan += 1;
    }

    /// When only drifting fields (open time, close, spreads) of `bar` are out of range and
    /// the bars held plus `bar` fit their widths: moves those fields' bases and shifts the
    /// bars held to match, in place, and returns `bar` encoded.
    fn rebase_for(&mut self, bar: &BarRecord) -> Option<codec::Raw> {
        let layout = &self.meta.as_deref()?.layout;
        let offsets = layout.drift_offsets(bar)?;
        let mut shifts = [0i128; DRIFTING];
        for (i, &offset) in offsets.iter().enumerate() {
            if layout.in_range(i, offset) {
                continue;
            }
            let (mut lo, mut hi) = (offset, offset);
            for j in 0..self.len {
                let row = row_view(&self.rows, self.row_bytes, self.slot(j));
                let raw = i128::from(layout.field(i, row));
                lo = lo.min(raw);
                hi = hi.max(raw);
            }
            shifts[i] = layout.rebase_shift(i, lo, hi)?;
        }
        let meta = self.meta.as_deref_mut()?;
        for (i, &shift) in shifts.iter().enumerate() {
            if shift == 0 {
                continue;
            }
            for j in 0..self.len {
                let slot = slot_of(self.head, self.capacity, j);
                let dst = row_view_mut(&mut self.rows, self.row_bytes, slot);
                meta.layout.shift_field(i, shift, dst);
            }
            meta.layout.move_base(i, shift);
        }
        meta.rebases = meta.rebases.saturating_add(1);
        meta.layout.encode(bar)
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
        if layout.row_bytes() < self.row_bytes as usize {
            self.reencode(layout);
        } else {
            let cap = u64::from(self.capacity);
            let meta = self.meta.as_deref_mut().expect("non-empty");
            meta.next_check = meta.since_plan + meta.since_plan.min(16 * cap);
        }
    }

    /// Moves the bars held into fresh storage under `layout`, oldest in slot 0, and starts
    /// counting pushes since the plan. Falls back to the full layout if `layout` cannot
    /// hold them (which would be a planning bug).
    fn reencode(&mut self, layout: Layout) {
        let rows = match self.encode_all(&layout) {
            Some(rows) => rows,
            None => {
                debug_assert!(
                    false,
                    "a planned layout must hold the bars it was planned from"
                );
                self.encode_all(&Layout::full())
                    .expect("the full layout holds any bar")
            }
        };
        let row_bytes = layout.row_bytes() as u32;
        let next_check = u64::from(self.capacity);
        match self.meta.as_deref_mut() {
            Some(meta) => {
                meta.layout = layout;
                meta.reencodes = meta.reencodes.saturating_add(1);
                meta.since_plan = 0;
                meta.next_check = next_check;
            }
            None => {
                self.meta = Some(Box::new(Meta {
                    layout,
                    reencodes: 0,
                    rebases: 0,
                    since_plan: 0,
                    next_check,
                }))
            }
        }
        self.rows = rows;
        self.row_bytes = row_bytes;
        self.head = 0;
    }

    /// The bars held encoded under `layout` in fresh storage, oldest in slot 0; `None` if
    /// one does not fit.
    fn encode_all(&self, layout: &Layout) -> Option<Box<[u8]>> {
        let row_bytes = layout.row_bytes() as u32;
        let mut rows = alloc_rows(self.capacity, row_bytes as usize);
        for (i, b) in self.iter().enumerate() {
            let raw = layout.encode(&b)?;
            layout.write(&raw, row_view_mut(&mut rows, row_bytes, i as u32));
        }
        Some(rows)
    }
}

/// The slot of the `i`-th bar from the oldest in a ring of `capacity` slots whose oldest
/// bar is in slot `head`.
#[inline(always)]
fn slot_of(head: u32, capacity: u32, i: u32) -> u32 {
    // head < capacity and i < capacity, so one subtraction wraps it.
    let s = u64::from(head) + u64::from(i);
    if s >= u64::from(capacity) {
        (s - u64::from(capacity)) as u32
    } else {
        s as u32
    }
}

/// Claims the slot for a new bar in a ring of `capacity` slots: a free one, or the oldest
/// bar's when full.
#[inline(always)]
fn claim_slot(len: &mut u32, head: &mut u32, capacity: u32) -> u32 {
    if *len < capacity {
        *len += 1;
        slot_of(*head, capacity, *len - 1)
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
        let b = self.window.decode(self.front);
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
        self.end -= 1;
        Some(self.window.decode(self.end))
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
        assert!(std::mem::size_of::<BarWindow>() <= 40);
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
