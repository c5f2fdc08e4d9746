//! Writer tests: every output is split into boxes by the test walker (sizes
//! must add up), then fields are checked byte by byte. Initialization
//! sections here, movie fragments in [`fragment`].

mod fragment;

use super::walk::{Node, fourcc, u16_at, u32_at, walk};
use super::*;
use bytes::{Bytes, BytesMut};
use liu_codec::avc::AvcDecoderConfigurationRecord;
use liu_codec::sample::{AudioCodecConfig, AudioSpecificConfig};
use proptest::prelude::*;

/// x264's SPS for 320x240 (High, level 1.3) and a PPS.
const SPS_320X240: &[u8] = &[
    0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
    0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
];
/// x264's SPS for 1920x1080 (High, level 4.0; 1088 lines cropped to 1080).
const SPS_1080P: &[u8] = &[
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03,
    0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc6, 0x58,
];
/// x264's SPS for 176x144 in the Baseline profile.
const SPS_BASELINE: &[u8] = &[
    0x67, 0x42, 0xc0, 0x0b, 0xd9, 0x02, 0xc4, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00,
    0x00, 0x0c, 0x83, 0xc5, 0x0a, 0x92,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22];

fn record(sps: &[u8]) -> AvcDecoderConfigurationRecord {
    AvcDecoderConfigurationRecord {
        profile_indication: sps[1],
        profile_compatibility: sps[2],
        level_indication: sps[3],
        nal_length_size: 4,
        sps: vec![Bytes::copy_from_slice(sps)],
        pps: vec![Bytes::from_static(PPS)],
    }
}

fn avc(sps: &[u8]) -> VideoCodecConfig {
    VideoCodecConfig::Avc(record(sps))
}

fn aac(rate: u32, index: u8, channels: u8) -> AudioSpecificConfig {
    AudioSpecificConfig {
        object_type: 2,
        sampling_frequency_index: index,
        sampling_frequency: rate,
        channel_configuration: channels,
        extension_object_type: None,
        extension_sampling_frequency: None,
    }
}

fn init(video: Option<&VideoCodecConfig>, audio: Option<&AudioSpecificConfig>) -> BytesMut {
    let audio = audio.map(|a| AudioCodecConfig::Aac(*a));
    let mut out = BytesMut::new();
    write_init(video, audio.as_ref(), &mut out).unwrap_or_else(|e| panic!("{e}"));
    out
}

fn boxes(data: &[u8]) -> Vec<Node> {
    walk(data).unwrap_or_else(|e| panic!("{e}"))
}

/// The `ftyp` and `moov` of an initialization section.
fn ftyp_moov(data: &[u8]) -> (Node, Node) {
    let top = boxes(data);
    let kinds: Vec<String> = top.iter().map(|n| fourcc(&n.kind)).collect();
    assert_eq!(kinds, ["ftyp", "moov"]);
    (top[0].clone(), top[1].clone())
}

fn brands(data: &[u8], ftyp: &Node) -> Vec<String> {
    ftyp.content(data)
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// Checks the parts every track shares; returns the sample entry.
fn check_trak(data: &[u8], trak: &Node, id: u32, handler: &[u8; 4], timescale: u32) -> Node {
    assert_eq!(trak.kinds(), ["tkhd", "mdia"]);
    let tkhd = trak.child(b"tkhd").content(data);
    assert_eq!(tkhd.len(), 84, "tkhd version 0");
    assert_eq!(u32_at(tkhd, 0), 3, "version 0, enabled | in movie");
    assert_eq!(u32_at(tkhd, 12), id);
    let mdia = trak.child(b"mdia");
    assert_eq!(mdia.kinds(), ["mdhd", "hdlr", "minf"]);
    let mdhd = mdia.child(b"mdhd").content(data);
    assert_eq!(mdhd.len(), 24);
    assert_eq!(u32_at(mdhd, 12), timescale);
    assert_eq!(u16_at(mdhd, 20), 0x55c4, "und");
    let hdlr = mdia.child(b"hdlr").content(data);
    assert_eq!(&hdlr[8..12], handler);
    assert_eq!(hdlr.last(), Some(&0), "null-terminated name");
    let minf = mdia.child(b"minf");
    let dref = minf.at(&[b"dinf", b"dref"]);
    assert_eq!(u32_at(dref.content(data), 4), 1);
    assert_eq!(dref.kinds(), ["url "]);
    assert_eq!(dref.child(b"url ").content(data), [0, 0, 0, 1]);
    let stbl = minf.child(b"stbl");
    assert_eq!(stbl.kinds(), ["stsd", "stts", "stsc", "stco", "stsz"]);
    for kind in [b"stts", b"stsc", b"stco"] {
        assert_eq!(stbl.child(kind).content(data), [0; 8], "{}", fourcc(kind));
    }
    assert_eq!(stbl.child(b"stsz").content(data), [0; 12]);
    let stsd = stbl.child(b"stsd");
    assert_eq!(u32_at(stsd.content(data), 4), 1, "entry_count");
    assert_eq!(stsd.children.len(), 1);
    let entry = stsd.children[0].clone();
    assert_eq!(&entry.content(data)[..8], [0, 0, 0, 0, 0, 0, 0, 1]);
    entry
}

/// The `trex` boxes of the `mvex`: (track, description index, default flags).
fn trexes(data: &[u8], moov: &Node) -> Vec<(u32, u32, u32)> {
    let mvex = moov.child(b"mvex");
    mvex.children
        .iter()
        .map(|t| {
            assert_eq!(&t.kind, b"trex");
            let c = t.content(data);
            assert_eq!(c.len(), 24);
            assert_eq!((u32_at(c, 12), u32_at(c, 16)), (0, 0));
            (u32_at(c, 4), u32_at(c, 8), u32_at(c, 20))
        })
        .collect()
}

#[test]
fn init_video_only() {
    let config = avc(SPS_1080P);
    let out = init(Some(&config), None);
    let (ftyp, moov) = ftyp_moov(&out);
    assert_eq!(
        brands(&out, &ftyp),
        ["iso6", "\0\0\0\0", "iso6", "cmfc", "mp41"]
    );
    assert_eq!(moov.kinds(), ["mvhd", "trak", "mvex"]);
    let mvhd = moov.child(b"mvhd").content(&out);
    assert_eq!(mvhd.len(), 100, "mvhd version 0");
    assert_eq!(u32_at(mvhd, 12), 1_000);
    assert_eq!(u32_at(mvhd, 96), 2, "next_track_ID");
    let trak = moov.child(b"trak");
    let avc1 = check_trak(&out, trak, VIDEO_TRACK_ID, b"vide", 90_000);
    let tkhd = trak.child(b"tkhd").content(&out);
    assert_eq!(u16_at(tkhd, 36), 0, "volume");
    assert_eq!(u32_at(tkhd, 76), 1920 << 16);
    assert_eq!(u32_at(tkhd, 80), 1080 << 16);
    let vmhd = trak.at(&[b"mdia", b"minf", b"vmhd"]).content(&out);
    assert_eq!(vmhd, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&avc1.kind, b"avc1");
    let fields = avc1.content(&out);
    assert_eq!((u16_at(fields, 24), u16_at(fields, 26)), (1920, 1080));
    assert_eq!(u32_at(fields, 28), 0x0048_0000);
    assert_eq!(u16_at(fields, 40), 1, "frame_count");
    assert_eq!(&fields[74..78], [0x00, 0x18, 0xff, 0xff]);
    assert_eq!(avc1.kinds(), ["avcC"]);
    let mut want = record(SPS_1080P).encode();
    want.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0]); // 4:2:0, 8 bits, no SPS ext
    assert_eq!(avc1.child(b"avcC").content(&out), &want[..]);
    assert_eq!(
        trexes(&out, &moov),
        [(VIDEO_TRACK_ID, 1, SAMPLE_FLAGS_NON_SYNC)]
    );
}

#[test]
fn init_audio_only() {
    let config = aac(44_100, 4, 2);
    let out = init(None, Some(&config));
    let (ftyp, moov) = ftyp_moov(&out);
    assert_eq!(
        brands(&out, &ftyp),
        ["iso6", "\0\0\0\0", "iso6", "cmfc", "mp41"]
    );
    assert_eq!(moov.kinds(), ["mvhd", "trak", "mvex"]);
    assert_eq!(u32_at(moov.child(b"mvhd").content(&out), 96), 3);
    let trak = moov.child(b"trak");
    let mp4a = check_trak(&out, trak, AUDIO_TRACK_ID, b"soun", 44_100);
    let tkhd = trak.child(b"tkhd").content(&out);
    assert_eq!(u16_at(tkhd, 36), 0x0100, "volume");
    assert_eq!((u32_at(tkhd, 76), u32_at(tkhd, 80)), (0, 0));
    let smhd = trak.at(&[b"mdia", b"minf", b"smhd"]).content(&out);
    assert_eq!(smhd, [0; 8]);
    assert_eq!(&mp4a.kind, b"mp4a");
    let fields = mp4a.content(&out);
    assert_eq!(u16_at(fields, 16), 2, "channelcount");
    assert_eq!(u16_at(fields, 18), 16, "samplesize");
    assert_eq!(u32_at(fields, 24), 44_100 << 16);
    assert_eq!(mp4a.kinds(), ["esds"]);
    let esds = mp4a.child(b"esds").content(&out);
    let asc = config.encode();
    assert_eq!(asc, [0x12, 0x10]);
    #[rustfmt::skip]
    let want = [
        0, 0, 0, 0, // version, flags
        0x03, 25, 0, 0, 0, // ES_Descriptor, ES_ID 0, no flags
        0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // DecoderConfigDescriptor
        0x05, 2, 0x12, 0x10, // DecoderSpecificInfo: the AudioSpecificConfig
        0x06, 1, 0x02, // SLConfigDescriptor, predefined MP4
    ];
    assert_eq!(esds, want);
    assert_eq!(
        trexes(&out, &moov),
        [(AUDIO_TRACK_ID, 1, SAMPLE_FLAGS_SYNC)]
    );
}

#[test]
fn init_video_and_audio() {
    let (v, a) = (avc(SPS_320X240), aac(48_000, 3, 1));
    let out = init(Some(&v), Some(&a));
    let (ftyp, moov) = ftyp_moov(&out);
    assert_eq!(brands(&out, &ftyp), ["iso6", "\0\0\0\0", "iso6", "mp41"]);
    assert_eq!(moov.kinds(), ["mvhd", "trak", "trak", "mvex"]);
    assert_eq!(u32_at(moov.child(b"mvhd").content(&out), 96), 3);
    let video = &moov.children[1];
    let audio = &moov.children[2];
    let avc1 = check_trak(&out, video, VIDEO_TRACK_ID, b"vide", VIDEO_TIMESCALE);
    let tkhd = video.child(b"tkhd").content(&out);
    assert_eq!((u32_at(tkhd, 76), u32_at(tkhd, 80)), (320 << 16, 240 << 16));
    assert_eq!(
        (
            u16_at(avc1.content(&out), 24),
            u16_at(avc1.content(&out), 26)
        ),
        (320, 240)
    );
    let mp4a = check_trak(&out, audio, AUDIO_TRACK_ID, b"soun", 48_000);
    assert_eq!(u16_at(mp4a.content(&out), 16), 1);
    assert_eq!(u32_at(mp4a.content(&out), 24), 48_000 << 16);
    assert_eq!(
        trexes(&out, &moov),
        [
            (VIDEO_TRACK_ID, 1, SAMPLE_FLAGS_NON_SYNC),
            (AUDIO_TRACK_ID, 1, SAMPLE_FLAGS_SYNC)
        ]
    );
}

#[test]
fn init_details() {
    // Baseline: no avcC extension; the record is written as encoded.
    let out = init(Some(&avc(SPS_BASELINE)), None);
    let (_, moov) = ftyp_moov(&out);
    let avc1 = moov.at(&[b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1"]);
    assert_eq!(
        avc1.child(b"avcC").content(&out),
        &record(SPS_BASELINE).encode()[..]
    );
    assert_eq!(
        (
            u16_at(avc1.content(&out), 24),
            u16_at(avc1.content(&out), 26)
        ),
        (176, 144)
    );
    // 96 kHz does not fit the 16.16 samplerate: 0 there, exact in the mdhd.
    let out = init(None, Some(&aac(96_000, 0, 6)));
    let (_, moov) = ftyp_moov(&out);
    let mdia = moov.at(&[b"trak", b"mdia"]);
    assert_eq!(u32_at(mdia.child(b"mdhd").content(&out), 12), 96_000);
    let mp4a = mdia.at(&[b"minf", b"stbl", b"stsd", b"mp4a"]).content(&out);
    assert_eq!((u16_at(mp4a, 16), u32_at(mp4a, 24)), (6, 0));
    // Channel configuration 7 is 7.1: eight channels.
    let out = init(None, Some(&aac(48_000, 3, 7)));
    let (_, moov) = ftyp_moov(&out);
    let mp4a = moov.at(&[b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4a"]);
    assert_eq!(u16_at(mp4a.content(&out), 16), 8);
    // Appends after what the buffer already holds.
    let mut out = BytesMut::from(&b"prefix"[..]);
    let audio = AudioCodecConfig::Aac(aac(48_000, 3, 2));
    assert_eq!(write_init(None, Some(&audio), &mut out), Ok(()));
    assert_eq!(&out[..6], b"prefix");
    ftyp_moov(&out[6..]);
}

#[test]
fn init_errors_write_nothing() {
    let bad = |video: Option<VideoCodecConfig>, audio: Option<AudioSpecificConfig>| {
        let audio = audio.map(AudioCodecConfig::Aac);
        let mut out = BytesMut::from(&b"keep"[..]);
        let r = write_init(video.as_ref(), audio.as_ref(), &mut out);
        assert_eq!(&out[..], b"keep", "{r:?}");
        r
    };
    assert_eq!(bad(None, None), Err(HlsError::NoStreams));
    for n in [0, 5] {
        let mut r = record(SPS_320X240);
        r.nal_length_size = n;
        let audio = Some(aac(44_100, 4, 2));
        assert_eq!(
            bad(Some(VideoCodecConfig::Avc(r)), audio),
            Err(HlsError::BadNalLengthSize(n))
        );
    }
    let mut r = record(SPS_320X240);
    r.sps = vec![Bytes::new()];
    assert!(matches!(
        bad(Some(VideoCodecConfig::Avc(r)), None),
        Err(HlsError::Sps(_))
    ));
    let mut r = record(SPS_320X240);
    r.sps = vec![Bytes::from_static(&SPS_320X240[..6])];
    assert!(matches!(
        bad(Some(VideoCodecConfig::Avc(r)), None),
        Err(HlsError::Sps(_))
    ));
    for config in [
        AudioSpecificConfig {
            object_type: 42,
            ..aac(44_100, 4, 2)
        },
        aac(0, 15, 2),
        aac(44_100, 4, 0),
        aac(44_100, 4, 9),
    ] {
        assert!(
            matches!(
                bad(Some(avc(SPS_320X240)), Some(config)),
                Err(HlsError::UnsupportedAudioConfig(_))
            ),
            "{config:?}"
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_configs_never_panic(
        sps in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..32),
            Just(SPS_1080P[1..].to_vec()),
            Just(SPS_BASELINE[1..].to_vec()),
        ],
        nal_length_size in 0u8..6,
        profile in any::<u8>(),
        object_type in 0u8..8,
        index in 0u8..16,
        rate in any::<u32>(),
        channels in 0u8..16,
        video in any::<bool>(),
        audio in any::<bool>(),
    ) {
        let mut sps_nal = vec![0x67];
        sps_nal.extend(sps);
        let v = VideoCodecConfig::Avc(AvcDecoderConfigurationRecord {
            profile_indication: profile,
            profile_compatibility: 0,
            level_indication: 30,
            nal_length_size,
            sps: vec![Bytes::from(sps_nal)],
            pps: vec![Bytes::from_static(PPS)],
        });
        let a = AudioCodecConfig::Aac(AudioSpecificConfig {
            object_type,
            sampling_frequency_index: index,
            sampling_frequency: rate,
            channel_configuration: channels,
            extension_object_type: None,
            extension_sampling_frequency: None,
        });
        let mut out = BytesMut::new();
        let r = write_init(video.then_some(&v), audio.then_some(&a), &mut out);
        if r.is_ok() {
            ftyp_moov(&out);
        } else {
            prop_assert!(out.is_empty());
        }
    }
}
