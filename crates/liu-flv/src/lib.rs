//! AMF0, FLV tags and codec configuration records for Liu.
//!
//! Everything here is sans-IO and panic-free on arbitrary input: every parser
//! returns a [`Result`](error::Result) and bounds-checks each read.
//!
//! - [`amf0`]: Action Message Format 0 values (Adobe AMF0 spec).
//! - [`flv`]: FLV file header, tag framing and an incremental reader (FLV spec v10.1 E.2-E.4).
//! - [`av`]: audio/video tag headers, legacy and Enhanced RTMP v1/v2 (FLV spec E.4.2/E.4.3).
//! - [`avc`]: `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3.1).
//! - [`hevc`]: `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §8.3.3.1) and the H.265 SPS.
//! - [`av1`]: `AV1CodecConfigurationRecord` and the AV1 sequence header.
//! - [`opus`]: `OpusHead`, its `dOps` form and Opus packet durations.
//! - [`aac`]: `AudioSpecificConfig` (ISO/IEC 14496-3 §1.6.2.1).

pub mod aac;
pub mod amf0;
pub mod av;
pub mod av1;
pub mod avc;
pub mod error;
pub mod flv;
pub mod hevc;
pub mod opus;

mod bits;
mod cursor;

pub use error::FlvError;
