//! The kraken adapter on arbitrary bytes: it never panics, and it agrees with the serde_json
//! reference parser (the same trades and quotes, or both reject).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tickforge_fuzz::adapter_agrees(tickforge_engine::symbol::venue::KRAKEN, data);
});
