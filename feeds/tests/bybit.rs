//! Bybit v5 adapter: documentation examples field by field, book state across deltas,
//! control frames, rejections, and the differential check against serde_json.

use proptest::prelude::*;
use tickforge_engine::fixed::DecimalError;
use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_feeds::reference::Reference;
use tickforge_feeds::venue::bybit::BybitAdapter;
use tickforge_feeds::venue::{
    AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter,
};

mod common;

const RECV: i64 = 1_700_000_000_123_456_789;
const BTC: u32 = 0;
const ETH: u32 = 1;
const G: i64 = 1_000_000_000;

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    assert_eq!(t.add(venue::BYBIT, "BTCUSDT", false), Ok(BTC));
    assert_eq!(t.add(venue::BYBIT, "ETHUSDT", false), Ok(ETH));
    t.add(venue::BINANCE, "SOLUSDT", false).unwrap();
    t
}

fn adapter() -> BybitAdapter {
    BybitAdapter::new(venue::BYBIT, &table())
}

fn parse(a: &mut BybitAdapter, frame: &str) -> Result<Vec<AdapterEvent>, RejectReason> {
    common::events(a, frame.as_bytes(), RECV)
}

fn trade(
    symbol: u32,
    ts_ms: i64,
    price: i64,
    size: i64,
    side: Side,
    id: u64,
    flags: u16,
) -> AdapterEvent {
    AdapterEvent::Trade(
        TradeRecord::new(
            venue::BYBIT,
            symbol,
            ts_ms * 1_000_000,
            RECV,
            price,
            size,
            side,
            id,
        )
        .with_flags(flags),
    )
}

#[test]
fn bybit_public_trade_doc_examples_parse_exactly() {
    let l = common::fixture("bybit", "public_trade.jsonl");
    let mut a = adapter();
    let nc = trade_flags::ID_NOT_CONSECUTIVE;
    assert_eq!(
        parse(&mut a, &l[0]).unwrap(),
        vec![trade(
            BTC,
            1_672_304_486_865,
            16_578_500_000_000,
            1_000_000,
            Side::Buy,
            2_290_000_000_061_666_327,
            nc
        )]
    );
    assert_eq!(
        parse(&mut a, &l[1]).unwrap(),
        vec![
            trade(
                BTC,
                1_672_304_486_866,
                16_578 * G,
                G / 4,
                Side::Sell,
                2_290_000_000_061_666_329,
                nc
            ),
            trade(
                BTC,
                1_672_304_486_866,
                16_577_500_000_000,
                3 * G / 2,
                Side::Sell,
                2_290_000_000_061_666_330,
                nc
            ),
        ]
    );
    // A non-numeric id: no id, no ordering.
    assert_eq!(
        parse(&mut a, &l[2]).unwrap(),
        vec![trade(
            ETH,
            1_672_304_486_865,
            1_578_500_000_000,
            1_000_000,
            Side::Buy,
            0,
            trade_flags::ID_UNORDERED
        )]
    );
}

#[test]
fn bybit_orderbook_deltas_keep_the_other_side() {
    let l = common::fixture("bybit", "orderbook.jsonl");
    let mut a = adapter();
    let q = |ts: i64, bid: i64, bs: i64, ask: i64, asz: i64, u: u64| {
        AdapterEvent::Quote(QuoteRecord::new(
            venue::BYBIT,
            BTC,
            ts * 1_000_000,
            RECV,
            bid,
            bs,
            ask,
            asz,
            u,
        ))
    };
    assert_eq!(
        parse(&mut a, &l[0]).unwrap(),
        vec![q(
            1_672_304_484_978,
            16_493_500_000_000,
            6_000_000,
            16_611 * G,
            29_000_000,
            18_521_288
        )]
    );
    // Only the bid changed: the ask is the snapshot's.
    assert_eq!(
        parse(&mut a, &l[1]).unwrap(),
        vec![q(
            1_672_304_484_990,
            16_494 * G,
            10_000_000,
            16_611 * G,
            29_000_000,
            18_521_289
        )]
    );
    // The ask emptied: no quote until it is known again.
    assert_eq!(
        common::controls(&parse(&mut a, &l[2]).unwrap()),
        vec![ControlEvent::Ignored {
            what: "one_sided_book"
        }]
    );
    // A snapshot re-sent after 3 s without change (same `u`): the whole book again.
    assert_eq!(
        parse(&mut a, &l[3]).unwrap(),
        vec![q(
            1_672_304_488_001,
            16_494 * G,
            10_000_000,
            16_611_500_000_000,
            G / 2,
            18_521_290
        )]
    );
    // A delta deleting the old ask level and inserting the new one.
    assert_eq!(
        parse(&mut a, &l[4]).unwrap(),
        vec![q(
            1_672_304_488_012,
            16_494 * G,
            10_000_000,
            16_612 * G,
            G / 5,
            18_521_291
        )]
    );
    // A snapshot with an empty ask side: no quote.
    assert_eq!(
        common::controls(&parse(&mut a, &l[5]).unwrap()),
        vec![ControlEvent::Ignored {
            what: "one_sided_book"
        }]
    );
    // Deleting a price that is not the kept level changes nothing.
    let stale = l[4].replace(
        r#"[["16611.50","0"],["16612.00","0.2"]]"#,
        r#"[["1.5","0"]]"#,
    );
    assert_eq!(
        common::controls(&parse(&mut a, &stale).unwrap()),
        vec![ControlEvent::Ignored {
            what: "one_sided_book"
        }]
    );
    let mut fresh = adapter();
    parse(&mut fresh, &l[3]).unwrap();
    assert_eq!(
        parse(&mut fresh, &stale).unwrap(),
        vec![q(
            1_672_304_488_012,
            16_494 * G,
            10_000_000,
            16_611_500_000_000,
            G / 2,
            18_521_291
        )]
    );
    // A bad entry rejects the message and leaves the book as it was.
    let bad = l[4].replace(r#"["16612.00","0.2"]"#, r#"["16612.00"]"#);
    assert_eq!(
        parse(&mut fresh, &bad),
        Err(RejectReason::MissingField("a"))
    );
    assert_eq!(
        parse(&mut fresh, &l[1]).unwrap(),
        vec![q(
            1_672_304_484_990,
            16_494 * G,
            10_000_000,
            16_611_500_000_000,
            G / 2,
            18_521_289
        )]
    );
    // A fresh adapter seeing a delta first has no ask: nothing to publish.
    assert_eq!(
        common::controls(&parse(&mut adapter(), &l[1]).unwrap()),
        vec![ControlEvent::Ignored {
            what: "one_sided_book"
        }]
    );
}

#[test]
fn bybit_control_frames_are_connection_events() {
    let got: Vec<Vec<ControlEvent>> = common::fixture("bybit", "control.jsonl")
        .iter()
        .map(|l| common::controls(&parse(&mut adapter(), l).unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            vec![ControlEvent::SubscribeAck { id: Some(10001) }],
            vec![ControlEvent::SubscribeAck { id: None }],
            vec![ControlEvent::VenueError {
                code: 0,
                message: "Invalid symbol :[publicTrade.BTCUSDX]".into(),
                id: Some(7),
                subject: Some("publicTrade.BTCUSDX".into()),
            }],
            vec![ControlEvent::Pong],
            vec![ControlEvent::Pong],
            vec![ControlEvent::Ignored {
                what: "unknown_topic"
            }],
        ]
    );
}

#[test]
fn bybit_rejects_bad_frames_with_their_reason() {
    let t = &common::fixture("bybit", "public_trade.jsonl")[0];
    let cases: Vec<(String, RejectReason)> = vec![
        (t[..t.len() - 2].to_string(), RejectReason::MalformedJson),
        ("\"x\"".into(), RejectReason::NotAnObject),
        (
            t.replace(r#""s":"BTCUSDT""#, r#""s":"SOLUSDT""#),
            RejectReason::UnknownSymbol,
        ),
        (
            t.replace(r#""p":"16578.50""#, r#""p":16578.5"#),
            RejectReason::WrongType("p"),
        ),
        (
            t.replace(r#""p":"16578.50""#, r#""p":"99999999999999999999""#),
            RejectReason::BadPrice(DecimalError::OutOfRange),
        ),
        (
            t.replace(r#""v":"0.001""#, r#""v":"0.0000000001""#),
            RejectReason::BadSize(DecimalError::TooPrecise),
        ),
        (
            t.replace(r#""S":"Buy""#, r#""S":"buy""#),
            RejectReason::WrongType("S"),
        ),
        (
            t.replace(r#""T":1672304486865"#, r#""T":-5"#),
            RejectReason::BadTimestamp("T"),
        ),
        (
            t.replace(r#""T":1672304486865,"#, ""),
            RejectReason::MissingField("T"),
        ),
        (
            t.replace(r#""i":"2290000000061666327""#, r#""i":5"#),
            RejectReason::WrongType("i"),
        ),
        (
            t.replace(r#""topic":"publicTrade.BTCUSDT""#, r#""topic":7"#),
            RejectReason::WrongType("topic"),
        ),
        (
            t.replace(r#""v":"0.001""#, r#""v":"1","v":"2""#),
            RejectReason::MalformedJson,
        ),
    ];
    for (frame, reason) in cases {
        assert_eq!(parse(&mut adapter(), &frame), Err(reason), "{frame}");
    }
    let mut small = BybitAdapter::new(venue::BYBIT, &table()).with_max_frame_len(100);
    assert_eq!(
        common::events(&mut small, t.as_bytes(), RECV),
        Err(RejectReason::Oversized)
    );
    let b = &common::fixture("bybit", "orderbook.jsonl")[0];
    assert_eq!(
        parse(&mut adapter(), &b.replace("snapshot", "partial")),
        Err(RejectReason::WrongType("type"))
    );
}

#[test]
fn bybit_requests_and_keepalive_have_the_documented_shape() {
    let a = adapter();
    assert_eq!(a.default_url(), "wss://stream.bybit.com/v5/public/spot");
    let subs = Subscription::product(a.default_channels(), &["BTCUSDT"]);
    assert_eq!(
        a.subscribe_messages(&subs, 1),
        vec![
            r#"{"req_id":"1","op":"subscribe","args":["publicTrade.BTCUSDT","orderbook.1.BTCUSDT"]}"#
        ]
    );
    let many: Vec<Subscription> = (0..25)
        .map(|i| Subscription::new("publicTrade", format!("S{i}")))
        .collect();
    let msgs = a.unsubscribe_messages(&many, 5);
    assert_eq!(msgs.len(), 3);
    assert!(msgs[2].starts_with(r#"{"req_id":"7","op":"unsubscribe""#));
    let k = a.keepalive().unwrap();
    assert_eq!(
        (k.interval.as_secs(), k.message.as_str()),
        (20, r#"{"op":"ping"}"#)
    );
}

#[test]
fn bybit_differential_fixtures_and_mutations() {
    let table = table();
    let (mut accepted, mut total) = (0, 0);
    for file in common::fixture_files("bybit") {
        let lines = common::fixture("bybit", &file);
        for (i, line) in lines.iter().enumerate() {
            for frame in common::mutations(line.as_bytes(), 0xb1 + i as u64, 300) {
                // Book state matters: each frame after the file's lines before it.
                let mut a = BybitAdapter::new(venue::BYBIT, &table);
                let mut r = Reference::new(venue::BYBIT, &table);
                for before in &lines[..i] {
                    common::assert_agree(&mut a, &mut r, before.as_bytes());
                }
                accepted += usize::from(common::assert_agree(&mut a, &mut r, &frame));
                total += 1;
            }
        }
    }
    assert!(
        accepted > total / 20 && accepted < total * 19 / 20,
        "{accepted}/{total}"
    );
}

fn bybit_frame() -> impl Strategy<Value = String> {
    let sym = prop::sample::select(vec!["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    let dec = prop_oneof![
        (0u64..10_000_000, 0u64..1000).prop_map(|(a, b)| format!("\"{a}.{b}\"")),
        Just("\"0\"".to_string()),
        Just("\"1e-3\"".to_string()),
        Just("12.5".to_string()),
    ];
    let num = prop_oneof![
        (0u64..2_000_000_000_000).prop_map(|n| n.to_string()),
        Just("-1".to_string()),
        Just("\"5\"".to_string()),
        Just("null".to_string()),
    ];
    let side = prop::sample::select(vec!["\"Buy\"", "\"Sell\"", "\"X\""]);
    let id = prop_oneof![
        any::<u64>().prop_map(|n| format!("\"{n}\"")),
        Just("\"ab-12\"".to_string())
    ];
    let kind = prop::sample::select(vec!["snapshot", "delta", "delta", "x"]);
    // Book sides from a few prices, so that deletions hit the kept level ("2" = "2.0").
    let entry = (
        prop::sample::select(vec!["\"1.5\"", "\"2\"", "\"2.0\"", "2"]),
        prop::sample::select(vec!["\"0\"", "\"0\"", "\"1\"", "\"0.5\""]),
    )
        .prop_map(|(p, q)| format!("[{p},{q}]"));
    let levels = prop_oneof![
        prop::collection::vec(entry, 0..3).prop_map(|v| format!("[{}]", v.join(","))),
        Just("null".to_string()),
        Just("[[\"1\"]]".to_string()),
    ];
    let book = (levels.clone(), levels);
    (0..4u8, sym, dec.clone(), dec, num.clone(), side, id, kind, num, book).prop_map(
        |(k, s, p, q, t, side, id, kind, u, (b, a))| match k {
            0 => format!(
                r#"{{"topic":"publicTrade.{s}","type":"snapshot","ts":1,"data":[{{"T":{t},"s":"{s}","S":{side},"v":{q},"p":{p},"i":{id}}}]}}"#
            ),
            1 => format!(
                r#"{{"topic":"orderbook.1.{s}","type":"{kind}","ts":{t},"data":{{"s":"{s}","b":[[{p},{q}]],"a":[[{q},{p}]],"u":{u}}}}}"#
            ),
            2 => format!(
                r#"{{"topic":"orderbook.1.{s}","type":"{kind}","ts":5,"data":{{"s":"{s}","b":{b},"a":{a},"u":7}}}}"#
            ),
            _ => format!(r#"{{"success":{},"ret_msg":"x","req_id":{id},"op":"subscribe"}}"#, t == "null"),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn bybit_differential_generated_frames(frames in prop::collection::vec(bybit_frame(), 1..6), seed in any::<u64>()) {
        let table = table();
        let mut a = BybitAdapter::new(venue::BYBIT, &table);
        let mut r = Reference::new(venue::BYBIT, &table);
        for frame in &frames {
            common::assert_agree(&mut a, &mut r, frame.as_bytes());
            for m in common::mutations(frame.as_bytes(), seed, 4).into_iter().skip(frame.len()) {
                common::assert_agree(&mut a, &mut r, &m);
            }
        }
    }
}
