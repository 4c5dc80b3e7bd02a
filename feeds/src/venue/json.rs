//! A validating, allocation-free JSON reader that keeps the text of every value.
//!
//! [`parse`] checks a whole frame against RFC 8259 in one pass (grammar, string escapes,
//! UTF-8, nesting at most [`MAX_DEPTH`] deep, numbers within `f64`'s range as serde_json
//! requires, nothing after the value) and returns the top
//! [`Value`]. Objects and arrays are returned as spans of the already-validated text and are
//! walked lazily with [`Object::iter`] and [`Array::iter`]; numbers keep their exact digits
//! ([`Number::text`]), so a price sent as a JSON number (`0.1`) is never rounded through a
//! float. Nothing is copied and nothing is allocated, except by [`Str::to_cow`] on a string
//! that holds escapes.
//!
//! ```
//! use tickforge_feeds::venue::json::{parse, Value};
//!
//! let v = parse(br#"{"price": 0.10000000000000001, "side": "buy"}"#).unwrap();
//! let Value::Object(obj) = v else { panic!() };
//! let (key, value) = obj.iter().next().unwrap();
//! assert_eq!(key.as_str(), Some("price"));
//! let Value::Number(n) = value else { panic!() };
//! assert_eq!(n.text(), "0.10000000000000001");
//! ```

use std::borrow::Cow;

/// Deepest nesting of objects and arrays accepted (serde_json's limit too).
pub const MAX_DEPTH: usize = 127;

/// Why a text is not one valid JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {what}")]
pub struct JsonError {
    /// Byte offset where the text stopped being valid.
    pub offset: usize,
    /// What was wrong there.
    pub what: &'static str,
}

/// One JSON value, borrowing the frame's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, with its text exactly as sent.
    Number(Number<'a>),
    /// A string.
    String(Str<'a>),
    /// An object, walked with [`Object::iter`].
    Object(Object<'a>),
    /// An array, walked with [`Array::iter`].
    Array(Array<'a>),
}

impl<'a> Value<'a> {
    /// Name of the JSON type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Object(_) => "object",
            Value::Array(_) => "array",
        }
    }
}

/// A JSON number's text, valid per the JSON grammar (`-?int(.frac)?(e[+-]?exp)?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number<'a>(&'a str);

impl<'a> Number<'a> {
    /// The number exactly as sent.
    pub fn text(&self) -> &'a str {
        self.0
    }

    /// The value when the number is a non-negative integer without fraction or exponent
    /// that fits in a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        parse_u64(self.0.as_bytes())
    }

    /// The value when the number is an integer without fraction or exponent that fits in
    /// an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self.0.as_bytes() {
            [b'-', digits @ ..] => {
                let m = parse_u64(digits)?;
                if m <= i64::MAX as u64 + 1 {
                    Some((m as i128).wrapping_neg() as i64)
                } else {
                    None
                }
            }
            digits => i64::try_from(parse_u64(digits)?).ok(),
        }
    }
}

/// Decimal digits only (leading zeros allowed), without overflow.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// A JSON string: the validated text between the quotes, escapes not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Str<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> Str<'a> {
    /// The string when it holds no escape (the usual case): no copy.
    #[inline]
    pub fn as_str(&self) -> Option<&'a str> {
        (!self.escaped).then_some(self.raw)
    }

    /// The text between the quotes, escapes as sent.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the string holds a backslash escape.
    pub fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// The decoded string; allocates only when it holds escapes.
    pub fn to_cow(&self) -> Cow<'a, str> {
        if !self.escaped {
            return Cow::Borrowed(self.raw);
        }
        Cow::Owned(unescape(self.raw))
    }

    /// Whether the decoded string equals `s`.
    #[inline]
    pub fn eq_str(&self, s: &str) -> bool {
        if self.escaped {
            self.to_cow() == s
        } else {
            self.raw == s
        }
    }
}

/// A validated object's text, from `{` to `}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<'a>(&'a [u8]);

impl<'a> Object<'a> {
    /// The members in text order; a repeated key is yielded each time it appears.
    pub fn iter(&self) -> ObjectIter<'a> {
        ObjectIter {
            cur: Cursor {
                text: self.0,
                pos: 1,
            },
            done: false,
        }
    }

    /// The value of the first member named `key`.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.iter().find(|(k, _)| k.eq_str(key)).map(|(_, v)| v)
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The object's text.
    pub fn text(&self) -> &'a [u8] {
        self.0
    }
}

/// A validated array's text, from `[` to `]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Array<'a>(&'a [u8]);

impl<'a> Array<'a> {
    /// The elements in order.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            cur: Cursor {
                text: self.0,
                pos: 1,
            },
            done: false,
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// Iterator over an object's members.
#[derive(Debug, Clone)]
pub struct ObjectIter<'a> {
    cur: Cursor<'a>,
    done: bool,
}

impl<'a> Iterator for ObjectIter<'a> {
    type Item = (Str<'a>, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // The text was validated, so every `None` below is the end of the object.
        let item = self.cur.next_member();
        if item.is_none() {
            self.done = true;
        }
        item
    }
}

/// Iterator over an array's elements.
#[derive(Debug, Clone)]
pub struct ArrayIter<'a> {
    cur: Cursor<'a>,
    done: bool,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.cur.next_element();
        if item.is_none() {
            self.done = true;
        }
        item
    }
}

/// Checks that `text` is exactly one JSON value (whitespace around it allowed) and
/// returns it.
pub fn parse(text: &[u8]) -> Result<Value<'_>, JsonError> {
    let mut cur = Cursor { text, pos: 0 };
    cur.skip_ws();
    let value = cur.value(0)?;
    cur.skip_ws();
    if cur.pos != text.len() {
        return Err(cur.err("trailing characters after the value"));
    }
    Ok(value)
}

#[derive(Debug, Clone)]
struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError {
            offset: self.pos,
            what,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Parses and validates one value starting at `pos` (no leading whitespace).
    fn value(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'{') => self
                .container(depth, b'}')
                .map(|t| Value::Object(Object(t))),
            Some(b'[') => self.container(depth, b']').map(|t| Value::Array(Array(t))),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err(self.err("expected a value")),
            None => Err(self.err("unexpected end of text")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value<'a>) -> Result<Value<'a>, JsonError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Number<'a>, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after the decimal point"));
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in the exponent"));
            }
        }
        // Only ASCII digits, signs, points and exponent letters were consumed.
        let text = std::str::from_utf8(&self.text[start..self.pos])
            .map_err(|_| self.err("number is not ASCII"))?;
        // Like serde_json, refuse magnitudes beyond f64's range (`1e400`): no venue sends
        // them, and refusing them keeps every parser of a frame in agreement.
        if (exponent || text.len() > 300) && text.parse::<f64>().map_or(true, f64::is_infinite) {
            return Err(JsonError {
                offset: start,
                what: "number out of range",
            });
        }
        Ok(Number(text))
    }

    /// A string starting at the opening quote.
    fn string(&mut self) -> Result<Str<'a>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            match b {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                    continue;
                }
                0..=0x1f => return Err(self.err("control character in string")),
                0x80.. => ascii = false,
                _ => {}
            }
            self.pos += 1;
        }
        let bytes = &self.text[start..self.pos];
        let raw = if ascii {
            debug_assert!(bytes.is_ascii());
            // SAFETY: the loop above saw every byte of `bytes` and found none at or above
            // 0x80, so it is ASCII, which is valid UTF-8.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            std::str::from_utf8(bytes).map_err(|e| JsonError {
                offset: start + e.valid_up_to(),
                what: "invalid UTF-8 in string",
            })?
        };
        self.pos += 1;
        Ok(Str { raw, escaped })
    }

    /// One escape sequence starting at the backslash.
    fn escape(&mut self) -> Result<(), JsonError> {
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 1;
                let cp = self.hex4()?;
                if (0xD800..0xDC00).contains(&cp) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    if self.text[self.pos..].starts_with(b"\\u") {
                        self.pos += 2;
                        let low = self.hex4()?;
                        if (0xDC00..0xE000).contains(&low) {
                            return Ok(());
                        }
                    }
                    Err(self.err("unpaired surrogate in string"))
                } else if (0xDC00..0xE000).contains(&cp) {
                    Err(self.err("unpaired surrogate in string"))
                } else {
                    Ok(())
                }
            }
            _ => Err(self.err("invalid escape")),
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(hex) = self.text.get(self.pos..self.pos + 4) else {
            return Err(self.err("truncated \\u escape"));
        };
        let mut v = 0u32;
        for &h in hex {
            let d = (h as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\u escape"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }

    /// An object or array starting at its opening bracket; returns its whole text.
    fn container(&mut self, depth: usize, close: u8) -> Result<&'a [u8], JsonError> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let start = self.pos;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(&self.text[start..self.pos]);
        }
        loop {
            if close == b'}' {
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a member name"));
                }
                self.string()?;
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(self.err("expected ':'"));
                }
                self.pos += 1;
                self.skip_ws();
            }
            self.value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(&self.text[start..self.pos]);
                }
                Some(_) => return Err(self.err("expected ',' or a closing bracket")),
                None => return Err(self.err("unexpected end of text")),
            }
        }
    }

    // Walking validated text: no checks beyond finding the ends of tokens.

    /// The next member of an object being walked (`pos` after `{` or after a value).
    fn next_member(&mut self) -> Option<(Str<'a>, Value<'a>)> {
        self.skip_ws();
        if self.peek() == Some(b',') {
            self.pos += 1;
            self.skip_ws();
        }
        if self.peek() != Some(b'"') {
            return None;
        }
        let key = self.trusted_string()?;
        self.skip_ws();
        self.pos += 1; // ':'
        self.skip_ws();
        let value = self.trusted_value()?;
        Some((key, value))
    }

    fn next_element(&mut self) -> Option<Value<'a>> {
        self.skip_ws();
        match self.peek()? {
            b',' => {
                self.pos += 1;
                self.skip_ws();
            }
            b']' => return None,
            _ => {}
        }
        self.trusted_value()
    }

    fn trusted_value(&mut self) -> Option<Value<'a>> {
        match self.peek()? {
            b'"' => self.trusted_string().map(Value::String),
            b'{' => self.trusted_container().map(|t| Value::Object(Object(t))),
            b'[' => self.trusted_container().map(|t| Value::Array(Array(t))),
            b't' => {
                self.pos += 4;
                Some(Value::Bool(true))
            }
            b'f' => {
                self.pos += 5;
                Some(Value::Bool(false))
            }
            b'n' => {
                self.pos += 4;
                Some(Value::Null)
            }
            _ => {
                let start = self.pos;
                while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
                let bytes = self.text.get(start..self.pos)?;
                debug_assert!(bytes.is_ascii());
                // SAFETY: the loop above consumed only ASCII digits, signs, points and
                // exponent letters.
                let text = unsafe { std::str::from_utf8_unchecked(bytes) };
                (!text.is_empty()).then_some(Value::Number(Number(text)))
            }
        }
    }

    fn trusted_string(&mut self) -> Option<Str<'a>> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.pos += 2;
                }
                _ => self.pos += 1,
            }
        }
        let bytes = self.text.get(start..self.pos)?;
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: walks only ever run over text that `parse` validated (`Object` and
        // `Array` are built by it alone), and `bytes` is exactly the body of one of its
        // strings, which `Cursor::string` checked to be UTF-8.
        let raw = unsafe { std::str::from_utf8_unchecked(bytes) };
        self.pos += 1;
        Some(Str { raw, escaped })
    }

    fn trusted_container(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.trusted_string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return self.text.get(start..self.pos);
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }
}

/// `s` as a JSON string literal, quotes included (for building requests).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Decodes the escapes of a validated string body.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex = |chars: &mut std::str::Chars<'_>| -> u32 {
                    (0..4).fold(0, |v, _| {
                        v * 16 + chars.next().and_then(|c| c.to_digit(16)).unwrap_or(0)
                    })
                };
                let mut cp = hex(&mut chars);
                if (0xD800..0xDC00).contains(&cp) {
                    // Validated: `\u` and a low surrogate follow.
                    chars.next();
                    chars.next();
                    let low = hex(&mut chars);
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                }
                out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> Object<'_> {
        match parse(text.as_bytes()).unwrap() {
            Value::Object(o) => o,
            v => panic!("not an object: {v:?}"),
        }
    }

    #[test]
    fn accepts_valid_json_and_keeps_number_text() {
        let o = obj(r#" { "a" : [1, -0.5e+3, {"b": null}], "c": "x\"y", "d": true } "#);
        let members: Vec<_> = o.iter().collect();
        assert_eq!(members.len(), 3);
        let Value::Array(a) = members[0].1 else {
            panic!()
        };
        let items: Vec<_> = a.iter().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1], Value::Number(Number("-0.5e+3")));
        let Value::Object(inner) = items[2] else {
            panic!()
        };
        assert_eq!(inner.get("b"), Some(Value::Null));
        let Value::String(s) = members[1].1 else {
            panic!()
        };
        assert_eq!(s.as_str(), None);
        assert_eq!(s.to_cow(), "x\"y");
        assert!(s.eq_str("x\"y"));
        assert_eq!(o.get("d"), Some(Value::Bool(true)));
        assert_eq!(o.get("nope"), None);
        assert!(obj("{}").is_empty());
    }

    #[test]
    fn rejects_invalid_json() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "nul",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a\u{1}\"",
            "{\"a\"}",
            "{1:2}",
            "[1 2]",
            "1 2",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "NaN",
            "[",
            "\"abc",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
        assert!(parse(b"\"\xff\"").is_err());
        assert!(parse(b"1e400").is_err());
        assert!(parse(b"-2e308").is_err());
        assert!(parse(b"1e308").is_ok());
        assert!(parse(b"1e-400").is_ok());
        assert!(parse("9".repeat(400).as_bytes()).is_err());
        assert!(parse(&[b'['; MAX_DEPTH + 1]).is_err());
        let mut deep = vec![b'['; MAX_DEPTH];
        deep.extend(vec![b']'; MAX_DEPTH]);
        assert!(parse(&deep).is_ok());
    }

    #[test]
    fn quotes_strings() {
        for s in ["btcusdt@trade", "a\"b\\c", "tab\tnl\n\u{1}", "é"] {
            let q = quote(s);
            let Value::String(v) = parse(q.as_bytes()).unwrap() else {
                panic!()
            };
            assert_eq!(v.to_cow(), s);
        }
    }

    #[test]
    fn integers() {
        let n = |t: &'static str| Number(t);
        assert_eq!(n("18446744073709551615").as_u64(), Some(u64::MAX));
        assert_eq!(n("18446744073709551616").as_u64(), None);
        assert_eq!(n("-1").as_u64(), None);
        assert_eq!(n("1.0").as_u64(), None);
        assert_eq!(n("-9223372036854775808").as_i64(), Some(i64::MIN));
        assert_eq!(n("9223372036854775808").as_i64(), None);
        assert_eq!(n("1e3").as_i64(), None);
    }

    #[test]
    fn unescapes_surrogate_pairs() {
        let Value::String(s) = parse(br#""\ud83d\ude00 \u00e9\n""#).unwrap() else {
            panic!()
        };
        assert_eq!(s.to_cow(), "\u{1F600} \u{e9}\n");
    }
}
