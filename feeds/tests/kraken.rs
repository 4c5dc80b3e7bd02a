//! Kraken v2 adapter: documentation examples field by field (exact digits of JSON number
//! prices), control frames, rejections, and the differential check against serde_json.

use proptest::prelude::*;
use tickforge_engine::fixed::DecimalError;
use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_feeds::reference::Reference;
use tickforge_feeds::venue::kraken::KrakenAdapter;
use tickforge_feeds::venue::{
    AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter,
};

mod common;

const RECV: i64 = 1_700_000_000_123_456_789;
const MATIC: u32 = 0;
const BTC: u32 = 1;
const ALGO: u32 = 2;

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    assert_eq!(t.add(venue::KRAKEN, "MATIC/USD", false), Ok(MATIC));
    assert_eq!(t.add(venue::KRAKEN, "BTC/USD", false), Ok(BTC));
    assert_eq!(t.add(venue::KRAKEN, "ALGO/USD", false), Ok(ALGO));
    t
}

fn parse(frame: &str) -> Result<Vec<AdapterEvent>, RejectReason> {
    common::events(
        &mut KrakenAdapter::new(venue::KRAKEN, &table()),
        frame.as_bytes(),
        RECV,
    )
}

fn trade(symbol: u32, ts: i64, price: i64, size: i64, side: Side, id: u64) -> AdapterEvent {
    AdapterEvent::Trade(TradeRecord::new(
        venue::KRAKEN,
        symbol,
        ts,
        RECV,
        price,
        size,
        side,
        id,
    ))
}

#[test]
fn kraken_trade_doc_examples_parse_exactly() {
    let l = common::fixture("kraken", "trade.jsonl");
    assert_eq!(
        parse(&l[0]).unwrap(),
        vec![trade(
            MATIC,
            1_695_628_177_708_706_000,
            511_700_000,
            40_000_000_000,
            Side::Sell,
            4_665_906
        )]
    );
    assert_eq!(
        parse(&l[1]).unwrap(),
        vec![
            trade(
                MATIC,
                1_695_628_116_925_533_000,
                514_700_000,
                6_423_463_260_000,
                Side::Buy,
                4_665_846
            ),
            trade(
                MATIC,
                1_695_628_176_925_603_000,
                514_700_000,
                1_136_196_778_150,
                Side::Buy,
                4_665_847
            ),
        ]
    );
    // 0.00001 as a JSON number: exactly 10_000 units of 1e-9, no float rounding.
    assert_eq!(
        parse(&l[2]).unwrap(),
        vec![trade(
            BTC,
            1_695_632_671_742_599_000,
            26_501_900_000_000,
            10_000,
            Side::Buy,
            60_105_117
        )]
    );
}

#[test]
fn kraken_ticker_doc_examples_parse_exactly() {
    let l = common::fixture("kraken", "ticker.jsonl");
    assert_eq!(
        parse(&l[0]).unwrap(),
        vec![AdapterEvent::Quote(QuoteRecord::new(
            venue::KRAKEN,
            ALGO,
            RECV,
            RECV,
            100_250_000,
            740_000_000_000,
            100_360_000,
            1_361_448_137_830,
            0
        ))]
    );
    assert_eq!(
        parse(&l[1]).unwrap(),
        vec![AdapterEvent::Quote(QuoteRecord::new(
            venue::KRAKEN,
            BTC,
            1_695_632_671_742_599_000,
            RECV,
            26_501_800_000_000,
            500_000_000,
            26_501_900_000_000,
            1_250_000,
            0
        ))]
    );
    // The newer documentation's example carries the ticker's own time.
    assert_eq!(
        parse(&l[2]).unwrap(),
        vec![AdapterEvent::Quote(QuoteRecord::new(
            venue::KRAKEN,
            ALGO,
            1_695_632_671_742_648_000,
            RECV,
            100_250_000,
            740_000_000_000,
            100_360_000,
            1_361_448_137_830,
            0
        ))]
    );
}

#[test]
fn kraken_trade_batch_bad_element_rejects_after_the_good_ones() {
    let l = &common::fixture("kraken", "trade.jsonl")[1];
    let bad = l.replace(
        r#""trade_id":4665847,"timestamp":"2023-09-25T07:49:36.925603Z""#,
        r#""trade_id":4665847,"timestamp":"2263-01-01T00:00:00Z""#,
    );
    assert_ne!(&bad, l);
    let mut a = KrakenAdapter::new(venue::KRAKEN, &table());
    let mut got = Vec::new();
    let r = a.parse(bad.as_bytes(), RECV, &mut |e| got.push(e));
    assert_eq!(r, Err(RejectReason::BadTimestamp("timestamp")));
    assert_eq!(
        got,
        vec![trade(
            MATIC,
            1_695_628_116_925_533_000,
            514_700_000,
            6_423_463_260_000,
            Side::Buy,
            4_665_846
        )]
    );
}

#[test]
fn kraken_ticker_rejects_missing_and_wrong_fields() {
    let q = &common::fixture("kraken", "ticker.jsonl")[2];
    let cases: Vec<(String, RejectReason)> = vec![
        (
            q.replace(r#""bid":0.10025,"#, ""),
            RejectReason::MissingField("bid"),
        ),
        (
            q.replace(r#""ask_qty":1361.44813783"#, r#""ask_qty":null"#),
            RejectReason::MissingField("ask_qty"),
        ),
        (
            q.replace(r#""symbol":"ALGO/USD","#, ""),
            RejectReason::MissingField("symbol"),
        ),
        (
            q.replace(r#""symbol":"ALGO/USD""#, r#""symbol":["ALGO/USD"]"#),
            RejectReason::WrongType("symbol"),
        ),
        (
            q.replace("ALGO/USD", "ALGO/EUR"),
            RejectReason::UnknownSymbol,
        ),
        (
            q.replace("2023-09-25T09:04:31.742648Z", "1969-12-31T23:59:59Z"),
            RejectReason::BadTimestamp("timestamp"),
        ),
        (
            q.replace(
                r#""timestamp":"2023-09-25T09:04:31.742648Z""#,
                r#""timestamp":1"#,
            ),
            RejectReason::WrongType("timestamp"),
        ),
        (
            q.replace(r#""bid":0.10025"#, r#""bid":1e12"#),
            RejectReason::BadPrice(DecimalError::OutOfRange),
        ),
        (
            q.replace(r#""data":["#, r#""data":[1,"#),
            RejectReason::WrongType("data"),
        ),
        (
            r#"{"channel":"ticker","type":"update"}"#.to_string(),
            RejectReason::MissingField("data"),
        ),
        (
            r#"{"channel":7,"data":[]}"#.to_string(),
            RejectReason::WrongType("channel"),
        ),
        (
            r#"{"method":"subscribe","success":"yes"}"#.to_string(),
            RejectReason::WrongType("success"),
        ),
        ("".to_string(), RejectReason::MalformedJson),
        ("null".to_string(), RejectReason::NotAnObject),
    ];
    for (frame, reason) in cases {
        assert_eq!(parse(&frame), Err(reason), "{frame}");
    }
}

#[test]
fn kraken_control_frames_are_connection_events() {
    let got: Vec<Vec<ControlEvent>> = common::fixture("kraken", "control.jsonl")
        .iter()
        .map(|l| common::controls(&parse(l).unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            vec![ControlEvent::SubscribeAck { id: Some(1) }],
            vec![ControlEvent::SubscribeAck { id: Some(2) }],
            vec![ControlEvent::VenueError {
                code: 0,
                message: "Currency pair not supported ALGO/XXX".into(),
                id: Some(3),
                subject: Some("ALGO/XXX".into()),
            }],
            vec![ControlEvent::Pong],
            vec![ControlEvent::Heartbeat],
            vec![ControlEvent::Info {
                id: None,
                what: "status"
            }],
            vec![ControlEvent::Ignored {
                what: "unknown_channel"
            }],
        ]
    );
}

#[test]
fn kraken_rejects_bad_frames_with_their_reason() {
    let t = &common::fixture("kraken", "trade.jsonl")[0];
    let cases: Vec<(String, RejectReason)> = vec![
        (t[..t.len() - 1].to_string(), RejectReason::MalformedJson),
        ("[]".into(), RejectReason::NotAnObject),
        (
            t.replace("MATIC/USD", "DOGE/USD"),
            RejectReason::UnknownSymbol,
        ),
        // Kraken sends numbers: a string price is the wrong type.
        (
            t.replace(r#""price":0.5117"#, r#""price":"0.5117""#),
            RejectReason::WrongType("price"),
        ),
        (
            t.replace(r#""price":0.5117"#, r#""price":0.0000000001"#),
            RejectReason::BadPrice(DecimalError::TooPrecise),
        ),
        (
            t.replace(r#""qty":40.0"#, r#""qty":-40.0"#),
            RejectReason::BadSize(DecimalError::Negative),
        ),
        (
            t.replace(r#""trade_id":4665906"#, r#""trade_id":-1"#),
            RejectReason::BadId("trade_id"),
        ),
        (
            t.replace(r#""trade_id":4665906"#, r#""trade_id":1.5"#),
            RejectReason::WrongType("trade_id"),
        ),
        (
            t.replace("2023-09-25T07:49:37.708706Z", "2023-09-25 07:49"),
            RejectReason::BadTimestamp("timestamp"),
        ),
        (
            t.replace(r#""side":"sell""#, r#""side":"short""#),
            RejectReason::WrongType("side"),
        ),
        (
            t.replace(r#""data":["#, r#""data":{"a":["#)
                .replace("}]}", "}]}}"),
            RejectReason::WrongType("data"),
        ),
        (
            t.replace(r#""qty":40.0"#, r#""qty":40.0,"qty":1"#),
            RejectReason::MalformedJson,
        ),
    ];
    for (frame, reason) in cases {
        assert_eq!(parse(&frame), Err(reason), "{frame}");
    }
    let mut small = KrakenAdapter::new(venue::KRAKEN, &table()).with_max_frame_len(50);
    assert_eq!(
        common::events(&mut small, t.as_bytes(), RECV),
        Err(RejectReason::Oversized)
    );
}

#[test]
fn kraken_requests_have_the_documented_shape() {
    let a = KrakenAdapter::new(venue::KRAKEN, &table());
    assert_eq!(a.default_url(), "wss://ws.kraken.com/v2");
    let msgs = a.subscribe_messages(
        &Subscription::product(a.default_channels(), &["BTC/USD"]),
        1,
    );
    assert_eq!(
        msgs,
        vec![
            r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"],"snapshot":false},"req_id":1}"#,
            r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"],"event_trigger":"bbo","snapshot":false},"req_id":2}"#,
        ]
    );
    assert_eq!(
        a.unsubscribe_messages(
            &Subscription::product(&["ticker"], &["BTC/USD", "ALGO/USD"]),
            7
        ),
        vec![
            r#"{"method":"unsubscribe","params":{"channel":"ticker","symbol":["BTC/USD","ALGO/USD"]},"req_id":7}"#
        ]
    );
    assert!(a.login_messages().is_empty());
    // Kraken sends `heartbeat` on its own: no application ping is needed.
    assert!(a.keepalive().is_none());
}

#[test]
fn kraken_differential_fixtures_and_mutations() {
    let table = table();
    let mut a = KrakenAdapter::new(venue::KRAKEN, &table);
    let mut r = Reference::new(venue::KRAKEN, &table);
    common::agree_on_fixtures("kraken", &mut a, &mut r, 0x4b, 300);
}

fn kraken_frame() -> impl Strategy<Value = String> {
    let sym = prop::sample::select(vec!["MATIC/USD", "BTC/USD", "ETH/USD"]);
    let num = prop_oneof![
        (0u64..100_000_000, 0u32..12).prop_map(|(n, d)| format!("{n}e-{d}")),
        (0u64..1_000_000, 0u64..100_000).prop_map(|(a, b)| format!("{a}.{b}")),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("\"1.5\"".to_string()),
        Just("-0.0".to_string()),
    ];
    let ts = prop_oneof![
        Just("\"2023-09-25T07:49:37.708706Z\"".to_string()),
        Just("\"2023-02-30T00:00:00Z\"".to_string()),
        Just("1695628177".to_string()),
    ];
    let side = prop::sample::select(vec!["\"buy\"", "\"sell\"", "null"]);
    (0..3u8, sym, num.clone(), num, any::<u64>(), ts, side).prop_map(|(k, s, p, q, id, ts, side)| match k {
        0 => format!(
            r#"{{"channel":"trade","type":"update","data":[{{"symbol":"{s}","side":{side},"price":{p},"qty":{q},"trade_id":{id},"timestamp":{ts}}}]}}"#
        ),
        1 => format!(
            r#"{{"channel":"ticker","type":"update","data":[{{"symbol":"{s}","bid":{p},"bid_qty":{q},"ask":{q},"ask_qty":{p},"timestamp":{ts}}}]}}"#
        ),
        _ => format!(r#"{{"method":"subscribe","req_id":{id},"success":{},"symbol":"{s}"}}"#, side == "null"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn kraken_differential_generated_frames(frame in kraken_frame(), seed in any::<u64>()) {
        let table = table();
        let mut a = KrakenAdapter::new(venue::KRAKEN, &table);
        let mut r = Reference::new(venue::KRAKEN, &table);
        common::agree_with_mutations(&mut a, &mut r, frame.as_bytes(), seed, 6);
    }
}
