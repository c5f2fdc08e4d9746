//! HLS for Liu, sans-IO: the MPEG-TS muxer, the fMP4 writer, the TS and
//! CMAF (Low-Latency HLS) segmenters and their playlists.
//!
//! The segmenters take FLV tag bodies (as the server's hub delivers them)
//! through `liu-flv`'s `samples`; the muxers take `liu-codec`'s samples and
//! decoder configurations.
//!
//! - [`ts`]: the MPEG-2 transport stream muxer (ISO/IEC 13818-1) for TS
//!   segments (RFC 8216 §3.2).
//! - [`fmp4`]: fragmented MP4 (ISO/IEC 14496-12, CMAF layout) for fMP4
//!   segments (RFC 8216 §3.3): initialization section and movie fragments.
//! - [`playlist`]: media playlists (RFC 8216 §4.3) rendered from a window
//!   of segments.
//! - [`cmaf`]: FLV tag bodies cut into fMP4 segments and LL-HLS parts, with
//!   their playlist.
//! - [`segmenter`]: FLV tag bodies cut into TS segments on keyframes, with a
//!   sliding window and its playlist.
//!
//! Nothing here touches a socket, a file or a clock: every call takes samples
//! and appends bytes to a caller-provided `BytesMut`. Malformed input is
//! returned as an [`HlsError`], never a panic.

pub mod cmaf;
pub mod error;
pub mod fmp4;
pub mod playlist;
pub mod segmenter;
pub mod ts;

pub use error::HlsError;
pub use ts::TsMuxer;
