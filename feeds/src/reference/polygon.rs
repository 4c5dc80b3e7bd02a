//! Polygon stocks read with serde_json into derived structs, independently of the
//! adapter. Prices and sizes are captured as raw JSON number text.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};

use super::{millis, number, RefContext, RefRecord};

#[derive(Deserialize)]
struct Ev<'a> {
    #[serde(borrow)]
    ev: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(borrow)]
    sym: Option<Cow<'a, str>>,
    #[serde(borrow)]
    i: Option<Cow<'a, str>>,
    #[serde(borrow)]
    p: Option<&'a RawValue>,
    #[serde(borrow)]
    s: Option<&'a RawValue>,
    t: Option<u64>,
}

#[derive(Deserialize)]
struct Quote<'a> {
    #[serde(borrow)]
    sym: Option<Cow<'a, str>>,
    #[serde(borrow)]
    bp: Option<&'a RawValue>,
    #[serde(borrow)]
    bs: Option<&'a RawValue>,
    #[serde(borrow)]
    ap: Option<&'a RawValue>,
    #[serde(borrow, rename = "as")]
    size_ask: Option<&'a RawValue>,
    t: Option<u64>,
    q: Option<u64>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Status<'a> {
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
}

/// The trades and quotes of one Polygon frame, or `Err` when it is rejected.
pub fn parse(frame: &[u8], cx: &RefContext, out: &mut Vec<RefRecord>) -> Result<(), ()> {
    let text = std::str::from_utf8(frame).map_err(|_| ())?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let events: Vec<&RawValue> = serde_json::from_str(text).map_err(|_| ())?;
        for e in events {
            event(e.get(), cx, out)?;
        }
        Ok(())
    } else {
        event(text, cx, out)
    }
}

fn event(text: &str, cx: &RefContext, out: &mut Vec<RefRecord>) -> Result<(), ()> {
    if !text.trim_start().starts_with('{') {
        return Err(());
    }
    let ev: Ev = serde_json::from_str(text).map_err(|_| ())?;
    match ev.ev.ok_or(())?.as_ref() {
        "T" => {
            let t: Trade = serde_json::from_str(text).map_err(|_| ())?;
            let symbol = cx.symbol(&t.sym.ok_or(())?)?;
            let id = t.i.ok_or(())?;
            let id = if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
                id.parse().unwrap_or(0)
            } else {
                0
            };
            out.push(RefRecord::Trade(
                TradeRecord::new(
                    cx.venue,
                    symbol,
                    millis(t.t.ok_or(())?)?,
                    cx.recv_ts,
                    number(t.p)?,
                    number(t.s)?,
                    Side::Unknown,
                    id,
                )
                .with_flags(trade_flags::ID_UNORDERED),
            ));
        }
        "Q" => {
            let q: Quote = serde_json::from_str(text).map_err(|_| ())?;
            let symbol = cx.symbol(&q.sym.ok_or(())?)?;
            out.push(RefRecord::Quote(QuoteRecord::new(
                cx.venue,
                symbol,
                millis(q.t.ok_or(())?)?,
                cx.recv_ts,
                number(q.bp)?,
                number(q.bs)?,
                number(q.ap)?,
                number(q.size_ask)?,
                q.q.unwrap_or(0),
            )));
        }
        "status" => {
            let s: Status = serde_json::from_str(text).map_err(|_| ())?;
            s.status.ok_or(())?;
        }
        _ => {}
    }
    Ok(())
}
