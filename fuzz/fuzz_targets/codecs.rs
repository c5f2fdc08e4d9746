#![no_main]
//! Codec records and FLV dialects on hostile input: the HEVC, AV1 and Opus
//! configuration parsers and the SPS readers never panic, a parsed HEVC
//! record re-encodes to the same record, and rewrites between legacy and
//! Enhanced headers (multitrack track extraction included) stay inside the
//! body.

use libfuzzer_sys::fuzz_target;
use liu_flv::av::dialect::{FlvDialect, Rewrite, rewrite_audio, rewrite_video, rewritten};
use liu_codec::hevc::{HevcDecoderConfigurationRecord, HevcSps};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = HevcDecoderConfigurationRecord::parse(data) {
        let again = HevcDecoderConfigurationRecord::parse(&r.encode()).expect("re-encoded hvcC parses");
        assert_eq!(r, again);
        let _ = r.sps();
        let _ = r.codec_string();
    }
    let _ = HevcSps::parse(data);
    let _ = liu_codec::avc::sps::parse(data);
    if let Ok(r) = liu_codec::av1::Av1CodecConfigurationRecord::parse(data) {
        let _ = r.sequence_header();
    }
    if let Ok(h) = liu_codec::opus::OpusHead::parse(data) {
        let _ = h.dops();
    }
    let _ = liu_codec::opus::packet_samples(data);
    for id in 0..2 {
        for rw in [
            liu_flv::av::multitrack::video_track(data, id),
            liu_flv::av::multitrack::audio_track(data, id),
        ]
        .into_iter()
        .flatten()
        {
            if let Rewrite::Header { payload_start, payload_end, .. } = rw {
                assert!(payload_start <= payload_end && payload_end <= data.len());
            }
        }
    }
    for to in [FlvDialect::Legacy, FlvDialect::Enhanced] {
        let rw = rewrite_video(data, to);
        if let Rewrite::Header { payload_start, payload_end, .. } = rw {
            assert!(payload_start <= payload_end && payload_end <= data.len());
        }
        if let Some(body) = rewritten(data, rw) {
            let back = match to {
                FlvDialect::Legacy => FlvDialect::Enhanced,
                FlvDialect::Enhanced => FlvDialect::Legacy,
            };
            let _ = rewritten(&body, rewrite_video(&body, back));
        }
        let _ = rewritten(data, rewrite_audio(data, to));
    }
});
