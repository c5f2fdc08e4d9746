#![no_main]
//! What Liu's HTTP listener parses itself: request heads (its own loop's
//! first request), HTTP-FLV paths and HLS paths with their delivery
//! directives (`_HLS_msn`, `_HLS_part`, `_HLS_skip`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    liu_server::fuzzing::http_request(data);
});
