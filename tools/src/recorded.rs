//! What the journal records about the engine at the start of every segment: its config,
//! with every feed's symbols spelled out (so the symbol table is fixed by it), and the
//! symbol table as comments. A replay rebuilds the same pipeline from it.

use anyhow::Context;
use tickforge_engine::symbol::{venue, SymbolTable};

use crate::config::Config;

/// First line of the payload.
const HEADER: &str = "# tickforge journal start: the engine's config and symbol table\n";

/// The `SEGMENT_START` payload: `cfg` as TOML with `feed_symbols[i]` as feed `i`'s symbols
/// and API keys left out, followed by the symbol table as comment lines
/// (`# symbol <id> <venue> <name>`).
pub fn start_payload(
    cfg: &Config,
    feed_symbols: &[Vec<String>],
    table: &SymbolTable,
) -> anyhow::Result<Vec<u8>> {
    let mut recorded = cfg.clone();
    for (f, names) in recorded.feeds.iter_mut().zip(feed_symbols) {
        f.symbols = names.clone();
        if f.api_key.is_some() {
            f.api_key = Some("(not recorded)".into());
        }
    }
    let mut text = String::from(HEADER);
    // Names the run, so that a replay tells runs appended to the same journal apart.
    text.push_str(&format!(
        "# run started {} by process {}\n",
        tickforge_engine::clock::wall_ns(),
        std::process::id()
    ));
    text.push_str(&toml::to_string(&recorded).context("recording the config")?);
    text.push('\n');
    for (id, s) in table.iter().enumerate() {
        text.push_str(&format!(
            "# symbol {id} {} {}\n",
            venue::name(s.venue),
            s.name
        ));
    }
    Ok(text.into_bytes())
}

/// The config recorded in a `SEGMENT_START` payload.
pub fn recorded_config(payload: &[u8]) -> anyhow::Result<Config> {
    let text = std::str::from_utf8(payload).context("the recorded config is not UTF-8")?;
    anyhow::ensure!(
        text.starts_with(HEADER),
        "the segment start does not hold a tickforge config"
    );
    Config::from_toml(text).context("reading the recorded config")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_config_reads_back_with_the_same_symbols() {
        let mut cfg = Config::default();
        cfg.feeds[0].api_key = Some("secret".into());
        let mut table = SymbolTable::new();
        let names = vec!["BTCUSDT".to_string(), "ETHUSDT".to_string()];
        for n in &names {
            table.add(venue::BINANCE, n, false).unwrap();
        }
        let payload = start_payload(&cfg, std::slice::from_ref(&names), &table).unwrap();
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("# symbol 1 binance ETHUSDT"), "{text}");
        let back = recorded_config(&payload).unwrap();
        assert_eq!(back.feeds[0].symbols, names);
        assert_eq!(back.engine.timeframes, cfg.engine.timeframes);
        assert_eq!(
            back.signals.params(&back.engine.timeframes).unwrap(),
            cfg.signals.params(&cfg.engine.timeframes).unwrap()
        );
        assert!(recorded_config(b"not a config").is_err());
    }
}
