#![no_main]
//! The FLV reader and every tag-body parser on hostile input.

use libfuzzer_sys::fuzz_target;
use liu_flv::flv::{FlvReader, TagType};
use liu_codec::{aac::AudioSpecificConfig, avc::AvcDecoderConfigurationRecord};
use liu_flv::av;

fuzz_target!(|data: &[u8]| {
    let mut reader = FlvReader::new(1 << 20);
    // Feed in two pieces to exercise buffering.
    let (a, b) = data.split_at(data.len() / 2);
    reader.push(a);
    let mut tags = Vec::new();
    while let Ok(Some(tag)) = reader.next_tag() {
        tags.push(tag);
    }
    reader.push(b);
    while let Ok(Some(tag)) = reader.next_tag() {
        tags.push(tag);
    }
    for tag in tags {
        match tag.tag_type {
            TagType::Video => {
                if let Ok(h) = av::parse_video_tag_header(&tag.body) {
                    if h.is_sequence_header() {
                        let _ = AvcDecoderConfigurationRecord::parse(
                            tag.body.get(h.header_len..).unwrap_or(&[]),
                        );
                    }
                }
            }
            TagType::Audio => {
                if let Ok(h) = av::parse_audio_tag_header(&tag.body) {
                    if h.is_sequence_header {
                        let _ =
                            AudioSpecificConfig::parse(tag.body.get(h.header_len..).unwrap_or(&[]));
                    }
                }
            }
            TagType::Script => {
                let _ = liu_flv::amf0::decode_all(&tag.body);
            }
        }
    }
});
