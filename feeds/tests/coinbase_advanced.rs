//! Coinbase Advanced Trade adapter: documentation examples field by field (batches,
//! snapshots, the maker's side), control frames, rejections, and the differential check
//! against serde_json.

use proptest::prelude::*;
use tickforge_engine::fixed::DecimalError;
use tickforge_engine::record::{QuoteRecord, Side, TradeRecord};
use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_feeds::reference::Reference;
use tickforge_feeds::venue::coinbase_advanced::CoinbaseAdvancedAdapter;
use tickforge_feeds::venue::{
    AdapterEvent, ControlEvent, RejectReason, Subscription, VenueAdapter,
};

mod common;

const RECV: i64 = 1_700_000_000_123_456_789;
const BTC: u32 = 0;
const ETH: u32 = 1;
const V: u8 = venue::COINBASE_ADVANCED;

fn table() -> SymbolTable {
    let mut t = SymbolTable::new();
    assert_eq!(t.add(V, "BTC-USD", false), Ok(BTC));
    assert_eq!(t.add(V, "ETH-USD", false), Ok(ETH));
    t
}

fn parse(frame: &str) -> Result<Vec<AdapterEvent>, RejectReason> {
    common::events(
        &mut CoinbaseAdvancedAdapter::new(V, &table()),
        frame.as_bytes(),
        RECV,
    )
}

#[test]
fn coinbase_advanced_market_trades_batches_and_snapshots() {
    let l = common::fixture("coinbase_advanced", "market_trades.jsonl");
    assert_eq!(
        parse(&l[0]).unwrap(),
        vec![AdapterEvent::Control(ControlEvent::Ignored {
            what: "snapshot"
        })]
    );
    // A SELL maker means the taker bought.
    assert_eq!(
        parse(&l[1]).unwrap(),
        vec![
            AdapterEvent::Trade(TradeRecord::new(
                V,
                ETH,
                1_675_973_976_265_000_000,
                RECV,
                1_260_020_000_000,
                50_000_000,
                Side::Buy,
                572_093_914
            )),
            AdapterEvent::Trade(TradeRecord::new(
                V,
                ETH,
                1_675_973_976_301_512_000,
                RECV,
                1_260 * 1_000_000_000,
                1_250_000_000,
                Side::Sell,
                572_093_915
            )),
        ]
    );
}

#[test]
fn coinbase_advanced_market_trades_bad_element_keeps_the_records_before_it() {
    let t = &common::fixture("coinbase_advanced", "market_trades.jsonl")[1];
    // The second trade names an unknown product.
    let frame = t.replacen(
        r#""product_id":"ETH-USD","price":"1260.00""#,
        r#""product_id":"SOL-USD","price":"1260.00""#,
        1,
    );
    assert_ne!(&frame, t);
    let mut a = CoinbaseAdvancedAdapter::new(V, &table());
    let mut got = Vec::new();
    let r = a.parse(frame.as_bytes(), RECV, &mut |e| got.push(e));
    assert_eq!(r, Err(RejectReason::UnknownSymbol));
    assert_eq!(got.len(), 1);
    assert!(
        matches!(got[0], AdapterEvent::Trade(t) if t.trade_id == 572_093_914 && t.symbol == ETH)
    );
}

#[test]
fn coinbase_advanced_ticker_doc_example_parses_exactly() {
    let l = common::fixture("coinbase_advanced", "ticker.jsonl");
    assert_eq!(
        parse(&l[0]).unwrap(),
        vec![AdapterEvent::Quote(QuoteRecord::new(
            V,
            BTC,
            1_675_974_637_167_359_596,
            RECV,
            21_931_980_000_000,
            8_000_210_000_000,
            21_933_980_000_000,
            8_038_077_700_710,
            0
        ))]
    );
}

#[test]
fn coinbase_advanced_control_frames_are_connection_events() {
    let got: Vec<Vec<ControlEvent>> = common::fixture("coinbase_advanced", "control.jsonl")
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
                message: "failure to subscribe: product BTC-XXX not found".into(),
                id: None,
                subject: Some("BTC-XXX".into()),
            }],
            vec![ControlEvent::Ignored {
                what: "unknown_channel"
            }],
        ]
    );
}

#[test]
fn coinbase_advanced_rejects_bad_frames_with_their_reason() {
    let t = &common::fixture("coinbase_advanced", "market_trades.jsonl")[1];
    let q = &common::fixture("coinbase_advanced", "ticker.jsonl")[0];
    let cases: Vec<(String, RejectReason)> = vec![
        (t[..t.len() - 4].to_string(), RejectReason::MalformedJson),
        ("1".into(), RejectReason::NotAnObject),
        (
            t.replacen("ETH-USD", "SOL-USD", 1),
            RejectReason::UnknownSymbol,
        ),
        (
            t.replace(r#""price":"1260.02""#, r#""price":1260.02"#),
            RejectReason::WrongType("price"),
        ),
        (
            t.replace(r#""size":"0.05""#, r#""size":"0.05x""#),
            RejectReason::BadSize(DecimalError::InvalidChar),
        ),
        (
            t.replace(r#""trade_id":"572093914""#, r#""trade_id":"a1""#),
            RejectReason::BadId("trade_id"),
        ),
        (
            t.replace(r#""side":"SELL""#, r#""side":"sell""#),
            RejectReason::WrongType("side"),
        ),
        (
            t.replace(r#""type":"update","#, ""),
            RejectReason::MissingField("type"),
        ),
        (
            t.replace("2023-02-09T20:19:36.265Z", "1960-01-01T00:00:00Z"),
            RejectReason::BadTimestamp("time"),
        ),
        (
            t.replace("2023-02-09T20:19:36.265Z", "2300-01-01T00:00:00Z"),
            RejectReason::BadTimestamp("time"),
        ),
        (
            t.replace(r#""trade_id":"572093914""#, r#""trade_id":572093914"#),
            RejectReason::WrongType("trade_id"),
        ),
        (
            t.replace(r#""trade_id":"572093914","#, ""),
            RejectReason::MissingField("trade_id"),
        ),
        (
            t.replace(r#""trades":["#, r#""trades":[1,"#),
            RejectReason::WrongType("trades"),
        ),
        (
            t.replace(
                r#""events":[{"type":"update""#,
                r#""events":{"x":[{"type":"update""#,
            )
            .replace("]}]}", "]}]}}"),
            RejectReason::WrongType("events"),
        ),
        (
            q.replace("2023-02-09T20:30:37.167359596Z", "now"),
            RejectReason::BadTimestamp("timestamp"),
        ),
        (
            q.replace(r#""sequence_num":0"#, r#""sequence_num":-1"#),
            RejectReason::BadId("sequence_num"),
        ),
        (
            q.replace(r#""best_ask":"21933.98""#, r#""best_ask":null"#),
            RejectReason::MissingField("best_ask"),
        ),
    ];
    for (frame, reason) in cases {
        assert_eq!(parse(&frame), Err(reason), "{frame}");
    }
    let mut small = CoinbaseAdvancedAdapter::new(V, &table()).with_max_frame_len(100);
    assert_eq!(
        common::events(&mut small, t.as_bytes(), RECV),
        Err(RejectReason::Oversized)
    );
}

#[test]
fn coinbase_advanced_requests_have_the_documented_shape() {
    let a = CoinbaseAdvancedAdapter::new(V, &table());
    assert_eq!(a.default_url(), "wss://advanced-trade-ws.coinbase.com");
    let msgs = a.subscribe_messages(
        &Subscription::product(a.default_channels(), &["BTC-USD"]),
        1,
    );
    assert_eq!(msgs.len(), 3);
    assert_eq!(
        msgs[0],
        r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"market_trades"}"#
    );
    assert_eq!(msgs[2], r#"{"type":"subscribe","channel":"heartbeats"}"#);
}

#[test]
fn coinbase_advanced_differential_fixtures_and_mutations() {
    let table = table();
    let mut a = CoinbaseAdvancedAdapter::new(V, &table);
    let mut r = Reference::new(V, &table);
    common::agree_on_fixtures("coinbase_advanced", &mut a, &mut r, 0xca, 300);
}

fn advanced_frame() -> impl Strategy<Value = String> {
    let product = prop::sample::select(vec!["BTC-USD", "ETH-USD", "SOL-USD"]);
    let dec = prop_oneof![
        (0u64..10_000_000, 0u64..100_000).prop_map(|(a, b)| format!("\"{a}.{b}\"")),
        Just("\"1E2\"".to_string()),
        Just("7".to_string()),
    ];
    let id = prop_oneof![
        any::<u64>().prop_map(|n| format!("\"{n}\"")),
        Just("\"00x\"".to_string()),
        Just("5".to_string())
    ];
    let time = prop_oneof![
        Just("\"2023-02-09T20:19:36.265Z\"".to_string()),
        Just("\"2023-02-09T20:19:36.1234567891Z\"".to_string()),
        Just("12".to_string()),
    ];
    let side = prop::sample::select(vec!["\"BUY\"", "\"SELL\"", "\"HOLD\""]);
    let kind = prop::sample::select(vec!["update", "snapshot"]);
    (0..2u8, product, dec.clone(), dec, id, time, side, kind).prop_map(|(k, p, a, b, id, t, side, kind)| match k {
        0 => format!(
            r#"{{"channel":"market_trades","timestamp":{t},"sequence_num":1,"events":[{{"type":"{kind}","trades":[{{"trade_id":{id},"product_id":"{p}","price":{a},"size":{b},"side":{side},"time":{t}}}]}}]}}"#
        ),
        _ => format!(
            r#"{{"channel":"ticker","timestamp":{t},"sequence_num":{},"events":[{{"type":"{kind}","tickers":[{{"product_id":"{p}","best_bid":{a},"best_bid_quantity":{b},"best_ask":{b},"best_ask_quantity":{a}}}]}}]}}"#,
            id.trim_matches('"')
        ),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn coinbase_advanced_differential_generated_frames(frame in advanced_frame(), seed in any::<u64>()) {
        let table = table();
        let mut a = CoinbaseAdvancedAdapter::new(V, &table);
        let mut r = Reference::new(V, &table);
        common::agree_with_mutations(&mut a, &mut r, frame.as_bytes(), seed, 6);
    }
}
