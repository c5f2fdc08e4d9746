//! Which FLV dialect each viewer gets, and frames rewritten into it.
//!
//! Publishers send H.265 either as Enhanced RTMP (`hvc1`) or as legacy
//! codec id 12; the hub keeps what came ([`Frame::dialect`]). A viewer that
//! wants the other form gets the frame rewritten once per frame and shared
//! by every viewer of that form ([`Frame::in_dialect`]): only the tag
//! header changes ([`liu_flv::av::dialect`]).

use bytes::{BufMut, BytesMut};
use liu_flv::av::{FlvDialect, Rewrite, rewrite_audio, rewrite_video};
use serde::Deserialize;

use crate::hub::{Frame, FrameKind};
use crate::stream_info::metadata_for;

/// How H.265 (and Enhanced H.264/AAC) is written for a kind of viewer
/// (`rtmp_hevc`, `flv_hevc` in the configuration; `?hevc=` on HTTP-FLV).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HevcForm {
    /// Legacy FLV tags: codec id 12 for H.265 (FFmpeg before 6.1 with
    /// patches, SRS, nginx-http-flv-module, flv.js forks, mpegts.js).
    Legacy,
    /// Enhanced RTMP tags: FourCC `hvc1`.
    Enhanced,
}

impl HevcForm {
    pub fn dialect(self) -> FlvDialect {
        match self {
            HevcForm::Legacy => FlvDialect::Legacy,
            HevcForm::Enhanced => FlvDialect::Enhanced,
        }
    }

    /// The `hevc` parameter of a query string (`legacy` or `enhanced`).
    pub fn from_query(query: Option<&str>) -> Option<HevcForm> {
        query?
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == "hevc")
            .and_then(|(_, v)| match v {
                "legacy" => Some(HevcForm::Legacy),
                "enhanced" => Some(HevcForm::Enhanced),
                _ => None,
            })
    }
}

/// `frame` as a viewer of dialect `want` gets it; `None` when that dialect
/// has no such frame (Enhanced `Metadata` for a legacy viewer).
pub fn frame_in(frame: &Frame, want: FlvDialect) -> Option<&Frame> {
    frame.in_dialect(want, |f| rewrite(f, want))
}

fn rewrite(frame: &Frame, want: FlvDialect) -> Option<Frame> {
    let body = &frame.payload;
    let rewrite = match frame.kind {
        FrameKind::Video => rewrite_video(body, want),
        FrameKind::Audio => rewrite_audio(body, want),
        FrameKind::Data if frame.metadata => {
            // Metadata is never dropped: unchanged when it names no H.265.
            let payload =
                metadata_for(body, want == FlvDialect::Legacy).unwrap_or_else(|| body.clone());
            let mut other = frame.restamped(frame.timestamp);
            other.payload = payload;
            other.dialect = Some(want);
            return Some(other);
        }
        FrameKind::Data => Rewrite::Same,
    };
    let payload = match rewrite {
        Rewrite::Same => body.clone(),
        Rewrite::Drop => return None,
        Rewrite::Header { .. } => {
            let rest = rewrite.payload(body);
            let mut out = BytesMut::with_capacity(rewrite.head().len() + rest.len());
            out.put_slice(rewrite.head());
            out.put_slice(rest);
            out.freeze()
        }
    };
    let mut other = frame.restamped(frame.timestamp);
    other.payload = payload;
    other.dialect = Some(want);
    Some(other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn hevc_frames_rewritten_once() {
        let mut frame = Frame::new(
            FrameKind::Video,
            40,
            Bytes::from_static(b"\x1c\x01\x00\x00\x28NALS"),
        );
        frame.keyframe = true;
        frame.dialect = Some(FlvDialect::Legacy);
        assert!(std::ptr::eq(
            frame_in(&frame, FlvDialect::Legacy).unwrap_or_else(|| panic!()),
            &frame
        ));
        let enhanced = frame_in(&frame, FlvDialect::Enhanced).unwrap_or_else(|| panic!());
        assert_eq!(&enhanced.payload[..], b"\x91hvc1\x00\x00\x28NALS");
        assert_eq!((enhanced.timestamp, enhanced.keyframe), (40, true));
        let again = frame_in(&frame, FlvDialect::Enhanced).unwrap_or_else(|| panic!());
        assert!(std::ptr::eq(enhanced, again));
        // The rewrite of a legacy-only frame is the same frame for both.
        let plain = Frame::new(FrameKind::Video, 0, Bytes::from_static(b"\x17\x01\0\0\0x"));
        assert!(std::ptr::eq(
            frame_in(&plain, FlvDialect::Enhanced).unwrap_or_else(|| panic!()),
            &plain
        ));
        let mut meta = Frame::new(FrameKind::Video, 0, Bytes::from_static(b"\x94hvc1\x02"));
        meta.dialect = Some(FlvDialect::Enhanced);
        assert!(frame_in(&meta, FlvDialect::Legacy).is_none());
    }

    #[test]
    fn query_parameter() {
        assert_eq!(
            HevcForm::from_query(Some("hevc=legacy")),
            Some(HevcForm::Legacy)
        );
        assert_eq!(
            HevcForm::from_query(Some("token=1&hevc=enhanced")),
            Some(HevcForm::Enhanced)
        );
        assert_eq!(HevcForm::from_query(Some("hevc=x")), None);
        assert_eq!(HevcForm::from_query(None), None);
    }
}
