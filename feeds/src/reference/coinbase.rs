//! Coinbase Exchange read with serde_json into derived structs, independently of the
//! adapter.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};

use super::{decimal, RefContext, RefRecord};
use crate::venue::time::parse_rfc3339_ns;

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Match<'a> {
    trade_id: Option<u64>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    product_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    size: Option<Cow<'a, str>>,
    #[serde(borrow)]
    price: Option<Cow<'a, str>>,
    #[serde(borrow)]
    side: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Ticker<'a> {
    sequence: Option<u64>,
    #[serde(borrow)]
    product_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    best_bid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    best_bid_size: Option<Cow<'a, str>>,
    #[serde(borrow)]
    best_ask: Option<Cow<'a, str>>,
    #[serde(borrow)]
    best_ask_size: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Error<'a> {
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    #[serde(borrow)]
    reason: Option<&'a RawValue>,
}

/// The trades and quotes of one Coinbase Exchange frame, or `Err` when it is rejected.
pub fn parse(frame: &[u8], cx: &RefContext, out: &mut Vec<RefRecord>) -> Result<(), ()> {
    let text = std::str::from_utf8(frame).map_err(|_| ())?;
    if !text.trim_start().starts_with('{') {
        return Err(());
    }
    let top: Top = serde_json::from_str(text).map_err(|_| ())?;
    match top.kind.ok_or(())?.as_ref() {
        "match" => {
            let m: Match = serde_json::from_str(text).map_err(|_| ())?;
            let symbol = cx.symbol(&m.product_id.ok_or(())?)?;
            let side = match m.side.ok_or(())?.as_ref() {
                "sell" => Side::Buy,
                "buy" => Side::Sell,
                _ => return Err(()),
            };
            let ts = parse_rfc3339_ns(&m.time.ok_or(())?).ok_or(())?;
            out.push(RefRecord::Trade(TradeRecord::new(
                cx.venue,
                symbol,
                ts,
                cx.recv_ts,
                decimal(m.price)?,
                decimal(m.size)?,
                side,
                m.trade_id.ok_or(())?,
            )));
        }
        "ticker" => {
            let t: Ticker = serde_json::from_str(text).map_err(|_| ())?;
            let symbol = cx.symbol(&t.product_id.ok_or(())?)?;
            let ts = parse_rfc3339_ns(&t.time.ok_or(())?).ok_or(())?;
            out.push(RefRecord::Quote(QuoteRecord::new(
                cx.venue,
                symbol,
                ts,
                cx.recv_ts,
                decimal(t.best_bid)?,
                decimal(t.best_bid_size)?,
                decimal(t.best_ask)?,
                decimal(t.best_ask_size)?,
                t.sequence.ok_or(())?,
            )));
        }
        "error" => {
            let _: Error = serde_json::from_str(text).map_err(|_| ())?;
        }
        _ => {}
    }
    Ok(())
}
