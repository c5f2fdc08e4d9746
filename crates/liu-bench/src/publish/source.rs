//! The clip a publisher sends: an FLV file read into memory, split into
//! headers (metadata, sequence headers) and frames, with a latency stamp
//! slot in every H.264 coded frame.

use std::path::Path;

use liu_codec::avc::AvcDecoderConfigurationRecord;
use liu_flv::amf0::{self, Amf0Value};
use liu_flv::av::{VideoCodec, VideoPacket, parse_audio_tag_header, parse_video_tag_header};
use liu_flv::flv::{FlvReader, TagType};
use liu_rtmp::media::MediaKind;

use crate::error::BenchError;
use crate::stamp::insert_stamp;

/// Largest FLV tag accepted from a clip.
const MAX_TAG: u32 = 16 * 1024 * 1024;

/// One message to send.
#[derive(Debug, Clone)]
pub struct Tag {
    pub kind: MediaKind,
    /// Milliseconds from the start of the clip.
    pub ts: u32,
    pub body: Vec<u8>,
    /// Offset of the stamp's time bytes in `body`, for stamped frames.
    pub stamp_at: Option<usize>,
}

/// A clip ready to publish.
#[derive(Debug)]
pub struct Clip {
    /// `@setDataFrame` + `onMetaData`, sequence headers: sent once.
    pub headers: Vec<Tag>,
    /// Everything else, in file order.
    pub frames: Vec<Tag>,
    /// Duration of one pass: where the next loop's timestamps start.
    pub loop_ms: u64,
    pub stamped: usize,
}

impl Clip {
    pub fn load(path: &Path) -> Result<Clip, BenchError> {
        let name = path.display().to_string();
        let bad = |why: String| BenchError::Clip {
            path: name.clone(),
            why,
        };
        let data = std::fs::read(path).map_err(|e| BenchError::io(format!("reading {name}"), e))?;
        let mut reader = FlvReader::new(MAX_TAG);
        reader.push(&data);
        let mut tags = Vec::new();
        while let Some(tag) = reader.next_tag().map_err(|e| bad(e.to_string()))? {
            tags.push(tag);
        }
        let base = tags
            .iter()
            .filter(|t| t.tag_type != TagType::Script)
            .map(|t| t.timestamp)
            .min()
            .ok_or_else(|| bad("no audio or video".into()))?;
        // The stream's NAL length size, from its AVC sequence header.
        let mut nal_length_size = 4u8;
        for t in tags.iter().filter(|t| t.tag_type == TagType::Video) {
            if let Ok(h) = parse_video_tag_header(&t.body)
                && h.codec == VideoCodec::Avc
                && h.is_sequence_header()
            {
                let record = AvcDecoderConfigurationRecord::parse(&t.body[h.header_len..])
                    .map_err(|e| bad(format!("avcC: {e}")))?;
                nal_length_size = record.nal_length_size;
                break;
            }
        }
        let (mut headers, mut frames, mut stamped) = (Vec::new(), Vec::new(), 0);
        let mut metadata_sent = false;
        for t in tags {
            let ts = t.timestamp.saturating_sub(base);
            match t.tag_type {
                TagType::Script => {
                    if !metadata_sent && is_metadata(&t.body) {
                        metadata_sent = true;
                        let mut body = Vec::with_capacity(t.body.len() + 16);
                        amf0::encode(&Amf0Value::string("@setDataFrame"), &mut body);
                        body.extend_from_slice(&t.body);
                        headers.push(Tag {
                            kind: MediaKind::Data,
                            ts: 0,
                            body,
                            stamp_at: None,
                        });
                    }
                }
                TagType::Audio => {
                    let seq = parse_audio_tag_header(&t.body).is_ok_and(|h| h.is_sequence_header);
                    let tag = Tag {
                        kind: MediaKind::Audio,
                        ts,
                        body: t.body.to_vec(),
                        stamp_at: None,
                    };
                    if seq {
                        headers.push(Tag { ts: 0, ..tag })
                    } else {
                        frames.push(tag)
                    }
                }
                TagType::Video => {
                    let Ok(h) = parse_video_tag_header(&t.body) else {
                        continue;
                    };
                    if h.is_sequence_header() {
                        headers.push(Tag {
                            kind: MediaKind::Video,
                            ts: 0,
                            body: t.body.to_vec(),
                            stamp_at: None,
                        });
                        continue;
                    }
                    let stampable =
                        h.codec == VideoCodec::Avc && h.packet == VideoPacket::CodedFrames;
                    let (body, stamp_at) = match stampable
                        .then(|| insert_stamp(&t.body, h.header_len, nal_length_size))
                        .flatten()
                    {
                        Some((body, at)) => {
                            stamped += 1;
                            (body, Some(at))
                        }
                        None => (t.body.to_vec(), None),
                    };
                    frames.push(Tag {
                        kind: MediaKind::Video,
                        ts,
                        body,
                        stamp_at,
                    });
                }
            }
        }
        if frames.is_empty() {
            return Err(bad("no audio or video frames".into()));
        }
        let last = frames.iter().map(|t| t.ts).max().unwrap_or(0);
        Ok(Clip {
            headers,
            loop_ms: u64::from(last) + frame_interval(&frames),
            frames,
            stamped,
        })
    }
}

/// Whether a script tag is `onMetaData`.
fn is_metadata(body: &[u8]) -> bool {
    matches!(amf0::decode_one(body, &Default::default()), Ok((Amf0Value::String(s), _)) if s == "onMetaData")
}

/// The usual gap between video frames (or any frames), so a loop's first
/// frame follows the last one as the next frame would.
fn frame_interval(frames: &[Tag]) -> u64 {
    let video: Vec<u32> = frames
        .iter()
        .filter(|t| t.kind == MediaKind::Video)
        .map(|t| t.ts)
        .collect();
    let ts = if video.len() >= 2 {
        video
    } else {
        frames.iter().map(|t| t.ts).collect()
    };
    match (ts.first(), ts.last()) {
        (Some(&a), Some(&b)) if ts.len() >= 2 && b > a => u64::from(b - a) / (ts.len() as u64 - 1),
        _ => 40,
    }
}

#[cfg(test)]
mod tests {
    use liu_flv::flv::{encode_file_header, encode_tag};

    use super::*;
    use crate::stamp::find_stamp;

    #[test]
    fn loads_and_stamps_a_clip() {
        let avcc = AvcDecoderConfigurationRecord {
            profile_indication: 100,
            profile_compatibility: 0,
            level_indication: 31,
            nal_length_size: 4,
            sps: vec![bytes::Bytes::from_static(&[0x67, 0x64, 0, 31])],
            pps: vec![bytes::Bytes::from_static(&[0x68, 0xee])],
        };
        let mut seq = vec![0x17, 0, 0, 0, 0];
        seq.extend(avcc.encode());
        let mut meta = Vec::new();
        amf0::encode(&Amf0Value::string("onMetaData"), &mut meta);
        amf0::encode(
            &Amf0Value::ecma_array([("duration", Amf0Value::Number(0.12))]),
            &mut meta,
        );
        let mut file = encode_file_header(true, true).to_vec();
        file.extend_from_slice(&encode_tag(TagType::Script, 0, &meta));
        file.extend_from_slice(&encode_tag(TagType::Video, 100, &seq));
        file.extend_from_slice(&encode_tag(TagType::Audio, 100, &[0xaf, 0, 0x12, 0x10]));
        for (i, key) in [(0u32, true), (1, false), (2, false)] {
            let first = if key { 0x17 } else { 0x27 };
            file.extend_from_slice(&encode_tag(
                TagType::Video,
                100 + 40 * i,
                &[first, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88],
            ));
            file.extend_from_slice(&encode_tag(TagType::Audio, 100 + 40 * i, &[0xaf, 1, 0x21]));
        }
        let dir = std::env::temp_dir().join(format!("liu-bench-clip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.flv");
        std::fs::write(&path, &file).unwrap();
        let clip = Clip::load(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let kinds: Vec<MediaKind> = clip.headers.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [MediaKind::Data, MediaKind::Video, MediaKind::Audio]);
        assert!(clip.headers[0].body.starts_with(&[2, 0, 13, b'@']));
        assert_eq!(clip.frames.len(), 6);
        assert_eq!(clip.stamped, 3);
        assert_eq!(clip.loop_ms, 120);
        assert_eq!(clip.frames[0].ts, 0);
        let f = &clip.frames[2];
        assert_eq!((f.ts, f.kind), (40, MediaKind::Video));
        assert_eq!(find_stamp(&f.body[5..], 4), Some(0));
        assert!(f.body.ends_with(&[0, 0, 0, 2, 0x65, 0x88]));
    }
}
