//! RTMPE, Adobe's encrypted RTMP: a Diffie-Hellman exchange hidden in the
//! digest handshake's key block, RC4 on every byte after it, and (type 8)
//! an XTEA transform of the S2/C2 signature.
//!
//! RTMPE is obfuscation, not security: the keys that sign the handshake are
//! public and nothing authenticates the server. RTMPS is the secure choice.
//!
//! Layout (as Flash Player, FMS, librtmp and `FFmpeg` use it): the 128-byte
//! public key sits in C1/S1's key block, at the block start plus the sum of
//! the block's last 4 bytes modulo 632. The group is the 1024-bit MODP group
//! of RFC 2409 §6.2 with generator 2. Each side derives its RC4 keys as the
//! first 16 bytes of HMAC-SHA256 keyed with the shared secret over a public
//! key (the peer's key for the sending direction, its own for receiving),
//! and discards the first 1536 bytes of each keystream.

use hmac::{Hmac, Mac};
use num_bigint::BigUint;
use rc4::{KeyInit as _, Rc4, StreamCipher, consts::U16};
use sha2::Sha256;
use xtea::cipher::{BlockCipherEncrypt, KeyInit as _};

use super::{DigestScheme, HANDSHAKE_SIZE, HandshakeError};

/// Size of a public key and of the shared secret.
pub const DH_KEY_LEN: usize = 128;

/// Handshake types of RTMPE in C0/S0: 6 plain signatures, 8 with the XTEA
/// signature transform.
pub const RTMPE_TYPE: u8 = 0x06;
pub const RTMPE_XTEA_TYPE: u8 = 0x08;

/// The key block holds the public key at one of 632 positions
/// (`764 - 4 - 128`): 4 offset bytes end the block.
const KEY_POS_MODULUS: usize = 632;

/// RFC 2409 §6.2, the Second Oakley Group: 2^1024 - 2^960 - 1 +
/// 2^64 * (floor(2^894 pi) + 129093).
pub(super) const PRIME: [u8; DH_KEY_LEN] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x37, 0xED, 0x6B, 0x0B, 0xFF, 0x5C, 0xB6, 0xF4, 0x06, 0xB7, 0xED,
    0xEE, 0x38, 0x6B, 0xFB, 0x5A, 0x89, 0x9F, 0xA5, 0xAE, 0x9F, 0x24, 0x11, 0x7C, 0x4B, 0x1F, 0xE6,
    0x49, 0x28, 0x66, 0x51, 0xEC, 0xE6, 0x53, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];

/// The XTEA keys of the type-8 signature transform (Flash Player's table;
/// the key for each 8-byte block is chosen by a digest byte modulo 15).
pub(super) const XTEA_KEYS: [[u8; 16]; 15] = [
    [
        0xbf, 0xf0, 0x34, 0xb2, 0x11, 0xd9, 0x08, 0x1f, 0xcc, 0xdf, 0xb7, 0x95, 0x74, 0x8d, 0xe7,
        0x32,
    ],
    [
        0x08, 0x6a, 0x5e, 0xb6, 0x17, 0x43, 0x09, 0x0e, 0x6e, 0xf0, 0x5a, 0xb8, 0xfe, 0x5a, 0x39,
        0xe2,
    ],
    [
        0x7b, 0x10, 0x95, 0x6f, 0x76, 0xce, 0x05, 0x21, 0x23, 0x88, 0xa7, 0x3a, 0x44, 0x01, 0x49,
        0xa1,
    ],
    [
        0xa9, 0x43, 0xf3, 0x17, 0xeb, 0xf1, 0x1b, 0xb2, 0xa6, 0x91, 0xa5, 0xee, 0x17, 0xf3, 0x63,
        0x39,
    ],
    [
        0x7a, 0x30, 0xe0, 0x0a, 0xb5, 0x29, 0xe2, 0x2c, 0xa0, 0x87, 0xae, 0xa5, 0xc0, 0xcb, 0x79,
        0xac,
    ],
    [
        0xbd, 0xce, 0x0c, 0x23, 0x2f, 0xeb, 0xde, 0xff, 0x1c, 0xfa, 0xae, 0x16, 0x11, 0x23, 0x23,
        0x9d,
    ],
    [
        0x55, 0xdd, 0x3f, 0x7b, 0x77, 0xe7, 0xe6, 0x2e, 0x9b, 0xb8, 0xc4, 0x99, 0xc9, 0x48, 0x1e,
        0xe4,
    ],
    [
        0x40, 0x7b, 0xb6, 0xb4, 0x71, 0xe8, 0x91, 0x36, 0xa7, 0xae, 0xbf, 0x55, 0xca, 0x33, 0xb8,
        0x39,
    ],
    [
        0xfc, 0xf6, 0xbd, 0xc3, 0xb6, 0x3c, 0x36, 0x97, 0x7c, 0xe4, 0xf8, 0x25, 0x04, 0xd9, 0x59,
        0xb2,
    ],
    [
        0x28, 0xe0, 0x91, 0xfd, 0x41, 0x95, 0x4c, 0x4c, 0x7f, 0xb7, 0xdb, 0x00, 0xe3, 0xa0, 0x66,
        0xf8,
    ],
    [
        0x57, 0x84, 0x5b, 0x76, 0x4f, 0x25, 0x1b, 0x03, 0x46, 0xd4, 0x5b, 0xcd, 0xa2, 0xc3, 0x0d,
        0x29,
    ],
    [
        0x0a, 0xcc, 0xee, 0xf8, 0xda, 0x55, 0xb5, 0x46, 0x03, 0x47, 0x34, 0x52, 0x58, 0x63, 0x71,
        0x3b,
    ],
    [
        0xb8, 0x20, 0x75, 0xdc, 0xa7, 0x5f, 0x1f, 0xee, 0xd8, 0x42, 0x68, 0xe8, 0xa7, 0x2a, 0x44,
        0xcc,
    ],
    [
        0x07, 0xcf, 0x6e, 0x9e, 0xa1, 0x6d, 0x7b, 0x25, 0x9f, 0xa7, 0xae, 0x6c, 0xd9, 0x2f, 0x56,
        0x29,
    ],
    [
        0xfe, 0xb1, 0xea, 0xe4, 0x8c, 0x8c, 0x3c, 0xe1, 0x4e, 0x00, 0x64, 0xa7, 0x6a, 0x38, 0x7c,
        0x2a,
    ],
];

impl DigestScheme {
    /// Where this scheme's key block keeps the public key: the block start
    /// plus the sum of the block's last 4 bytes modulo 632.
    pub(super) fn key_pos(self, msg: &[u8; HANDSHAKE_SIZE]) -> usize {
        let (start, offsets) = match self {
            // Digest block first: the key block is 772..1536.
            Self::Scheme0 => (772, 1532),
            // Key block first: 8..772.
            Self::Scheme1 => (8, 768),
        };
        start + offset_sum(msg, offsets) % KEY_POS_MODULUS
    }

    pub(super) fn other(self) -> Self {
        match self {
            Self::Scheme0 => Self::Scheme1,
            Self::Scheme1 => Self::Scheme0,
        }
    }
}

/// One side's Diffie-Hellman key pair on the RFC 2409 group.
pub(super) struct DhKeyPair {
    private: BigUint,
    public: [u8; DH_KEY_LEN],
}

impl DhKeyPair {
    /// A key pair from 128 secret random bytes.
    pub(super) fn new(secret: &[u8; DH_KEY_LEN]) -> Self {
        let p = BigUint::from_bytes_be(&PRIME);
        // 2 <= x <= p - 2.
        let private = BigUint::from_bytes_be(secret) % (&p - 3u8) + 2u8;
        let public = BigUint::from(2u8).modpow(&private, &p);
        Self {
            private,
            public: to_key_bytes(&public),
        }
    }

    pub(super) fn public(&self) -> &[u8; DH_KEY_LEN] {
        &self.public
    }

    /// The shared secret with `peer`'s public key, which must lie in
    /// 2..p-2 and in the prime-order subgroup (`y^q = 1`, `q = (p-1)/2`).
    pub(super) fn shared_secret(
        &self,
        peer: &[u8; DH_KEY_LEN],
    ) -> Result<[u8; DH_KEY_LEN], HandshakeError> {
        let p = BigUint::from_bytes_be(&PRIME);
        let y = BigUint::from_bytes_be(peer);
        let one = BigUint::from(1u8);
        if y <= one || y >= &p - 1u8 {
            return Err(HandshakeError::BadDhKey("public key out of range"));
        }
        let q = (&p - 1u8) >> 1u8;
        if y.modpow(&q, &p) != one {
            return Err(HandshakeError::BadDhKey("public key not in the group"));
        }
        Ok(to_key_bytes(&y.modpow(&self.private, &p)))
    }
}

/// A number below p as 128 big-endian bytes, zero-padded on the left.
fn to_key_bytes(n: &BigUint) -> [u8; DH_KEY_LEN] {
    let bytes = n.to_bytes_be();
    let mut out = [0u8; DH_KEY_LEN];
    out[DH_KEY_LEN - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// RC4 over one direction of an RTMPE connection.
pub struct RtmpeCipher(Box<Rc4<U16>>);

impl RtmpeCipher {
    /// RC4 keyed with the first 16 bytes of HMAC-SHA256(`secret`, `public`),
    /// its first 1536 keystream bytes discarded.
    fn derive(secret: &[u8; DH_KEY_LEN], public: &[u8; DH_KEY_LEN]) -> Self {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
            unreachable!("HMAC-SHA256 accepts keys of any length")
        };
        mac.update(public);
        let digest = mac.finalize().into_bytes();
        let key: [u8; 16] = std::array::from_fn(|i| digest[i]);
        let mut rc4 = Rc4::<U16>::new(&key.into());
        rc4.apply_keystream(&mut [0u8; HANDSHAKE_SIZE]);
        Self(Box::new(rc4))
    }

    /// Encrypts or decrypts `data` in place (RC4 is its own inverse).
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

impl std::fmt::Debug for RtmpeCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RtmpeCipher")
    }
}

/// Both directions of an RTMPE connection, from one side's point of view.
#[derive(Debug)]
pub struct RtmpeCiphers {
    /// Decrypts what the peer sends.
    pub incoming: RtmpeCipher,
    /// Encrypts what this side sends.
    pub outgoing: RtmpeCipher,
}

impl RtmpeCiphers {
    pub(super) fn new(
        secret: &[u8; DH_KEY_LEN],
        own: &[u8; DH_KEY_LEN],
        peer: &[u8; DH_KEY_LEN],
    ) -> Self {
        Self {
            incoming: RtmpeCipher::derive(secret, own),
            outgoing: RtmpeCipher::derive(secret, peer),
        }
    }
}

/// The type-8 transform of an S2/C2 signature: each 8-byte block is XTEA
/// encrypted (32 cycles, block words little-endian, key words big-endian)
/// with the key chosen by the matching byte of `key_digest` modulo 15.
/// Other types leave the signature alone.
pub(super) fn transform_signature(handshake_type: u8, sig: &mut [u8], key_digest: &[u8; 32]) {
    if handshake_type != RTMPE_XTEA_TYPE {
        return;
    }
    for (i, block) in sig.chunks_exact_mut(8).enumerate() {
        let key = &XTEA_KEYS[usize::from(key_digest[i * 8]) % 15];
        // The crate reads key words little-endian.
        let key: [u8; 16] = std::array::from_fn(|j| key[j / 4 * 4 + 3 - j % 4]);
        let cipher = xtea::Xtea::new(&key.into());
        let Ok(block) = <&mut [u8; 8]>::try_from(block) else {
            unreachable!("chunks of 8")
        };
        cipher.encrypt_block(block.into());
    }
}

/// Writes `key` into a digest-form message at `scheme`'s key position, and
/// at the other scheme's position too (`FFmpeg`'s publisher reads it there),
/// arranged so that neither copy touches the digest or an offset field.
/// Must run before the digest is imprinted.
pub(super) fn place_public_key(
    msg: &mut [u8; HANDSHAKE_SIZE],
    scheme: DigestScheme,
    key: &[u8; DH_KEY_LEN],
) {
    // The digest goes right after its block's offset bytes (offset 0), so
    // a key 36 bytes or more into the digest block avoids it; the other
    // scheme's key block overlaps the digest block, so its offset is kept
    // at 36 or more (the random sum, folded into 36..632).
    let (digest_offsets, other_offsets) = match scheme {
        DigestScheme::Scheme0 => (8, 768),
        DigestScheme::Scheme1 => (772, 1532),
    };
    set_offset(msg, digest_offsets, 0);
    let sum = offset_sum(msg, other_offsets);
    set_offset(msg, other_offsets, 36 + sum % (KEY_POS_MODULUS - 36));
    for s in [scheme, scheme.other()] {
        let pos = s.key_pos(msg);
        msg[pos..pos + DH_KEY_LEN].copy_from_slice(key);
    }
}

/// The sum of the 4 offset bytes at `at`.
fn offset_sum(msg: &[u8; HANDSHAKE_SIZE], at: usize) -> usize {
    msg[at..at + 4].iter().map(|&b| usize::from(b)).sum()
}

/// Writes 4 offset bytes at `at` whose sum is `value` (at most 1020).
fn set_offset(msg: &mut [u8; HANDSHAKE_SIZE], at: usize, value: usize) {
    let mut left = value;
    for b in &mut msg[at..at + 4] {
        let v = left.min(255);
        *b = v as u8;
        left -= v;
    }
}

/// The public key at `scheme`'s key position.
pub(super) fn read_public_key(
    msg: &[u8; HANDSHAKE_SIZE],
    scheme: DigestScheme,
) -> [u8; DH_KEY_LEN] {
    let pos = scheme.key_pos(msg);
    std::array::from_fn(|i| msg[pos + i])
}
