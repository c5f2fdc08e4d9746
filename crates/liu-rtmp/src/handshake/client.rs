//! Client side of the handshake: C0+C1 out, S0+S1 in, C2 out, S2 skipped.

use bytes::{BufMut, Bytes, BytesMut};

use super::digest::{
    CLIENT_DIGEST_VERSION, FMS_KEY, FMS_KEY_TEXT, FP_KEY, FP_KEY_TEXT, SIGNED_RANDOM_LEN,
    SeedStream, find_digest, imprint_digest, new_message, signed_response,
};
use super::{
    Collector, DigestScheme, HANDSHAKE_SIZE, HandshakeError, HandshakeKind, RTMP_VERSION,
    check_version,
};

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
