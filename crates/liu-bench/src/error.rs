//! The library's error type.

use std::io;

/// Everything `liu bench` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bad URL {url:?}: {why}")]
    Url { url: String, why: &'static str },
    #[error("cannot resolve {host}: {why}")]
    Resolve { host: String, why: String },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("{path}: not a usable FLV clip: {why}")]
    Clip { path: String, why: String },
    #[error("RTMP: {0}")]
    Rtmp(#[from] liu_rtmp::RtmpError),
    #[error("RTMP handshake: {0}")]
    Handshake(#[from] liu_rtmp::handshake::HandshakeError),
    #[error("RTMP chunk stream: {0}")]
    Chunk(&'static str),
    #[error("RTMP chunk stream {csid} continues a header never sent")]
    MissingHeader { csid: u32 },
    #[error("invalid chunk size {0}")]
    ChunkSize(u32),
    #[error("FLV: {0}")]
    Flv(&'static str),
    #[error("HTTP: {0}")]
    Http(&'static str),
    #[error("the server refused: {0}")]
    Rejected(String),
    #[error("ffmpeg: {0}")]
    Ffmpeg(String),
    #[error("{0}")]
    Usage(String),
}

impl BenchError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }
}
