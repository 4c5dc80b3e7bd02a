//! One hop of a 64-byte record between two threads: tickforge's ring edge
//! (`tickforge_engine::ring::edge`, SPSC over rtrb with a wake handle) against
//! `std::sync::mpsc`, in the same run.
//!
//! - `ring_pingpong/*`: round-trip latency. The main thread sends a record, an echo thread
//!   sends it back on a second channel, the main thread waits for it; one iteration is one
//!   round trip (two hops). The edge is measured with both of the engine's waits for
//!   shared cores: `spin_yield` (spin 64 rounds, then `yield_now` every idle round) and
//!   `park` (spin, yield, then park until the producer's `notify`); `std_mpsc` blocks in
//!   `recv` as std does (a short spin, then a futex wait).
//! - `ring_throughput/*`: one-way records per second. A producer thread pushes records as
//!   fast as the ring takes them, waking the consumer once per batch of 64; the main
//!   thread pops them. When the ring is full the producer spins briefly then yields; when
//!   empty the consumer waits as above. `std_mpsc` uses a bounded `sync_channel` of the
//!   same capacity (the sender blocks when it is full).
//!
//! No thread spins without yielding: the benches run on 2-core machines too, where a pure
//! spin would steal the core the other side needs.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickforge_engine::record::{Record, Side, TradeRecord};
use tickforge_engine::ring::{edge, Inbox, Outbox};
use tickforge_engine::wait::{IdleAction, ThreadWake, WaitStrategy, Waiter};

/// Slots per ring, as the engine's default record ring.
const CAPACITY: usize = 65536;
/// Records per throughput iteration.
const BATCH: u64 = 10_000;
/// Pushes between wake-ups of the consumer, as a stage's batch.
const NOTIFY_EVERY: u64 = 64;
/// Longest park of an idle thread (it is woken sooner by `notify`).
const PARK: Duration = Duration::from_millis(1);
/// Spins of a producer facing a full ring before it yields.
const FULL_SPINS: u32 = 64;

fn record(i: u64) -> Record {
    let t = 1_700_000_000_000_000_000 + i as i64;
    Record::from_pod(&TradeRecord::new(1, 7, t, t, 100, 1, Side::Buy, i))
}

/// Pops the next record, waiting with `waiter`; `None` once the producer is gone and the
/// ring is empty.
fn pop_wait(inbox: &mut Inbox<Record>, waiter: &mut Waiter) -> Option<Record> {
    loop {
        if let Ok(r) = inbox.pop() {
            waiter.busy();
            return Some(r);
        }
        if inbox.is_abandoned() {
            return inbox.pop().ok();
        }
        if let IdleAction::Block(timeout) = waiter.idle() {
            // Mark, look once more (a push may have raced the mark), then park.
            waiter.mark_parked();
            if let Ok(r) = inbox.pop() {
                waiter.unmark();
                waiter.busy();
                return Some(r);
            }
            waiter.park(timeout);
        }
    }
}

/// Pushes `r`, spinning briefly and then yielding while the ring is full.
fn push_wait(outbox: &mut Outbox<Record>, mut r: Record) {
    let mut spins = 0u32;
    while let Err(back) = outbox.push(r) {
        r = back;
        outbox.notify();
        if spins < FULL_SPINS {
            spins += 1;
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

/// A pair of edges and an echo thread that sends every record back; dropping the
/// returned outbox ends the thread.
fn edge_echo(
    strategy: WaitStrategy,
) -> (
    Outbox<Record>,
    Inbox<Record>,
    Waiter,
    thread::JoinHandle<()>,
) {
    let echo_wake = ThreadWake::new();
    let main_wake = ThreadWake::new();
    let (to_echo, mut echo_in) = edge::<Record>(CAPACITY, echo_wake.clone());
    let (mut echo_out, from_echo) = edge::<Record>(CAPACITY, main_wake.clone());
    let handle = thread::spawn(move || {
        let mut waiter = Waiter::new(strategy, PARK, echo_wake);
        while let Some(r) = pop_wait(&mut echo_in, &mut waiter) {
            push_wait(&mut echo_out, r);
            echo_out.notify();
        }
    });
    let waiter = Waiter::new(strategy, PARK, main_wake);
    (to_echo, from_echo, waiter, handle)
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_pingpong");
    g.throughput(Throughput::Elements(1));
    for strategy in [WaitStrategy::SpinYield, WaitStrategy::Park] {
        let (mut tx, mut rx, mut waiter, echo) = edge_echo(strategy);
        let mut i = 0u64;
        g.bench_function(format!("edge_{}", strategy.name()), |b| {
            b.iter(|| {
                i += 1;
                push_wait(&mut tx, record(i));
                tx.notify();
                pop_wait(&mut rx, &mut waiter).expect("the echo thread is alive")
            })
        });
        drop(tx);
        echo.join().expect("echo thread");
    }

    let (tx, echo_rx) = mpsc::channel::<Record>();
    let (echo_tx, rx) = mpsc::channel::<Record>();
    let echo = thread::spawn(move || {
        for r in echo_rx {
            if echo_tx.send(r).is_err() {
                break;
            }
        }
    });
    let mut i = 0u64;
    g.bench_function("std_mpsc", |b| {
        b.iter(|| {
            i += 1;
            tx.send(record(i)).expect("the echo thread is alive");
            rx.recv().expect("the echo thread is alive")
        })
    });
    drop(tx);
    echo.join().expect("echo thread");
    g.finish();
}

/// Moves `n` records from a producer thread to this thread through an edge; the time from
/// the start to the last pop.
fn edge_transfer(n: u64, strategy: WaitStrategy) -> Duration {
    let wake = ThreadWake::new();
    let (mut tx, mut rx) = edge::<Record>(CAPACITY, wake.clone());
    let mut waiter = Waiter::new(strategy, PARK, wake);
    let start = Instant::now();
    let producer = thread::spawn(move || {
        for i in 0..n {
            push_wait(&mut tx, record(i));
            if i % NOTIFY_EVERY == NOTIFY_EVERY - 1 {
                tx.notify();
            }
        }
        tx.notify();
    });
    let mut sum = 0u64;
    for _ in 0..n {
        let r = pop_wait(&mut rx, &mut waiter).expect("the producer sends n records");
        sum = sum.wrapping_add(u64::from(r.as_bytes()[40]));
    }
    let elapsed = start.elapsed();
    std::hint::black_box(sum);
    producer.join().expect("producer thread");
    elapsed
}

/// The same through a bounded `std::sync::mpsc::sync_channel`.
fn mpsc_transfer(n: u64) -> Duration {
    let (tx, rx) = mpsc::sync_channel::<Record>(CAPACITY);
    let start = Instant::now();
    let producer = thread::spawn(move || {
        for i in 0..n {
            if tx.send(record(i)).is_err() {
                break;
            }
        }
    });
    let mut sum = 0u64;
    for _ in 0..n {
        let r = rx.recv().expect("the producer sends n records");
        sum = sum.wrapping_add(u64::from(r.as_bytes()[40]));
    }
    let elapsed = start.elapsed();
    std::hint::black_box(sum);
    producer.join().expect("producer thread");
    elapsed
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_throughput");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    for strategy in [WaitStrategy::SpinYield, WaitStrategy::Park] {
        g.bench_function(format!("edge_{}", strategy.name()), |b| {
            b.iter_custom(|iters| edge_transfer(iters * BATCH, strategy))
        });
    }
    g.bench_function("std_mpsc", |b| {
        b.iter_custom(|iters| mpsc_transfer(iters * BATCH))
    });
    g.finish();
}

criterion_group!(benches, pingpong, throughput);
criterion_main!(benches);
