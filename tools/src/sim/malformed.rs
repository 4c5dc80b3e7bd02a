//! Fault injection: malformed frames shaped like a venue's messages.
//!
//! A malformed frame is the venue's encoding of the next event of a subscribed stream
//! (the market is only peeked, never advanced) with one thing broken, so every venue's
//! adapter meets the same kinds of bad input in its own format.

use rand::Rng;

use super::generator::{Event, Market};
use super::venue::{Overrides, VenueSim};

/// The kinds of bad data frame the simulator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MalformedKind {
    /// A well-formed frame cut short: not valid JSON.
    Truncated,
    /// A well-formed frame with a raw NUL byte inserted: valid UTF-8, invalid JSON.
    InvalidJson,
    /// The price is a string that is not a number: `"abc"`.
    PriceNotNumber,
    /// The price is a number too large for any fixed-point type:
    /// `"99999999999999999999"`.
    PriceOverflow,
    /// The price has the wrong JSON type for the venue: a number where the venue sends
    /// strings (`123.4`), a string where it sends numbers.
    PriceAsNumber,
    /// The id has the wrong JSON type for the venue (`"x"` where ids are integers).
    IdAsString,
    /// A well-formed message for a symbol that is not simulated (nor subscribed).
    UnknownSymbol,
    /// A well-formed message sent in a binary frame instead of a text frame.
    Binary,
}

impl MalformedKind {
    /// Number of kinds.
    pub const COUNT: usize = 8;
    /// Every kind, in [`MalformedKind::index`] order.
    pub const ALL: [MalformedKind; MalformedKind::COUNT] = [
        MalformedKind::Truncated,
        MalformedKind::InvalidJson,
        MalformedKind::PriceNotNumber,
        MalformedKind::PriceOverflow,
        MalformedKind::PriceAsNumber,
        MalformedKind::IdAsString,
        MalformedKind::UnknownSymbol,
        MalformedKind::Binary,
    ];

    /// Position in [`MalformedKind::ALL`] (and in [`super::SimStats::malformed_by_kind`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name, e.g. `price_overflow`.
    pub fn name(self) -> &'static str {
        match self {
            MalformedKind::Truncated => "truncated",
            MalformedKind::InvalidJson => "invalid_json",
            MalformedKind::PriceNotNumber => "price_not_number",
            MalformedKind::PriceOverflow => "price_overflow",
            MalformedKind::PriceAsNumber => "price_as_number",
            MalformedKind::IdAsString => "id_as_string",
            MalformedKind::UnknownSymbol => "unknown_symbol",
            MalformedKind::Binary => "binary",
        }
    }
}

/// A data frame to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutFrame {
    Text(String),
    Binary(Vec<u8>),
}

/// A subscribed stream (symbol index, trade or quote) drawn with `rng`, or `None`
/// without subscriptions.
pub(crate) fn random_stream<R: Rng>(rng: &mut R, session: &dyn VenueSim) -> Option<(usize, bool)> {
    let trades = session.trade_symbols();
    let quotes = session.quote_symbols();
    let n = trades.len() + quotes.len();
    if n == 0 {
        return None;
    }
    let i = rng.random_range(0..n);
    Some(match trades.get(i) {
        Some(&s) => (s, true),
        None => (quotes[i - trades.len()], false),
    })
}

/// A malformed frame for the stream (`symbol`, `trade`), in `session`'s venue format,
/// with every random choice drawn from `rng`.
pub(crate) fn encode_malformed<R: Rng>(
    rng: &mut R,
    session: &mut dyn VenueSim,
    market: &Market,
    (symbol, trade): (usize, bool),
    ts_ns: u64,
) -> (MalformedKind, OutFrame) {
    let kind = MalformedKind::ALL[rng.random_range(0..MalformedKind::COUNT)];
    let specs = market.specs();
    let spec = &specs[symbol];
    let ev: Event = if trade {
        market.peek_trade(symbol)
    } else {
        market.peek_quote(symbol)
    };
    let mut unknown = format!("NOSUCH{}", spec.name);
    while specs.iter().any(|s| s.name == unknown) {
        unknown.insert(0, 'X');
    }
    let mut ov = Overrides::default();
    match kind {
        MalformedKind::PriceNotNumber => ov.price = Some(r#""abc""#),
        MalformedKind::PriceOverflow => ov.price = Some(r#""99999999999999999999""#),
        MalformedKind::PriceAsNumber => ov.price = Some(session.wrong_type_price()),
        MalformedKind::IdAsString => ov.id = Some(session.wrong_type_id()),
        MalformedKind::UnknownSymbol => ov.symbol = Some(&unknown),
        MalformedKind::Truncated | MalformedKind::InvalidJson | MalformedKind::Binary => {}
    }
    let mut text = String::with_capacity(256);
    session.encode(&mut text, spec, &ev, ts_ns, &ov);
    let frame = match kind {
        MalformedKind::Truncated => {
            // Keep at least one byte and drop at least the last one, on a char boundary.
            let mut cut = rng.random_range(1..text.len().max(2));
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut.max(1).min(text.len().saturating_sub(1)));
            OutFrame::Text(text)
        }
        MalformedKind::InvalidJson => {
            // A raw control byte is invalid both inside a JSON string and between tokens.
            let mut at = rng.random_range(1..text.len().max(2)).min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert(at, '\0');
            OutFrame::Text(text)
        }
        MalformedKind::Binary => OutFrame::Binary(text.into_bytes()),
        _ => OutFrame::Text(text),
    };
    (kind, frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::venue;
    use crate::sim::SimConfig;
    use rand::SeedableRng;
    use serde_json::Value;
    use tickforge_engine::symbol::venue as ids;

    #[test]
    fn binance_malformed_frames_are_malformed() {
        let s = SimConfig::default().symbol_specs();
        let market = Market::new(s.clone(), 3);
        let mut session = venue::open(ids::BINANCE, "/stream", &s).unwrap();
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        let mut seen = [0usize; MalformedKind::COUNT];
        for i in 0..2_000 {
            let stream = (i % 8, i % 2 == 0);
            let (kind, frame) =
                encode_malformed(&mut rng, session.as_mut(), &market, stream, 1_000_000);
            seen[kind.index()] += 1;
            match (kind, frame) {
                (MalformedKind::Binary, OutFrame::Binary(b)) => {
                    assert!(serde_json::from_slice::<Value>(&b).is_ok())
                }
                (MalformedKind::Truncated | MalformedKind::InvalidJson, OutFrame::Text(t)) => {
                    assert!(serde_json::from_str::<Value>(&t).is_err(), "{t}")
                }
                (MalformedKind::UnknownSymbol, OutFrame::Text(t)) => {
                    assert!(t.contains("NOSUCHBTCUSDT") || t.contains("NOSUCH"), "{t}")
                }
                (k, OutFrame::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    let data = v.get("data").unwrap_or(&v);
                    let (pk, ik) = if data.get("e").is_some() {
                        ("p", "t")
                    } else {
                        ("b", "u")
                    };
                    match k {
                        MalformedKind::PriceNotNumber => assert_eq!(data[pk], "abc"),
                        MalformedKind::PriceOverflow => {
                            assert_eq!(data[pk], "99999999999999999999")
                        }
                        MalformedKind::PriceAsNumber => assert!(data[pk].is_number()),
                        MalformedKind::IdAsString => assert_eq!(data[ik], "x"),
                        _ => unreachable!(),
                    }
                }
                (k, f) => panic!("{k:?} gave {f:?}"),
            }
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }
}
