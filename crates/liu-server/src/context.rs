//! What every connection shares, whatever its protocol: the configuration,
//! the hub and the one access check. Adapters that need more (HTTP's HLS
//! streams and RTMPT tunnels) get their own handles beside it.

use std::time::Instant;

use std::sync::Arc;

use crate::access::Access;
use crate::config::Config;
use crate::host_limits::HostLimits;
use crate::hub::Hub;

/// The configuration, the hub and the access check, shared by every
/// connection task.
pub struct Context {
    pub config: Config,
    pub hub: Hub,
    /// The one access check every protocol asks.
    pub access: Access,
    /// What each client address holds, against `[limits]`.
    pub hosts: Arc<HostLimits>,
    /// When the server started: RTMP's epoch counts from here.
    pub started: Instant,
}
