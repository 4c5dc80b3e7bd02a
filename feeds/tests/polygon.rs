//! Polygon stocks adapter: documentation examples field by field (mixed event arrays,
//! number prices, unknown side, unordered ids), status events, rejections, and the
//! differential check against serde_json.

use proptest::prelude::*;
use tickforge_engine::fixed::DecimalError;
use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_feeds::reference::Reference;
use tickforge_feeds::venue::polygon::PolygonAdapter;
use tickforge_feeds::venue::{
    AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter,
};

mod common;

const RECV: i64 = 1_700_000_000_123_456_789;
const MSFT: u32 = 0;
const AAPL: u32 = 1;
const V: u8 = venue::POLYGON;

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    assert_eq!(t.add(V, "MSFT", false), Ok(MSFT));
    assert_eq!(t.add(V, "AAPL", false), Ok(AAPL));
    t
}

fn parse(frame: &str) -> Result<Vec<AdapterEvent>, RejectReason> {
    common::events(
        &mut PolygonAdapter::new(V, &table()),
        frame.as_bytes(),
        RECV,
    )
}

fn trade(symbol: u32, ts_ms: i64, price: i64, size: i64, id: u64) -> AdapterEvent {
    AdapterEvent::Trade(
        TradeRecord::new(
            V,
            symbol,
            ts_ms * 1_000_000,
            RECV,
            price,
            size,
            Side::Unknown,
            id,
        )
        .with_flags(trade_flags::ID_UNORDERED),
    )
}

#[test]
fn polygon_trades_doc_examples_parse_exactly() {
    let l = common::fixture("polygon", "trades.jsonl");
    assert_eq!(
        parse(&l[0]).unwrap(),
        vec![trade(
            MSFT,
            1_536_036_818_784,
            114_125_000_000,
            100_000_000_000,
            12_345
        )]
    );
    assert_eq!(
        parse(&l[1]).unwrap(),
        vec![
            trade(
                AAPL,
                1_695_628_177_708,
                172_100_000_000,
                3_000_000_000,
                52_983_525_029_461
            ),
            trade(
                AAPL,
                1_695_628_177_709,
                172_099_900_000,
                500_000_000,
                71_675_577_320_245
            ),
        ]
    );
}

#[test]
fn polygon_quotes_and_mixed_frames_parse_in_order() {
    let l = common::fixture("polygon", "quotes.jsonl");
    assert_eq!(
        parse(&l[0]).unwrap(),
        vec![AdapterEvent::Quote(QuoteRecord::new(
            V,
            MSFT,
            1_536_036_818_784_000_000,
            RECV,
            114_125_000_000,
            100_000_000_000,
            114_128_000_000,
            160_000_000_000,
            50_385_480
        ))]
    );
    assert_eq!(
        parse(&l[1]).unwrap(),
        vec![
            AdapterEvent::Quote(QuoteRecord::new(
                V,
                AAPL,
                1_695_628_177_710_000_000,
                RECV,
                172_090_000_000,
                2_000_000_000,
                172_110_000_000,
                3_000_000_000,
                1_065
            )),
            trade(
                AAPL,
                1_695_628_177_711,
                172_100_000_000,
                10_000_000_000,
                71_675_577_320_246
            ),
        ]
    );
}

#[test]
fn polygon_status_events_are_connection_events() {
    let got: Vec<Vec<ControlEvent>> = common::fixture("polygon", "status.jsonl")
        .iter()
        .map(|l| common::controls(&parse(l).unwrap()))
        .collect();
    let info = ControlEvent::Info {
        id: None,
        what: "status",
    };
    assert_eq!(
        got,
        vec![
            vec![info.clone()],
            vec![info],
            vec![ControlEvent::SubscribeAck { id: None }],
            vec![ControlEvent::VenueError {
                code: 0,
                message: "authentication failed".into(),
                id: None,
                subject: None,
            }],
            vec![ControlEvent::VenueError {
                code: 0,
                message: "invalid subscription: T.NOPE".into(),
                id: None,
                subject: Some("T.NOPE".into()),
            }],
            vec![ControlEvent::Ignored {
                what: "unknown_event"
            }],
            vec![ControlEvent::Ignored {
                what: "unknown_event"
            }],
            vec![ControlEvent::VenueError {
                code: 0,
                message: "Maximum number of websocket connections exceeded. You have reached the connection limit for your account.".into(),
                id: None,
                subject: None,
            }],
            vec![
                ControlEvent::Info {
                    id: None,
                    what: "status"
                },
                ControlEvent::SubscribeAck { id: None }
            ],
        ]
    );
}

#[test]
fn polygon_trades_batch_bad_element_rejects_after_the_good_ones() {
    let l = &common::fixture("polygon", "trades.jsonl")[1];
    let bad = l.replace(r#""p":172.0999"#, r#""p":"172.0999""#);
    assert_ne!(&bad, l);
    let mut a = PolygonAdapter::new(V, &table());
    let mut got = Vec::new();
    let r = a.parse(bad.as_bytes(), RECV, &mut |e| got.push(e));
    assert_eq!(r, Err(RejectReason::WrongType("p")));
    assert_eq!(
        got,
        vec![trade(
            AAPL,
            1_695_628_177_708,
            172_100_000_000,
            3_000_000_000,
            52_983_525_029_461
        )]
    );
}

#[test]
fn polygon_trades_ids_that_are_not_u64_digits_become_zero() {
    let t = &common::fixture("polygon", "trades.jsonl")[0];
    for id in ["A1B2", "", "-5", "18446744073709551616", "1.5"] {
        let frame = t.replace(r#""i":"12345""#, &format!(r#""i":"{id}""#));
        assert_eq!(
            parse(&frame).unwrap(),
            vec![trade(
                MSFT,
                1_536_036_818_784,
                114_125_000_000,
                100_000_000_000,
                0
            )],
            "{frame}"
        );
    }
    let frame = t.replace(r#""i":"12345""#, r#""i":"0018446744073709551615""#);
    assert_eq!(
        parse(&frame).unwrap(),
        vec![trade(
            MSFT,
            1_536_036_818_784,
            114_125_000_000,
            100_000_000_000,
            u64::MAX
        )]
    );
}

#[test]
fn polygon_quotes_reject_missing_fields_and_bad_times() {
    let q = &common::fixture("polygon", "quotes.jsonl")[0];
    let cases: Vec<(String, RejectReason)> = vec![
        (
            q.replace(r#""bp":114.125,"#, ""),
            RejectReason::MissingField("bp"),
        ),
        (
            q.replace(r#""as":160,"#, ""),
            RejectReason::MissingField("as"),
        ),
        (
            q.replace(r#""sym":"MSFT","#, ""),
            RejectReason::MissingField("sym"),
        ),
        (
            q.replace(r#""t":1536036818784,"#, ""),
            RejectReason::MissingField("t"),
        ),
        (
            q.replace(r#""t":1536036818784"#, r#""t":-1536036818784"#),
            RejectReason::BadTimestamp("t"),
        ),
        // Past 2262 in ns.
        (
            q.replace(r#""t":1536036818784"#, r#""t":9300000000000"#),
            RejectReason::BadTimestamp("t"),
        ),
        (
            q.replace(r#""q":50385480"#, r#""q":-1"#),
            RejectReason::BadId("q"),
        ),
        (
            q.replace(r#""bs":100"#, r#""bs":true"#),
            RejectReason::WrongType("bs"),
        ),
        (
            q.replace(r#""ap":114.128"#, r#""ap":114.1280000001"#),
            RejectReason::BadPrice(DecimalError::TooPrecise),
        ),
        (
            r#"[{"ev":"status"}]"#.to_string(),
            RejectReason::MissingField("status"),
        ),
        (r#"[{"ev":5}]"#.to_string(), RejectReason::WrongType("ev")),
    ];
    for (frame, reason) in cases {
        assert_eq!(parse(&frame), Err(reason), "{frame}");
    }
    // No `q`: update id 0.
    assert_eq!(
        parse(&q.replace(r#""q":50385480,"#, "")).unwrap(),
        vec![AdapterEvent::Quote(QuoteRecord::new(
            V,
            MSFT,
            1_536_036_818_784_000_000,
            RECV,
            114_125_000_000,
            100_000_000_000,
            114_128_000_000,
            160_000_000_000,
            0
        ))]
    );
}

#[test]
fn polygon_rejects_bad_frames_with_their_reason() {
    let t = &common::fixture("polygon", "trades.jsonl")[0];
    let cases: Vec<(String, RejectReason)> = vec![
        (t[..t.len() - 2].to_string(), RejectReason::MalformedJson),
        ("[1]".into(), RejectReason::NotAnObject),
        ("\"T\"".into(), RejectReason::NotAnObject),
        (t.replace("MSFT", "IBM"), RejectReason::UnknownSymbol),
        (
            t.replace(r#""p":114.125"#, r#""p":"114.125""#),
            RejectReason::WrongType("p"),
        ),
        (
            t.replace(r#""s":100"#, r#""s":-100"#),
            RejectReason::BadSize(DecimalError::Negative),
        ),
        (
            t.replace(r#""t":1536036818784"#, r#""t":1.5"#),
            RejectReason::WrongType("t"),
        ),
        (
            t.replace(r#""i":"12345""#, r#""i":12345"#),
            RejectReason::WrongType("i"),
        ),
        (
            t.replace(r#""ev":"T","#, ""),
            RejectReason::MissingField("ev"),
        ),
        (
            t.replace(r#""p":114.125"#, r#""p":1,"p":2"#),
            RejectReason::MalformedJson,
        ),
    ];
    for (frame, reason) in cases {
        assert_eq!(parse(&frame), Err(reason), "{frame}");
    }
    let mut small = PolygonAdapter::new(V, &table()).with_max_frame_len(20);
    assert_eq!(
        common::events(&mut small, t.as_bytes(), RECV),
        Err(RejectReason::Oversized)
    );
    // One event object without the array is accepted too.
    assert_eq!(parse(&t[1..t.len() - 1]).unwrap().len(), 1);
}

#[test]
fn polygon_login_and_requests_have_the_documented_shape() {
    let a = PolygonAdapter::new(V, &table()).with_api_key("k\"ey");
    assert_eq!(a.default_url(), "wss://socket.polygon.io/stocks");
    assert_eq!(
        a.login_messages(),
        vec![r#"{"action":"auth","params":"k\"ey"}"#]
    );
    assert_eq!(
        a.subscribe_messages(
            &Subscription::product(a.default_channels(), &["AAPL", "MSFT"]),
            1
        ),
        vec![r#"{"action":"subscribe","params":"T.AAPL,Q.AAPL,T.MSFT,Q.MSFT"}"#]
    );
    assert_eq!(
        a.unsubscribe_messages(&[Subscription::new("T", "AAPL")], 1),
        vec![r#"{"action":"unsubscribe","params":"T.AAPL"}"#]
    );
}

#[test]
fn polygon_differential_fixtures_and_mutations() {
    let table = table();
    let mut a = PolygonAdapter::new(V, &table);
    let mut r = Reference::new(V, &table);
    common::agree_on_fixtures("polygon", &mut a, &mut r, 0x90, 300);
}

fn polygon_event() -> impl Strategy<Value = String> {
    let sym = prop::sample::select(vec!["MSFT", "AAPL", "IBM"]);
    let num = prop_oneof![
        (0u64..10_000_000, 0u64..10_000).prop_map(|(a, b)| format!("{a}.{b}")),
        (0u64..1000, 0u32..12).prop_map(|(a, e)| format!("{a}e-{e}")),
        Just("\"1\"".to_string()),
        Just("-2".to_string()),
    ];
    let t = prop_oneof![
        (0u64..2_000_000_000_000).prop_map(|n| n.to_string()),
        Just("\"5\"".to_string())
    ];
    let id = prop_oneof![
        any::<u64>().prop_map(|n| format!("\"{n}\"")),
        Just("\"x9\"".to_string()),
        Just("3".to_string())
    ];
    (0..3u8, sym, num.clone(), num, t, id).prop_map(|(k, s, a, b, t, id)| match k {
        0 => format!(r#"{{"ev":"T","sym":"{s}","i":{id},"p":{a},"s":{b},"t":{t}}}"#),
        1 => format!(
            r#"{{"ev":"Q","sym":"{s}","bp":{a},"bs":{b},"ap":{b},"as":{a},"t":{t},"q":{}}}"#,
            id.trim_matches('"')
        ),
        _ => format!(r#"{{"ev":"status","status":{id},"message":"T.{s}"}}"#),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn polygon_differential_generated_frames(events in prop::collection::vec(polygon_event(), 0..4), seed in any::<u64>()) {
        let frame = format!("[{}]", events.join(","));
        let table = table();
        let mut a = PolygonAdapter::new(V, &table);
        let mut r = Reference::new(V, &table);
        common::agree_with_mutations(&mut a, &mut r, frame.as_bytes(), seed, 6);
    }
}
