//! AMF0 and FLV for Liu.
//!
//! Everything here is sans-IO and panic-free on arbitrary input: every parser
//! returns a [`Result`](error::Result) and bounds-checks each read.
//!
//! - [`amf0`]: Action Message Format 0 values (Adobe AMF0 spec).
//! - [`flv`]: FLV file header, tag framing and an incremental reader (FLV spec v10.1 E.2-E.4).
//! - [`av`]: audio/video tag headers, legacy and Enhanced RTMP v1/v2 (FLV spec E.4.2/E.4.3).
//! - [`samples`]: FLV tag bodies as `liu-codec` samples and decoder
//!   configurations (what HLS, recording and RTSP take).
//!
//! Codec configuration records and parameter sets are `liu-codec`'s.

pub mod amf0;
pub mod av;
pub mod error;
pub mod flv;
pub mod samples;

pub use error::FlvError;
