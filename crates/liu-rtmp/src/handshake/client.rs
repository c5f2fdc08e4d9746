//! Client side of the handshake: C0+C1 out, S0+S1 in, C2 out, S2 in
//! (checked for RTMPE, skipped otherwise).

use bytes::{BufMut, Bytes, BytesMut};

use super::digest::{
    CLIENT_DIGEST_VERSION, FMS_KEY, FMS_KEY_TEXT, FP_KEY, FP_KEY_TEXT, SIGNED_RANDOM_LEN,
    SeedStream, find_digest, imprint_digest, new_message, signature, signature_key,
    signed_response,
};
use super::rtmpe::{
    DH_KEY_LEN, DhKeyPair, RTMPE_TYPE, RTMPE_XTEA_TYPE, RtmpeCiphers, read_public_key,
    transform_signature,
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
    /// Collecting S2.
    S2(Collector),
    Done,
    Failed(HandshakeError),
}

/// Client side of the handshake (spec §5.2.5).
///
/// Sends C0+C1 right away, reads S0+S1, answers C2, then reads S2 (which is
/// accepted whatever it holds, but for RTMPE).
pub struct ClientHandshake {
    rng: SeedStream,
    /// C0's type: 3, or 6 / 8 for RTMPE.
    version: u8,
    /// Our C1 digest when C1 is in digest form.
    c1_digest: Option<[u8; 32]>,
    /// Our key pair for RTMPE.
    dh: Option<DhKeyPair>,
    ciphers: Option<RtmpeCiphers>,
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
            version: RTMP_VERSION,
            c1_digest,
            dh: None,
            ciphers: None,
            state: ClientState::Version,
            kind: None,
            output,
        }
    }

    /// Creates an RTMPE client handshake of `handshake_type` (6, or 8 for
    /// XTEA-transformed signatures): C1 in digest scheme 1 with our public
    /// key in its key block, as Flash Player and `FFmpeg` send it.
    ///
    /// # Panics
    ///
    /// If `handshake_type` is neither 6 nor 8.
    #[must_use]
    pub fn new_encrypted(random: [u8; 32], epoch_ms: u32, handshake_type: u8) -> Self {
        assert!(
            handshake_type == RTMPE_TYPE || handshake_type == RTMPE_XTEA_TYPE,
            "RTMPE handshake types are 6 and 8"
        );
        let mut rng = SeedStream::new(random);
        let mut c1 = new_message(&mut rng, epoch_ms, CLIENT_DIGEST_VERSION);
        let mut secret = [0u8; DH_KEY_LEN];
        rng.fill(&mut secret);
        let dh = DhKeyPair::new(&secret);
        let scheme = DigestScheme::Scheme1;
        let pos = scheme.key_pos(&c1);
        c1[pos..pos + DH_KEY_LEN].copy_from_slice(dh.public());
        let c1_digest = imprint_digest(&mut c1, scheme, &FP_KEY[..FP_KEY_TEXT.len()]);
        let mut output = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        output.put_u8(handshake_type);
        output.put_slice(&c1[..]);
        Self {
            rng,
            version: handshake_type,
            c1_digest: Some(c1_digest),
            dh: Some(dh),
            ciphers: None,
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
    /// [`HandshakeError::UnsupportedVersion`] if S0 is not the type of C0;
    /// for RTMPE, [`HandshakeError::BadServerResponse`] or
    /// [`HandshakeError::BadDhKey`]. After an error, every call returns that
    /// error again.
    pub fn receive(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match &mut self.state {
                ClientState::Failed(err) => return Err(err.clone()),
                ClientState::Done => return Ok(used),
                _ if rest.is_empty() => return Ok(used),
                ClientState::Version => match check_version(rest[0]) {
                    Ok(version) if version == self.version => {
                        used += 1;
                        self.state = ClientState::S1(Collector::new());
                    }
                    Ok(other) | Err(HandshakeError::UnsupportedVersion(other)) => {
                        return Err(self.fail(HandshakeError::UnsupportedVersion(other)));
                    }
                    Err(err) => return Err(self.fail(err)),
                },
                ClientState::S1(s1) => {
                    used += s1.push(rest);
                    if s1.is_full() {
                        let s1 = std::mem::replace(&mut s1.buf, Box::new([0; HANDSHAKE_SIZE]));
                        if let Err(err) = self.respond(&s1) {
                            return Err(self.fail(err));
                        }
                        self.state = ClientState::S2(Collector::new());
                    }
                }
                ClientState::S2(s2) => {
                    used += s2.push(rest);
                    if s2.is_full() {
                        let s2 = std::mem::replace(&mut s2.buf, Box::new([0; HANDSHAKE_SIZE]));
                        if let Err(err) = self.check_s2(&s2) {
                            return Err(self.fail(err));
                        }
                        self.state = ClientState::Done;
                    }
                }
            }
        }
    }

    fn fail(&mut self, err: HandshakeError) -> HandshakeError {
        self.state = ClientState::Failed(err.clone());
        err
    }

    /// For RTMPE, S2 must be signed with the key derived from our C1 digest
    /// (and transformed for type 8); other handshakes accept any S2.
    fn check_s2(&self, s2: &[u8; HANDSHAKE_SIZE]) -> Result<(), HandshakeError> {
        let (Some(_), Some(c1_digest)) = (&self.dh, &self.c1_digest) else {
            return Ok(());
        };
        let key = signature_key(&FMS_KEY, c1_digest);
        let mut expected = signature(&s2[..SIGNED_RANDOM_LEN], &key);
        transform_signature(self.version, &mut expected, &key);
        if s2[SIGNED_RANDOM_LEN..] == expected {
            Ok(())
        } else {
            Err(HandshakeError::BadServerResponse("S2 signature mismatch"))
        }
    }

    /// Queues C2 for a complete S1: signed if both C1 and S1 are in digest
    /// form, else the echo of S1 (spec §5.2.4). RTMPE requires the digest
    /// form and takes the server's public key from S1.
    fn respond(&mut self, s1: &[u8; HANDSHAKE_SIZE]) -> Result<(), HandshakeError> {
        let server_digest = self
            .c1_digest
            .and_then(|_| find_digest(s1, &FMS_KEY[..FMS_KEY_TEXT.len()]));
        let Some((scheme, s1_digest)) = server_digest else {
            if self.dh.is_some() {
                return Err(HandshakeError::BadServerResponse("no valid S1 digest"));
            }
            self.kind = Some(HandshakeKind::Plain);
            self.output.put_slice(&s1[..]);
            return Ok(());
        };
        self.kind = Some(HandshakeKind::Digest { scheme });
        if let Some(dh) = &self.dh {
            let peer = read_public_key(s1, scheme);
            let shared = dh.shared_secret(&peer)?;
            self.ciphers = Some(RtmpeCiphers::new(&shared, dh.public(), &peer));
            self.kind = Some(HandshakeKind::Encrypted {
                scheme,
                handshake_type: self.version,
            });
        }
        let mut random = [0u8; SIGNED_RANDOM_LEN];
        self.rng.fill(&mut random);
        let key = signature_key(&FP_KEY, &s1_digest);
        let mut c2 = signed_response(&random, &key);
        transform_signature(self.version, &mut c2[SIGNED_RANDOM_LEN..], &key);
        self.output.put_slice(&c2[..]);
        Ok(())
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

    /// For RTMPE, the RC4 ciphers of both directions, once S1 has arrived.
    /// They apply to every byte after S2 (incoming) and after C2 (outgoing).
    pub fn take_ciphers(&mut self) -> Option<RtmpeCiphers> {
        self.ciphers.take()
    }
}
