//! Typed field access for adapters built on [`json`](super::json): every helper maps a
//! missing or wrongly-typed field to its [`RejectReason`], so adapters read as a list of
//! fields.
//!
//! ```
//! use tickforge_feeds::venue::fields::{fields, decimal_str, u64_num};
//! use tickforge_feeds::venue::json::{parse, Value};
//!
//! let Value::Object(obj) = parse(br#"{"price":"1.5","id":7,"extra":[]}"#).unwrap() else {
//!     unreachable!()
//! };
//! let [price, id] = fields(&obj, &["price", "id"]).unwrap();
//! assert_eq!(decimal_str(price, "price", false).unwrap(), 1_500_000_000);
//! assert_eq!(u64_num(id, "id").unwrap(), 7);
//! ```

use tickforge_engine::fixed::parse_unsigned_decimal;

use super::json::{parse_u64, Object, Str, Value};
use super::time::{parse_rfc3339_ns, scaled};
use super::RejectReason;

/// The members of `obj` named in `names`, by position (`None` when absent). Other members
/// are ignored. A name that appears twice is [`RejectReason::MalformedJson`], as serde
/// reports a duplicate field.
#[inline]
pub fn fields<'a, const N: usize>(
    obj: &Object<'a>,
    names: &[&str; N],
) -> Result<[Option<Value<'a>>; N], RejectReason> {
    let mut out = [None; N];
    for (key, value) in obj.iter() {
        let Some(i) = names.iter().position(|n| key.eq_str(n)) else {
            continue;
        };
        if out[i].is_some() {
            return Err(RejectReason::MalformedJson);
        }
        out[i] = Some(value);
    }
    Ok(out)
}

/// `None` for an absent member and for `null`: every venue means the same by both, and
/// serde reads an `Option` field that way.
#[inline]
pub fn present(v: Option<Value<'_>>) -> Option<Value<'_>> {
    v.filter(|v| !matches!(v, Value::Null))
}

/// The value, or [`RejectReason::MissingField`].
#[inline]
pub fn required<'a>(v: Option<Value<'a>>, field: &'static str) -> Result<Value<'a>, RejectReason> {
    v.ok_or(RejectReason::MissingField(field))
}

/// An object.
pub fn object<'a>(v: Option<Value<'a>>, field: &'static str) -> Result<Object<'a>, RejectReason> {
    match required(v, field)? {
        Value::Object(o) => Ok(o),
        _ => Err(RejectReason::WrongType(field)),
    }
}

/// A string.
#[inline]
pub fn string<'a>(v: Option<Value<'a>>, field: &'static str) -> Result<Str<'a>, RejectReason> {
    match required(v, field)? {
        Value::String(s) => Ok(s),
        _ => Err(RejectReason::WrongType(field)),
    }
}

/// A boolean.
pub fn boolean(v: Option<Value<'_>>, field: &'static str) -> Result<bool, RejectReason> {
    match required(v, field)? {
        Value::Bool(b) => Ok(b),
        _ => Err(RejectReason::WrongType(field)),
    }
}

/// A JSON integer ≥ 0 (an id or sequence number): negative is [`RejectReason::BadId`],
/// a fraction, an exponent or more than 64 bits is [`RejectReason::WrongType`].
#[inline]
pub fn u64_num(v: Option<Value<'_>>, field: &'static str) -> Result<u64, RejectReason> {
    match required(v, field)? {
        Value::Number(n) => n.as_u64().ok_or(if n.text().starts_with('-') {
            RejectReason::BadId(field)
        } else {
            RejectReason::WrongType(field)
        }),
        _ => Err(RejectReason::WrongType(field)),
    }
}

/// An id sent as a string of decimal digits (`"130639474"`): anything else in the string
/// is [`RejectReason::BadId`].
pub fn u64_str(v: Option<Value<'_>>, field: &'static str) -> Result<u64, RejectReason> {
    let s = string(v, field)?;
    // `parse_u64` accepts leading zeros, which an id string may have.
    parse_u64(s.to_cow().as_bytes()).ok_or(RejectReason::BadId(field))
}

/// A non-negative decimal sent as a string (`"0.001"`), in 1e-9 units. `size` picks the
/// reject reason: [`RejectReason::BadSize`] or [`RejectReason::BadPrice`].
#[inline]
pub fn decimal_str(
    v: Option<Value<'_>>,
    field: &'static str,
    size: bool,
) -> Result<i64, RejectReason> {
    let s = string(v, field)?;
    // Escapes are decoded (a copy, never on real venue data), as any JSON reader would.
    parse_unsigned_decimal(s.to_cow().as_bytes()).map_err(|e| decimal_reason(e, size))
}

/// A non-negative decimal sent as a JSON number (`0.001`), from its exact text.
pub fn decimal_num(
    v: Option<Value<'_>>,
    field: &'static str,
    size: bool,
) -> Result<i64, RejectReason> {
    match required(v, field)? {
        Value::Number(n) => {
            parse_unsigned_decimal(n.text().as_bytes()).map_err(|e| decimal_reason(e, size))
        }
        _ => Err(RejectReason::WrongType(field)),
    }
}

fn decimal_reason(e: tickforge_engine::fixed::DecimalError, size: bool) -> RejectReason {
    if size {
        RejectReason::BadSize(e)
    } else {
        RejectReason::BadPrice(e)
    }
}

/// An integer timestamp in units of `unit_ns` (1_000_000 for ms), to ns. Negative or
/// past 2262 is [`RejectReason::BadTimestamp`].
#[inline]
pub fn time_num(
    v: Option<Value<'_>>,
    field: &'static str,
    unit_ns: u64,
) -> Result<i64, RejectReason> {
    match required(v, field)? {
        Value::Number(n) => match n.as_u64() {
            Some(t) => scaled(t, unit_ns).ok_or(RejectReason::BadTimestamp(field)),
            None if n.text().starts_with('-') => Err(RejectReason::BadTimestamp(field)),
            None => Err(RejectReason::WrongType(field)),
        },
        _ => Err(RejectReason::WrongType(field)),
    }
}

/// An integer timestamp sent as a string of digits (OKX's `"1597026383085"`), to ns.
pub fn time_str(
    v: Option<Value<'_>>,
    field: &'static str,
    unit_ns: u64,
) -> Result<i64, RejectReason> {
    let s = string(v, field)?;
    parse_u64(s.to_cow().as_bytes())
        .and_then(|t| scaled(t, unit_ns))
        .ok_or(RejectReason::BadTimestamp(field))
}

/// An RFC 3339 timestamp string (`"2014-11-07T08:19:27.028459Z"`), to ns.
pub fn time_rfc3339(v: Option<Value<'_>>, field: &'static str) -> Result<i64, RejectReason> {
    let s = string(v, field)?;
    parse_rfc3339_ns(&s.to_cow()).ok_or(RejectReason::BadTimestamp(field))
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;

    fn obj(text: &str) -> Object<'_> {
        match parse(text.as_bytes()).unwrap() {
            Value::Object(o) => o,
            _ => panic!(),
        }
    }

    #[test]
    fn reads_fields_and_reports_reasons() {
        let o = obj(
            r#"{"a":"1.5","b":-3,"c":2.5,"d":"007","t":"2014-11-07T08:19:27.028459Z","n":0.1}"#,
        );
        let [a, b, c, d, t, n, missing] = fields(&o, &["a", "b", "c", "d", "t", "n", "m"]).unwrap();
        assert_eq!(decimal_str(a, "a", false), Ok(1_500_000_000));
        assert_eq!(u64_num(b, "b"), Err(RejectReason::BadId("b")));
        assert_eq!(u64_num(c, "c"), Err(RejectReason::WrongType("c")));
        assert_eq!(u64_str(d, "d"), Ok(7));
        assert_eq!(time_rfc3339(t, "t"), Ok(1_415_348_367_028_459_000));
        assert_eq!(decimal_num(n, "n", true), Ok(100_000_000));
        assert_eq!(decimal_str(n, "n", true), Err(RejectReason::WrongType("n")));
        assert_eq!(string(missing, "m"), Err(RejectReason::MissingField("m")));
        assert_eq!(time_num(b, "b", 1), Err(RejectReason::BadTimestamp("b")));
        assert_eq!(
            fields(&obj(r#"{"a":1,"a":2}"#), &["a"]),
            Err(RejectReason::MalformedJson)
        );
        assert!(fields(&obj(r#"{"x":1,"x":2}"#), &["a"]).is_ok());
    }
}
