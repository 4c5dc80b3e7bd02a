//! The end-to-end bench binary runs a tiny quick mode and writes every output: the
//! summary with its keys, a percentile distribution per system, and the chart.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the bench binary with `args`, killing it after `limit`.
fn run_bench(args: &[&str], out: &Path, limit: Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_e2e"))
        .args(args)
        .arg("--out")
        .arg(out)
        .spawn()
        .expect("the bench starts");
    let give_up = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the bench") {
            assert!(status.success(), "the bench failed: {status}");
            return;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the bench did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The data rows of an `.hgrm` file: four columns (three on the last row).
fn hgrm_rows(text: &str) -> Vec<Vec<f64>> {
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        head,
        ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    );
    lines
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_whitespace()
                .map(|c| c.parse().expect("a number"))
                .collect()
        })
        .collect()
}

#[test]
fn a_quick_run_writes_the_summary_the_distributions_and_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_bench(
        &["--quick", "--rates", "2000", "--secs", "1"],
        &out,
        Duration::from_secs(120),
    );

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "cores",
        "kernel",
        "cpu_model",
        "git_commit",
        "loadavg_start",
    ] {
        assert!(summary["machine"].get(key).is_some(), "machine.{key}");
    }
    assert_eq!(summary["settings"]["quick"], true);
    let rates = summary["rates"].as_array().expect("rates");
    assert_eq!(rates.len(), 1);
    let r = &rates[0];
    assert_eq!(r["rate"], "2000");
    for system in ["tickforge", "baseline", "floor"] {
        let s = &r[system];
        assert!(s.get("error").is_none(), "{system}: {}", s["error"]);
        for key in ["throughput", "drops", "cpu_ns_per_msg", "messages", "hgrm"] {
            assert!(s.get(key).is_some(), "{system}.{key}");
        }
        for q in ["p50", "p90", "p99", "p99_9", "p99_99", "max"] {
            assert!(s["latency"][q].is_u64(), "{system}.latency.{q}");
        }
        assert!(s["messages"].as_u64().unwrap() > 0, "{system} got messages");
        assert_eq!(
            s["messages"], s["sent"]["frames"],
            "{system} read every frame"
        );
    }
    let t = &r["tickforge"];
    assert!(
        t["engine_histograms"]["e2e_latency_ns"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(t["drops"]["total"], 0);
    assert!(t["counters"]["reader.frames"].as_u64().unwrap() > 0);
    let o = &r["outputs"];
    assert!(o["compared"].is_u64(), "{o}");
    if o["comparable"] == true && o["compared"].as_u64() > Some(0) {
        assert_eq!(o["equal"], true, "same frames, same bars: {o}");
    }
    for key in [
        "throughput_vs_baseline",
        "p99_lower_than_baseline",
        "added_over_floor_ns",
    ] {
        assert!(r["ratios"].get(key).is_some(), "ratios.{key}");
    }
    assert!(summary["targets"].as_array().is_some_and(|t| !t.is_empty()));

    for file in ["2000.hgrm", "2000.baseline.hgrm", "2000.floor.hgrm"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        let rows = hgrm_rows(&text);
        assert!(rows.len() > 5, "{file}: {} rows", rows.len());
        assert!(rows.iter().all(|r| r.len() == 4 || r.len() == 3), "{file}");
        assert_eq!(rows.last().unwrap()[1], 1.0, "{file} ends at 100 %");
        assert!(text.contains("#[Mean"), "{file}");
    }

    let svg = std::fs::read_to_string(out.join("latency.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    assert_eq!(svg.matches("<path").count(), 3, "one path per system");
}
