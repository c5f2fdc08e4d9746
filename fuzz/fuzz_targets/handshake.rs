#![no_main]
//! The server side of the RTMP handshake fed hostile bytes in arbitrary
//! pieces. The first input byte picks C0 (3 plain or digest, 6 and 8 RTMPE,
//! else itself); C1 and C2 are the rest of the input repeated to their
//! 1536 bytes each, so every input reaches the digest and Diffie-Hellman
//! code (a fuzzer growing inputs from a few bytes would not get there).

use libfuzzer_sys::fuzz_target;
use liu_rtmp::handshake::ServerHandshake;

const C1_C2: usize = 2 * 1536;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let c0 = match mode % 4 {
        0 => 3,
        1 => 6,
        2 => 8,
        _ => mode,
    };
    let mut input = vec![c0];
    if rest.is_empty() {
        input.resize(1 + C1_C2, 0);
    } else {
        input.extend(rest.iter().cycle().take(C1_C2));
    }
    let piece = usize::from(mode / 4) * 29 + 1;
    let mut server = ServerHandshake::new([7; 32], 1234);
    for chunk in input.chunks(piece) {
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
