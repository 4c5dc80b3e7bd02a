//! The three tasks of the baseline pipeline and their wiring.

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::bars::{BarBook, BaselineBar};
use super::stamped::StampedStream;
use super::wire::{self, Quote, Trade, WireMessage};
use super::{BaselineConfig, BaselineError, BaselineReport, EndReason, StopCondition};
use tickforge_engine::timeframe::Timeframe;

type Socket = WebSocketStream<StampedStream>;

/// Highest latency the histogram holds exactly (larger values are clamped): one hour.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// Reader → aggregator.
enum Input {
    Trade(Trade),
    Quote(Quote),
    /// End of input: every open bar closes.
    End,
}

/// Aggregator → subscriber.
#[derive(Debug, Clone)]
enum Output {
    Trade(Trade),
    Quote(Quote),
    Bar(BaselineBar),
}

/// A value and the receive instant of the frame it came from.
#[derive(Debug, Clone)]
struct Stamped<T> {
    recv: Instant,
    item: T,
}

/// What the reader counted.
#[derive(Default)]
struct ReaderStats {
    frames: u64,
    bytes: u64,
    rejected: u64,
    replies: u64,
}

/// What the subscriber saw.
struct Seen {
    events: u64,
    trades: u64,
    quotes: u64,
    trade_volume: u128,
    quote_checksum: u64,
    bars: Vec<BaselineBar>,
    lagged: u64,
    latency: Histogram<u64>,
}

fn ws_error(e: tungstenite::Error) -> BaselineError {
    BaselineError::WebSocket(Box::new(e))
}

/// Connects, wires the tasks, and waits for all three.
pub(super) async fn run(cfg: BaselineConfig) -> Result<BaselineReport, BaselineError> {
    let latency = Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)?;
    let socket = connect(&cfg.url).await?;
    let (in_tx, in_rx) = mpsc::channel(cfg.channel_capacity);
    let (out_tx, out_rx) = broadcast::channel(cfg.broadcast_capacity);
    let start = Instant::now();
    let subscriber = tokio::spawn(subscriber(out_rx, latency));
    let aggregator = tokio::spawn(aggregator(in_rx, out_tx, cfg.timeframes.clone()));
    let reader = tokio::spawn(reader(socket, cfg.subscribe, in_tx, cfg.stop_after));
    let (stats, ended) = reader.await??;
    let late = aggregator.await?;
    let seen = subscriber.await?;
    Ok(BaselineReport {
        frames: stats.frames,
        bytes: stats.bytes,
        rejected: stats.rejected,
        replies: stats.replies,
        events: seen.events,
        trades: seen.trades,
        quotes: seen.quotes,
        trade_volume: seen.trade_volume,
        quote_checksum: seen.quote_checksum,
        bars: seen.bars,
        late,
        lagged: seen.lagged,
        latency: seen.latency,
        elapsed: start.elapsed(),
        ended,
    })
}

/// Connects to a `ws://` URL (TCP without Nagle, then the WebSocket handshake).
async fn connect(url: &str) -> Result<Socket, BaselineError> {
    let failed = |e: tungstenite::Error| BaselineError::Connect {
        url: url.to_owned(),
        source: Box::new(e),
    };
    let uri: tungstenite::http::Uri =
        url.parse()
            .map_err(|e: tungstenite::http::uri::InvalidUri| {
                failed(tungstenite::Error::from(tungstenite::http::Error::from(e)))
            })?;
    if uri.scheme_str() != Some("ws") {
        return Err(failed(tungstenite::Error::Url(
            tungstenite::error::UrlError::UnsupportedUrlScheme,
        )));
    }
    let host = uri.host().ok_or_else(|| {
        failed(tungstenite::Error::Url(
            tungstenite::error::UrlError::NoHostName,
        ))
    })?;
    let tcp = TcpStream::connect((host, uri.port_u16().unwrap_or(80)))
        .await
        .map_err(|e| failed(tungstenite::Error::Io(e)))?;
    tcp.set_nodelay(true)
        .map_err(|e| failed(tungstenite::Error::Io(e)))?;
    let (socket, _) =
        tokio_tungstenite::client_async_with_config(url, StampedStream::new(tcp), None)
            .await
            .map_err(failed)?;
    Ok(socket)
}

/// Sends the subscription, then reads frames, parses them and hands trades and quotes to
/// the aggregator until the stop condition; ends the input either way.
async fn reader(
    mut socket: Socket,
    subscribe: Vec<String>,
    tx: mpsc::Sender<Stamped<Input>>,
    stop: StopCondition,
) -> Result<(ReaderStats, EndReason), BaselineError> {
    for text in subscribe {
        socket.send(Message::text(text)).await.map_err(ws_error)?;
    }
    let deadline = match stop {
        StopCondition::After(d) => Some(tokio::time::Instant::now() + d),
        _ => None,
    };
    let max_frames = match stop {
        StopCondition::Frames(n) => n,
        _ => u64::MAX,
    };
    let mut stats = ReaderStats::default();
    // The receive instant of the server's Close frame, if one came.
    let mut close_at = None;
    let ended = loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, socket.next()).await {
                Ok(next) => next,
                Err(_) => break EndReason::Duration,
            },
            None => socket.next().await,
        };
        // When the read that brought the frame's last byte returned, as tickforge stamps.
        let recv = socket.get_ref().last_read().unwrap_or_else(Instant::now);
        let input = match next {
            // The stream ends once the closing handshake is done (or the peer vanished).
            None => break EndReason::ServerClosed,
            Some(Err(_)) if close_at.is_some() => break EndReason::ServerClosed,
            Some(Err(tungstenite::Error::ConnectionClosed)) => break EndReason::ServerClosed,
            Some(Err(e)) => return Err(ws_error(e)),
            Some(Ok(Message::Text(text))) => {
                stats.frames += 1;
                stats.bytes += text.len() as u64;
                match wire::parse(text.as_str()) {
                    Ok(WireMessage::Trade(t)) => Some(Input::Trade(t)),
                    Ok(WireMessage::Quote(q)) => Some(Input::Quote(q)),
                    Ok(WireMessage::Reply) => {
                        stats.replies += 1;
                        None
                    }
                    Err(_) => {
                        stats.rejected += 1;
                        None
                    }
                }
            }
            Some(Ok(Message::Binary(b))) => {
                stats.frames += 1;
                stats.bytes += b.len() as u64;
                stats.rejected += 1;
                None
            }
            // The reply is queued by tungstenite and goes out on the next poll; keep
            // polling until the stream ends.
            Some(Ok(Message::Close(_))) => {
                close_at = Some(recv);
                None
            }
            Some(Ok(_)) => None,
        };
        if let Some(item) = input {
            if tx.send(Stamped { recv, item }).await.is_err() {
                break EndReason::ServerClosed; // the aggregator is gone: nothing to feed
            }
        }
        if stats.frames >= max_frames {
            break EndReason::Frames;
        }
    };
    let end = close_at.unwrap_or_else(Instant::now);
    // Best effort: the aggregator may be gone, and an early stop closes politely.
    let _ = tx
        .send(Stamped {
            recv: end,
            item: Input::End,
        })
        .await;
    if ended != EndReason::ServerClosed {
        let _ = socket.close(None).await;
    }
    Ok((stats, ended))
}

/// Builds bars and fans every trade, quote and closed bar out to the subscribers. Returns
/// the number of late trades.
async fn aggregator(
    mut rx: mpsc::Receiver<Stamped<Input>>,
    tx: broadcast::Sender<Stamped<Output>>,
    timeframes: Vec<Timeframe>,
) -> u64 {
    let mut book = BarBook::new(&timeframes);
    let mut end = None;
    // A send fails only when no subscriber is left, which is not this task's concern.
    while let Some(Stamped { recv, item }) = rx.recv().await {
        match item {
            Input::Trade(t) => {
                book.on_trade(&t, &mut |bar| {
                    let _ = tx.send(Stamped {
                        recv,
                        item: Output::Bar(bar),
                    });
                });
                let _ = tx.send(Stamped {
                    recv,
                    item: Output::Trade(t),
                });
            }
            Input::Quote(q) => {
                let _ = tx.send(Stamped {
                    recv,
                    item: Output::Quote(q),
                });
            }
            Input::End => {
                end = Some(recv);
                break;
            }
        }
    }
    // End of input (or the reader failed): every open bar closes.
    let end = end.unwrap_or_else(Instant::now);
    book.finish(&mut |bar| {
        let _ = tx.send(Stamped {
            recv: end,
            item: Output::Bar(bar),
        });
    });
    book.late()
}

/// Sees every event, recording its latency, until the aggregator is done.
async fn subscriber(mut rx: broadcast::Receiver<Stamped<Output>>, latency: Histogram<u64>) -> Seen {
    let mut seen = Seen {
        events: 0,
        trades: 0,
        quotes: 0,
        trade_volume: 0,
        quote_checksum: 0,
        bars: Vec::new(),
        lagged: 0,
        latency,
    };
    loop {
        match rx.recv().await {
            Ok(Stamped { recv, item }) => {
                let ns = u64::try_from(recv.elapsed().as_nanos()).unwrap_or(u64::MAX);
                seen.latency.saturating_record(ns.max(1));
                seen.events += 1;
                match item {
                    Output::Trade(t) => {
                        seen.trades += 1;
                        seen.trade_volume += u128::from(t.size.unsigned_abs());
                    }
                    Output::Quote(q) => {
                        seen.quotes += 1;
                        seen.quote_checksum = seen
                            .quote_checksum
                            .wrapping_add(q.bid.unsigned_abs() ^ q.ask.unsigned_abs());
                    }
                    Output::Bar(bar) => seen.bars.push(bar),
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => seen.lagged += n,
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    seen
}
