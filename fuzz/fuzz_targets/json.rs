//! The JSON reader on arbitrary bytes: never panics, accepts exactly what serde_json
//! accepts, and its lazy walk visits every member of what it accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tickforge_fuzz::json_agrees(data);
});
