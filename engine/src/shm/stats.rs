//! `NAME.stats`: named counters and histogram snapshots, readable live by other processes.
//!
//! The names are declared up front in a [`StatsLayout`]. The writer hands out one
//! [`Counter`] or [`HistogramSlot`] per entry, exactly once: each entry has exactly one
//! writer, which is what lets a counter be bumped with a plain load and store instead of
//! a locked read-modify-write.
//!
//! Layout (native-endian), after the common header fields (bytes 0..128, see
//! [`super::header`]):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 128 | 4 | counter count N (u32) |
//! | 132 | 4 | histogram count M (u32) |
//! | 136 | 8 | counters offset (u64) = 4096 |
//! | 144 | 8 | histograms offset (u64) = 4096 + 64N |
//! | 152 | 4 | counter entry size (u32) = 64 |
//! | 156 | 4 | histogram entry size (u32) = 128 |
//! | 160 | 3936 | reserved, zero |
//!
//! Counter entry, 64 bytes (one cache line, so counters of different stages never share
//! a line):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 48 | name, UTF-8, zero padded |
//! | 48 | 8 | value (u64, atomic; one writer, relaxed) |
//! | 56 | 8 | reserved, zero |
//!
//! Histogram entry, 128 bytes; the nine values are behind the seqlock word (see
//! [`super::seqlock`]: 0 never published, odd being written), all in nanoseconds except
//! the count:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 48 | name, UTF-8, zero padded |
//! | 48 | 8 | seqlock word (u64) |
//! | 56 | 8 | count |
//! | 64 | 8 | min |
//! | 72 | 8 | max |
//! | 80 | 8 | mean (rounded) |
//! | 88 | 8 | p50 |
//! | 96 | 8 | p90 |
//! | 104 | 8 | p99 |
//! | 112 | 8 | p99.9 |
//! | 120 | 8 | p99.99 |

use std::collections::HashSet;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hdrhistogram::Histogram;

use super::file::{ReaderMap, WriterMap};
use super::header::{corrupt, off, HEADER_SIZE};
use super::seqlock::{self, SeqRead};
use super::{reader_common, FileKind, ShmConfig, ShmError};

/// Longest counter or histogram name, in bytes.
pub const MAX_STAT_NAME: usize = 48;

const COUNTER_ENTRY: usize = 64;
const HISTOGRAM_ENTRY: usize = 128;
/// Offset of a counter's value in its entry.
const COUNTER_VALUE: usize = 48;
/// Offset of a histogram's seqlock word in its entry; the 9 values follow.
const HISTOGRAM_SEQ: usize = 48;
const SNAPSHOT_WORDS: usize = 9;

/// Byte offsets of the stats header fields.
mod soff {
    use super::off::EXT;
    pub const COUNTERS: usize = EXT;
    pub const HISTOGRAMS: usize = EXT + 4;
    pub const COUNTERS_OFF: usize = EXT + 8;
    pub const HISTOGRAMS_OFF: usize = EXT + 16;
    pub const COUNTER_ENTRY: usize = EXT + 24;
    pub const HISTOGRAM_ENTRY: usize = EXT + 28;
}

/// The counters and histograms of a stats file, declared before it is created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsLayout {
    /// Counter names (e.g. `feed0.messages`, `parser.rejected.bad_decimal`): 1 to 48
    /// bytes, unique.
    pub counters: Vec<String>,
    /// Histogram names: 1 to 48 bytes, unique.
    pub histograms: Vec<String>,
}

impl StatsLayout {
    /// A layout with these counter and histogram names.
    pub fn new(counters: &[&str], histograms: &[&str]) -> StatsLayout {
        StatsLayout {
            counters: counters.iter().map(|s| s.to_string()).collect(),
            histograms: histograms.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn validate(&self) -> Result<(), ShmError> {
        for list in [&self.counters, &self.histograms] {
            let mut seen = HashSet::new();
            for name in list {
                if name.is_empty() || name.len() > MAX_STAT_NAME || name.contains('\0') {
                    return Err(ShmError::InvalidConfig(format!(
                        "stats name {name:?} must be 1 to {MAX_STAT_NAME} bytes without NUL"
                    )));
                }
                if !seen.insert(name.as_str()) {
                    return Err(ShmError::InvalidConfig(format!(
                        "stats name {name:?} is declared twice"
                    )));
                }
            }
        }
        if u32::try_from(self.counters.len()).is_err()
            || u32::try_from(self.histograms.len()).is_err()
        {
            return Err(ShmError::InvalidConfig("too many stats entries".into()));
        }
        Ok(())
    }
}

/// A histogram summary: count and latencies in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Number of values recorded.
    pub count: u64,
    /// Smallest value.
    pub min: u64,
    /// Largest value.
    pub max: u64,
    /// Mean, rounded.
    pub mean: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
}

impl HistogramSnapshot {
    /// The summary of a histogram of nanosecond values.
    pub fn from_histogram(h: &Histogram<u64>) -> HistogramSnapshot {
        HistogramSnapshot {
            count: h.len(),
            min: h.min(),
            max: h.max(),
            mean: h.mean().round() as u64,
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
        }
    }

    fn to_words(self) -> [u64; SNAPSHOT_WORDS] {
        [
            self.count, self.min, self.max, self.mean, self.p50, self.p90, self.p99, self.p999,
            self.p9999,
        ]
    }

    fn from_words(w: &[u64; SNAPSHOT_WORDS]) -> HistogramSnapshot {
        HistogramSnapshot {
            count: w[0],
            min: w[1],
            max: w[2],
            mean: w[3],
            p50: w[4],
            p90: w[5],
            p99: w[6],
            p999: w[7],
            p9999: w[8],
        }
    }
}

/// Zero-padded name field.
fn encode_name(name: &str) -> [u8; MAX_STAT_NAME] {
    let mut b = [0u8; MAX_STAT_NAME];
    b[..name.len()].copy_from_slice(name.as_bytes());
    b
}

/// A name field, if valid UTF-8 and not empty.
fn decode_name(b: &[u8; MAX_STAT_NAME]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(MAX_STAT_NAME);
    if end == 0 {
        return None;
    }
    std::str::from_utf8(&b[..end]).ok().map(str::to_string)
}

/// The writer of `NAME.stats`: creates the file and hands out the entry handles.
///
/// The file is marked stopped when the writer and every handle taken from it are dropped.
pub struct StatsWriter {
    counters: Vec<(String, bool)>,
    histograms: Vec<(String, bool)>,
    counters_off: usize,
    histograms_off: usize,
    map: Arc<WriterMap>,
}

impl StatsWriter {
    /// Creates (or replaces) `cfg.dir/NAME.stats` with the entries of `layout`, all zero.
    pub fn create(cfg: &ShmConfig, layout: &StatsLayout) -> Result<StatsWriter, ShmError> {
        cfg.validate()?;
        layout.validate()?;
        let (nc, nh) = (layout.counters.len(), layout.histograms.len());
        let counters_off = HEADER_SIZE;
        let histograms_off = counters_off + COUNTER_ENTRY * nc;
        let size = (histograms_off + HISTOGRAM_ENTRY * nh).div_ceil(4096) * 4096;
        let map = WriterMap::create(cfg, FileKind::Stats, size, |r| {
            let relaxed = Ordering::Relaxed;
            r.u32(soff::COUNTERS).store(nc as u32, relaxed);
            r.u32(soff::HISTOGRAMS).store(nh as u32, relaxed);
            r.u64(soff::COUNTERS_OFF)
                .store(counters_off as u64, relaxed);
            r.u64(soff::HISTOGRAMS_OFF)
                .store(histograms_off as u64, relaxed);
            r.u32(soff::COUNTER_ENTRY)
                .store(COUNTER_ENTRY as u32, relaxed);
            r.u32(soff::HISTOGRAM_ENTRY)
                .store(HISTOGRAM_ENTRY as u32, relaxed);
            for (i, name) in layout.counters.iter().enumerate() {
                r.write_bytes(counters_off + COUNTER_ENTRY * i, &encode_name(name));
            }
            for (i, name) in layout.histograms.iter().enumerate() {
                r.write_bytes(histograms_off + HISTOGRAM_ENTRY * i, &encode_name(name));
            }
        })?;
        let untaken = |v: &Vec<String>| v.iter().map(|n| (n.clone(), false)).collect();
        Ok(StatsWriter {
            counters: untaken(&layout.counters),
            histograms: untaken(&layout.histograms),
            counters_off,
            histograms_off,
            map: Arc::new(map),
        })
    }

    /// The handle of the counter `name`; each handle can be taken once.
    pub fn counter(&mut self, name: &str) -> Result<Counter, ShmError> {
        let index = self
            .counters
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| ShmError::UnknownStat {
                name: name.to_string(),
            })?;
        self.counter_at(index)
    }

    /// The handle of the counter at `index` in the layout; each handle can be taken once.
    pub fn counter_at(&mut self, index: usize) -> Result<Counter, ShmError> {
        let (name, taken) = self
            .counters
            .get_mut(index)
            .ok_or_else(|| ShmError::UnknownStat {
                name: format!("#{index}"),
            })?;
        if *taken {
            return Err(ShmError::HandleTaken { name: name.clone() });
        }
        *taken = true;
        let off = self.counters_off + COUNTER_ENTRY * index + COUNTER_VALUE;
        let value: *const AtomicU64 = self.map.region().u64(off);
        Ok(Counter {
            value,
            _map: self.map.clone(),
            _not_sync: PhantomData,
        })
    }

    /// The handle of the histogram `name`; each handle can be taken once.
    pub fn histogram(&mut self, name: &str) -> Result<HistogramSlot, ShmError> {
        let index = self
            .histograms
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| ShmError::UnknownStat {
                name: name.to_string(),
            })?;
        let (name, taken) = &mut self.histograms[index];
        if *taken {
            return Err(ShmError::HandleTaken { name: name.clone() });
        }
        *taken = true;
        Ok(HistogramSlot {
            seq: self.histograms_off + HISTOGRAM_ENTRY * index + HISTOGRAM_SEQ,
            map: self.map.clone(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.map.path()
    }

    /// This writer's incarnation.
    pub fn incarnation(&self) -> u64 {
        self.map.incarnation()
    }
}

/// A counter in `NAME.stats`, with exactly one writer: the handle is `Send` but not
/// `Sync` and not `Clone`, and the [`StatsWriter`] hands it out once, so only the thread
/// that owns it can change it. That is why [`add`](Self::add) is a relaxed load and store
/// rather than a locked read-modify-write. The handle keeps the mapping alive.
pub struct Counter {
    value: *const AtomicU64,
    _map: Arc<WriterMap>,
    // Not Sync: a `&Counter` must not reach a second thread.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

// SAFETY: `value` points into the mapping kept alive by `_map` (an `Arc`, moved along
// with the handle), and an `AtomicU64` may be used from any thread. The handle stays
// `!Sync`, so one thread at a time uses it.
unsafe impl Send for Counter {}

impl Counter {
    #[inline(always)]
    fn word(&self) -> &AtomicU64 {
        // SAFETY: `value` was taken from a bounds-checked `&AtomicU64` of the mapping that
        // `self._map` keeps alive for as long as `self`; all accesses are atomic.
        unsafe { &*self.value }
    }

    /// Adds `n` (wrapping). A relaxed load and store: only this handle writes the counter.
    #[inline(always)]
    pub fn add(&self, n: u64) {
        let w = self.word();
        w.store(w.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Adds 1.
    #[inline(always)]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The current value.
    #[inline(always)]
    pub fn get(&self) -> u64 {
        self.word().load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("value", &self.get())
            .finish()
    }
}

/// A histogram snapshot slot in `NAME.stats`, with exactly one writer (handed out once;
/// publishing takes `&mut self`). The handle keeps the mapping alive.
pub struct HistogramSlot {
    /// Byte offset of the seqlock word; the 9 values follow.
    seq: usize,
    map: Arc<WriterMap>,
}

impl HistogramSlot {
    /// Publishes the summary of `h` (values in nanoseconds).
    pub fn publish(&mut self, h: &Histogram<u64>) {
        self.publish_snapshot(&HistogramSnapshot::from_histogram(h));
    }

    /// Publishes a summary computed elsewhere.
    pub fn publish_snapshot(&mut self, s: &HistogramSnapshot) {
        let r = self.map.region();
        seqlock::write(
            r.u64(self.seq),
            r.words(self.seq + 8, SNAPSHOT_WORDS),
            &s.to_words(),
        );
    }
}

impl std::fmt::Debug for HistogramSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistogramSlot").finish_non_exhaustive()
    }
}

/// A reader of `NAME.stats`: names are read once at open, values on every call.
pub struct StatsReader {
    counters: Vec<(String, usize)>,
    histograms: Vec<(String, usize)>,
    map: ReaderMap,
}

impl StatsReader {
    /// Opens `dir/NAME.stats` and reads the entry names.
    pub fn open(dir: impl AsRef<Path>, name: &str) -> Result<StatsReader, ShmError> {
        let map = ReaderMap::open(dir.as_ref(), name, FileKind::Stats)?;
        let (r, path) = (map.region(), map.path());
        let nc = r.load_u32(soff::COUNTERS) as u64;
        let nh = r.load_u32(soff::HISTOGRAMS) as u64;
        let ce = r.load_u32(soff::COUNTER_ENTRY) as usize;
        let he = r.load_u32(soff::HISTOGRAM_ENTRY) as usize;
        if ce != COUNTER_ENTRY || he != HISTOGRAM_ENTRY {
            return Err(corrupt(
                path,
                format!("entry sizes {ce} and {he}, expected 64 and 128"),
            ));
        }
        let len = r.len() as u64;
        let coff = r.load_u64(soff::COUNTERS_OFF);
        let hoff = r.load_u64(soff::HISTOGRAMS_OFF);
        // Counts are below 2^32, so the products cannot overflow.
        let (Some(cend), Some(hend)) = (
            coff.checked_add(nc * COUNTER_ENTRY as u64),
            hoff.checked_add(nh * HISTOGRAM_ENTRY as u64),
        ) else {
            return Err(corrupt(path, "table offsets overflow"));
        };
        let ok =
            |start: u64, end: u64| start >= HEADER_SIZE as u64 && start % 64 == 0 && end <= len;
        if !ok(coff, cend) || !ok(hoff, hend) {
            return Err(corrupt(
                path,
                format!("{nc} counters and {nh} histograms do not fit the {len}-byte file"),
            ));
        }
        if nc > 0 && nh > 0 && cend > hoff && hend > coff {
            return Err(corrupt(path, "counter and histogram tables overlap"));
        }
        let read_names = |n: u64, start: u64, entry: usize| {
            (0..n as usize)
                .map(|i| {
                    let at = start as usize + entry * i;
                    let name = decode_name(&r.read_bytes(at))
                        .ok_or_else(|| corrupt(path, format!("bad stats name at {at}")))?;
                    Ok((name, at))
                })
                .collect::<Result<Vec<_>, ShmError>>()
        };
        let counters = read_names(nc, coff, COUNTER_ENTRY)?;
        let histograms = read_names(nh, hoff, HISTOGRAM_ENTRY)?;
        Ok(StatsReader {
            counters,
            histograms,
            map,
        })
    }

    /// Every counter with its current value, in layout order.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let r = self.map.region();
        self.counters
            .iter()
            .map(|(n, at)| (n.clone(), r.load_u64(at + COUNTER_VALUE)))
            .collect()
    }

    /// The current value of the counter `name`.
    pub fn counter(&self, name: &str) -> Option<u64> {
        let (_, at) = self.counters.iter().find(|(n, _)| n == name)?;
        Some(self.map.region().load_u64(at + COUNTER_VALUE))
    }

    /// The names of the counters, in layout order.
    pub fn counter_names(&self) -> Vec<String> {
        self.counters.iter().map(|(n, _)| n.clone()).collect()
    }

    fn snapshot(&self, at: usize) -> Option<HistogramSnapshot> {
        let r = self.map.region();
        let mut words = [0u64; SNAPSHOT_WORDS];
        let seq = &r.words(at + HISTOGRAM_SEQ, 1)[0];
        let data = r.words(at + HISTOGRAM_SEQ + 8, SNAPSHOT_WORDS);
        match seqlock::read(seq, data, &mut words) {
            SeqRead::Ok => Some(HistogramSnapshot::from_words(&words)),
            SeqRead::Never => Some(HistogramSnapshot::default()),
            SeqRead::Busy => None,
        }
    }

    /// Every histogram with its latest snapshot (all zero if never published), in layout
    /// order. An entry whose writer was mid-publish on every attempt is left out.
    pub fn histograms(&self) -> Vec<(String, HistogramSnapshot)> {
        self.histograms
            .iter()
            .filter_map(|(n, at)| Some((n.clone(), self.snapshot(*at)?)))
            .collect()
    }

    /// The latest snapshot of the histogram `name` (all zero if never published); `None`
    /// if there is no such histogram or its writer was mid-publish on every attempt.
    pub fn histogram(&self, name: &str) -> Option<HistogramSnapshot> {
        let (_, at) = self.histograms.iter().find(|(n, _)| n == name)?;
        self.snapshot(*at)
    }
}

reader_common!(StatsReader);
