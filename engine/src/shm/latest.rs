//! `NAME.latest`: the symbol table, the timeframe table, and per symbol the latest trade,
//! best bid/offer, and current and last closed bar per timeframe, each in a seqlocked cell.
//!
//! Layout (native-endian), after the common header fields (bytes 0..128, see
//! [`super::header`]):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 128 | 4 | symbol count (u32) |
//! | 132 | 4 | timeframe count T (u32, at most 16) |
//! | 136 | 4 | cells per symbol C (u32) = 2 + 2T |
//! | 140 | 4 | seqlock lines per symbol L (u32) = ceil(C / 8) |
//! | 144 | 8 | symbol table offset (u64) = 4096 |
//! | 152 | 8 | cells region offset (u64), page aligned |
//! | 160 | 8 | block size per symbol (u64) = 64 × (L + C) |
//! | 168 | 24 | reserved, zero |
//! | 192 | 64 | timeframe table: 16 × u32, seconds per timeframe index, unused entries 0 |
//! | 256 | 3840 | reserved, zero |
//!
//! Symbol table: one 64-byte entry per symbol id, at `symbol table offset + 64 × id`:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | id (u32), equal to the entry's index |
//! | 4 | 1 | venue id |
//! | 5 | 1 | priority: 1 priority symbol, 0 not |
//! | 6 | 2 | name length in bytes (u16, 1 to 32) |
//! | 8 | 32 | the venue's symbol name, UTF-8, zero padded |
//! | 40 | 24 | venue name, ASCII, zero padded |
//!
//! Cells: symbol `id` has a block at `cells offset + block size × id`: first `L` cache
//! lines of seqlock words (the word of cell `c` is the u64 at `block + 8c`), then the `C`
//! cells of 64 bytes (cell `c` at `block + 64L + 64c`), each holding a record:
//!
//! | cell | contents |
//! | --- | --- |
//! | 0 | latest trade ([`TradeRecord`]) |
//! | 1 | best bid/offer ([`QuoteRecord`]) |
//! | 2 + 2t | current (open, partial) bar of timeframe index t ([`BarRecord`]) |
//! | 3 + 2t | last closed bar of timeframe index t ([`BarRecord`], flag `CLOSED`) |
//!
//! Seqlock (see [`super::seqlock`]): a word of 0 means never written, odd means a write is
//! in progress; the writer makes it odd (relaxed), release fence, writes the 8 words
//! (relaxed), makes it even again (release); a reader copies between two equal even loads
//! separated by acquire fences, and gives up after [`super::MAX_READ_TRIES`] attempts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::file::{ReaderMap, WriterMap};
use super::header::{corrupt, off, HEADER_SIZE};
use super::seqlock::{self, record_to_words, words_to_record, SeqRead, RECORD_WORDS};
use super::{reader_common, FileKind, ShmConfig, ShmError};
use crate::record::{bar_flags, BarRecord, QuoteRecord, Record, RecordView, TradeRecord};
use crate::symbol::{venue, SymbolInfo, SymbolTable, MAX_SYMBOL_NAME};

/// Most timeframes `NAME.latest` holds.
pub const MAX_TIMEFRAMES: usize = 16;

/// Size of a symbol-table entry.
const SYMBOL_ENTRY: usize = 64;
/// Size of the venue-name field of a symbol-table entry.
const VENUE_NAME: usize = 24;

/// Byte offsets of the latest header fields.
mod loff {
    use super::off::EXT;
    pub const SYMBOLS: usize = EXT;
    pub const TIMEFRAMES: usize = EXT + 4;
    pub const CELLS_PER_SYMBOL: usize = EXT + 8;
    pub const LINES_PER_SYMBOL: usize = EXT + 12;
    pub const SYMTAB: usize = EXT + 16;
    pub const CELLS: usize = EXT + 24;
    pub const BLOCK: usize = EXT + 32;
    pub const TF_TABLE: usize = EXT + 64;
}

/// A cell of a symbol's block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    /// The latest trade.
    Trade,
    /// The best bid and offer.
    Quote,
    /// The current (open) bar of a timeframe index.
    CurrentBar(usize),
    /// The last closed bar of a timeframe index.
    ClosedBar(usize),
}

impl Cell {
    /// The cell's index in the block: 0 trade, 1 quote, 2 + 2t current bar, 3 + 2t closed
    /// bar.
    pub fn index(self) -> usize {
        match self {
            Cell::Trade => 0,
            Cell::Quote => 1,
            Cell::CurrentBar(t) => 2 + 2 * t,
            Cell::ClosedBar(t) => 3 + 2 * t,
        }
    }
}

/// What reading a cell found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellRead {
    /// A consistent copy of the cell.
    Value(Record),
    /// The writer never wrote the cell.
    NeverWritten,
    /// The writer kept changing the cell during every attempt (or died while writing it).
    Busy,
    /// No such symbol or timeframe.
    NoSuchCell,
}

/// Sizes derived from the symbol and timeframe counts.
#[derive(Debug, Clone, Copy)]
struct Shape {
    symbols: usize,
    cells: usize,
    lines: usize,
    block: usize,
    symtab: usize,
    cells_off: usize,
}

impl Shape {
    fn new(symbols: usize, timeframes: usize) -> Shape {
        let cells = 2 + 2 * timeframes;
        let lines = cells.div_ceil(8);
        let symtab = HEADER_SIZE;
        Shape {
            symbols,
            cells,
            lines,
            block: 64 * (lines + cells),
            symtab,
            cells_off: round_up(symtab + symbols * SYMBOL_ENTRY, 4096),
        }
    }

    fn file_size(&self) -> usize {
        round_up(self.cells_off + self.symbols * self.block, 4096)
    }

    /// Byte offsets of the seqlock word and data of a cell, if it exists.
    #[inline]
    fn cell(&self, sym: u32, cell: usize) -> Option<(usize, usize)> {
        let sym = sym as usize;
        if sym >= self.symbols || cell >= self.cells {
            return None;
        }
        let block = self.cells_off + sym * self.block;
        Some((block + 8 * cell, block + 64 * self.lines + 64 * cell))
    }
}

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// The single writer of `NAME.latest`. `Send`; every update takes `&mut self`.
pub struct LatestWriter {
    shape: Shape,
    timeframes: usize,
    map: WriterMap,
}

impl LatestWriter {
    /// Creates (or replaces) `cfg.dir/NAME.latest` for the symbols of `symbols` and the
    /// timeframes (seconds, at most [`MAX_TIMEFRAMES`], each non-zero) of
    /// `timeframes_secs`, in timeframe-index order.
    pub fn create(
        cfg: &ShmConfig,
        symbols: &SymbolTable,
        timeframes_secs: &[u32],
    ) -> Result<LatestWriter, ShmError> {
        cfg.validate()?;
        if timeframes_secs.len() > MAX_TIMEFRAMES || timeframes_secs.contains(&0) {
            return Err(ShmError::InvalidConfig(format!(
                "timeframes {timeframes_secs:?}: at most {MAX_TIMEFRAMES}, each at least 1 s"
            )));
        }
        let count = u32::try_from(symbols.len())
            .map_err(|_| ShmError::InvalidConfig("too many symbols".into()))?;
        let shape = Shape::new(symbols.len(), timeframes_secs.len());
        let map = WriterMap::create(cfg, FileKind::Latest, shape.file_size(), |r| {
            let relaxed = Ordering::Relaxed;
            r.u32(loff::SYMBOLS).store(count, relaxed);
            r.u32(loff::TIMEFRAMES)
                .store(timeframes_secs.len() as u32, relaxed);
            r.u32(loff::CELLS_PER_SYMBOL)
                .store(shape.cells as u32, relaxed);
            r.u32(loff::LINES_PER_SYMBOL)
                .store(shape.lines as u32, relaxed);
            r.u64(loff::SYMTAB).store(shape.symtab as u64, relaxed);
            r.u64(loff::CELLS).store(shape.cells_off as u64, relaxed);
            r.u64(loff::BLOCK).store(shape.block as u64, relaxed);
            for (t, &secs) in timeframes_secs.iter().enumerate() {
                r.u32(loff::TF_TABLE + 4 * t).store(secs, relaxed);
            }
            for (i, s) in symbols.iter().enumerate() {
                debug_assert_eq!(s.id as usize, i);
                r.write_bytes(shape.symtab + SYMBOL_ENTRY * i, &encode_symbol(s));
            }
        })?;
        Ok(LatestWriter {
            shape,
            timeframes: timeframes_secs.len(),
            map,
        })
    }

    /// Writes `rec` into cell `cell` of symbol `sym`; false (nothing written) if either
    /// is out of range.
    #[inline]
    pub fn set_cell(&mut self, sym: u32, cell: Cell, rec: &Record) -> bool {
        if let Cell::CurrentBar(t) | Cell::ClosedBar(t) = cell {
            if t >= self.timeframes {
                return false;
            }
        }
        let Some((seq, data)) = self.shape.cell(sym, cell.index()) else {
            return false;
        };
        let r = self.map.region();
        seqlock::write(
            r.u64(seq),
            r.words(data, RECORD_WORDS),
            &record_to_words(rec),
        );
        true
    }

    /// Publishes the latest trade of `sym`; false if `sym` is not in the table.
    #[inline]
    pub fn set_trade(&mut self, sym: u32, trade: &TradeRecord) -> bool {
        self.set_cell(sym, Cell::Trade, &Record::from_pod(trade))
    }

    /// Publishes the best bid/offer of `sym`; false if `sym` is not in the table.
    #[inline]
    pub fn set_quote(&mut self, sym: u32, quote: &QuoteRecord) -> bool {
        self.set_cell(sym, Cell::Quote, &Record::from_pod(quote))
    }

    /// Publishes a bar of `sym` for timeframe index `tf`: into the last-closed cell if its
    /// flags have [`bar_flags::CLOSED`], else into the current cell (the current cell is
    /// left as it was when a bar closes). False if `sym` or `tf` is out of range.
    #[inline]
    pub fn set_bar(&mut self, sym: u32, tf: usize, bar: &BarRecord) -> bool {
        let cell = if bar.flags & bar_flags::CLOSED != 0 {
            Cell::ClosedBar(tf)
        } else {
            Cell::CurrentBar(tf)
        };
        self.set_cell(sym, cell, &Record::from_pod(bar))
    }

    /// Number of symbols.
    pub fn symbol_count(&self) -> usize {
        self.shape.symbols
    }

    /// Number of timeframes.
    pub fn timeframe_count(&self) -> usize {
        self.timeframes
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.map.path()
    }

    /// This writer's incarnation.
    pub fn incarnation(&self) -> u64 {
        self.map.incarnation()
    }
}

/// The 64-byte symbol-table entry of `s`.
fn encode_symbol(s: &SymbolInfo) -> [u8; SYMBOL_ENTRY] {
    let mut e = [0u8; SYMBOL_ENTRY];
    e[0..4].copy_from_slice(&s.id.to_ne_bytes());
    e[4] = s.venue;
    e[5] = u8::from(s.priority);
    let name = &s.name.as_bytes()[..s.name.len().min(MAX_SYMBOL_NAME)];
    e[6..8].copy_from_slice(&(name.len() as u16).to_ne_bytes());
    e[8..8 + name.len()].copy_from_slice(name);
    let vname = venue::name(s.venue).as_bytes();
    let vlen = vname.len().min(VENUE_NAME);
    e[40..40 + vlen].copy_from_slice(&vname[..vlen]);
    e
}

/// A reader of `NAME.latest`: the tables are read once at open; cells on every call.
pub struct LatestReader {
    shape: Shape,
    symbols: Vec<SymbolInfo>,
    by_name: HashMap<(u8, String), u32>,
    timeframes: Vec<u32>,
    map: ReaderMap,
}

impl LatestReader {
    /// Opens `dir/NAME.latest` and reads its symbol and timeframe tables.
    pub fn open(dir: impl AsRef<Path>, name: &str) -> Result<LatestReader, ShmError> {
        let map = ReaderMap::open(dir.as_ref(), name, FileKind::Latest)?;
        let (r, path) = (map.region(), map.path());
        let count = r.load_u32(loff::SYMBOLS) as u64;
        let tfs = r.load_u32(loff::TIMEFRAMES) as usize;
        if tfs > MAX_TIMEFRAMES {
            return Err(corrupt(path, format!("{tfs} timeframes, at most 16")));
        }
        let expect = Shape::new(0, tfs);
        let cells = r.load_u32(loff::CELLS_PER_SYMBOL) as usize;
        let lines = r.load_u32(loff::LINES_PER_SYMBOL) as usize;
        let block = r.load_u64(loff::BLOCK);
        if cells != expect.cells || lines != expect.lines || block != expect.block as u64 {
            return Err(corrupt(
                path,
                format!("{cells} cells in {lines} lines, block {block}, for {tfs} timeframes"),
            ));
        }
        let len = r.len() as u64;
        let symtab = r.load_u64(loff::SYMTAB);
        let cells_off = r.load_u64(loff::CELLS);
        // count < 2^32 and block < 2^12, so the products cannot overflow.
        let symtab_end = symtab.checked_add(count * SYMBOL_ENTRY as u64);
        let cells_end = cells_off.checked_add(count * block);
        let ok = |start: u64, end: Option<u64>| {
            start >= HEADER_SIZE as u64 && start % 64 == 0 && end.is_some_and(|e| e <= len)
        };
        let (Some(symtab_end), Some(cells_end)) = (symtab_end, cells_end) else {
            return Err(corrupt(path, "table offsets overflow"));
        };
        if !ok(symtab, Some(symtab_end)) || !ok(cells_off, Some(cells_end)) {
            return Err(corrupt(
                path,
                format!("{count} symbols do not fit the {len}-byte file"),
            ));
        }
        if count > 0 && symtab_end > cells_off && cells_end > symtab {
            return Err(corrupt(path, "symbol table and cells overlap"));
        }
        let shape = Shape {
            symbols: count as usize,
            cells,
            lines,
            block: block as usize,
            symtab: symtab as usize,
            cells_off: cells_off as usize,
        };
        let timeframes: Vec<u32> = (0..tfs)
            .map(|t| r.load_u32(loff::TF_TABLE + 4 * t))
            .collect();
        let mut symbols = Vec::with_capacity(shape.symbols);
        let mut by_name = HashMap::with_capacity(shape.symbols);
        for i in 0..shape.symbols {
            let e: [u8; SYMBOL_ENTRY] = r.read_bytes(shape.symtab + SYMBOL_ENTRY * i);
            let s = decode_symbol(&e)
                .filter(|s| s.id as usize == i)
                .ok_or_else(|| corrupt(path, format!("symbol table entry {i} is invalid")))?;
            by_name.insert((s.venue, s.name.clone()), s.id);
            symbols.push(s);
        }
        Ok(LatestReader {
            shape,
            symbols,
            by_name,
            timeframes,
            map,
        })
    }

    /// The symbol table, in id order.
    pub fn symbols(&self) -> Vec<SymbolInfo> {
        self.symbols.clone()
    }

    /// The symbol with this id.
    pub fn symbol(&self, id: u32) -> Option<&SymbolInfo> {
        self.symbols.get(id as usize)
    }

    /// The id of a venue's symbol.
    pub fn lookup(&self, venue: u8, name: &str) -> Option<u32> {
        self.by_name.get(&(venue, name.to_string())).copied()
    }

    /// Seconds per timeframe, by timeframe index.
    pub fn timeframes(&self) -> Vec<u32> {
        self.timeframes.clone()
    }

    /// Reads a cell of a symbol (at most [`super::MAX_READ_TRIES`] attempts).
    pub fn read_cell(&self, sym: u32, cell: Cell) -> CellRead {
        if let Cell::CurrentBar(t) | Cell::ClosedBar(t) = cell {
            if t >= self.timeframes.len() {
                return CellRead::NoSuchCell;
            }
        }
        let Some((seq, data)) = self.shape.cell(sym, cell.index()) else {
            return CellRead::NoSuchCell;
        };
        let r = self.map.region();
        let mut words = [0u64; RECORD_WORDS];
        match seqlock::read(&r.words(seq, 1)[0], r.words(data, RECORD_WORDS), &mut words) {
            SeqRead::Ok => CellRead::Value(words_to_record(&words)),
            SeqRead::Never => CellRead::NeverWritten,
            SeqRead::Busy => CellRead::Busy,
        }
    }

    fn view(&self, sym: u32, cell: Cell) -> Option<RecordView> {
        match self.read_cell(sym, cell) {
            CellRead::Value(rec) => rec.view(),
            _ => None,
        }
    }

    /// The latest trade of `sym`; `None` if never written, busy, or no such symbol.
    pub fn trade(&self, sym: u32) -> Option<TradeRecord> {
        match self.view(sym, Cell::Trade)? {
            RecordView::Trade(t) => Some(t),
            _ => None,
        }
    }

    /// The best bid/offer of `sym`; `None` if never written, busy, or no such symbol.
    pub fn quote(&self, sym: u32) -> Option<QuoteRecord> {
        match self.view(sym, Cell::Quote)? {
            RecordView::Quote(q) => Some(q),
            _ => None,
        }
    }

    /// The current (open) bar of `sym` for timeframe index `tf`.
    pub fn current_bar(&self, sym: u32, tf: usize) -> Option<BarRecord> {
        match self.view(sym, Cell::CurrentBar(tf))? {
            RecordView::Bar(b) => Some(b),
            _ => None,
        }
    }

    /// The last closed bar of `sym` for timeframe index `tf`.
    pub fn closed_bar(&self, sym: u32, tf: usize) -> Option<BarRecord> {
        match self.view(sym, Cell::ClosedBar(tf))? {
            RecordView::Bar(b) => Some(b),
            _ => None,
        }
    }
}

/// A symbol-table entry, if valid.
fn decode_symbol(e: &[u8; SYMBOL_ENTRY]) -> Option<SymbolInfo> {
    let id = u32::from_ne_bytes(e[0..4].try_into().ok()?);
    let name_len = u16::from_ne_bytes(e[6..8].try_into().ok()?) as usize;
    if name_len == 0 || name_len > MAX_SYMBOL_NAME || e[5] > 1 {
        return None;
    }
    let name = std::str::from_utf8(&e[8..8 + name_len]).ok()?.to_string();
    Some(SymbolInfo {
        id,
        venue: e[4],
        name,
        priority: e[5] == 1,
    })
}

reader_common!(LatestReader);
