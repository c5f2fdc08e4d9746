//! Both sides against hand-built messages, against each other, and fed
//! arbitrary bytes.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::digest::{FMS_KEY, FP_KEY};
use super::*;
use proptest::prelude::*;

// Keys and digest layout written out again, independently of the code
// under test.
const TAIL: &[u8] = b"\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";

fn fp_key() -> Vec<u8> {
    [b"Genuine Adobe Flash Player 001".as_slice(), TAIL].concat()
}

fn fms_key() -> Vec<u8> {
    [b"Genuine Adobe Flash Media Server 001".as_slice(), TAIL].concat()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Digest offset: block base 8 (scheme 0) or 772 (scheme 1).
fn pos(msg: &[u8], base: usize) -> usize {
    let sum = msg[base] as usize
        + msg[base + 1] as usize
        + msg[base + 2] as usize
        + msg[base + 3] as usize;
    base + 4 + sum % 728
}

fn digest_at(msg: &[u8], p: usize, key: &[u8]) -> Vec<u8> {
    let mut without = msg[..p].to_vec();
    without.extend_from_slice(&msg[p + 32..]);
    hmac(key, &without)
}

fn validates(msg: &[u8], base: usize, key: &[u8]) -> bool {
    let p = pos(msg, base);
    digest_at(msg, p, key) == msg[p..p + 32]
}

/// Simple deterministic filler for test messages.
fn filler(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A digest-form C1 built by hand, with the digest block at `base`.
fn hand_c1(seed: u32, base: usize) -> Vec<u8> {
    let mut c1 = filler(seed, HANDSHAKE_SIZE);
    c1[..4].copy_from_slice(&[0, 0, 0, 0]);
    c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
    let p = pos(&c1, base);
    let d = digest_at(&c1, p, &fp_key()[..30]);
    c1[p..p + 32].copy_from_slice(&d);
    c1
}

fn with_c0(version: u8, c1: &[u8]) -> Vec<u8> {
    let mut v = vec![version];
    v.extend_from_slice(c1);
    v
}

#[test]
fn key_constants() {
    assert_eq!(FP_KEY.as_slice(), fp_key().as_slice());
    assert_eq!(FMS_KEY.as_slice(), fms_key().as_slice());
}

#[test]
fn hand_made_digest_c1_gets_digest_handshake() {
    for (base, scheme) in [(8, DigestScheme::Scheme0), (772, DigestScheme::Scheme1)] {
        for seed in 0..20 {
            let c1 = hand_c1(seed, base);
            let mut server = ServerHandshake::new([seed as u8; 32], 0x1234_5678);
            assert_eq!(
                server.receive(&with_c0(3, &c1)).unwrap(),
                1 + HANDSHAKE_SIZE
            );
            assert_eq!(server.kind(), Some(HandshakeKind::Digest { scheme }));
            assert!(!server.is_done());

            let out = server.take_output().unwrap();
            assert!(server.take_output().is_none());
            assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
            assert_eq!(out[0], 3);
            let s1 = &out[1..1 + HANDSHAKE_SIZE];
            let s2 = &out[1 + HANDSHAKE_SIZE..];

            // S1: time, non-zero version (FFmpeg checks byte 4 >= 3), digest
            // in the same scheme keyed with the FMS key's first 36 bytes.
            assert_eq!(&s1[..4], &[0x12, 0x34, 0x56, 0x78]);
            assert!(s1[4] >= 3);
            assert!(validates(s1, base, &fms_key()[..36]));

            // S2: random + HMAC(HMAC(FMS key, C1 digest), random).
            let p = pos(&c1, base);
            let key = hmac(&fms_key(), &c1[p..p + 32]);
            assert_eq!(&s2[1504..], hmac(&key, &s2[..1504]).as_slice());

            // C2 is read and ignored.
            assert_eq!(
                server.receive(&[0xAB; HANDSHAKE_SIZE]).unwrap(),
                HANDSHAKE_SIZE
            );
            assert!(server.is_done());
        }
    }
}

#[test]
fn garbage_c1_gets_plain_handshake() {
    for seed in 0..20 {
        let c1 = filler(seed, HANDSHAKE_SIZE);
        let mut server = ServerHandshake::new([7; 32], 42);
        assert_eq!(
            server.receive(&with_c0(3, &c1)).unwrap(),
            1 + HANDSHAKE_SIZE
        );
        assert_eq!(server.kind(), Some(HandshakeKind::Plain));
        let out = server.take_output().unwrap();
        assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert_eq!(out[0], 3);
        assert_eq!(&out[1..5], &42u32.to_be_bytes());
        assert_eq!(&out[5..9], &[0, 0, 0, 0]);
        assert_eq!(&out[1 + HANDSHAKE_SIZE..], c1.as_slice());
    }
}

#[test]
fn digest_keyed_with_wrong_key_is_plain() {
    let mut c1 = filler(3, HANDSHAKE_SIZE);
    let p = pos(&c1, 8);
    let d = digest_at(&c1, p, &fms_key()[..36]);
    c1[p..p + 32].copy_from_slice(&d);
    let mut server = ServerHandshake::new([0; 32], 0);
    server.receive(&with_c0(3, &c1)).unwrap();
    assert_eq!(server.kind(), Some(HandshakeKind::Plain));
}

#[test]
fn bad_versions() {
    for v in [0x00, 0x09, 0xFF, 0x06, 0x08] {
        let err = HandshakeError::UnsupportedVersion(v);
        if v != 0x06 && v != 0x08 {
            let mut server = ServerHandshake::new([0; 32], 0);
            assert_eq!(server.receive(&[v, 1, 2, 3]), Err(err.clone()));
            // Sticky.
            assert_eq!(server.receive(&[3]), Err(err.clone()));
            assert!(server.take_output().is_none());
            assert!(!server.is_done());
        }
        // A plain client takes nothing but 3 back.
        let mut client = ClientHandshake::new([0; 32], 0, true);
        assert!(client.take_output().is_some());
        assert_eq!(client.receive(&[v]), Err(err.clone()));
        assert_eq!(client.receive(&[3]), Err(err));
        assert!(client.take_output().is_none());
    }
    assert_eq!(
        HandshakeError::UnsupportedVersion(0x0a).to_string(),
        "unsupported RTMP version 0x0a"
    );
}

#[test]
fn server_leaves_pipelined_bytes() {
    let c1 = hand_c1(1, 8);
    let mut input = with_c0(3, &c1);
    input.extend_from_slice(&[0x55; HANDSHAKE_SIZE]);
    input.extend_from_slice(b"\x03chunk");
    let mut server = ServerHandshake::new([1; 32], 0);
    assert_eq!(server.receive(&input).unwrap(), 1 + 2 * HANDSHAKE_SIZE);
    assert!(server.is_done());
    assert_eq!(server.receive(b"more").unwrap(), 0);
    assert!(server.take_output().is_some());
}

#[test]
fn server_byte_at_a_time() {
    let c1 = hand_c1(2, 772);
    let mut input = with_c0(3, &c1);
    input.extend_from_slice(&[0x55; HANDSHAKE_SIZE]);
    input.push(0x99);
    let mut server = ServerHandshake::new([1; 32], 0);
    let mut outputs = Vec::new();
    for (i, b) in input.iter().enumerate() {
        let used = server.receive(std::slice::from_ref(b)).unwrap();
        assert_eq!(used, usize::from(i < 1 + 2 * HANDSHAKE_SIZE));
        assert_eq!(server.kind().is_some(), i >= HANDSHAKE_SIZE);
        outputs.extend(server.take_output());
    }
    assert!(server.is_done());
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(
        server.kind(),
        Some(HandshakeKind::Digest {
            scheme: DigestScheme::Scheme1
        })
    );
}

#[test]
fn client_c0c1() {
    let mut plain = ClientHandshake::new([4; 32], 99, false);
    let out = plain.take_output().unwrap();
    assert!(plain.take_output().is_none());
    assert_eq!(out.len(), 1 + HANDSHAKE_SIZE);
    assert_eq!(out[0], 3);
    assert_eq!(&out[1..5], &99u32.to_be_bytes());
    assert_eq!(&out[5..9], &[0, 0, 0, 0]);

    let mut digest = ClientHandshake::new([4; 32], 99, true);
    let out = digest.take_output().unwrap();
    assert_eq!(out.len(), 1 + HANDSHAKE_SIZE);
    assert_eq!(&out[1..5], &99u32.to_be_bytes());
    assert_ne!(&out[5..9], &[0, 0, 0, 0]);
    assert!(validates(&out[1..], 8, &fp_key()[..30]));
    assert!(!digest.is_done());
    assert_eq!(digest.kind(), None);
}

#[test]
fn client_against_plain_server_echoes_s1() {
    let mut client = ClientHandshake::new([5; 32], 0, true);
    client.take_output();
    let s1 = filler(9, HANDSHAKE_SIZE);
    let mut input = with_c0(3, &s1);
    input.extend_from_slice(&[0; HANDSHAKE_SIZE]);
    input.extend_from_slice(b"tail");
    assert_eq!(client.receive(&input).unwrap(), 1 + 2 * HANDSHAKE_SIZE);
    assert!(client.is_done());
    assert_eq!(client.kind(), Some(HandshakeKind::Plain));
    assert_eq!(client.take_output().unwrap().as_ref(), s1.as_slice());
    assert_eq!(client.receive(b"x").unwrap(), 0);
}

#[test]
fn client_c2_is_sent_after_s1_before_s2() {
    let mut client = ClientHandshake::new([5; 32], 0, false);
    client.take_output();
    let s1 = filler(9, HANDSHAKE_SIZE);
    assert_eq!(
        client.receive(&with_c0(3, &s1)).unwrap(),
        1 + HANDSHAKE_SIZE
    );
    assert!(!client.is_done());
    assert_eq!(client.take_output().unwrap().as_ref(), s1.as_slice());
    assert_eq!(client.receive(&[1; 1000]).unwrap(), 1000);
    assert_eq!(client.receive(&[1; 1000]).unwrap(), HANDSHAKE_SIZE - 1000);
    assert!(client.is_done());
}

#[test]
fn digest_client_against_server_signs_c2() {
    let mut client = ClientHandshake::new([6; 32], 1, true);
    let mut server = ServerHandshake::new([7; 32], 2);
    let c0c1 = client.take_output().unwrap();
    server.receive(&c0c1).unwrap();
    let s = server.take_output().unwrap();
    assert_eq!(client.receive(&s).unwrap(), s.len());
    assert!(client.is_done());
    assert_eq!(
        client.kind(),
        Some(HandshakeKind::Digest {
            scheme: DigestScheme::Scheme0
        })
    );
    let c2 = client.take_output().unwrap();
    assert_eq!(c2.len(), HANDSHAKE_SIZE);
    // C2 = random + HMAC(HMAC(FP key, S1 digest), random).
    let s1 = &s[1..1 + HANDSHAKE_SIZE];
    let p = pos(s1, 8);
    let key = hmac(&fp_key(), &s1[p..p + 32]);
    assert_eq!(&c2[1504..], hmac(&key, &c2[..1504]).as_slice());
    // S2 signs our C1 digest.
    let p = pos(&c0c1[1..], 8);
    let key = hmac(&fms_key(), &c0c1[1 + p..1 + p + 32]);
    let s2 = &s[1 + HANDSHAKE_SIZE..];
    assert_eq!(&s2[1504..], hmac(&key, &s2[..1504]).as_slice());

    assert_eq!(server.receive(&c2).unwrap(), HANDSHAKE_SIZE);
    assert!(server.is_done());
}

#[test]
fn seed_changes_output() {
    let a = ServerHandshake::new([1; 32], 0).respond_for_test(&hand_c1(1, 8));
    let b = ServerHandshake::new([2; 32], 0).respond_for_test(&hand_c1(1, 8));
    let c = ServerHandshake::new([1; 32], 0).respond_for_test(&hand_c1(1, 8));
    assert_ne!(a, b);
    assert_eq!(a, c);
}

impl ServerHandshake {
    fn respond_for_test(mut self, c1: &[u8]) -> Bytes {
        self.receive(&with_c0(3, c1)).unwrap();
        self.take_output().unwrap()
    }
}

/// Feeds `data` to `recv` in pieces whose sizes cycle through `sizes`;
/// returns the total consumed.
fn feed(
    data: &[u8],
    sizes: &[usize],
    k: &mut usize,
    mut recv: impl FnMut(&[u8]) -> Result<usize, HandshakeError>,
) -> usize {
    let mut at = 0;
    let mut pending: Vec<u8> = Vec::new();
    while at < data.len() {
        let n = sizes[*k % sizes.len()].min(data.len() - at);
        *k += 1;
        pending.extend_from_slice(&data[at..at + n]);
        at += n;
        let used = recv(&pending).unwrap();
        pending.drain(..used);
    }
    data.len() - pending.len()
}

proptest! {
    #[test]
    fn client_and_server_agree(
        digest in any::<bool>(),
        cseed in any::<[u8; 32]>(),
        sseed in any::<[u8; 32]>(),
        sizes in proptest::collection::vec(1usize..700, 1..20),
        tail in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        let mut client = ClientHandshake::new(cseed, 10, digest);
        let mut server = ServerHandshake::new(sseed, 20);
        let mut k = 0;

        let c0c1 = client.take_output().unwrap();
        prop_assert_eq!(feed(&c0c1, &sizes, &mut k, |b| server.receive(b)), c0c1.len());
        let expected = if digest {
            HandshakeKind::Digest { scheme: DigestScheme::Scheme0 }
        } else {
            HandshakeKind::Plain
        };
        prop_assert_eq!(server.kind(), Some(expected));

        let mut s = server.take_output().unwrap().to_vec();
        prop_assert!(server.take_output().is_none());
        let s_len = s.len();
        s.extend_from_slice(&tail);
        prop_assert_eq!(feed(&s, &sizes, &mut k, |b| client.receive(b)), s_len);
        prop_assert!(client.is_done());
        prop_assert_eq!(client.kind(), Some(expected));

        let mut c2 = client.take_output().unwrap().to_vec();
        prop_assert_eq!(c2.len(), HANDSHAKE_SIZE);
        if !digest {
            prop_assert_eq!(&c2[..], &s[1..1 + HANDSHAKE_SIZE]);
            prop_assert_eq!(&s[1 + HANDSHAKE_SIZE..s_len], &c0c1[1..]);
        }
        c2.extend_from_slice(&tail);
        prop_assert_eq!(feed(&c2, &sizes, &mut k, |b| server.receive(b)), HANDSHAKE_SIZE);
        prop_assert!(server.is_done());
        prop_assert!(server.take_output().is_none());
        prop_assert!(client.take_output().is_none());
    }

    #[test]
    fn arbitrary_input_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..4000),
        split in proptest::collection::vec(1usize..2000, 1..8),
        first in prop_oneof![Just(3u8), Just(6u8), Just(8u8), any::<u8>()],
    ) {
        let mut data = data;
        if let Some(b) = data.first_mut() {
            *b = first;
        }
        let mut server = ServerHandshake::new([0; 32], 0);
        let mut client = ClientHandshake::new([0; 32], 0, true);
        let mut at = 0;
        for n in split.iter().cycle().take(64) {
            let end = (at + n).min(data.len());
            let piece = &data[at..end];
            if let Ok(used) = server.receive(piece) {
                prop_assert!(used <= piece.len());
            }
            if let Ok(used) = client.receive(piece) {
                prop_assert!(used <= piece.len());
            }
            let _ = server.take_output();
            let _ = client.take_output();
            at = end;
        }
    }
}
