//! Damaged journals: flipped bytes, garbage, truncated and missing segment files, at
//! random places under many seeds. `verify` reports the first bad position, `repair`
//! truncates there, and the result reads back as exactly the entries before the damage;
//! a writer then goes on. Nothing ever panics, whatever the files hold.

use std::fs;
use std::path::Path;

use tickforge_engine::journal::{
    repair, segment_path, verify, Damage, EntryKind, JournalConfig, JournalReader, JournalWriter,
    Position, ENTRY_HEADER_SIZE, SEGMENT_HEADER_SIZE,
};

/// SplitMix64: a small deterministic generator, so every seed reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An entry as read: position, padded size, and everything it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read {
    position: Position,
    padded: u64,
    kind: EntryKind,
    time: i64,
    payload: Vec<u8>,
}

/// Reads until the end or the first error; gives the entries and the end position.
fn read_all(dir: &Path) -> (Vec<Read>, Position) {
    let mut r = JournalReader::open(dir).unwrap();
    let mut out = Vec::new();
    while let Ok(Some(e)) = r.next_entry() {
        out.push(Read {
            position: e.position,
            padded: (ENTRY_HEADER_SIZE + e.payload.len()).next_multiple_of(8) as u64,
            kind: e.kind,
            time: e.time,
            payload: e.payload.to_vec(),
        });
    }
    (out, r.position())
}

const SEGMENT: u64 = 8192;

fn cfg(dir: &Path) -> JournalConfig {
    JournalConfig {
        segment_size: SEGMENT,
        retain_bytes: u64::MAX,
        start_payload: b"corruption test".to_vec(),
        pretouch: false,
        ..JournalConfig::new(dir)
    }
}

/// A journal of ~20 segments of random entries.
fn pristine(dir: &Path) {
    let mut rng = Rng(7);
    let mut w = JournalWriter::open(cfg(dir)).unwrap();
    for t in 0..150 {
        let len = match rng.below(4) {
            0 => 0,
            1 => rng.below(16),
            _ => rng.below(2000),
        } as usize;
        let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        w.append_frame(rng.below(3) as u32, 1, t, t % 2 == 0, &payload)
            .unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// What was done to the journal, and where the valid prefix must end.
#[derive(Debug)]
struct Harm {
    what: String,
    /// The end of the valid prefix.
    end: Position,
    /// Where verify must report damage, if it must.
    bad_at: Option<Position>,
    /// A length word became zero in the last segment: that looks like the end of the
    /// journal, and the entries after it show as unpublished bytes.
    zeroed_length: bool,
}

/// Damages the copy in `dir` at random; `entries` and `end` describe the pristine journal.
fn harm(dir: &Path, rng: &mut Rng, entries: &[Read], end: Position) -> Harm {
    let last = end.segment;
    let first = entries[0].position.segment;
    let s = first + rng.below(last - first + 1);
    let path = segment_path(dir, s);
    let mut bytes = fs::read(&path).unwrap();
    match rng.below(5) {
        0 | 1 => {
            // Flip bits of one byte, or write 1..64 random bytes.
            let at = rng.below(bytes.len() as u64) as usize;
            let what = if rng.below(2) == 0 {
                bytes[at] ^= (rng.below(255) + 1) as u8;
                format!("flip segment {s} byte {at}")
            } else {
                let n = (1 + rng.below(64) as usize).min(bytes.len() - at);
                for b in &mut bytes[at..at + n] {
                    *b = rng.next() as u8;
                }
                format!("garbage segment {s} bytes {at}..{}", at + n)
            };
            let original = fs::read(&path).unwrap();
            fs::write(&path, &bytes).unwrap();
            let Some(o) = (0..bytes.len()).find(|&i| bytes[i] != original[i]) else {
                return Harm {
                    what: format!("{what} (no change)"),
                    end,
                    bad_at: None,
                    zeroed_length: false,
                };
            };
            let o = o as u64;
            if o < SEGMENT_HEADER_SIZE as u64 {
                return Harm {
                    what,
                    end: Position::new(s, SEGMENT_HEADER_SIZE as u64),
                    bad_at: Some(Position::new(s, 0)),
                    zeroed_length: false,
                };
            }
            let hit = entries.iter().find(|e| {
                e.position.segment == s
                    && (e.position.offset..e.position.offset + e.padded).contains(&o)
            });
            match hit {
                Some(e) => {
                    let length_zeroed = o < e.position.offset + 4
                        && bytes[e.position.offset as usize..][..4] == [0; 4];
                    let zeroed_length = length_zeroed && s == last;
                    Harm {
                        what,
                        end: e.position,
                        bad_at: (!zeroed_length).then_some(e.position),
                        zeroed_length,
                    }
                }
                // In the zero tail: past the end of the last segment, damage only if it
                // hits the length word there; after SEGMENT_END, harmless.
                None => {
                    let bad_at = (s == last && o < end.offset + 4).then_some(end);
                    Harm {
                        what,
                        end,
                        bad_at,
                        zeroed_length: false,
                    }
                }
            }
        }
        2 => {
            // Zero the length word of an entry of the last segment.
            let in_last: Vec<&Read> = entries
                .iter()
                .filter(|e| e.position.segment == last)
                .collect();
            let e = in_last[rng.below(in_last.len() as u64) as usize];
            let path = segment_path(dir, last);
            let mut bytes = fs::read(&path).unwrap();
            bytes[e.position.offset as usize..][..4].fill(0);
            fs::write(&path, &bytes).unwrap();
            Harm {
                what: format!("zero the length at {}", e.position),
                end: e.position,
                bad_at: None,
                zeroed_length: true,
            }
        }
        3 => {
            let len = rng.below(bytes.len() as u64);
            fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(len)
                .unwrap();
            Harm {
                what: format!("truncate segment {s} to {len}"),
                end: Position::new(s, SEGMENT_HEADER_SIZE as u64),
                bad_at: Some(Position::new(s, 0)),
                zeroed_length: false,
            }
        }
        _ => {
            // Deleting the oldest is retention, not damage.
            let s = s.max(first + 1);
            fs::remove_file(segment_path(dir, s)).unwrap();
            Harm {
                what: format!("delete segment {s}"),
                end: Position::new(s, SEGMENT_HEADER_SIZE as u64),
                bad_at: (s < last).then_some(Position::new(s, 0)),
                zeroed_length: false,
            }
        }
    }
}

#[test]
fn verify_finds_the_first_bad_position_and_repair_truncates_there() {
    let base = tempfile::tempdir().unwrap();
    pristine(base.path());
    let (entries, end) = read_all(base.path());
    assert!(end.segment >= 10, "{end}");
    assert!(verify(base.path()).unwrap().is_clean());

    let mut seen = std::collections::BTreeMap::<&str, u32>::new();
    for seed in 0..400u64 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        copy_dir(base.path(), dir);
        let mut rng = Rng(seed);
        let harm = harm(dir, &mut rng, &entries, end);
        let ctx = format!("seed {seed}: {}", harm.what);
        let category = match (&harm.bad_at, harm.zeroed_length) {
            (_, true) => "zeroed length in the last segment",
            (None, _) if harm.end == end => "harmless",
            (None, _) => "last segment deleted",
            (Some(p), _) if p.offset == 0 => "bad header or missing segment",
            (Some(_), _) => "bad entry",
        };
        *seen.entry(category).or_default() += 1;

        let report = verify(dir).unwrap();
        assert_eq!(report.end, harm.end, "{ctx}: {report:?}");
        assert_eq!(
            report.first_bad.as_ref().map(|b| b.position),
            harm.bad_at,
            "{ctx}: {:?}",
            report.first_bad
        );
        if harm.zeroed_length {
            assert!(report.unpublished.is_some(), "{ctx}: a zeroed length shows");
        }
        let before: Vec<Read> = entries
            .iter()
            .filter(|e| e.position < harm.end)
            .cloned()
            .collect();
        assert_eq!(report.entries as usize, before.len(), "{ctx}");

        repair(dir).unwrap();
        let after = verify(dir).unwrap();
        assert!(
            after.is_clean() && after.unpublished.is_none(),
            "{ctx}: {after:?}"
        );
        assert_eq!(after.end, harm.end, "{ctx}");
        let (got, got_end) = read_all(dir);
        assert_eq!(got, before, "{ctx}");
        assert_eq!(got_end, harm.end, "{ctx}");

        // A writer goes on after the valid prefix.
        let mut w = JournalWriter::open(cfg(dir)).unwrap();
        let p = w
            .append_frame(9, 9, 1_000_000, false, b"after repair")
            .unwrap();
        assert!(p >= harm.end, "{ctx}");
        drop(w);
        let (got, _) = read_all(dir);
        assert_eq!(got[..before.len()], before[..], "{ctx}");
        let tail: Vec<EntryKind> = got[before.len()..].iter().map(|e| e.kind).collect();
        assert_eq!(tail.last(), Some(&EntryKind::Frame), "{ctx}: {tail:?}");
        assert_eq!(got.last().unwrap().payload, b"after repair", "{ctx}");
        assert!(verify(dir).unwrap().is_clean(), "{ctx}");
    }
    eprintln!("{seen:?}");
    assert_eq!(seen.len(), 5, "every kind of harm was tried: {seen:?}");
}

#[test]
fn a_writer_opening_a_damaged_journal_keeps_the_valid_prefix_of_its_last_segment() {
    let base = tempfile::tempdir().unwrap();
    pristine(base.path());
    let (entries, end) = read_all(base.path());
    // Flip a payload byte of the third entry from the end of the last segment.
    let victim = entries
        .iter()
        .rev()
        .filter(|e| e.position.segment == end.segment && e.payload.len() > 3)
        .nth(1)
        .expect("entries in the last segment")
        .clone();
    let path = segment_path(base.path(), end.segment);
    let mut bytes = fs::read(&path).unwrap();
    bytes[victim.position.offset as usize + ENTRY_HEADER_SIZE + 1] ^= 0x20;
    fs::write(&path, &bytes).unwrap();

    let mut w = JournalWriter::open(cfg(base.path())).unwrap();
    let rec = w.recovery().clone();
    assert_eq!(rec.resumed, Some(victim.position));
    let cut = rec.cut.expect("the damaged tail is cut");
    assert_eq!(cut.position, victim.position);
    assert_eq!(cut.damage, Some(Damage::BadChecksum));
    // Up to the last non-zero byte of the old last entry.
    let from = victim.position.offset as usize;
    let last_nonzero = bytes[from..].iter().rposition(|&b| b != 0).unwrap();
    assert_eq!(cut.bytes, last_nonzero as u64 + 1);
    assert!(from + last_nonzero < end.offset as usize);
    w.append_frame(0, 0, 5, false, b"next").unwrap();
    drop(w);
    let (got, _) = read_all(base.path());
    let kept = entries
        .iter()
        .filter(|e| e.position < victim.position)
        .count();
    assert_eq!(got[..kept], entries[..kept]);
    assert_eq!(got[kept].kind, EntryKind::SegmentStart);
    assert_eq!(got[kept + 1].payload, b"next");
    assert!(verify(base.path()).unwrap().is_clean());
}

#[test]
fn garbage_files_never_panic_and_repair_leaves_a_usable_journal() {
    for seed in 0..200u64 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut rng = Rng(seed ^ 0xABCD);
        let files = 1 + rng.below(4);
        for k in 0..files {
            let n = k * (1 + rng.below(2));
            let size = match rng.below(4) {
                0 => rng.below(100),
                _ => 4096 * (1 + rng.below(3)),
            };
            let mut bytes: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
            if bytes.len() >= 4096 && rng.below(3) > 0 {
                // A valid header over a body that is garbage (or mostly zero).
                let h = valid_header(n, size);
                bytes[..64].copy_from_slice(&h);
                if rng.below(2) == 0 {
                    for b in &mut bytes[64 + rng.below(512) as usize..] {
                        *b = 0;
                    }
                }
            }
            fs::write(segment_path(dir, n), &bytes).unwrap();
        }
        let ctx = format!("seed {seed}");
        let report = verify(dir).unwrap();
        let mut r = JournalReader::open(dir).unwrap();
        for _ in 0..10_000 {
            match r.next_entry() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        repair(dir).unwrap();
        let after = verify(dir).unwrap();
        assert!(
            after.is_clean() && after.unpublished.is_none(),
            "{ctx}: {report:?} then {after:?}"
        );
        let mut w = JournalWriter::open(cfg(dir)).unwrap();
        w.append_frame(1, 1, 1, false, b"x").unwrap();
        drop(w);
        let (got, _) = read_all(dir);
        assert_eq!(got.last().unwrap().payload, b"x", "{ctx}");
        assert!(verify(dir).unwrap().is_clean(), "{ctx}");
    }
}

/// A segment header as the layout documents it.
fn valid_header(n: u64, size: u64) -> [u8; 64] {
    let mut h = [0u8; 64];
    h[0..8].copy_from_slice(b"TFJOURN1");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[12..16].copy_from_slice(&64u32.to_le_bytes());
    h[16..24].copy_from_slice(&n.to_le_bytes());
    h[24..32].copy_from_slice(&size.to_le_bytes());
    h[32..40].copy_from_slice(&123i64.to_le_bytes());
    let crc = crc32c::crc32c(&h[..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}
