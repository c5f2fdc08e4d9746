#![no_main]
//! The server side of the RTMP handshake (plain, digest and RTMPE types 6
//! and 8, found from C0 and C1) fed hostile bytes in arbitrary pieces.

use libfuzzer_sys::fuzz_target;
use liu_rtmp::handshake::ServerHandshake;

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split) * 13 + 1;
    let mut server = ServerHandshake::new([7; 32], 1234);
    for chunk in data.chunks(piece) {
        match server.receive(chunk) {
            Ok(_) => {
                let _ = server.take_output();
                if server.is_done() {
                    let _ = server.kind();
                    let _ = server.take_ciphers();
                    return;
                }
            }
            Err(_) => return,
        }
    }
});
