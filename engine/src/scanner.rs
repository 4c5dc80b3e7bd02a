//! The scanner: on each closed bar, update the symbol's window and evaluate signals.
//!
//! Signals are evaluated on the window *before* the new bar joins it where a definition
//! speaks of "the previous N bars", so a bar never compares against itself.

use crate::record::{bar_flags, BarRecord, SignalRecord};
pub use crate::signals::SignalParams;
use crate::signals::{breakout, signal_record, sma_cross, vol_spike};
use crate::window::BarWindow;

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
    /// The previous bars of the bar being scanned, newest first (reused).
    recent: Vec<BarRecord>,
    signals: u64,
}

impl Scanner {
    /// A scanner for `symbols` symbols and `timeframes` timeframes.
    pub fn new(cfg: ScannerConfig, symbols: usize, timeframes: usize) -> Self {
        let longest = (0..timeframes)
            .map(|t| cfg.params(t).lookback())
            .max()
            .unwrap_or(0);
        let window = cfg.window.max(longest);
        Scanner {
            ntf: timeframes,
            windows: vec![BarWindow::new(window); symbols * timeframes],
            cfg,
            recent: Vec::with_capacity(longest),
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
    /// Empty bars (no trade) join the window but are not evaluated: a flat bar of a quiet
    /// market is not a pattern.
    pub fn on_bar(&mut self, bar: &BarRecord, out: &mut impl FnMut(SignalRecord)) {
        let idx = bar.symbol as usize * self.ntf + bar.tf as usize;
        let Some(w) = self.windows.get_mut(idx) else {
            return;
        };
        if bar.flags & bar_flags::EMPTY == 0 {
            let p = self.cfg.params(bar.tf as usize);
            // Decode the previous bars the signals need once, newest first.
            let need = p.lookback().min(w.len());
            self.recent.clear();
            self.recent.extend((0..need).filter_map(|k| w.back(k)));
            let prev = &self.recent[..];
            let mut emit = |s: SignalRecord| {
                self.signals += 1;
                out(s);
            };
            if let Some(s) = breakout(prev, bar, p.breakout_lookback) {
                emit(s);
            }
            if let Some(s) = sma_cross(prev, bar, p.sma_fast, p.sma_slow) {
                emit(s);
            }
            if let Some(s) = vol_spike(prev, bar, p.vol_lookback, p.vol_factor_milli) {
                emit(s);
            }
            if p.patterns {
                crate::patterns::scan_recent(prev, bar, &mut |pattern, value| {
                    // Strength: TA-Lib's value as a fraction (100 → 1.0, 80 → 0.8).
                    let strength = i64::from(value.unsigned_abs()) * 10_000_000;
                    let mut s = signal_record(bar, pattern.code(), value, strength, bar.close);
                    if !pattern.directional() {
                        s.direction = 0;
                    }
                    emit(s);
                });
            }
        }
        w.push(*bar);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Kind, SignalKind};

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

    fn only_breakout(lookback: usize) -> SignalParams {
        SignalParams {
            breakout_lookback: lookback,
            sma_fast: 0,
            vol_lookback: 0,
            patterns: false,
            ..SignalParams::default()
        }
    }

    #[test]
    fn parameters_are_per_timeframe() {
        let cfg = ScannerConfig {
            window: 200,
            params: vec![only_breakout(2), only_breakout(3)],
        };
        let mut s = Scanner::new(cfg, 1, 2);
        for tf in 0..2u8 {
            for (i, h) in [10, 11].into_iter().enumerate() {
                let mut b = bar(i as i64, h, 1, 5);
                b.tf = tf;
                assert!(run(&mut s, b).is_empty());
            }
            let mut b = bar(2, 20, 1, 20);
            b.tf = tf;
            let got = run(&mut s, b);
            // Timeframe 0 has its 2 previous bars; timeframe 1 needs 3.
            assert_eq!(got.len(), usize::from(tf == 0), "tf {tf}");
            if let Some(sig) = got.first() {
                assert_eq!(
                    (sig.signal, sig.tf, sig.level),
                    (SignalKind::Breakout as u16, 0, 11)
                );
            }
        }
    }

    #[test]
    fn empty_bars_join_the_window_but_fire_nothing() {
        let cfg = ScannerConfig {
            window: 200,
            params: vec![only_breakout(1)],
        };
        let mut s = Scanner::new(cfg, 1, 1);
        run(&mut s, bar(0, 10, 10, 10));
        let mut empty = bar(1, 50, 50, 50);
        empty.flags = bar_flags::EMPTY | bar_flags::CLOSED;
        assert!(run(&mut s, empty).is_empty());
        assert_eq!(s.window(0, 0).unwrap().len(), 2);
        assert_eq!(s.signals(), 0);
    }

    #[test]
    fn windows_are_per_symbol_and_timeframe() {
        let mut s = Scanner::new(ScannerConfig::default(), 2, 2);
        let mut b = bar(0, 1, 1, 1);
        b.symbol = 1;
        b.tf = 1;
        run(&mut s, b);
        assert_eq!(s.window(1, 1).unwrap().len(), 1);
        assert_eq!(s.window(0, 1).unwrap().len(), 0);
        assert_eq!(s.window(1, 0).unwrap().len(), 0);
    }
}
