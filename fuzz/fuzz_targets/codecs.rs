#![no_main]
//! Codec records and FLV dialects on hostile input: the HEVC configuration
//! record and SPS parsers never panic, a parsed record re-encodes to the same
//! record, and a rewrite between legacy and Enhanced headers stays inside the
//! body and rewrites back to the same header.

use libfuzzer_sys::fuzz_target;
use liu_flv::av::dialect::{FlvDialect, Rewrite, rewrite_audio, rewrite_video, rewritten};
use liu_flv::hevc::{HevcDecoderConfigurationRecord, HevcSps};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = HevcDecoderConfigurationRecord::parse(data) {
        let again = HevcDecoderConfigurationRecord::parse(&r.encode()).expect("re-encoded hvcC parses");
        assert_eq!(r, again);
        let _ = r.sps();
        let _ = r.codec_string();
    }
    let _ = HevcSps::parse(data);
    for to in [FlvDialect::Legacy, FlvDialect::Enhanced] {
        let rw = rewrite_video(data, to);
        if let Rewrite::Header { payload_start, .. } = rw {
            assert!(payload_start <= data.len());
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
