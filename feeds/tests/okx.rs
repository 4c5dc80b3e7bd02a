//! OKX adapter: documentation examples field by field, control frames, rejections, and
//! the differential check against the serde_json reference.

use proptest::prelude::*;
use tickforge_engine::fixed::DecimalError;
use tickforge_engine::record::{trade_flags, QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_feeds::reference::Reference;
use tickforge_feeds::venue::okx::OkxAdapter;
use tickforge_feeds::venue::{
    AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter,
};

mod common;

const RECV: i64 = 1_700_000_000_123_456_789;
const BTC: u32 = 0;
const ETH: u32 = 1;

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    assert_eq!(t.add(venue::OKX, "BTC-USDT", false), Ok(BTC));
    assert_eq!(t.add(venue::OKX, "ETH-USDT", false), Ok(ETH));
    t.add(venue::BINANCE, "LTC-USDT", false).unwrap();
    t
}

fn adapter() -> OkxAdapter {
    OkxAdapter::new(venue::OKX, &table())
}

fn parse(frame: &str) -> Result<Vec<AdapterEvent>, RejectReason> {
    common::events(&mut adapter(), frame.as_bytes(), RECV)
}

fn trade(symbol: u32, ts_ms: i64, price: i64, size: i64, side: Side, id: u64) -> AdapterEvent {
    AdapterEvent::Trade(
        TradeRecord::new(
            venue::OKX,
            symbol,
            ts_ms * 1_000_000,
            RECV,
            price,
            size,
            side,
            id,
        )
        .with_flags(trade_flags::ID_NOT_CONSECUTIVE),
    )
}

#[allow(clippy::too_many_arguments)]
fn quote(
    symbol: u32,
    ts_ms: i64,
    bid: i64,
    bid_size: i64,
    ask: i64,
    ask_size: i64,
    id: u64,
) -> AdapterEvent {
    AdapterEvent::Quote(QuoteRecord::new(
        venue::OKX,
        symbol,
        ts_ms * 1_000_000,
        RECV,
        bid,
        bid_size,
        ask,
        ask_size,
        id,
    ))
}

const G: i64 = 1_000_000_000; // one unit in 1e-9

#[test]
fn okx_trades_doc_examples_parse_exactly() {
    let lines = common::fixture("okx", "trades.jsonl");
    assert_eq!(
        parse(&lines[0]).unwrap(),
        vec![trade(
            BTC,
            1_630_048_897_897,
            42_219_900_000_000,
            120_603_060,
            Side::Buy,
            130_639_474
        )]
    );
    // A batch: both trades, in order; the taker sold.
    assert_eq!(
        parse(&lines[1]).unwrap(),
        vec![
            trade(
                BTC,
                1_630_048_897_901,
                42_219_800_000_000,
                500_000,
                Side::Sell,
                130_639_475
            ),
            trade(
                BTC,
                1_630_048_897_901,
                42_219_700_000_000,
                3 * G / 2,
                Side::Sell,
                130_639_477
            ),
        ]
    );
    assert_eq!(
        parse(&lines[2]).unwrap(),
        vec![trade(
            ETH,
            1_697_697_049_165,
            3_010_510_000_000,
            1_000_000,
            Side::Buy,
            242_720_720
        )]
    );
}

#[test]
fn okx_bbo_tbt_doc_examples_parse_exactly() {
    let lines = common::fixture("okx", "bbo_tbt.jsonl");
    assert_eq!(
        parse(&lines[0]).unwrap(),
        vec![quote(
            BTC,
            1_597_026_383_085,
            8_476_970_000_000,
            256 * G,
            8_476_980_000_000,
            415 * G,
            123_456
        )]
    );
    assert_eq!(
        parse(&lines[1]).unwrap(),
        vec![quote(
            ETH,
            1_670_324_386_802,
            111_050_000_000,
            57_745 * G,
            111_060_000_000,
            55_154 * G,
            363_996_337
        )]
    );
    // One side empty: no quote, counted as ignored.
    assert_eq!(
        common::controls(&parse(&lines[2]).unwrap()),
        vec![ControlEvent::Ignored {
            what: "one_sided_book"
        }]
    );
}

#[test]
fn okx_tickers_doc_example_parses_exactly() {
    let lines = common::fixture("okx", "tickers.jsonl");
    assert_eq!(
        parse(&lines[0]).unwrap(),
        vec![quote(
            BTC,
            1_597_026_383_085,
            8_888_880_000_000,
            5 * G,
            9_999_990_000_000,
            11 * G,
            0
        )]
    );
    let empty = lines[0].replace(r#""bidPx":"8888.88""#, r#""bidPx":"""#);
    assert_eq!(
        common::controls(&parse(&empty).unwrap()),
        vec![ControlEvent::Ignored {
            what: "one_sided_book"
        }]
    );
}

#[test]
fn okx_control_frames_are_connection_events() {
    let got: Vec<Vec<ControlEvent>> = common::fixture("okx", "control.jsonl")
        .iter()
        .map(|l| common::controls(&parse(l).unwrap()))
        .collect();
    let msg4 = r#"Invalid request: {"op": "subscribe", "args":[{ "channel" : "block-tickers", "instId" : "LTC-USD-200327"}]}"#;
    let msg5 = "Wrong URL or channel:trades,instId:BTC-XXX doesn't exist. Please use the correct URL, channel and parameters referring to API document.";
    assert_eq!(
        got,
        vec![
            vec![ControlEvent::SubscribeAck { id: None }],
            vec![ControlEvent::SubscribeAck { id: Some(1512) }],
            vec![ControlEvent::SubscribeAck { id: None }],
            vec![ControlEvent::VenueError {
                code: 60012,
                message: msg4.into(),
                id: None,
                subject: Some("LTC-USD-200327".into()),
            }],
            vec![ControlEvent::VenueError {
                code: 60018,
                message: msg5.into(),
                id: None,
                subject: Some("BTC-XXX".into()),
            }],
            vec![ControlEvent::ServerShutdown { exch_ts: RECV }],
            vec![ControlEvent::Info {
                id: None,
                what: "notice"
            }],
            vec![ControlEvent::Ignored {
                what: "unknown_channel"
            }],
        ]
    );
    assert_eq!(
        parse("pong").unwrap(),
        vec![AdapterEvent::Control(ControlEvent::Pong)]
    );
}

#[test]
fn okx_rejects_bad_frames_with_their_reason() {
    let t = &common::fixture("okx", "trades.jsonl")[0];
    let cases: Vec<(String, RejectReason)> = vec![
        (t[..t.len() - 3].to_string(), RejectReason::MalformedJson),
        ("ping".into(), RejectReason::MalformedJson),
        ("[1]".into(), RejectReason::NotAnObject),
        (
            t.replace("BTC-USDT", "XRP-USDT"),
            RejectReason::UnknownSymbol,
        ),
        (
            t.replace(r#""px":"42219.9""#, r#""px":42219.9"#),
            RejectReason::WrongType("px"),
        ),
        (
            t.replace(r#""px":"42219.9""#, r#""px":"abc""#),
            RejectReason::BadPrice(DecimalError::InvalidChar),
        ),
        (
            t.replace(r#""sz":"0.12060306""#, r#""sz":"-1""#),
            RejectReason::BadSize(DecimalError::Negative),
        ),
        (
            t.replace(r#""tradeId":"130639474""#, r#""tradeId":"x1""#),
            RejectReason::BadId("tradeId"),
        ),
        (
            t.replace(r#""tradeId":"130639474","#, ""),
            RejectReason::MissingField("tradeId"),
        ),
        (
            t.replace(r#""ts":"1630048897897""#, r#""ts":"99999999999999999""#),
            RejectReason::BadTimestamp("ts"),
        ),
        (
            t.replace(r#""side":"buy""#, r#""side":"up""#),
            RejectReason::WrongType("side"),
        ),
        (
            t.replace(r#""data":["#, r#""data":{"x":["#)
                .replace("}]}", "}]}}"),
            RejectReason::WrongType("data"),
        ),
        (
            t.replace(r#""px":"42219.9""#, r#""px":"1","px":"2""#),
            RejectReason::MalformedJson,
        ),
        (
            t.replace(r#""arg":{"channel":"trades","instId":"BTC-USDT"},"#, ""),
            RejectReason::MissingField("arg"),
        ),
    ];
    for (frame, reason) in cases {
        assert_eq!(parse(&frame), Err(reason), "{frame}");
    }
    let mut small = OkxAdapter::new(venue::OKX, &table()).with_max_frame_len(64);
    assert_eq!(
        common::events(&mut small, t.as_bytes(), RECV),
        Err(RejectReason::Oversized)
    );
    // A bad item rejects the frame; the trades before it were delivered.
    let two = &common::fixture("okx", "trades.jsonl")[1];
    let bad = two.replace(r#""tradeId":"130639477""#, r#""tradeId":-1"#);
    let mut seen = Vec::new();
    let r = adapter().parse(bad.as_bytes(), RECV, &mut |e| seen.push(e));
    assert_eq!(r, Err(RejectReason::WrongType("tradeId")));
    assert_eq!(seen.len(), 1);
}

#[test]
fn okx_requests_and_keepalive_have_the_documented_shape() {
    let a = adapter();
    assert_eq!(a.default_url(), "wss://ws.okx.com:8443/ws/v5/public");
    let subs = Subscription::product(a.default_channels(), &["BTC-USDT"]);
    assert_eq!(
        a.subscribe_messages(&subs, 1),
        vec![
            r#"{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},{"channel":"bbo-tbt","instId":"BTC-USDT"}],"id":"1"}"#
        ]
    );
    assert_eq!(
        a.unsubscribe_messages(&subs[..1], 9),
        vec![r#"{"op":"unsubscribe","args":[{"channel":"trades","instId":"BTC-USDT"}],"id":"9"}"#]
    );
    assert!(a.login_messages().is_empty());
    let k = a.keepalive().unwrap();
    assert_eq!((k.interval.as_secs(), k.message.as_str()), (25, "ping"));
}

#[test]
fn okx_differential_fixtures_and_mutations() {
    let table = table();
    let mut a = OkxAdapter::new(venue::OKX, &table);
    let mut r = Reference::new(venue::OKX, &table);
    common::agree_on_fixtures("okx", &mut a, &mut r, 0x0c5, 300);
}

fn okx_frame() -> impl Strategy<Value = String> {
    let inst = prop::sample::select(vec!["BTC-USDT", "ETH-USDT", "LTC-USDT", "X"]);
    let dec = prop_oneof![
        (0u64..10_000_000, 0u32..12).prop_map(|(n, d)| format!("\"{}e-{d}\"", n)),
        (0u64..10_000_000, 0u64..1000).prop_map(|(a, b)| format!("\"{a}.{b}\"")),
        Just("\"\"".to_string()),
        Just("12.5".to_string()),
        Just("null".to_string()),
    ];
    let id = prop_oneof![
        any::<u64>().prop_map(|n| format!("\"{n}\"")),
        Just("\"00042\"".to_string()),
        Just("42".to_string()),
        Just("\"-1\"".to_string()),
    ];
    let ts = prop_oneof![
        (0u64..2_000_000_000_000).prop_map(|n| format!("\"{n}\"")),
        Just("\"99999999999999999999\"".to_string()),
        Just("1630048897897".to_string()),
    ];
    let side = prop::sample::select(vec!["\"buy\"", "\"sell\"", "\"hold\"", "1"]);
    let kind = 0..4u8;
    (kind, inst, id, dec.clone(), dec, ts, side).prop_map(|(k, inst, id, p, q, ts, side)| match k {
        0 => format!(
            r#"{{"arg":{{"channel":"trades","instId":"{inst}"}},"data":[{{"instId":"{inst}","tradeId":{id},"px":{p},"sz":{q},"side":{side},"ts":{ts}}}]}}"#
        ),
        1 => format!(
            r#"{{"arg":{{"channel":"bbo-tbt","instId":"{inst}"}},"data":[{{"asks":[[{p},{q},"0","1"]],"bids":[[{q},{p},"0","2"]],"ts":{ts},"seqId":{}}}]}}"#,
            id.trim_matches('"')
        ),
        2 => format!(
            r#"{{"arg":{{"channel":"tickers","instId":"{inst}"}},"data":[{{"bidPx":{p},"bidSz":{q},"askPx":{q},"askSz":{p},"ts":{ts}}}]}}"#
        ),
        _ => format!(r#"{{"event":"error","code":{id},"msg":"instId:{inst} doesn't exist"}}"#),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn okx_differential_generated_frames(frame in okx_frame(), seed in any::<u64>()) {
        let table = table();
        let mut a = OkxAdapter::new(venue::OKX, &table);
        let mut r = Reference::new(venue::OKX, &table);
        common::agree_with_mutations(&mut a, &mut r, frame.as_bytes(), seed, 6);
    }
}
