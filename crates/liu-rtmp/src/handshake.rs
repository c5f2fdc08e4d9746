//! Sans-IO RTMP handshake, server and client side.
//!
//! Implements the plain handshake of the Adobe RTMP specification (2012,
//! §5.2: C0/S0 version byte, C1/S1 and C2/S2 of 1536 bytes each) and the
//! digest ("complex") handshake used by Flash Player, FMS, `FFmpeg` and
//! librtmp, in which C1/S1 carry an HMAC-SHA256 digest at a position derived
//! from the message itself and S2/C2 are signed with a key derived from the
//! peer's digest.
//!
//! Neither side does I/O, reads a clock or draws random numbers: the caller
//! passes a 32-byte random seed and the current epoch time, feeds received
//! bytes to `receive`, and sends whatever `take_output` returns.

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

/// Size of C1, S1, C2 and S2 (spec §5.2.3 – §5.2.4).
pub const HANDSHAKE_SIZE: usize = 1536;

/// The only plain RTMP version (spec §5.2.2).
const RTMP_VERSION: u8 = 3;

/// Length of an HMAC-SHA256 digest.
const DIGEST_LEN: usize = 32;

/// Length of the random part of a signed S2/C2 (the digest follows it).
const SIGNED_RANDOM_LEN: usize = HANDSHAKE_SIZE - DIGEST_LEN;

/// Size of each of the two blocks (key and digest) after time and version.
const BLOCK_SIZE: usize = 764;

/// The digest lies somewhere in its block after the 4 offset bytes, so that
/// the 32 digest bytes still fit: `764 - 4 - 32 = 728` possible positions.
const DIGEST_POS_MODULUS: usize = BLOCK_SIZE - 4 - DIGEST_LEN;

/// Version field the server puts in a digest-form S1 (a first byte of 3 or
/// more tells clients such as `FFmpeg` to verify the digest and S2).
const SERVER_DIGEST_VERSION: u32 = 0x0D0E_0A0D;

/// Version field the client puts in a digest-form C1 (a Flash Player one).
const CLIENT_DIGEST_VERSION: u32 = 0x8000_0702;

/// The constant tail shared by the Flash Player and FMS keys.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

const FP_KEY_TEXT: &[u8; 30] = b"Genuine Adobe Flash Player 001";
const FMS_KEY_TEXT: &[u8; 36] = b"Genuine Adobe Flash Media Server 001";

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
const FP_KEY: [u8; 62] = full_key::<30, 62>(FP_KEY_TEXT);
/// The 68-byte FMS key; S1 digests use its first 36 bytes.
const FMS_KEY: [u8; 68] = full_key::<36, 68>(FMS_KEY_TEXT);

/// Errors of either side of the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer's version byte (C0/S0) is neither 3 nor an RTMPE type.
    #[error("unsupported RTMP version {0:#04x}")]
    UnsupportedVersion(u8),
    /// The peer asked for an encrypted handshake (RTMPE, 0x06 or 0x08).
    #[error("encrypted handshake (RTMPE type {0:#04x}) is not supported yet")]
    Encrypted(u8),
}

/// Which handshake the peer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    /// Plain handshake of spec §5.2: S2/C2 echo the peer's C1/S1.
    Plain,
    /// Digest ("complex") handshake with the digest in the given layout.
    Digest {
        /// Where the digest block lies in C1/S1.
        scheme: DigestScheme,
    },
}

/// Layout of a digest-form C1/S1: 4 bytes time, 4 bytes version, then two
/// 764-byte blocks, one of which holds the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestScheme {
    /// Digest block first (offset bytes at 8, digest within 12..772), key
    /// block after it.
    Scheme0,
    /// Key block first, digest block at 772 (offset bytes at 772, digest
    /// within 776..1536).
    Scheme1,
}

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
fn imprint_digest(msg: &mut [u8; HANDSHAKE_SIZE], scheme: DigestScheme, key: &[u8]) -> [u8; 32] {
    let pos = scheme.digest_pos(msg);
    let digest = message_digest(msg, pos, key);
    msg[pos..pos + DIGEST_LEN].copy_from_slice(&digest);
    digest
}

/// Looks for a valid digest keyed with `key` in `msg`, trying both schemes.
fn find_digest(msg: &[u8; HANDSHAKE_SIZE], key: &[u8]) -> Option<(DigestScheme, [u8; 32])> {
    [DigestScheme::Scheme0, DigestScheme::Scheme1]
        .into_iter()
        .find_map(|scheme| {
            let pos = scheme.digest_pos(msg);
            let digest = message_digest(msg, pos, key);
            (msg[pos..pos + DIGEST_LEN] == digest).then_some((scheme, digest))
        })
}

/// A signed S2/C2: `random` followed by HMAC-SHA256 keyed with
/// HMAC-SHA256(`long_key`, `peer_digest`) over `random`.
fn signed_response(
    random: &[u8; SIGNED_RANDOM_LEN],
    long_key: &[u8],
    peer_digest: &[u8; 32],
) -> Box<[u8; HANDSHAKE_SIZE]> {
    let key = hmac_sha256(long_key, &[peer_digest]);
    let mut out = Box::new([0u8; HANDSHAKE_SIZE]);
    out[..SIGNED_RANDOM_LEN].copy_from_slice(random);
    out[SIGNED_RANDOM_LEN..].copy_from_slice(&hmac_sha256(&key, &[random]));
    out
}

/// Checks a C0/S0 version byte (spec §5.2.2).
fn check_version(version: u8) -> Result<(), HandshakeError> {
    match version {
        RTMP_VERSION => Ok(()),
        0x06 | 0x08 => Err(HandshakeError::Encrypted(version)),
        other => Err(HandshakeError::UnsupportedVersion(other)),
    }
}

/// Deterministic byte stream expanded from a 32-byte seed with SHA-256 in
/// counter mode. The seed should come from a CSPRNG.
struct SeedStream {
    seed: [u8; 32],
    counter: u64,
}

impl SeedStream {
    fn new(seed: [u8; 32]) -> Self {
        Self { seed, counter: 0 }
    }

    fn fill(&mut self, out: &mut [u8]) {
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
fn new_message(rng: &mut SeedStream, time: u32, version: u32) -> Box<[u8; HANDSHAKE_SIZE]> {
    let mut msg = Box::new([0u8; HANDSHAKE_SIZE]);
    rng.fill(&mut msg[8..]);
    msg[..4].copy_from_slice(&time.to_be_bytes());
    msg[4..8].copy_from_slice(&version.to_be_bytes());
    msg
}

/// Accumulates a fixed-size message fed in arbitrary pieces.
struct Collector {
    buf: Box<[u8; HANDSHAKE_SIZE]>,
    len: usize,
}

impl Collector {
    fn new() -> Self {
        Self {
            buf: Box::new([0u8; HANDSHAKE_SIZE]),
            len: 0,
        }
    }

    /// Copies what fits from `input`; returns the bytes taken.
    fn push(&mut self, input: &[u8]) -> usize {
        let n = input.len().min(HANDSHAKE_SIZE - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&input[..n]);
        self.len += n;
        n
    }

    fn is_full(&self) -> bool {
        self.len == HANDSHAKE_SIZE
    }
}

enum ServerState {
    /// Waiting for C0.
    Version,
    /// Collecting C1.
    C1(Collector),
    /// Skipping C2; holds the number of bytes still expected.
    C2(usize),
    Done,
    Failed(HandshakeError),
}

/// Server side of the handshake (spec §5.2.5).
///
/// Reads C0+C1, answers S0+S1+S2 in one buffer (digest form if C1 carries a
/// valid Flash Player digest, plain otherwise), then reads and ignores C2.
pub struct ServerHandshake {
    rng: SeedStream,
    epoch_ms: u32,
    state: ServerState,
    kind: Option<HandshakeKind>,
    output: BytesMut,
}

impl ServerHandshake {
    /// Creates a server handshake. `random` seeds the random parts of S1 and
    /// S2 (expanded with SHA-256; pass bytes from a CSPRNG); `epoch_ms` goes
    /// into S1's time field.
    #[must_use]
    pub fn new(random: [u8; 32], epoch_ms: u32) -> Self {
        Self {
            rng: SeedStream::new(random),
            epoch_ms,
            state: ServerState::Version,
            kind: None,
            output: BytesMut::new(),
        }
    }

    /// Feeds bytes received from the client and returns how many were
    /// consumed. Bytes after C2 are left unconsumed for the chunk decoder.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Encrypted`] or [`HandshakeError::UnsupportedVersion`]
    /// if C0 is not 3. After an error, every call returns that error again.
    pub fn receive(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match &mut self.state {
                ServerState::Failed(err) => return Err(err.clone()),
                ServerState::Done => return Ok(used),
                _ if rest.is_empty() => return Ok(used),
                ServerState::Version => {
                    if let Err(err) = check_version(rest[0]) {
                        self.state = ServerState::Failed(err.clone());
                        return Err(err);
                    }
                    used += 1;
                    self.state = ServerState::C1(Collector::new());
                }
                ServerState::C1(c1) => {
                    used += c1.push(rest);
                    if c1.is_full() {
                        let c1 = std::mem::replace(&mut c1.buf, Box::new([0; HANDSHAKE_SIZE]));
                        self.respond(&c1);
                        self.state = ServerState::C2(HANDSHAKE_SIZE);
                    }
                }
                ServerState::C2(left) => {
                    let n = rest.len().min(*left);
                    used += n;
                    *left -= n;
                    if *left == 0 {
                        self.state = ServerState::Done;
                    }
                }
            }
        }
    }

    /// Builds S0+S1+S2 for a complete C1.
    fn respond(&mut self, c1: &[u8; HANDSHAKE_SIZE]) {
        self.output.reserve(1 + 2 * HANDSHAKE_SIZE);
        self.output.put_u8(RTMP_VERSION);
        match find_digest(c1, &FP_KEY[..FP_KEY_TEXT.len()]) {
            Some((scheme, c1_digest)) => {
                self.kind = Some(HandshakeKind::Digest { scheme });
                let mut s1 = new_message(&mut self.rng, self.epoch_ms, SERVER_DIGEST_VERSION);
                imprint_digest(&mut s1, scheme, &FMS_KEY[..FMS_KEY_TEXT.len()]);
                let mut random = [0u8; SIGNED_RANDOM_LEN];
                self.rng.fill(&mut random);
                let s2 = signed_response(&random, &FMS_KEY, &c1_digest);
                self.output.put_slice(&s1[..]);
                self.output.put_slice(&s2[..]);
            }
            None => {
                // Spec §5.2.3: S1 = time, four zero bytes, random.
                self.kind = Some(HandshakeKind::Plain);
                let s1 = new_message(&mut self.rng, self.epoch_ms, 0);
                self.output.put_slice(&s1[..]);
                // Spec §5.2.4: S2 echoes C1.
                self.output.put_slice(&c1[..]);
            }
        }
    }

    /// Bytes to send to the client: S0+S1+S2 in one buffer once C0+C1 have
    /// arrived; `None` when nothing is pending.
    pub fn take_output(&mut self) -> Option<Bytes> {
        (!self.output.is_empty()).then(|| self.output.split().freeze())
    }

    /// Whether C2 has been received.
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(self.state, ServerState::Done)
    }

    /// The handshake the client used, known once C1 has arrived.
    #[must_use]
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }
}

enum ClientState {
    /// Waiting for S0.
    Version,
    /// Collecting S1.
    S1(Collector),
    /// Skipping S2; holds the number of bytes still expected.
    S2(usize),
    Done,
    Failed(HandshakeError),
}

/// Client side of the handshake (spec §5.2.5).
///
/// Sends C0+C1 right away, reads S0+S1, answers C2, then reads S2 (which is
/// accepted whatever it holds).
pub struct ClientHandshake {
    rng: SeedStream,
    /// Our C1 digest when C1 is in digest form.
    c1_digest: Option<[u8; 32]>,
    state: ClientState,
    kind: Option<HandshakeKind>,
    output: BytesMut,
}

impl ClientHandshake {
    /// Creates a client handshake with C0+C1 ready in `take_output`. With
    /// `digest`, C1 carries a Flash Player digest in [`DigestScheme::Scheme0`]
    /// (as `FFmpeg` sends it); otherwise C1 is plain. `random` seeds the random
    /// parts (expanded with SHA-256; pass bytes from a CSPRNG); `epoch_ms` goes
    /// into C1's time field.
    #[must_use]
    pub fn new(random: [u8; 32], epoch_ms: u32, digest: bool) -> Self {
        let mut rng = SeedStream::new(random);
        let version = if digest { CLIENT_DIGEST_VERSION } else { 0 };
        let mut c1 = new_message(&mut rng, epoch_ms, version);
        let c1_digest = digest
            .then(|| imprint_digest(&mut c1, DigestScheme::Scheme0, &FP_KEY[..FP_KEY_TEXT.len()]));
        let mut output = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        output.put_u8(RTMP_VERSION);
        output.put_slice(&c1[..]);
        Self {
            rng,
            c1_digest,
            state: ClientState::Version,
            kind: None,
            output,
        }
    }

    /// Feeds bytes received from the server and returns how many were
    /// consumed. Bytes after S2 are left unconsumed.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Encrypted`] or [`HandshakeError::UnsupportedVersion`]
    /// if S0 is not 3. After an error, every call returns that error again.
    pub fn receive(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match &mut self.state {
                ClientState::Failed(err) => return Err(err.clone()),
                ClientState::Done => return Ok(used),
                _ if rest.is_empty() => return Ok(used),
                ClientState::Version => {
                    if let Err(err) = check_version(rest[0]) {
                        self.state = ClientState::Failed(err.clone());
                        return Err(err);
                    }
                    used += 1;
                    self.state = ClientState::S1(Collector::new());
                }
                ClientState::S1(s1) => {
                    used += s1.push(rest);
                    if s1.is_full() {
                        let s1 = std::mem::replace(&mut s1.buf, Box::new([0; HANDSHAKE_SIZE]));
                        self.respond(&s1);
                        self.state = ClientState::S2(HANDSHAKE_SIZE);
                    }
                }
                ClientState::S2(left) => {
                    let n = rest.len().min(*left);
                    used += n;
                    *left -= n;
                    if *left == 0 {
                        self.state = ClientState::Done;
                    }
                }
            }
        }
    }

    /// Queues C2 for a complete S1: signed if both C1 and S1 are in digest
    /// form, else the echo of S1 (spec §5.2.4).
    fn respond(&mut self, s1: &[u8; HANDSHAKE_SIZE]) {
        let server_digest = self
            .c1_digest
            .and_then(|_| find_digest(s1, &FMS_KEY[..FMS_KEY_TEXT.len()]));
        match server_digest {
            Some((scheme, s1_digest)) => {
                self.kind = Some(HandshakeKind::Digest { scheme });
                let mut random = [0u8; SIGNED_RANDOM_LEN];
                self.rng.fill(&mut random);
                let c2 = signed_response(&random, &FP_KEY, &s1_digest);
                self.output.put_slice(&c2[..]);
            }
            None => {
                self.kind = Some(HandshakeKind::Plain);
                self.output.put_slice(&s1[..]);
            }
        }
    }

    /// Bytes to send to the server (C0+C1 at first, then C2); `None` when
    /// nothing is pending.
    pub fn take_output(&mut self) -> Option<Bytes> {
        (!self.output.is_empty()).then(|| self.output.split().freeze())
    }

    /// Whether S2 has been received.
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(self.state, ClientState::Done)
    }

    /// The handshake the server answered with, known once S1 has arrived:
    /// `Digest` only when C1 was in digest form and S1 carries a valid FMS
    /// digest.
    #[must_use]
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }
}

#[cfg(test)]
mod tests {
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
        for (v, err) in [
            (0x06, HandshakeError::Encrypted(0x06)),
            (0x08, HandshakeError::Encrypted(0x08)),
            (0x00, HandshakeError::UnsupportedVersion(0x00)),
            (0x09, HandshakeError::UnsupportedVersion(0x09)),
            (0xFF, HandshakeError::UnsupportedVersion(0xFF)),
        ] {
            let mut server = ServerHandshake::new([0; 32], 0);
            assert_eq!(server.receive(&[v, 1, 2, 3]), Err(err.clone()));
            // Sticky.
            assert_eq!(server.receive(&[3]), Err(err.clone()));
            assert!(server.take_output().is_none());
            assert!(!server.is_done());

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
            first in prop_oneof![Just(3u8), any::<u8>()],
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
}
