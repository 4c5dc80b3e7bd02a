//! Latency histograms: moving them between processes, summarizing them, and writing them
//! in HdrHistogram's percentile-distribution text format (`.hgrm`).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::E2eError;

/// Highest value the histograms hold exactly (larger values are clamped): one minute, ns.
pub const MAX_NS: u64 = 60_000_000_000;
/// Significant decimal digits of every histogram.
pub const SIGFIG: u8 = 3;
/// ns per unit of the `.hgrm` value column (microseconds).
pub const HGRM_UNIT_NS: f64 = 1000.0;

/// An empty histogram of nanosecond values.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, SIGFIG).expect("valid histogram bounds")
}

/// Records `ns` (at least 1, clamped to [`MAX_NS`]).
#[inline]
pub fn record(h: &mut Histogram<u64>, ns: i64) {
    h.saturating_record(ns.clamp(1, MAX_NS as i64) as u64);
}

/// A histogram as the list of its recorded buckets, for JSON between processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistData {
    /// `(highest equivalent value, count)` of every non-empty bucket, in value order.
    pub buckets: Vec<(u64, u64)>,
}

impl HistData {
    /// The buckets of `h`.
    pub fn from_histogram(h: &Histogram<u64>) -> HistData {
        HistData {
            buckets: h
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }

    /// The histogram again (each bucket's count at its highest equivalent value, which
    /// lands in the same bucket).
    pub fn to_histogram(&self) -> Result<Histogram<u64>, E2eError> {
        let mut h = new_histogram();
        for &(v, n) in &self.buckets {
            h.record_n(v.clamp(1, MAX_NS), n)
                .map_err(|e| E2eError::Histogram(format!("{e:?}")))?;
        }
        Ok(h)
    }
}

/// The percentiles the report prints, ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// Largest value.
    pub max: u64,
    /// Mean, rounded.
    pub mean: u64,
}

impl Percentiles {
    /// The percentiles of `h` (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            p99_99: h.value_at_quantile(0.9999),
            max: h.max(),
            mean: h.mean().round() as u64,
        }
    }

    /// The value at each reported quantile, with its label.
    pub fn labelled(&self) -> [(&'static str, u64); 6] {
        [
            ("p50", self.p50),
            ("p90", self.p90),
            ("p99", self.p99),
            ("p99.9", self.p99_9),
            ("p99.99", self.p99_99),
            ("max", self.max),
        ]
    }
}

/// Sub-buckets per bucket of a histogram with [`SIGFIG`] significant digits.
fn sub_bucket_count() -> u64 {
    (2 * 10u64.pow(u32::from(SIGFIG))).next_power_of_two()
}

/// `h` as HdrHistogram's percentile distribution text, values in µs: a header, one row
/// per step (`Value Percentile TotalCount 1/(1-Percentile)`, five steps per halving of
/// the distance to 100 %), the last row without the last column, then the summary lines.
/// The format `HistogramLogProcessor` writes and HdrHistogram's plotter reads.
pub fn hgrm(h: &Histogram<u64>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / HGRM_UNIT_NS;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / HGRM_UNIT_NS,
            h.stdev() / HGRM_UNIT_NS,
            h.max() as f64 / HGRM_UNIT_NS,
        )
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_bucket_count()
    );
    out
}

/// `(quantile, value ns)` points of `h` for a percentile plot, five per halving of the
/// distance to 100 %, the 100 % point left out.
pub fn plot_points(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_quantiles(5)
        .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
        .filter(|&(q, _)| q < 1.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_the_trip_and_prints_as_hgrm() {
        let mut h = new_histogram();
        for i in 1..=10_000i64 {
            record(&mut h, i * 37);
        }
        let back = HistData::from_histogram(&h).to_histogram().unwrap();
        assert_eq!(back.len(), h.len());
        assert_eq!(Percentiles::of(&back), Percentiles::of(&h));
        let text = hgrm(&h);
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            head,
            ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        );
        assert_eq!(lines.next(), Some(""));
        let rows: Vec<Vec<f64>> = lines
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|c| c.parse().unwrap()).collect())
            .collect();
        assert!(rows.len() > 20);
        assert_eq!(rows.last().unwrap()[1], 1.0);
        assert_eq!(rows.last().unwrap()[2], 10_000.0);
        assert!(rows
            .windows(2)
            .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1]));
        assert!(text.contains("#[Max     ="));
        assert!(!plot_points(&h).is_empty());
    }
}
