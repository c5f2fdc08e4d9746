//! Muxer tests: packet structure checked byte by byte, then read back by an
//! independent parser (the `mpeg2ts` crate).

use super::*;
use bytes::Bytes;
use liu_codec::avc::AvcDecoderConfigurationRecord;
use liu_codec::sample::{AudioSample, VideoSample};
use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
use mpeg2ts::ts::{ReadTsPacket, TsPacketReader, TsPayload};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22];

fn avc_config() -> VideoCodecConfig {
    VideoCodecConfig::Avc(AvcDecoderConfigurationRecord {
        profile_indication: 0x64,
        profile_compatibility: 0,
        level_indication: 0x1f,
        nal_length_size: 4,
        sps: vec![Bytes::from_static(SPS)],
        pps: vec![Bytes::from_static(PPS)],
    })
}

fn aac_config() -> AudioSpecificConfig {
    AudioSpecificConfig {
        object_type: 2,
        sampling_frequency_index: 4,
        sampling_frequency: 44_100,
        channel_configuration: 2,
        extension_object_type: None,
        extension_sampling_frequency: None,
    }
}

fn muxer(video: bool, audio: bool) -> TsMuxer {
    match TsMuxer::new(video.then(avc_config), audio.then(aac_config)) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

/// A length-prefixed frame: one slice NAL of `len` bytes (IDR when `key`).
fn frame(key: bool, len: usize, fill: u8) -> Bytes {
    let mut v = (len as u32).to_be_bytes().to_vec();
    v.push(if key { 0x65 } else { 0x41 });
    v.extend(std::iter::repeat_n(fill, len - 1));
    Bytes::from(v)
}

fn video(dts: u64, cts: i32, key: bool, len: usize) -> VideoSample {
    VideoSample {
        dts,
        cts_offset: cts,
        keyframe: key,
        data: frame(key, len, dts as u8),
    }
}

fn audio(pts: u64, len: usize) -> AudioSample {
    AudioSample {
        pts,
        data: Bytes::from(vec![pts as u8; len]),
    }
}

/// One transport packet, parsed by hand.
#[derive(Debug)]
struct Packet {
    pid: u16,
    start: bool,
    cc: u8,
    has_payload: bool,
    random_access: bool,
    pcr: Option<u64>,
}

fn packets(ts: &[u8]) -> Vec<Packet> {
    assert_eq!(ts.len() % TS_PACKET_SIZE, 0, "whole packets only");
    ts.chunks(TS_PACKET_SIZE)
        .map(|p| {
            assert_eq!(p[0], SYNC_BYTE);
            let has_af = p[3] & 0x20 != 0;
            let (mut random_access, mut pcr) = (false, None);
            if has_af && p[4] > 0 {
                random_access = p[5] & 0x40 != 0;
                if p[5] & 0x10 != 0 {
                    let b: Vec<u64> = p[6..12].iter().map(|&b| u64::from(b)).collect();
                    pcr = Some(b[0] << 25 | b[1] << 17 | b[2] << 9 | b[3] << 1 | b[4] >> 7);
                }
            }
            Packet {
                pid: u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]),
                start: p[1] & 0x40 != 0,
                cc: p[3] & 0x0f,
                has_payload: p[3] & 0x10 != 0,
                random_access,
                pcr,
            }
        })
        .collect()
}

/// Every PID's continuity counter advances by one per packet with payload.
fn assert_continuity(ps: &[Packet]) {
    let mut last = std::collections::HashMap::new();
    for p in ps.iter().filter(|p| p.has_payload) {
        if let Some(prev) = last.insert(p.pid, p.cc) {
            assert_eq!(p.cc, (prev + 1) & 0x0f, "PID {:#x}", p.pid);
        }
    }
}

/// Two segments of video and audio, as a segmenter would write them.
fn two_segments() -> (Vec<u8>, Vec<u8>) {
    let mut m = muxer(true, true);
    let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
    m.start_segment(&mut a);
    for i in 0..10u64 {
        if i == 5 {
            m.flush_audio(&mut a);
            m.start_segment(&mut b);
        }
        let out = if i < 5 { &mut a } else { &mut b };
        let ok = m.write_video(&video(i * 40, 80, i % 5 == 0, 500 + i as usize * 100), out);
        assert_eq!(ok, Ok(()));
        assert_eq!(m.write_audio(&audio(i * 40, 200), out), Ok(()));
        assert_eq!(m.write_audio(&audio(i * 40 + 20, 201), out), Ok(()));
    }
    m.flush_audio(&mut b);
    assert!(!m.has_pending_audio());
    (a.to_vec(), b.to_vec())
}

#[test]
fn segments_start_with_pat_pmt_and_keep_continuity() {
    let (a, b) = two_segments();
    for seg in [&a, &b] {
        let ps = packets(seg);
        assert_eq!((ps[0].pid, ps[1].pid), (PAT_PID, PMT_PID));
        // The first PES of the segment is the key frame, with PCR and random access.
        let first = &ps[2];
        assert_eq!(first.pid, VIDEO_PID);
        assert!(first.start && first.random_access && first.pcr.is_some());
    }
    let mut all = a.clone();
    all.extend_from_slice(&b);
    let ps = packets(&all);
    assert_continuity(&ps);
    // PCR only on the video PID, in the first packet of each video PES, and
    // random access only on key frames.
    let starts: Vec<&Packet> = ps
        .iter()
        .filter(|p| p.pid == VIDEO_PID && p.start)
        .collect();
    assert_eq!(starts.len(), 10);
    for (i, p) in starts.iter().enumerate() {
        let dts = (i as u64 * 40 + TIMESTAMP_OFFSET_MS) * 90;
        assert_eq!(p.pcr, Some(dts - PCR_DELAY_MS * 90));
        assert_eq!(p.random_access, i % 5 == 0);
    }
    assert!(
        ps.iter()
            .all(|p| p.pcr.is_none() || (p.pid == VIDEO_PID && p.start))
    );
}

/// Reads back every PES packet with `mpeg2ts`, checking PAT and PMT on the way.
fn read_back(ts: &[u8]) -> Vec<mpeg2ts::pes::PesPacket<Vec<u8>>> {
    let mut reader = TsPacketReader::new(ts);
    let mut tables = (0, 0);
    while let Ok(Some(p)) = reader.read_ts_packet() {
        match p.payload {
            Some(TsPayload::Pat(pat)) => {
                assert_eq!(pat.transport_stream_id, 1);
                assert_eq!(pat.table.len(), 1);
                assert_eq!(pat.table[0].program_num, 1);
                assert_eq!(pat.table[0].program_map_pid.as_u16(), PMT_PID);
                tables.0 += 1;
            }
            Some(TsPayload::Pmt(pmt)) => {
                let es: Vec<(u8, u16)> = pmt
                    .es_info
                    .iter()
                    .map(|e| (e.stream_type as u8, e.elementary_pid.as_u16()))
                    .collect();
                assert_eq!(es, [(0x1b, VIDEO_PID), (0x0f, AUDIO_PID)]);
                assert_eq!(pmt.pcr_pid.map(|p| p.as_u16()), Some(VIDEO_PID));
                tables.1 += 1;
            }
            _ => {}
        }
    }
    assert_eq!(tables, (2, 2));
    let mut reader = PesPacketReader::new(TsPacketReader::new(ts));
    let mut out = Vec::new();
    loop {
        match reader.read_pes_packet() {
            Ok(Some(p)) => out.push(p),
            Ok(None) => break,
            Err(e) => panic!("mpeg2ts: {e}"),
        }
    }
    out
}

#[test]
fn mpeg2ts_reads_back_pes_and_timestamps() {
    let (mut all, b) = two_segments();
    all.extend_from_slice(&b);
    let pes = read_back(&all);
    let (videos, audios): (Vec<_>, Vec<_>) =
        pes.iter().partition(|p| p.header.stream_id.is_video());
    assert_eq!(videos.len(), 10);
    for (i, p) in videos.iter().enumerate() {
        let i = i as u64;
        assert_eq!(p.header.stream_id.as_u8(), 0xe0);
        let dts = (i * 40 + TIMESTAMP_OFFSET_MS) * 90;
        assert_eq!(p.header.dts.map(|t| t.as_u64()), Some(dts));
        assert_eq!(p.header.pts.map(|t| t.as_u64()), Some(dts + 80 * 90));
        // AUD, SPS and PPS before the key frames, then the slice.
        let key = i.is_multiple_of(5);
        let mut want = vec![0, 0, 0, 1, 0x09, 0xf0];
        if key {
            want.extend_from_slice(&[0, 0, 0, 1]);
            want.extend_from_slice(SPS);
            want.extend_from_slice(&[0, 0, 0, 1]);
            want.extend_from_slice(PPS);
        }
        want.extend_from_slice(&[0, 0, 0, 1]);
        want.extend_from_slice(&frame(key, 500 + i as usize * 100, (i * 40) as u8)[4..]);
        assert_eq!(p.data, want, "frame {i}");
    }
    // Audio frames every 20 ms: 100 ms per PES gives five per packet.
    let ptss: Vec<u64> = audios
        .iter()
        .filter_map(|p| p.header.pts.map(|t| t.as_u64()))
        .collect();
    let want: Vec<u64> = [0, 100, 200, 300]
        .iter()
        .map(|ms| (ms + TIMESTAMP_OFFSET_MS) * 90)
        .collect();
    assert_eq!(ptss, want);
    for p in &audios {
        assert_eq!(p.header.stream_id.as_u8(), 0xc0);
        assert_eq!(p.header.dts, None);
        // Five ADTS frames of 200 or 201 bytes, each with a 7-byte header.
        let mut rest = &p.data[..];
        let mut frames = 0;
        while !rest.is_empty() {
            assert_eq!(&rest[..2], &[0xff, 0xf1]);
            let len = usize::from(rest[3] & 0x03) << 11
                | usize::from(rest[4]) << 3
                | usize::from(rest[5] >> 5);
            assert!(len == 207 || len == 208, "{len}");
            rest = &rest[len..];
            frames += 1;
        }
        assert_eq!(frames, 5);
    }
}

#[test]
fn audio_only_has_pcr_and_random_access_on_audio() {
    let mut m = muxer(false, true);
    let mut out = BytesMut::new();
    m.start_segment(&mut out);
    for i in 0..12u64 {
        assert_eq!(m.write_audio(&audio(i * 23, 300), &mut out), Ok(()));
    }
    m.flush_audio(&mut out);
    let ps = packets(&out);
    assert_continuity(&ps);
    let starts: Vec<&Packet> = ps
        .iter()
        .filter(|p| p.pid == AUDIO_PID && p.start)
        .collect();
    // 23 ms frames: 0..92 in the first packet, 115..207 in the second, 230..253 last.
    assert_eq!(starts.len(), 3);
    let pcrs: Vec<Option<u64>> = starts.iter().map(|p| p.pcr).collect();
    let want: Vec<Option<u64>> = [0u64, 115, 230]
        .iter()
        .map(|ms| Some((ms + TIMESTAMP_OFFSET_MS - PCR_DELAY_MS) * 90))
        .collect();
    assert_eq!(pcrs, want);
    assert!(starts.iter().all(|p| p.random_access));
    // The PMT names the audio PID as PCR PID.
    let mut reader = TsPacketReader::new(&out[..]);
    let mut pcr_pid = None;
    while let Ok(Some(p)) = reader.read_ts_packet() {
        if let Some(TsPayload::Pmt(pmt)) = p.payload {
            pcr_pid = pmt.pcr_pid.map(|p| p.as_u16());
            assert_eq!(pmt.es_info.len(), 1);
        }
    }
    assert_eq!(pcr_pid, Some(AUDIO_PID));
}

#[test]
fn audio_byte_budget_and_backward_jump_flush() {
    let mut m = muxer(false, true);
    let mut out = BytesMut::new();
    // 1500-byte frames 1 ms apart: two fit the budget, the third starts a new PES.
    for i in 0..3 {
        assert_eq!(m.write_audio(&audio(i, 1500), &mut out), Ok(()));
    }
    let pes_count = |out: &BytesMut| {
        packets(out)
            .iter()
            .filter(|p| p.pid == AUDIO_PID && p.start)
            .count()
    };
    assert_eq!(pes_count(&out), 1);
    // PAT and PMT were written implicitly first.
    assert_eq!(packets(&out)[0].pid, PAT_PID);
    // A time jump backwards flushes too.
    assert_eq!(m.write_audio(&audio(0, 10), &mut out), Ok(()));
    assert_eq!(pes_count(&out), 2);
    assert!(m.has_pending_audio());
    m.flush_audio(&mut out);
    assert_eq!(pes_count(&out), 3);
    m.flush_audio(&mut out);
    assert_eq!(pes_count(&out), 3);
}

#[test]
fn timestamps_wrap_at_33_bits_and_negative_cts_is_clamped() {
    let mut m = muxer(true, false);
    let mut out = BytesMut::new();
    // 2^33 ticks is 95443717.69 ms: this DTS wraps to a small value.
    let dts_ms = (1u64 << 33) / 90 + 1 - TIMESTAMP_OFFSET_MS;
    assert_eq!(
        m.write_video(&video(dts_ms, 1000, true, 10), &mut out),
        Ok(())
    );
    assert_eq!(
        m.write_video(&video(dts_ms + 40, -40, false, 10), &mut out),
        Ok(())
    );
    let mask = (1u64 << 33) - 1;
    let dts0 = ((dts_ms + TIMESTAMP_OFFSET_MS) * 90) & mask;
    assert!(dts0 < 90);
    let pes = {
        let mut r = PesPacketReader::new(TsPacketReader::new(&out[..]));
        let mut v = Vec::new();
        while let Ok(Some(p)) = r.read_pes_packet() {
            v.push(p);
        }
        v
    };
    let times: Vec<(Option<u64>, Option<u64>)> = pes
        .iter()
        .map(|p| {
            (
                p.header.pts.map(|t| t.as_u64()),
                p.header.dts.map(|t| t.as_u64()),
            )
        })
        .collect();
    // Second frame: PTS = DTS, so only the PTS is written.
    assert_eq!(
        times,
        [(Some(dts0 + 90_000), Some(dts0)), (Some(dts0 + 3600), None)]
    );
    let pcr = packets(&out).iter().find_map(|p| p.pcr);
    assert_eq!(pcr, Some((dts0 + (1 << 33) - PCR_DELAY_MS * 90) & mask));
}

#[test]
fn input_errors_write_nothing() {
    let mut m = muxer(true, true);
    let mut out = BytesMut::new();
    let mut bad = video(0, 0, true, 10);
    bad.data = Bytes::from_static(&[0, 0, 0, 9, 0x65]);
    assert!(matches!(
        m.write_video(&bad, &mut out),
        Err(HlsError::BadNalLength { .. })
    ));
    bad.data = Bytes::new();
    assert_eq!(
        m.write_video(&bad, &mut out),
        Err(HlsError::EmptySample("video"))
    );
    assert_eq!(
        m.write_audio(&audio(0, 0), &mut out),
        Err(HlsError::EmptySample("audio"))
    );
    assert_eq!(
        m.write_audio(&audio(0, 9000), &mut out),
        Err(HlsError::AudioFrameTooLarge(9000))
    );
    assert!(out.is_empty());
    assert!(!m.has_pending_audio());
    let mut v = muxer(true, false);
    assert_eq!(
        v.write_audio(&audio(0, 10), &mut out),
        Err(HlsError::NoSuchStream("audio"))
    );
    let mut a = muxer(false, true);
    assert_eq!(
        a.write_video(&video(0, 0, true, 10), &mut out),
        Err(HlsError::NoSuchStream("video"))
    );
    assert_eq!(
        a.set_video_config(avc_config()),
        Err(HlsError::NoSuchStream("video"))
    );
    assert_eq!(
        TsMuxer::new(None, None).map(|_| ()),
        Err(HlsError::NoStreams)
    );
    let mut he = aac_config();
    he.channel_configuration = 0;
    assert!(matches!(
        TsMuxer::new(None, Some(he)),
        Err(HlsError::UnsupportedAudioConfig(_))
    ));
}

#[test]
fn new_video_config_is_used_at_the_next_key_frame() {
    let mut m = muxer(true, false);
    let new_sps: &[u8] = &[0x67, 0x42, 0xc0, 0x1e];
    let config = VideoCodecConfig::Avc(AvcDecoderConfigurationRecord {
        profile_indication: 0x42,
        profile_compatibility: 0xc0,
        level_indication: 0x1e,
        nal_length_size: 2,
        sps: vec![Bytes::from_static(new_sps)],
        pps: vec![Bytes::from_static(PPS)],
    });
    assert_eq!(m.set_video_config(config), Ok(()));
    let mut out = BytesMut::new();
    let sample = VideoSample {
        dts: 0,
        cts_offset: 0,
        keyframe: true,
        data: Bytes::from_static(&[0, 2, 0x65, 0x88]),
    };
    assert_eq!(m.write_video(&sample, &mut out), Ok(()));
    let mut r = PesPacketReader::new(TsPacketReader::new(&out[..]));
    let data = match r.read_pes_packet() {
        Ok(Some(p)) => p.data,
        other => panic!("{other:?}"),
    };
    let mut want = vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1];
    want.extend_from_slice(new_sps);
    want.extend_from_slice(&[0, 0, 0, 1]);
    want.extend_from_slice(PPS);
    want.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
    assert_eq!(data, want);
}

proptest! {
    /// Arbitrary bytes as AVCC data (any NAL length size, any flags and times)
    /// never panic; what is written is whole packets.
    #[test]
    fn arbitrary_video_data_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        nal_length_size in 0u8..6,
        dts in any::<u64>(),
        cts in any::<i32>(),
        keyframe in any::<bool>(),
        audio_data in proptest::collection::vec(any::<u8>(), 0..300),
        pts in any::<u64>(),
    ) {
        let config = VideoCodecConfig::Avc(AvcDecoderConfigurationRecord {
            profile_indication: 0x64,
            profile_compatibility: 0,
            level_indication: 0x1f,
            nal_length_size,
            sps: vec![Bytes::from_static(SPS)],
            pps: vec![Bytes::from_static(PPS)],
        });
        let Ok(mut m) = TsMuxer::new(Some(config), Some(aac_config())) else {
            prop_assert!(!(1..=4).contains(&nal_length_size));
            return Ok(());
        };
        let mut out = BytesMut::new();
        let sample = VideoSample { dts, cts_offset: cts, keyframe, data: Bytes::from(data) };
        let _ = m.write_video(&sample, &mut out);
        let _ = m.write_audio(&AudioSample { pts, data: Bytes::from(audio_data) }, &mut out);
        m.flush_audio(&mut out);
        prop_assert_eq!(out.len() % TS_PACKET_SIZE, 0);
        prop_assert!(out.chunks(TS_PACKET_SIZE).all(|p| p[0] == SYNC_BYTE));
    }
}

proptest! {
    /// Well-formed AVCC with arbitrary NAL unit contents is always muxed, and
    /// the independent parser reads the access unit back.
    #[test]
    fn well_formed_avcc_round_trips(
        nals in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..400), 1..5),
        dts in 0u64..1 << 40,
        cts in 0i32..10_000,
        keyframe in any::<bool>(),
    ) {
        let mut data = Vec::new();
        for n in &nals {
            data.extend_from_slice(&(n.len() as u32).to_be_bytes());
            data.extend_from_slice(n);
        }
        let mut m = muxer(true, false);
        let mut out = BytesMut::new();
        let sample = VideoSample { dts, cts_offset: cts, keyframe, data: Bytes::from(data) };
        prop_assert_eq!(m.write_video(&sample, &mut out), Ok(()));
        prop_assert_eq!(out.len() % TS_PACKET_SIZE, 0);
        let mut r = PesPacketReader::new(TsPacketReader::new(&out[..]));
        let pes = match r.read_pes_packet() {
            Ok(Some(p)) => p,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        // The frame's own delimiter when it comes first, else a generated one.
        let mut aud = vec![0, 0, 0, 1];
        if nals[0][0] & 0x1f == 9 {
            aud.extend_from_slice(&nals[0]);
        } else {
            aud.extend_from_slice(&[0x09, 0xf0]);
        }
        prop_assert!(pes.data.starts_with(&aud));
        let last = nals.iter().rev().find(|n| n[0] & 0x1f != 9);
        if let Some(last) = last {
            prop_assert!(pes.data.ends_with(last));
        }
        let dts_ticks = ((dts + TIMESTAMP_OFFSET_MS) * 90) & MASK_33;
        let pts_ticks = (dts_ticks + cts as u64 * 90) & MASK_33;
        prop_assert_eq!(pes.header.pts.map(|t| t.as_u64()), Some(pts_ticks));
        let want_dts = (pts_ticks != dts_ticks).then_some(dts_ticks);
        prop_assert_eq!(pes.header.dts.map(|t| t.as_u64()), want_dts);
    }
}
