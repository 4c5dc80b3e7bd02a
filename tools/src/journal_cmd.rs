//! `tickforge journal ls | verify | dump | repair`: look into a journal directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tickforge_engine::journal::{
    repair, segment_path, verify, EntryKind, JournalError, JournalReader, VerifyReport,
};
use tickforge_engine::record::FeedState;

use crate::timefmt::{parse_time, rfc3339};

/// `tickforge journal …`.
#[derive(Debug, clap::Subcommand)]
pub enum JournalCommand {
    /// List the segments with their time ranges and entry counts by kind.
    Ls {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Check every entry; report the valid prefix and the first bad offset with the reason
    /// (exit status 1 when damaged).
    Verify {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Print entries as text or JSON lines.
    Dump(DumpArgs),
    /// Truncate the journal to its valid prefix (refused while an engine writes it).
    Repair {
        /// The journal directory.
        dir: PathBuf,
    },
}

/// `tickforge journal dump`.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The journal directory.
    pub dir: PathBuf,
    /// Only entries received at or after this (ns since the epoch or RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Only entries received at or before this.
    #[arg(long)]
    pub to: Option<String>,
    /// Only this connection id.
    #[arg(long)]
    pub conn: Option<u32>,
    /// Only this feed id.
    #[arg(long)]
    pub feed: Option<u32>,
    /// Only frames that mention this symbol (case-insensitive, in the venue's spelling).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only these kinds: frame, clock, connection, drop, segment_start, segment_end.
    #[arg(long, value_delimiter = ',')]
    pub kind: Vec<String>,
    /// JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many entries.
    #[arg(long)]
    pub limit: Option<u64>,
}

/// Runs a journal command; the exit status is 1 when `verify` finds damage.
pub fn run(cmd: &JournalCommand) -> anyhow::Result<i32> {
    match cmd {
        JournalCommand::Ls { dir } => ls(dir).map(|()| 0),
        JournalCommand::Verify { dir } => {
            let report = verify(dir).with_context(|| format!("verifying {}", dir.display()))?;
            print_verify(&report);
            Ok(if report.is_clean() { 0 } else { 1 })
        }
        JournalCommand::Dump(args) => dump(args).map(|()| 0),
        JournalCommand::Repair { dir } => {
            let r = repair(dir).with_context(|| format!("repairing {}", dir.display()))?;
            print_verify(&r.before);
            match (&r.cut, r.removed.is_empty()) {
                (None, true) => println!("nothing to repair"),
                _ => {
                    if let Some(cut) = &r.cut {
                        println!(
                            "cut {} bytes at {} ({})",
                            cut.bytes,
                            cut.position,
                            cut.damage
                                .as_ref()
                                .map_or("unpublished entry".to_string(), |d| d.to_string())
                        );
                    }
                    for n in &r.removed {
                        println!("removed segment {n}");
                    }
                    println!("the journal now ends at {}", r.before.end);
                }
            }
            Ok(0)
        }
    }
}

fn time_or_dash(t: Option<i64>) -> String {
    t.map_or("-".into(), |t| rfc3339(t, 6))
}

fn ls(dir: &Path) -> anyhow::Result<()> {
    let report = verify(dir).with_context(|| format!("reading {}", dir.display()))?;
    // Entries by kind per segment, from one pass over the valid prefix.
    let mut kinds: BTreeMap<u64, [u64; 7]> = BTreeMap::new();
    let mut reader = JournalReader::open(dir)?;
    loop {
        match reader.next_entry() {
            Ok(Some(e)) => {
                kinds.entry(e.position.segment).or_default()[e.kind.code() as usize] += 1
            }
            Ok(None) | Err(JournalError::Damaged { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!(
        "{:>10}  {:>9}  {:<27}  {:<27}  {:>9}  {:>8}  {:>8}  {:>6}  {:>5}  ended",
        "segment", "size_mib", "first", "last", "entries", "frames", "clocks", "conns", "drops"
    );
    for s in &report.segments {
        let k = kinds.get(&s.number).copied().unwrap_or_default();
        println!(
            "{:>10}  {:>9.1}  {:<27}  {:<27}  {:>9}  {:>8}  {:>8}  {:>6}  {:>5}  {}",
            s.number,
            s.size as f64 / (1 << 20) as f64,
            time_or_dash(s.first_time),
            time_or_dash(s.last_time),
            s.entries,
            k[EntryKind::Frame.code() as usize],
            k[EntryKind::Clock.code() as usize],
            k[EntryKind::Connection.code() as usize],
            k[EntryKind::Drop.code() as usize],
            if s.ended { "yes" } else { "no" },
        );
    }
    println!(
        "{} segments, {} entries, ends at {}{}",
        report.segments.len(),
        report.entries,
        report.end,
        if report.is_clean() {
            ""
        } else {
            " (DAMAGED: see `tickforge journal verify`)"
        }
    );
    Ok(())
}

fn print_verify(r: &VerifyReport) {
    println!(
        "valid prefix: {} entries in {} segments, up to {}",
        r.entries,
        r.segments.len(),
        r.end
    );
    match &r.first_bad {
        None => println!("no damage"),
        Some(b) => {
            let file = b.position.segment;
            println!(
                "first bad offset: segment {file} offset {} ({}): {}",
                b.position.offset,
                segment_path(Path::new(""), file).display(),
                b.damage
            );
            if !r.beyond.is_empty() {
                println!("segments after it: {:?}", r.beyond);
            }
        }
    }
    if let Some(u) = &r.unpublished {
        println!(
            "{} unpublished bytes after the last entry at {} (a write in progress or cut short; never read)",
            u.bytes, u.position
        );
    }
}

fn kind_named(name: &str) -> anyhow::Result<EntryKind> {
    (1..=6)
        .filter_map(EntryKind::from_u16)
        .find(|k| k.name().eq_ignore_ascii_case(name))
        .with_context(|| format!("unknown entry kind {name:?}"))
}

fn dump(a: &DumpArgs) -> anyhow::Result<()> {
    let from = a.from.as_deref().map(parse_time).transpose()?;
    let to = a.to.as_deref().map(parse_time).transpose()?;
    let kinds: Vec<EntryKind> = a
        .kind
        .iter()
        .map(|k| kind_named(k))
        .collect::<anyhow::Result<_>>()?;
    let symbol = a.symbol.as_ref().map(|s| s.to_ascii_lowercase());
    let mut reader = JournalReader::open(&a.dir)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut n = 0u64;
    loop {
        let e = match reader.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e @ JournalError::Damaged { .. }) => {
                out.flush()?;
                eprintln!("stopped: {e}");
                break;
            }
            Err(e) => return Err(e.into()),
        };
        if from.is_some_and(|t| e.time < t)
            || to.is_some_and(|t| e.time > t)
            || a.conn.is_some_and(|c| e.conn != c)
            || a.feed.is_some_and(|f| e.feed != f)
            || (!kinds.is_empty() && !kinds.contains(&e.kind))
        {
            continue;
        }
        if let Some(sym) = &symbol {
            let text = String::from_utf8_lossy(e.payload).to_ascii_lowercase();
            if e.kind != EntryKind::Frame || !text.contains(sym.as_str()) {
                continue;
            }
        }
        let detail = match e.kind {
            EntryKind::Connection => FeedState::from_u16(e.flags)
                .map_or_else(|| format!("state {}", e.flags), |s| s.name().to_string()),
            EntryKind::Frame if e.flags & 1 != 0 => "binary".into(),
            EntryKind::Frame => "text".into(),
            _ => String::new(),
        };
        let payload = String::from_utf8_lossy(e.payload);
        if a.json {
            let line = serde_json::json!({
                "segment": e.position.segment,
                "offset": e.position.offset,
                "kind": e.kind.name(),
                "flags": e.flags,
                "state": if e.kind == EntryKind::Connection { detail.as_str() } else { "" },
                "feed": e.feed,
                "conn": e.conn,
                "time": e.time,
                "detail": e.detail,
                "len": e.payload.len(),
                "payload": payload,
            });
            writeln!(out, "{line}")?;
        } else {
            let shown = match e.kind {
                EntryKind::SegmentStart => format!("({} bytes of config)", e.payload.len()),
                EntryKind::Drop => match tickforge_engine::frame::DropNote::decode(e.payload) {
                    Some((seg, off, idx, sym)) => {
                        format!("trade {idx} of the frame at {seg}:{off} (symbol id {sym})")
                    }
                    None => format!("{} bytes", e.payload.len()),
                },
                _ => payload.into_owned(),
            };
            writeln!(
                out,
                "{} {}:{} {} {} feed={} conn={} detail={} {}",
                rfc3339(e.time, 9),
                e.position.segment,
                e.position.offset,
                e.kind.name(),
                detail,
                e.feed,
                e.conn,
                e.detail,
                shown
            )?;
        }
        n += 1;
        if a.limit.is_some_and(|l| n >= l) {
            break;
        }
    }
    out.flush()?;
    Ok(())
}
