//! What a connection sends as data: synthetic events from its own market or from the
//! server's shared market, with malformed frames among them, or the ticks of a tick file.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use rand_pcg::Pcg64Mcg;
use tracing::debug;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

use super::{now_ns, Connection, Flow, END_OF_TICK_FILE, TICK_BATCH, TICK_SCAN};
use crate::sim::faults::CloseStyle;
use crate::sim::generator::{Event, Market, SymbolSpec};
use crate::sim::malformed::{encode_malformed, random_stream, MalformedKind, OutFrame};
use crate::sim::schedule::{nanos, Pacer};
use crate::sim::shared_market::{Cursor, SharedMarket};
use crate::sim::tickfile::TickFile;
use crate::sim::venue::{FileTrade, Overrides, VenueSim};

/// Where a connection's synthetic events come from.
pub(super) enum Source {
    /// Its own market, started with the connection and paced from its start: trade ids
    /// run from 1 on every connection.
    Own {
        /// The connection's market.
        market: Market,
        /// The connection's pacing.
        pacer: Pacer,
    },
    /// The server's market, shared by all connections over time.
    Shared {
        /// The server's market.
        market: Arc<SharedMarket>,
        /// The connection's position in it; `None` until the connection has a
        /// subscription (and again whenever it has none).
        cursor: Option<Cursor>,
    },
}

/// What a data frame is, for the counters.
#[derive(Debug, Clone, Copy)]
pub(super) enum FrameKind {
    /// A trade, after `skipped` ids skipped by an injected gap.
    Trade {
        /// Ids skipped just before this trade.
        skipped: u64,
    },
    /// A quote.
    Quote,
    /// A malformed frame.
    Malformed(MalformedKind),
}

/// A data frame ready to send.
pub(super) struct Frame {
    msg: Message,
    kind: FrameKind,
}

impl Connection {
    /// Sends the data due this round, within the limits set by `max_messages` and by the
    /// faults waiting for a count of frames.
    pub(super) fn send_data(&mut self) -> Flow {
        if let Some(ticks) = self.sh.ticks.clone() {
            return self.send_ticks(&ticks);
        }
        let now = Instant::now();
        let wall = now_ns();
        let subscribed = self.session.has_subscriptions();
        if subscribed {
            self.note_burst(now, wall);
        }
        // Own market: nothing is generated while there is nowhere to send it, so the
        // sequence a client sees depends only on the seed and its subscriptions, never on
        // timing. Shared market: the position waits, and catches up later.
        let mut left = match &mut self.source {
            Source::Own { pacer, .. } => {
                let due = pacer.due(now);
                if self.blocked || !subscribed {
                    return Flow::Continue;
                }
                due
            }
            Source::Shared { market, cursor } => {
                if !subscribed {
                    *cursor = None;
                    self.pending = None;
                    return Flow::Continue;
                }
                if self.blocked {
                    return Flow::Continue;
                }
                let at = cursor.get_or_insert_with(|| market.join(wall)).next_index();
                let cap = market.schedule().round_cap();
                market.due(wall).saturating_sub(at).min(cap)
            }
        };
        let mut budget = self.disrupt.budget(self.sent);
        if let Some(max) = self.sh.cfg.max_messages {
            budget = budget.min(max.saturating_sub(self.sent));
        }
        while budget > 0 && !self.blocked {
            let Some(frame) = self.next_frame(&mut left, wall) else {
                break;
            };
            budget -= 1;
            self.count(frame.kind);
            self.sent += 1;
            if let Flow::End(why) = self.write(frame.msg) {
                return Flow::End(why);
            }
        }
        Flow::Continue
    }

    /// The next data frame, using up `left` events due: a malformed frame with
    /// probability `malformed_rate`, else the next event of a subscribed stream.
    ///
    /// A malformed frame never consumes market state. With its own market it takes the
    /// place of an event (the rate counts frames); with the shared market it goes out just
    /// before the event, which is held in `pending`, so no event of the shared sequence is
    /// ever lost to one.
    fn next_frame(&mut self, left: &mut u64, wall_ns: u64) -> Option<Frame> {
        if let Some(f) = self.pending.take() {
            return Some(f);
        }
        if *left == 0 {
            return None;
        }
        let Connection {
            source,
            session,
            faults,
            buf,
            sh,
            pending,
            ..
        } = self;
        let rate = sh.cfg.malformed_rate.clamp(0.0, 1.0);
        let malformed = rate > 0.0 && faults.random_bool(rate);
        match source {
            Source::Own { market, .. } => {
                *left -= 1;
                if malformed {
                    return malformed_frame(faults, session.as_mut(), market, wall_ns);
                }
                let ev = market.next_event(
                    session.trade_symbols(),
                    session.quote_symbols(),
                    sh.cfg.quote_ratio,
                )?;
                let skipped = market.last_skipped();
                Some(encode(
                    session.as_mut(),
                    buf,
                    &sh.specs,
                    &ev,
                    skipped,
                    wall_ns,
                ))
            }
            Source::Shared { market, cursor } => {
                let cursor = cursor.as_mut()?;
                while *left > 0 {
                    *left -= 1;
                    let e = market.draw(cursor);
                    let wanted = match e.event {
                        Event::Trade { .. } => session.trade_symbols(),
                        Event::Quote { .. } => session.quote_symbols(),
                    }
                    .binary_search(&e.event.symbol())
                    .is_ok();
                    if !wanted {
                        continue;
                    }
                    let ts = market.timestamp_ns(e.index);
                    let real = encode(session.as_mut(), buf, &sh.specs, &e.event, e.skipped, ts);
                    if malformed {
                        if let Some(m) =
                            malformed_frame(faults, session.as_mut(), cursor.market(), ts)
                        {
                            *pending = Some(real);
                            return Some(m);
                        }
                    }
                    return Some(real);
                }
                None
            }
        }
    }

    /// Counts a data frame about to be sent.
    fn count(&self, kind: FrameKind) {
        let c = &self.sh.counters;
        c.messages.fetch_add(1, Relaxed);
        match kind {
            FrameKind::Trade { skipped } => {
                c.trades.fetch_add(1, Relaxed);
                if skipped > 0 {
                    c.id_gaps.fetch_add(1, Relaxed);
                    c.ids_skipped.fetch_add(skipped, Relaxed);
                }
            }
            FrameKind::Quote => {
                c.quotes.fetch_add(1, Relaxed);
            }
            FrameKind::Malformed(k) => {
                c.malformed.fetch_add(1, Relaxed);
                c.malformed_by_kind[k.index()].fetch_add(1, Relaxed);
            }
        }
    }

    /// Counts a burst the first round the data rate is inside a new burst window.
    fn note_burst(&mut self, now: Instant, wall_ns: u64) {
        let window = match &self.source {
            Source::Own { .. } => self
                .sh
                .schedule
                .burst_window(nanos(now.saturating_duration_since(self.opened))),
            Source::Shared { market, .. } => {
                market.schedule().burst_window(market.elapsed_ns(wall_ns))
            }
        };
        if window.is_some() && window != self.burst_window {
            self.sh.counters.bursts.fetch_add(1, Relaxed);
            debug!(window, "sim: burst");
        }
        self.burst_window = window;
    }

    /// After a stall: a connection's own market does not make up for the time lost (the
    /// shared market's position catches up instead).
    pub(super) fn resume_after_stall(&mut self, now: Instant) {
        if let Source::Own { pacer, .. } = &mut self.source {
            let _ = pacer.due(now);
        }
    }

    /// Tick-file mode: sends the next ticks of the subscribed `@trade` streams, in file
    /// order, until the batch is done or the socket would block; after the last tick,
    /// begins the final close.
    fn send_ticks(&mut self, tf: &TickFile) -> Flow {
        if !self.session.has_subscriptions() {
            return Flow::Continue;
        }
        if self.blocked {
            // Retry the pending bytes first; produce nothing while they do not go out.
            if let Flow::End(why) = self.flush() {
                return Flow::End(why);
            }
            if self.blocked {
                return Flow::Continue;
            }
        }
        let ticks = tf.ticks();
        let end = ticks.len().min(self.cursor + TICK_SCAN);
        let batch = usize::try_from(self.disrupt.budget(self.sent))
            .unwrap_or(usize::MAX)
            .min(TICK_BATCH);
        let mut sent = 0;
        while self.cursor < end && sent < batch && !self.blocked {
            let t = &ticks[self.cursor];
            self.cursor += 1;
            // Symbol indices of the tick file are those of the specs.
            if self
                .session
                .trade_symbols()
                .binary_search(&usize::from(t.symbol))
                .is_err()
            {
                continue;
            }
            let symbol = usize::from(t.symbol);
            let trade = FileTrade {
                id: t.id,
                price: tf.price(t),
                size: tf.size(t),
                // Non-negative, checked when the file was parsed.
                ts_ns: t.ts_ns.unsigned_abs(),
                sell: t.sell,
            };
            self.buf.clear();
            self.session
                .encode_file_trade(&mut self.buf, &self.sh.specs[symbol], &trade);
            sent += 1;
            self.sent += 1;
            let c = &self.sh.counters;
            c.trades.fetch_add(1, Relaxed);
            c.messages.fetch_add(1, Relaxed);
            if let Flow::End(why) = self.write(Message::text(self.buf.as_str())) {
                return Flow::End(why);
            }
        }
        if self.cursor == ticks.len() {
            debug!(sent = self.sent, "sim: end of tick file, closing");
            // Queued behind every tick still buffered.
            return self.begin_close(CloseStyle::Frame, CloseCode::Normal, END_OF_TICK_FILE);
        }
        Flow::Continue
    }
}

/// The frame of `ev` in `session`'s format at time `ts_ns`.
fn encode(
    session: &mut dyn VenueSim,
    buf: &mut String,
    specs: &[SymbolSpec],
    ev: &Event,
    skipped: u64,
    ts_ns: u64,
) -> Frame {
    buf.clear();
    session.encode(buf, &specs[ev.symbol()], ev, ts_ns, &Overrides::default());
    let kind = match ev {
        Event::Trade { .. } => FrameKind::Trade { skipped },
        Event::Quote { .. } => FrameKind::Quote,
    };
    Frame {
        msg: Message::text(buf.as_str()),
        kind,
    }
}

/// A malformed frame for a random subscribed stream, shaped on `market`'s current state;
/// `None` without subscriptions.
fn malformed_frame(
    rng: &mut Pcg64Mcg,
    session: &mut dyn VenueSim,
    market: &Market,
    ts_ns: u64,
) -> Option<Frame> {
    let stream = random_stream(rng, session)?;
    let (kind, frame) = encode_malformed(rng, session, market, stream, ts_ns);
    let msg = match frame {
        OutFrame::Text(t) => Message::text(t),
        OutFrame::Binary(b) => Message::binary(b),
    };
    Some(Frame {
        msg,
        kind: FrameKind::Malformed(kind),
    })
}
