//! The exchange simulator: a WebSocket server on loopback speaking a venue protocol.
//!
//! [`SimServer`] speaks the Binance spot market-streams protocol, so the engine connects to
//! it exactly as to `wss://stream.binance.com` (minus TLS):
//!
//! * paths `/stream` (combined: payloads wrapped as `{"stream":..,"data":..}`) and `/ws`
//!   (raw payloads), with streams optionally named in the URL:
//!   `/stream?streams=btcusdt@trade/btcusdt@bookTicker`, `/ws/btcusdt@trade`;
//! * control requests `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY` and
//!   `GET_PROPERTY` (`combined`), with Binance's acks and error replies;
//! * streams `<symbol>@trade` and `<symbol>@bookTicker` for the configured symbols, and data
//!   only for the streams a connection subscribed to;
//! * a WebSocket ping every [`SimConfig::ping_interval`], pongs counted in [`SimStats`];
//! * faults injected on purpose ([`SimConfig::faults`], see [Faults](#faults)), malformed
//!   frames ([`MalformedKind`]) at [`SimConfig::malformed_rate`] among them.
//!
//! By default each connection runs its own seeded [`generator::Market`]: prices are a
//! random walk of integer ticks, trade ids run 1, 2, 3, … per symbol (starting over at 1
//! on every new connection), and the same seed and subscriptions give the same sequence of
//! messages on every run, every connection and every server: two servers with the same
//! seed, symbols and quote ratio send a client subscribed to the same streams the same
//! trades (ids, prices, sizes) in the same order (a subscription change in mid-stream
//! changes the sequence from that point on). Malformed frames come from a second seeded
//! generator and never consume market state, so the well-formed messages are the same with
//! or without them. Timestamps (`E`, `T`) are the wall clock at send time. With
//! [`SimConfig::continue_ids`] all connections share one market instead, see [One market
//! for all connections](#one-market-for-all-connections).
//!
//! # Faults
//!
//! [`FaultConfig`] (command line: [`FaultArgs`]) lists what the server breaks on purpose;
//! each fault is off by default and counted in [`SimStats`]. Counts ("after N") are data
//! frames sent on the connection, malformed ones included; times run from the end of the
//! connection's handshake. Every connection gets the same faults at the same points of its
//! own life.
//!
//! * **Disconnect** ([`FaultConfig::disconnect_after`], [`FaultConfig::disconnect_every`]):
//!   after exactly N data frames, or T after the handshake, the server closes the
//!   connection ([`SimStats::disconnects`]). How depends on [`FaultConfig::close_style`]
//!   ([`CloseStyle`]): a Close frame (1001, `"simulated disconnect"`) and the client's
//!   reply; or abruptly, a TCP FIN without a Close frame, once everything queued is written;
//!   or a TCP reset (RST, `SO_LINGER` 0), which may lose bytes in flight.
//! * **Stall** ([`FaultConfig::stall_after`] once, [`FaultConfig::stall_every`]
//!   periodically, each lasting [`FaultConfig::stall_for`]): nothing at all is sent (data,
//!   pings, heartbeats, replies) and requests are not read, while the TCP connection stays
//!   open; then the connection resumes ([`SimStats::stalls`]). A connection's own market
//!   does not make up for the stalled time; the shared market's position catches up.
//! * **Slow handshake** ([`FaultConfig::handshake_delay`]): the HTTP 101 response is sent
//!   that long after the upgrade request was read ([`SimStats::delayed_handshakes`]).
//! * **Malformed frames** ([`SimConfig::malformed_rate`]): a data frame is replaced by a
//!   broken one ([`MalformedKind`]; [`SimStats::malformed`]).
//! * **Bursts** ([`FaultConfig::burst_every`], [`FaultConfig::burst_len`],
//!   [`FaultConfig::burst_factor`]): every P, for D, data goes out at k times
//!   [`SimConfig::rate`]; the first burst starts at P ([`SimStats::bursts`] counts the
//!   windows each subscribed connection saw).
//! * **Trade-id gaps** ([`FaultConfig::id_gap_rate`]): with probability p a trade's id
//!   jumps by `1 + g`, `g` in `1..=`[`generator::MAX_ID_GAP`] ([`SimStats::id_gaps`],
//!   [`SimStats::ids_skipped`]); prices and sizes are unchanged. The gaps come from their
//!   own seeded generator, so servers with the same seed skip the same ids. On Binance,
//!   Coinbase and Kraken, whose ids are consecutive, the engine counts each as a gap; OKX
//!   and Bybit ids may skip anyway, so there they are not gaps to the engine.
//! * **Server-shutdown notice** ([`FaultConfig::shutdown_after`],
//!   [`FaultConfig::shutdown_after_time`]): after N data frames or T, the venue's notice is
//!   sent (Binance `{"e":"serverShutdown","E":<ms>}`, bare even on `/stream`; OKX
//!   `{"event":"notice","code":"64008",…}`), data keeps flowing for
//!   [`FaultConfig::shutdown_grace`], then the connection is closed in the configured style
//!   (Close frame 1001, `"server shutdown"`) ([`SimStats::shutdown_notices`]). The other
//!   venues have no such notice and ignore the setting.
//!
//! With a tick file, disconnects, stalls, slow handshakes and shutdown notices apply;
//! bursts, id gaps and the shared market do not.
//!
//! # One market for all connections
//!
//! With [`SimConfig::continue_ids`] the server runs one market for all its connections,
//! advancing with wall time from an epoch ([`SimConfig::epoch_ms`], default the server's
//! start): event `k` of a single seeded sequence over every symbol (trades and quotes
//! mixed by `quote_ratio`) falls due at the `k`-th slot of [`SimConfig::rate`] (bursts
//! included) after the epoch, and carries that instant as its timestamp. So:
//!
//! * `rate` is the whole market's rate, not a connection's: a connection gets the events
//!   of the streams it subscribed to, a share of it;
//! * trade ids are per symbol across connections: a client that reconnects continues where
//!   the market is now (the ids in between were traded while it was away), instead of
//!   starting over at 1;
//! * servers with the same seed, symbols, quote ratio, rate, bursts, id-gap rate and epoch
//!   send the same events (ids, prices, sizes, timestamps) at the same instants, so a
//!   primary and a backup started together carry the same trade ids: a client of both
//!   that keeps the first copy of each id loses nothing when the primary dies;
//! * a connection joins at the next event due when it first subscribes, gets every later
//!   event of its streams in order, and when it cannot send (a full socket, a stall)
//!   catches up afterwards at up to 50 ms of events per round; with no subscription left
//!   it rejoins at the present.
//!
//! A server started long after the epoch first draws every event since (at most
//! 50 million); malformed frames go out just before an event instead of in its place.
//!
//! # Serving a tick file
//!
//! With [`SimConfig::tick_file`] set, the synthetic market is replaced by the trades of a
//! CSV file (`ts_ns,symbol,price,size,side[,trade_id]`, see [`tickfile`] for the format),
//! parsed in full by [`SimServer::start`]. Every connection then plays the whole file from
//! its first line:
//!
//! * the simulated symbols are the file's, in order of first appearance
//!   ([`SimServer::symbols`], [`tick_file_symbols`]); `SimConfig::symbols` is ignored;
//! * each tick is sent as a Binance `trade` message on `<symbol>@trade` when the
//!   connection is subscribed to that stream, and skipped otherwise; `bookTicker`
//!   subscriptions get nothing. `p` and `q` are the file's text, byte for byte; `m` is
//!   `true` for a `sell` (the aggressor sold, so the buyer was the maker) and `false` for a
//!   `buy`; `t` is the file's trade id or the assigned one;
//! * time: `E` = `T` = `floor(ts_ns / 1_000_000)`, in milliseconds, as Binance sends by
//!   default. The engine therefore sees exchange time `floor(ts_ns / 1e6) * 1e6` ns: the
//!   sub-millisecond part is dropped, and ticks that fall in the same millisecond keep
//!   their file order (they arrive in that order; only their timestamps tie). A connection
//!   opened with `timeUnit=MICROSECOND` in its URL query gets `floor(ts_ns / 1_000)` µs
//!   instead;
//! * playback starts once the connection has a subscription, from the URL
//!   (`/stream?streams=…`) or from a `SUBSCRIBE`, whose acknowledgement is queued before
//!   the first tick, so no tick is lost to a race between subscribing and sending. It
//!   pauses while the connection has no subscription at all. A subscription added later
//!   applies from the current position on: to get every tick, name every stream in the URL
//!   or in the first `SUBSCRIBE`;
//! * pacing: none. Ticks go out as fast as the client reads them; when the socket's send
//!   buffer is full the connection waits (TCP backpressure), and never drops or skips a
//!   tick. `rate`, `quote_ratio`, `seed`, `malformed_rate` and `max_messages` do not apply;
//!   pings still do;
//! * end: after the last tick the server sends a Close frame (code 1000, normal closure,
//!   reason `"end of tick file"`), waits for the client's Close reply (at most 10 s once
//!   everything is written to the socket) and closes the connection.
//!
//! Sent ticks count in [`SimStats::trades`] and [`SimStats::messages`].
//!
//! ```no_run
//! use tickforge::sim::{SimConfig, SimServer};
//! let server = SimServer::start(SimConfig::default())?;
//! println!("connect to {}", server.url());
//! // ... run a client ...
//! println!("{:?}", server.stats());
//! server.stop();
//! # Ok::<(), std::io::Error>(())
//! ```

mod binance;
mod bybit;
mod coinbase;
mod coinbase_advanced;
#[cfg(test)]
mod conformance;
mod disrupt;
mod faults;
pub mod generator;
mod kraken;
mod malformed;
mod okx;
mod polygon;
mod schedule;
mod server;
mod shared_market;
pub mod tickfile;
pub(crate) mod venue;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use faults::{CloseStyle, FaultArgs, FaultConfig};
pub use generator::{SymbolSpec, DEFAULT_SYMBOLS, PRICE_DECIMALS, QTY_DECIMALS};
pub use malformed::MalformedKind;
pub use tickfile::tick_file_symbols;
pub use venue::venue_spelling;

/// Configuration of a [`SimServer`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The venue whose protocol the simulator speaks
    /// ([`tickforge_engine::symbol::venue`] id; default Binance).
    pub venue: u8,
    /// Address to listen on; the default `127.0.0.1:0` picks a free port.
    pub bind: SocketAddr,
    /// Upper-case symbols to simulate (`BTCUSDT`). Default: [`DEFAULT_SYMBOLS`]; see also
    /// [`SimConfig::generated_symbols`].
    pub symbols: Vec<String>,
    /// Data messages per second per connection, across all its subscribed streams
    /// (default 2000). 0 sends no data. With [`SimConfig::continue_ids`]: events per
    /// second of the whole shared market, of which a connection gets its streams' share.
    pub rate: u64,
    /// Fraction of data messages that are `bookTicker` quotes, the rest being trades
    /// (default 0.5). Applies when a connection subscribes to both kinds.
    pub quote_ratio: f64,
    /// Seed of the market generator (and of the fault generator).
    pub seed: u64,
    /// Fraction of data frames replaced by a malformed frame (default 0.0).
    pub malformed_rate: f64,
    /// Interval between server pings (Binance: 20 s, the default). Zero disables pings.
    pub ping_interval: Duration,
    /// Stop sending data after this many data frames per connection (the connection stays
    /// open and keeps answering requests and pings). `None`: no limit.
    pub max_messages: Option<u64>,
    /// Serve the trades of this CSV tick file (`ts_ns,symbol,price,size,side[,trade_id]`,
    /// format in [`tickfile`]) instead of the synthetic market. Default: `None`.
    ///
    /// The file is parsed in full by [`SimServer::start`] (about 50 bytes of memory per
    /// tick). The symbols become the file's, in order of first appearance, replacing
    /// [`SimConfig::symbols`]; `rate`, `quote_ratio`, `seed`, `malformed_rate` and
    /// `max_messages` are ignored: every connection gets every tick of the streams it
    /// subscribed to, in file order, as fast as it reads (TCP backpressure, nothing
    /// dropped), then a Close frame with reason `"end of tick file"`.
    ///
    /// Time: `E` and `T` are `floor(ts_ns / 1_000_000)` milliseconds, so the engine sees
    /// exchange time `floor(ts_ns / 1e6) * 1e6` ns: sub-millisecond parts are dropped and
    /// ticks within one millisecond tie on time but keep their file order. With
    /// `timeUnit=MICROSECOND` in the URL query they are `floor(ts_ns / 1_000)` µs. See the
    /// [module docs](self) for the whole behaviour.
    pub tick_file: Option<PathBuf>,
    /// Faults to inject (default: none). See the [module docs](self#faults).
    pub faults: FaultConfig,
    /// One market shared by all connections over time, instead of one per connection
    /// (default `false`): trade ids continue across reconnects, and servers with the same
    /// settings and [`SimConfig::epoch_ms`] send the same events at the same times. See
    /// the [module docs](self#one-market-for-all-connections). Ignored with a tick file.
    pub continue_ids: bool,
    /// With [`SimConfig::continue_ids`]: the origin of the shared market's clock, in
    /// milliseconds since the Unix epoch. `None`: the server's start. Servers meant to
    /// send the same trades must share it.
    pub epoch_ms: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            venue: tickforge_engine::symbol::venue::BINANCE,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            symbols: DEFAULT_SYMBOLS.iter().map(|s| (*s).to_owned()).collect(),
            rate: 2000,
            quote_ratio: 0.5,
            seed: 1,
            malformed_rate: 0.0,
            ping_interval: Duration::from_secs(20),
            max_messages: None,
            tick_file: None,
            faults: FaultConfig::default(),
            continue_ids: false,
            epoch_ms: None,
        }
    }
}

impl SimConfig {
    /// The default configuration speaking `venue_id`'s protocol, with the default symbols
    /// in that venue's spelling ([`default_symbols`]).
    pub fn for_venue(venue_id: u8) -> Self {
        SimConfig {
            venue: venue_id,
            symbols: default_symbols(venue_id),
            ..SimConfig::default()
        }
    }

    /// `n` synthetic symbol names: `SIM0USDT`, `SIM1USDT`, …
    pub fn generated_symbols(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("SIM{i}USDT")).collect()
    }

    /// The specs (tick, lot, start price) of the configured symbols, in order.
    pub fn symbol_specs(&self) -> Vec<SymbolSpec> {
        self.symbols
            .iter()
            .enumerate()
            .map(|(i, s)| SymbolSpec::for_name(s, i))
            .collect()
    }

    fn validate(&self) -> io::Result<()> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if self.symbols.is_empty() {
            return bad("sim: no symbols".into());
        }
        for (i, s) in self.symbols.iter().enumerate() {
            let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-/._".contains(&b);
            if s.is_empty() || s.len() > 32 || !s.bytes().all(allowed) {
                return bad(format!("sim: invalid symbol {s:?}"));
            }
            if self.symbols[..i].iter().any(|t| t.eq_ignore_ascii_case(s)) {
                return bad(format!("sim: duplicate symbol {s:?}"));
            }
        }
        if !(0.0..=1.0).contains(&self.quote_ratio) {
            return bad(format!(
                "sim: quote_ratio {} not in 0..=1",
                self.quote_ratio
            ));
        }
        if !(0.0..=1.0).contains(&self.malformed_rate) {
            return bad(format!(
                "sim: malformed_rate {} not in 0..=1",
                self.malformed_rate
            ));
        }
        self.faults.validate()
    }
}

/// The default simulated symbols in `venue_id`'s spelling: eight liquid crypto pairs
/// (`BTCUSDT`, `BTC-USDT`, `BTC/USDT`, …), or six US stocks for Polygon.
pub fn default_symbols(venue_id: u8) -> Vec<String> {
    if venue_id == tickforge_engine::symbol::venue::POLYGON {
        return ["AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "SPY"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    }
    DEFAULT_SYMBOLS
        .iter()
        .map(|s| venue_spelling(venue_id, s))
        .collect()
}

/// At most this many events of the shared market are drawn to bring it from its epoch to
/// the present when a server starts (about 4 s in an optimized build; 7 hours at 2000
/// events per second).
const MAX_FAST_FORWARD: u64 = 50_000_000;

/// The market shared by all connections of a server with `continue_ids`, brought up to
/// the present.
fn shared_market(
    cfg: &SimConfig,
    specs: &[SymbolSpec],
    schedule: schedule::Schedule,
) -> io::Result<shared_market::SharedMarket> {
    let now = server::now_ns();
    let epoch_ns = match cfg.epoch_ms {
        Some(ms) => ms.saturating_mul(1_000_000),
        None => now,
    };
    let market = shared_market::SharedMarket::new(
        server::new_market(cfg, specs.to_vec()),
        schedule,
        cfg.quote_ratio,
        epoch_ns,
    );
    let behind = market.due(now);
    if behind > MAX_FAST_FORWARD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "sim: epoch_ms {} is too far in the past: {behind} events to catch up at \
                 this rate (at most {MAX_FAST_FORWARD})",
                epoch_ns / 1_000_000
            ),
        ));
    }
    market.advance(now);
    Ok(market)
}

/// A snapshot of the simulator's counters, summed over all connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Connections that completed the WebSocket handshake.
    pub connections: u64,
    /// Connections currently open.
    pub active_connections: u64,
    /// Data frames sent: `trades + quotes + malformed`.
    pub messages: u64,
    /// Well-formed trade messages sent.
    pub trades: u64,
    /// Well-formed bookTicker messages sent.
    pub quotes: u64,
    /// Malformed data frames sent.
    pub malformed: u64,
    /// Malformed frames per kind, indexed by [`MalformedKind::index`].
    pub malformed_by_kind: [u64; MalformedKind::COUNT],
    /// Ping frames sent.
    pub pings: u64,
    /// Pong frames received whose payload matched a ping sent.
    pub pongs: u64,
    /// Text messages (requests) received from clients.
    pub requests: u64,
    /// Error replies sent (invalid JSON, invalid request, unknown stream, …).
    pub error_replies: u64,
    /// Connections closed by a disconnect fault ([`FaultConfig::disconnect_after`],
    /// [`FaultConfig::disconnect_every`]).
    pub disconnects: u64,
    /// Stalls begun ([`FaultConfig::stall_after`], [`FaultConfig::stall_every`]).
    pub stalls: u64,
    /// Burst windows entered, counted once per window by each connection that had a
    /// subscription during it.
    pub bursts: u64,
    /// Trades sent whose id skipped ahead ([`FaultConfig::id_gap_rate`]).
    pub id_gaps: u64,
    /// Ids skipped by those gaps, in total.
    pub ids_skipped: u64,
    /// Server-shutdown notices sent ([`FaultConfig::shutdown_after`]); each connection
    /// that got one is closed after the grace period.
    pub shutdown_notices: u64,
    /// Handshakes whose response was delayed ([`FaultConfig::handshake_delay`]).
    pub delayed_handshakes: u64,
}

/// A running simulator: a listening socket, an accept thread and one thread per client.
///
/// Dropping it stops it, like [`SimServer::stop`].
#[derive(Debug)]
pub struct SimServer {
    venue: u8,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    counters: Arc<server::Counters>,
    accept: Option<JoinHandle<()>>,
    symbols: Vec<String>,
}

impl SimServer {
    /// Validates `cfg`, loads its tick file if any, binds the listener and spawns the
    /// accept thread; returns at once (after parsing the tick file).
    ///
    /// Fails with `InvalidInput` on a bad configuration (no symbols, a symbol that is not
    /// alphanumeric or appears twice, a ratio outside 0..=1), with the error opening or
    /// reading the tick file, with `InvalidData` on a malformed tick file (the message
    /// names the file, the line number and what is wrong), or with the bind error.
    pub fn start(mut cfg: SimConfig) -> io::Result<SimServer> {
        let ticks = match &cfg.tick_file {
            Some(path) => {
                let tf = tickfile::TickFile::load(path)?;
                tracing::info!(
                    path = %path.display(),
                    ticks = tf.ticks().len(),
                    symbols = tf.symbols().len(),
                    "sim: tick file loaded"
                );
                cfg.symbols = tf.symbols().to_vec();
                Some(Arc::new(tf))
            }
            None => None,
        };
        cfg.validate()?;
        if venue::open(cfg.venue, venue::default_path(cfg.venue), &[]).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "sim: no simulator for venue {}",
                    tickforge_engine::symbol::venue::name(cfg.venue)
                ),
            ));
        }
        let specs = Arc::new(cfg.symbol_specs());
        let schedule = schedule::Schedule::new(cfg.rate, &cfg.faults);
        let market = match (cfg.continue_ids, &ticks) {
            (true, None) => Some(Arc::new(shared_market(&cfg, &specs, schedule)?)),
            _ => None,
        };
        if cfg.faults.shutdown_configured()
            && venue::open(cfg.venue, venue::default_path(cfg.venue), &specs)
                .is_ok_and(|s| s.shutdown_notice(0).is_none())
        {
            tracing::warn!(
                venue = tickforge_engine::symbol::venue::name(cfg.venue),
                "sim: the venue has no shutdown notice; the shutdown fault is ignored"
            );
        }
        let symbols = cfg.symbols.clone();
        let venue_id = cfg.venue;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(server::Counters::default());
        let shared = server::Shared {
            cfg: Arc::new(cfg),
            specs,
            ticks,
            market,
            schedule,
            counters: counters.clone(),
            stop: stop.clone(),
        };
        let (addr, accept) = server::spawn(shared)?;
        tracing::info!(%addr, "sim: listening");
        Ok(SimServer {
            venue: venue_id,
            addr,
            stop,
            counters,
            accept: Some(accept),
            symbols,
        })
    }

    /// The simulated symbols (upper case), in index order: [`SimConfig::symbols`], or with
    /// a [`SimConfig::tick_file`] the file's symbols in order of first appearance. Build
    /// the engine's symbol table from this list.
    pub fn symbols(&self) -> Vec<String> {
        self.symbols.clone()
    }

    /// The venue whose protocol the server speaks.
    pub fn venue(&self) -> u8 {
        self.venue
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the simulated venue endpoint: `ws://127.0.0.1:PORT` plus the path of the
    /// venue's public endpoint (`/stream` for Binance's combined streams).
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.addr, venue::default_path(self.venue))
    }

    /// The current counters.
    pub fn stats(&self) -> SimStats {
        self.counters.snapshot()
    }

    /// Stops accepting, closes every connection and joins all threads (a few milliseconds).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            if h.join().is_err() {
                tracing::warn!("sim: the accept thread panicked");
            }
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
