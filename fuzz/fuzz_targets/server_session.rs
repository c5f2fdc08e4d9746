#![no_main]
//! A server session after a valid handshake, fed hostile chunks: commands,
//! control messages and media in any order. Every request is accepted so
//! the fuzzer reaches publishing and playing states.

use libfuzzer_sys::fuzz_target;
use liu_rtmp::handshake::ClientHandshake;
use liu_rtmp::session::{ServerConfig, ServerEvent, ServerSession};

fuzz_target!(|data: &[u8]| {
    let mut server = ServerSession::new(ServerConfig::default(), [3; 32], 0);
    let mut client = ClientHandshake::new([4; 32], 0, true);
    let c0c1 = client.take_output().expect("C0C1");
    server.receive(&c0c1).expect("server accepts C0C1");
    let s0s1s2 = server.take_output().expect("S0S1S2");
    client.receive(&s0s1s2).expect("client accepts S0S1S2");
    let c2 = client.take_output().expect("C2");
    server.receive(&c2).expect("server accepts C2");
    for piece in data.chunks(4096) {
        if server.receive(piece).is_err() {
            return;
        }
        while let Some(event) = server.poll_event() {
            match event {
                ServerEvent::Connect(req) => server.accept_connect(&req.app),
                ServerEvent::Publish(req) => server.accept_publish(req.stream_id, &req.name),
                ServerEvent::Play(req) => server.accept_play(req.stream_id, &req.name, req.reset),
                _ => {}
            }
        }
        let _ = server.take_output();
    }
});
