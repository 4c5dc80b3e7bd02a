//! Binance spot read with serde_json, independently of the adapter.
//!
//! The frame is deserialized by serde_json into an ordered tree ([`J`]: objects keep
//! their key order and repeated keys, which Binance's dispatch rules need), then read
//! with the rules of the adapter's documentation: the first `e` key (or, at the top, a
//! `data`/`event` wrapper) decides the message; bookTicker keys without `e` make a quote;
//! replies to requests and unknown messages give no records; a repeated field of a
//! message is an error.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use tickforge_engine::fixed::parse_unsigned_decimal;
use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};

use super::{RefContext, RefRecord};

/// A JSON value with object members in order, duplicates kept.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(serde_json::Number),
    /// A string.
    Str(String),
    /// An array (elements are not needed).
    Arr,
    /// An object, members in order.
    Obj(Vec<(String, J)>),
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<J, E> {
                Ok(J::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<J, E> {
                Ok(J::Num(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<J, E> {
                Ok(J::Num(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<J, E> {
                serde_json::Number::from_f64(v)
                    .map(J::Num)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E>(self, v: &str) -> Result<J, E> {
                Ok(J::Str(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                while a.next_element::<J>()?.is_some() {}
                Ok(J::Arr)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, J>()? {
                    v.push((k, val));
                }
                Ok(J::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// The values of `names` in `members`; `Err` when one appears twice.
fn pick<'a, const N: usize>(
    members: &'a [(String, J)],
    names: [&str; N],
) -> Result<[Option<&'a J>; N], ()> {
    let mut out = [None; N];
    for (k, v) in members {
        if let Some(i) = names.iter().position(|n| n == k) {
            if out[i].is_some() {
                return Err(());
            }
            out[i] = Some(v);
        }
    }
    Ok(out)
}

/// The trades and quotes of one Binance frame, or `Err` when it is rejected.
#[allow(clippy::result_unit_err)]
pub fn parse(frame: &[u8], cx: &RefContext, out: &mut Vec<RefRecord>) -> Result<(), ()> {
    let top: J = serde_json::from_slice(frame).map_err(|_| ())?;
    message(&top, true, cx, out)
}

fn message(v: &J, top: bool, cx: &RefContext, out: &mut Vec<RefRecord>) -> Result<(), ()> {
    let members = match v {
        J::Obj(m) => m,
        J::Arr => return Ok(()),
        _ => return Err(()),
    };
    let mut book = false;
    let mut control = false;
    for (k, val) in members {
        match k.as_str() {
            "e" => return event(members, val, cx, out),
            "data" | "event" if top => return message(val, false, cx, out),
            "u" | "b" | "B" | "a" | "A" => book = true,
            "result" | "id" | "code" | "error" if top => control = true,
            _ => {}
        }
    }
    if book {
        out.push(RefRecord::Quote(quote(members, cx)?));
        Ok(())
    } else if control {
        reply(members)
    } else {
        Ok(())
    }
}

fn event(
    members: &[(String, J)],
    kind: &J,
    cx: &RefContext,
    out: &mut Vec<RefRecord>,
) -> Result<(), ()> {
    let J::Str(kind) = kind else { return Err(()) };
    match kind.as_str() {
        "trade" | "aggTrade" => {
            let id = if kind == "trade" { "t" } else { "a" };
            let [e, s, t, p, q, tt, m] = pick(members, ["E", id, "s", "p", "q", "T", "m"])
                .map(|[e, t, s, p, q, tt, m]| [e, s, t, p, q, tt, m])?;
            let symbol = cx.symbol(string(s)?)?;
            let trade_id = uint(t)?;
            let price = decimal(p)?;
            let size = decimal(q)?;
            let exch_ts = match (tt, e) {
                (Some(tt), _) => time(tt, cx)?,
                (None, Some(e)) => time(e, cx)?,
                (None, None) => return Err(()),
            };
            let side = match m {
                Some(J::Bool(true)) => Side::Sell,
                Some(J::Bool(false)) => Side::Buy,
                _ => return Err(()),
            };
            out.push(RefRecord::Trade(TradeRecord::new(
                cx.venue, symbol, exch_ts, cx.recv_ts, price, size, side, trade_id,
            )));
            Ok(())
        }
        "bookTicker" => {
            out.push(RefRecord::Quote(quote(members, cx)?));
            Ok(())
        }
        "serverShutdown" => pick(members, ["E"]).map(|_| ()),
        _ => Ok(()),
    }
}

fn quote(members: &[(String, J)], cx: &RefContext) -> Result<QuoteRecord, ()> {
    let [u, s, b, bq, a, aq, e, t] = pick(members, ["u", "s", "b", "B", "a", "A", "E", "T"])?;
    let symbol = cx.symbol(string(s)?)?;
    let update_id = uint(u)?;
    let (bid, bid_size, ask, ask_size) = (decimal(b)?, decimal(bq)?, decimal(a)?, decimal(aq)?);
    let exch_ts = match (t, e) {
        (Some(t), _) => time(t, cx)?,
        (None, Some(e)) => time(e, cx)?,
        (None, None) => cx.recv_ts,
    };
    Ok(QuoteRecord::new(
        cx.venue, symbol, exch_ts, cx.recv_ts, bid, bid_size, ask, ask_size, update_id,
    ))
}

/// Acks, lists and errors: no records, but a malformed reply is rejected.
fn reply(members: &[(String, J)]) -> Result<(), ()> {
    let [_result, _id, code, _msg, error] =
        pick(members, ["result", "id", "code", "msg", "error"])?;
    match error {
        Some(J::Obj(body)) => {
            let [code, _msg] = pick(body, ["code", "msg"])?;
            integer(code)
        }
        Some(_) => Err(()),
        None if code.is_some() => integer(code),
        None => Ok(()),
    }
}

fn string(v: Option<&J>) -> Result<&str, ()> {
    match v {
        Some(J::Str(s)) => Ok(s),
        _ => Err(()),
    }
}

fn uint(v: Option<&J>) -> Result<u64, ()> {
    match v {
        Some(J::Num(n)) => n.as_u64().ok_or(()),
        _ => Err(()),
    }
}

fn integer(v: Option<&J>) -> Result<(), ()> {
    match v {
        Some(J::Num(n)) if n.is_i64() || n.is_u64() => Ok(()),
        _ => Err(()),
    }
}

fn decimal(v: Option<&J>) -> Result<i64, ()> {
    parse_unsigned_decimal(string(v)?.as_bytes()).map_err(|_| ())
}

fn time(v: &J, cx: &RefContext) -> Result<i64, ()> {
    let unit: u64 = if cx.micros { 1_000 } else { 1_000_000 };
    uint(Some(v))?
        .checked_mul(unit)
        .and_then(|ns| i64::try_from(ns).ok())
        .ok_or(())
}
