//! Sans-IO RTMP handshake, server and client side.
//!
//! Implements the plain handshake of the Adobe RTMP specification (2012,
//! §5.2: C0/S0 version byte, C1/S1 and C2/S2 of 1536 bytes each) and the
//! digest ("complex") handshake used by Flash Player, FMS, `FFmpeg` and
//! librtmp, in which C1/S1 carry an HMAC-SHA256 digest at a position derived
//! from the message itself and S2/C2 are signed with a key derived from the
//! peer's digest.
//!
//! RTMPE (C0 of 6 or 8) adds a Diffie-Hellman exchange to the digest
//! handshake and RC4 after it; see [`rtmpe`].
//!
//! Neither side does I/O, reads a clock or draws random numbers: the caller
//! passes a 32-byte random seed and the current epoch time, feeds received
//! bytes to `receive`, and sends whatever `take_output` returns.

mod client;
mod digest;
pub mod rtmpe;
mod server;

pub use client::ClientHandshake;
pub use rtmpe::{RtmpeCipher, RtmpeCiphers};
pub use server::ServerHandshake;

/// Size of C1, S1, C2 and S2 (spec §5.2.3 – §5.2.4).
pub const HANDSHAKE_SIZE: usize = 1536;

/// The only plain RTMP version (spec §5.2.2).
const RTMP_VERSION: u8 = 3;

/// Errors of either side of the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer's version byte (C0/S0) is neither 3 nor an RTMPE type.
    #[error("unsupported RTMP version {0:#04x}")]
    UnsupportedVersion(u8),
    /// An RTMPE C1 without a valid Flash Player digest (nowhere to find the
    /// key block).
    #[error("RTMPE handshake type {0:#04x} without a valid C1 digest")]
    RtmpeWithoutDigest(u8),
    /// The peer's Diffie-Hellman public key is unusable.
    #[error("bad RTMPE Diffie-Hellman key: {0}")]
    BadDhKey(&'static str),
    /// The server's answer does not verify (client side).
    #[error("server handshake does not verify: {0}")]
    BadServerResponse(&'static str),
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
    /// RTMPE: the digest handshake with a key exchange, RC4 after it.
    Encrypted {
        scheme: DigestScheme,
        /// The type of C0/S0: 6, or 8 for XTEA-transformed signatures.
        handshake_type: u8,
    },
}

impl HandshakeKind {
    /// True for RTMPE.
    #[must_use]
    pub fn is_encrypted(self) -> bool {
        matches!(self, Self::Encrypted { .. })
    }
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

/// Checks a C0/S0 version byte (spec §5.2.2): 3, or an RTMPE type.
fn check_version(version: u8) -> Result<u8, HandshakeError> {
    match version {
        RTMP_VERSION | rtmpe::RTMPE_TYPE | rtmpe::RTMPE_XTEA_TYPE => Ok(version),
        other => Err(HandshakeError::UnsupportedVersion(other)),
    }
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

#[cfg(test)]
mod rtmpe_tests;
#[cfg(test)]
mod tests;
