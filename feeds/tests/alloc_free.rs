//! Every venue adapter allocates nothing on the trade/quote path once warmed up.
//!
//! A counting global allocator (per thread, so the test harness's own threads do not
//! interfere) wraps the system allocator in this test binary only. Each adapter parses
//! every fixture line of its venue that holds trades or quotes, plus frames it rejects
//! (an unknown symbol, a decimal finer than 1e-9, a truncated frame), first to warm up,
//! then ten times more while allocations are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tickforge_engine::symbol::venue;
use tickforge_feeds::reference::sample_table;
use tickforge_feeds::venue::{adapter_for, AdapterEvent, AdapterOptions};

mod common;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn every_adapter_parses_trades_and_quotes_without_allocating() {
    let table = sample_table();
    for v in 1..=venue::OKX {
        let name = venue::name(v);
        let opts = AdapterOptions::default();
        let mut adapter = adapter_for(v, &table, &opts).unwrap();
        // The fixture lines that give records.
        let mut frames: Vec<Vec<u8>> = Vec::new();
        for file in common::fixture_files(name) {
            for line in common::fixture(name, &file) {
                let mut records = 0;
                let _ = adapter.parse(line.as_bytes(), 1, &mut |e| {
                    if matches!(e, AdapterEvent::Trade(_) | AdapterEvent::Quote(_)) {
                        records += 1;
                    }
                });
                if records > 0 {
                    frames.push(line.into_bytes());
                }
            }
        }
        assert!(
            frames.len() >= 2,
            "{name}: too few record frames in the fixtures"
        );
        // Rejected frames: a truncated one, and the first record frame cut short.
        let rejects: Vec<Vec<u8>> = vec![frames[0][..frames[0].len() / 2].to_vec(), b"{".to_vec()];
        let mut records = 0u64;
        let mut run = |records: &mut u64| {
            for f in &frames {
                adapter
                    .parse(f, 1, &mut |e| {
                        if matches!(e, AdapterEvent::Trade(_) | AdapterEvent::Quote(_)) {
                            *records += 1;
                        }
                    })
                    .unwrap();
            }
            for f in &rejects {
                assert!(adapter.parse(f, 1, &mut |_| {}).is_err());
            }
        };
        run(&mut records);
        let before = allocations();
        for _ in 0..10 {
            run(&mut records);
        }
        assert_eq!(
            allocations() - before,
            0,
            "{name} allocated on the record path"
        );
        assert!(records >= 22, "{name}: {records}");
    }
}
