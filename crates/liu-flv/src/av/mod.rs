//! Audio and video tag headers: legacy FLV (FLV spec v10.1 E.4.2, E.4.3) and
//! Enhanced RTMP v1/v2 (veovera, "Enhanced Audio" / "Enhanced Video").
//!
//! The parsers only look at the header; `header_len` tells where the codec
//! payload starts in the tag body.

mod audio;
pub mod dialect;
pub mod multitrack;
mod rewrite;
mod video;

pub use audio::{AudioCodec, AudioPacket, AudioTagHeader, parse_audio_tag_header};
pub use dialect::{FlvDialect, Rewrite, rewrite_audio, rewrite_video};
pub use video::{VideoCodec, VideoFrameType, VideoPacket, VideoTagHeader, parse_video_tag_header};

use crate::error::Result;
use liu_codec::cursor::Cursor;

/// `PacketType` value announcing a ModEx prefix (Enhanced RTMP v2, audio and video).
const PACKET_TYPE_MOD_EX: u8 = 7;

/// `AvMultitrackType.ManyTracksManyCodecs`: no shared FourCC follows (Enhanced RTMP v2).
const MULTITRACK_MANY_CODECS: u8 = 2;

/// Skips ModEx entries (Enhanced RTMP v2 `while (packetType == ModEx)`) and
/// returns the real packet type.
///
/// Each entry is `UI8 size - 1` (escaping to `UI16 size - 1` when it reads 255),
/// the data, then a byte whose high nibble is the ModEx type and low nibble the
/// next packet type. Every entry consumes at least three bytes, so this terminates.
fn skip_mod_ex(c: &mut Cursor<'_>, mut packet_type: u8) -> Result<u8> {
    while packet_type == PACKET_TYPE_MOD_EX {
        let mut size = usize::from(c.u8("ModEx data size")?) + 1;
        if size == 256 {
            size = usize::from(c.u16("ModEx extended data size")?) + 1;
        }
        c.take(size, "ModEx data")?;
        packet_type = c.u8("ModEx type and packet type")? & 0x0f;
    }
    Ok(packet_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod_ex_chain() {
        // Two entries: 3 bytes of data, then 256+2 bytes with the 16-bit escape.
        let mut buf = vec![0x02, 1, 2, 3, 0x07];
        buf.extend_from_slice(&[0xff, 0x01, 0x01]);
        buf.extend(std::iter::repeat_n(0u8, 258));
        buf.push(0x01);
        buf.push(0xee);
        let mut c = Cursor::new(&buf);
        assert_eq!(skip_mod_ex(&mut c, 7), Ok(1));
        assert_eq!(c.remaining(), 1);
        assert!(skip_mod_ex(&mut Cursor::new(&[0x05, 0]), 7).is_err());
        assert_eq!(skip_mod_ex(&mut Cursor::new(&[]), 3), Ok(3));
    }
}
