#![no_main]
//! The TS and CMAF segmenters (and so the TS muxer, the fMP4 writer and the
//! playlists) fed hostile FLV tag bodies: records of
//! `[kind][time step][len: u16][body]`, after optional valid sequence headers
//! so that media reaches the muxers.

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use liu_hls::cmaf::{CmafConfig, CmafSegmenter};
use liu_hls::segmenter::{SegmenterConfig, TsSegmenter};

/// x264's SPS/PPS for 64x48 High, in an FLV AVC sequence header.
const AVC_HEADER: &[u8] = &[
    0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x0a, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x64, 0x00, 0x0a,
    0xac, 0xd9, 0x44, 0x7b, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03,
    0x20, 0xf1, 0x22, 0x59, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
];
const AAC_HEADER: &[u8] = &[0xaf, 0x00, 0x12, 0x10];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut ts = TsSegmenter::new(SegmenterConfig::default());
    let mut cmaf = CmafSegmenter::new(CmafConfig::default());
    if flags & 1 != 0 {
        let _ = ts.push_video(0, &Bytes::from_static(AVC_HEADER), 0);
        let _ = cmaf.push_video(0, &Bytes::from_static(AVC_HEADER), 0);
    }
    if flags & 2 != 0 {
        let _ = ts.push_audio(0, &Bytes::from_static(AAC_HEADER), 0);
        let _ = cmaf.push_audio(0, &Bytes::from_static(AAC_HEADER), 0);
    }
    let mut t = 0u64;
    while rest.len() >= 4 {
        let (kind, step) = (rest[0], u64::from(rest[1]) * 8);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]])).min(rest.len() - 4);
        let body = Bytes::copy_from_slice(&rest[4..4 + len]);
        rest = &rest[4 + len..];
        // Time mostly moves on, sometimes back (a broken publisher).
        t = if kind & 0x80 != 0 { t.saturating_sub(step) } else { t + step };
        match kind & 0x07 {
            0 | 1 | 2 => {
                let _ = ts.push_video(t, &body, t);
                let _ = cmaf.push_video(t, &body, t);
            }
            3 | 4 | 5 => {
                let _ = ts.push_audio(t, &body, t);
                let _ = cmaf.push_audio(t, &body, t);
            }
            6 => {
                ts.discontinuity();
                cmaf.discontinuity();
            }
            _ => {
                let _ = ts.playlist();
                let _ = cmaf.playlist(kind & 0x08 != 0);
            }
        }
    }
    ts.end();
    cmaf.end();
    let _ = ts.playlist();
    let _ = cmaf.playlist(false);
    let _ = cmaf.playlist(true);
});
