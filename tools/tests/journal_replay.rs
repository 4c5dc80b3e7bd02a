//! The journal and replay end to end, with real processes: a live engine against the
//! simulator writes a journal; `tickforge replay` reproduces its output; a SIGKILLed engine
//! leaves a journal that verifies, replays and is appended to; damaged journals are
//! reported, repaired and replayed; recorded drops are reproduced.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tickforge");

fn tickforge(args: &[&str], paths: &[&Path]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for p in paths {
        cmd.arg(p);
    }
    cmd.output().expect("tickforge runs")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_panic(out: &Output) {
    let t = text(out);
    assert!(!t.contains("panicked"), "{t}");
}

/// A config for a live run against the simulator, journaling into `dir/journal`.
fn config(dir: &Path, name: &str, rate: u64, extra: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[engine]\nname = \"{name}\"\nshm_dir = \"{shm}\"\n\
             [sim]\nrate = {rate}\n\
             [journal]\ndir = \"{journal}\"\nsegment_mb = 4\n{extra}",
            shm = dir.display(),
            journal = dir.join("journal").display(),
        ),
    )
    .unwrap();
    path
}

/// Runs the engine of `cfg` for `secs`, exporting into `export`; returns the summary.
fn live_run(cfg: &Path, secs: &str, export: &Path) -> String {
    let out = tickforge(&["run", "--duration", secs, "--export"], &[export, cfg]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The number next to the last `key` in a summary: after it (`dropped 0` → 0) or, with
/// `before`, before it (`342 trades,` → 342).
fn number_near(summary: &str, key: &str, before: bool) -> u64 {
    let words: Vec<&str> = summary.split_whitespace().collect();
    let i = words
        .iter()
        .rposition(|w| *w == key)
        .unwrap_or_else(|| panic!("no {key:?} in {summary}"));
    let at = if before { i - 1 } else { i + 1 };
    words[at].trim_end_matches(',').parse().unwrap()
}

/// The number after `key` (`dropped 0` → 0).
fn figure(summary: &str, key: &str) -> u64 {
    number_near(summary, key, false)
}

/// Replays `journal` with `args`; returns (stdout, stderr).
fn replay(journal: &Path, args: &[&str], shm: &Path) -> (String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("replay")
        .arg(journal)
        .args(args)
        .arg("--shm-dir")
        .arg(shm);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn digest_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest "))
        .unwrap_or_else(|| panic!("no digest in {stdout}"))
        .to_string()
}

#[test]
fn a_live_run_and_two_replays_of_its_journal_agree() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "det", 3000, "");
    let live = live_run(&cfg, "3", &dir.path().join("live"));
    assert_eq!(figure(&live, "dropped"), 0, "{live}");
    let journal = dir.path().join("journal");
    let (out1, err1) = replay_export(&journal, dir.path(), "r1");
    let (out2, _) = replay_export(&journal, dir.path(), "r2");
    let live_files = read_dir_files(&dir.path().join("live"));
    assert!(
        live_files
            .iter()
            .any(|(n, b)| n == "bars.csv" && b.len() > 100),
        "the live run exported bars"
    );
    assert_eq!(live_files, read_dir_files(&dir.path().join("r1")), "{err1}");
    assert_eq!(live_files, read_dir_files(&dir.path().join("r2")));
    assert_eq!(digest_of(&out1), digest_of(&out2));
    // Every frame of the live run was replayed.
    assert!(
        err1.contains(&format!("replayed {} frames", figure(&live, "frames"))),
        "{err1}\n{live}"
    );
}

/// `replay --digest --export DIR/name`.
fn replay_export(journal: &Path, dir: &Path, name: &str) -> (String, String) {
    let export = dir.join(name);
    let export = export.to_str().unwrap();
    replay(journal, &["--digest", "--export", export], dir)
}

/// Waits until the journal in `dir` holds at least `frames` frames.
fn wait_for_frames(journal: &Path, frames: u64, deadline: Duration) {
    let start = Instant::now();
    loop {
        let out = tickforge(&["journal", "ls"], &[journal]);
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        let n: u64 = t
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.len() == 10 && w[0].parse::<u64>().is_ok()).then(|| w[5].parse::<u64>().ok())
            })
            .flatten()
            .sum();
        if n >= frames {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "journal never reached {frames} frames: {t}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_killed_engine_leaves_a_journal_that_verifies_replays_and_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "crash", 20_000, "");
    let journal = dir.path().join("journal");
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_frames(&journal, 20_000, Duration::from_secs(60));
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();

    let verify = tickforge(&["journal", "verify"], &[&journal]);
    assert!(verify.status.success(), "{}", text(&verify));
    let (_, err) = replay(&journal, &[], dir.path());
    let replayed = figure(&err, "replayed");
    assert!(replayed >= 20_000, "{err}");

    // A restarted engine goes on after the valid prefix, in a run of its own.
    let again = tickforge(&["run", "--duration", "1.5"], &[&cfg]);
    assert!(again.status.success(), "{}", text(&again));
    let verify = tickforge(&["journal", "verify"], &[&journal]);
    assert!(verify.status.success(), "{}", text(&verify));
    let starts = tickforge(
        &["journal", "dump", "--kind", "segment_start", "--json"],
        &[&journal],
    );
    let starts: Vec<serde_json::Value> = String::from_utf8_lossy(&starts.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(starts.len() >= 2, "{starts:?}");
    let restart = starts
        .iter()
        .find(|s| s["flags"] == 1)
        .unwrap_or_else(|| panic!("no resumed segment start: {starts:?}"));
    // The first run replays as before and stops where the second begins …
    let (_, err) = replay(&journal, &[], dir.path());
    assert_eq!(figure(&err, "replayed"), replayed, "{err}");
    assert!(err.contains("a later run starts at"), "{err}");
    // … and the second replays from its start.
    let from = restart["time"].as_i64().unwrap().to_string();
    let (_, err) = replay(&journal, &["--from", &from], dir.path());
    assert!(figure(&err, "replayed") > 0, "{err}");
}

/// Flips the byte at `offset` of `file`.
fn flip(file: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn damaged_journals_are_reported_repaired_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "dmg", 5000, "");
    live_run(&cfg, "2", &dir.path().join("live"));
    let journal = dir.path().join("journal");
    let ls = tickforge(&["journal", "ls"], &[&journal]);
    let ls = String::from_utf8_lossy(&ls.stdout).into_owned();
    let end: u64 = ls
        .rsplit("offset ")
        .next()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("{ls}"));
    let (_, full) = replay(&journal, &[], dir.path());
    let all_frames = figure(&full, "replayed");

    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for case in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let copy = dir.path().join(format!("copy{case}"));
        copy_dir(&journal, &copy);
        let seg = copy.join("0000000000.tfj");
        // Flip a byte somewhere in the written part (header included), or cut the file.
        let cut = case == 5;
        if cut {
            let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
            f.set_len(end / 2).unwrap();
        } else {
            flip(&seg, seed % end);
        }
        let verify = tickforge(&["journal", "verify"], &[&copy]);
        assert_no_panic(&verify);
        assert_eq!(
            verify.status.code(),
            Some(1),
            "case {case}: {}",
            text(&verify)
        );
        assert!(
            text(&verify).contains("first bad offset"),
            "case {case}: {}",
            text(&verify)
        );
        let repair = tickforge(&["journal", "repair"], &[&copy]);
        assert_no_panic(&repair);
        assert!(repair.status.success(), "case {case}: {}", text(&repair));
        let verify = tickforge(&["journal", "verify"], &[&copy]);
        assert!(verify.status.success(), "case {case}: {}", text(&verify));
        // What is left replays (a cut header leaves nothing: refused with a clear error).
        let out = Command::new(BIN)
            .arg("replay")
            .arg(&copy)
            .arg("--shm-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert_no_panic(&out);
        if out.status.success() {
            let frames = figure(&String::from_utf8_lossy(&out.stderr), "replayed");
            assert!(frames <= all_frames, "case {case}: {}", text(&out));
        } else {
            assert!(
                text(&out).contains("holds no run"),
                "case {case}: {}",
                text(&out)
            );
        }
    }
}

#[test]
fn recorded_drops_are_reproduced_and_ideal_replays_process_everything() {
    let dir = tempfile::tempdir().unwrap();
    // Both stage threads on one core and a 16-slot ring: the parser outruns the
    // aggregator whenever the scheduler runs it alone, and trades are dropped.
    let cfg = config(
        dir.path(),
        "drops",
        50_000,
        "[backpressure]\nring_capacity = 16\n[layout]\nmode = \"split\"\ncores = [0]\npin = true\n",
    );
    let live = live_run(&cfg, "2", &dir.path().join("live"));
    let dropped = figure(&live, "dropped");
    let trades = figure(&live, "trades");
    assert!(dropped > 0, "no drops to reproduce: {live}");
    let journal = dir.path().join("journal");
    let (_, err) = replay(&journal, &[], dir.path());
    assert_eq!(count_before(&err, "drops"), dropped, "{err}\n{live}");
    assert_eq!(
        count_before(&err, "trades,") + dropped,
        trades,
        "{err}\n{live}"
    );
    let (_, ideal) = replay(&journal, &["--ideal"], dir.path());
    assert_eq!(count_before(&ideal, "trades,"), trades, "{ideal}\n{live}");
    assert_eq!(count_before(&ideal, "drops"), 0, "{ideal}");
}

/// The number before `key` (`342 trades,` → 342).
fn count_before(summary: &str, key: &str) -> u64 {
    number_near(summary, key, true)
}
