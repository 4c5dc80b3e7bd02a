//! The Binance adapter allocates nothing on the trade/quote path once warmed up.
//!
//! A counting global allocator (per thread, so the test harness's own threads do not
//! interfere) wraps the system allocator in this test binary only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tickforge_engine::symbol::{venue, SymbolTable};
use tickforge_feeds::venue::binance::BinanceAdapter;
use tickforge_feeds::venue::{AdapterEvent, RejectReason, VenueAdapter};

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
fn binance_trade_and_quote_path_does_not_allocate() {
    let mut table = SymbolTable::new();
    table.add(venue::BINANCE, "BNBBTC", false).unwrap();
    table.add(venue::BINANCE, "BNBUSDT", false).unwrap();
    let mut adapter = BinanceAdapter::new(venue::BINANCE, &table);
    let frames: [&[u8]; 6] = [
        br#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}"#,
        br#"{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}"#,
        br#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#,
        br#"{"stream":"bnbusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}"#,
        br#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}}"#,
        br#"{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}"#,
    ];
    let rejects: [&[u8]; 3] = [
        br#"{"e":"trade","E":1,"s":"DOGEUSDT","t":1,"p":"1","q":"1","T":1,"m":true}"#,
        br#"{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"1e-10","q":"1","T":1,"m":true}"#,
        br#"{"e":"trade","#,
    ];
    let mut records = 0u64;
    let run = |adapter: &mut BinanceAdapter, records: &mut u64| {
        for frame in frames {
            adapter
                .parse(frame, 1, &mut |ev| {
                    if matches!(ev, AdapterEvent::Trade(_) | AdapterEvent::Quote(_)) {
                        *records += 1;
                    }
                })
                .unwrap();
        }
        for frame in rejects {
            let r: Result<(), RejectReason> = adapter.parse(frame, 1, &mut |_| {});
            assert!(r.is_err());
        }
    };
    // Warm up: buffers grow to the largest frame.
    run(&mut adapter, &mut records);
    let before = allocations();
    for _ in 0..1000 {
        run(&mut adapter, &mut records);
    }
    assert_eq!(allocations() - before, 0, "allocations in the steady state");
    assert_eq!(records, 1001 * 5);
    // The counter does see allocations: a venue error carries its message as a String.
    adapter
        .parse(br#"{"code":2,"msg":"Invalid request"}"#, 1, &mut |_| {})
        .unwrap();
    assert!(allocations() > before);
}
