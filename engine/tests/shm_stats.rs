//! `NAME.stats`: counters and histogram snapshots across threads and processes, handle
//! rules, the documented byte layout, and layout validation.

use std::fs;
use std::path::PathBuf;

use hdrhistogram::Histogram;
use tickforge_engine::shm::{
    HistogramSnapshot, ShmConfig, ShmError, StatsLayout, StatsReader, StatsWriter, WriterState,
};

mod common;
use common::{wait_for, ChildGuard};

fn layout() -> StatsLayout {
    StatsLayout::new(
        &[
            "feed0.messages",
            "feed0.bytes",
            "parser.rejected.bad_decimal",
        ],
        &["stage.parse.latency_ns", "stage.publish.latency_ns"],
    )
}

fn latencies() -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for v in 1..=10_000u64 {
        h.record(v * 10).unwrap();
    }
    h
}

/// The writer side of the cross-process test (a no-op in a normal test run).
#[test]
fn child_writer_stats() {
    let Some(dir) = std::env::var_os("TF_SHM_CHILD_DIR").map(PathBuf::from) else {
        return;
    };
    let mut w = StatsWriter::create(&ShmConfig::new(&dir, "xproc"), &layout()).unwrap();
    let messages = w.counter("feed0.messages").unwrap();
    let rejected = w.counter_at(2).unwrap();
    let mut hist = w.histogram("stage.parse.latency_ns").unwrap();
    fs::write(dir.join("created"), b"").unwrap();
    wait_for(&dir.join("go"));
    // Bump from another thread: the handle moves there.
    std::thread::spawn(move || {
        for _ in 0..1000 {
            messages.inc();
        }
    })
    .join()
    .unwrap();
    rejected.add(7);
    hist.publish(&latencies());
    fs::write(dir.join("ready"), b"").unwrap();
    wait_for(&dir.join("done"));
}

#[test]
fn cross_process_counters_and_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let guard = ChildGuard::spawn("child_writer_stats", dir.path(), &[]);
    wait_for(&dir.path().join("created"));
    let r = StatsReader::open(dir.path(), "xproc").unwrap();
    assert_eq!(r.writer_pid(), guard.id());
    assert!(r.is_writer_alive());
    assert_eq!(r.counter("feed0.messages"), Some(0));
    assert_eq!(
        r.histogram("stage.parse.latency_ns"),
        Some(HistogramSnapshot::default())
    );

    // The same mapping shows the child's later updates.
    fs::write(dir.path().join("go"), b"").unwrap();
    wait_for(&dir.path().join("ready"));
    assert_eq!(
        r.counters(),
        vec![
            ("feed0.messages".to_string(), 1000),
            ("feed0.bytes".to_string(), 0),
            ("parser.rejected.bad_decimal".to_string(), 7),
        ]
    );
    assert_eq!(r.counter("nope"), None);
    let expected = HistogramSnapshot::from_histogram(&latencies());
    assert_eq!(expected.count, 10_000);
    let hs = r.histograms();
    assert_eq!(hs.len(), 2);
    assert_eq!(hs[0], ("stage.parse.latency_ns".to_string(), expected));
    assert_eq!(hs[1].1, HistogramSnapshot::default(), "never published");

    fs::write(dir.path().join("done"), b"").unwrap();
    guard.wait_success();
    assert_eq!(r.state(), WriterState::Stopped);
    assert_eq!(r.counter("feed0.messages"), Some(1000));
}

#[test]
fn handles_have_one_writer_and_keep_the_file_alive() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = StatsWriter::create(&ShmConfig::new(dir.path(), "h"), &layout()).unwrap();
    let c = w.counter("feed0.bytes").unwrap();
    assert!(matches!(
        w.counter("feed0.bytes"),
        Err(ShmError::HandleTaken { .. })
    ));
    assert!(matches!(w.counter_at(1), Err(ShmError::HandleTaken { .. })));
    assert!(matches!(
        w.counter("nope"),
        Err(ShmError::UnknownStat { .. })
    ));
    assert!(matches!(w.counter_at(3), Err(ShmError::UnknownStat { .. })));
    let mut h = w.histogram("stage.publish.latency_ns").unwrap();
    assert!(matches!(
        w.histogram("stage.publish.latency_ns"),
        Err(ShmError::HandleTaken { .. })
    ));
    assert!(matches!(
        w.histogram("feed0.bytes"),
        Err(ShmError::UnknownStat { .. })
    ));

    let r = StatsReader::open(dir.path(), "h").unwrap();
    c.add(5);
    c.inc();
    assert_eq!(c.get(), 6);
    assert_eq!(r.counter("feed0.bytes"), Some(6));
    let snap = HistogramSnapshot {
        count: 3,
        min: 1,
        max: 9,
        mean: 4,
        p50: 3,
        p90: 9,
        p99: 9,
        p999: 9,
        p9999: 9,
    };
    h.publish_snapshot(&snap);
    assert_eq!(r.histogram("stage.publish.latency_ns"), Some(snap));

    // The writer goes away; the handles keep the mapping, and the file is marked stopped
    // only when the last handle is dropped.
    drop(w);
    assert_eq!(r.state(), WriterState::Running);
    let t = std::thread::spawn(move || {
        c.add(10);
        c
    });
    let c = t.join().unwrap();
    assert_eq!(r.counter("feed0.bytes"), Some(16));
    drop(c);
    assert_eq!(r.state(), WriterState::Running);
    drop(h);
    assert_eq!(r.state(), WriterState::Stopped);
}

#[test]
fn layouts_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ShmConfig::new(dir.path(), "v");
    for bad in [
        StatsLayout::new(&["a", "a"], &[]),
        StatsLayout::new(&[""], &[]),
        StatsLayout::new(&[&"n".repeat(49)], &[]),
        StatsLayout::new(&[], &["h", "h"]),
        StatsLayout::new(&["nul\0"], &[]),
    ] {
        assert!(
            matches!(
                StatsWriter::create(&cfg, &bad),
                Err(ShmError::InvalidConfig(_))
            ),
            "{bad:?}"
        );
    }
    // The same name may be a counter and a histogram; 48 bytes fit.
    let long = "n".repeat(48);
    let ok = StatsLayout::new(&["x", &long], &["x"]);
    let _w = StatsWriter::create(&cfg, &ok).unwrap();
    let r = StatsReader::open(dir.path(), "v").unwrap();
    assert_eq!(r.counter_names(), vec!["x".to_string(), long]);
    // An empty layout is valid.
    let _e =
        StatsWriter::create(&ShmConfig::new(dir.path(), "e"), &StatsLayout::default()).unwrap();
    let r = StatsReader::open(dir.path(), "e").unwrap();
    assert!(r.counters().is_empty() && r.histograms().is_empty());
}

fn ne(data: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(data[at..at + 8].try_into().unwrap())
}

#[test]
fn byte_layout_matches_the_documentation() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = StatsWriter::create(&ShmConfig::new(dir.path(), "bytes"), &layout()).unwrap();
    w.counter("feed0.bytes").unwrap().add(77);
    let mut h = w.histogram("stage.publish.latency_ns").unwrap();
    h.publish(&latencies());
    let s = HistogramSnapshot::from_histogram(&latencies());
    let data = fs::read(dir.path().join("bytes.stats")).unwrap();
    assert_eq!(&data[0..8], b"TFSTATS\0");
    assert_eq!(data.len() % 4096, 0);
    assert_eq!(u32::from_ne_bytes(data[128..132].try_into().unwrap()), 3);
    assert_eq!(u32::from_ne_bytes(data[132..136].try_into().unwrap()), 2);
    assert_eq!(ne(&data, 136), 4096);
    assert_eq!(ne(&data, 144), 4096 + 3 * 64);
    assert_eq!(u32::from_ne_bytes(data[152..156].try_into().unwrap()), 64);
    assert_eq!(u32::from_ne_bytes(data[156..160].try_into().unwrap()), 128);
    let c1 = 4096 + 64;
    assert_eq!(&data[c1..c1 + 11], b"feed0.bytes");
    assert!(data[c1 + 11..c1 + 48].iter().all(|&b| b == 0));
    assert_eq!(ne(&data, c1 + 48), 77);
    let h1 = 4096 + 3 * 64 + 128;
    assert_eq!(&data[h1..h1 + 24], b"stage.publish.latency_ns");
    assert_eq!(ne(&data, h1 + 48), 2, "seqlock word after one publish");
    let values = [
        s.count, s.min, s.max, s.mean, s.p50, s.p90, s.p99, s.p999, s.p9999,
    ];
    for (i, v) in values.iter().enumerate() {
        assert_eq!(ne(&data, h1 + 56 + 8 * i), *v, "value {i}");
    }
}
