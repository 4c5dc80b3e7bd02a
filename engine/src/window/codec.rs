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
//! | volume | `volume / v_unit` (96-bit), `v_unit` = gcd of the volumes |
//! | `count` | `count` |
//! | `flags`, `kind`, `tf`, `symbol` | nothing when constant over the window, else the value |
//!
//! Offsets are taken modulo 2^64 (2^32 for the small fields), so decoding with wrapping
//! arithmetic is exact even where an intermediate sum leaves the `i64` range; a field given
//! its full width (64 bits for a price or time, 96 for volume, the field's own width for
//! the small ones) holds any value, so a layout always exists and the widest row is
//! 64 bytes, no more than a [`BarRecord`].
//!
//! Rows are byte-aligned; fields are bit-packed inside a row in the order of the table.

use crate::record::BarRecord;

/// Bars a layout must be planned from before it stops reserving room for growth.
const WARMUP: usize = 32;

/// Extra bits beyond a window's current range, by how a field moves. A close wanders like
/// a random walk and open times only grow, so the layout must leave them room to drift;
/// each extra bit doubles the room, and a random walk needs four times as long to cross
/// twice the distance. Spreads (open, high and low relative to close), volumes and counts
/// are stationary: one bit covers a new extreme up to twice the window's.
const CLOSE_HEADROOM: u32 = 2;
const TS_HEADROOM: u32 = 3;
const SPREAD_HEADROOM: u32 = 1;

/// Minimum bits per field while warming up, so a young window does not re-encode on every
/// new bar while its ranges grow.
const WARM_TS_BITS: u32 = 16;
const WARM_CLOSE_BITS: u32 = 16;
const WARM_REL_BITS: u32 = 12;
const WARM_VOL_BITS: u32 = 24;
const WARM_COUNT_BITS: u32 = 8;

/// Longest row in bytes: 5 × 64 + 96 + 32 + 16 + 8 + 8 + 32 bits.
pub(super) const MAX_ROW_BYTES: usize = 64;

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

/// Inverse of an odd `m` modulo 2^128.
fn inverse_u128(m: u128) -> u128 {
    debug_assert!(m & 1 == 1);
    let mut x = m;
    for _ in 0..6 {
        x = x.wrapping_mul(2u128.wrapping_sub(m.wrapping_mul(x)));
    }
    x
}

/// Exact division of an `i64` by a fixed divisor `d` in `1..=i64::MAX`.
///
/// With `d = m·2^s`, `m` odd: `q = (v >> s) · m⁻¹ mod 2^64` is the quotient when `d`
/// divides `v`, and `q·d == v` without overflow holds exactly then.
#[derive(Clone, Copy, Debug)]
pub(super) struct DivI64 {
    d: i64,
    inv: u64,
    shift: u32,
}

impl DivI64 {
    fn new(d: u64) -> Self {
        debug_assert!(d >= 1 && d <= i64::MAX as u64);
        let shift = d.trailing_zeros();
        DivI64 {
            d: d as i64,
            inv: inverse_u64(d >> shift),
            shift,
        }
    }

    /// `v / d` when `d` divides `v`.
    #[inline(always)]
    fn div(&self, v: i64) -> Option<i64> {
        let q = ((v >> self.shift) as u64).wrapping_mul(self.inv) as i64;
        (q.checked_mul(self.d) == Some(v)).then_some(q)
    }
}

/// Exact division of a `u128` by a fixed divisor `d >= 1`.
#[derive(Clone, Copy, Debug)]
pub(super) struct DivU128 {
    d: u128,
    inv: u128,
    shift: u32,
}

impl DivU128 {
    fn new(d: u128) -> Self {
        debug_assert!(d >= 1);
        let shift = d.trailing_zeros();
        DivU128 {
            d,
            inv: inverse_u128(d >> shift),
            shift,
        }
    }

    /// `v / d` when `d` divides `v`.
    #[inline(always)]
    fn div(&self, v: u128) -> Option<u128> {
        if v >> 64 == 0 && self.d >> 64 == 0 {
            // Fast path: the same in 64 bits (the inverse mod 2^128 is one mod 2^64 too).
            let (v, d) = (v as u64, self.d as u64);
            let q = (v >> self.shift).wrapping_mul(self.inv as u64);
            return (q.checked_mul(d) == Some(v)).then_some(u128::from(q));
        }
        let q = (v >> self.shift).wrapping_mul(self.inv);
        (q.checked_mul(self.d) == Some(v)).then_some(q)
    }
}

/// Greatest common divisor (binary); `gcd(0, x) = x`.
fn gcd_u64(mut a: u64, mut b: u64) -> u64 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
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

fn gcd_u128(mut a: u128, mut b: u128) -> u128 {
    if a >> 64 == 0 && b >> 64 == 0 {
        return u128::from(gcd_u64(a as u64, b as u64));
    }
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
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

/// A running gcd that skips the gcd computation for values it already divides.
#[derive(Clone, Copy, Debug)]
struct Gcd64 {
    g: u64,
    div: DivI64,
}

impl Gcd64 {
    fn new() -> Self {
        Gcd64 {
            g: 0,
            div: DivI64::new(1),
        }
    }

    #[inline]
    fn add(&mut self, v: i64) {
        if self.g == 0 || self.div.div(v).is_none() {
            self.g = gcd_u64(self.g, v.unsigned_abs());
            // The divisor must fit an i64; any divisor of the gcd is a valid unit.
            self.div = DivI64::new(unit_i64(self.g));
        }
    }

    fn unit(&self) -> u64 {
        unit_i64(self.g)
    }
}

/// A unit usable by [`DivI64`]: `g`, or 1 for 0, or 2^62 for 2^63.
fn unit_i64(g: u64) -> u64 {
    match g {
        0 => 1,
        g if g > i64::MAX as u64 => 1 << 62,
        g => g,
    }
}

#[derive(Clone, Copy, Debug)]
struct Gcd128 {
    g: u128,
    div: DivU128,
}

impl Gcd128 {
    fn new() -> Self {
        Gcd128 {
            g: 0,
            div: DivU128::new(1),
        }
    }

    #[inline]
    fn add(&mut self, v: u128) {
        if self.g == 0 || self.div.div(v).is_none() {
            self.g = gcd_u128(self.g, v);
            self.div = DivU128::new(self.g.max(1));
        }
    }

    fn unit(&self) -> u128 {
        self.g.max(1)
    }
}

// ---------------------------------------------------------------------------------------
// Fields and layouts.
// ---------------------------------------------------------------------------------------

/// Bytes a decoder may read from a row's start: any field is one 8-byte load at a byte
/// offset below 64.
pub(super) const ROW_VIEW: usize = MAX_ROW_BYTES + 8;

/// A row with the bytes after it, as the decoder sees it.
pub(super) type RowView = [u8; ROW_VIEW];

/// The 8 bytes at `byte` (< 64) of a row, little-endian.
#[inline(always)]
fn load(row: &RowView, byte: u32) -> u64 {
    let b = (byte & 63) as usize;
    u64::from_le_bytes(row[b..b + 8].try_into().expect("8 bytes"))
}

/// A field of up to 64 bits: value (in units) = `base + raw` modulo 2^64, `raw <= mask`.
/// A field of more than 56 bits starts on a byte, so one 8-byte load always covers it.
#[derive(Clone, Copy, Debug, Default)]
struct Wide {
    base: i64,
    mask: u64,
    byte: u32,
    shift: u32,
}

impl Wide {
    #[inline(always)]
    fn raw(&self, row: &RowView) -> u64 {
        (load(row, self.byte) >> self.shift) & self.mask
    }

    #[inline(always)]
    fn get(&self, row: &RowView) -> i64 {
        self.base.wrapping_add(self.raw(row) as i64)
    }

    fn bit(&self) -> u32 {
        self.byte * 8 + self.shift
    }
}

/// A field of at most 32 bits: value = `base + raw` modulo 2^32, `raw <= mask`.
#[derive(Clone, Copy, Debug, Default)]
struct Small {
    base: u32,
    mask: u32,
    byte: u32,
    shift: u32,
}

impl Small {
    #[inline(always)]
    fn get(&self, row: &RowView) -> u32 {
        let raw = (load(row, self.byte) >> self.shift) as u32 & self.mask;
        self.base.wrapping_add(raw)
    }

    #[inline(always)]
    fn raw(&self, v: u32) -> u32 {
        v.wrapping_sub(self.base)
    }

    fn bit(&self) -> u32 {
        self.byte * 8 + self.shift
    }
}

/// The raw field values of one bar under a layout, ready to be packed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Raw {
    ts: u64,
    close: u64,
    open: u64,
    high: u64,
    low: u64,
    volume: u128,
    count: u32,
    flags: u32,
    kind: u32,
    tf: u32,
    symbol: u32,
}

/// How one window packs its bars: units, bases and field positions.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    price: DivI64,
    time: DivI64,
    vol: DivU128,
    ts: Wide,
    close: Wide,
    open: Wide,
    high: Wide,
    low: Wide,
    /// Volume in units: low 64 bits here (base 0) …
    vol_lo: Wide,
    /// … and the bits above 64, if any, here (base 0).
    vol_hi: Small,
    volume_mask: u128,
    count: Small,
    flags: Small,
    kind: Small,
    tf: Small,
    symbol: Small,
    row_bytes: u32,
}

fn mask64(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
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

/// Assigns bit offsets in row order; a field of more than 56 bits starts on a byte.
struct Placer(u32);

impl Placer {
    fn place(&mut self, bits: u32) -> (u32, u32) {
        if bits > 56 {
            self.0 = self.0.next_multiple_of(8);
        }
        let at = self.0;
        self.0 += bits;
        (at / 8, at % 8)
    }

    fn wide(&mut self, (base, bits): (i64, u32)) -> Wide {
        let (byte, shift) = self.place(bits);
        Wide {
            base,
            mask: mask64(bits),
            byte,
            shift,
        }
    }

    fn small(&mut self, (base, bits): (u32, u32)) -> Small {
        let (byte, shift) = self.place(bits);
        Small {
            base,
            mask: mask64(bits) as u32,
            byte,
            shift,
        }
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

    /// The raw values of `b`, or `None` when `b` does not fit this layout.
    #[inline]
    pub(super) fn encode(&self, b: &BarRecord) -> Option<Raw> {
        let qt = self.time.div(b.open_ts)?;
        let qc = self.price.div(b.close)?;
        let qo = self.price.div(b.open)?;
        let qh = self.price.div(b.high)?;
        let ql = self.price.div(b.low)?;
        let qv = self.vol.div(b.volume())?;
        let r = Raw {
            ts: qt.wrapping_sub(self.ts.base) as u64,
            close: qc.wrapping_sub(self.close.base) as u64,
            open: qo.wrapping_sub(qc).wrapping_sub(self.open.base) as u64,
            high: qh.wrapping_sub(qc).wrapping_sub(self.high.base) as u64,
            low: ql.wrapping_sub(qc).wrapping_sub(self.low.base) as u64,
            volume: qv,
            count: self.count.raw(b.count),
            flags: self.flags.raw(u32::from(b.flags)),
            kind: self.kind.raw(u32::from(b.kind)),
            tf: self.tf.raw(u32::from(b.tf)),
            symbol: self.symbol.raw(b.symbol),
        };
        let fits = (r.ts <= self.ts.mask)
            & (r.close <= self.close.mask)
            & (r.open <= self.open.mask)
            & (r.high <= self.high.mask)
            & (r.low <= self.low.mask)
            & (r.volume <= self.volume_mask)
            & (r.count <= self.count.mask)
            & (r.flags <= self.flags.mask)
            & (r.kind <= self.kind.mask)
            & (r.tf <= self.tf.mask)
            & (r.symbol <= self.symbol.mask);
        fits.then_some(r)
    }

    /// Packs `r` into the row at `data[at..at + row_bytes]`, leaving the bytes after it
    /// as they are; `data` has at least [`ROW_VIEW`] bytes from `at`.
    #[inline]
    pub(super) fn write(&self, r: &Raw, data: &mut [u8], at: usize) {
        let mut w = [0u64; MAX_ROW_BYTES / 8 + 2];
        let mut put = |bit: u32, v: u64| {
            let (i, s) = ((bit / 64) as usize & 7, bit % 64);
            let x = u128::from(v) << s;
            w[i] |= x as u64;
            w[i + 1] |= (x >> 64) as u64;
        };
        put(self.ts.bit(), r.ts);
        put(self.close.bit(), r.close);
        put(self.open.bit(), r.open);
        put(self.high.bit(), r.high);
        put(self.low.bit(), r.low);
        put(self.vol_lo.bit(), r.volume as u64);
        put(self.vol_hi.bit(), (r.volume >> 64) as u64);
        put(self.count.bit(), u64::from(r.count));
        put(self.flags.bit(), u64::from(r.flags));
        put(self.kind.bit(), u64::from(r.kind));
        put(self.tf.bit(), u64::from(r.tf));
        put(self.symbol.bit(), u64::from(r.symbol));
        let dst: &mut [u8; ROW_VIEW] = (&mut data[at..at + ROW_VIEW]).try_into().expect("view");
        let n = self.row_bytes as usize;
        let full = n / 8;
        for (i, word) in w.iter().enumerate().take(full) {
            dst[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        let tail = n % 8;
        if tail != 0 {
            // Keep the bytes past the row: they belong to the next row (or the padding).
            let i = full & 7;
            let old = u64::from_le_bytes(dst[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            let keep = u64::MAX << (tail * 8);
            let word = (old & keep) | (w[i] & !keep);
            dst[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
    }

    /// The bar packed at the start of `row`.
    #[inline]
    pub(super) fn decode(&self, row: &RowView) -> BarRecord {
        let qc = self.close.get(row);
        let price = |q: i64| q.wrapping_mul(self.price.d);
        let q = u128::from(self.vol_lo.raw(row)) | u128::from(self.vol_hi.get(row)) << 64;
        let volume = q.wrapping_mul(self.vol.d);
        BarRecord {
            kind: self.kind.get(row) as u8,
            tf: self.tf.get(row) as u8,
            flags: self.flags.get(row) as u16,
            symbol: self.symbol.get(row),
            open_ts: self.ts.get(row).wrapping_mul(self.time.d),
            open: price(qc.wrapping_add(self.open.get(row))),
            high: price(qc.wrapping_add(self.high.get(row))),
            low: price(qc.wrapping_add(self.low.get(row))),
            close: price(qc),
            volume_lo: volume as u64,
            volume_hi: (volume >> 64) as u32,
            count: self.count.get(row),
        }
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
    price_gcd: Gcd64,
    ts_gcd: Gcd64,
    vol_gcd: Gcd128,
    close: (i64, i64),
    rel: [(i128, i128); 3],
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
            price_gcd: Gcd64::new(),
            ts_gcd: Gcd64::new(),
            vol_gcd: Gcd128::new(),
            close: (i64::MAX, i64::MIN),
            rel: [(i128::MAX, i128::MIN); 3],
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
            self.price_gcd.add(p);
        }
        self.ts_gcd.add(b.open_ts);
        let v = b.volume();
        self.vol_gcd.add(v);
        widen(&mut self.close, b.close);
        let c = i128::from(b.close);
        for (r, x) in self.rel.iter_mut().zip([b.open, b.high, b.low]) {
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
        let empty = self.n == 0 || self.full;
        let warm = self.n < WARMUP;
        let floor = |f: u32| if warm { f } else { 0 };

        let pu = if empty { 1 } else { self.price_gcd.unit() };
        let tu = if empty { 1 } else { self.ts_gcd.unit() };
        let vu = if empty { 1 } else { self.vol_gcd.unit() };
        let (pd, td) = (i128::from(pu), i128::from(tu));

        let (close, open, high, low, ts);
        if empty {
            let full = (0, 64);
            (close, open, high, low, ts) = (full, full, full, full, full);
        } else {
            close = centered(
                i128::from(self.close.0) / pd,
                i128::from(self.close.1) / pd,
                CLOSE_HEADROOM,
                floor(WARM_CLOSE_BITS),
            );
            let rel = |(lo, hi): (i128, i128)| {
                centered(lo / pd, hi / pd, SPREAD_HEADROOM, floor(WARM_REL_BITS))
            };
            (open, high, low) = (rel(self.rel[0]), rel(self.rel[1]), rel(self.rel[2]));
            ts = upward(
                i128::from(self.ts.0) / td,
                i128::from(self.ts.1) / td,
                TS_HEADROOM,
                floor(WARM_TS_BITS),
            );
        }
        let vol_bits = if empty {
            96
        } else {
            (bits_of(self.vol_max / vu) + SPREAD_HEADROOM)
                .max(floor(WARM_VOL_BITS))
                .min(96)
        };
        let count_bits = if empty {
            32
        } else {
            (bits_of(u128::from(self.count_max)) + SPREAD_HEADROOM)
                .max(floor(WARM_COUNT_BITS))
                .min(32)
        };
        let sm = |r: (u32, u32), width: u32| {
            if empty {
                (0, width)
            } else {
                small(r.0, r.1, width)
            }
        };
        let flags = sm(self.flags, 16);
        let kind = sm(self.kind, 8);
        let tf = sm(self.tf, 8);
        let symbol = sm(self.symbol, 32);

        // Positions, in row order.
        let mut at = Placer(0);
        let ts = at.wide(ts);
        let close = at.wide(close);
        let open = at.wide(open);
        let high = at.wide(high);
        let low = at.wide(low);
        let vol_lo = at.wide((0, vol_bits.min(64)));
        let vol_hi = at.small((0, vol_bits.saturating_sub(64)));
        let count = at.small((0, count_bits));
        let flags = at.small(flags);
        let kind = at.small(kind);
        let tf = at.small(tf);
        let symbol = at.small(symbol);
        let row_bytes = at.0.div_ceil(8);
        debug_assert!(row_bytes as usize <= MAX_ROW_BYTES);
        Layout {
            price: DivI64::new(pu),
            time: DivI64::new(tu),
            vol: DivU128::new(vu),
            ts,
            close,
            open,
            high,
            low,
            vol_lo,
            vol_hi,
            volume_mask: (1u128 << vol_bits) - 1,
            count,
            flags,
            kind,
            tf,
            symbol,
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
            let div = DivI64::new(d);
            let d = d as i64;
            for q in [0i64, 1, -1, 7, -123_456, i64::MAX / d, i64::MIN / d] {
                let Some(v) = q.checked_mul(d) else { continue };
                assert_eq!(div.div(v), Some(q), "{v} / {d}");
                if d > 1 {
                    for e in [1i64, -1] {
                        if let Some(w) = v.checked_add(e) {
                            assert_eq!(div.div(w), None, "{w} / {d}");
                        }
                    }
                }
            }
            assert_eq!(div.div(i64::MIN).is_some(), i64::MIN % d == 0);
            assert_eq!(div.div(i64::MAX).is_some(), i64::MAX % d == 0);
        }
        for d in [1u128, 3, 10_000, 1 << 70, 3u128 << 90, (1u128 << 96) - 1] {
            let div = DivU128::new(d);
            for v in [
                0u128,
                d,
                5 * d,
                d + 1,
                (1u128 << 96) - 1,
                u128::from(u64::MAX),
            ] {
                let want = (v % d == 0).then(|| v / d);
                assert_eq!(div.div(v), want, "{v} / {d}");
            }
        }
    }

    #[test]
    fn gcd() {
        assert_eq!(gcd_u64(0, 0), 0);
        assert_eq!(gcd_u64(0, 12), 12);
        assert_eq!(gcd_u64(18, 12), 6);
        assert_eq!(gcd_u64(1 << 63, 1 << 62), 1 << 62);
        assert_eq!(gcd_u128(3 << 100, 9 << 90), 3 << 90);
        assert_eq!(gcd_u128(3 << 100, 6), 6);
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
        let mut row = [0u8; ROW_VIEW];
        l.write(&r, &mut row, 0);
        assert_eq!(l.decode(&row), b);
    }
}
