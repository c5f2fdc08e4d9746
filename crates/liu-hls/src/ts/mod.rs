//! MPEG-2 transport stream muxer (ISO/IEC 13818-1) for HLS TS segments
//! (RFC 8216 §3.2): H.264 and AAC (ADTS) in one program.
//!
//! Layout of the stream:
//! - One program (RFC 8216 §3.2 defines no other), with PAT on PID 0 and PMT
//!   on [`PMT_PID`] as the first two packets of every segment
//!   ([`TsMuxer::start_segment`], RFC 8216 §3.2).
//! - Video on [`VIDEO_PID`] (`stream_id` 0xE0, `PES_packet_length` 0), one
//!   access unit per PES packet, in Annex B form with an access unit delimiter
//!   and SPS/PPS before each key frame.
//! - Audio on [`AUDIO_PID`] (`stream_id` 0xC0): ADTS frames, several per PES
//!   packet (see [`TsMuxer::write_audio`]).
//! - PCR on the video PID (the audio PID when there is no video), in the first
//!   transport packet of every PES packet of that PID (§2.4.3.5), so every
//!   segment has one and the PCR interval is the frame interval (within the
//!   100 ms of §2.7.2 from 10 fps up; no PCR-only packets are inserted).
//!
//! Time: a sample at `t` ms gets the 90 kHz timestamp
//! `(t + TIMESTAMP_OFFSET_MS) × 90` modulo 2^33, and the PCR of a PES packet is
//! its DTS (audio: PTS) minus [`PCR_DELAY_MS`]: timestamps never go negative
//! and the PCR stays at least 700 ms before the DTS it announces, which also
//! covers audio that lags video in the input or waits in a pending PES.

mod adts;
mod annexb;
mod packet;
mod pes;
mod psi;
#[cfg(test)]
mod tests;

pub use packet::{SYNC_BYTE, TS_PACKET_SIZE};

use crate::error::HlsError;
use adts::{ADTS_HEADER_LEN, Adts};
use annexb::{NalCodec, NalParams};
use bytes::BytesMut;
use liu_codec::sample::{AudioSample, AudioSpecificConfig, VideoCodecConfig, VideoSample};
use packet::{Continuity, FirstPacket, MASK_33};
use pes::{PesHeader, STREAM_ID_AUDIO, STREAM_ID_VIDEO};
use psi::{EsEntry, Section};

/// PID of the program association table (§2.4.4.3).
pub const PAT_PID: u16 = 0x0000;
/// PID of the program map table (the value FFmpeg uses too).
pub const PMT_PID: u16 = 0x1000;
/// PID of the video elementary stream.
pub const VIDEO_PID: u16 = 0x0100;
/// PID of the audio elementary stream.
pub const AUDIO_PID: u16 = 0x0101;
/// `stream_type` of H.264 (ISO/IEC 13818-1 Table 2-34).
pub const STREAM_TYPE_H264: u8 = 0x1b;
/// `stream_type` of HEVC (ISO/IEC 13818-1 Table 2-34).
pub const STREAM_TYPE_HEVC: u8 = 0x24;
/// `stream_type` of AAC in ADTS (ISO/IEC 13818-7 audio with ADTS transport syntax).
pub const STREAM_TYPE_ADTS_AAC: u8 = 0x0f;

/// Added to every sample time before conversion to 90 kHz (FFmpeg's TS output
/// starts at 1.4 s too). It keeps PTS, DTS and PCR positive from time 0.
pub const TIMESTAMP_OFFSET_MS: u64 = 1_400;
/// The PCR of a PES packet is its DTS minus this (FFmpeg's default `muxdelay`).
pub const PCR_DELAY_MS: u64 = 700;
/// An audio PES packet spans less than this: a frame whose PTS is this far
/// from the first pending frame's (or earlier than it) starts a new packet.
pub const AUDIO_PES_MAX_MS: u64 = 100;
/// An audio frame that would take the pending ADTS data past this many bytes
/// starts a new PES packet.
pub const AUDIO_PES_MAX_BYTES: usize = 4096;

/// The video stream.
#[derive(Debug)]
struct Video {
    params: NalParams,
    stream_type: u8,
    cc: Continuity,
}

/// The audio stream and its pending PES payload.
#[derive(Debug)]
struct Audio {
    adts: Adts,
    cc: Continuity,
    /// ADTS frames waiting for their PES packet.
    pending: Vec<u8>,
    /// PTS in ms of the first pending frame.
    pending_pts: u64,
}

/// A sans-IO MPEG-TS muxer for one program with at most one video and one
/// audio stream. Every method appends whole 188-byte transport packets to the
/// caller's buffer; continuity counters run on across segments.
///
/// A segmenter calls, for each segment: [`start_segment`](Self::start_segment),
/// then [`write_video`](Self::write_video) / [`write_audio`](Self::write_audio)
/// in input order, then [`flush_audio`](Self::flush_audio) before cutting.
/// Samples must come in decoding order with non-decreasing times per stream;
/// a timestamp jump backwards is muxed as it is (the PCR follows it), so the
/// segmenter should start a new segment with a discontinuity there.
#[derive(Debug)]
pub struct TsMuxer {
    video: Option<Video>,
    audio: Option<Audio>,
    pat: Section,
    pmt: Section,
    pmt_version: u8,
    pat_cc: Continuity,
    pmt_cc: Continuity,
    /// Reused buffer for one Annex B access unit.
    scratch: Vec<u8>,
    /// Whether PAT and PMT were written at least once.
    started: bool,
}

impl TsMuxer {
    /// A muxer for the given streams; at least one is needed.
    ///
    /// Errors: no stream, an `avcC` NAL length size other than 1-4, or an audio
    /// configuration ADTS cannot carry (object type above 4, explicit sampling
    /// frequency, channel configuration 0).
    pub fn new(
        video: Option<VideoCodecConfig>,
        audio: Option<AudioSpecificConfig>,
    ) -> Result<TsMuxer, HlsError> {
        if video.is_none() && audio.is_none() {
            return Err(HlsError::NoStreams);
        }
        let video = match video {
            Some(config) => {
                let (params, stream_type) = video_params(&config)?;
                Some(Video {
                    params,
                    stream_type,
                    cc: Continuity::default(),
                })
            }
            None => None,
        };
        let audio = match audio {
            Some(config) => Some(Audio {
                adts: Adts::new(&config)?,
                cc: Continuity::default(),
                pending: Vec::new(),
                pending_pts: 0,
            }),
            None => None,
        };
        let pmt = build_pmt(video.as_ref(), audio.is_some(), 0);
        Ok(TsMuxer {
            video,
            audio,
            pat: psi::pat(PMT_PID),
            pmt,
            pmt_version: 0,
            pat_cc: Continuity::default(),
            pmt_cc: Continuity::default(),
            scratch: Vec::new(),
            started: false,
        })
    }

    /// Continues where `previous` (the muxer before a discontinuity) left
    /// off: continuity counters run on, so a demuxer reading both sees no
    /// lost packets (§2.4.3.3), and a changed PMT gets the next version.
    pub fn continue_from(&mut self, previous: &TsMuxer) {
        self.pat_cc = previous.pat_cc;
        self.pmt_cc = previous.pmt_cc;
        if let (Some(v), Some(p)) = (self.video.as_mut(), previous.video.as_ref()) {
            v.cc = p.cc;
        }
        if let (Some(a), Some(p)) = (self.audio.as_mut(), previous.audio.as_ref()) {
            a.cc = p.cc;
        }
        let same = build_pmt(
            self.video.as_ref(),
            self.audio.is_some(),
            previous.pmt_version,
        );
        self.pmt_version = if same.bytes() == previous.pmt.bytes() {
            previous.pmt_version
        } else {
            (previous.pmt_version + 1) & 0x1f
        };
        self.pmt = build_pmt(self.video.as_ref(), self.audio.is_some(), self.pmt_version);
    }

    /// Replaces the video configuration, e.g. after a new sequence header.
    ///
    /// The new parameter sets go before the next key frames. If the stream
    /// type changes, the PMT's `version_number` is incremented (§2.4.4.9) and
    /// the new PMT is written by the next [`start_segment`](Self::start_segment).
    pub fn set_video_config(&mut self, config: VideoCodecConfig) -> Result<(), HlsError> {
        let (params, stream_type) = video_params(&config)?;
        let video = self.video.as_mut().ok_or(HlsError::NoSuchStream("video"))?;
        video.params = params;
        if video.stream_type != stream_type {
            video.stream_type = stream_type;
            self.pmt_version = (self.pmt_version + 1) & 0x1f;
            self.pmt = build_pmt(Some(video), self.audio.is_some(), self.pmt_version);
        }
        Ok(())
    }

    /// Starts a segment: writes the PAT and the PMT, each in one packet.
    ///
    /// Call [`flush_audio`](Self::flush_audio) on the previous segment's buffer
    /// first; audio still pending would go out in this segment after the PMT.
    /// If the first sample comes before any call, this is done implicitly.
    pub fn start_segment(&mut self, out: &mut BytesMut) {
        packet::write_section(out, PAT_PID, &mut self.pat_cc, self.pat.bytes());
        packet::write_section(out, PMT_PID, &mut self.pmt_cc, self.pmt.bytes());
        self.started = true;
    }

    /// Writes one video access unit as one PES packet.
    ///
    /// DTS is `sample.dts`, PTS is `sample.dts + sample.cts_offset` (a negative
    /// offset is taken as 0, since PTS cannot precede DTS). Key frames get
    /// `random_access_indicator`. On error nothing is written.
    pub fn write_video(
        &mut self,
        sample: &VideoSample,
        out: &mut BytesMut,
    ) -> Result<(), HlsError> {
        let video = self.video.as_ref().ok_or(HlsError::NoSuchStream("video"))?;
        self.scratch.clear();
        annexb::write_access_unit(
            &sample.data,
            sample.keyframe,
            &video.params,
            &mut self.scratch,
        )?;
        if !self.started {
            self.start_segment(out);
        }
        let dts = to_ticks(sample.dts);
        let cts = u64::from(sample.cts_offset.max(0).unsigned_abs());
        let pts = dts.wrapping_add(cts * 90) & MASK_33;
        let header = PesHeader::new(STREAM_ID_VIDEO, pts, Some(dts), None);
        let first = FirstPacket {
            pcr: Some(pcr_before(dts)),
            random_access: sample.keyframe,
        };
        if let Some(video) = self.video.as_mut() {
            packet::write_unit(
                out,
                VIDEO_PID,
                &mut video.cc,
                first,
                header.bytes(),
                &self.scratch,
            );
        }
        Ok(())
    }

    /// Adds one AAC access unit, as an ADTS frame, to the pending audio PES.
    ///
    /// Several frames share a PES packet (as FFmpeg does), which carries the
    /// first one's PTS. The pending packet is written out first when this frame
    /// is [`AUDIO_PES_MAX_MS`] or more after its first frame (or before it), or
    /// when it would grow past [`AUDIO_PES_MAX_BYTES`]; so audio may be written
    /// up to 100 ms late, and [`flush_audio`](Self::flush_audio) must be called
    /// before a segment cut. On error nothing is written or added.
    pub fn write_audio(
        &mut self,
        sample: &AudioSample,
        out: &mut BytesMut,
    ) -> Result<(), HlsError> {
        let audio = self.audio.as_ref().ok_or(HlsError::NoSuchStream("audio"))?;
        if sample.data.is_empty() {
            return Err(HlsError::EmptySample("audio"));
        }
        let adts = audio.adts.header(sample.data.len())?;
        let frame_len = ADTS_HEADER_LEN + sample.data.len();
        let flush = !audio.pending.is_empty()
            && (sample.pts < audio.pending_pts
                || sample.pts - audio.pending_pts >= AUDIO_PES_MAX_MS
                || audio.pending.len() + frame_len > AUDIO_PES_MAX_BYTES);
        if flush {
            self.flush_audio(out);
        }
        if let Some(audio) = self.audio.as_mut() {
            if audio.pending.is_empty() {
                audio.pending_pts = sample.pts;
            }
            audio.pending.extend_from_slice(&adts);
            audio.pending.extend_from_slice(&sample.data);
        }
        Ok(())
    }

    /// Writes the pending audio frames, if any, as one PES packet.
    ///
    /// In an audio-only stream the packet carries the PCR and
    /// `random_access_indicator` (every ADTS frame can start decoding).
    pub fn flush_audio(&mut self, out: &mut BytesMut) {
        if !self.has_pending_audio() {
            return;
        }
        if !self.started {
            self.start_segment(out);
        }
        let audio_only = self.video.is_none();
        let Some(audio) = self.audio.as_mut() else {
            return;
        };
        let pts = to_ticks(audio.pending_pts);
        let header = PesHeader::new(STREAM_ID_AUDIO, pts, None, Some(audio.pending.len()));
        let first = FirstPacket {
            pcr: audio_only.then(|| pcr_before(pts)),
            random_access: audio_only,
        };
        packet::write_unit(
            out,
            AUDIO_PID,
            &mut audio.cc,
            first,
            header.bytes(),
            &audio.pending,
        );
        audio.pending.clear();
    }

    /// Whether audio frames wait for [`flush_audio`](Self::flush_audio).
    pub fn has_pending_audio(&self) -> bool {
        self.audio.as_ref().is_some_and(|a| !a.pending.is_empty())
    }

    /// Whether the muxer has a video stream (and so the PCR on [`VIDEO_PID`]).
    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }

    /// Whether the muxer has an audio stream.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }
}

/// The PMT for the configured streams: video first, PCR on the video PID
/// when there is video, else on the audio PID.
fn build_pmt(video: Option<&Video>, has_audio: bool, version: u8) -> Section {
    let video = video.map(|v| EsEntry {
        stream_type: v.stream_type,
        pid: VIDEO_PID,
    });
    let audio = has_audio.then_some(EsEntry {
        stream_type: STREAM_TYPE_ADTS_AAC,
        pid: AUDIO_PID,
    });
    let pcr_pid = if video.is_some() {
        VIDEO_PID
    } else {
        AUDIO_PID
    };
    match (video, audio) {
        (Some(v), Some(a)) => psi::pmt(pcr_pid, version, &[v, a]),
        (Some(es), None) | (None, Some(es)) => psi::pmt(pcr_pid, version, &[es]),
        (None, None) => psi::pmt(pcr_pid, version, &[]),
    }
}

/// The conversion parameters and `stream_type` of a video configuration.
fn video_params(config: &VideoCodecConfig) -> Result<(NalParams, u8), HlsError> {
    match config {
        VideoCodecConfig::Avc(r) => Ok((
            NalParams::new(NalCodec::Avc, r.nal_length_size, r.sps.iter().chain(&r.pps))?,
            STREAM_TYPE_H264,
        )),
        VideoCodecConfig::Hevc(r) => {
            use liu_codec::hevc::{NAL_PPS, NAL_VPS, sps::NAL_SPS};
            let sets = [NAL_VPS, NAL_SPS, NAL_PPS]
                .into_iter()
                .flat_map(|t| r.units(t));
            Ok((
                NalParams::new(NalCodec::Hevc, r.nal_length_size, sets)?,
                STREAM_TYPE_HEVC,
            ))
        }
        VideoCodecConfig::Av1(_) => Err(HlsError::UnsupportedVideo("AV1 in MPEG-TS")),
    }
}

/// Milliseconds on the stream timeline to a 33-bit 90 kHz timestamp, offset by
/// [`TIMESTAMP_OFFSET_MS`]. Arithmetic wraps modulo 2^64, a multiple of 2^33,
/// so the result is exact modulo 2^33 for any input.
fn to_ticks(ms: u64) -> u64 {
    ms.wrapping_add(TIMESTAMP_OFFSET_MS).wrapping_mul(90) & MASK_33
}

/// The PCR base for a PES packet whose DTS is `ticks`: [`PCR_DELAY_MS`] earlier, modulo 2^33.
fn pcr_before(ticks: u64) -> u64 {
    ticks.wrapping_sub(PCR_DELAY_MS * 90) & MASK_33
}
