#![no_main]
//! The chunk decoder on hostile input, with the first byte choosing limits.

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use liu_rtmp::chunk::{ChunkDecoder, ChunkLimits};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let limits = ChunkLimits {
        max_message_len: 1 << (10 + (choice & 0x0F)),
        max_chunk_streams: 1 + usize::from(choice >> 4),
        max_buffered_bytes: 1 << 20,
        ..ChunkLimits::default()
    };
    let mut decoder = ChunkDecoder::new(limits);
    if choice & 1 == 1 {
        let _ = decoder.set_chunk_size(0x7FFF_FFFF);
    }
    // Arrive in pieces of varying size.
    let mut buf = BytesMut::new();
    for piece in rest.chunks(1 + usize::from(choice % 97)) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
