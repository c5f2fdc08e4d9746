//! FLV file header and tag framing (FLV spec v10.1, annex E.2-E.3).
//!
//! [`encode_file_header`] and [`encode_tag`] write FLV; [`FlvReader`] reads it
//! incrementally from a file or an HTTP-FLV stream.

mod reader;

pub use reader::FlvReader;

use bytes::{BufMut, Bytes, BytesMut};

/// The 9-byte FLV header plus the 4-byte `PreviousTagSize0` (E.2, E.3).
pub const FLV_HEADER_AND_FIRST_PREV_TAG_SIZE: usize = 13;

/// Length of the FLV header alone; also the `DataOffset` written by version 1 (E.2).
pub const FLV_HEADER_LEN: usize = 9;

/// `TypeFlagsAudio` bit of the header flags byte (E.2).
pub const FLAG_AUDIO: u8 = 0x04;
/// `TypeFlagsVideo` bit of the header flags byte (E.2).
pub const FLAG_VIDEO: u8 = 0x01;

/// Writes the FLV header (E.2): `FLV`, version 1, flags, `DataOffset` 9, then `PreviousTagSize0` = 0 (E.3).
pub fn encode_file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let mut flags = 0;
    if has_audio {
        flags |= FLAG_AUDIO;
    }
    if has_video {
        flags |= FLAG_VIDEO;
    }
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// FLV tag type (E.4.1 `TagType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TagType {
    /// Audio tag (8).
    Audio = 8,
    /// Video tag (9).
    Video = 9,
    /// Script data tag, e.g. `onMetaData` (18).
    Script = 18,
}

impl TagType {
    /// Maps the 5-bit `TagType` field; other values are reserved (E.4.1).
    pub fn from_u8(v: u8) -> Option<TagType> {
        match v {
            8 => Some(TagType::Audio),
            9 => Some(TagType::Video),
            18 => Some(TagType::Script),
            _ => None,
        }
    }
}

/// Length of an FLV tag header (E.4.1).
pub const TAG_HEADER_LEN: usize = 11;

/// Length of the `PreviousTagSize` field that follows each tag (E.3).
pub const PREV_TAG_SIZE_LEN: usize = 4;

/// Writes the 11-byte tag header (E.4.1): type, 24-bit size, timestamp low 24 bits
/// plus the extended byte, stream id 0. `data_size` is truncated to 24 bits.
pub fn write_tag_header(tag_type: TagType, timestamp: u32, data_size: u32, out: &mut [u8; 11]) {
    let [_, s2, s1, s0] = data_size.to_be_bytes();
    let [ext, t2, t1, t0] = timestamp.to_be_bytes();
    *out = [tag_type as u8, s2, s1, s0, t2, t1, t0, ext, 0, 0, 0];
}

/// Serializes a whole tag (E.3, E.4.1): header, body and `PreviousTagSize` (11 + body length).
///
/// Bodies must be shorter than 16 MiB, the limit of the 24-bit `DataSize` field.
pub fn encode_tag(tag_type: TagType, timestamp: u32, body: &[u8]) -> Bytes {
    let size = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut header = [0u8; TAG_HEADER_LEN];
    write_tag_header(tag_type, timestamp, size, &mut header);
    let mut out = BytesMut::with_capacity(TAG_HEADER_LEN + body.len() + PREV_TAG_SIZE_LEN);
    out.put_slice(&header);
    out.put_slice(body);
    out.put_u32(size.saturating_add(TAG_HEADER_LEN as u32));
    out.freeze()
}

/// One FLV tag (E.4.1); `timestamp` is the full 32-bit value in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct FlvTag {
    /// Audio, video or script data.
    pub tag_type: TagType,
    /// `Timestamp` | `TimestampExtended` << 24, in milliseconds.
    pub timestamp: u32,
    /// The tag's data (`AUDIODATA`, `VIDEODATA` or `SCRIPTDATA`).
    pub body: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_header_bytes() {
        assert_eq!(
            encode_file_header(true, true),
            [b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]
        );
        assert_eq!(encode_file_header(true, false)[4], 4);
        assert_eq!(encode_file_header(false, true)[4], 1);
        assert_eq!(encode_file_header(false, false)[4], 0);
    }

    #[test]
    fn tag_type_mapping() {
        assert_eq!(TagType::from_u8(8), Some(TagType::Audio));
        assert_eq!(TagType::from_u8(9), Some(TagType::Video));
        assert_eq!(TagType::from_u8(18), Some(TagType::Script));
        assert_eq!(TagType::from_u8(0), None);
        assert_eq!(TagType::from_u8(15), None);
    }

    #[test]
    fn tag_header_bytes() {
        let mut h = [0u8; 11];
        write_tag_header(TagType::Video, 0x1234_5678, 0x00ab_cdef, &mut h);
        assert_eq!(h, [9, 0xab, 0xcd, 0xef, 0x34, 0x56, 0x78, 0x12, 0, 0, 0]);
    }

    #[test]
    fn encoded_tag_bytes() {
        let tag = encode_tag(TagType::Audio, 1000, &[0xaf, 0x01, 0x21]);
        assert_eq!(
            &tag[..],
            &[
                8, 0, 0, 3, 0x00, 0x03, 0xe8, 0x00, 0, 0, 0, // header
                0xaf, 0x01, 0x21, // body
                0, 0, 0, 14, // PreviousTagSize
            ]
        );
    }
}
