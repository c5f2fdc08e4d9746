//! A tag body with a new header: what a dialect rewrite or a multitrack
//! track selection makes of a body, as a small header plus a slice of the
//! old body (the codec payload is never copied).

/// Enhanced packet types (Enhanced RTMP `VideoPacketType`; the first two
/// are the same in `AudioPacketType`).
pub(super) const SEQUENCE_START: u8 = 0;
pub(super) const CODED_FRAMES: u8 = 1;
pub(super) const SEQUENCE_END: u8 = 2;
pub(super) const CODED_FRAMES_X: u8 = 3;

/// What a body becomes in the other dialect, or as one of its tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// The body as it is serves both dialects.
    Same,
    /// Nothing in the target dialect carries it (Enhanced `Metadata`,
    /// a legacy viewer's HEVC `colorInfo`): leave it out.
    Drop,
    /// `head[..head_len]` followed by `body[payload_start..payload_end]`.
    Header {
        head: [u8; 8],
        head_len: u8,
        payload_start: usize,
        payload_end: usize,
    },
}

impl Rewrite {
    /// The new header.
    pub fn head(&self) -> &[u8] {
        match self {
            Rewrite::Header { head, head_len, .. } => &head[..usize::from(*head_len)],
            _ => &[],
        }
    }

    /// The payload the new header is followed by.
    pub fn payload<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        match *self {
            Rewrite::Header {
                payload_start,
                payload_end,
                ..
            } => body.get(payload_start..payload_end).unwrap_or_default(),
            Rewrite::Same => body,
            Rewrite::Drop => &[],
        }
    }

    /// `bytes` (at most 8) followed by `body[start..end]`.
    pub(super) fn slice(bytes: &[u8], start: usize, end: usize) -> Rewrite {
        let mut head = [0u8; 8];
        let n = bytes.len().min(8);
        head[..n].copy_from_slice(&bytes[..n]);
        Rewrite::Header {
            head,
            head_len: n as u8,
            payload_start: start.min(end),
            payload_end: end,
        }
    }
}

/// Applies a rewrite to `body` (for tests and tools; servers build their
/// serialized forms from [`Rewrite::head`] and the payload slice directly).
pub fn rewritten(body: &[u8], rewrite: Rewrite) -> Option<Vec<u8>> {
    match rewrite {
        Rewrite::Same => Some(body.to_vec()),
        Rewrite::Drop => None,
        Rewrite::Header { .. } => {
            let mut out = rewrite.head().to_vec();
            out.extend_from_slice(rewrite.payload(body));
            Some(out)
        }
    }
}
