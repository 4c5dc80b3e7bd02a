//! Exports of what the engine published: `trades`, `quotes`, `bars` and `signals`, as CSV
//! or JSON lines, with prices and sizes as exact decimals.
//!
//! | file | columns |
//! | --- | --- |
//! | `bars.csv` | `symbol,tf,open_ts_ns,open,high,low,close,volume,count,flags` |
//! | `signals.csv` | `symbol,tf,bar_open_ts_ns,kind,direction,value` |
//! | `trades.csv` | `symbol,venue,ts_ns,recv_ts_ns,price,size,side,trade_id` |
//! | `quotes.csv` | `symbol,venue,ts_ns,recv_ts_ns,bid,bid_size,ask,ask_size` |
//!
//! `tf` is written `1s`, `1m`, `5m`, …; `flags` is a `|`-separated list of bar flags
//! (`closed|incomplete`); `kind` is the signal's lower-case name (`breakout`,
//! `sma_cross`, `cdl_engulfing`); `direction` is `up`, `down`, or `none` for patterns
//! without one (doji); `value` is ±100 for
//! signals and TA-Lib's integer for candlesticks. With JSON lines the files are
//! `bars.jsonl` and so on, one object per line with the same keys.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use tickforge_engine::fixed::Decimal;
use tickforge_engine::record::{bar_flags, Record, RecordView};
use tickforge_engine::signals::signal_name;
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_engine::timeframe::Timeframe;

/// Export file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl ExportFormat {
    fn ext(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

const BARS: &[&str] = &[
    "symbol",
    "tf",
    "open_ts_ns",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "count",
    "flags",
];
const SIGNALS: &[&str] = &[
    "symbol",
    "tf",
    "bar_open_ts_ns",
    "kind",
    "direction",
    "value",
];
const TRADES: &[&str] = &[
    "symbol",
    "venue",
    "ts_ns",
    "recv_ts_ns",
    "price",
    "size",
    "side",
    "trade_id",
];
const QUOTES: &[&str] = &[
    "symbol",
    "venue",
    "ts_ns",
    "recv_ts_ns",
    "bid",
    "bid_size",
    "ask",
    "ask_size",
];

/// A value in an export row: text (quoted in JSON) or a number (bare in JSON).
enum Cell {
    Text(String),
    Num(String),
}

struct Sink {
    out: BufWriter<File>,
    columns: &'static [&'static str],
}

impl Sink {
    fn create(
        dir: &Path,
        name: &str,
        format: ExportFormat,
        columns: &'static [&'static str],
    ) -> io::Result<Sink> {
        let mut out = BufWriter::with_capacity(
            1 << 16,
            File::create(dir.join(format!("{name}.{}", format.ext())))?,
        );
        if format == ExportFormat::Csv {
            writeln!(out, "{}", columns.join(","))?;
        }
        Ok(Sink { out, columns })
    }

    fn row(&mut self, format: ExportFormat, cells: &[Cell]) -> io::Result<()> {
        debug_assert_eq!(cells.len(), self.columns.len());
        match format {
            ExportFormat::Csv => {
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        self.out.write_all(b",")?;
                    }
                    let (Cell::Text(v) | Cell::Num(v)) = c;
                    self.out.write_all(v.as_bytes())?;
                }
                self.out.write_all(b"\n")
            }
            ExportFormat::Jsonl => {
                self.out.write_all(b"{")?;
                for (i, (c, key)) in cells.iter().zip(self.columns).enumerate() {
                    if i > 0 {
                        self.out.write_all(b",")?;
                    }
                    match c {
                        // Names, decimals and flags never hold quotes or backslashes.
                        Cell::Text(v) => write!(self.out, "\"{key}\":\"{v}\"")?,
                        Cell::Num(v) => write!(self.out, "\"{key}\":{v}")?,
                    }
                }
                self.out.write_all(b"}\n")
            }
        }
    }
}

/// Writes published events into export files.
pub struct Exporter {
    format: ExportFormat,
    symbols: Vec<String>,
    timeframes: Vec<String>,
    bars: Sink,
    signals: Sink,
    trades: Sink,
    quotes: Sink,
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn num(v: impl ToString) -> Cell {
    Cell::Num(v.to_string())
}

fn dec(v: i64) -> Cell {
    // Decimals are text in JSON, so no reader turns them into floating point.
    Cell::Text(Decimal::from(v).to_string())
}

/// `closed|incomplete`-style list of a bar's flags.
pub fn flag_names(flags: u16) -> String {
    let names: Vec<&str> = bar_flags::NAMES
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    names.join("|")
}

impl Exporter {
    /// Creates `dir` (if needed) and the four files in it.
    pub fn create(
        dir: &Path,
        format: ExportFormat,
        symbols: &SymbolTable,
        timeframes: &[Timeframe],
    ) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Exporter {
            format,
            symbols: symbols.iter().map(|s| s.name.clone()).collect(),
            timeframes: timeframes.iter().map(|t| t.to_string()).collect(),
            bars: Sink::create(dir, "bars", format, BARS)?,
            signals: Sink::create(dir, "signals", format, SIGNALS)?,
            trades: Sink::create(dir, "trades", format, TRADES)?,
            quotes: Sink::create(dir, "quotes", format, QUOTES)?,
        })
    }

    fn symbol(&self, id: u32) -> Cell {
        text(self.symbols.get(id as usize).map_or("?", String::as_str))
    }

    fn tf(&self, i: u8) -> Cell {
        text(self.timeframes.get(i as usize).map_or("?", String::as_str))
    }

    /// Writes one published event; feed status and internal records are not exported.
    pub fn write(&mut self, rec: &Record) -> io::Result<()> {
        let f = self.format;
        match rec.view() {
            Some(RecordView::Trade(t)) => {
                let row = [
                    self.symbol(t.symbol),
                    text(venue::name(t.venue)),
                    num(t.exch_ts),
                    num(t.recv_ts),
                    dec(t.price),
                    dec(t.size),
                    text(t.side().name()),
                    num(t.trade_id),
                ];
                self.trades.row(f, &row)
            }
            Some(RecordView::Quote(q)) => {
                let row = [
                    self.symbol(q.symbol),
                    text(venue::name(q.venue)),
                    num(q.exch_ts),
                    num(q.recv_ts),
                    dec(q.bid),
                    dec(q.bid_size),
                    dec(q.ask),
                    dec(q.ask_size),
                ];
                self.quotes.row(f, &row)
            }
            Some(RecordView::Bar(b)) => {
                let row = [
                    self.symbol(b.symbol),
                    self.tf(b.tf),
                    num(b.open_ts),
                    dec(b.open),
                    dec(b.high),
                    dec(b.low),
                    dec(b.close),
                    Cell::Text(Decimal(b.volume() as i128).to_string()),
                    num(b.count),
                    text(flag_names(b.flags)),
                ];
                self.bars.row(f, &row)
            }
            Some(RecordView::Signal(s)) => {
                let row = [
                    self.symbol(s.symbol),
                    self.tf(s.tf),
                    num(s.bar_open_ts),
                    text(signal_name(s.signal).unwrap_or("unknown")),
                    text(match s.direction {
                        1.. => "up",
                        0 => "none",
                        _ => "down",
                    }),
                    num(s.value),
                ];
                self.signals.row(f, &row)
            }
            _ => Ok(()),
        }
    }

    /// Flushes every file.
    pub fn finish(&mut self) -> io::Result<()> {
        for s in [
            &mut self.bars,
            &mut self.signals,
            &mut self.trades,
            &mut self.quotes,
        ] {
            s.out.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_engine::record::{BarRecord, Kind, Side, SignalKind, TradeRecord};
    use tickforge_engine::signals::signal_record;

    fn setup(format: ExportFormat) -> (tempfile::TempDir, Exporter) {
        let dir = tempfile::tempdir().unwrap();
        let mut table = SymbolTable::new();
        table.add(venue::BINANCE, "BTCUSDT", false).unwrap();
        let tfs: Vec<Timeframe> = vec!["1s".parse().unwrap(), "5m".parse().unwrap()];
        let ex = Exporter::create(dir.path(), format, &table, &tfs).unwrap();
        (dir, ex)
    }

    fn sample() -> Vec<Record> {
        let mut bar = BarRecord {
            kind: Kind::Bar as u8,
            tf: 1,
            flags: bar_flags::CLOSED | bar_flags::INCOMPLETE,
            open_ts: 300_000_000_000,
            open: 25_351_900_000,
            high: 26 * 1_000_000_000,
            low: 1,
            close: 25 * 1_000_000_000,
            count: 3,
            ..Default::default()
        };
        bar.set_volume(1u128 << 70);
        let sig = signal_record(&bar, SignalKind::Breakout as u16, -100, 0, 1);
        vec![
            Record::from(TradeRecord::new(
                venue::BINANCE,
                0,
                5,
                6,
                100_500_000_000,
                1,
                Side::Sell,
                42,
            )),
            Record::from(bar),
            Record::from(sig),
        ]
    }

    #[test]
    fn csv_rows_are_exact_decimals() {
        let (dir, mut ex) = setup(ExportFormat::Csv);
        for r in sample() {
            ex.write(&r).unwrap();
        }
        ex.finish().unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
        assert_eq!(
            read("trades.csv"),
            "symbol,venue,ts_ns,recv_ts_ns,price,size,side,trade_id\nBTCUSDT,binance,5,6,100.5,0.000000001,sell,42\n"
        );
        assert_eq!(
            read("bars.csv").lines().nth(1).unwrap(),
            "BTCUSDT,5m,300000000000,25.3519,26,0.000000001,25,1180591620717.411303424,3,closed|incomplete"
        );
        assert_eq!(
            read("signals.csv").lines().nth(1).unwrap(),
            "BTCUSDT,5m,300000000000,breakout,down,-100"
        );
        assert_eq!(read("quotes.csv").lines().count(), 1, "header only");
    }

    #[test]
    fn json_lines_have_the_same_keys() {
        let (dir, mut ex) = setup(ExportFormat::Jsonl);
        for r in sample() {
            ex.write(&r).unwrap();
        }
        ex.finish().unwrap();
        let line = std::fs::read_to_string(dir.path().join("bars.jsonl")).unwrap();
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["tf"], "5m");
        assert_eq!(v["volume"], "1180591620717.411303424");
        assert_eq!(v["count"], 3);
        assert_eq!(v["open_ts_ns"], 300000000000u64);
        let sig: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(dir.path().join("signals.jsonl"))
                .unwrap()
                .trim(),
        )
        .unwrap();
        assert_eq!(sig["kind"], "breakout");
        assert_eq!(sig["value"], -100);
    }
}
