//! Tick files: trades recorded (or written by hand) as CSV, served by the simulator in
//! file order instead of the synthetic market.
//!
//! # Format
//!
//! ```text
//! ts_ns,symbol,price,size,side[,trade_id]
//! 1700000000000000000,BTCUSDT,65000.01,0.00100000,buy,17
//! 1700000000000000001,ETHUSDT,3500.5,2,sell
//! ```
//!
//! * `ts_ns`: the trade time in nanoseconds since the Unix epoch, a non-negative `i64`.
//!   Timestamps need not be sorted: ticks are served in file order, whatever their times.
//! * `symbol`: upper-case ASCII letters and digits (`BTCUSDT`).
//! * `price`, `size`: decimal text, validated with
//!   [`tickforge_engine::fixed::parse_unsigned_decimal`] (so at most 9 decimals and within
//!   the fixed-point range) and strictly positive. The text is kept byte for byte and sent
//!   as written, never reformatted.
//! * `side`: the aggressor side, `buy` or `sell` (ASCII case ignored).
//! * `trade_id`: optional `u64`. A line without one gets the previous id of its symbol
//!   plus one, the first tick of a symbol getting 1; so a file with no ids at all numbers
//!   every symbol 1, 2, 3, … in file order.
//!
//! Fields are separated by commas, with no quoting; spaces and tabs around a field are
//! ignored. Blank lines and lines whose first non-blank character is `#` are skipped, and
//! so is the first other line when it starts with `ts_ns` (a header). `\r\n` line ends
//! and a UTF-8 byte-order mark are accepted.
//!
//! # Memory
//!
//! The whole file is parsed up front. Each tick costs a 32-byte entry plus the bytes of its
//! price and size text (about 50 bytes a tick for typical files: 10 million ticks take
//! about 500 MB); the file itself is read line by line and not kept.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use tickforge_engine::fixed::parse_unsigned_decimal;

/// One parsed tick. The price and size texts live back to back in [`TickFile::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tick {
    /// Trade time, nanoseconds since the epoch, never negative.
    pub ts_ns: i64,
    /// Trade id, as given or assigned.
    pub id: u64,
    /// Offset of the price text in [`TickFile::text`]; the size text follows it.
    text: u32,
    price_len: u8,
    size_len: u8,
    /// Index into [`TickFile::symbols`].
    pub symbol: u16,
    /// The aggressor sold (Binance `"m":true`, the buyer was the maker).
    pub sell: bool,
}

// The memory cost documented above.
const _: () = assert!(std::mem::size_of::<Tick>() == 32);

/// A tick file parsed into memory.
#[derive(Debug, Clone, Default)]
pub(crate) struct TickFile {
    /// Symbols in order of first appearance.
    symbols: Vec<String>,
    ticks: Vec<Tick>,
    /// Every price and size text, back to back.
    text: String,
}

/// Upper bound of a price or size text, so that its length fits the entry.
const MAX_FIELD_LEN: usize = u8::MAX as usize;

impl TickFile {
    /// Reads and parses the file at `path`.
    ///
    /// Fails with the open or read error (prefixed with the path), or with `InvalidData`
    /// naming the path, the line number and what is wrong with it.
    pub(crate) fn load(path: &Path) -> io::Result<TickFile> {
        let name = path.display().to_string();
        let file = File::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("tick file {name}: {e}")))?;
        Self::parse(BufReader::with_capacity(1 << 16, file), &name)
    }

    /// Parses a tick file from `input`; `name` labels the errors.
    pub(crate) fn parse<R: BufRead>(mut input: R, name: &str) -> io::Result<TickFile> {
        let mut tf = TickFile::default();
        // The last id of each symbol, for lines that carry none.
        let mut last_id: Vec<u64> = Vec::new();
        let mut line = Vec::with_capacity(128);
        let mut number = 0u64;
        let mut first_content = true;
        loop {
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .map_err(|e| io::Error::new(e.kind(), format!("tick file {name}: {e}")))?;
            if n == 0 {
                break;
            }
            number += 1;
            let mut l = line.as_slice();
            if number == 1 {
                l = l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l);
            }
            let l = l.trim_ascii();
            if l.is_empty() || l[0] == b'#' {
                continue;
            }
            if std::mem::take(&mut first_content) && l.starts_with(b"ts_ns") {
                continue;
            }
            tf.parse_line(l, &mut last_id).map_err(|what| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tick file {name}: line {number}: {what}"),
                )
            })?;
        }
        if tf.ticks.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("tick file {name}: no ticks"),
            ));
        }
        tf.ticks.shrink_to_fit();
        tf.text.shrink_to_fit();
        Ok(tf)
    }

    fn parse_line(&mut self, line: &[u8], last_id: &mut Vec<u64>) -> Result<(), String> {
        let mut fields = [&b""[..]; 6];
        let mut count = 0usize;
        for f in line.split(|&b| b == b',') {
            if count < fields.len() {
                fields[count] = f.trim_ascii();
            }
            count += 1;
        }
        if !(5..=6).contains(&count) {
            return Err(format!(
                "expected 5 or 6 comma-separated fields \
                 (ts_ns,symbol,price,size,side[,trade_id]), found {count}"
            ));
        }
        let [ts, symbol, price, size, side, id] = fields;

        let ts_ns: i64 = std::str::from_utf8(ts)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("invalid ts_ns {}: not a 64-bit integer", show(ts)))?;
        if ts_ns < 0 {
            return Err(format!("invalid ts_ns {ts_ns}: negative"));
        }

        if symbol.is_empty()
            || !symbol
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(format!(
                "invalid symbol {}: expected upper-case ASCII letters and digits",
                show(symbol)
            ));
        }

        let decimal = |what: &str, text: &[u8]| -> Result<(), String> {
            match parse_unsigned_decimal(text) {
                Ok(0) => Err(format!("invalid {what} {}: must be positive", show(text))),
                Ok(_) if text.len() > MAX_FIELD_LEN => Err(format!(
                    "invalid {what}: text longer than {MAX_FIELD_LEN} bytes"
                )),
                Ok(_) => Ok(()),
                Err(e) => Err(format!("invalid {what} {}: {e}", show(text))),
            }
        };
        decimal("price", price)?;
        decimal("size", size)?;

        let sell = if side.eq_ignore_ascii_case(b"sell") {
            true
        } else if side.eq_ignore_ascii_case(b"buy") {
            false
        } else {
            return Err(format!("invalid side {}: expected buy or sell", show(side)));
        };

        // Checked above: ASCII only.
        let symbol = std::str::from_utf8(symbol).map_err(|e| e.to_string())?;
        let index = match self.symbols.iter().position(|s| s == symbol) {
            Some(i) => i,
            None => {
                if self.symbols.len() > usize::from(u16::MAX) {
                    return Err(format!(
                        "too many symbols (at most {})",
                        usize::from(u16::MAX) + 1
                    ));
                }
                self.symbols.push(symbol.to_owned());
                last_id.push(0);
                self.symbols.len() - 1
            }
        };

        let id = if count == 6 {
            std::str::from_utf8(id)
                .ok()
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    format!(
                        "invalid trade_id {}: not an unsigned 64-bit integer",
                        show(id)
                    )
                })?
        } else {
            last_id[index]
                .checked_add(1)
                .ok_or("cannot assign a trade_id after 18446744073709551615")?
        };
        last_id[index] = id;

        let offset = u32::try_from(self.text.len())
            .map_err(|_| "tick file too large: over 4 GiB of price and size text")?;
        // Both are ASCII (validated as decimals above).
        self.text
            .push_str(std::str::from_utf8(price).map_err(|e| e.to_string())?);
        self.text
            .push_str(std::str::from_utf8(size).map_err(|e| e.to_string())?);
        self.ticks.push(Tick {
            ts_ns,
            id,
            text: offset,
            // Both bounded by MAX_FIELD_LEN above.
            price_len: u8::try_from(price.len()).unwrap_or(u8::MAX),
            size_len: u8::try_from(size.len()).unwrap_or(u8::MAX),
            symbol: u16::try_from(index).unwrap_or(u16::MAX),
            sell,
        });
        Ok(())
    }

    /// Symbols in order of first appearance (upper case, as in the file).
    pub(crate) fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// Consumes the file, returning its symbols.
    pub(crate) fn into_symbols(self) -> Vec<String> {
        self.symbols
    }

    /// The ticks, in file order.
    pub(crate) fn ticks(&self) -> &[Tick] {
        &self.ticks
    }

    /// The price text of `t`, exactly as in the file.
    pub(crate) fn price(&self, t: &Tick) -> &str {
        let start = t.text as usize;
        &self.text[start..start + usize::from(t.price_len)]
    }

    /// The size text of `t`, exactly as in the file.
    pub(crate) fn size(&self, t: &Tick) -> &str {
        let start = t.text as usize + usize::from(t.price_len);
        &self.text[start..start + usize::from(t.size_len)]
    }
}

/// A field for an error message: quoted, invalid UTF-8 replaced, cut at 40 characters.
fn show(field: &[u8]) -> String {
    let s = String::from_utf8_lossy(field);
    if s.chars().count() > 40 {
        let cut: String = s.chars().take(40).collect();
        format!("{cut:?}…")
    } else {
        format!("{s:?}")
    }
}

/// Parses the tick file at `path` and returns its symbols in order of first appearance,
/// without starting a server: the symbol set a [`super::SimServer`] serving that file
/// uses (see [`super::SimConfig::tick_file`]).
///
/// The whole file is parsed and validated, so this fails exactly when
/// [`super::SimServer::start`] would fail on the file: with the open or read error, or
/// with `InvalidData` naming the line number and what is wrong.
pub fn tick_file_symbols(path: &Path) -> io::Result<Vec<String>> {
    TickFile::load(path).map(TickFile::into_symbols)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> io::Result<TickFile> {
        TickFile::parse(text.as_bytes(), "t.csv")
    }

    fn err(text: &str) -> String {
        let e = parse(text).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        e.to_string()
    }

    #[test]
    fn parses_header_comments_ids_and_exact_text() {
        let tf = parse(
            "\u{feff}# recorded by hand\r\n\
             ts_ns,symbol,price,size,side,trade_id\r\n\
             \r\n\
             5,BTCUSDT,65000.010,0.00000001,buy,42\n\
             6, ETHUSDT ,3500,1e-3,SELL\n\
             \t# indented comment\n\
             7,BTCUSDT,12345.678900001,2.5,sell\n\
             8,ETHUSDT,3500,1,buy,7",
        )
        .unwrap();
        assert_eq!(tf.symbols(), ["BTCUSDT", "ETHUSDT"]);
        let t = tf.ticks();
        assert_eq!(t.len(), 4);
        assert_eq!(
            (t[0].ts_ns, t[0].id, t[0].symbol, t[0].sell),
            (5, 42, 0, false)
        );
        assert_eq!(
            (tf.price(&t[0]), tf.size(&t[0])),
            ("65000.010", "0.00000001")
        );
        assert_eq!((t[1].id, t[1].symbol, t[1].sell), (1, 1, true));
        assert_eq!((tf.price(&t[1]), tf.size(&t[1])), ("3500", "1e-3"));
        assert_eq!((t[2].id, t[2].sell), (43, true));
        assert_eq!(
            (tf.price(&t[2]), tf.size(&t[2])),
            ("12345.678900001", "2.5")
        );
        assert_eq!(t[3].id, 7);
    }

    #[test]
    fn rejects_bad_lines_with_their_number() {
        let head = "ts_ns,symbol,price,size,side\n1,BTCUSDT,1,1,buy\n";
        let cases = [
            ("2,BTCUSDT,abc,1,buy", "invalid price \"abc\""),
            ("2,BTCUSDT,0.0000000001,1,buy", "invalid price"),
            ("2,BTCUSDT,-1,1,buy", "invalid price \"-1\""),
            ("2,BTCUSDT,0,1,buy", "must be positive"),
            ("2,BTCUSDT,1,,buy", "invalid size \"\""),
            ("2,BTCUSDT,1,1,bid", "invalid side \"bid\""),
            ("2,BTCUSDT,1,1", "found 4"),
            ("2,BTCUSDT,1,1,buy,3,4", "found 7"),
            ("-2,BTCUSDT,1,1,buy", "invalid ts_ns -2: negative"),
            ("x,BTCUSDT,1,1,buy", "invalid ts_ns \"x\""),
            ("2,btcusdt,1,1,buy", "invalid symbol \"btcusdt\""),
            ("2,BTC-USDT,1,1,buy", "invalid symbol"),
            ("2,BTCUSDT,1,1,buy,-3", "invalid trade_id \"-3\""),
            ("2,BTCUSDT,1,1,buy,+3", "invalid trade_id \"+3\""),
            ("ts_ns,symbol,price,size,side", "invalid ts_ns \"ts_ns\""),
        ];
        for (line, want) in cases {
            let e = err(&format!("{head}{line}\n"));
            assert!(e.starts_with("tick file t.csv: line 3: "), "{line}: {e}");
            assert!(e.contains(want), "{line}: {e}");
        }
        assert!(err("").ends_with("no ticks"));
        assert!(err("ts_ns,symbol\n# nothing\n").ends_with("no ticks"));
        let long = format!("1,BTCUSDT,1.{},1,buy", "0".repeat(300));
        assert!(err(&long).contains("longer than 255"));
    }

    #[test]
    fn assigned_ids_overflow_is_an_error() {
        let e = err("1,BTCUSDT,1,1,buy,18446744073709551615\n2,BTCUSDT,1,1,buy\n");
        assert!(e.contains("line 2: cannot assign a trade_id"), "{e}");
    }
}
