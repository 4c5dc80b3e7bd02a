//! The JSON reader against serde_json: the same verdict on valid and broken text, and the
//! same values when both accept.

use proptest::prelude::*;
use serde_json::Value as Sj;
use tickforge_feeds::venue::json::{self, Value};

mod common;

/// Our reading of a value as a serde_json value (numbers through their text).
fn to_serde(v: Value<'_>) -> Sj {
    match v {
        Value::Null => Sj::Null,
        Value::Bool(b) => Sj::Bool(b),
        Value::Number(n) => serde_json::from_str(n.text()).expect("number text is JSON"),
        Value::String(s) => Sj::String(s.to_cow().into_owned()),
        Value::Array(a) => Sj::Array(a.iter().map(to_serde).collect()),
        Value::Object(o) => Sj::Object(
            o.iter()
                .map(|(k, v)| (k.to_cow().into_owned(), to_serde(v)))
                .collect(),
        ),
    }
}

fn arb_json() -> impl Strategy<Value = Sj> {
    let leaf = prop_oneof![
        Just(Sj::Null),
        any::<bool>().prop_map(Sj::Bool),
        any::<i64>().prop_map(Sj::from),
        any::<u64>().prop_map(Sj::from),
        (-1e15f64..1e15).prop_map(Sj::from),
        "\\PC{0,12}".prop_map(Sj::String),
        "[a-zA-Z0-9\\\\\"\\n\\t\u{e9}\u{1F600}]{0,8}".prop_map(Sj::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Sj::Array),
            prop::collection::btree_map("[a-z\\\\\"]{0,4}", inner, 0..6)
                .prop_map(|m| Sj::Object(m.into_iter().collect())),
        ]
    })
}

fn agree(text: &[u8]) {
    let ours = json::parse(text);
    let theirs = serde_json::from_slice::<Sj>(text);
    assert_eq!(
        ours.is_ok(),
        theirs.is_ok(),
        "{:?}: ours {ours:?}, serde_json {theirs:?}",
        String::from_utf8_lossy(text)
    );
    if let (Ok(a), Ok(b)) = (ours, theirs) {
        assert_eq!(to_serde(a), b, "{:?}", String::from_utf8_lossy(text));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn json_reads_what_serde_json_writes(v in arb_json()) {
        for text in [serde_json::to_string(&v).unwrap(), serde_json::to_string_pretty(&v).unwrap()] {
            let ours = json::parse(text.as_bytes()).expect("valid JSON");
            // Against serde_json's own reading of the text (its float parsing does not
            // round-trip every f64 it prints).
            let theirs: Sj = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(to_serde(ours), theirs);
        }
    }

    #[test]
    fn json_verdicts_match_serde_json_on_broken_text(v in arb_json(), seed in any::<u64>()) {
        let text = serde_json::to_string(&v).unwrap();
        for m in common::mutations(text.as_bytes(), seed, 40) {
            agree(&m);
        }
    }

    #[test]
    fn json_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        agree(&bytes);
    }
}

#[test]
fn json_edge_cases_match_serde_json() {
    for text in [
        "0",
        "-0",
        "1e308",
        "1e309",
        "-1e400",
        "1e-400",
        "123456789012345678901234567890",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\\udc00\"",
        "[]",
        "{}",
        " [ 1 , 2 ] ",
        "{\"a\":1,\"a\":2}",
        "[1,]",
        "\"\u{7f}\"",
        "\"\t\"",
        "tru",
        "nulls",
        "[[[]]]",
    ] {
        agree(text.as_bytes());
    }
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    agree(deep(127).as_bytes());
    agree(deep(128).as_bytes());
}
