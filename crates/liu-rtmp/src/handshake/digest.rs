//! The digest ("complex") handshake's building blocks: the Flash Player and
//! FMS keys, digest positions, HMAC-SHA256 signing, and the seeded random
//! expansion that fills C1/S1 and signed S2/C2.

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use super::{DigestScheme, HANDSHAKE_SIZE};

/// Length of an HMAC-SHA256 digest.
const DIGEST_LEN: usize = 32;

/// Length of the random part of a signed S2/C2 (the digest follows it).
pub(super) const SIGNED_RANDOM_LEN: usize = HANDSHAKE_SIZE - DIGEST_LEN;

/// Size of each of the two blocks (key and digest) after time and version.
const BLOCK_SIZE: usize = 764;

/// The digest lies somewhere in its block after the 4 offset bytes, so that
/// the 32 digest bytes still fit: `764 - 4 - 32 = 728` possible positions.
const DIGEST_POS_MODULUS: usize = BLOCK_SIZE - 4 - DIGEST_LEN;

/// Version field the server puts in a digest-form S1 (a first byte of 3 or
/// more tells clients such as `FFmpeg` to verify the digest and S2).
pub(super) const SERVER_DIGEST_VERSION: u32 = 0x0D0E_0A0D;

/// Version field the client puts in a digest-form C1 (a Flash Player one).
pub(super) const CLIENT_DIGEST_VERSION: u32 = 0x8000_0702;

/// The constant tail shared by the Flash Player and FMS keys.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

pub(super) const FP_KEY_TEXT: &[u8; 30] = b"Genuine Adobe Flash Player 001";
pub(super) const FMS_KEY_TEXT: &[u8; 36] = b"Genuine Adobe Flash Media Server 001";

/// Concatenates a key text with [`KEY_TAIL`] at compile time.
const fn full_key<const N: usize, const M: usize>(text: &[u8; N]) -> [u8; M] {
    let mut out = [0u8; M];
    let mut i = 0;
    while i < N {
        out[i] = text[i];
        i += 1;
    }
    while i < M {
        out[i] = KEY_TAIL[i - N];
        i += 1;
    }
    out
}

/// The 62-byte Flash Player key; C1 digests use its first 30 bytes.
pub(super) const FP_KEY: [u8; 62] = full_key::<30, 62>(FP_KEY_TEXT);
/// The 68-byte FMS key; S1 digests use its first 36 bytes.
pub(super) const FMS_KEY: [u8; 68] = full_key::<36, 68>(FMS_KEY_TEXT);

impl DigestScheme {
    /// Start of the digest block.
    const fn block_start(self) -> usize {
        match self {
            Self::Scheme0 => 8,
            Self::Scheme1 => 8 + BLOCK_SIZE,
        }
    }

    /// Position of the 32-byte digest in `msg`: the block start plus 4 plus
    /// the sum of the block's 4 offset bytes modulo 728.
    fn digest_pos(self, msg: &[u8; HANDSHAKE_SIZE]) -> usize {
        let start = self.block_start();
        let sum: usize = msg[start..start + 4].iter().map(|&b| usize::from(b)).sum();
        start + 4 + sum % DIGEST_POS_MODULUS
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC-SHA256 accepts keys of any length")
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Digest of `msg` with the 32 bytes at `pos` left out.
fn message_digest(msg: &[u8; HANDSHAKE_SIZE], pos: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac_sha256(key, &[&msg[..pos], &msg[pos + DIGEST_LEN..]])
}

/// Writes the digest of `msg` (keyed with `key`) at its `scheme` position and
/// returns it.
pub(super) fn imprint_digest(
    msg: &mut [u8; HANDSHAKE_SIZE],
    scheme: DigestScheme,
    key: &[u8],
) -> [u8; 32] {
    let pos = scheme.digest_pos(msg);
    let digest = message_digest(msg, pos, key);
    msg[pos..pos + DIGEST_LEN].copy_from_slice(&digest);
    digest
}

/// Looks for a valid digest keyed with `key` in `msg`, trying both schemes.
pub(super) fn find_digest(
    msg: &[u8; HANDSHAKE_SIZE],
    key: &[u8],
) -> Option<(DigestScheme, [u8; 32])> {
    [DigestScheme::Scheme0, DigestScheme::Scheme1]
        .into_iter()
        .find_map(|scheme| {
            let pos = scheme.digest_pos(msg);
            let digest = message_digest(msg, pos, key);
            (msg[pos..pos + DIGEST_LEN] == digest).then_some((scheme, digest))
        })
}

/// The key that signs an S2/C2: HMAC-SHA256(`long_key`, `peer_digest`).
pub(super) fn signature_key(long_key: &[u8], peer_digest: &[u8; 32]) -> [u8; DIGEST_LEN] {
    hmac_sha256(long_key, &[peer_digest])
}

/// The signature of an S2/C2 whose first 1504 bytes are `random`.
pub(super) fn signature(random: &[u8], key: &[u8; DIGEST_LEN]) -> [u8; DIGEST_LEN] {
    hmac_sha256(key, &[random])
}

/// A signed S2/C2: `random` followed by its [`signature`] under `key`.
pub(super) fn signed_response(
    random: &[u8; SIGNED_RANDOM_LEN],
    key: &[u8; DIGEST_LEN],
) -> Box<[u8; HANDSHAKE_SIZE]> {
    let mut out = Box::new([0u8; HANDSHAKE_SIZE]);
    out[..SIGNED_RANDOM_LEN].copy_from_slice(random);
    out[SIGNED_RANDOM_LEN..].copy_from_slice(&signature(random, key));
    out
}

/// Deterministic byte stream expanded from a 32-byte seed with SHA-256 in
/// counter mode. The seed should come from a CSPRNG.
pub(super) struct SeedStream {
    seed: [u8; 32],
    counter: u64,
}

impl SeedStream {
    pub(super) fn new(seed: [u8; 32]) -> Self {
        Self { seed, counter: 0 }
    }

    pub(super) fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            let block = Sha256::new()
                .chain_update(self.seed)
                .chain_update(self.counter.to_le_bytes())
                .finalize();
            self.counter = self.counter.wrapping_add(1);
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

/// A fresh 1536-byte message with `time` and `version` set and the rest
/// random (spec §5.2.3).
pub(super) fn new_message(
    rng: &mut SeedStream,
    time: u32,
    version: u32,
) -> Box<[u8; HANDSHAKE_SIZE]> {
    let mut msg = Box::new([0u8; HANDSHAKE_SIZE]);
    rng.fill(&mut msg[8..]);
    msg[..4].copy_from_slice(&time.to_be_bytes());
    msg[4..8].copy_from_slice(&version.to_be_bytes());
    msg
}
