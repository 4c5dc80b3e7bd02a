//! The packed row format of a [`super::BarWindow`]: a per-window [`Layout`] that turns a
//! [`BarRecord`] into a short bit string and back, exactly.
//!
//! Every field is stored as an unsigned offset from a per-window base, in a per-window
//! unit, in as many bits as the window needs:
//!
//! | field | stored as |
//! | --- | --- |
//! | `open_ts` | `open_ts / t_unit - ts_base`, `t_unit` = gcd of the window's open times |
//! | `close` | `close / p_unit - close_base`, `p_unit` = gcd of all four prices |
//! | `open`, `high`, `low` | `(x - close) / p_unit - x_base`: relative to the bar's close |
//! | volume | `volume / v_unit` (up to 96 bits), `v_unit` = gcd of the volumes |
//! | `count` | `count` |
//! | `flags`, `kind`, `tf`, `symbol` | nothing when constant over the window, else the value |
//!
//! Offsets are taken modulo 2^64 (2^32 for the small fields), so decoding with wrapping
//! arithmetic is exact even where an intermediate sum leaves the `i64` range. A field at
//! its full width (64 bits for a price or time, 96 for volume, its own width for the small
//! ones) holds any value, so a layout exists for any bars, and the widest row is 64 bytes:
//! never more than a [`BarRecord`].
//!
//! Rows are byte-aligned; fields are bit-packed inside a row in the order of the table.
//! A field of more than 56 bits starts on a byte, so that any field is read with one
//! unaligned 8-byte load, a shift and a mask.

use crate::record::BarRecord;

/// Bars a layout must be planned from before it stops reserving room for growth.
const WARMUP: usize = 32;

/// Extra bits beyond a window's current range, by how a field moves. A close wanders like
/// a random walk and open times only grow: when one leaves its range the window shifts
/// that field's base in place (cheap, see [`Layout::rebase_shift`]), and the extra bits set how
/// often. Spreads (open, high and low relative to close), volumes and counts are
/// stationary: one bit covers a new extreme up to twice the window's.
const TS_HEADROOM: u32 = 2;
const CLOSE_HEADROOM: u32 = 2;
const SPREAD_HEADROOM: u32 = 1;

/// Minimum bits per field while warming up, so a young window does not re-plan on every
/// new bar while its ranges grow.
const WARM_TS_BITS: u32 = 16;
const WARM_CLOSE_BITS: u32 = 16;
const WARM_SPREAD_BITS: u32 = 12;
const WARM_VOL_BITS: u32 = 24;
const WARM_COUNT_BITS: u32 = 8;

/// Longest row in bytes: 5 × 64 + 96 + 32 + 16 + 8 + 8 + 32 bits.
pub(super) const MAX_ROW_BYTES: usize = 64;

/// Bytes a decoder may read from a row's start: any field is one 8-byte load at a byte
/// offset below 64.
pub(super) const ROW_VIEW: usize = MAX_ROW_BYTES + 8;

/// A row with the bytes after it, as the decoder sees it.
pub(super) type RowView = [u8; ROW_VIEW];

// ---------------------------------------------------------------------------------------
// Exact division by a per-window unit, without a hardware divide on the hot path.
// ---------------------------------------------------------------------------------------

/// Inverse of an odd `m` modulo 2^64 (Newton's iteration doubles the correct bits).
fn inverse_u64(m: u64) -> u64 {
    debug_assert!(m & 1 == 1);
    let mut x = m; // m·m ≡ 1 (mod 8): 3 correct bits
    for _ in 0..5 {
        x = x.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(x)));
    }
    x
}

/// Exact division by a fixed unit `d` in `1..=i64::MAX`.
///
/// With `d = m·2^s`, `m` odd: `q = (v >> s) · m⁻¹ mod 2^64` is the quotient when `d`
/// divides `v`, and `q·d == v` without overflow holds exactly then.
#[derive(Clone, Copy, Debug)]
struct Div {
    d: u64,
    /// Inverse of the odd part of `d` modulo 2^64.
    inv: u64,
}

impl Div {
    fn new(d: u64) -> Self {
        debug_assert!(d >= 1 && d <= i64::MAX as u64);
        Div {
            d,
            inv: inverse_u64(d >> d.trailing_zeros()),
        }
    }

    /// `v / d` when `d` divides `v`.
    #[inline(always)]
    fn signed(&self, v: i64) -> Option<i64> {
        let q = ((v >> self.d.trailing_zeros()) as u64).wrapping_mul(self.inv) as i64;
        (q.checked_mul(self.d as i64) == Some(v)).then_some(q)
    }

    /// `v / d` when `d` divides `v`.
    #[inline(always)]
    fn unsigned(&self, v: u128) -> Option<u128> {
        let s = self.d.trailing_zeros();
        if v >> 64 == 0 {
            let v = v as u64;
            let q = (v >> s).wrapping_mul(self.inv);
            return (q.checked_mul(self.d) == Some(v)).then_some(u128::from(q));
        }
        // One more Newton step lifts the inverse to 128 bits.
        let (m, x) = (u128::from(self.d >> s), u128::from(self.inv));
        let inv = x.wrapping_mul(2u128.wrapping_sub(m.wrapping_mul(x)));
        let q = (v >> s).wrapping_mul(inv);
        (q.checked_mul(u128::from(self.d)) == Some(v)).then_some(q)
    }
}

/// Greatest common divisor (binary); `gcd(0, x) = x`.
fn gcd(mut a: u128, mut b: u128) -> u128 {
    if a == 0 || b == 0 {
        return a | b;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

/// A unit for [`Div`] that divides `g`: `g` itself unless it is 0 (then 1) or above
/// `i64::MAX` (then its largest power-of-two factor that fits).
fn unit_for(g: u128) -> u64 {
    match g {
        0 => 1,
        g if g > i64::MAX as u128 => 1 << g.trailing_zeros().min(62),
        g => g as u64,
    }
}

/// A running gcd that skips the gcd computation for values it already divides.
#[derive(Clone, Copy, Debug)]
struct Gcd {
    g: u128,
    div: Div,
}

impl Gcd {
    fn new() -> Self {
        Gcd {
            g: 0,
            div: Div::new(1),
        }
    }

    #[inline]
    fn add(&mut self, v: u128) {
        if self.g != 0 && self.div.d as u128 == self.g && self.div.unsigned(v).is_some() {
            return;
        }
        self.g = gcd(self.g, v);
        self.div = Div::new(unit_for(self.g));
    }

    fn unit(&self) -> u64 {
        unit_for(self.g)
    }
}

// ---------------------------------------------------------------------------------------
// Fields and layouts.
// ---------------------------------------------------------------------------------------

/// The 8 bytes at `byte` (< 64) of a row, little-endian.
#[inline(always)]
fn load(row: &RowView, byte: u32) -> u64 {
    let b = (byte & 63) as usize;
    u64::from_le_bytes(row[b..b + 8].try_into().expect("8 bytes"))
}

/// A field of 1 to 64 bits: value (in units) = `base + raw` modulo 2^64.
#[derive(Clone, Copy, Debug, Default)]
struct Wide {
    base: i64,
    /// `2^bits - 1`.
    mask: u64,
    /// Where the field starts in the row: byte, then bit within it.
    byte: u8,
    shift: u8,
}

impl Wide {
    #[inline(always)]
    fn raw(&self, row: &RowView) -> u64 {
        (load(row, u32::from(self.byte)) >> self.shift) & self.mask
    }

    #[inline(always)]
    fn get(&self, row: &RowView) -> i64 {
        self.base.wrapping_add(self.raw(row) as i64)
    }

    fn at(&self) -> u32 {
        u32::from(self.byte) * 8 + u32::from(self.shift)
    }

    fn bits(&self) -> u32 {
        self.mask.count_ones()
    }
}

/// A field of 0 to 32 bits: value = `base + raw` modulo 2^32.
#[derive(Clone, Copy, Debug, Default)]
struct Small {
    base: u32,
    /// `2^bits - 1`.
    mask: u32,
    byte: u8,
    shift: u8,
}

impl Small {
    #[inline(always)]
    fn get(&self, row: &RowView) -> u32 {
        let raw = (load(row, u32::from(self.byte)) >> self.shift) as u32 & self.mask;
        self.base.wrapping_add(raw)
    }

    #[inline(always)]
    fn raw(&self, v: u32) -> u32 {
        v.wrapping_sub(self.base)
    }

    fn at(&self) -> u32 {
        u32::from(self.byte) * 8 + u32::from(self.shift)
    }
}

/// Indices of the 64-bit fields, in row order.
const TS: usize = 0;
const CLOSE: usize = 1;
const OPEN: usize = 2;
const HIGH: usize = 3;
const LOW: usize = 4;
const VOL_LO: usize = 5;
/// The fields [`Layout::rebase_shift`] can move: open time, close and the three spreads.
pub(super) const DRIFTING: usize = 5;

/// Indices of the small fields, in row order after the 64-bit ones.
const VOL_HI: usize = 0;
const COUNT: usize = 1;
const FLAGS: usize = 2;
const KIND: usize = 3;
const TF: usize = 4;
const SYMBOL: usize = 5;

/// The raw field values of one bar under a layout, ready to be packed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Raw {
    wide: [u64; 6],
    small: [u32; 6],
}

/// How one window packs its bars: units, bases and field positions.
#[derive(Clone)]
pub(super) struct Layout {
    price: Div,
    time: Div,
    vol: Div,
    /// Open time, close, open, high, low (as [`TS`] … [`LOW`]) and the volume's low 64
    /// bits ([`VOL_LO`], base 0).
    wide: [Wide; 6],
    /// The volume's bits above 64 ([`VOL_HI`], base 0), count, flags, kind, timeframe,
    /// symbol.
    small: [Small; 6],
    row_bytes: u32,
}

/// Bits needed to write `r` (0 for 0).
fn bits_of(r: u128) -> u32 {
    128 - r.leading_zeros()
}

/// Base and width for values in `[min, max]` with room for growth on both sides.
fn centered(min: i128, max: i128, headroom: u32, floor: u32) -> (i64, u32) {
    let r = (max - min) as u128;
    let bits = (bits_of(r) + headroom).max(floor).min(64);
    if bits == 64 {
        return (0, 64);
    }
    let slack = (1u128 << bits) - 1 - r;
    // Truncation is reduction modulo 2^64, which is all the decoder needs.
    ((min - (slack / 2) as i128) as i64, bits)
}

/// Base and width for values in `[min, max]` with room for growth upwards only.
fn upward(min: i128, max: i128, headroom: u32, floor: u32) -> (i64, u32) {
    let r = (max - min) as u128;
    let bits = (bits_of(r) + headroom).max(floor).min(64);
    if bits == 64 {
        return (0, 64);
    }
    (min as i64, bits)
}

/// Base and width of a small field of `width` bits: nothing stored when constant.
fn small(min: u32, max: u32, width: u32) -> (u32, u32) {
    if min == max {
        (min, 0)
    } else {
        (0, bits_of(u128::from(max)).min(width))
    }
}

/// Headroom bits of a drifting field, and whether its room is all above its range.
fn drift(field: usize) -> (u32, bool) {
    match field {
        TS => (TS_HEADROOM, true),
        CLOSE => (CLOSE_HEADROOM, false),
        _ => (SPREAD_HEADROOM, false),
    }
}

/// Assigns bit offsets in row order; a field of more than 56 bits starts on a byte.
struct Placer(u32);

impl Placer {
    /// Byte and bit where a field of `bits` bits goes.
    fn place(&mut self, bits: u32) -> (u8, u8) {
        if bits > 56 {
            self.0 = self.0.next_multiple_of(8);
        }
        let at = self.0;
        self.0 += bits;
        ((at / 8) as u8, (at % 8) as u8)
    }

    fn wide(&mut self, (base, bits): (i64, u32)) -> Wide {
        debug_assert!((1..=64).contains(&bits));
        let (byte, shift) = self.place(bits);
        Wide {
            base,
            mask: u64::MAX >> (64 - bits),
            byte,
            shift,
        }
    }

    fn small(&mut self, (base, bits): (u32, u32)) -> Small {
        debug_assert!(bits <= 32);
        let (byte, shift) = self.place(bits);
        Small {
            base,
            mask: ((1u64 << bits) - 1) as u32,
            byte,
            shift,
        }
    }
}

/// Writes fields in increasing bit order into a row, 8 bytes at a time.
struct RowWriter<'a> {
    dst: &'a mut RowView,
    /// Bits not yet written, starting at bit `base` of the row.
    acc: u128,
    base: u32,
}

impl RowWriter<'_> {
    #[inline(always)]
    fn flush(&mut self) {
        let b = (self.base / 8) as usize & 63;
        self.dst[b..b + 8].copy_from_slice(&(self.acc as u64).to_le_bytes());
        self.acc >>= 64;
        self.base += 64;
    }

    /// Adds `v` (no bits above the field's width) at bit `at` (not before earlier fields).
    #[inline(always)]
    fn put(&mut self, at: u32, v: u64) {
        // At most twice: fields start at most 128 bits past `base`.
        while at - self.base >= 64 {
            self.flush();
        }
        self.acc |= u128::from(v) << ((at - self.base) & 63);
    }

    /// Writes what is left of a row of `bytes` bytes, keeping the bytes after it.
    #[inline(always)]
    fn finish(mut self, bytes: u32) {
        let end = bytes * 8;
        while end - self.base >= 64 {
            self.flush();
        }
        let tail = (end - self.base) / 8;
        if tail > 0 {
            let b = (self.base / 8) as usize & 63;
            let old = u64::from_le_bytes(self.dst[b..b + 8].try_into().expect("8 bytes"));
            let keep = u64::MAX << (tail * 8);
            let word = (old & keep) | (self.acc as u64 & !keep);
            self.dst[b..b + 8].copy_from_slice(&word.to_le_bytes());
        }
    }
}

impl std::fmt::Debug for Layout {
    /// Units and widths: `ts 10b×1000000000 close 14b×10000000 …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (w, s) = (&self.wide, &self.small);
        write!(
            f,
            "ts {}b×{} close {}b×{} open {}b high {}b low {}b volume {}b×{} count {}b \
             flags {}b kind {}b tf {}b symbol {}b = {} bytes",
            w[TS].bits(),
            self.time.d,
            w[CLOSE].bits(),
            self.price.d,
            w[OPEN].bits(),
            w[HIGH].bits(),
            w[LOW].bits(),
            w[VOL_LO].bits() + s[VOL_HI].mask.count_ones(),
            self.vol.d,
            s[COUNT].mask.count_ones(),
            s[FLAGS].mask.count_ones(),
            s[KIND].mask.count_ones(),
            s[TF].mask.count_ones(),
            s[SYMBOL].mask.count_ones(),
            self.row_bytes,
        )
    }
}

impl Layout {
    /// A layout that holds any bar: every field at full width, unit 1, base 0.
    pub(super) fn full() -> Self {
        let mut s = Stats::new();
        s.full = true;
        s.layout()
    }

    /// Bytes per row (rows are byte-aligned).
    pub(super) fn row_bytes(&self) -> usize {
        self.row_bytes as usize
    }

    /// The quotients of `b`'s open time, close, open, high and low and volume by the
    /// layout's units, with open, high and low taken relative to close; `None` if a unit
    /// does not divide them.
    #[inline(always)]
    fn quotients(&self, b: &BarRecord) -> Option<([i64; 5], u128)> {
        let qt = self.time.signed(b.open_ts)?;
        let qc = self.price.signed(b.close)?;
        let qo = self.price.signed(b.open)?;
        let qh = self.price.signed(b.high)?;
        let ql = self.price.signed(b.low)?;
        let qv = self.vol.unsigned(b.volume())?;
        let rel = |q: i64| q.wrapping_sub(qc);
        Some(([qt, qc, rel(qo), rel(qh), rel(ql)], qv))
    }

    /// The small fields' values and the volume's high part, as raw offsets.
    #[inline(always)]
    fn small_raw(&self, b: &BarRecord, qv: u128) -> [u32; 6] {
        let s = &self.small;
        [
            (qv >> 64) as u32,
            s[COUNT].raw(b.count),
            s[FLAGS].raw(u32::from(b.flags)),
            s[KIND].raw(u32::from(b.kind)),
            s[TF].raw(u32::from(b.tf)),
            s[SYMBOL].raw(b.symbol),
        ]
    }

    /// The raw values of `b`, or `None` when `b` does not fit this layout.
    #[inline]
    pub(super) fn encode(&self, b: &BarRecord) -> Option<Raw> {
        let (q, qv) = self.quotients(b)?;
        let w = &self.wide;
        let raw = |i: usize| q[i].wrapping_sub(w[i].base) as u64;
        let r = Raw {
            wide: [
                raw(TS),
                raw(CLOSE),
                raw(OPEN),
                raw(HIGH),
                raw(LOW),
                qv as u64,
            ],
            small: self.small_raw(b, qv),
        };
        let mut fits = (qv >> 64) >> 32 == 0;
        for (v, f) in r.wide.iter().zip(w) {
            fits &= *v <= f.mask;
        }
        for (v, f) in r.small.iter().zip(&self.small) {
            fits &= *v <= f.mask;
        }
        fits.then_some(r)
    }

    /// Packs `r` into the row at the start of `dst`, keeping the bytes after the row.
    #[inline]
    pub(super) fn write(&self, r: &Raw, dst: &mut RowView) {
        let mut w = RowWriter {
            dst,
            acc: 0,
            base: 0,
        };
        for (f, &v) in self.wide.iter().zip(&r.wide) {
            w.put(f.at(), v);
        }
        for (f, &v) in self.small.iter().zip(&r.small) {
            w.put(f.at(), u64::from(v));
        }
        w.finish(self.row_bytes);
    }

    /// The bar packed at the start of `row`. Inlined into callers, so that the fields a
    /// caller does not read are not decoded at all.
    #[inline(always)]
    pub(super) fn decode(&self, row: &RowView) -> BarRecord {
        let (w, s) = (&self.wide, &self.small);
        let qc = w[CLOSE].get(row);
        let price = |q: i64| q.wrapping_mul(self.price.d as i64);
        let qv = u128::from(w[VOL_LO].raw(row)) | u128::from(s[VOL_HI].get(row)) << 64;
        let volume = qv.wrapping_mul(u128::from(self.vol.d));
        BarRecord {
            kind: s[KIND].get(row) as u8,
            tf: s[TF].get(row) as u8,
            flags: s[FLAGS].get(row) as u16,
            symbol: s[SYMBOL].get(row),
            open_ts: w[TS].get(row).wrapping_mul(self.time.d as i64),
            open: price(qc.wrapping_add(w[OPEN].get(row))),
            high: price(qc.wrapping_add(w[HIGH].get(row))),
            low: price(qc.wrapping_add(w[LOW].get(row))),
            close: price(qc),
            volume_lo: volume as u64,
            volume_hi: (volume >> 64) as u32,
            count: s[COUNT].get(row),
        }
    }

    // -- Rebasing: moving a drifting field's base without re-planning. --------------------

    /// For a bar that does not fit: how far each drifting field's value lies from its
    /// base (in units; in range when in `0..=mask`), or `None` if something else does not
    /// fit (a unit, the volume, a small field), which only a new plan can cure.
    pub(super) fn drift_offsets(&self, b: &BarRecord) -> Option<[i128; DRIFTING]> {
        let (q, qv) = self.quotients(b)?;
        let mut fits = (qv >> 64) >> 32 == 0 && (qv as u64) <= self.wide[VOL_LO].mask;
        for (i, r) in self.small_raw(b, qv).into_iter().enumerate() {
            fits &= r <= self.small[i].mask;
        }
        if !fits {
            return None;
        }
        // True offsets (not modulo 2^64): spreads are true differences of two prices.
        let (qc, c) = (q[CLOSE], i128::from(q[CLOSE]));
        let true_q = |i: usize| match i {
            TS | CLOSE => i128::from(q[i]),
            _ => i128::from(q[i].wrapping_add(qc)) - c,
        };
        Some(std::array::from_fn(|i| {
            true_q(i) - i128::from(self.wide[i].base)
        }))
    }

    /// True when `offset` (from [`Layout::drift_offsets`]) is in field `i`'s range.
    pub(super) fn in_range(&self, i: usize, offset: i128) -> bool {
        (0..=i128::from(self.wide[i].mask)).contains(&offset)
    }

    /// The raw value of drifting field `i` in `row`.
    #[inline]
    pub(super) fn field(&self, i: usize, row: &RowView) -> u64 {
        self.wide[i].raw(row)
    }

    /// How far to move field `i`'s base so that offsets in `lo..=hi` fit with the usual
    /// room to grow, or `None` if they need more bits than the field has.
    pub(super) fn rebase_shift(&self, i: usize, lo: i128, hi: i128) -> Option<i128> {
        let f = &self.wide[i];
        let (headroom, upward) = drift(i);
        let r = (hi - lo) as u128;
        if f.bits() >= 64 || bits_of(r) + headroom > f.bits() {
            return None;
        }
        let slack = i128::from(f.mask) - r as i128;
        Some(if upward { lo } else { lo - slack / 2 })
    }

    /// Subtracts `shift` from field `i` in `row` (whose raw value stays in range).
    #[inline]
    pub(super) fn shift_field(&self, i: usize, shift: i128, dst: &mut RowView) {
        let f = &self.wide[i];
        let raw = (i128::from(f.raw(dst)) - shift) as u64;
        debug_assert!(raw <= f.mask);
        let (b, s) = (usize::from(f.byte) & 63, f.shift);
        let old = u64::from_le_bytes(dst[b..b + 8].try_into().expect("8 bytes"));
        let word = (old & !(f.mask << s)) | (raw << s);
        dst[b..b + 8].copy_from_slice(&word.to_le_bytes());
    }

    /// Moves field `i`'s base up by `shift`, after every row was shifted down by it.
    pub(super) fn move_base(&mut self, i: usize, shift: i128) {
        let f = &mut self.wide[i];
        f.base = f.base.wrapping_add(shift as i64);
    }
}

// ---------------------------------------------------------------------------------------
// Planning a layout from the bars it must hold.
// ---------------------------------------------------------------------------------------

/// What a layout must cover, gathered in one pass over the bars.
#[derive(Clone, Debug)]
pub(super) struct Stats {
    n: usize,
    full: bool,
    price_gcd: Gcd,
    ts_gcd: Gcd,
    vol_gcd: Gcd,
    close: (i64, i64),
    spread: [(i128, i128); 3],
    ts: (i64, i64),
    vol_max: u128,
    count_max: u32,
    flags: (u32, u32),
    kind: (u32, u32),
    tf: (u32, u32),
    symbol: (u32, u32),
}

impl Stats {
    pub(super) fn new() -> Self {
        Stats {
            n: 0,
            full: false,
            price_gcd: Gcd::new(),
            ts_gcd: Gcd::new(),
            vol_gcd: Gcd::new(),
            close: (i64::MAX, i64::MIN),
            spread: [(i128::MAX, i128::MIN); 3],
            ts: (i64::MAX, i64::MIN),
            vol_max: 0,
            count_max: 0,
            flags: (u32::MAX, 0),
            kind: (u32::MAX, 0),
            tf: (u32::MAX, 0),
            symbol: (u32::MAX, 0),
        }
    }

    pub(super) fn add(&mut self, b: &BarRecord) {
        fn widen<T: Ord + Copy>(r: &mut (T, T), v: T) {
            r.0 = r.0.min(v);
            r.1 = r.1.max(v);
        }
        self.n += 1;
        for p in [b.close, b.open, b.high, b.low] {
            self.price_gcd.add(u128::from(p.unsigned_abs()));
        }
        self.ts_gcd.add(u128::from(b.open_ts.unsigned_abs()));
        let v = b.volume();
        self.vol_gcd.add(v);
        widen(&mut self.close, b.close);
        let c = i128::from(b.close);
        for (r, x) in self.spread.iter_mut().zip([b.open, b.high, b.low]) {
            widen(r, i128::from(x) - c);
        }
        widen(&mut self.ts, b.open_ts);
        self.vol_max = self.vol_max.max(v);
        self.count_max = self.count_max.max(b.count);
        widen(&mut self.flags, u32::from(b.flags));
        widen(&mut self.kind, u32::from(b.kind));
        widen(&mut self.tf, u32::from(b.tf));
        widen(&mut self.symbol, b.symbol);
    }

    /// The narrowest layout (with room to grow) that holds every bar added.
    pub(super) fn layout(&self) -> Layout {
        let any = self.n == 0 || self.full;
        let floor = |f: u32| if self.n < WARMUP { f } else { 0 };

        let (pu, tu, vu) = if any {
            (1, 1, 1)
        } else {
            (
                self.price_gcd.unit(),
                self.ts_gcd.unit(),
                self.vol_gcd.unit(),
            )
        };
        let (pd, td) = (i128::from(pu), i128::from(tu));

        let full = (0, 64);
        let (close, spreads, ts) = if any {
            (full, [full; 3], full)
        } else {
            let close = centered(
                i128::from(self.close.0) / pd,
                i128::from(self.close.1) / pd,
                CLOSE_HEADROOM,
                floor(WARM_CLOSE_BITS),
            );
            let spreads = self.spread.map(|(lo, hi)| {
                centered(lo / pd, hi / pd, SPREAD_HEADROOM, floor(WARM_SPREAD_BITS))
            });
            let ts = upward(
                i128::from(self.ts.0) / td,
                i128::from(self.ts.1) / td,
                TS_HEADROOM,
                floor(WARM_TS_BITS),
            );
            (close, spreads, ts)
        };
        let vol_bits = if any {
            96
        } else {
            (bits_of(self.vol_max / u128::from(vu)) + SPREAD_HEADROOM)
                .max(floor(WARM_VOL_BITS))
                .min(96)
        };
        let count_bits = if any {
            32
        } else {
            (bits_of(u128::from(self.count_max)) + SPREAD_HEADROOM)
                .max(floor(WARM_COUNT_BITS))
                .min(32)
        };
        let constant_or_full = |r: (u32, u32), width: u32| {
            if any {
                (0, width)
            } else {
                small(r.0, r.1, width)
            }
        };

        // Positions, in row order.
        let mut at = Placer(0);
        let wide = [
            at.wide(ts),
            at.wide(close),
            at.wide(spreads[0]),
            at.wide(spreads[1]),
            at.wide(spreads[2]),
            at.wide((0, vol_bits.min(64))),
        ];
        let small = [
            at.small((0, vol_bits.saturating_sub(64))),
            at.small((0, count_bits)),
            at.small(constant_or_full(self.flags, 16)),
            at.small(constant_or_full(self.kind, 8)),
            at.small(constant_or_full(self.tf, 8)),
            at.small(constant_or_full(self.symbol, 32)),
        ];
        let row_bytes = at.0.div_ceil(8);
        debug_assert!(row_bytes as usize <= MAX_ROW_BYTES);
        Layout {
            price: Div::new(pu),
            time: Div::new(tu),
            vol: Div::new(vu),
            wide,
            small,
            row_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_division_finds_multiples_only() {
        for d in [
            1u64,
            2,
            3,
            10,
            10_000_000,
            60_000_000_000,
            1 << 62,
            i64::MAX as u64,
        ] {
            let div = Div::new(d);
            let d = d as i64;
            for q in [0i64, 1, -1, 7, -123_456, i64::MAX / d, i64::MIN / d] {
                let Some(v) = q.checked_mul(d) else { continue };
                assert_eq!(div.signed(v), Some(q), "{v} / {d}");
                if d > 1 {
                    for e in [1i64, -1] {
                        if let Some(w) = v.checked_add(e) {
                            assert_eq!(div.signed(w), None, "{w} / {d}");
                        }
                    }
                }
            }
            assert_eq!(div.signed(i64::MIN).is_some(), i64::MIN % d == 0);
            assert_eq!(div.signed(i64::MAX).is_some(), i64::MAX % d == 0);
            let d = d as u128;
            for v in [
                0u128,
                d,
                5 * d,
                d + 1,
                (1u128 << 96) - 1,
                u128::from(u64::MAX),
            ] {
                for v in [v, v << 30, (v << 30) + 1] {
                    let want = (v % d == 0).then(|| v / d);
                    assert_eq!(div.unsigned(v), want, "{v} / {d}");
                }
            }
        }
    }

    #[test]
    fn gcd_and_units() {
        assert_eq!(gcd(0, 0), 0);
        assert_eq!(gcd(0, 12), 12);
        assert_eq!(gcd(18, 12), 6);
        assert_eq!(gcd(1 << 63, 1 << 62), 1 << 62);
        assert_eq!(gcd(3 << 100, 9 << 90), 3 << 90);
        assert_eq!(gcd(3 << 100, 6), 6);
        assert_eq!(unit_for(0), 1);
        assert_eq!(unit_for(1 << 63), 1 << 62);
        assert_eq!(unit_for(3 << 90), 1 << 62);
        assert_eq!(unit_for(3 << 20), 3 << 20);
        let mut g = Gcd::new();
        for v in [0u128, 600, 900, 1500, 0, 75 << 100] {
            g.add(v);
        }
        assert_eq!(g.unit(), 300);
    }

    #[test]
    fn the_full_layout_holds_anything_in_64_bytes() {
        let l = Layout::full();
        assert_eq!(l.row_bytes(), MAX_ROW_BYTES);
        let b = BarRecord {
            kind: 0xff,
            tf: 7,
            flags: 0xffff,
            symbol: u32::MAX,
            open_ts: i64::MIN,
            open: i64::MAX,
            high: i64::MIN,
            low: -1,
            close: i64::MIN + 1,
            volume_lo: u64::MAX,
            volume_hi: u32::MAX,
            count: u32::MAX,
        };
        let r = l.encode(&b).expect("fits");
        let mut row = [0xa5u8; ROW_VIEW];
        l.write(&r, &mut row);
        assert_eq!(l.decode(&row), b);
        assert_eq!(
            row[MAX_ROW_BYTES..],
            [0xa5; 8],
            "bytes after the row are kept"
        );
    }
}
