//! Shared checks of the fuzz targets.

use std::cell::RefCell;

use tickforge_feeds::reference::{sample_table, RefRecord, Reference};
use tickforge_feeds::venue::json::{self, Value};
use tickforge_feeds::venue::{adapter_for, AdapterEvent, AdapterOptions, VenueAdapter};

const RECV: i64 = 1_700_000_000_123_456_789;

thread_local! {
    static ADAPTERS: RefCell<Vec<Option<(Box<dyn VenueAdapter>, Reference)>>> =
        RefCell::new((0..8).map(|_| None).collect());
}

/// Parses `data` with the venue's adapter and its serde_json reference; panics when they
/// disagree (libFuzzer reports the input).
pub fn adapter_agrees(venue: u8, data: &[u8]) {
    ADAPTERS.with(|cell| {
        let mut all = cell.borrow_mut();
        let slot = &mut all[usize::from(venue)];
        let (adapter, reference) = slot.get_or_insert_with(|| {
            let table = sample_table();
            let opts = AdapterOptions {
                max_frame_len: 64 << 10,
                api_key: Some("key".into()),
            };
            (
                adapter_for(venue, &table, &opts).expect("a known venue"),
                Reference::new(venue, &table),
            )
        });
        let mut ours = Vec::new();
        let result = adapter.parse(data, RECV, &mut |e| match e {
            AdapterEvent::Trade(t) => ours.push(RefRecord::Trade(t)),
            AdapterEvent::Quote(q) => ours.push(RefRecord::Quote(q)),
            AdapterEvent::Control(_) => {}
        });
        if data.len() > 64 << 10 {
            return;
        }
        match (result, reference.parse(data, RECV)) {
            (Ok(()), Ok(theirs)) => assert_eq!(ours, theirs, "records differ"),
            (Err(_), Err(())) => {}
            (ours, theirs) => panic!(
                "adapter {:?}, reference {:?}",
                ours.map(|()| "accepts"),
                theirs.map(|_| "accepts")
            ),
        }
    });
}

/// The JSON reader against serde_json on `data`.
pub fn json_agrees(data: &[u8]) {
    let ours = json::parse(data);
    // Into a `Value`, so that serde_json checks strings it would skip otherwise.
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    assert_eq!(ours.is_ok(), theirs.is_ok(), "validity differs: {ours:?} {theirs:?}");
    if let Ok(v) = ours {
        walk(v, 0);
    }
}

fn walk(v: Value<'_>, depth: usize) {
    assert!(depth <= json::MAX_DEPTH);
    match v {
        Value::Object(o) => {
            for (k, v) in o.iter() {
                let _ = k.to_cow();
                walk(v, depth + 1);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| walk(v, depth + 1)),
        Value::String(s) => {
            let _ = s.to_cow();
        }
        Value::Number(n) => {
            let _ = (n.as_u64(), n.as_i64());
        }
        Value::Null | Value::Bool(_) => {}
    }
}
