//! Server side of the handshake: C0+C1 in, S0+S1+S2 out, C2 skipped.

use bytes::{BufMut, Bytes, BytesMut};

use super::digest::{
    FMS_KEY, FMS_KEY_TEXT, FP_KEY, FP_KEY_TEXT, SERVER_DIGEST_VERSION, SIGNED_RANDOM_LEN,
    SeedStream, find_digest, imprint_digest, new_message, signed_response,
};
use super::{
    Collector, HANDSHAKE_SIZE, HandshakeError, HandshakeKind, RTMP_VERSION, check_version,
};

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
