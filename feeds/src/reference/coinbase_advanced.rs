//! Coinbase Advanced Trade read with serde_json into derived structs, independently of
//! the adapter.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};

use super::{decimal, digits, object, RefContext, RefRecord};
use crate::venue::time::parse_rfc3339_ns;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Top<'a> {
    #[serde(borrow)]
    channel: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    sequence_num: Option<&'a RawValue>,
    #[serde(borrow)]
    events: Option<&'a RawValue>,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct TradeEvent<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    trades: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(borrow)]
    trade_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    product_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    price: Option<Cow<'a, str>>,
    #[serde(borrow)]
    size: Option<Cow<'a, str>>,
    #[serde(borrow)]
    side: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TickerEvent<'a> {
    #[serde(borrow)]
    tickers: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Ticker<'a> {
    #[serde(borrow)]
    product_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    best_bid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    best_bid_quantity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    best_ask: Option<Cow<'a, str>>,
    #[serde(borrow)]
    best_ask_quantity: Option<Cow<'a, str>>,
}

/// The trades and quotes of one Advanced Trade frame, or `Err` when it is rejected.
pub fn parse(frame: &[u8], cx: &RefContext, out: &mut Vec<RefRecord>) -> Result<(), ()> {
    let text = std::str::from_utf8(frame).map_err(|_| ())?;
    let top: Top = serde_json::from_str(object(text)?).map_err(|_| ())?;
    let Some(channel) = top.channel else {
        return Ok(());
    };
    let channel: Cow<str> = serde_json::from_str(channel.get()).map_err(|_| ())?;
    let trades = match channel.as_ref() {
        "market_trades" => true,
        "ticker" | "ticker_batch" => false,
        _ => return Ok(()),
    };
    let events: Vec<&RawValue> =
        serde_json::from_str(top.events.ok_or(())?.get()).map_err(|_| ())?;
    if trades {
        for e in events {
            let e: TradeEvent = serde_json::from_str(object(e.get())?).map_err(|_| ())?;
            if e.kind.ok_or(())? == "snapshot" {
                continue;
            }
            let list: Vec<&RawValue> =
                serde_json::from_str(e.trades.ok_or(())?.get()).map_err(|_| ())?;
            for t in list {
                let t: Trade = serde_json::from_str(object(t.get())?).map_err(|_| ())?;
                let symbol = cx.symbol(&t.product_id.ok_or(())?)?;
                let side = match t.side.ok_or(())?.as_ref() {
                    "SELL" => Side::Buy,
                    "BUY" => Side::Sell,
                    _ => return Err(()),
                };
                let ts = parse_rfc3339_ns(&t.time.ok_or(())?).ok_or(())?;
                let id = digits(&t.trade_id.ok_or(())?)?;
                out.push(RefRecord::Trade(TradeRecord::new(
                    cx.venue,
                    symbol,
                    ts,
                    cx.recv_ts,
                    decimal(t.price)?,
                    decimal(t.size)?,
                    side,
                    id,
                )));
            }
        }
    } else {
        let ts: Cow<str> = serde_json::from_str(top.timestamp.ok_or(())?.get()).map_err(|_| ())?;
        let ts = parse_rfc3339_ns(&ts).ok_or(())?;
        let seq: u64 = serde_json::from_str(top.sequence_num.ok_or(())?.get()).map_err(|_| ())?;
        for e in events {
            let e: TickerEvent = serde_json::from_str(object(e.get())?).map_err(|_| ())?;
            let list: Vec<&RawValue> =
                serde_json::from_str(e.tickers.ok_or(())?.get()).map_err(|_| ())?;
            for t in list {
                let t: Ticker = serde_json::from_str(object(t.get())?).map_err(|_| ())?;
                let symbol = cx.symbol(&t.product_id.ok_or(())?)?;
                out.push(RefRecord::Quote(QuoteRecord::new(
                    cx.venue,
                    symbol,
                    ts,
                    cx.recv_ts,
                    decimal(t.best_bid)?,
                    decimal(t.best_bid_quantity)?,
                    decimal(t.best_ask)?,
                    decimal(t.best_ask_quantity)?,
                    seq,
                )));
            }
        }
    }
    Ok(())
}
