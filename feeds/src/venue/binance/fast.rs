//! The fast path for Binance's market-data frames: templates of the exact bytes Binance
//! sends.
//!
//! Binance writes its trade, aggTrade and bookTicker payloads with a fixed key order, no
//! whitespace and no escapes, raw or inside the combined-stream wrapper
//! `{"stream":"<name>","data":{...}}`. Each template compares the literal fragments
//! between the values whole and checks every value for its type (integers of 1 to 19
//! digits without a leading zero; strings of printable ASCII without `"` or `\`;
//! `true`/`false`), so a frame a template accepts is valid JSON with exactly those
//! members, read in one pass with no tape and no allocation. Any other frame (another key
//! order, an extra field, whitespace, a reply to a request) goes to the general path in
//! [`super::messages`], which decides.
//!
//! Both paths build records with the same code (`Ctx::trade`, `Ctx::quote`), and the
//! differential tests check the adapter against an independent serde_json reading on
//! every fixture, on generated frames and on mutations of them.

use super::messages::{QuoteFields, TradeFields};

const WRAP: &[u8] = b"{\"stream\":\"";

/// A trade event in Binance's exact layout, raw or wrapped:
///
/// ```text
/// {"e":"trade","E":<int>,"s":"<str>","t":<int>,"p":"<str>","q":"<str>","T":<int>,"m":<bool>,"M":<bool>}
/// ```
#[inline]
pub(super) fn trade(frame: &[u8]) -> Option<TradeFields<'_>> {
    let (mut c, wrapped) = Cursor::open(frame)?;
    c.lit(b"{\"e\":\"trade\",\"E\":")?;
    c.int()?;
    c.lit(b",\"s\":\"")?;
    let symbol = c.string()?;
    c.lit(b",\"t\":")?;
    let id = c.int()?;
    c.lit(b",\"p\":\"")?;
    let price = c.string()?;
    c.lit(b",\"q\":\"")?;
    let qty = c.string()?;
    c.lit(b",\"T\":")?;
    let time = c.int()?;
    c.lit(b",\"m\":")?;
    let buyer_is_maker = c.boolean()?;
    c.lit(b",\"M\":")?;
    c.boolean()?;
    c.close(wrapped)?;
    Some(TradeFields {
        symbol,
        id,
        price,
        qty,
        time: (time, "T"),
        buyer_is_maker,
    })
}

/// An aggregate trade event in Binance's exact layout, raw or wrapped:
///
/// ```text
/// {"e":"aggTrade","E":<int>,"s":"<str>","a":<int>,"p":"<str>","q":"<str>","f":<int>,"l":<int>,"T":<int>,"m":<bool>,"M":<bool>}
/// ```
#[inline]
pub(super) fn agg_trade(frame: &[u8]) -> Option<TradeFields<'_>> {
    let (mut c, wrapped) = Cursor::open(frame)?;
    c.lit(b"{\"e\":\"aggTrade\",\"E\":")?;
    c.int()?;
    c.lit(b",\"s\":\"")?;
    let symbol = c.string()?;
    c.lit(b",\"a\":")?;
    let id = c.int()?;
    c.lit(b",\"p\":\"")?;
    let price = c.string()?;
    c.lit(b",\"q\":\"")?;
    let qty = c.string()?;
    c.lit(b",\"f\":")?;
    c.int()?;
    c.lit(b",\"l\":")?;
    c.int()?;
    c.lit(b",\"T\":")?;
    let time = c.int()?;
    c.lit(b",\"m\":")?;
    let buyer_is_maker = c.boolean()?;
    c.lit(b",\"M\":")?;
    c.boolean()?;
    c.close(wrapped)?;
    Some(TradeFields {
        symbol,
        id,
        price,
        qty,
        time: (time, "T"),
        buyer_is_maker,
    })
}

/// A spot book ticker in Binance's exact layout, raw or wrapped (no time: the quote is
/// stamped with the receive time):
///
/// ```text
/// {"u":<int>,"s":"<str>","b":"<str>","B":"<str>","a":"<str>","A":"<str>"}
/// ```
#[inline]
pub(super) fn book_ticker(frame: &[u8]) -> Option<QuoteFields<'_>> {
    let (mut c, wrapped) = Cursor::open(frame)?;
    c.lit(b"{\"u\":")?;
    let update_id = c.int()?;
    c.lit(b",\"s\":\"")?;
    let symbol = c.string()?;
    c.lit(b",\"b\":\"")?;
    let bid = c.string()?;
    c.lit(b",\"B\":\"")?;
    let bid_qty = c.string()?;
    c.lit(b",\"a\":\"")?;
    let ask = c.string()?;
    c.lit(b",\"A\":\"")?;
    let ask_qty = c.string()?;
    c.close(wrapped)?;
    Some(QuoteFields {
        symbol,
        update_id,
        bid,
        bid_qty,
        ask,
        ask_qty,
        time: None,
    })
}

/// A string whose body starts at `pos` (after the quote): printable ASCII without `"`
/// or `\`. Returns the body and the position after the closing quote.
#[inline]
fn string(b: &[u8], pos: usize) -> Option<(&str, usize)> {
    let rest = b.get(pos..)?;
    // Eight bytes at a time while none of them ends or breaks the string.
    let mut len = 0;
    while let Some(chunk) = rest.get(len..len + 8) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        match first_special(word) {
            Some(i) => {
                len += i;
                break;
            }
            None => len += 8,
        }
    }
    len += rest[len..].iter().position(|&c| is_special(c))?;
    if rest[len] != b'"' {
        return None;
    }
    let body = &rest[..len];
    debug_assert!(body.iter().all(|c| (0x20..0x7f).contains(c)));
    // SAFETY: every byte of `body` is printable ASCII (0x20..0x7f, checked by the scan
    // above, which stopped at the first byte outside that range), and ASCII is UTF-8.
    let s = unsafe { std::str::from_utf8_unchecked(body) };
    Some((s, pos + len + 1))
}

/// A byte that ends or breaks a fast-path string: `"`, `\\`, a control byte, DEL or
/// anything non-ASCII.
#[inline(always)]
fn is_special(c: u8) -> bool {
    !(0x20..0x7f).contains(&c) || c == b'"' || c == b'\\'
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` that is zero. The lowest flagged byte is always a
/// true zero (a borrow only reaches bytes above a zero byte), which is all callers use.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Index of the first byte of `word` (little-endian) for which [`is_special`] holds.
#[inline(always)]
fn first_special(word: u64) -> Option<usize> {
    let non_ascii = word & HIGHS;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let special = non_ascii
        | control
        | zero_bytes(word ^ (ONES * 0x7f))
        | zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')));
    (special != 0).then(|| special.trailing_zeros() as usize / 8)
}

/// Whether all eight bytes of `word` are ASCII digits.
#[inline(always)]
fn all_digits(word: u64) -> bool {
    // Each byte in 0x30..=0x39: high nibble 3, and adding 6 does not carry out of it.
    (word & 0xF0F0_F0F0_F0F0_F0F0) == ONES * 0x30
        && (word.wrapping_add(ONES * 0x06) & 0xF0F0_F0F0_F0F0_F0F0) == ONES * 0x30
}

/// The value of eight ASCII digits (first digit in the lowest byte).
#[inline(always)]
fn eight_digits(word: u64) -> u64 {
    let v = word & 0x0F0F_0F0F_0F0F_0F0F;
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    v.wrapping_mul(10_000).wrapping_add(v >> 32) & 0xFFFF_FFFF
}

/// A position in a frame, for the templates.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the payload: after the combined-stream wrapper's prefix when there is
    /// one (the second value says so).
    #[inline(always)]
    fn open(frame: &'a [u8]) -> Option<(Self, bool)> {
        let mut c = Cursor { b: frame, pos: 0 };
        let wrapped = frame.starts_with(WRAP);
        if wrapped {
            c.pos = WRAP.len();
            c.string()?;
            c.lit(b",\"data\":")?;
        }
        Some((c, wrapped))
    }

    /// The payload's closing brace (and the wrapper's), which must end the frame.
    #[inline(always)]
    fn close(&mut self, wrapped: bool) -> Option<()> {
        self.lit(if wrapped { b"}}" } else { b"}" })?;
        (self.pos == self.b.len()).then_some(())
    }

    #[inline(always)]
    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.pos + lit.len();
        if self.b.get(self.pos..end)? == lit {
            self.pos = end;
            Some(())
        } else {
            None
        }
    }

    /// A string body up to and including its closing quote (the opening quote is part
    /// of the preceding literal).
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        let (s, end) = string(self.b, self.pos)?;
        self.pos = end;
        Some(s)
    }

    /// An unsigned integer of 1 to 19 digits without a leading zero.
    #[inline(always)]
    fn int(&mut self) -> Option<u64> {
        let rest = self.b.get(self.pos..)?;
        let mut v: u64 = 0;
        let mut n = 0;
        // Eight digits at a time (at most two rounds: 19 digits is the limit).
        while n < 16 {
            match rest.get(n..n + 8) {
                Some(chunk) => {
                    let word = u64::from_le_bytes(chunk.try_into().ok()?);
                    if !all_digits(word) {
                        break;
                    }
                    v = v.wrapping_mul(100_000_000).wrapping_add(eight_digits(word));
                    n += 8;
                }
                None => break,
            }
        }
        while n < rest.len() && rest[n].is_ascii_digit() {
            v = v.wrapping_mul(10).wrapping_add(u64::from(rest[n] - b'0'));
            n += 1;
        }
        if n == 0 || n > 19 || (n > 1 && rest[0] == b'0') {
            return None;
        }
        self.pos += n;
        Some(v)
    }

    #[inline(always)]
    fn boolean(&mut self) -> Option<bool> {
        if self.lit(b"true").is_some() {
            Some(true)
        } else {
            self.lit(b"false").map(|()| false)
        }
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    #[test]
    fn word_helpers_match_the_byte_rules() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly printable bytes, sometimes digits only, sometimes anything.
            let word = match i % 3 {
                0 => x,
                1 => (x & 0x0707_0707_0707_0707) | (ONES * 0x30),
                _ => (x & 0x3f3f_3f3f_3f3f_3f3f) | (ONES * 0x20),
            };
            let bytes = word.to_le_bytes();
            assert_eq!(
                first_special(word),
                bytes.iter().position(|&c| is_special(c))
            );
            let digits = bytes.iter().all(u8::is_ascii_digit);
            assert_eq!(all_digits(word), digits, "{bytes:?}");
            if digits {
                let want = bytes
                    .iter()
                    .fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
                assert_eq!(eight_digits(word), want);
            }
        }
    }

    const DOC: &str = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}"#;

    #[test]
    fn reads_binance_trades_raw_and_wrapped() {
        let t = trade(DOC.as_bytes()).unwrap();
        assert_eq!(
            (t.symbol, t.id, t.price, t.qty, t.time, t.buyer_is_maker),
            (
                "BNBBTC",
                12345,
                "0.001",
                "100",
                (1_672_515_782_136, "T"),
                true
            )
        );
        let w = format!(r#"{{"stream":"bnbbtc@trade","data":{DOC}}}"#);
        assert_eq!(trade(w.as_bytes()).unwrap().id, 12345);
        let agg = r#"{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}"#;
        assert_eq!(agg_trade(agg.as_bytes()).unwrap().id, 12345);
        assert!(trade(agg.as_bytes()).is_none());
        let book = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
        let q = book_ticker(book.as_bytes()).unwrap();
        assert_eq!(
            (q.update_id, q.ask_qty, q.time),
            (400900217, "40.66000000", None)
        );
    }

    #[test]
    fn anything_off_the_template_is_left_alone() {
        for (from, to) in [
            ("\"t\":12345", "\"t\":012345"),
            ("\"t\":12345", "\"t\":-12345"),
            ("\"t\":12345", "\"t\":12345.0"),
            ("\"t\":12345", "\"t\":99999999999999999999"),
            ("\"m\":true", "\"m\":1"),
            ("\"s\":\"BNBBTC\"", "\"s\":\"BNB\\\"BTC\""),
            ("\"s\":\"BNBBTC\"", "\"s\": \"BNBBTC\""),
            ("\"M\":true}", "\"M\":true,\"x\":1}"),
            ("\"M\":true}", "\"M\":true} "),
            ("{\"e\":\"trade\"", "{\"e\":\"trades\""),
        ] {
            let f = DOC.replace(from, to);
            assert_ne!(f, DOC);
            assert!(trade(f.as_bytes()).is_none(), "{f}");
        }
        for cut in 0..DOC.len() {
            assert!(trade(&DOC.as_bytes()[..cut]).is_none());
        }
    }
}
