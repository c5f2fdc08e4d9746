//! RTMPE against a client built by hand in the test: its own key pair, key
//! positions, RC4 key derivation and XTEA, written out independently of the
//! code under test.

use hmac::{Hmac, Mac};
use num_bigint::BigUint;
use proptest::prelude::*;
use rc4::{KeyInit as _, Rc4, StreamCipher, consts::U16};
use sha2::Sha256;

use super::rtmpe::{PRIME, XTEA_KEYS};
use super::*;

const FP_KEY_30: &[u8] = b"Genuine Adobe Flash Player 001";
const FMS_KEY_36: &[u8] = b"Genuine Adobe Flash Media Server 001";
const TAIL: &[u8] = b"\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn sum4(msg: &[u8], at: usize) -> usize {
    msg[at..at + 4].iter().map(|&b| b as usize).sum()
}

/// Digest position with the digest block at `base` (8 or 772).
fn digest_pos(msg: &[u8], base: usize) -> usize {
    base + 4 + sum4(msg, base) % 728
}

/// Key position for the key block at `base` (772 or 8).
fn key_pos(msg: &[u8], base: usize) -> usize {
    base + sum4(msg, base + 760) % 632
}

fn pad128(n: &BigUint) -> Vec<u8> {
    let b = n.to_bytes_be();
    let mut out = vec![0u8; 128 - b.len()];
    out.extend_from_slice(&b);
    out
}

/// XTEA, 32 cycles, block words little-endian, key words big-endian.
fn xtea(block: &mut [u8], key: &[u8; 16]) {
    let k: [u32; 4] =
        std::array::from_fn(|i| u32::from_be_bytes(key[i * 4..i * 4 + 4].try_into().unwrap()));
    let mut v0 = u32::from_le_bytes(block[..4].try_into().unwrap());
    let mut v1 = u32::from_le_bytes(block[4..8].try_into().unwrap());
    let mut sum = 0u32;
    for _ in 0..32 {
        v0 = v0.wrapping_add(
            (((v1 << 4) ^ (v1 >> 5)).wrapping_add(v1)) ^ sum.wrapping_add(k[(sum & 3) as usize]),
        );
        sum = sum.wrapping_add(0x9E37_79B9);
        v1 = v1.wrapping_add(
            (((v0 << 4) ^ (v0 >> 5)).wrapping_add(v0))
                ^ sum.wrapping_add(k[((sum >> 11) & 3) as usize]),
        );
    }
    block[..4].copy_from_slice(&v0.to_le_bytes());
    block[4..8].copy_from_slice(&v1.to_le_bytes());
}

/// A hand-made RTMPE client: C1 in digest scheme 1 (key block 8..772,
/// digest block 772..1536), as FFmpeg and librtmp send it.
struct HandClient {
    x: BigUint,
    public: Vec<u8>,
    c1: Vec<u8>,
    c1_digest: [u8; 32],
}

fn hand_client(seed: u8, public_override: Option<&[u8]>) -> HandClient {
    let p = BigUint::from_bytes_be(&PRIME);
    let x = BigUint::from_bytes_be(&[seed.wrapping_add(1); 100]);
    let public = public_override.map_or_else(
        || pad128(&BigUint::from(2u8).modpow(&x, &p)),
        <[u8]>::to_vec,
    );
    let mut c1: Vec<u8> = (0..HANDSHAKE_SIZE)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    c1[4..8].copy_from_slice(&[128, 0, 7, 2]);
    let kp = key_pos(&c1, 8);
    c1[kp..kp + 128].copy_from_slice(&public);
    let dp = digest_pos(&c1, 772);
    let d = hmac(FP_KEY_30, &[&c1[..dp], &c1[dp + 32..]]);
    c1[dp..dp + 32].copy_from_slice(&d);
    HandClient {
        x,
        public,
        c1,
        c1_digest: d,
    }
}

fn with_c0(t: u8, c1: &[u8]) -> Vec<u8> {
    [&[t][..], c1].concat()
}

#[test]
fn server_answers_both_types_like_flash_media_server() {
    for t in [6u8, 8] {
        for seed in 0..4 {
            let client = hand_client(seed, None);
            let mut server = ServerHandshake::new([seed; 32], 77);
            server.receive(&with_c0(t, &client.c1)).unwrap();
            assert_eq!(
                server.kind(),
                Some(HandshakeKind::Encrypted {
                    scheme: DigestScheme::Scheme1,
                    handshake_type: t
                })
            );
            let out = server.take_output().unwrap();
            assert_eq!(out[0], t, "S0 repeats the type");
            let s1 = &out[1..1 + HANDSHAKE_SIZE];
            let s2 = &out[1 + HANDSHAKE_SIZE..];

            // S1 digest in the client's scheme, keyed with the FMS key.
            let dp = digest_pos(s1, 772);
            assert_eq!(
                s1[dp..dp + 32],
                hmac(FMS_KEY_36, &[&s1[..dp], &s1[dp + 32..]])
            );
            // The server key at the scheme's position and, for FFmpeg's
            // publisher, at the other scheme's position.
            let k1 = key_pos(s1, 8);
            let k0 = key_pos(s1, 772);
            assert_eq!(s1[k1..k1 + 128], s1[k0..k0 + 128]);
            let server_public = s1[k1..k1 + 128].to_vec();

            // S2: random + signature keyed by HMAC(FMS key, C1 digest), each
            // 8-byte block XTEA'd for type 8.
            let fms_full = [FMS_KEY_36, TAIL].concat();
            let key = hmac(&fms_full, &[&client.c1_digest]);
            let mut sig = hmac(&key, &[&s2[..1504]]);
            if t == 8 {
                for i in 0..4 {
                    xtea(
                        &mut sig[i * 8..i * 8 + 8],
                        &XTEA_KEYS[key[i * 8] as usize % 15],
                    );
                }
            }
            assert_eq!(s2[1504..], sig);

            // C2 is ignored; then both RC4 directions line up with keys the
            // client derives on its own.
            server.receive(&[0u8; HANDSHAKE_SIZE]).unwrap();
            assert!(server.is_done());
            let mut ciphers = server.take_ciphers().unwrap();
            let p = BigUint::from_bytes_be(&PRIME);
            let secret = pad128(&BigUint::from_bytes_be(&server_public).modpow(&client.x, &p));
            let rc4 = |public: &[u8]| {
                let k = hmac(&secret, &[public]);
                let mut c = Rc4::<U16>::new(&<[u8; 16]>::try_from(&k[..16]).unwrap().into());
                c.apply_keystream(&mut [0u8; 1536]);
                c
            };
            let mut client_out = rc4(&server_public);
            let mut client_in = rc4(&client.public);
            let mut msg = *b"\x03connect over RTMPE";
            client_out.apply_keystream(&mut msg);
            ciphers.incoming.apply(&mut msg);
            assert_eq!(&msg, b"\x03connect over RTMPE");
            let mut reply = *b"_result";
            ciphers.outgoing.apply(&mut reply);
            client_in.apply_keystream(&mut reply);
            assert_eq!(&reply, b"_result");
        }
    }
}

#[test]
fn bad_keys_end_the_handshake() {
    let p = BigUint::from_bytes_be(&PRIME);
    let p_minus_1 = pad128(&(&p - 1u8));
    // A key of order 2 (p - 1), 0, 1, and p itself.
    for key in [
        p_minus_1,
        vec![0u8; 128],
        pad128(&BigUint::from(1u8)),
        PRIME.to_vec(),
    ] {
        let client = hand_client(3, Some(&key));
        let mut server = ServerHandshake::new([1; 32], 0);
        let err = server.receive(&with_c0(6, &client.c1)).unwrap_err();
        assert!(matches!(err, HandshakeError::BadDhKey(_)), "{err}");
        assert!(server.take_output().is_none());
        assert_eq!(server.receive(&[0; 10]), Err(err));
    }
}

#[test]
fn rtmpe_needs_a_digest() {
    let mut server = ServerHandshake::new([1; 32], 0);
    let err = server
        .receive(&with_c0(8, &[0x11; HANDSHAKE_SIZE]))
        .unwrap_err();
    assert_eq!(err, HandshakeError::RtmpeWithoutDigest(8));
    assert_eq!(
        err.to_string(),
        "RTMPE handshake type 0x08 without a valid C1 digest"
    );
}

#[test]
fn client_and_server_agree_on_rtmpe() {
    for t in [6u8, 8] {
        let mut client = ClientHandshake::new_encrypted([5; 32], 1, t);
        let mut server = ServerHandshake::new([9; 32], 2);
        let c0c1 = client.take_output().unwrap();
        assert_eq!(c0c1[0], t);
        server.receive(&c0c1).unwrap();
        let s = server.take_output().unwrap();
        assert_eq!(client.receive(&s).unwrap(), s.len());
        assert!(client.is_done());
        assert_eq!(
            client.kind(),
            Some(HandshakeKind::Encrypted {
                scheme: DigestScheme::Scheme1,
                handshake_type: t
            })
        );
        let c2 = client.take_output().unwrap();
        server.receive(&c2).unwrap();
        let (mut c, mut s) = (
            client.take_ciphers().unwrap(),
            server.take_ciphers().unwrap(),
        );
        let mut data = b"both ways".to_vec();
        c.outgoing.apply(&mut data);
        s.incoming.apply(&mut data);
        assert_eq!(data, b"both ways");
        s.outgoing.apply(&mut data);
        c.incoming.apply(&mut data);
        assert_eq!(data, b"both ways");
    }
}

#[test]
fn client_rejects_a_tampered_s2_and_a_wrong_type() {
    let mut client = ClientHandshake::new_encrypted([5; 32], 1, 8);
    let mut server = ServerHandshake::new([9; 32], 2);
    server.receive(&client.take_output().unwrap()).unwrap();
    let mut s = server.take_output().unwrap().to_vec();
    *s.last_mut().unwrap() ^= 1;
    assert_eq!(
        client.receive(&s),
        Err(HandshakeError::BadServerResponse("S2 signature mismatch"))
    );

    let mut client = ClientHandshake::new_encrypted([5; 32], 1, 6);
    assert_eq!(
        client.receive(&[3]),
        Err(HandshakeError::UnsupportedVersion(3))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any key bytes in a well-formed RTMPE C1: an answer or a clean error.
    #[test]
    fn arbitrary_keys_never_panic(key in proptest::collection::vec(any::<u8>(), 128), t in prop_oneof![Just(6u8), Just(8u8)]) {
        let client = hand_client(1, Some(&key));
        let mut server = ServerHandshake::new([1; 32], 0);
        match server.receive(&with_c0(t, &client.c1)) {
            Ok(n) => prop_assert_eq!(n, 1 + HANDSHAKE_SIZE),
            Err(e) => prop_assert!(matches!(e, HandshakeError::BadDhKey(_))),
        }
    }
}
