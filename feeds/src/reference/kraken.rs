//! Kraken v2 read with serde_json into derived structs, independently of the adapter.
//! Prices and sizes are captured as raw JSON number text (`RawValue`), never as floats.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};

use super::{number, object, RefContext, RefRecord};
use crate::venue::time::parse_rfc3339_ns;

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow)]
    channel: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Reply<'a> {
    #[serde(borrow)]
    req_id: Option<&'a RawValue>,
    success: Option<bool>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
    #[serde(borrow)]
    symbol: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(borrow)]
    symbol: Option<Cow<'a, str>>,
    #[serde(borrow)]
    side: Option<Cow<'a, str>>,
    #[serde(borrow)]
    price: Option<&'a RawValue>,
    #[serde(borrow)]
    qty: Option<&'a RawValue>,
    trade_id: Option<u64>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Ticker<'a> {
    #[serde(borrow)]
    symbol: Option<Cow<'a, str>>,
    #[serde(borrow)]
    bid: Option<&'a RawValue>,
    #[serde(borrow)]
    bid_qty: Option<&'a RawValue>,
    #[serde(borrow)]
    ask: Option<&'a RawValue>,
    #[serde(borrow)]
    ask_qty: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
}

/// The trades and quotes of one Kraken frame, or `Err` when it is rejected.
pub fn parse(frame: &[u8], cx: &RefContext, out: &mut Vec<RefRecord>) -> Result<(), ()> {
    let text = std::str::from_utf8(frame).map_err(|_| ())?;
    let top: Top = serde_json::from_str(object(text)?).map_err(|_| ())?;
    if top.method.is_some() {
        let _: Reply = serde_json::from_str(text).map_err(|_| ())?;
        return Ok(());
    }
    let Some(channel) = top.channel else {
        return Ok(());
    };
    let channel: Cow<str> = serde_json::from_str(channel.get()).map_err(|_| ())?;
    if channel != "trade" && channel != "ticker" {
        return Ok(());
    }
    let items: Vec<&RawValue> = serde_json::from_str(top.data.ok_or(())?.get()).map_err(|_| ())?;
    for item in items {
        let item = object(item.get())?;
        if channel == "trade" {
            let t: Trade = serde_json::from_str(item).map_err(|_| ())?;
            let symbol = cx.symbol(&t.symbol.ok_or(())?)?;
            let side = match t.side.ok_or(())?.as_ref() {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                _ => return Err(()),
            };
            let ts = parse_rfc3339_ns(&t.timestamp.ok_or(())?).ok_or(())?;
            out.push(RefRecord::Trade(TradeRecord::new(
                cx.venue,
                symbol,
                ts,
                cx.recv_ts,
                number(t.price)?,
                number(t.qty)?,
                side,
                t.trade_id.ok_or(())?,
            )));
        } else {
            let t: Ticker = serde_json::from_str(item).map_err(|_| ())?;
            let symbol = cx.symbol(&t.symbol.ok_or(())?)?;
            let ts = match t.timestamp {
                Some(ts) => parse_rfc3339_ns(&ts).ok_or(())?,
                None => cx.recv_ts,
            };
            out.push(RefRecord::Quote(QuoteRecord::new(
                cx.venue,
                symbol,
                ts,
                cx.recv_ts,
                number(t.bid)?,
                number(t.bid_qty)?,
                number(t.ask)?,
                number(t.ask_qty)?,
                0,
            )));
        }
    }
    Ok(())
}
