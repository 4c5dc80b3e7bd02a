//! `tickforge tail`: print events from a running engine's `NAME.events`, as text or JSON
//! lines, filtered by kind and symbol. A separate process; never slows the engine.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use tickforge_engine::fixed::Decimal;
use tickforge_engine::record::{bar_flags, FeedState, Kind, Record, RecordView};
use tickforge_engine::shm::{EventReader, LatestReader, Poll, StartAt};
use tickforge_engine::signals::signal_name;
use tickforge_engine::symbol::{venue, SymbolInfo};

/// Arguments of `tickforge tail`.
#[derive(Debug, Clone, clap::Args)]
pub struct TailArgs {
    /// Instance name.
    #[arg(long, default_value = "tickforge")]
    pub name: String,
    /// Shared-memory directory.
    #[arg(long, default_value = "/dev/shm")]
    pub shm_dir: PathBuf,
    /// Kinds to print: trade, quote, bar, signal, status (comma separated; default all).
    #[arg(long, value_delimiter = ',')]
    pub kind: Vec<String>,
    /// Symbols to print (venue names like BTCUSDT; default all).
    #[arg(long, value_delimiter = ',')]
    pub symbol: Vec<String>,
    /// JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Start with the oldest event still in the ring instead of the next one.
    #[arg(long)]
    pub from_start: bool,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
}

/// Formats one event as a text line or a JSON object.
pub fn format_event(
    seq: u64,
    rec: &Record,
    symbols: &[SymbolInfo],
    tfs: &[u32],
    json: bool,
) -> Option<String> {
    let sym = |id: u32| symbols.get(id as usize).map_or("?", |s| s.name.as_str());
    let sym_venue = |id: u32| {
        symbols
            .get(id as usize)
            .map_or("?", |s| venue::name(s.venue))
    };
    let tf = |i: u8| {
        tfs.get(i as usize).map_or("?".to_string(), |&s| {
            tickforge_engine::timeframe::Timeframe::from_secs(s)
                .map_or("?".into(), |t| t.to_string())
        })
    };
    let flags = |f: u16| {
        bar_flags::NAMES
            .iter()
            .filter(|(b, _)| f & b != 0)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join("|")
    };
    Some(match rec.view()? {
        RecordView::Trade(t) if json => serde_json::json!({"seq": seq, "kind": "trade", "symbol": sym(t.symbol),
            "venue": venue::name(t.venue), "ts_ns": t.exch_ts, "recv_ts_ns": t.recv_ts,
            "price": Decimal::from(t.price).to_string(), "size": Decimal::from(t.size).to_string(),
            "side": t.side().name(), "trade_id": t.trade_id}).to_string(),
        RecordView::Trade(t) => format!("{seq} trade  {} {} {} @ {} id={} ts={}", sym(t.symbol), t.side().name(),
            Decimal::from(t.size), Decimal::from(t.price), t.trade_id, t.exch_ts),
        RecordView::Quote(q) if json => serde_json::json!({"seq": seq, "kind": "quote", "symbol": sym(q.symbol),
            "venue": venue::name(q.venue), "ts_ns": q.exch_ts, "recv_ts_ns": q.recv_ts,
            "bid": Decimal::from(q.bid).to_string(), "bid_size": Decimal::from(q.bid_size).to_string(),
            "ask": Decimal::from(q.ask).to_string(), "ask_size": Decimal::from(q.ask_size).to_string()}).to_string(),
        RecordView::Quote(q) => format!("{seq} quote  {} {} x {} / {} x {}", sym(q.symbol), Decimal::from(q.bid),
            Decimal::from(q.bid_size), Decimal::from(q.ask), Decimal::from(q.ask_size)),
        RecordView::Bar(b) if json => serde_json::json!({"seq": seq, "kind": "bar", "symbol": sym(b.symbol),
            "venue": sym_venue(b.symbol), "tf": tf(b.tf), "open_ts_ns": b.open_ts, "open": Decimal::from(b.open).to_string(),
            "high": Decimal::from(b.high).to_string(), "low": Decimal::from(b.low).to_string(),
            "close": Decimal::from(b.close).to_string(), "volume": Decimal(b.volume() as i128).to_string(),
            "count": b.count, "flags": flags(b.flags)}).to_string(),
        RecordView::Bar(b) => format!("{seq} bar    {} {} open_ts={} o={} h={} l={} c={} v={} n={} [{}]", sym(b.symbol),
            tf(b.tf), b.open_ts, Decimal::from(b.open), Decimal::from(b.high), Decimal::from(b.low),
            Decimal::from(b.close), Decimal(b.volume() as i128), b.count, flags(b.flags)),
        RecordView::Signal(s) => {
            let kind = signal_name(s.signal).unwrap_or("unknown");
            if json {
                serde_json::json!({"seq": seq, "kind": "signal", "symbol": sym(s.symbol),
                    "venue": sym_venue(s.symbol), "tf": tf(s.tf),
                    "bar_open_ts_ns": s.bar_open_ts, "signal": kind, "direction": s.direction, "value": s.value,
                    "level": Decimal::from(s.level).to_string(), "close": Decimal::from(s.close).to_string()}).to_string()
            } else {
                format!("{seq} signal {} {} {kind} dir={} value={} level={} close={}", sym(s.symbol), tf(s.tf),
                    s.direction, s.value, Decimal::from(s.level), Decimal::from(s.close))
            }
        }
        RecordView::FeedStatus(f) => {
            let state = FeedState::from_u16(f.state).map_or("unknown", |s| s.name());
            if json {
                serde_json::json!({"seq": seq, "kind": "status", "feed": f.feed, "venue": venue::name(f.venue),
                    "state": state, "conn": f.conn, "ts_ns": f.ts, "detail": f.detail, "reason": f.reason()}).to_string()
            } else {
                format!("{seq} status feed={} {} conn={} detail={} {}", f.feed, state, f.conn, f.detail, f.reason())
            }
        }
        _ => return None,
    })
}

/// Runs `tickforge tail`.
pub fn run(args: &TailArgs) -> anyhow::Result<()> {
    let hint = || {
        format!(
            "opening {}/{} (is the engine running?)",
            args.shm_dir.display(),
            args.name
        )
    };
    let mut latest = LatestReader::open(&args.shm_dir, &args.name).with_context(hint)?;
    let start_at = if args.from_start {
        StartAt::Oldest
    } else {
        StartAt::Latest
    };
    let mut events =
        EventReader::open_at(&args.shm_dir, &args.name, start_at).with_context(hint)?;
    let mut kinds: HashSet<Kind> = HashSet::new();
    for k in &args.kind {
        let kind = [
            Kind::Trade,
            Kind::Quote,
            Kind::Bar,
            Kind::Signal,
            Kind::FeedStatus,
        ]
        .into_iter()
        .find(|x| x.name() == k)
        .with_context(|| format!("unknown kind {k:?}: use trade, quote, bar, signal, status"))?;
        kinds.insert(kind);
    }
    let (mut symbols, mut tfs) = (latest.symbols(), latest.timeframes());
    let wanted: HashSet<u32> = args
        .symbol
        .iter()
        .filter_map(|n| symbols.iter().find(|s| &s.name == n).map(|s| s.id))
        .collect();
    anyhow::ensure!(
        args.symbol.is_empty() || !wanted.is_empty(),
        "none of {:?} is in the symbol table",
        args.symbol
    );
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let started = Instant::now();
    let mut printed = 0u64;
    let mut idle = 0u32;
    loop {
        if args
            .duration
            .is_some_and(|d| started.elapsed().as_secs_f64() >= d)
            || args.count.is_some_and(|c| printed >= c)
        {
            break;
        }
        match events.poll() {
            Poll::Event { seq, record } => {
                idle = 0;
                let kind_ok = kinds.is_empty() || record.kind().is_some_and(|k| kinds.contains(&k));
                let sym_ok = wanted.is_empty()
                    || record.kind() == Some(Kind::FeedStatus)
                    || wanted.contains(&record.symbol());
                if kind_ok && sym_ok {
                    if let Some(line) = format_event(seq, &record, &symbols, &tfs, args.json) {
                        writeln!(out, "{line}")?;
                        printed += 1;
                    }
                }
            }
            Poll::Lapped { lost } => {
                eprintln!("tail: lapped by the engine, {lost} events lost; resynchronized");
            }
            Poll::Empty => {
                out.flush()?;
                idle = idle.saturating_add(1);
                // Poll often while data flows, less often when quiet; never spin.
                std::thread::sleep(Duration::from_micros(if idle < 100 { 100 } else { 2_000 }));
            }
            Poll::Stopped => {
                out.flush()?;
                eprintln!(
                    "tail: the engine stopped ({} events read, {} lost)",
                    events.received(),
                    events.lost()
                );
                break;
            }
            Poll::Restarted => {
                eprintln!("tail: the engine restarted; following the new instance");
                latest = LatestReader::open(&args.shm_dir, &args.name).with_context(hint)?;
                events = EventReader::open_at(&args.shm_dir, &args.name, StartAt::Oldest)
                    .with_context(hint)?;
                symbols = latest.symbols();
                tfs = latest.timeframes();
            }
        }
    }
    out.flush()?;
    eprintln!(
        "tail: {} events read, {} lost",
        events.received(),
        events.lost()
    );
    Ok(())
}
