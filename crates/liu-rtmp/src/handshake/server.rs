//! Server side of the handshake: C0+C1 in, S0+S1+S2 out, C2 skipped.

use bytes::{BufMut, Bytes, BytesMut};

use super::digest::{
    FMS_KEY, FMS_KEY_TEXT, FP_KEY, FP_KEY_TEXT, SERVER_DIGEST_VERSION, SIGNED_RANDOM_LEN,
    SeedStream, find_digest, imprint_digest, new_message, signature_key, signed_response,
};
use super::rtmpe::{
    DH_KEY_LEN, DhKeyPair, RtmpeCiphers, place_public_key, read_public_key, transform_signature,
};
use super::{
    Collector, HANDSHAKE_SIZE, HandshakeError, HandshakeKind, RTMP_VERSION, check_version,
};

enum ServerState {
    /// Waiting for C0.
    Version,
    /// Collecting C1 after a C0 of the given type.
    C1(Collector, u8),
    /// Skipping C2; holds the number of bytes still expected.
    C2(usize),
    Done,
    Failed(HandshakeError),
}

/// Server side of the handshake (spec §5.2.5).
///
/// Reads C0+C1, answers S0+S1+S2 in one buffer (digest form if C1 carries a
/// valid Flash Player digest, plain otherwise; RTMPE with a key exchange
/// when C0 asks for it), then reads and ignores C2.
pub struct ServerHandshake {
    rng: SeedStream,
    epoch_ms: u32,
    state: ServerState,
    kind: Option<HandshakeKind>,
    ciphers: Option<RtmpeCiphers>,
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
            ciphers: None,
            output: BytesMut::new(),
        }
    }

    /// Feeds bytes received from the client and returns how many were
    /// consumed. Bytes after C2 are left unconsumed for the chunk decoder.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::UnsupportedVersion`] if C0 is not 3, 6 or 8; for
    /// RTMPE, [`HandshakeError::RtmpeWithoutDigest`] or
    /// [`HandshakeError::BadDhKey`]. After an error, every call returns that
    /// error again.
    pub fn receive(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match &mut self.state {
                ServerState::Failed(err) => return Err(err.clone()),
                ServerState::Done => return Ok(used),
                _ if rest.is_empty() => return Ok(used),
                ServerState::Version => match check_version(rest[0]) {
                    Ok(version) => {
                        used += 1;
                        self.state = ServerState::C1(Collector::new(), version);
                    }
                    Err(err) => return Err(self.fail(err)),
                },
                ServerState::C1(c1, version) => {
                    used += c1.push(rest);
                    if c1.is_full() {
                        let version = *version;
                        let c1 = std::mem::replace(&mut c1.buf, Box::new([0; HANDSHAKE_SIZE]));
                        if let Err(err) = self.respond(version, &c1) {
                            return Err(self.fail(err));
                        }
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

    fn fail(&mut self, err: HandshakeError) -> HandshakeError {
        self.state = ServerState::Failed(err.clone());
        err
    }

    /// Builds S0+S1+S2 for a complete C1; S0 repeats C0's type.
    fn respond(&mut self, version: u8, c1: &[u8; HANDSHAKE_SIZE]) -> Result<(), HandshakeError> {
        let Some((scheme, c1_digest)) = find_digest(c1, &FP_KEY[..FP_KEY_TEXT.len()]) else {
            if version != RTMP_VERSION {
                return Err(HandshakeError::RtmpeWithoutDigest(version));
            }
            // Spec §5.2.3: S1 = time, four zero bytes, random; §5.2.4: S2
            // echoes C1.
            self.kind = Some(HandshakeKind::Plain);
            let s1 = new_message(&mut self.rng, self.epoch_ms, 0);
            self.output.reserve(1 + 2 * HANDSHAKE_SIZE);
            self.output.put_u8(version);
            self.output.put_slice(&s1[..]);
            self.output.put_slice(&c1[..]);
            return Ok(());
        };
        let mut s1 = new_message(&mut self.rng, self.epoch_ms, SERVER_DIGEST_VERSION);
        if version == RTMP_VERSION {
            self.kind = Some(HandshakeKind::Digest { scheme });
        } else {
            let mut secret = [0u8; DH_KEY_LEN];
            self.rng.fill(&mut secret);
            let keys = DhKeyPair::new(&secret);
            let peer = read_public_key(c1, scheme);
            let shared = keys.shared_secret(&peer)?;
            place_public_key(&mut s1, scheme, keys.public());
            self.ciphers = Some(RtmpeCiphers::new(&shared, keys.public(), &peer));
            self.kind = Some(HandshakeKind::Encrypted {
                scheme,
                handshake_type: version,
            });
        }
        imprint_digest(&mut s1, scheme, &FMS_KEY[..FMS_KEY_TEXT.len()]);
        let mut random = [0u8; SIGNED_RANDOM_LEN];
        self.rng.fill(&mut random);
        let key = signature_key(&FMS_KEY, &c1_digest);
        let mut s2 = signed_response(&random, &key);
        transform_signature(version, &mut s2[SIGNED_RANDOM_LEN..], &key);
        self.output.reserve(1 + 2 * HANDSHAKE_SIZE);
        self.output.put_u8(version);
        self.output.put_slice(&s1[..]);
        self.output.put_slice(&s2[..]);
        Ok(())
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

    /// For RTMPE, the RC4 ciphers of both directions, once C1 has arrived.
    /// They apply to every byte after C2 (incoming) and after S2 (outgoing).
    pub fn take_ciphers(&mut self) -> Option<RtmpeCiphers> {
        self.ciphers.take()
    }
}
