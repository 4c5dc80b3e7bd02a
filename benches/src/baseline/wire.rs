//! Binance combined-stream frames read the conventional way: serde_json into owned,
//! derived structs.
//!
//! A frame is `{"stream":"btcusdt@trade","data":{...}}` with a `trade` payload
//! (`{"e":"trade","E":..,"s":..,"t":..,"p":"..","q":"..","T":..,"m":..,"M":..}`) or a
//! `bookTicker` payload (`{"u":..,"s":..,"b":"..","B":"..","a":"..","A":".."}`), or a reply
//! to a request (`{"result":null,"id":1}`, `{"code":2,"msg":"..","id":1}`). Prices and
//! sizes are decimal text, parsed into 1e-9 fixed point with tickforge's own parser so
//! that numbers agree exactly with the engine; the trade time `T` (milliseconds) is the
//! exchange time, as in tickforge's Binance adapter.

use serde::{Deserialize, Deserializer};
use tickforge_engine::fixed::parse_unsigned_decimal;

/// Nanoseconds per millisecond.
const NS_PER_MS: i64 = 1_000_000;

/// A trade, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    /// The venue's symbol (`BTCUSDT`).
    pub symbol: String,
    /// Exchange (trade) time, ns since the Unix epoch.
    pub exch_ts: i64,
    /// Price, 1e-9 units.
    pub price: i64,
    /// Size, 1e-9 units.
    pub size: i64,
    /// The venue's trade id.
    pub trade_id: u64,
    /// True when the buyer was the maker (the aggressor sold).
    pub buyer_maker: bool,
}

/// A best bid and offer, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The venue's symbol.
    pub symbol: String,
    /// The venue's order-book update id.
    pub update_id: u64,
    /// Best bid, 1e-9 units.
    pub bid: i64,
    /// Size at the best bid.
    pub bid_size: i64,
    /// Best ask.
    pub ask: i64,
    /// Size at the best ask.
    pub ask_size: i64,
}

/// What a text frame held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMessage {
    /// A trade on a `@trade` stream.
    Trade(Trade),
    /// A quote on a `@bookTicker` stream.
    Quote(Quote),
    /// A reply to a request (acknowledgement or error).
    Reply,
}

/// Why a frame was not understood.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not JSON, or not one of the expected shapes (a bad decimal included).
    #[error("frame not understood: {0}")]
    Json(#[from] serde_json::Error),
    /// A payload of the trade shape whose `e` is not `trade`.
    #[error("unexpected event {0:?}")]
    UnknownEvent(String),
    /// A trade time that does not fit in nanoseconds.
    #[error("trade time {0} ms out of range")]
    BadTime(i64),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Incoming {
    Stream {
        data: Payload,
    },
    Reply {
        #[allow(dead_code)] // present in every reply; its value is not needed
        id: serde_json::Value,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Payload {
    Trade(TradeMsg),
    BookTicker(BookTickerMsg),
}

#[derive(Deserialize)]
struct TradeMsg {
    #[serde(rename = "e")]
    event: String,
    #[serde(rename = "s")]
    symbol: String,
    #[serde(rename = "t")]
    trade_id: u64,
    #[serde(rename = "p", deserialize_with = "fixed")]
    price: i64,
    #[serde(rename = "q", deserialize_with = "fixed")]
    qty: i64,
    #[serde(rename = "T")]
    trade_time_ms: i64,
    #[serde(rename = "m")]
    buyer_maker: bool,
}

#[derive(Deserialize)]
struct BookTickerMsg {
    #[serde(rename = "u")]
    update_id: u64,
    #[serde(rename = "s")]
    symbol: String,
    #[serde(rename = "b", deserialize_with = "fixed")]
    bid: i64,
    #[serde(rename = "B", deserialize_with = "fixed")]
    bid_qty: i64,
    #[serde(rename = "a", deserialize_with = "fixed")]
    ask: i64,
    #[serde(rename = "A", deserialize_with = "fixed")]
    ask_qty: i64,
}

/// A non-negative decimal string as 1e-9 fixed point.
fn fixed<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = String::deserialize(d)?;
    parse_unsigned_decimal(text.as_bytes()).map_err(serde::de::Error::custom)
}

/// Reads one text frame.
pub fn parse(text: &str) -> Result<WireMessage, WireError> {
    match serde_json::from_str::<Incoming>(text)? {
        Incoming::Reply { .. } => Ok(WireMessage::Reply),
        Incoming::Stream {
            data: Payload::Trade(t),
        } => {
            if t.event != "trade" {
                return Err(WireError::UnknownEvent(t.event));
            }
            let exch_ts = t
                .trade_time_ms
                .checked_mul(NS_PER_MS)
                .ok_or(WireError::BadTime(t.trade_time_ms))?;
            Ok(WireMessage::Trade(Trade {
                symbol: t.symbol,
                exch_ts,
                price: t.price,
                size: t.qty,
                trade_id: t.trade_id,
                buyer_maker: t.buyer_maker,
            }))
        }
        Incoming::Stream {
            data: Payload::BookTicker(q),
        } => Ok(WireMessage::Quote(Quote {
            symbol: q.symbol,
            update_id: q.update_id,
            bid: q.bid,
            bid_size: q.bid_qty,
            ask: q.ask,
            ask_size: q.ask_qty,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_trade_a_quote_and_replies() {
        let t = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000999,"s":"BTCUSDT","t":9,"p":"12345.678900001","q":"0.00000001","T":1700000000998,"m":true,"M":true}}"#;
        assert_eq!(
            parse(t).unwrap(),
            WireMessage::Trade(Trade {
                symbol: "BTCUSDT".into(),
                exch_ts: 1_700_000_000_998_000_000,
                price: 12_345_678_900_001,
                size: 10,
                trade_id: 9,
                buyer_maker: true,
            })
        );
        let q = r#"{"stream":"ethusdt@bookTicker","data":{"u":400900217,"s":"ETHUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}"#;
        assert_eq!(
            parse(q).unwrap(),
            WireMessage::Quote(Quote {
                symbol: "ETHUSDT".into(),
                update_id: 400_900_217,
                bid: 25_351_900_000,
                bid_size: 31_210_000_000,
                ask: 25_365_200_000,
                ask_size: 40_660_000_000,
            })
        );
        assert_eq!(
            parse(r#"{"result":null,"id":1}"#).unwrap(),
            WireMessage::Reply
        );
        assert_eq!(
            parse(r#"{"code":2,"msg":"Invalid request","id":3}"#).unwrap(),
            WireMessage::Reply
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for bad in [
            "",
            "{",
            r#"{"stream":"x@trade","data":{"e":"trade","s":"X","t":1,"p":"abc","q":"1","T":1,"m":false}}"#,
            r#"{"stream":"x@trade","data":{"e":"trade","s":"X","t":1,"p":"-1","q":"1","T":1,"m":false}}"#,
            r#"{"stream":"x@trade","data":{"e":"trade","s":"X","t":1,"p":1,"q":"1","T":1,"m":false}}"#,
            r#"{"stream":"x@trade","data":{"e":"aggTrade","s":"X","t":1,"p":"1","q":"1","T":1,"m":false}}"#,
            r#"{"stream":"x@trade","data":{"e":"trade","s":"X","t":1,"p":"1","q":"1","T":9223372036854775807,"m":false}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
