//! The latency chart: every series' percentile distribution on one SVG, written by hand.
//!
//! As HdrHistogram's plotter draws it: the x axis is the percentile on a log scale of
//! `1 / (1 - percentile)` (0 %, 90 %, 99 %, 99.9 %, … equally spaced), so the tail gets
//! as much room as the body. The y axis is latency on a log scale too, since the systems
//! compared differ by orders of magnitude. Colour says the rate, the stroke says the
//! system: tickforge solid, baseline dashed, floor dotted. Each series is one `<path>`;
//! axes, grid and legend use `<line>` and `<text>` only.

use std::fmt::Write as _;

/// One line of the chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Which rate (picks the colour).
    pub rate_index: usize,
    /// Which system (picks the stroke): 0 tickforge, 1 baseline, 2 floor.
    pub system: usize,
    /// `(quantile, latency ns)` points, quantiles below 1.
    pub points: Vec<(f64, u64)>,
}

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 600.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// Decades of `1 / (1 - percentile)` on the x axis: up to 99.9999 %.
const X_DECADES: f64 = 6.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];
const STROKES: [(&str, f64); 3] = [("", 2.2), ("8 4", 1.6), ("2 3", 1.6)];

fn x_of(q: f64) -> f64 {
    let d = (1.0 / (1.0 - q.clamp(0.0, 0.999_999_9)))
        .log10()
        .min(X_DECADES);
    LEFT + d / X_DECADES * (WIDTH - LEFT - RIGHT)
}

/// Text-safe: the labels are ours, but escape anyway.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A latency in ns as short text: `850 ns`, `12 µs`, `3 ms`, `2 s`.
fn fmt_ns(ns: f64) -> String {
    match ns {
        n if n < 1e3 => format!("{n:.0} ns"),
        n if n < 1e6 => format!("{:.0} µs", n / 1e3),
        n if n < 1e9 => format!("{:.0} ms", n / 1e6),
        n => format!("{:.0} s", n / 1e9),
    }
}

/// The chart of `series`, titled `title`, with a line of small print under the title.
pub fn chart(title: &str, note: &str, series: &[Series]) -> String {
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1.max(1)));
    let (lo, hi) = values.fold((u64::MAX, 1), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let lo = if lo == u64::MAX { 100 } else { lo };
    let (d_lo, mut d_hi) = ((lo as f64).log10().floor(), (hi as f64).log10().ceil());
    if d_hi <= d_lo {
        d_hi = d_lo + 1.0;
    }
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |ns: u64| {
        let d = (ns.max(1) as f64).log10().clamp(d_lo, d_hi);
        TOP + plot_h - (d - d_lo) / (d_hi - d_lo) * plot_h
    };
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="40" font-size="11" fill="#555" text-anchor="middle">{}</text>"##,
        (LEFT + WIDTH - RIGHT) / 2.0,
        escape(note)
    );
    // Grid and axis labels.
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, TOP + plot_h);
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
        .iter()
        .enumerate()
    {
        let x = LEFT + i as f64 / X_DECADES * (x1 - x0);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
            y1 + 18.0
        );
    }
    let mut d = d_lo;
    while d <= d_hi + 1e-9 {
        let y = y_of(10f64.powf(d) as u64);
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            fmt_ns(10f64.powf(d))
        );
        d += 1.0;
    }
    let _ = writeln!(
        out,
        r##"<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="#333"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile</text>"#,
        (x0 + x1) / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        out,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">latency</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
    // Series and legend.
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[s.rate_index % COLOURS.len()];
        let (dash, width) = STROKES[s.system.min(STROKES.len() - 1)];
        let dash_attr = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        let mut d = String::new();
        for (k, &(q, ns)) in s.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1} ",
                if k == 0 { "M" } else { "L" },
                x_of(q),
                y_of(ns)
            );
        }
        let _ = writeln!(
            out,
            r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="{width}"{dash_attr}><title>{}</title></path>"#,
            d.trim_end(),
            escape(&s.label)
        );
        let ly = TOP + 10.0 + i as f64 * 18.0;
        let lx = x1 + 20.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="{width}"{dash_attr}/><text x="{}" y="{}">{}</text>"#,
            lx + 30.0,
            lx + 38.0,
            ly + 4.0,
            escape(&s.label)
        );
    }
    let _ = writeln!(out, "</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_path_per_series() {
        let s = |label: &str, system, f: u64| Series {
            label: label.into(),
            rate_index: 0,
            system,
            points: vec![(0.0, 100 * f), (0.9, 1000 * f), (0.999, 5000 * f)],
        };
        let svg = chart("t <1>", "n", &[s("a", 0, 1), s("b", 1, 100), s("c", 2, 3)]);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<path").count(), 3);
        assert!(svg.contains("t &lt;1&gt;"));
        assert!(svg.contains("99.99%"));
        assert!(!chart("empty", "", &[]).contains("<path"));
    }
}
