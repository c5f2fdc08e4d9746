//! Stream events: what happens to streams, for whoever listens (HLS
//! muxing on publish today; hooks, recording, forwarding, the edge and
//! metrics later).
//!
//! Events go out on a bounded broadcast channel: sending never waits, so a
//! listener that is slow or gone never holds up a publisher. One that falls
//! more than [`EVENT_QUEUE`] events behind misses the oldest and is told
//! how many ([`tokio::sync::broadcast::error::RecvError::Lagged`]).

use std::net::SocketAddr;
use std::sync::Arc;

use super::StreamKey;

/// Events kept for a listener that has not read them yet.
pub const EVENT_QUEUE: usize = 1024;

/// Who publishes a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// The protocol's name (`rtmp`, `rtmps`, ...).
    pub protocol: &'static str,
    pub peer: Option<SocketAddr>,
    /// The query string of the publish, without `?`.
    pub query: Option<String>,
}

/// Who watches a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerInfo {
    /// The protocol's name (`rtmp`, `http-flv`, `hls`, ...).
    pub protocol: &'static str,
    /// `None` for a viewer inside the server (the HLS muxer).
    pub peer: Option<SocketAddr>,
    /// The query string of the play request, without `?`.
    pub query: Option<String>,
}

impl ViewerInfo {
    /// A viewer inside the server, such as the HLS muxer.
    pub fn internal(protocol: &'static str) -> Self {
        ViewerInfo {
            protocol,
            peer: None,
            query: None,
        }
    }
}

/// Something that happened to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A publisher started. `republished`: the stream had a publisher
    /// before and kept viewers waiting since.
    Published {
        key: StreamKey,
        source: Arc<SourceInfo>,
        republished: bool,
    },
    /// The publisher left.
    Unpublished { key: StreamKey },
    ViewerJoined {
        key: StreamKey,
        /// Unique for the server's life.
        id: u64,
        viewer: Arc<ViewerInfo>,
    },
    ViewerLeft {
        key: StreamKey,
        id: u64,
        viewer: Arc<ViewerInfo>,
    },
    /// The stream had no viewer and now has one.
    FirstViewer { key: StreamKey },
    /// The stream's last viewer left.
    LastViewerLeft { key: StreamKey },
}

impl StreamEvent {
    pub fn key(&self) -> &StreamKey {
        match self {
            StreamEvent::Published { key, .. }
            | StreamEvent::Unpublished { key }
            | StreamEvent::ViewerJoined { key, .. }
            | StreamEvent::ViewerLeft { key, .. }
            | StreamEvent::FirstViewer { key }
            | StreamEvent::LastViewerLeft { key } => key,
        }
    }
}
