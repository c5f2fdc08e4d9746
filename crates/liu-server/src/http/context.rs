//! What HTTP connections use: the shared [`Context`], and the handles only
//! HTTP routes need (HLS streams, RTMPT tunnels).

use std::sync::Arc;

use crate::context::Context;
use crate::hls::HlsStreams;
use crate::rtmpt::Tunnels;

/// The shared context plus HTTP's own handles.
pub struct HttpContext {
    pub shared: Arc<Context>,
    pub hls: Arc<HlsStreams>,
    pub tunnels: Arc<Tunnels>,
}
