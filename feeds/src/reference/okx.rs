//! OKX read with serde_json into derived structs, independently of the adapter.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};

use super::{decimal, digits, millis, object, RefContext, RefRecord};

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    #[serde(borrow)]
    arg: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    code: Option<&'a RawValue>,
    #[serde(borrow)]
    #[allow(dead_code)]
    msg: Option<&'a RawValue>,
    #[serde(borrow)]
    #[allow(dead_code)]
    id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Arg<'a> {
    #[serde(borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "instId")]
    inst_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(borrow, rename = "tradeId")]
    trade_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    px: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sz: Option<Cow<'a, str>>,
    #[serde(borrow)]
    side: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ts: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Bbo<'a> {
    #[serde(borrow)]
    asks: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    bids: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    ts: Option<Cow<'a, str>>,
    #[serde(rename = "seqId")]
    seq_id: Option<u64>,
}

#[derive(Deserialize)]
struct Ticker<'a> {
    #[serde(borrow, rename = "bidPx")]
    bid_px: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "bidSz")]
    bid_sz: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "askPx")]
    ask_px: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "askSz")]
    ask_sz: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ts: Option<Cow<'a, str>>,
}

/// The trades and quotes of one OKX frame, or `Err` when it is rejected.
pub fn parse(frame: &[u8], cx: &RefContext, out: &mut Vec<RefRecord>) -> Result<(), ()> {
    if frame == b"pong" {
        return Ok(());
    }
    let text = std::str::from_utf8(frame).map_err(|_| ())?;
    let top: Top = serde_json::from_str(object(text)?).map_err(|_| ())?;
    if let Some(event) = top.event {
        let event: Cow<str> = serde_json::from_str(event.get()).map_err(|_| ())?;
        if event == "error" {
            if let Some(code) = top.code {
                let v: serde_json::Value = serde_json::from_str(code.get()).map_err(|_| ())?;
                if !(v.is_string() || v.is_number()) {
                    return Err(());
                }
            }
        }
        return Ok(());
    }
    let Some(data) = top.data else {
        return Ok(());
    };
    let arg: Arg = serde_json::from_str(object(top.arg.ok_or(())?.get())?).map_err(|_| ())?;
    let channel = arg.channel.ok_or(())?;
    let inst = arg.inst_id.ok_or(())?;
    if !matches!(
        channel.as_ref(),
        "trades" | "trades-all" | "bbo-tbt" | "tickers"
    ) {
        return Ok(());
    }
    let symbol = cx.symbol(&inst)?;
    let items: Vec<&RawValue> = serde_json::from_str(data.get()).map_err(|_| ())?;
    for item in items {
        match channel.as_ref() {
            "trades" | "trades-all" => {
                let t: Trade = serde_json::from_str(object(item.get())?).map_err(|_| ())?;
                let id = digits(&t.trade_id.ok_or(())?)?;
                let price = decimal(t.px)?;
                let size = decimal(t.sz)?;
                let side = match t.side.ok_or(())?.as_ref() {
                    "buy" => Side::Buy,
                    "sell" => Side::Sell,
                    _ => return Err(()),
                };
                let ts = millis(digits(&t.ts.ok_or(())?)?)?;
                out.push(RefRecord::Trade(
                    TradeRecord::new(cx.venue, symbol, ts, cx.recv_ts, price, size, side, id)
                        .with_flags(trade_flags::ID_NOT_CONSECUTIVE),
                ));
            }
            "bbo-tbt" => {
                let b: Bbo = serde_json::from_str(object(item.get())?).map_err(|_| ())?;
                let ask = level(b.asks.ok_or(())?)?;
                let bid = level(b.bids.ok_or(())?)?;
                let ts = millis(digits(&b.ts.ok_or(())?)?)?;
                if let (Some((ap, asz)), Some((bp, bsz))) = (ask, bid) {
                    out.push(RefRecord::Quote(QuoteRecord::new(
                        cx.venue,
                        symbol,
                        ts,
                        cx.recv_ts,
                        bp,
                        bsz,
                        ap,
                        asz,
                        b.seq_id.unwrap_or(0),
                    )));
                }
            }
            _ => {
                let t: Ticker = serde_json::from_str(object(item.get())?).map_err(|_| ())?;
                let ts = millis(digits(&t.ts.ok_or(())?)?)?;
                let empty = |v: &Option<Cow<str>>| v.as_deref() == Some("");
                if empty(&t.bid_px) || empty(&t.ask_px) {
                    continue;
                }
                out.push(RefRecord::Quote(QuoteRecord::new(
                    cx.venue,
                    symbol,
                    ts,
                    cx.recv_ts,
                    decimal(t.bid_px)?,
                    decimal(t.bid_sz)?,
                    decimal(t.ask_px)?,
                    decimal(t.ask_sz)?,
                    0,
                )));
            }
        }
    }
    Ok(())
}

/// The first level of a side: `[price, size, ...]` strings; `None` for an empty side.
fn level(side: Vec<&RawValue>) -> Result<Option<(i64, i64)>, ()> {
    let Some(first) = side.first() else {
        return Ok(None);
    };
    let first: Vec<&RawValue> = serde_json::from_str(first.get()).map_err(|_| ())?;
    if first.len() < 2 {
        return Err(());
    }
    let px: Cow<str> = serde_json::from_str(first[0].get()).map_err(|_| ())?;
    let sz: Cow<str> = serde_json::from_str(first[1].get()).map_err(|_| ())?;
    Ok(Some((decimal(Some(px))?, decimal(Some(sz))?)))
}
