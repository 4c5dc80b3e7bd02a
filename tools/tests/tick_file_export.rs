//! `tickforge run --sim-file TICKS.csv --export DIR`: a tick file through the simulator
//! and the real WebSocket path, nothing dropped, every bar closed, and the exported bars
//! equal to bars computed independently from the file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use tickforge_engine::fixed::parse_decimal;

const BIN: &str = env!("CARGO_BIN_EXE_tickforge");
const S: i64 = 1_000_000_000;

/// A tick file with ties, trades exactly on and 1 ns before boundaries, sub-millisecond
/// parts, gaps of many intervals and prices with up to 9 decimals.
fn write_ticks(path: &Path) -> Vec<(i64, String, i64, i64)> {
    let mut text = String::from("ts_ns,symbol,price,size,side,trade_id\n");
    let mut ticks = Vec::new();
    let mut t: i64 = 1_700_000_000 * S;
    let mut x: u64 = 7;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut ids = [0u64; 3];
    let names = ["BTCUSDT", "ETHUSDT", "PEPEUSDT"];
    for i in 0..6000 {
        t = match next(10) {
            0 => t,                                     // tie
            1 => t - t.rem_euclid(S) + S,               // exactly on a second
            2 => t - t.rem_euclid(60 * S) + 60 * S - 1, // 1 ns before a minute
            3 => t + 400 * S,                           // a gap of many intervals
            _ => t + next(700_000_000) as i64 + 1,
        };
        let s = next(3) as usize;
        ids[s] += 1;
        let price = 1_000_000_000 + next(1_000_000_000) as i64 * (s as i64 * 5 + 1);
        let size = next(5_000_000_000) as i64 + 1;
        let p = tickforge_engine::fixed::Decimal::from(price);
        let q = tickforge_engine::fixed::Decimal::from(size);
        let side = if i % 3 == 0 { "sell" } else { "buy" };
        writeln!(text, "{t},{},{p},{q},{side},{}", names[s], ids[s]).unwrap();
        ticks.push((t, names[s].to_string(), price, size));
    }
    std::fs::write(path, text).unwrap();
    ticks
}

type Bar = (i64, i64, i64, i64, u128, u32);

/// Bars straight from the file: Binance carries milliseconds, so the engine's exchange
/// time is the tick's time floored to the millisecond.
fn expected_bars(ticks: &[(i64, String, i64, i64)]) -> BTreeMap<(String, i64, i64), Bar> {
    let mut bars: BTreeMap<(String, i64, i64), Bar> = BTreeMap::new();
    for (ts, sym, price, size) in ticks {
        let ms = ts / 1_000_000 * 1_000_000;
        for tf in [S, 60 * S, 300 * S] {
            let open = ms - ms.rem_euclid(tf);
            let e = bars
                .entry((sym.clone(), tf, open))
                .or_insert((*price, *price, *price, *price, 0, 0));
            e.1 = e.1.max(*price);
            e.2 = e.2.min(*price);
            e.3 = *price;
            e.4 += *size as u128;
            e.5 += 1;
        }
    }
    bars
}

fn run(format: &str) -> (tempfile::TempDir, Vec<(i64, String, i64, i64)>) {
    let dir = tempfile::tempdir().unwrap();
    let ticks = write_ticks(&dir.path().join("ticks.csv"));
    let out = Command::new(BIN)
        .args([
            "run",
            "--name",
            "tickfile",
            "--export-format",
            format,
            "--sim-file",
        ])
        .arg(dir.path().join("ticks.csv"))
        .arg("--export")
        .arg(dir.path().join("out"))
        .arg("--shm-dir")
        .arg(dir.path())
        .arg("--journal")
        .arg(dir.path().join("journal"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("dropped 0"), "{stdout}");
    (dir, ticks)
}

#[test]
fn exported_bars_equal_bars_computed_from_the_file() {
    let (dir, ticks) = run("csv");
    let text = std::fs::read_to_string(dir.path().join("out/bars.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("symbol,tf,open_ts_ns,open,high,low,close,volume,count,flags")
    );
    let mut got = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let tf = match f[1] {
            "1s" => S,
            "1m" => 60 * S,
            "5m" => 300 * S,
            other => panic!("timeframe {other}"),
        };
        let d = |s: &str| parse_decimal(s.as_bytes()).unwrap();
        let volume = {
            let (int, frac) = f[7].split_once('.').unwrap_or((f[7], ""));
            int.parse::<u128>().unwrap() * 1_000_000_000
                + format!("{frac:0<9}").parse::<u128>().unwrap()
        };
        assert_eq!(
            f[9], "closed",
            "no bar of a complete file is flagged: {line}"
        );
        let bar = (
            d(f[3]),
            d(f[4]),
            d(f[5]),
            d(f[6]),
            volume,
            f[8].parse().unwrap(),
        );
        assert!(
            got.insert((f[0].to_string(), tf, f[2].parse::<i64>().unwrap()), bar)
                .is_none(),
            "duplicate bar {line}"
        );
    }
    assert_eq!(got, expected_bars(&ticks));

    // Every tick is exported as a trade, in file order per symbol, with exact decimals.
    let trades = std::fs::read_to_string(dir.path().join("out/trades.csv")).unwrap();
    assert_eq!(trades.lines().count(), ticks.len() + 1);
    for (line, (ts, sym, price, size)) in trades.lines().skip(1).zip(&ticks) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(
            (f[0], f[2].parse::<i64>().unwrap()),
            (sym.as_str(), ts / 1_000_000 * 1_000_000)
        );
        assert_eq!(parse_decimal(f[4].as_bytes()).unwrap(), *price);
        assert_eq!(parse_decimal(f[5].as_bytes()).unwrap(), *size);
    }
}

#[test]
fn json_lines_export_holds_the_same_bars() {
    let (dir, ticks) = run("jsonl");
    let text = std::fs::read_to_string(dir.path().join("out/bars.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows
        .iter()
        .all(|r| r["flags"] == "closed" && r["open"].is_string()));
    let n = rows.len();
    assert_eq!(n, expected_bars(&ticks).len());
    assert!(dir.path().join("out/signals.jsonl").exists());
}
