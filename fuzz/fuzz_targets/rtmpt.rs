#![no_main]
//! RTMPT request paths and sequence numbers (the tunnel's sans-IO side):
//! every line of the input is a POST path of one session.

use libfuzzer_sys::fuzz_target;
use liu_rtmp::tunnel::{TunnelRequest, TunnelState};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut state = TunnelState::default();
    for path in text.lines() {
        if let Some(Ok(request)) = TunnelRequest::parse(path) {
            let ok = state.check_seq(request.seq).is_ok();
            let interval = state.interval(ok && request.seq % 2 == 0);
            assert!((1..=0x21).contains(&interval));
        }
    }
});
