//! The error type of the RTMP crate.

use crate::chunk::ChunkError;
use crate::control::ControlError;
use crate::handshake::HandshakeError;

/// Everything that ends an RTMP session. Each variant says which layer
/// rejected the peer's bytes; the connection that produced them is closed.
#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("control message: {0}")]
    Control(#[from] ControlError),
    #[error("AMF0 in {context}: {source}")]
    Amf {
        context: &'static str,
        #[source]
        source: liu_flv::FlvError,
    },
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("protocol violation: {0}")]
    Protocol(String),
}
