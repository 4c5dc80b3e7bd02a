//! The symbol table: fixed at start-up, published in `NAME.latest`.
//!
//! A symbol id is the index of the symbol in the table. Ids are dense and stable for the
//! life of an engine instance, so per-symbol state lives in plain vectors indexed by id.

use std::collections::HashMap;

/// Venue ids used in records. The id is one byte; names are lower case.
pub mod venue {
    /// Binance spot.
    pub const BINANCE: u8 = 1;
    /// Coinbase Exchange.
    pub const COINBASE: u8 = 2;
    /// Coinbase Advanced Trade.
    pub const COINBASE_ADVANCED: u8 = 3;
    /// Kraken v2.
    pub const KRAKEN: u8 = 4;
    /// Polygon stocks.
    pub const POLYGON: u8 = 5;
    /// Bybit v5.
    pub const BYBIT: u8 = 6;
    /// OKX.
    pub const OKX: u8 = 7;

    /// The venue's lower-case name, or `"unknown"`.
    pub fn name(id: u8) -> &'static str {
        match id {
            BINANCE => "binance",
            COINBASE => "coinbase",
            COINBASE_ADVANCED => "coinbase_advanced",
            KRAKEN => "kraken",
            POLYGON => "polygon",
            BYBIT => "bybit",
            OKX => "okx",
            _ => "unknown",
        }
    }

    /// The venue id for a lower-case name.
    pub fn from_name(name: &str) -> Option<u8> {
        (1..=OKX).find(|&id| self::name(id) == name)
    }
}

/// Longest symbol name the table (and `NAME.latest`) holds, in bytes.
pub const MAX_SYMBOL_NAME: usize = 32;

/// One symbol: its id, venue and the venue's name for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolInfo {
    /// Dense id, the index in the table.
    pub id: u32,
    /// Venue id ([`venue`]).
    pub venue: u8,
    /// The venue's name for the symbol, as it appears in the venue's messages (`BTCUSDT`).
    pub name: String,
    /// Priority symbols are never sampled or throttled.
    pub priority: bool,
}

/// Why a symbol could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The name is empty or longer than [`MAX_SYMBOL_NAME`] bytes.
    #[error("symbol name {0:?} must be 1 to 32 bytes")]
    BadName(String),
    /// The same venue and name were added twice.
    #[error("symbol {name:?} is listed twice for venue {venue}")]
    Duplicate {
        /// Venue name.
        venue: &'static str,
        /// Symbol name.
        name: String,
    },
}

/// The engine's symbols, fixed at start-up.
#[derive(Debug, Clone, Default)]
pub struct SymbolTable {
    entries: Vec<SymbolInfo>,
    by_name: HashMap<(u8, String), u32>,
    /// Other names of symbols: (venue, name, id).
    aliases: Vec<(u8, String, u32)>,
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a symbol and returns its id.
    pub fn add(&mut self, venue: u8, name: &str, priority: bool) -> Result<u32, SymbolError> {
        if name.is_empty() || name.len() > MAX_SYMBOL_NAME {
            return Err(SymbolError::BadName(name.to_string()));
        }
        let key = (venue, name.to_string());
        if self.by_name.contains_key(&key) {
            return Err(SymbolError::Duplicate {
                venue: venue::name(venue),
                name: name.to_string(),
            });
        }
        let id = self.entries.len() as u32;
        self.entries.push(SymbolInfo {
            id,
            venue,
            name: name.to_string(),
            priority,
        });
        self.by_name.insert(key, id);
        Ok(id)
    }

    /// Makes `name` on `venue` another name of symbol `id` (a backup source on another
    /// venue carrying the same instrument).
    pub fn add_alias(&mut self, venue: u8, name: &str, id: u32) -> Result<(), SymbolError> {
        if name.is_empty() || name.len() > MAX_SYMBOL_NAME || id as usize >= self.entries.len() {
            return Err(SymbolError::BadName(name.to_string()));
        }
        let key = (venue, name.to_string());
        match self.by_name.get(&key) {
            Some(&existing) if existing == id => Ok(()),
            Some(_) => Err(SymbolError::Duplicate {
                venue: venue::name(venue),
                name: name.to_string(),
            }),
            None => {
                self.by_name.insert(key, id);
                self.aliases.push((venue, name.to_string(), id));
                Ok(())
            }
        }
    }

    /// Every (venue, name, id) a venue's messages may use: the symbols and their aliases.
    pub fn names(&self) -> impl Iterator<Item = (u8, &str, u32)> {
        self.entries
            .iter()
            .map(|s| (s.venue, s.name.as_str(), s.id))
            .chain(self.aliases.iter().map(|(v, n, id)| (*v, n.as_str(), *id)))
    }

    /// The id of a venue's symbol.
    pub fn lookup(&self, venue: u8, name: &str) -> Option<u32> {
        // Allocates the key: not for the parse path, where adapters keep their own
        // borrowed-key maps built from `iter`.
        self.by_name.get(&(venue, name.to_string())).copied()
    }

    /// The symbol with this id.
    pub fn get(&self, id: u32) -> Option<&SymbolInfo> {
        self.entries.get(id as usize)
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table holds no symbol.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All symbols in id order.
    pub fn iter(&self) -> impl Iterator<Item = &SymbolInfo> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_and_lookups_are_per_venue() {
        let mut t = SymbolTable::new();
        assert_eq!(t.add(venue::BINANCE, "BTCUSDT", true), Ok(0));
        assert_eq!(t.add(venue::BINANCE, "ETHUSDT", false), Ok(1));
        assert_eq!(t.add(venue::OKX, "BTCUSDT", false), Ok(2));
        assert_eq!(t.lookup(venue::OKX, "BTCUSDT"), Some(2));
        assert_eq!(t.lookup(venue::KRAKEN, "BTCUSDT"), None);
        assert!(t.get(0).unwrap().priority);
        assert!(matches!(
            t.add(venue::BINANCE, "ETHUSDT", false),
            Err(SymbolError::Duplicate { .. })
        ));
        assert!(t.add(venue::BINANCE, "", false).is_err());
        assert!(t.add(venue::BINANCE, &"X".repeat(33), false).is_err());
        assert_eq!(venue::from_name("kraken"), Some(venue::KRAKEN));
    }
}
