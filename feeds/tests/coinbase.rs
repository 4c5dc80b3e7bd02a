//! Coinbase Exchange adapter: documentation examples field by field (the maker's side
//! turned into the aggressor's), control frames, rejections, and the differential check
//! against serde_json.

use proptest::prelude::*;
use tickforge_engine::fixed::DecimalError;
use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_feeds::reference::Reference;
use tickforge_feeds::venue::coinbase::CoinbaseAdapter;
use tickforge_feeds::venue::{
    AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter,
};

mod common;

const RECV: i64 = 1_700_000_000_123_456_789;
const BTC: u32 = 0;
const ETH: u32 = 1;

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    assert_eq!(t.add(venue::COINBASE, "BTC-USD", false), Ok(BTC));
    assert_eq!(t.add(venue::COINBASE, "ETH-USD", false), Ok(ETH));
    t
}

fn parse(frame: &str) -> Result<Vec<AdapterEvent>, RejectReason> {
    common::events(
        &mut CoinbaseAdapter::new(venue::COINBASE, &table()),
        frame.as_bytes(),
        RECV,
    )
}

#[test]
fn coinbase_matches_doc_examples_give_the_aggressor_side() {
    let l = common::fixture("coinbase", "matches.jsonl");
    // A sell maker: the taker bought.
    assert_eq!(
        parse(&l[0]).unwrap(),
        vec![AdapterEvent::Trade(TradeRecord::new(
            venue::COINBASE,
            BTC,
            1_415_348_367_028_459_000,
            RECV,
            400_230_000_000,
            5_235_120_000,
            Side::Buy,
            10
        ))]
    );
    assert_eq!(
        parse(&l[1]).unwrap(),
        vec![AdapterEvent::Trade(TradeRecord::new(
            venue::COINBASE,
            BTC,
            1_415_348_367_128_459_000,
            RECV,
            400_220_000_000,
            10,
            Side::Sell,
            11
        ))]
    );
    // last_match is a snapshot, not a trade.
    assert_eq!(
        parse(&l[2]).unwrap(),
        vec![AdapterEvent::Control(ControlEvent::Ignored {
            what: "last_match"
        })]
    );
}

#[test]
fn coinbase_ticker_doc_example_parses_exactly() {
    let l = common::fixture("coinbase", "ticker.jsonl");
    assert_eq!(
        parse(&l[0]).unwrap(),
        vec![AdapterEvent::Quote(QuoteRecord::new(
            venue::COINBASE,
            ETH,
            1_666_222_102_061_769_000,
            RECV,
            1_285_040_000_000,
            466_886_540,
            1_285_270_000_000,
            1_566_370_400,
            37_475_248_783
        ))]
    );
}

#[test]
fn coinbase_control_frames_are_connection_events() {
    let got: Vec<Vec<ControlEvent>> = common::fixture("coinbase", "control.jsonl")
        .iter()
        .map(|l| common::controls(&parse(l).unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            vec![ControlEvent::SubscribeAck { id: None }],
            vec![ControlEvent::Heartbeat],
            vec![ControlEvent::VenueError {
                code: 0,
                message: "Failed to subscribe: BTC-XXX is not a valid product".into(),
                id: None,
                subject: Some("BTC-XXX".into()),
            }],
            vec![ControlEvent::VenueError {
                code: 0,
                message: "error message".into(),
                id: None,
                subject: None,
            }],
            vec![ControlEvent::Ignored {
                what: "unknown_type"
            }],
        ]
    );
    // A refused channel is named too.
    assert_eq!(
        common::controls(
            &parse(r#"{"type":"error","message":"Failed to subscribe","reason":"level9 is not a valid channel"}"#)
                .unwrap()
        ),
        vec![ControlEvent::VenueError {
            code: 0,
            message: "Failed to subscribe: level9 is not a valid channel".into(),
            id: None,
            subject: Some("level9".into()),
        }]
    );
}

#[test]
fn coinbase_rejects_bad_frames_with_their_reason() {
    let m = &common::fixture("coinbase", "matches.jsonl")[0];
    let cases: Vec<(String, RejectReason)> = vec![
        (m[..40].to_string(), RejectReason::MalformedJson),
        ("null".into(), RejectReason::NotAnObject),
        (
            r#"{"product_id":"BTC-USD"}"#.into(),
            RejectReason::MissingField("type"),
        ),
        (m.replace("BTC-USD", "BTC-EUR"), RejectReason::UnknownSymbol),
        (
            m.replace(r#""price":"400.23""#, r#""price":400.23"#),
            RejectReason::WrongType("price"),
        ),
        (
            m.replace(r#""size":"5.23512""#, r#""size":"5.2.3""#),
            RejectReason::BadSize(DecimalError::InvalidChar),
        ),
        (
            m.replace(r#""trade_id":10"#, r#""trade_id":"10""#),
            RejectReason::WrongType("trade_id"),
        ),
        (
            m.replace("2014-11-07T08:19:27.028459Z", "yesterday"),
            RejectReason::BadTimestamp("time"),
        ),
        (
            m.replace("2014-11-07T08:19:27.028459Z", "1969-12-31T23:59:59.999999Z"),
            RejectReason::BadTimestamp("time"),
        ),
        (
            m.replace("2014-11-07T08:19:27.028459Z", "2262-04-12T00:00:00Z"),
            RejectReason::BadTimestamp("time"),
        ),
        (
            m.replace(r#","time":"2014-11-07T08:19:27.028459Z""#, ""),
            RejectReason::MissingField("time"),
        ),
        (
            m.replace(r#""trade_id":10"#, r#""trade_id":-10"#),
            RejectReason::BadId("trade_id"),
        ),
        (
            m.replace(r#""side":"sell""#, r#""side":"SELL""#),
            RejectReason::WrongType("side"),
        ),
        (
            m.replace(r#""side":"sell""#, r#""side":"sell","side":"buy""#),
            RejectReason::MalformedJson,
        ),
    ];
    let t = &common::fixture("coinbase", "ticker.jsonl")[0];
    let cases = cases.into_iter().chain([
        (
            t.replace(r#""best_bid_size":"0.46688654","#, ""),
            RejectReason::MissingField("best_bid_size"),
        ),
        (
            t.replace(r#""sequence":37475248783"#, r#""sequence":"37475248783""#),
            RejectReason::WrongType("sequence"),
        ),
        (t.replace("ETH-USD", "ETH-EUR"), RejectReason::UnknownSymbol),
    ]);
    for (frame, reason) in cases {
        assert_eq!(parse(&frame), Err(reason), "{frame}");
    }
    let mut small = CoinbaseAdapter::new(venue::COINBASE, &table()).with_max_frame_len(100);
    assert_eq!(
        common::events(&mut small, m.as_bytes(), RECV),
        Err(RejectReason::Oversized)
    );
}

#[test]
fn coinbase_requests_have_the_documented_shape() {
    let a = CoinbaseAdapter::new(venue::COINBASE, &table());
    assert_eq!(a.default_url(), "wss://ws-feed.exchange.coinbase.com");
    assert_eq!(
        a.subscribe_messages(
            &Subscription::product(a.default_channels(), &["BTC-USD"]),
            1
        ),
        vec![
            r#"{"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches","ticker","heartbeat"]}"#
        ]
    );
    assert!(a.keepalive().is_none());
}

#[test]
fn coinbase_differential_fixtures_and_mutations() {
    let table = table();
    let mut a = CoinbaseAdapter::new(venue::COINBASE, &table);
    let mut r = Reference::new(venue::COINBASE, &table);
    common::agree_on_fixtures("coinbase", &mut a, &mut r, 0xcb, 300);
}

fn coinbase_frame() -> impl Strategy<Value = String> {
    let product = prop::sample::select(vec!["BTC-USD", "ETH-USD", "SOL-USD"]);
    let dec = prop_oneof![
        (0u64..10_000_000, 0u64..100_000).prop_map(|(a, b)| format!("\"{a}.{b}\"")),
        Just("\"1e-3\"".to_string()),
        Just("5".to_string()),
        Just("\"-1\"".to_string()),
    ];
    let id = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        Just("\"7\"".to_string()),
        Just("-3".to_string())
    ];
    let time = prop_oneof![
        Just("\"2014-11-07T08:19:27.028459Z\"".to_string()),
        Just("\"2014-11-07T08:19:27.028459+01:00\"".to_string()),
        Just("\"2014-13-07T08:19:27Z\"".to_string()),
    ];
    let side = prop::sample::select(vec!["\"buy\"", "\"sell\"", "\"\""]);
    let kind = prop::sample::select(vec!["match", "last_match", "ticker", "error", "heartbeat"]);
    (kind, product, dec.clone(), dec, id, time, side).prop_map(|(k, p, a, b, id, t, side)| match k {
        "ticker" => format!(
            r#"{{"type":"ticker","sequence":{id},"product_id":"{p}","best_bid":{a},"best_bid_size":{b},"best_ask":{b},"best_ask_size":{a},"time":{t}}}"#
        ),
        "error" => format!(r#"{{"type":"error","message":{a},"reason":"{p} is not a valid product"}}"#),
        "heartbeat" => format!(r#"{{"type":"heartbeat","sequence":{id},"product_id":"{p}","time":{t}}}"#),
        k => format!(
            r#"{{"type":"{k}","trade_id":{id},"time":{t},"product_id":"{p}","size":{b},"price":{a},"side":{side}}}"#
        ),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn coinbase_differential_generated_frames(frame in coinbase_frame(), seed in any::<u64>()) {
        let table = table();
        let mut a = CoinbaseAdapter::new(venue::COINBASE, &table);
        let mut r = Reference::new(venue::COINBASE, &table);
        common::agree_with_mutations(&mut a, &mut r, frame.as_bytes(), seed, 6);
    }
}
