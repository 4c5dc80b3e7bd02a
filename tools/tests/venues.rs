//! Every venue end to end: `tickforge run` with one simulator per venue protocol, each
//! speaking its venue's format over a real loopback WebSocket, and `tickforge tail` and
//! `tickforge stat` as separate processes reading the shared memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tickforge_engine::symbol::venue;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_tickforge");

fn all_venues() -> Vec<&'static str> {
    (1..=venue::OKX).map(venue::name).collect()
}

/// A config with one simulated feed per venue.
fn config(dir: &Path, name: &str, malformed_rate: f64, extra_feed_keys: &str) -> String {
    let mut cfg = format!(
        "[engine]\nname = \"{name}\"\nshm_dir = \"{}\"\n\
         [sim]\nrate = 1500\nmalformed_rate = {malformed_rate}\n",
        dir.display()
    );
    for v in all_venues() {
        cfg.push_str(&format!(
            "[[feeds]]\nname = \"{v}\"\nvenue = \"{v}\"\nurl = \"sim\"\n{extra_feed_keys}"
        ));
    }
    cfg
}

fn stat_json(dir: &Path, name: &str) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["stat", "--json", "--name", name, "--shm-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_venue_shows_trades_quotes_and_bars_in_tail() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("venues.toml");
    std::fs::write(&cfg, config(dir.path(), "venues", 0.0, "")).unwrap();
    let run = common::spawn_run(&cfg, dir.path(), "5", true);
    common::wait_for_file(&dir.path().join("venues.events"), Duration::from_secs(20));
    let tail = Command::new(BIN)
        .args([
            "tail",
            "--json",
            "--name",
            "venues",
            "--duration",
            "4",
            "--shm-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stats = stat_json(dir.path(), "venues");
    let run = run.wait_with_output().unwrap();
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    // (venue, kind) → events tailed.
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in String::from_utf8_lossy(&tail.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let (Some(venue), Some(kind)) = (v["venue"].as_str(), v["kind"].as_str()) {
            *seen.entry((venue.into(), kind.into())).or_default() += 1;
        }
    }
    for v in all_venues() {
        for kind in ["trade", "quote", "bar"] {
            assert!(
                seen.get(&(v.to_string(), kind.to_string()))
                    .copied()
                    .unwrap_or(0)
                    > 0,
                "no {kind} from {v}: {seen:?}"
            );
        }
    }
    // Well-formed simulators: nothing rejected, nothing dropped, no reconnect.
    assert_eq!(stats["parser.rejected"], 0, "{stats}");
    assert_eq!(stats["reader.disconnects"], 0, "{stats}");
}

/// Polls `stat` until `done` holds (at most 30 s), then stops the engine; returns the
/// last counters.
fn stats_until(
    dir: &Path,
    name: &str,
    mut run: std::process::Child,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    common::wait_for_file(&dir.join(format!("{name}.stats")), Duration::from_secs(20));
    let start = Instant::now();
    let stats = loop {
        std::thread::sleep(Duration::from_millis(250));
        let stats = stat_json(dir, name);
        if done(&stats) || start.elapsed() > Duration::from_secs(30) {
            break stats;
        }
    };
    let _ = run.kill();
    let _ = run.wait();
    stats
}

/// The rejected frames of `venue` counted for `reason`.
fn rejected(stats: &serde_json::Value, venue: &str, reason: &str) -> u64 {
    stats[format!("parser.{venue}.{reason}")]
        .as_u64()
        .unwrap_or(0)
}

/// Every injected kind maps to a reason: bad JSON, unknown symbols, binary frames.
const REASONS: [&str; 3] = ["malformed_json", "unknown_symbol", "binary_frame"];

#[test]
fn malformed_frames_are_counted_per_venue_and_connections_stay_up() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, config(dir.path(), "bad", 0.05, "")).unwrap();
    let run = common::spawn_run(&cfg, dir.path(), "60", false);
    let stats = stats_until(dir.path(), "bad", run, |s| {
        all_venues()
            .iter()
            .all(|v| REASONS.iter().all(|r| rejected(s, v, r) > 0))
    });
    for v in all_venues() {
        for reason in REASONS {
            assert!(rejected(&stats, v, reason) > 0, "{v}: no {reason}: {stats}");
        }
    }
    assert_eq!(stats["reader.disconnects"], 0, "{stats}");
    assert!(stats["parser.trades"].as_u64().unwrap() > 0);
}

#[test]
fn application_keepalives_are_sent_and_answered() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ka.toml");
    let mut text = format!(
        "[engine]\nname = \"ka\"\nshm_dir = \"{}\"\n[sim]\nrate = 0\n",
        dir.path().display()
    );
    for v in ["okx", "bybit"] {
        text.push_str(&format!(
            "[[feeds]]\nname = \"{v}\"\nvenue = \"{v}\"\nurl = \"sim\"\nkeepalive_ms = 50\n"
        ));
    }
    std::fs::write(&cfg, text).unwrap();
    let run = common::spawn_run(&cfg, dir.path(), "60", false);
    // Two feeds, one ping each per 50 ms of silence; the simulators answer each with a
    // pong (a control message).
    let enough = |s: &serde_json::Value| {
        s["reader.keepalives"].as_u64().unwrap_or(0) >= 10
            && s["parser.control"].as_u64().unwrap_or(0) >= 10
    };
    let stats = stats_until(dir.path(), "ka", run, enough);
    assert!(enough(&stats), "{stats}");
    assert_eq!(stats["parser.rejected"], 0, "{stats}");
}
