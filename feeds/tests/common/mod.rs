//! Shared by the venue adapter tests: fixture files, and the differential check of an
//! adapter against its serde_json reference parser.
#![allow(dead_code)]

use std::path::PathBuf;

use tickforge_feeds::reference::{RefRecord, Reference};
use tickforge_feeds::venue::{AdapterEvent, ControlEvent, RejectReason, VenueAdapter};

/// The non-empty lines of `tests/fixtures/<venue>/<file>`.
pub fn fixture(venue: &str, file: &str) -> Vec<String> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", venue, file]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every fixture file of a venue directory, by name.
pub fn fixture_files(venue: &str) -> Vec<String> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", venue]
        .iter()
        .collect();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl") || n.ends_with(".txt"))
        .collect();
    names.sort();
    names
}

/// Everything the adapter produced for one frame.
pub fn events(
    adapter: &mut dyn VenueAdapter,
    frame: &[u8],
    recv_ts: i64,
) -> Result<Vec<AdapterEvent>, RejectReason> {
    let mut v = Vec::new();
    adapter
        .parse(frame, recv_ts, &mut |e| v.push(e))
        .map(|()| v)
}

/// The control events only.
pub fn controls(events: &[AdapterEvent]) -> Vec<ControlEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            AdapterEvent::Control(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

/// The adapter's trades and quotes for one frame, in the reference's terms.
pub fn records(
    adapter: &mut dyn VenueAdapter,
    frame: &[u8],
    recv_ts: i64,
) -> Result<Vec<RefRecord>, RejectReason> {
    let mut v = Vec::new();
    adapter
        .parse(frame, recv_ts, &mut |e| match e {
            AdapterEvent::Trade(t) => v.push(RefRecord::Trade(t)),
            AdapterEvent::Quote(q) => v.push(RefRecord::Quote(q)),
            AdapterEvent::Control(_) => {}
        })
        .map(|()| v)
}

/// Asserts that the adapter and the reference agree on `frame`: the same trades and
/// quotes, or both reject it. Returns whether the frame was accepted.
pub fn assert_agree(
    adapter: &mut dyn VenueAdapter,
    reference: &mut Reference,
    frame: &[u8],
) -> bool {
    const RECV: i64 = 1_700_000_000_123_456_789;
    let ours = records(adapter, frame, RECV);
    let theirs = reference.parse(frame, RECV);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert_eq!(
            a,
            b,
            "adapter and reference disagree on {:?}",
            String::from_utf8_lossy(frame)
        ),
        (Err(_), Err(())) => {}
        _ => panic!(
            "adapter {:?} but reference {:?} on {:?}",
            ours.as_ref().map(|_| "accepts"),
            theirs.as_ref().map(|_| "accepts"),
            String::from_utf8_lossy(frame)
        ),
    }
    ours.is_ok()
}

/// Deterministic mutations of a frame: every truncation, and `n` random edits (byte
/// flips, deletions, insertions of JSON-significant bytes, duplicated spans) drawn from
/// `seed`.
pub fn mutations(frame: &[u8], seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..frame.len()).map(|i| frame[..i].to_vec()).collect();
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    const SIGNIFICANT: &[u8] = b"{}[]\":,\\ -+.eE0123456789tfnul\x00\xff";
    if frame.is_empty() {
        return out;
    }
    for _ in 0..n {
        let mut f = frame.to_vec();
        let at = (next() as usize) % f.len();
        match next() % 5 {
            0 => f[at] ^= 1 << (next() % 8),
            1 => {
                f.remove(at);
            }
            2 => f.insert(at, SIGNIFICANT[(next() as usize) % SIGNIFICANT.len()]),
            3 => f[at] = SIGNIFICANT[(next() as usize) % SIGNIFICANT.len()],
            _ => {
                let end = (at + 1 + (next() as usize) % 16).min(f.len());
                let span = f[at..end].to_vec();
                f.splice(at..at, span);
            }
        }
        out.push(f);
    }
    out
}

/// [`assert_agree`] on `frame` and on `n` random edits of it (drawn from `seed`).
pub fn agree_with_mutations(
    adapter: &mut dyn VenueAdapter,
    reference: &mut Reference,
    frame: &[u8],
    seed: u64,
    n: usize,
) {
    assert_agree(adapter, reference, frame);
    for m in mutations(frame, seed, n).into_iter().skip(frame.len()) {
        assert_agree(adapter, reference, &m);
    }
}

/// [`assert_agree`] on every fixture line of `venue`, every truncation of it and `n`
/// random edits of it; asserts that the edits give both outcomes (some frames accepted,
/// some rejected), so the check cannot pass by rejecting everything.
pub fn agree_on_fixtures(
    venue: &str,
    adapter: &mut dyn VenueAdapter,
    reference: &mut Reference,
    seed: u64,
    n: usize,
) {
    let (mut accepted, mut total) = (0usize, 0usize);
    for file in fixture_files(venue) {
        for (i, line) in fixture(venue, &file).iter().enumerate() {
            for frame in mutations(line.as_bytes(), seed + i as u64, n) {
                accepted += usize::from(assert_agree(adapter, reference, &frame));
                total += 1;
            }
        }
    }
    assert!(
        accepted > total / 20 && accepted < total * 19 / 20,
        "{venue}: {accepted} of {total} accepted"
    );
}
