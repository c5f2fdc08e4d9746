use super::*;

/// A masked client frame.
fn masked(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
fn accept_key_of_the_rfc_example() {
    // RFC 6455 section 1.3.
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn handshakes() {
    let good = HandshakeRequest {
        get: true,
        http11: true,
        upgrade: Some("websocket"),
        connection: Some("keep-alive, Upgrade"),
        key: Some("dGhlIHNhbXBsZSBub25jZQ=="),
        version: Some("13"),
    };
    assert_eq!(good.accept().unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    let cases = [
        (
            HandshakeRequest {
                key: None,
                ..good.clone()
            },
            "no Sec-WebSocket-Key",
        ),
        (
            HandshakeRequest {
                key: Some("c2hvcnQ="),
                ..good.clone()
            },
            "not 16 bytes",
        ),
        (
            HandshakeRequest {
                key: Some("!!"),
                ..good.clone()
            },
            "not base64",
        ),
        (
            HandshakeRequest {
                connection: Some("close"),
                ..good.clone()
            },
            "Connection",
        ),
        (
            HandshakeRequest {
                upgrade: Some("h2c"),
                ..good.clone()
            },
            "Upgrade",
        ),
        (
            HandshakeRequest {
                get: false,
                ..good.clone()
            },
            "GET",
        ),
        (
            HandshakeRequest {
                http11: false,
                ..good.clone()
            },
            "HTTP/1.1",
        ),
        (
            HandshakeRequest {
                version: Some("8"),
                ..good.clone()
            },
            "version",
        ),
        (
            HandshakeRequest {
                version: None,
                ..good.clone()
            },
            "version",
        ),
    ];
    for (request, why) in cases {
        let err = request.accept().unwrap_err().to_string();
        assert!(err.contains(why), "{err} should say {why}");
    }
    assert!(!HandshakeRequest::default().wants_websocket());
    assert!(
        HandshakeRequest {
            upgrade: Some("WebSocket"),
            ..Default::default()
        }
        .wants_websocket()
    );
}

#[test]
fn frame_headers_take_the_shortest_length() {
    let header = |len| {
        let mut h = [0u8; MAX_HEADER];
        let n = frame_header(Opcode::Binary, len, &mut h);
        h[..n].to_vec()
    };
    assert_eq!(header(125), [0x82, 125]);
    assert_eq!(header(126), [0x82, 126, 0, 126]);
    assert_eq!(header(65536), [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    let close = close_frame(close::POLICY_VIOLATION, &"é".repeat(100));
    assert_eq!(close[0], 0x88);
    assert!(usize::from(close[1]) <= MAX_CONTROL_PAYLOAD);
    assert!(
        std::str::from_utf8(&close[4..]).is_ok(),
        "reason cut on a char boundary"
    );
}

#[test]
fn client_frames_in_pieces() {
    let mut wire = masked(0x89, b"hello", [1, 2, 3, 4]);
    wire.extend(masked(0x88, &[0x03, 0xe8, b'b', b'y', b'e'], [9, 9, 9, 9]));
    let mut d = FrameDecoder::new(125);
    let mut frames = Vec::new();
    for byte in wire {
        d.push(&[byte]);
        while let Some(f) = d.next_frame().unwrap() {
            frames.push(f);
        }
    }
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (frames[0].opcode, &frames[0].payload[..]),
        (Opcode::Ping, &b"hello"[..])
    );
    assert_eq!(frames[1].opcode, Opcode::Close);
    assert_eq!(frames[1].close_code(), Some(1000));
}

#[test]
fn protocol_violations() {
    let cases: [(Vec<u8>, WsError); 6] = [
        (vec![0x89, 0x00], WsError::Unmasked),
        (masked(0xC2, b"x", [0; 4]), WsError::Reserved),
        (masked(0x83, b"x", [0; 4]), WsError::Opcode(3)),
        (masked(0x09, b"x", [0; 4]), WsError::FragmentedControl),
        (masked(0x88, b"x", [0; 4]), WsError::BadClose),
        (
            masked(0x89, &[0; 126], [0; 4]),
            WsError::TooLarge {
                opcode: Opcode::Ping,
                len: 126,
                max: 125,
            },
        ),
    ];
    for (wire, want) in cases {
        let mut d = FrameDecoder::new(125);
        d.push(&wire);
        assert_eq!(d.next_frame(), Err(want));
    }
    // A huge data frame is refused from its header alone.
    let mut d = FrameDecoder::new(1024);
    d.push(&[0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert!(matches!(d.next_frame(), Err(WsError::TooLarge { .. })));
}

proptest::proptest! {
    #[test]
    fn never_panics_and_stays_bounded(chunks in proptest::collection::vec(
        proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..32)) {
        let mut d = FrameDecoder::new(125);
        'outer: for chunk in chunks {
            d.push(&chunk);
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => proptest::prop_assert!(f.payload.len() <= 125),
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
            // Whatever is left is less than one frame.
            proptest::prop_assert!(d.buf.len() < MAX_HEADER + 125 + 64);
        }
    }
}
