//! Binance spot adapter: documentation examples field by field, rejections with their
//! reasons, an independent serde_json cross-check, and property tests.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::Value;
use tickforge_engine::fixed::{parse_decimal, DecimalError, ONE};
use tickforge_engine::record::{Kind, QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_feeds::reference::Reference;
use tickforge_feeds::venue::binance::{BinanceAdapter, TimeUnit};
use tickforge_feeds::venue::{
    AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter,
};

mod common;

/// Receive time used for every frame: 2023-01-01T00:00:00.2001234Z-ish, in ns.
const RECV: i64 = 1_672_515_782_200_123_456;
/// `"T": 1672515782136` (ms) in ns.
const DOC_TS_NS: i64 = 1_672_515_782_136_000_000;

const BNBBTC: u32 = 0;
const BNBUSDT: u32 = 1;
const BTCUSDT: u32 = 2;

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    assert_eq!(t.add(venue::BINANCE, "BNBBTC", false), Ok(BNBBTC));
    assert_eq!(t.add(venue::BINANCE, "BNBUSDT", true), Ok(BNBUSDT));
    assert_eq!(t.add(venue::BINANCE, "BTCUSDT", true), Ok(BTCUSDT));
    t.add(venue::OKX, "ETHUSDT", false).unwrap();
    t
}

fn adapter() -> BinanceAdapter {
    BinanceAdapter::new(venue::BINANCE, &table())
}

fn parse(a: &mut BinanceAdapter, frame: &[u8]) -> Result<Vec<AdapterEvent>, RejectReason> {
    let mut events = Vec::new();
    a.parse(frame, RECV, &mut |e| events.push(e))
        .map(|()| events)
}

fn parse_str(frame: &str) -> Result<Vec<AdapterEvent>, RejectReason> {
    parse(&mut adapter(), frame.as_bytes())
}

fn fixture(name: &str) -> Vec<String> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "binance",
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

const FIXTURES: [&str; 6] = [
    "trade.jsonl",
    "agg_trade.jsonl",
    "book_ticker.jsonl",
    "combined.jsonl",
    "control.jsonl",
    "ignored.jsonl",
];

fn trade(events: &[AdapterEvent]) -> TradeRecord {
    match events {
        [AdapterEvent::Trade(t)] => *t,
        other => panic!("expected one trade, got {other:?}"),
    }
}

fn quote(events: &[AdapterEvent]) -> QuoteRecord {
    match events {
        [AdapterEvent::Quote(q)] => *q,
        other => panic!("expected one quote, got {other:?}"),
    }
}

fn control(events: &[AdapterEvent]) -> ControlEvent {
    match events {
        [AdapterEvent::Control(c)] => c.clone(),
        other => panic!("expected one control event, got {other:?}"),
    }
}

/// The record the documentation's trade and aggTrade examples describe.
fn doc_trade() -> TradeRecord {
    TradeRecord::new(
        venue::BINANCE,
        BNBBTC,
        DOC_TS_NS,
        RECV,
        1_000_000,  // "0.001"
        100 * ONE,  // "100"
        Side::Sell, // "m": true, the buyer was the maker
        12345,      // "t" (trade) or "a" (aggTrade)
    )
}

fn doc_quote() -> QuoteRecord {
    QuoteRecord::new(
        venue::BINANCE,
        BNBUSDT,
        RECV, // bookTicker has no timestamp
        RECV,
        25_351_900_000, // "25.35190000"
        31_210_000_000, // "31.21000000"
        25_365_200_000, // "25.36520000"
        40_660_000_000, // "40.66000000"
        400_900_217,
    )
}

// ---------------------------------------------------------------------------------------
// Documentation examples, field by field.

#[test]
fn binance_trade_doc_example_maps_every_field() {
    for line in fixture("trade.jsonl") {
        let t = trade(&parse_str(&line).unwrap());
        assert_eq!(t.kind, Kind::Trade as u8, "{line}");
        assert_eq!(t.venue, venue::BINANCE);
        assert_eq!(t.symbol, BNBBTC);
        assert_eq!(t.exch_ts, DOC_TS_NS, "ms are scaled to ns");
        assert_eq!(t.recv_ts, RECV);
        assert_eq!(t.price, 1_000_000, "0.001 exactly");
        assert_eq!(t.size, 100 * ONE);
        assert_eq!(t.side(), Side::Sell, "buyer is maker: the aggressor sold");
        assert_eq!(t.flags, Side::Sell as u16);
        assert_eq!(t.trade_id, 12345, "the trade id, not an order id");
        assert_eq!(t.reserved, [0, 0]);
        assert_eq!(t, doc_trade());
    }
}

#[test]
fn binance_trade_buyer_taker_is_a_buy() {
    let t = trade(
        &parse_str(
            r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":false,"M":true}"#,
        )
        .unwrap(),
    );
    assert_eq!(t.side(), Side::Buy);
}

#[test]
fn binance_trade_time_is_trade_time_else_event_time() {
    let t = trade(
        &parse_str(r#"{"e":"trade","E":1000,"s":"BNBBTC","t":1,"p":"1","q":"1","T":999,"m":true}"#)
            .unwrap(),
    );
    assert_eq!(t.exch_ts, 999_000_000, "T wins over E");
    let t = trade(
        &parse_str(r#"{"e":"trade","E":1000,"s":"BNBBTC","t":1,"p":"1","q":"1","m":true}"#)
            .unwrap(),
    );
    assert_eq!(t.exch_ts, 1_000_000_000, "E when T is absent");
    assert_eq!(
        parse_str(r#"{"e":"trade","s":"BNBBTC","t":1,"p":"1","q":"1","m":true}"#),
        Err(RejectReason::MissingField("T"))
    );
}

#[test]
fn binance_trade_microsecond_time_unit() {
    // With `timeUnit=MICROSECOND` in the URL every time field is in microseconds.
    let frame = br#"{"e":"trade","E":1672515782136123,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136456,"m":true,"M":true}"#;
    let mut micros = adapter().with_time_unit(TimeUnit::Microsecond);
    assert_eq!(micros.time_unit(), TimeUnit::Microsecond);
    let t = trade(&parse(&mut micros, frame).unwrap());
    assert_eq!(t.exch_ts, 1_672_515_782_136_456_000);
    // Read as milliseconds the same value overflows i64 ns: rejected, never mis-scaled.
    assert_eq!(
        parse(&mut adapter(), frame),
        Err(RejectReason::BadTimestamp("T"))
    );
}

#[test]
fn binance_agg_trade_doc_example_uses_the_aggregate_id() {
    let lines = fixture("agg_trade.jsonl");
    let t = trade(&parse_str(&lines[0]).unwrap());
    assert_eq!(t.trade_id, 12345, "\"a\", not \"f\" (100) or \"l\" (105)");
    assert_eq!(t.exch_ts, DOC_TS_NS);
    assert_eq!(t.side(), Side::Sell);
    assert_eq!(t, doc_trade());
}

#[test]
fn binance_book_ticker_doc_example_maps_every_field() {
    let lines = fixture("book_ticker.jsonl");
    let q = quote(&parse_str(&lines[0]).unwrap());
    assert_eq!(q.kind, Kind::Quote as u8);
    assert_eq!(q.venue, venue::BINANCE);
    assert_eq!(q.flags, 0);
    assert_eq!(q.symbol, BNBUSDT);
    assert_eq!(q.exch_ts, RECV, "no exchange time on spot bookTicker");
    assert_eq!(q.recv_ts, RECV);
    assert_eq!(q.bid, 25_351_900_000);
    assert_eq!(q.bid_size, 31_210_000_000);
    assert_eq!(q.ask, 25_365_200_000);
    assert_eq!(q.ask_size, 40_660_000_000);
    assert_eq!(q.update_id, 400_900_217);
    assert_eq!(q, doc_quote());
}

#[test]
fn binance_book_ticker_with_event_time_uses_it() {
    // Binance's futures bookTicker form carries "e", "E" and "T"; accept it.
    let q = quote(
        &parse_str(
            r#"{"e":"bookTicker","u":1,"s":"BNBUSDT","b":"1","B":"2","a":"3","A":"0","T":5,"E":6}"#,
        )
        .unwrap(),
    );
    assert_eq!((q.exch_ts, q.ask_size), (5_000_000, 0));
}

#[test]
fn binance_combined_stream_wrappers_unwrap_to_the_same_records() {
    let lines = fixture("combined.jsonl");
    assert_eq!(quote(&parse_str(&lines[0]).unwrap()), doc_quote());
    assert_eq!(trade(&parse_str(&lines[1]).unwrap()), doc_trade());
    assert_eq!(trade(&parse_str(&lines[2]).unwrap()), doc_trade());
    // A live message (keys sorted by the client that printed it).
    let t = trade(&parse_str(&lines[3]).unwrap());
    assert_eq!(
        t,
        TradeRecord::new(
            venue::BINANCE,
            BTCUSDT,
            1_657_910_133_927_000_000,
            RECV,
            20_838_640_000_000, // "20838.64000000"
            2_000_000,          // "0.00200000"
            Side::Sell,
            1_257_346_680,
        )
    );
}

#[test]
fn binance_control_doc_examples_are_connection_events() {
    let lines = fixture("control.jsonl");
    let got: Vec<ControlEvent> = lines
        .iter()
        .map(|l| control(&parse_str(l).unwrap()))
        .collect();
    let error = |code: i64, message: &str, id: Option<u64>| ControlEvent::VenueError {
        code,
        message: message.to_owned(),
        id,
        subject: None,
    };
    let expected = vec![
        ControlEvent::SubscribeAck { id: Some(1) },
        ControlEvent::SubscribeAck { id: Some(312) },
        ControlEvent::Info {
            id: Some(3),
            what: "subscriptions",
        },
        ControlEvent::SubscribeAck { id: Some(5) },
        ControlEvent::Info {
            id: Some(2),
            what: "property",
        },
        error(0, "Unknown property", Some(5)),
        error(1, "Invalid value type: expected Boolean", None),
        error(2, "Invalid request: property name must be a string", None),
        error(2, "Invalid request: request ID must be an unsigned integer", None),
        error(2, "Invalid request: unknown variant %s, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 28", None),
        error(2, "Invalid request: too many parameters", None),
        error(2, "Invalid request: missing field `method` at line 1 column 73", None),
        error(3, "Invalid JSON: expected value at line %s column %s", None),
        // A string id cannot be one of ours: no id.
        error(-2010, "Account has insufficient balance for requested action.", None),
        ControlEvent::ServerShutdown {
            exch_ts: 1_770_123_456_789_000_000,
        },
    ];
    assert_eq!(got, expected);
}

#[test]
fn binance_control_nested_error_and_raw_shutdown() {
    assert_eq!(
        control(&parse_str(r#"{"error":{"code":2,"msg":"Invalid request: x"},"id":1}"#).unwrap()),
        ControlEvent::VenueError {
            code: 2,
            message: "Invalid request: x".into(),
            id: Some(1),
            subject: None,
        }
    );
    assert_eq!(
        control(&parse_str(r#"{"e":"serverShutdown","E":1770123456789}"#).unwrap()),
        ControlEvent::ServerShutdown {
            exch_ts: 1_770_123_456_789_000_000
        }
    );
    assert_eq!(
        control(&parse_str(r#"{"stream":"x","data":{"e":"serverShutdown"}}"#).unwrap()),
        ControlEvent::ServerShutdown { exch_ts: RECV }
    );
    assert_eq!(
        control(&parse_str(r#"{"result":null,"id":null}"#).unwrap()),
        ControlEvent::SubscribeAck { id: None }
    );
    assert_eq!(
        parse_str(r#"{"code":"2","msg":"x"}"#),
        Err(RejectReason::WrongType("code"))
    );
    assert_eq!(
        parse_str(r#"{"error":"boom","id":1}"#),
        Err(RejectReason::WrongType("error"))
    );
}

#[test]
fn binance_other_streams_and_unknown_events_are_ignored() {
    let what: Vec<ControlEvent> = fixture("ignored.jsonl")
        .iter()
        .map(|l| control(&parse_str(l).unwrap()))
        .collect();
    let ignored = |what| ControlEvent::Ignored { what };
    assert_eq!(
        what,
        vec![
            ignored("unknown_event"), // kline
            ignored("unknown_event"), // 24hrMiniTicker
            ignored("unknown_event"), // 24hrTicker, despite its b/B/a/A keys
            ignored("unknown_event"), // avgPrice
            ignored("unrecognized"),  // partial depth: no event type
            ignored("unknown_event"), // depthUpdate, despite its u/b/a keys
            ignored("array"),         // all-market array
        ]
    );
    assert_eq!(
        control(&parse_str(r#"{"e":"somethingNew","s":"NOPE"}"#).unwrap()),
        ignored("unknown_event")
    );
    assert_eq!(control(&parse_str("{}").unwrap()), ignored("unrecognized"));
    assert_eq!(
        control(&parse_str(r#"{"stream":"!ticker@arr","data":[]}"#).unwrap()),
        ignored("array")
    );
}

// ---------------------------------------------------------------------------------------
// Rejections.

#[test]
fn binance_rejects_malformed_json() {
    for bad in [
        "",
        " ",
        "{",
        "}",
        "not json",
        r#"{"e":"trade",}"#,
        r#"{"e":"trade" "s":"BNBBTC"}"#,
        r#"{"e":'trade'}"#,
        r#"{"a":1}{"b":2}"#,
        r#"{"t":01}"#,
        "{\"e\":\"trade\",\"T\":1\u{0}2}", // simd-json alone would read `1` and stop
        r#"{"e":"trade","p":"1","p":"2"}"#, // a known key twice
    ] {
        assert_eq!(parse_str(bad), Err(RejectReason::MalformedJson), "{bad:?}");
    }
    // Beyond 64 bits is valid JSON, but no id.
    assert_eq!(
        parse_str(
            r#"{"e":"trade","E":1,"s":"BNBBTC","t":99999999999999999999999,"p":"1","q":"1","T":1,"m":true}"#
        ),
        Err(RejectReason::WrongType("t"))
    );
    assert_eq!(
        parse(&mut adapter(), b"{\"e\":\"tr\xffde\"}"),
        Err(RejectReason::MalformedJson),
        "invalid UTF-8"
    );
}

#[test]
fn binance_every_prefix_is_rejected_or_parses_the_same() {
    let mut a = adapter();
    for name in FIXTURES {
        for line in fixture(name) {
            let full = parse(&mut a, line.as_bytes()).unwrap();
            for end in 0..line.len() {
                match parse(&mut a, &line.as_bytes()[..end]) {
                    Err(_) => {}
                    Ok(events) => assert_eq!(events, full, "prefix {end} of {line}"),
                }
            }
            let mut padded = line.clone();
            padded.push_str(" \r\n");
            assert_eq!(parse(&mut a, padded.as_bytes()).unwrap(), full);
        }
    }
}

#[test]
fn binance_rejects_wrong_types() {
    let cases = [
        (
            r#"{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":0.001,"q":"100","T":1,"m":true}"#,
            "p",
        ),
        (
            r#"{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"0.001","q":100,"T":1,"m":true}"#,
            "q",
        ),
        (
            r#"{"e":"trade","E":1,"s":"BNBBTC","t":"1","p":"0.001","q":"100","T":1,"m":true}"#,
            "t",
        ),
        (
            r#"{"e":"trade","E":1,"s":"BNBBTC","t":1.5,"p":"0.001","q":"100","T":1,"m":true}"#,
            "t",
        ),
        (
            r#"{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"0.001","q":"100","T":"1","m":true}"#,
            "T",
        ),
        (
            r#"{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"0.001","q":"100","T":1e3,"m":true}"#,
            "T",
        ),
        (
            r#"{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"0.001","q":"100","T":1,"m":"true"}"#,
            "m",
        ),
        (
            r#"{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"0.001","q":"100","T":1,"m":1}"#,
            "m",
        ),
        (
            r#"{"e":"trade","E":1,"s":["BNBBTC"],"t":1,"p":"0.001","q":"100","T":1,"m":true}"#,
            "s",
        ),
        (
            r#"{"e":"aggTrade","E":1,"s":"BNBBTC","a":null,"p":"0.001","q":"100","T":1,"m":true}"#,
            "a",
        ),
        (r#"{"e":7,"s":"BNBBTC"}"#, "e"),
        (
            r#"{"u":1,"s":"BNBUSDT","b":25.3519,"B":"1","a":"2","A":"3"}"#,
            "b",
        ),
        (
            r#"{"u":1,"s":"BNBUSDT","b":"1","B":{},"a":"2","A":"3"}"#,
            "B",
        ),
        (
            r#"{"u":"1","s":"BNBUSDT","b":"1","B":"1","a":"2","A":"3"}"#,
            "u",
        ),
    ];
    for (frame, field) in cases {
        assert_eq!(
            parse_str(frame),
            Err(RejectReason::WrongType(field)),
            "{frame}"
        );
    }
    for frame in [
        "5",
        "\"trade\"",
        "null",
        "true",
        r#"{"stream":"x","data":"y"}"#,
    ] {
        assert_eq!(parse_str(frame), Err(RejectReason::NotAnObject), "{frame}");
    }
}

#[test]
fn binance_rejects_missing_fields() {
    let cases = [
        (
            r#"{"e":"trade","s":"BNBBTC","p":"1","q":"1","T":1,"m":true}"#,
            "t",
        ),
        (
            r#"{"e":"trade","s":"BNBBTC","t":1,"q":"1","T":1,"m":true}"#,
            "p",
        ),
        (
            r#"{"e":"trade","s":"BNBBTC","t":1,"p":"1","T":1,"m":true}"#,
            "q",
        ),
        (
            r#"{"e":"trade","s":"BNBBTC","t":1,"p":"1","q":"1","T":1}"#,
            "m",
        ),
        (r#"{"e":"trade","t":1,"p":"1","q":"1","T":1,"m":true}"#, "s"),
        (
            r#"{"e":"aggTrade","s":"BNBBTC","t":1,"p":"1","q":"1","T":1,"m":true}"#,
            "a",
        ),
        (r#"{"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"3"}"#, "u"),
        (r#"{"u":1,"s":"BNBUSDT","b":"1","a":"2","A":"3"}"#, "B"),
    ];
    for (frame, field) in cases {
        assert_eq!(
            parse_str(frame),
            Err(RejectReason::MissingField(field)),
            "{frame}"
        );
    }
}

#[test]
fn binance_rejects_out_of_range_and_too_precise_decimals() {
    let trade_with = |p: &str, q: &str| {
        format!(r#"{{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"{p}","q":"{q}","T":1,"m":true}}"#)
    };
    let cases = [
        (
            trade_with("99999999999999999999", "1"),
            RejectReason::BadPrice(DecimalError::OutOfRange),
        ),
        (
            trade_with("9223372036.854775808", "1"),
            RejectReason::BadPrice(DecimalError::OutOfRange),
        ),
        (
            trade_with("0.0000000001", "1"),
            RejectReason::BadPrice(DecimalError::TooPrecise),
        ),
        (
            trade_with("-1", "1"),
            RejectReason::BadPrice(DecimalError::Negative),
        ),
        (
            trade_with("", "1"),
            RejectReason::BadPrice(DecimalError::Empty),
        ),
        (
            trade_with("1,5", "1"),
            RejectReason::BadPrice(DecimalError::InvalidChar),
        ),
        (
            trade_with("1", "99999999999999999999"),
            RejectReason::BadSize(DecimalError::OutOfRange),
        ),
        (
            trade_with("1", "1.0000000001"),
            RejectReason::BadSize(DecimalError::TooPrecise),
        ),
        (
            r#"{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"99999999999999999999","A":"3"}"#.into(),
            RejectReason::BadPrice(DecimalError::OutOfRange),
        ),
        (
            r#"{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"-3"}"#.into(),
            RejectReason::BadSize(DecimalError::Negative),
        ),
    ];
    for (frame, reason) in cases {
        assert_eq!(parse_str(&frame), Err(reason), "{frame}");
    }
    // The largest representable value is still fine.
    let t = trade(&parse_str(&trade_with("9223372036.854775807", "0.000000001")).unwrap());
    assert_eq!((t.price, t.size), (i64::MAX, 1));
}

#[test]
fn binance_rejects_bad_timestamps_and_ids() {
    let frame = |t: &str, ts: &str| {
        format!(r#"{{"e":"trade","E":1,"s":"BNBBTC","t":{t},"p":"1","q":"1","T":{ts},"m":true}}"#)
    };
    assert_eq!(
        parse_str(&frame("1", "-1")),
        Err(RejectReason::BadTimestamp("T"))
    );
    assert_eq!(
        parse_str(&frame("1", "9223372036855")),
        Err(RejectReason::BadTimestamp("T")),
        "one ms past i64 ns"
    );
    let t = trade(&parse_str(&frame("1", "9223372036854")).unwrap());
    assert_eq!(t.exch_ts, 9_223_372_036_854_000_000);
    assert_eq!(parse_str(&frame("-5", "1")), Err(RejectReason::BadId("t")));
    let t = trade(&parse_str(&frame("18446744073709551615", "1")).unwrap());
    assert_eq!(t.trade_id, u64::MAX);
}

#[test]
fn binance_rejects_unknown_symbols() {
    for frame in [
        r#"{"e":"trade","E":1,"s":"DOGEUSDT","t":1,"p":"1","q":"1","T":1,"m":true}"#,
        r#"{"e":"trade","E":1,"s":"bnbbtc","t":1,"p":"1","q":"1","T":1,"m":true}"#,
        r#"{"e":"trade","E":1,"s":"ETHUSDT","t":1,"p":"1","q":"1","T":1,"m":true}"#, // OKX's
        r#"{"stream":"x","data":{"u":1,"s":"","b":"1","B":"1","a":"1","A":"1"}}"#,
    ] {
        assert_eq!(
            parse_str(frame),
            Err(RejectReason::UnknownSymbol),
            "{frame}"
        );
    }
}

#[test]
fn binance_deep_nesting_is_refused_past_127_levels_without_overflow() {
    let nest = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    // serde_json's limit too: deeper frames are malformed, and never overflow the stack.
    assert_eq!(parse_str(&nest(100_000)), Err(RejectReason::MalformedJson));
    assert_eq!(
        control(&parse_str(&nest(127)).unwrap()),
        ControlEvent::Ignored { what: "array" }
    );
    let frame = format!(
        r#"{{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"1","q":"1","T":1,"m":true,"x":{}}}"#,
        nest(126)
    );
    assert_eq!(trade(&parse_str(&frame).unwrap()).trade_id, 1);
    let frame = format!(
        r#"{{"stream":"x","data":{{"e":"trade","x":{}}}}}"#,
        nest(125)
    );
    assert_eq!(parse_str(&frame), Err(RejectReason::MissingField("s")));
    let frame = format!(
        r#"{{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"1","q":"1","T":1,"m":true,"x":{}}}"#,
        nest(100_000)
    );
    assert_eq!(parse_str(&frame), Err(RejectReason::MalformedJson));
}

#[test]
fn binance_rejects_oversized_frames() {
    let line = &fixture("trade.jsonl")[0];
    let mut small = adapter().with_max_frame_len(line.len());
    assert!(parse(&mut small, line.as_bytes()).is_ok());
    let mut longer = line.clone();
    longer.push(' ');
    assert_eq!(
        parse(&mut small, longer.as_bytes()),
        Err(RejectReason::Oversized)
    );
}

#[test]
fn binance_adapter_is_usable_as_a_trait_object() {
    let mut boxed: Box<dyn VenueAdapter> = Box::new(adapter());
    assert_eq!(boxed.venue(), venue::BINANCE);
    let mut n = 0;
    boxed
        .parse(fixture("trade.jsonl")[0].as_bytes(), RECV, &mut |_| n += 1)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        boxed.subscribe_messages(
            &Subscription::product(boxed.default_channels(), &["BTCUSDT"]),
            1
        ),
        vec![r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker"],"id":1}"#]
    );
    assert_eq!(
        boxed.unsubscribe_messages(&[Subscription::new("aggTrade", "BNBBTC")], 7),
        vec![r#"{"method":"UNSUBSCRIBE","params":["bnbbtc@aggTrade"],"id":7}"#]
    );
    assert_eq!(boxed.default_url(), "wss://stream.binance.com:9443/stream");
}

// ---------------------------------------------------------------------------------------
// An independent reading of the same frames with serde_json, for every fixture line.

fn reference(line: &str, table: &SymbolTable) -> Vec<AdapterEvent> {
    let top: Value = serde_json::from_str(line).expect("fixtures are valid JSON");
    let ctl = |c| vec![AdapterEvent::Control(c)];
    let Some(obj) = top.as_object() else {
        return ctl(ControlEvent::Ignored { what: "array" });
    };
    let payload = obj.get("data").or_else(|| obj.get("event")).unwrap_or(&top);
    let Some(p) = payload.as_object() else {
        return ctl(ControlEvent::Ignored { what: "array" });
    };
    let dec = |key: &str| {
        let v = parse_decimal(p[key].as_str().expect("decimal string").as_bytes()).unwrap();
        assert!(v >= 0);
        v
    };
    let sym = || {
        table
            .lookup(venue::BINANCE, p["s"].as_str().unwrap())
            .unwrap()
    };
    let ms = |key: &str| p[key].as_i64().unwrap() * 1_000_000;
    let id = obj.get("id").and_then(Value::as_u64);
    match p.get("e").and_then(Value::as_str) {
        Some(e @ ("trade" | "aggTrade")) => {
            let trade_id = p[if e == "trade" { "t" } else { "a" }].as_u64().unwrap();
            let side = if p["m"].as_bool().unwrap() {
                Side::Sell
            } else {
                Side::Buy
            };
            vec![AdapterEvent::Trade(TradeRecord::new(
                venue::BINANCE,
                sym(),
                ms("T"),
                RECV,
                dec("p"),
                dec("q"),
                side,
                trade_id,
            ))]
        }
        Some("serverShutdown") => ctl(ControlEvent::ServerShutdown { exch_ts: ms("E") }),
        Some(_) => ctl(ControlEvent::Ignored {
            what: "unknown_event",
        }),
        None if p.contains_key("u") => vec![AdapterEvent::Quote(QuoteRecord::new(
            venue::BINANCE,
            sym(),
            RECV,
            RECV,
            dec("b"),
            dec("B"),
            dec("a"),
            dec("A"),
            p["u"].as_u64().unwrap(),
        ))],
        None => {
            let error = obj.get("error").unwrap_or(&top);
            if let Some(code) = error.get("code") {
                ctl(ControlEvent::VenueError {
                    code: code.as_i64().unwrap(),
                    message: error["msg"].as_str().unwrap_or("").to_owned(),
                    id,
                    subject: None,
                })
            } else {
                match obj.get("result") {
                    Some(Value::Null) => ctl(ControlEvent::SubscribeAck { id }),
                    Some(Value::Array(_)) => ctl(ControlEvent::Info {
                        id,
                        what: "subscriptions",
                    }),
                    Some(Value::Object(_)) => ctl(ControlEvent::Info { id, what: "result" }),
                    Some(_) => ctl(ControlEvent::Info {
                        id,
                        what: "property",
                    }),
                    None => ctl(ControlEvent::Ignored {
                        what: "unrecognized",
                    }),
                }
            }
        }
    }
}

#[test]
fn binance_fixtures_agree_with_a_serde_json_reading() {
    let table = table();
    let mut a = BinanceAdapter::new(venue::BINANCE, &table);
    let mut lines = 0;
    for name in FIXTURES {
        for line in fixture(name) {
            let got = parse(&mut a, line.as_bytes()).unwrap_or_else(|r| panic!("{line}: {r}"));
            assert_eq!(got, reference(&line, &table), "{name}: {line}");
            lines += 1;
        }
    }
    assert_eq!(lines, 31);
}

// ---------------------------------------------------------------------------------------
// Properties.

/// A decimal text with `int` units and `frac` (of `digits` digits) plus padding zeros,
/// and its exact value in 1e-9 units.
fn decimal_text() -> impl Strategy<Value = (String, i64)> {
    (0i64..=9_000_000_000, 0usize..=9, any::<u64>(), 0usize..=4).prop_map(
        |(int, digits, frac_seed, pad)| {
            let scale = 10u64.pow(digits as u32);
            let frac = frac_seed % scale;
            let mut text = int.to_string();
            if digits > 0 || pad > 0 {
                text.push('.');
                if digits > 0 {
                    text.push_str(&format!("{frac:0digits$}"));
                }
                text.push_str(&"0".repeat(pad));
            }
            let value = int * ONE + (frac * 10u64.pow(9 - digits as u32)) as i64;
            (text, value)
        },
    )
}

/// Mutations applied to a valid frame.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Delete(usize),
    Insert(usize, u8),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (
            any::<usize>(),
            prop::sample::select(b"{}[]\":,.-+eE0123456789 \\tnul".to_vec())
        )
            .prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn all_fixture_lines() -> Vec<String> {
    FIXTURES.iter().flat_map(|n| fixture(n)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn binance_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut a = adapter();
        let _ = parse(&mut a, &bytes);
    }

    #[test]
    fn binance_json_like_text_never_panics(
        text in r#"\{("[eEstpqTmabBAuidcoder]{1,6}":(-?[0-9]{1,22}(\.[0-9]{0,12})?|"[0-9a-zA-Z.eE+-]{0,24}"|true|false|null|\[\]|\{\}|\{"e":"trade"\}),?){0,12}\}"#
    ) {
        let mut a = adapter();
        let _ = parse(&mut a, text.as_bytes());
    }

    #[test]
    fn binance_mutated_frames_never_panic(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let lines = all_fixture_lines();
        let mut frame = lines[pick.index(lines.len())].clone().into_bytes();
        for m in mutations {
            let len = frame.len().max(1);
            match m {
                Mutation::Set(i, b) => { if !frame.is_empty() { let i = i % len; frame[i] = b; } }
                Mutation::Delete(i) => { if !frame.is_empty() { frame.remove(i % len); } }
                Mutation::Insert(i, b) => frame.insert(i % (frame.len() + 1), b),
                Mutation::Truncate(i) => frame.truncate(i % len),
            }
        }
        let mut a = adapter();
        let _ = parse(&mut a, &frame);
    }

    #[test]
    fn binance_generated_trade_round_trips_exactly(
        symbol in 0u32..3,
        (price_text, price) in decimal_text(),
        (size_text, size) in decimal_text(),
        id in any::<u64>(),
        trade_time in 0i64..=i64::MAX / 1_000_000,
        event_time in 0i64..=i64::MAX / 1_000_000,
        buyer_is_maker in any::<bool>(),
        agg in any::<bool>(),
        wrapped in any::<bool>(),
        extra in any::<bool>(),
        order in Just((0..9).collect::<Vec<usize>>()).prop_shuffle(),
    ) {
        let table = table();
        let name = &table.get(symbol).unwrap().name;
        let mut fields = [
            format!(r#""e":"{}""#, if agg { "aggTrade" } else { "trade" }),
            format!(r#""E":{event_time}"#),
            format!(r#""s":"{name}""#),
            format!(r#""{}":{id}"#, if agg { "a" } else { "t" }),
            format!(r#""p":"{price_text}""#),
            format!(r#""q":"{size_text}""#),
            format!(r#""T":{trade_time}"#),
            format!(r#""m":{buyer_is_maker}"#),
            if extra { r#""M":true,"f":100,"l":[1,{"x":"y"}],"zz":null"#.to_owned() } else { r#""M":true"#.to_owned() },
        ];
        let body: Vec<String> = order.iter().map(|&i| std::mem::take(&mut fields[i])).collect();
        let payload = format!("{{{}}}", body.join(","));
        let frame = if wrapped {
            format!(r#"{{"stream":"{}@trade","data":{payload}}}"#, name.to_ascii_lowercase())
        } else {
            payload
        };
        let mut a = BinanceAdapter::new(venue::BINANCE, &table);
        let got = parse(&mut a, frame.as_bytes());
        let side = if buyer_is_maker { Side::Sell } else { Side::Buy };
        let expected = TradeRecord::new(
            venue::BINANCE, symbol, trade_time * 1_000_000, RECV, price, size, side, id,
        );
        prop_assert_eq!(got, Ok(vec![AdapterEvent::Trade(expected)]), "{}", frame);
    }

    #[test]
    fn binance_generated_book_ticker_round_trips_exactly(
        symbol in 0u32..3,
        (bid_text, bid) in decimal_text(),
        (bid_size_text, bid_size) in decimal_text(),
        (ask_text, ask) in decimal_text(),
        (ask_size_text, ask_size) in decimal_text(),
        update_id in any::<u64>(),
        order in Just((0..6).collect::<Vec<usize>>()).prop_shuffle(),
    ) {
        let table = table();
        let name = &table.get(symbol).unwrap().name;
        let mut fields = [
            format!(r#""u":{update_id}"#),
            format!(r#""s":"{name}""#),
            format!(r#""b":"{bid_text}""#),
            format!(r#""B":"{bid_size_text}""#),
            format!(r#""a":"{ask_text}""#),
            format!(r#""A":"{ask_size_text}""#),
        ];
        let body: Vec<String> = order.iter().map(|&i| std::mem::take(&mut fields[i])).collect();
        let frame = format!("{{{}}}", body.join(","));
        let mut a = BinanceAdapter::new(venue::BINANCE, &table);
        let expected = QuoteRecord::new(
            venue::BINANCE, symbol, RECV, RECV, bid, bid_size, ask, ask_size, update_id,
        );
        prop_assert_eq!(parse(&mut a, frame.as_bytes()), Ok(vec![AdapterEvent::Quote(expected)]), "{}", frame);
    }
}

// ---------------------------------------------------------------------------------------
// Differential: the adapter (fast path and full parser) against the serde_json reference.

#[test]
fn binance_differential_fixtures_and_mutations() {
    let table = table();
    let mut a = BinanceAdapter::new(venue::BINANCE, &table);
    let mut r = Reference::new(venue::BINANCE, &table);
    let mut accepted = 0;
    let mut total = 0;
    for name in FIXTURES {
        for (i, line) in fixture(name).iter().enumerate() {
            for frame in common::mutations(line.as_bytes(), 0x5eed + i as u64, 400) {
                accepted += usize::from(common::assert_agree(&mut a, &mut r, &frame));
                total += 1;
            }
        }
    }
    // The mutations must exercise both outcomes.
    assert!(
        accepted > total / 20 && accepted < total * 19 / 20,
        "{accepted}/{total}"
    );
}

/// Frames shaped like Binance's, with random values of the right and wrong types.
fn binance_frame() -> impl Strategy<Value = String> {
    let sym = prop::sample::select(vec!["BNBBTC", "BNBUSDT", "BTCUSDT", "ETHUSDT", "XX"]);
    let num = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..1_000_000).prop_map(|n| format!("\"{n}.{}\"", n % 1000)),
        Just("-1".to_string()),
        Just("1.5".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
    ];
    let dec = prop_oneof![
        (0u64..10_000_000_000, 0u32..12).prop_map(|(n, d)| {
            let s = n.to_string();
            let d = (d as usize).min(s.len());
            format!(
                "\"{}.{}\"",
                &s[..s.len() - d]
                    .chars()
                    .chain(std::iter::once('0'))
                    .collect::<String>(),
                &s[s.len() - d..]
            )
        }),
        Just("\"99999999999999999999\"".to_string()),
        Just("1.25".to_string()),
        Just("\"-1\"".to_string()),
    ];
    let kind = prop::sample::select(vec!["trade", "aggTrade", "bookTicker", "book", "wrapped"]);
    (kind, sym, num.clone(), dec.clone(), dec, num, any::<bool>()).prop_map(
        |(kind, sym, id, p, q, ts, m)| match kind {
            "trade" => format!(
                r#"{{"e":"trade","E":{ts},"s":"{sym}","t":{id},"p":{p},"q":{q},"T":{ts},"m":{m},"M":true}}"#
            ),
            "aggTrade" => format!(
                r#"{{"e":"aggTrade","E":{ts},"s":"{sym}","a":{id},"p":{p},"q":{q},"f":1,"l":2,"T":{ts},"m":{m},"M":true}}"#
            ),
            "bookTicker" => format!(
                r#"{{"e":"bookTicker","u":{id},"s":"{sym}","b":{p},"B":{q},"a":{p},"A":{q},"T":{ts}}}"#
            ),
            "book" => format!(r#"{{"u":{id},"s":"{sym}","b":{p},"B":{q},"a":{p},"A":{q}}}"#),
            _ => format!(
                r#"{{"stream":"x@trade","data":{{"e":"trade","E":{ts},"s":"{sym}","t":{id},"p":{p},"q":{q},"T":{ts},"m":{m}}}}}"#
            ),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn binance_differential_generated_frames(frame in binance_frame(), seed in any::<u64>()) {
        let table = table();
        let mut a = BinanceAdapter::new(venue::BINANCE, &table);
        let mut r = Reference::new(venue::BINANCE, &table);
        common::assert_agree(&mut a, &mut r, frame.as_bytes());
        for m in common::mutations(frame.as_bytes(), seed, 8).into_iter().skip(frame.len()) {
            common::assert_agree(&mut a, &mut r, &m);
        }
    }
}
