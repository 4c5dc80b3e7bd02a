//! The scanner: on each closed bar, update the symbol's window and evaluate signals.
//!
//! Signals are evaluated on the window *before* the new bar joins it where a definition
//! speaks of "the previous N bars", so a bar never compares against itself.

use crate::record::{BarRecord, Kind, SignalKind, SignalRecord};
use crate::window::BarWindow;

/// Signal parameters of one timeframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalParams {
    /// `breakout`: bars whose highest high / lowest low the close must beat; 0 disables.
    pub breakout_lookback: usize,
}

impl Default for SignalParams {
    fn default() -> Self {
        SignalParams {
            breakout_lookback: 20,
        }
    }
}

/// Scanner settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerConfig {
    /// Closed bars kept per symbol and timeframe.
    pub window: usize,
    /// Signal parameters by timeframe index; timeframes past the end use the default.
    pub params: Vec<SignalParams>,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            window: 200,
            params: Vec::new(),
        }
    }
}

impl ScannerConfig {
    /// The parameters of timeframe index `tf`.
    pub fn params(&self, tf: usize) -> SignalParams {
        self.params.get(tf).copied().unwrap_or_default()
    }
}

/// Windows and signal state for every symbol and timeframe.
pub struct Scanner {
    cfg: ScannerConfig,
    ntf: usize,
    windows: Vec<BarWindow>,
    signals: u64,
}

impl Scanner {
    /// A scanner for `symbols` symbols and `timeframes` timeframes.
    pub fn new(cfg: ScannerConfig, symbols: usize, timeframes: usize) -> Self {
        let longest = (0..timeframes)
            .map(|t| cfg.params(t).breakout_lookback)
            .max()
            .unwrap_or(0);
        let window = cfg.window.max(longest);
        Scanner {
            ntf: timeframes,
            windows: vec![BarWindow::new(window); symbols * timeframes],
            cfg,
            signals: 0,
        }
    }

    /// Signals emitted so far.
    pub fn signals(&self) -> u64 {
        self.signals
    }

    /// The window of a symbol and timeframe.
    pub fn window(&self, symbol: u32, tf: u8) -> Option<&BarWindow> {
        self.windows.get(symbol as usize * self.ntf + tf as usize)
    }

    /// Takes a closed bar: evaluates signals against the previous bars, then adds it.
    pub fn on_bar(&mut self, bar: &BarRecord, out: &mut impl FnMut(SignalRecord)) {
        let idx = bar.symbol as usize * self.ntf + bar.tf as usize;
        let Some(w) = self.windows.get_mut(idx) else {
            return;
        };
        let params = self.cfg.params(bar.tf as usize);
        if let Some(sig) = breakout(w, bar, params.breakout_lookback) {
            self.signals += 1;
            out(sig);
        }
        w.push(*bar);
    }
}

fn signal(bar: &BarRecord, kind: SignalKind, direction: i8, level: i64) -> SignalRecord {
    // Strength: relative distance of the close beyond the level, in 1e-9 units.
    let strength = if level != 0 {
        let rel = (i128::from(bar.close) - i128::from(level)) * 1_000_000_000 / i128::from(level);
        rel.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    } else {
        0
    };
    SignalRecord {
        kind: Kind::Signal as u8,
        tf: bar.tf,
        flags: bar.flags,
        symbol: bar.symbol,
        bar_open_ts: bar.open_ts,
        signal: kind as u16,
        direction,
        reserved0: 0,
        value: i32::from(direction) * 100,
        strength,
        level,
        close: bar.close,
        reserved: [0; 2],
    }
}

/// `breakout`: the close above the highest high, or below the lowest low, of the previous
/// `lookback` bars. Needs `lookback` previous bars.
fn breakout(w: &BarWindow, bar: &BarRecord, lookback: usize) -> Option<SignalRecord> {
    if lookback == 0 || w.len() < lookback {
        return None;
    }
    let (mut hi, mut lo) = (i64::MIN, i64::MAX);
    for k in 0..lookback {
        let b = w.back(k)?;
        hi = hi.max(b.high);
        lo = lo.min(b.low);
    }
    if bar.close > hi {
        Some(signal(bar, SignalKind::Breakout, 1, hi))
    } else if bar.close < lo {
        Some(signal(bar, SignalKind::Breakout, -1, lo))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(i: i64, high: i64, low: i64, close: i64) -> BarRecord {
        BarRecord {
            kind: Kind::Bar as u8,
            open_ts: i,
            high,
            low,
            close,
            open: close,
            ..Default::default()
        }
    }

    fn run(s: &mut Scanner, b: BarRecord) -> Vec<SignalRecord> {
        let mut out = Vec::new();
        s.on_bar(&b, &mut |x| out.push(x));
        out
    }

    #[test]
    fn breakout_needs_the_full_lookback_and_compares_with_previous_bars_only() {
        let mut s = Scanner::new(
            ScannerConfig {
                window: 200,
                params: vec![SignalParams {
                    breakout_lookback: 3,
                }],
            },
            1,
            1,
        );
        assert!(run(&mut s, bar(0, 110, 90, 100)).is_empty());
        assert!(run(&mut s, bar(1, 120, 95, 100)).is_empty());
        // Only 2 previous bars: no signal even though the close beats them.
        assert!(run(&mut s, bar(2, 130, 99, 125)).is_empty());
        // Previous 3 highs: 110, 120, 130 → 131 breaks out up.
        let got = run(&mut s, bar(3, 131, 100, 131));
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].direction, got[0].value, got[0].level),
            (1, 100, 130)
        );
        assert_eq!(got[0].strength, 1_000_000_000 / 130);
        // Equal to the high is not a breakout.
        assert!(run(&mut s, bar(4, 131, 100, 131)).is_empty());
        // Previous 3 lows: 99, 100, 100 → 98 breaks down.
        let got = run(&mut s, bar(5, 100, 98, 98));
        assert_eq!((got[0].direction, got[0].level), (-1, 99));
        assert_eq!(s.signals(), 2);
    }

    #[test]
    fn windows_are_per_symbol_and_timeframe() {
        let mut s = Scanner::new(
            ScannerConfig {
                window: 5,
                params: vec![SignalParams {
                    breakout_lookback: 2,
                }],
            },
            2,
            2,
        );
        let mut b = bar(0, 1, 1, 1);
        b.symbol = 1;
        b.tf = 1;
        run(&mut s, b);
        assert_eq!(s.window(1, 1).unwrap().len(), 1);
        assert_eq!(s.window(0, 1).unwrap().len(), 0);
        assert_eq!(s.window(1, 0).unwrap().len(), 0);
    }
}
