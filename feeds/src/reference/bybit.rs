//! Bybit v5 spot read with serde_json into derived structs, independently of the adapter.
//! The best bid and ask of `orderbook.1` are kept per symbol, so that deltas apply.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};

use super::{decimal, digits, millis, object, RefContext, RefRecord};

/// Best bid and ask per symbol id.
pub type Books = HashMap<u32, [Option<(i64, i64)>; 2]>;

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow)]
    topic: Option<&'a RawValue>,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    ts: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    op: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Reply<'a> {
    #[serde(borrow)]
    op: Option<Cow<'a, str>>,
    success: Option<bool>,
    #[serde(borrow)]
    ret_msg: Option<&'a RawValue>,
    #[serde(borrow)]
    req_id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(rename = "T")]
    time: Option<u64>,
    #[serde(borrow)]
    s: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "S")]
    side: Option<Cow<'a, str>>,
    #[serde(borrow)]
    v: Option<Cow<'a, str>>,
    #[serde(borrow)]
    p: Option<Cow<'a, str>>,
    #[serde(borrow)]
    i: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Book<'a> {
    #[serde(borrow)]
    s: Option<Cow<'a, str>>,
    #[serde(borrow)]
    b: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    a: Option<Vec<&'a RawValue>>,
    u: Option<u64>,
}

/// The trades and quotes of one Bybit frame, or `Err` when it is rejected.
pub fn parse(
    frame: &[u8],
    cx: &RefContext,
    books: &mut Books,
    out: &mut Vec<RefRecord>,
) -> Result<(), ()> {
    let text = std::str::from_utf8(frame).map_err(|_| ())?;
    let top: Top = serde_json::from_str(object(text)?).map_err(|_| ())?;
    if let Some(topic) = top.topic {
        let topic: Cow<str> = serde_json::from_str(topic.get()).map_err(|_| ())?;
        if topic.starts_with("publicTrade.") {
            let items: Vec<&RawValue> =
                serde_json::from_str(top.data.ok_or(())?.get()).map_err(|_| ())?;
            for item in items {
                let t: Trade = serde_json::from_str(object(item.get())?).map_err(|_| ())?;
                let symbol = cx.symbol(&t.s.ok_or(())?)?;
                let ts = millis(t.time.ok_or(())?)?;
                let side = match t.side.ok_or(())?.as_ref() {
                    "Buy" => Side::Buy,
                    "Sell" => Side::Sell,
                    _ => return Err(()),
                };
                let size = decimal(t.v)?;
                let price = decimal(t.p)?;
                let id = t.i.ok_or(())?;
                let (trade_id, flags) = match digits(&id).ok() {
                    Some(n) => (n, trade_flags::ID_NOT_CONSECUTIVE),
                    None => (0, trade_flags::ID_UNORDERED),
                };
                out.push(RefRecord::Trade(
                    TradeRecord::new(
                        cx.venue, symbol, ts, cx.recv_ts, price, size, side, trade_id,
                    )
                    .with_flags(flags),
                ));
            }
        } else if topic.starts_with("orderbook.1.") {
            let kind: Cow<str> = serde_json::from_str(top.kind.ok_or(())?.get()).map_err(|_| ())?;
            let snapshot = match kind.as_ref() {
                "snapshot" => true,
                "delta" => false,
                _ => return Err(()),
            };
            let ts: u64 = serde_json::from_str(top.ts.ok_or(())?.get()).map_err(|_| ())?;
            let ts = millis(ts)?;
            let b: Book =
                serde_json::from_str(object(top.data.ok_or(())?.get())?).map_err(|_| ())?;
            let symbol = cx.symbol(&b.s.ok_or(())?)?;
            let update_id = b.u.ok_or(())?;
            let book = books.entry(symbol).or_insert([None, None]);
            let (bid_from, ask_from) = if snapshot {
                (None, None)
            } else {
                (book[0], book[1])
            };
            let bid = apply(bid_from, b.b)?;
            let ask = apply(ask_from, b.a)?;
            *book = [bid, ask];
            if let [Some((bp, bs)), Some((ap, asz))] = *book {
                out.push(RefRecord::Quote(QuoteRecord::new(
                    cx.venue, symbol, ts, cx.recv_ts, bp, bs, ap, asz, update_id,
                )));
            }
        }
        return Ok(());
    }
    if top.op.is_some() {
        let r: Reply = serde_json::from_str(text).map_err(|_| ())?;
        r.op.ok_or(())?;
    }
    Ok(())
}

/// One side after the entries `[[price, size], ...]`: size 0 deletes the level at that
/// price, anything else replaces it; no list leaves the side as it was.
fn apply(
    mut level: Option<(i64, i64)>,
    entries: Option<Vec<&RawValue>>,
) -> Result<Option<(i64, i64)>, ()> {
    for entry in entries.unwrap_or_default() {
        let entry: Vec<&RawValue> = serde_json::from_str(entry.get()).map_err(|_| ())?;
        if entry.len() < 2 {
            return Err(());
        }
        let px: Cow<str> = serde_json::from_str(entry[0].get()).map_err(|_| ())?;
        let sz: Cow<str> = serde_json::from_str(entry[1].get()).map_err(|_| ())?;
        let (px, sz) = (decimal(Some(px))?, decimal(Some(sz))?);
        if sz != 0 {
            level = Some((px, sz));
        } else if level.map(|l| l.0) == Some(px) {
            level = None;
        }
    }
    Ok(level)
}
