//! The report: per rate and system the figures of the run as JSON (`summary.json`), the
//! ratios between systems, the targets, and the same as a few lines of text.

use serde_json::{json, Map, Value};
use tickforge::stat::fmt_ns;

use super::compare::{compare_bars, Comparison};
use super::hist::{HistData, Percentiles};
use super::steps::{BaselineRun, FloorRun, TickforgeRun};
use super::wire::FrameCursor;
use super::{E2eError, Rate};

/// Everything one rate step produced: each system's run, or why it failed.
#[derive(Debug)]
pub struct StepResults {
    /// The rate.
    pub rate: Rate,
    /// Exchange time of frame 0, ms.
    pub t0_ms: i64,
    /// tickforge's run.
    pub tickforge: Result<TickforgeRun, String>,
    /// The baseline's run.
    pub baseline: Result<BaselineRun, String>,
    /// The floor's run.
    pub floor: Result<FloorRun, String>,
}

/// Messages per second over `[from_ns, to_ns]`.
fn per_sec(messages: u64, from_ns: i64, to_ns: i64) -> f64 {
    let secs = (to_ns - from_ns) as f64 / 1e9;
    if secs > 0.0 {
        messages as f64 / secs
    } else {
        0.0
    }
}

/// CPU ns per message, if measured.
fn per_msg(cpu_ns: Option<u64>, messages: u64) -> Value {
    match cpu_ns {
        Some(c) if messages > 0 => json!((c as f64 / messages as f64).round()),
        _ => Value::Null,
    }
}

fn percentiles(data: &HistData) -> Result<Percentiles, E2eError> {
    Ok(Percentiles::of(&data.to_histogram()?))
}

fn sent_json(s: &super::sender::SendReport) -> Value {
    json!({
        "frames": s.frames,
        "trades": s.trades,
        "quotes": s.quotes,
        "rate": s.rate().round(),
        "max_behind_ns": s.max_behind_ns,
    })
}

/// `rate.hgrm`, `rate.baseline.hgrm`, … : the file holding a system's distribution.
pub fn hgrm_name(rate: Rate, system: &str) -> String {
    match system {
        "tickforge" => format!("{}.hgrm", rate.label()),
        other => format!("{}.{other}.hgrm", rate.label()),
    }
}

fn tickforge_json(rate: Rate, r: &TickforgeRun) -> Result<Value, E2eError> {
    let messages = r.frames.min(r.send.frames);
    let dropped = r.counter("parser.dropped_trades");
    let conflated = r.counter("parser.conflated_quotes");
    let sampled = r.counter("parser.sampled_quotes");
    let throttled = r.counter("publisher.quotes_throttled");
    let mut histograms = Map::new();
    for (name, h) in &r.histograms {
        histograms.insert(
            name.clone(),
            json!({
                "count": h.count, "min": h.min, "mean": h.mean, "p50": h.p50, "p90": h.p90,
                "p99": h.p99, "p99_9": h.p999, "p99_99": h.p9999, "max": h.max,
            }),
        );
    }
    let counters: Map<String, Value> = r
        .counters
        .iter()
        .map(|(n, v)| (n.clone(), json!(v)))
        .collect();
    Ok(json!({
        "layout": r.layout,
        "sent": sent_json(&r.send),
        "messages": messages,
        "complete": r.frames >= r.send.frames,
        "events_seen": r.reader.trades + r.reader.quotes,
        "throughput": per_sec(messages, r.send.first_send_ns, r.reader.last_event_ns).round(),
        "drops": {
            "total": dropped + conflated + sampled + throttled,
            "dropped_trades": dropped,
            "conflated_quotes": conflated,
            "sampled_quotes": sampled,
            "throttled_quotes": throttled,
            "reader_lost": r.reader.lost,
        },
        "cpu_ns_per_msg": per_msg(r.cpu_ns, messages),
        "reader_cpu_ns_per_msg": per_msg(r.reader_cpu_ns, messages),
        "latency": percentiles(&r.reader.latency)?,
        "latency_from_send": percentiles(&r.reader.from_send)?,
        "engine_histograms": histograms,
        "counters": counters,
        "reader_ended": r.reader.ended,
        "hgrm": hgrm_name(rate, "tickforge"),
        "hgrm_from_send": hgrm_name(rate, "tickforge-send"),
    }))
}

fn baseline_json(rate: Rate, r: &BaselineRun) -> Result<Value, E2eError> {
    let b = &r.result;
    let messages = b.frames.saturating_sub(b.replies);
    Ok(json!({
        "sent": sent_json(&r.send),
        "messages": messages,
        "complete": messages >= r.send.frames,
        "events_seen": b.trades + b.quotes,
        "throughput": per_sec(messages, r.send.first_send_ns, b.end_ns).round(),
        "drops": { "total": b.lagged, "lagged": b.lagged },
        "late": b.late,
        "rejected": b.rejected,
        "cpu_ns_per_msg": per_msg(r.cpu_ns, messages),
        "latency": percentiles(&b.latency)?,
        "hgrm": hgrm_name(rate, "baseline"),
    }))
}

fn floor_json(rate: Rate, r: &FloorRun) -> Result<Value, E2eError> {
    let f = &r.result;
    let messages = f.frames.saturating_sub(r.send.replies);
    Ok(json!({
        "sent": sent_json(&r.send),
        "messages": messages,
        "complete": messages >= r.send.frames,
        "throughput": per_sec(messages, r.send.first_send_ns, f.end_ns).round(),
        "drops": { "total": 0 },
        "cpu_ns_per_msg": per_msg(r.cpu_ns, messages),
        "latency": percentiles(&f.latency)?,
        "hgrm": hgrm_name(rate, "floor"),
    }))
}

fn or_error(v: Result<Value, E2eError>) -> Value {
    v.unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

/// The closed bars of tickforge against the baseline's, when both ran.
fn outputs(step: &StepResults) -> Option<(Comparison, Value)> {
    let (Ok(t), Ok(b)) = (&step.tickforge, &step.baseline) else {
        return None;
    };
    let common = t.send.frames.min(b.send.frames);
    let last_ms = FrameCursor::time_ms(step.t0_ms, step.rate.nominal(), common.saturating_sub(1));
    let same = t.send.frames == b.send.frames;
    let c = compare_bars(
        &t.reader.bars,
        &b.result.bars,
        same,
        last_ms.saturating_mul(1_000_000),
    );
    let drops = t.counter("parser.dropped_trades") + t.reader.lost + b.result.lagged;
    let trades = json!({
        "tickforge": t.reader.trades,
        "baseline": b.result.trades,
        "equal": t.reader.trades == b.result.trades,
    });
    let mut v = serde_json::to_value(&c).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("comparable".into(), json!(drops == 0));
        m.insert("trades".into(), if same { trades } else { Value::Null });
    }
    Some((c, v))
}

fn p(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_f64()
}

/// tickforge against the baseline and the floor, from the rate's JSON.
fn ratios(rate: &Value) -> Value {
    let (t, b, f) = (&rate["tickforge"], &rate["baseline"], &rate["floor"]);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => json!((a / b * 100.0).round() / 100.0),
        _ => Value::Null,
    };
    let mut added = Map::new();
    for q in ["p50", "p90", "p99", "p99_9"] {
        let d = p(t, &["latency_from_send", q])
            .zip(p(f, &["latency", q]))
            .map(|(a, b)| a - b);
        added.insert(q.into(), d.map_or(Value::Null, |d| json!(d)));
    }
    json!({
        "throughput_vs_baseline": ratio(p(t, &["throughput"]), p(b, &["throughput"])),
        "p99_lower_than_baseline": ratio(p(b, &["latency", "p99"]), p(t, &["latency", "p99"])),
        "engine_p99_lower_than_baseline": ratio(
            p(b, &["latency", "p99"]),
            p(t, &["engine_histograms", "e2e_latency_ns", "p99"]),
        ),
        "added_over_floor_ns": added,
    })
}

/// The JSON of one rate step.
pub fn rate_json(step: &StepResults) -> Value {
    let failed = |e: &String| Ok(json!({ "error": e }));
    let t = step
        .tickforge
        .as_ref()
        .map_or_else(failed, |r| tickforge_json(step.rate, r));
    let b = step
        .baseline
        .as_ref()
        .map_or_else(failed, |r| baseline_json(step.rate, r));
    let f = step
        .floor
        .as_ref()
        .map_or_else(failed, |r| floor_json(step.rate, r));
    let mut v = json!({
        "rate": step.rate.label(),
        "rate_per_sec": step.rate.per_sec(),
        "tickforge": or_error(t),
        "baseline": or_error(b),
        "floor": or_error(f),
        "outputs": outputs(step).map_or(Value::Null, |(_, v)| v),
    });
    v["ratios"] = ratios(&v);
    v
}

/// The targets, checked against the measured rates (reported, not asserted).
pub fn targets(rates: &[Value]) -> Value {
    let at = |label: &str| rates.iter().find(|r| r["rate"] == label);
    let check = |name: &str, target: &str, value: Option<f64>, met: fn(f64) -> bool| {
        json!({
            "name": name,
            "target": target,
            "value": value,
            "met": value.map(met),
        })
    };
    let engine_p = |q: &str| {
        at("100000").and_then(|r| p(&r["tickforge"], &["engine_histograms", "e2e_latency_ns", q]))
    };
    let sustained = rates
        .iter()
        .filter(|r| {
            p(&r["tickforge"], &["drops", "total"]) == Some(0.0)
                && r["tickforge"]["complete"] == true
                && p(&r["tickforge"], &["drops", "reader_lost"]) == Some(0.0)
        })
        .filter_map(|r| p(&r["tickforge"], &["throughput"]))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let best = |path: &[&str]| {
        rates
            .iter()
            .filter_map(|r| p(&r["ratios"], path))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let p99_ratio = at("100000").and_then(|r| p(&r["ratios"], &["p99_lower_than_baseline"]));
    json!([
        check(
            "engine e2e_latency_ns p50 at 100k msg/s",
            "<= 2000 ns",
            engine_p("p50"),
            |v| v <= 2000.0
        ),
        check(
            "engine e2e_latency_ns p99 at 100k msg/s",
            "<= 20000 ns",
            engine_p("p99"),
            |v| v <= 20_000.0
        ),
        check(
            "highest throughput with zero drops",
            ">= 1000000 msg/s",
            sustained,
            |v| v >= 1_000_000.0
        ),
        check(
            "throughput against the baseline (best rate)",
            ">= 5x",
            best(&["throughput_vs_baseline"]),
            |v| v >= 5.0
        ),
        check(
            "reader p99 lower than the baseline's at 100k msg/s",
            ">= 10x",
            p99_ratio,
            |v| v >= 10.0
        ),
    ])
}

fn ns(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |n| fmt_ns(n.max(0.0) as u64))
}

/// A difference of latencies, signed.
fn signed_ns(v: &Value) -> String {
    match v.as_f64() {
        Some(n) if n < 0.0 => format!("-{}", fmt_ns(-n as u64)),
        Some(n) => format!("+{}", fmt_ns(n as u64)),
        None => "-".into(),
    }
}

/// A count or rate, whole.
fn whole(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |n| format!("{n:.0}"))
}

/// The summary as text lines for the terminal.
pub fn text(summary: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let rates = summary["rates"].as_array().cloned().unwrap_or_default();
    // Writing to a String cannot fail.
    for r in &rates {
        let _ = writeln!(out, "\nrate {} msg/s", r["rate"].as_str().unwrap_or("?"));
        let _ = writeln!(
            out,
            "  {:<10} {:>10} {:>10} {:>10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "system",
            "sent/s",
            "messages",
            "msg/s",
            "drops",
            "cpu/msg",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "p99.99",
            "max"
        );
        for sys in ["tickforge", "baseline", "floor"] {
            let s = &r[sys];
            if let Some(e) = s.get("error") {
                let _ = writeln!(out, "  {sys:<10} failed: {}", e.as_str().unwrap_or("?"));
                continue;
            }
            let l = &s["latency"];
            let _ = writeln!(
                out,
                "  {:<10} {:>10} {:>10} {:>10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                sys,
                whole(&s["sent"]["rate"]),
                whole(&s["messages"]),
                whole(&s["throughput"]),
                whole(&s["drops"]["total"]),
                ns(&s["cpu_ns_per_msg"]),
                ns(&l["p50"]),
                ns(&l["p90"]),
                ns(&l["p99"]),
                ns(&l["p99_9"]),
                ns(&l["p99_99"]),
                ns(&l["max"]),
            );
        }
        let t = &r["tickforge"];
        if let Some(h) = t.get("engine_histograms").and_then(|h| h.as_object()) {
            for (name, h) in h {
                let _ = writeln!(
                    out,
                    "  engine {name}: p50 {}  p99 {}  p99.9 {}  max {}",
                    ns(&h["p50"]),
                    ns(&h["p99"]),
                    ns(&h["p99_9"]),
                    ns(&h["max"])
                );
            }
            let s = &t["latency_from_send"];
            let _ = writeln!(
                out,
                "  tickforge send → visible (quotes): p50 {}  p99 {}  max {}; reader process cpu/msg {}, lost {}",
                ns(&s["p50"]),
                ns(&s["p99"]),
                ns(&s["max"]),
                ns(&t["reader_cpu_ns_per_msg"]),
                whole(&t["drops"]["reader_lost"])
            );
        }
        let o = &r["outputs"];
        if !o.is_null() {
            let _ = writeln!(
                out,
                "  outputs: {} ({} bars compared{})",
                match o["equal"].as_bool() {
                    Some(true) => "equal",
                    Some(false) => "DIFFERENT",
                    None => "no whole bar in the frames both got",
                },
                o["compared"],
                if o["comparable"] == true {
                    ""
                } else {
                    "; drops on one side"
                }
            );
        }
        let q = &r["ratios"];
        let _ = writeln!(
            out,
            "  against the baseline: throughput {}x, p99 {}x lower (engine's own p99: {}x); \
             added over the floor (send → visible): p50 {}  p99 {}",
            q["throughput_vs_baseline"],
            q["p99_lower_than_baseline"],
            q["engine_p99_lower_than_baseline"],
            signed_ns(&q["added_over_floor_ns"]["p50"]),
            signed_ns(&q["added_over_floor_ns"]["p99"])
        );
    }
    let _ = writeln!(out, "\ntargets (reported, not asserted):");
    for t in summary["targets"].as_array().cloned().unwrap_or_default() {
        let met = match t["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "  {:<48} {:>14}  value {}  {met}",
            t["name"].as_str().unwrap_or("?"),
            t["target"].as_str().unwrap_or("?"),
            t["value"]
        );
    }
    out
}
