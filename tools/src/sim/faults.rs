//! Fault injection settings: what the simulator breaks on purpose ([`FaultConfig`], a
//! field of [`SimConfig`]) and the `tickforge sim` options that set them ([`FaultArgs`]).
//!
//! Every fault is off by default. What each one does on the wire is described in the
//! [module docs](super) of the simulator.

use std::io;
use std::time::Duration;

use super::SimConfig;

/// How the simulator ends a connection it drops on purpose (a disconnect fault, the end of
/// a shutdown notice's grace period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloseStyle {
    /// A WebSocket Close frame (code 1001, going away), then the TCP close once the client
    /// answers (or after 10 s without an answer).
    #[default]
    Frame,
    /// No Close frame: everything already queued is written, then the TCP connection is
    /// closed (FIN) and the client's remaining bytes are read and discarded until it closes
    /// too (at most 2 s).
    Abrupt,
    /// No Close frame, and a TCP reset (RST, `SO_LINGER` 0) instead of a FIN: bytes still
    /// in flight may be lost, as with a real reset.
    Reset,
}

/// The faults a [`super::SimServer`] injects. The default injects none.
///
/// Counts ("after N") are data frames sent on one connection (well-formed and malformed,
/// as counted by [`super::SimStats::messages`]); times ("every T") run from the end of
/// that connection's WebSocket handshake. Every connection gets the same faults at the same
/// points of its own life.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Close each connection once it has sent this many data frames: exactly that many,
    /// then the close.
    pub disconnect_after: Option<u64>,
    /// Close each connection this long after its handshake.
    pub disconnect_every: Option<Duration>,
    /// How those disconnects, and the close after a shutdown notice, end the connection.
    pub close_style: CloseStyle,
    /// Stall once, after this many data frames: send nothing at all (data, pings,
    /// heartbeats, replies; requests are not even read) for [`FaultConfig::stall_for`],
    /// keeping the TCP connection open.
    pub stall_after: Option<u64>,
    /// Stall every this long (the first time this long after the handshake).
    pub stall_every: Option<Duration>,
    /// How long a stall lasts (default 5 s).
    pub stall_for: Duration,
    /// Delay of the WebSocket handshake response, counted from the moment the client's
    /// upgrade request has been read (default zero: none).
    pub handshake_delay: Duration,
    /// Data rate during a burst, as a multiple of [`SimConfig::rate`] (default 1).
    pub burst_factor: f64,
    /// A burst starts every this long: at `P`, `2P`, `3P`, … from the connection's start,
    /// or from the shared market's epoch with [`SimConfig::continue_ids`]. `None`: no
    /// bursts.
    pub burst_every: Option<Duration>,
    /// How long each burst lasts (default 100 ms); shorter than `burst_every`.
    pub burst_len: Duration,
    /// Probability that a trade's id skips ahead: the id jumps by `1 + g`, `g` drawn from
    /// `1..=`[`super::generator::MAX_ID_GAP`], instead of by one. A symbol's first trade
    /// never skips. Default 0.
    pub id_gap_rate: f64,
    /// Send the venue's server-shutdown notice once this many data frames have been sent
    /// on a connection (Binance and OKX only; other venues have no such notice and ignore
    /// the shutdown settings).
    pub shutdown_after: Option<u64>,
    /// Send the shutdown notice this long after the handshake.
    pub shutdown_after_time: Option<Duration>,
    /// After the notice, keep serving this long, then close the connection (default 2 s).
    pub shutdown_grace: Duration,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            disconnect_after: None,
            disconnect_every: None,
            close_style: CloseStyle::Frame,
            stall_after: None,
            stall_every: None,
            stall_for: Duration::from_secs(5),
            handshake_delay: Duration::ZERO,
            burst_factor: 1.0,
            burst_every: None,
            burst_len: Duration::from_millis(100),
            id_gap_rate: 0.0,
            shutdown_after: None,
            shutdown_after_time: None,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

impl FaultConfig {
    /// Whether a shutdown notice is configured.
    pub fn shutdown_configured(&self) -> bool {
        self.shutdown_after.is_some() || self.shutdown_after_time.is_some()
    }

    /// Whether the data rate has bursts.
    pub fn bursts_configured(&self) -> bool {
        self.burst_every.is_some()
    }

    /// Checks the values a command line cannot produce but code can.
    pub(crate) fn validate(&self) -> io::Result<()> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if !(0.0..=1.0).contains(&self.id_gap_rate) {
            return bad(format!(
                "sim: id_gap_rate {} not in 0..=1",
                self.id_gap_rate
            ));
        }
        if !self.burst_factor.is_finite() || self.burst_factor < 0.0 {
            return bad(format!(
                "sim: burst_factor {} is not a finite number >= 0",
                self.burst_factor
            ));
        }
        if let Some(every) = self.burst_every {
            if self.burst_len.is_zero() || self.burst_len >= every {
                return bad(format!(
                    "sim: a burst must last more than zero and less than its period \
                     ({:?} every {every:?})",
                    self.burst_len
                ));
            }
        }
        for (name, every) in [
            ("disconnect_every", self.disconnect_every),
            ("stall_every", self.stall_every),
        ] {
            if every.is_some_and(|d| d.is_zero()) {
                return bad(format!("sim: {name} must be more than zero"));
            }
        }
        Ok(())
    }
}

/// Faults the simulator injects on purpose (`tickforge sim` options). Each is off unless
/// given; see [`FaultConfig`] for the exact behaviour.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Faults")]
pub struct FaultArgs {
    /// Close each connection after it has sent N data messages.
    #[arg(long, value_name = "N")]
    pub disconnect_after: Option<u64>,
    /// Close each connection SECS seconds after its handshake.
    #[arg(long, value_name = "SECS", value_parser = positive_secs)]
    pub disconnect_every: Option<Duration>,
    /// Disconnect without a WebSocket Close frame: close TCP (FIN) right away.
    #[arg(long, conflicts_with = "reset_close")]
    pub abrupt_close: bool,
    /// Disconnect without a Close frame, with a TCP reset (RST); data in flight may be
    /// lost.
    #[arg(long)]
    pub reset_close: bool,
    /// Stall once after N data messages: send nothing (data, pings, replies) for
    /// --stall-secs, keeping the TCP connection open.
    #[arg(long, value_name = "N")]
    pub stall_after: Option<u64>,
    /// Stall every SECS seconds of each connection's life.
    #[arg(long, value_name = "SECS", value_parser = positive_secs)]
    pub stall_every: Option<Duration>,
    /// How long each stall lasts.
    #[arg(long, value_name = "SECS", value_parser = positive_secs, default_value = "5")]
    pub stall_secs: Duration,
    /// Delay the WebSocket handshake response by MS milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub handshake_delay_ms: u64,
    /// During bursts, send at K times --rate.
    #[arg(long, value_name = "K", value_parser = factor, default_value = "1")]
    pub burst_factor: f64,
    /// Start a burst every SECS seconds (from each connection's start, or from
    /// --epoch-ms with --continue-ids).
    #[arg(long, value_name = "SECS", value_parser = positive_secs)]
    pub burst_every: Option<Duration>,
    /// How long each burst lasts, in milliseconds (less than --burst-every).
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub burst_ms: u64,
    /// Probability that a trade id skips ahead by a few ids (a gap the engine detects on
    /// venues with consecutive ids: Binance, Coinbase, Kraken).
    #[arg(long, value_name = "P", value_parser = fraction, default_value = "0")]
    pub id_gap_rate: f64,
    /// Send the venue's server-shutdown notice after N data messages on each connection,
    /// keep serving for --shutdown-grace-ms, then close. Binance (serverShutdown) and OKX
    /// (notice 64008) only: the other venues have no such notice and ignore this.
    #[arg(long, value_name = "N")]
    pub shutdown_after: Option<u64>,
    /// Like --shutdown-after, SECS seconds after each connection's handshake.
    #[arg(long, value_name = "SECS", value_parser = positive_secs)]
    pub shutdown_after_secs: Option<Duration>,
    /// How long to keep serving after a shutdown notice before closing.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub shutdown_grace_ms: u64,
    /// Share one market among all connections over time: trade ids continue across
    /// reconnects, and servers with the same seed, symbols, rate and --epoch-ms send the
    /// same trades at the same times.
    #[arg(long)]
    pub continue_ids: bool,
    /// Origin of the shared market (with --continue-ids), in ms since the Unix epoch;
    /// default: the server's start. Give several servers the same value.
    #[arg(long, value_name = "MS", requires = "continue_ids")]
    pub epoch_ms: Option<u64>,
}

impl Default for FaultArgs {
    /// The command line's defaults: no faults.
    fn default() -> Self {
        let f = FaultConfig::default();
        FaultArgs {
            disconnect_after: None,
            disconnect_every: None,
            abrupt_close: false,
            reset_close: false,
            stall_after: None,
            stall_every: None,
            stall_secs: f.stall_for,
            handshake_delay_ms: 0,
            burst_factor: f.burst_factor,
            burst_every: None,
            burst_ms: millis(f.burst_len),
            id_gap_rate: 0.0,
            shutdown_after: None,
            shutdown_after_secs: None,
            shutdown_grace_ms: millis(f.shutdown_grace),
            continue_ids: false,
            epoch_ms: None,
        }
    }
}

impl FaultArgs {
    /// Applies these options to `sc`: replaces [`SimConfig::faults`] and sets
    /// [`SimConfig::continue_ids`] and [`SimConfig::epoch_ms`].
    pub fn apply(&self, sc: &mut SimConfig) {
        let close_style = if self.reset_close {
            CloseStyle::Reset
        } else if self.abrupt_close {
            CloseStyle::Abrupt
        } else {
            CloseStyle::Frame
        };
        sc.faults = FaultConfig {
            disconnect_after: self.disconnect_after,
            disconnect_every: self.disconnect_every,
            close_style,
            stall_after: self.stall_after,
            stall_every: self.stall_every,
            stall_for: self.stall_secs,
            handshake_delay: Duration::from_millis(self.handshake_delay_ms),
            burst_factor: self.burst_factor,
            burst_every: self.burst_every,
            burst_len: Duration::from_millis(self.burst_ms),
            id_gap_rate: self.id_gap_rate,
            shutdown_after: self.shutdown_after,
            shutdown_after_time: self.shutdown_after_secs,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
        };
        sc.continue_ids = self.continue_ids;
        sc.epoch_ms = self.epoch_ms;
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A number of seconds, more than zero (fractions allowed).
fn positive_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if v.is_finite() && v > 0.0 {
        Duration::try_from_secs_f64(v).map_err(|e| format!("{s:?}: {e}"))
    } else {
        Err(format!("{s:?}: expected a number of seconds above zero"))
    }
}

/// A probability, 0 to 1.
fn fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?}: expected a number from 0 to 1"))
    }
}

/// A rate multiplier: finite and not negative.
fn factor(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{s:?}: expected a finite number >= 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        faults: FaultArgs,
    }

    fn parse(args: &[&str]) -> Result<SimConfig, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("sim").chain(args.iter().copied()))?;
        let mut sc = SimConfig::default();
        cli.faults.apply(&mut sc);
        Ok(sc)
    }

    #[test]
    fn no_option_means_no_fault() {
        let sc = parse(&[]).unwrap();
        assert_eq!(sc, SimConfig::default());
        let mut sc = SimConfig::default();
        FaultArgs::default().apply(&mut sc);
        assert_eq!(sc, SimConfig::default());
    }

    #[test]
    fn options_map_onto_the_config() {
        let sc = parse(&[
            "--disconnect-after",
            "10",
            "--disconnect-every",
            "2.5",
            "--abrupt-close",
            "--stall-after",
            "7",
            "--stall-every",
            "30",
            "--stall-secs",
            "0.25",
            "--handshake-delay-ms",
            "300",
            "--burst-factor",
            "4",
            "--burst-every",
            "1",
            "--burst-ms",
            "200",
            "--id-gap-rate",
            "0.01",
            "--shutdown-after",
            "100",
            "--shutdown-after-secs",
            "9",
            "--shutdown-grace-ms",
            "500",
            "--continue-ids",
            "--epoch-ms",
            "1700000000000",
        ])
        .unwrap();
        let f = &sc.faults;
        assert_eq!(f.disconnect_after, Some(10));
        assert_eq!(f.disconnect_every, Some(Duration::from_millis(2500)));
        assert_eq!(f.close_style, CloseStyle::Abrupt);
        assert_eq!(f.stall_after, Some(7));
        assert_eq!(f.stall_every, Some(Duration::from_secs(30)));
        assert_eq!(f.stall_for, Duration::from_millis(250));
        assert_eq!(f.handshake_delay, Duration::from_millis(300));
        assert_eq!(f.burst_factor, 4.0);
        assert_eq!(f.burst_every, Some(Duration::from_secs(1)));
        assert_eq!(f.burst_len, Duration::from_millis(200));
        assert_eq!(f.id_gap_rate, 0.01);
        assert_eq!(f.shutdown_after, Some(100));
        assert_eq!(f.shutdown_after_time, Some(Duration::from_secs(9)));
        assert_eq!(f.shutdown_grace, Duration::from_millis(500));
        assert!(sc.continue_ids);
        assert_eq!(sc.epoch_ms, Some(1_700_000_000_000));
        assert!(sc.validate().is_ok());
        assert_eq!(
            parse(&["--reset-close"]).unwrap().faults.close_style,
            CloseStyle::Reset
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--abrupt-close", "--reset-close"][..],
            &["--id-gap-rate", "1.5"],
            &["--disconnect-every", "0"],
            &["--stall-secs", "-1"],
            &["--burst-factor", "nan"],
            &["--epoch-ms", "5"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        let sc = parse(&["--burst-every", "0.1", "--burst-ms", "100"]).unwrap();
        assert!(sc.validate().is_err());
    }
}
