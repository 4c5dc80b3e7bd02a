//! The whole engine as a user runs it: `tickforge run` against the built-in simulator over
//! a real loopback WebSocket, with `tickforge tail` and `tickforge stat` as separate
//! processes reading its shared memory.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_tickforge");

fn stat_json(dir: &Path) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["stat", "--json", "--name", "e2e", "--shm-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn run_tail_and_stat_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("e2e.toml");
    std::fs::write(
        &cfg,
        format!(
            "[engine]\nname = \"e2e\"\nshm_dir = \"{}\"\n[signals]\nbreakout_lookback = 2\n\
             [sim]\nrate = 3000\nmalformed_rate = 0.02\n[[feeds]]\nurl = \"sim\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let run = common::spawn_run(&cfg, dir.path(), "6", true);
    common::wait_for_file(&dir.path().join("e2e.stats"), Duration::from_secs(20));
    common::wait_for_file(&dir.path().join("e2e.events"), Duration::from_secs(20));

    let tail = Command::new(BIN)
        .args([
            "tail",
            "--json",
            "--name",
            "e2e",
            "--duration",
            "4.5",
            "--shm-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let first = stat_json(dir.path());
    std::thread::sleep(Duration::from_millis(1000));
    let second = stat_json(dir.path());

    let tail = tail.wait_with_output().unwrap();
    let run = run.wait_with_output().unwrap();
    let run_out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "run failed: {run_out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // Status lines, then a summary with latency percentiles.
    assert!(run_out.contains("layout:"), "{run_out}");
    assert!(
        run_out.lines().filter(|l| l.contains("msg/s")).count() >= 3,
        "{run_out}"
    );
    assert!(
        run_out.contains("summary") && run_out.contains("p99"),
        "{run_out}"
    );

    // Counters move between two reads by another process.
    let frames = |v: &serde_json::Value| v["reader.frames"].as_u64().unwrap();
    assert!(frames(&second) > frames(&first), "{first} vs {second}");
    assert!(second["e2e_latency_ns"]["count"].as_u64().unwrap() > 0);
    // The simulator's malformed frames are counted as rejected, and the feed stayed up.
    assert!(second["parser.rejected"].as_u64().unwrap() > 0, "{second}");
    assert_eq!(second["reader.disconnects"].as_u64().unwrap(), 0);

    // The tail saw every kind, in sequence, with no gap.
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&tail.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 1000, "only {} events tailed", lines.len());
    for kind in ["trade", "quote", "bar", "signal"] {
        assert!(
            lines.iter().any(|l| l["kind"] == kind),
            "no {kind} event tailed"
        );
    }
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "sequence gap in tail output"
    );
    let tail_err = String::from_utf8_lossy(&tail.stderr);
    assert!(tail_err.contains(" 0 lost"), "{tail_err}");

    // Owner-only files.
    for ext in ["events", "latest", "stats"] {
        let mode = std::fs::metadata(dir.path().join(format!("e2e.{ext}")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "e2e.{ext}");
    }
}

#[test]
fn a_config_error_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[engine]\ntimeframes = [\"7x\"]\n").unwrap();
    let out = Command::new(BIN)
        .args(["run", "--no-journal"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid timeframe"), "{err}");
}
