#![no_main]
//! The WebSocket client-frame decoder (RFC 6455 section 5.2) fed hostile
//! bytes in arbitrary pieces: every frame it returns is within the payload
//! limit, and it never panics.

use libfuzzer_sys::fuzz_target;
use liu_ws::FrameDecoder;

const MAX_PAYLOAD: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split).max(1);
    let mut decoder = FrameDecoder::new(MAX_PAYLOAD);
    for chunk in data.chunks(piece) {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() <= MAX_PAYLOAD);
                    let _ = frame.close_code();
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
