//! The initialization section: `ftyp` and a `moov` describing the tracks,
//! with no samples (ISO/IEC 14496-12 §8.8.1: the samples come in movie
//! fragments announced by `mvex`).

use super::bmff::{put_matrix, write_box, write_full_box};
use super::{
    AUDIO_TRACK_ID, MOVIE_TIMESCALE, SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC, VIDEO_TIMESCALE,
    VIDEO_TRACK_ID,
};
use crate::error::HlsError;
use bytes::{BufMut, BytesMut};
use liu_codec::av1::Av1CodecConfigurationRecord;
use liu_codec::hevc::{HevcDecoderConfigurationRecord, NAL_PPS, NAL_VPS, sps::NAL_SPS};
use liu_codec::opus::OPUS_RATE;
use liu_codec::sample::{AudioCodecConfig, AudioSpecificConfig, VideoCodecConfig};

/// `major_brand` of the `ftyp`.
pub(crate) const MAJOR_BRAND: [u8; 4] = *b"iso6";
/// Brand of CMAF's structural constraints (ISO/IEC 23000-19 §7.2), listed
/// only when the movie has a single track.
pub(crate) const CMAF_BRAND: [u8; 4] = *b"cmfc";
/// `tkhd` flags: `track_enabled` | `track_in_movie` (§8.3.2.3).
const TKHD_FLAGS: u32 = 0x000003;
/// `url ` flag: the media data is in the same file (§8.7.2.3).
const URL_SELF_CONTAINED: u32 = 0x000001;
/// `mdhd` language: ISO 639-2/T "und", three 5-bit letters minus 0x60 (§8.4.2.3).
const LANGUAGE_UND: u16 =
    (((b'u' - 0x60) as u16) << 10) | (((b'n' - 0x60) as u16) << 5) | (b'd' - 0x60) as u16;
/// `objectTypeIndication` of ISO/IEC 14496-3 audio (ISO/IEC 14496-1 Table 5).
const OTI_MPEG4_AUDIO: u8 = 0x40;
/// `streamType` 0x05 (audio) << 2, `upStream` 0, `reserved` 1 (ISO/IEC 14496-1 §7.2.6.6).
const AUDIO_STREAM_TYPE_BYTE: u8 = 0x05 << 2 | 1;
/// `AVCProfileIndication` values whose `avcC` carries the chroma format and
/// bit depth extension (ISO/IEC 14496-15 §5.3.3.1.2).
const AVCC_EXTENSION_PROFILES: [u8; 4] = [100, 110, 122, 144];

/// A video track ready to write.
struct Video {
    /// The sample entry (`avc1`, `hvc1`) and its configuration box (`avcC`, `hvcC`).
    entry: &'static [u8; 4],
    config_box: &'static [u8; 4],
    /// The configuration box's content.
    config: Vec<u8>,
    width: u16,
    height: u16,
}

/// An audio track ready to write.
struct Audio {
    /// `mp4a` with an `esds` holding this AudioSpecificConfig, or `Opus`
    /// with this `dOps` content.
    entry: AudioEntry,
    rate: u32,
    channels: u16,
}

enum AudioEntry {
    Mp4a { asc: Vec<u8> },
    Opus { dops: Vec<u8> },
}

/// See [`super::write_init`]. Everything is checked before the first byte
/// is written.
pub(crate) fn write_init(
    video: Option<&VideoCodecConfig>,
    audio: Option<&AudioCodecConfig>,
    out: &mut BytesMut,
) -> Result<(), HlsError> {
    if video.is_none() && audio.is_none() {
        return Err(HlsError::NoStreams);
    }
    let video = video.map(prepare_video).transpose()?;
    let audio = audio.map(prepare_audio).transpose()?;
    let start = out.len();
    let r = write_boxes(video.as_ref(), audio.as_ref(), out);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn prepare_video(config: &VideoCodecConfig) -> Result<Video, HlsError> {
    let record = match config {
        VideoCodecConfig::Avc(record) => record,
        VideoCodecConfig::Hevc(record) => return prepare_hevc(record),
        VideoCodecConfig::Av1(record) => return prepare_av1(record),
    };
    if !(1..=4).contains(&record.nal_length_size) {
        return Err(HlsError::BadNalLengthSize(record.nal_length_size));
    }
    let sps = record
        .sps
        .iter()
        .find(|s| !s.is_empty())
        .ok_or(HlsError::Sps("no sequence parameter set in the avcC"))?;
    let info = liu_codec::avc::sps::parse(sps).map_err(sps_error)?;
    let mut avcc = record.encode();
    if AVCC_EXTENSION_PROFILES.contains(&record.profile_indication) {
        avcc.extend_from_slice(&[
            0xfc | info.chroma_format_idc,
            0xf8 | info.bit_depth_luma_minus8,
            0xf8 | info.bit_depth_chroma_minus8,
            0, // numOfSequenceParameterSetExt
        ]);
    }
    Ok(Video {
        entry: b"avc1",
        config_box: b"avcC",
        config: avcc,
        width: info.width,
        height: info.height,
    })
}

/// `av01` with the `av1C` as received (AV1-ISOBMFF §2.2, §2.3), the size
/// from its sequence header OBU.
fn prepare_av1(record: &Av1CodecConfigurationRecord) -> Result<Video, HlsError> {
    let sh = record.sequence_header().map_err(sps_error)?;
    let size = |v: u32| {
        u16::try_from(v).map_err(|_| HlsError::Sps("AV1 picture wider or taller than 65535"))
    };
    Ok(Video {
        entry: b"av01",
        config_box: b"av1C",
        config: record.raw.to_vec(),
        width: size(sh.max_width)?,
        height: size(sh.max_height)?,
    })
}

/// An SPS parse error as the init section reports it.
fn sps_error(e: liu_codec::CodecError) -> HlsError {
    match e {
        liu_codec::CodecError::Invalid(what) => HlsError::Sps(what),
        _ => HlsError::Sps("truncated sequence parameter set"),
    }
}

/// `hvc1`: the parameter sets only in the `hvcC` (ISO/IEC 14496-15 §8.4.1),
/// the picture size from its SPS.
fn prepare_hevc(record: &HevcDecoderConfigurationRecord) -> Result<Video, HlsError> {
    if !matches!(record.nal_length_size, 1 | 2 | 4) {
        return Err(HlsError::BadNalLengthSize(record.nal_length_size));
    }
    let sps = record
        .sps()
        .map_err(|_| HlsError::Sps("no valid H.265 SPS in the hvcC"))?;
    let size = |v: u32| {
        u16::try_from(v).map_err(|_| HlsError::Sps("H.265 picture wider or taller than 65535"))
    };
    // `hvc1` puts every parameter set in the hvcC (ISO/IEC 14496-15
    // §8.4.1.1): their arrays are complete, whatever the encoder wrote.
    let mut record = record.clone();
    for array in &mut record.arrays {
        if matches!(array.nal_type, NAL_VPS | NAL_SPS | NAL_PPS) {
            array.complete = true;
        }
    }
    Ok(Video {
        entry: b"hvc1",
        config_box: b"hvcC",
        config: record.encode(),
        width: size(sps.width)?,
        height: size(sps.height)?,
    })
}

fn prepare_audio(config: &AudioCodecConfig) -> Result<Audio, HlsError> {
    match config {
        AudioCodecConfig::Aac(asc) => prepare_aac(asc),
        // Encapsulation of Opus in ISO BMFF §4.3: 48 kHz timescale, `dOps`.
        AudioCodecConfig::Opus(head) => Ok(Audio {
            entry: AudioEntry::Opus { dops: head.dops() },
            rate: OPUS_RATE,
            channels: u16::from(head.channels),
        }),
    }
}

fn prepare_aac(config: &AudioSpecificConfig) -> Result<Audio, HlsError> {
    // `encode()` writes an all-zero GASpecificConfig, right for these only.
    if !(1..=4).contains(&config.object_type) {
        return Err(HlsError::UnsupportedAudioConfig(
            "AAC object type other than Main, LC, SSR or LTP",
        ));
    }
    if config.sampling_frequency == 0 {
        return Err(HlsError::UnsupportedAudioConfig("sampling frequency 0"));
    }
    // ISO/IEC 14496-3 Table 1.19 (with the later 11-14); 0 needs a program
    // config element, which `encode()` does not write.
    let channels = match config.channel_configuration {
        c @ 1..=6 => u16::from(c),
        7 | 12 | 14 => 8,
        11 => 7,
        13 => 24,
        _ => {
            return Err(HlsError::UnsupportedAudioConfig(
                "channel configuration 0 or reserved",
            ));
        }
    };
    Ok(Audio {
        entry: AudioEntry::Mp4a {
            asc: config.encode(),
        },
        rate: config.sampling_frequency,
        channels,
    })
}

fn write_boxes(
    video: Option<&Video>,
    audio: Option<&Audio>,
    out: &mut BytesMut,
) -> Result<(), HlsError> {
    let single = video.is_some() != audio.is_some();
    write_box(out, b"ftyp", |out| {
        out.put_slice(&MAJOR_BRAND);
        out.put_u32(0); // minor_version
        out.put_slice(&MAJOR_BRAND);
        if single {
            out.put_slice(&CMAF_BRAND);
        }
        out.put_slice(b"mp41");
        Ok(())
    })?;
    write_box(out, b"moov", |out| {
        let next_track_id = if audio.is_some() {
            AUDIO_TRACK_ID + 1
        } else {
            VIDEO_TRACK_ID + 1
        };
        write_mvhd(out, next_track_id)?;
        if let Some(v) = video {
            write_video_trak(v, out)?;
        }
        if let Some(a) = audio {
            write_audio_trak(a, out)?;
        }
        write_box(out, b"mvex", |out| {
            if video.is_some() {
                write_trex(out, VIDEO_TRACK_ID, SAMPLE_FLAGS_NON_SYNC)?;
            }
            if audio.is_some() {
                write_trex(out, AUDIO_TRACK_ID, SAMPLE_FLAGS_SYNC)?;
            }
            Ok(())
        })
    })
}

/// `mvhd` version 0 (§8.2.2): no times, no duration (it is in the fragments).
fn write_mvhd(out: &mut BytesMut, next_track_id: u32) -> Result<(), HlsError> {
    write_full_box(out, b"mvhd", 0, 0, |out| {
        out.put_u32(0); // creation_time
        out.put_u32(0); // modification_time
        out.put_u32(MOVIE_TIMESCALE);
        out.put_u32(0); // duration
        out.put_u32(0x0001_0000); // rate 1.0
        out.put_u16(0x0100); // volume 1.0
        out.put_bytes(0, 2 + 8); // reserved
        put_matrix(out);
        out.put_bytes(0, 6 * 4); // pre_defined
        out.put_u32(next_track_id);
        Ok(())
    })
}

/// `tkhd` version 0 (§8.3.2): `width` and `height` in 16.16 fixed point.
fn write_tkhd(
    out: &mut BytesMut,
    track_id: u32,
    volume: u16,
    width: u16,
    height: u16,
) -> Result<(), HlsError> {
    write_full_box(out, b"tkhd", 0, TKHD_FLAGS, |out| {
        out.put_u32(0); // creation_time
        out.put_u32(0); // modification_time
        out.put_u32(track_id);
        out.put_u32(0); // reserved
        out.put_u32(0); // duration
        out.put_bytes(0, 8); // reserved
        out.put_u16(0); // layer
        out.put_u16(0); // alternate_group
        out.put_u16(volume);
        out.put_u16(0); // reserved
        put_matrix(out);
        out.put_u32(u32::from(width) << 16);
        out.put_u32(u32::from(height) << 16);
        Ok(())
    })
}

/// `mdhd` version 0 (§8.4.2) and `hdlr` (§8.4.3).
fn write_mdhd_hdlr(
    out: &mut BytesMut,
    timescale: u32,
    handler: &[u8; 4],
    name: &str,
) -> Result<(), HlsError> {
    write_full_box(out, b"mdhd", 0, 0, |out| {
        out.put_u32(0); // creation_time
        out.put_u32(0); // modification_time
        out.put_u32(timescale);
        out.put_u32(0); // duration
        out.put_u16(LANGUAGE_UND);
        out.put_u16(0); // pre_defined
        Ok(())
    })?;
    write_full_box(out, b"hdlr", 0, 0, |out| {
        out.put_u32(0); // pre_defined
        out.put_slice(handler);
        out.put_bytes(0, 3 * 4); // reserved
        out.put_slice(name.as_bytes());
        out.put_u8(0); // null-terminated UTF-8
        Ok(())
    })
}

/// `dinf` with a `dref` holding one self-contained `url ` entry (§8.7.1, §8.7.2).
fn write_dinf(out: &mut BytesMut) -> Result<(), HlsError> {
    write_box(out, b"dinf", |out| {
        write_full_box(out, b"dref", 0, 0, |out| {
            out.put_u32(1); // entry_count
            write_full_box(out, b"url ", 0, URL_SELF_CONTAINED, |_| Ok(()))
        })
    })
}

/// `stbl` (§8.5.1): the one sample entry `entry` writes, then empty `stts`,
/// `stsc`, `stsz` and `stco` (§8.6.1.2, §8.7.4, §8.7.3, §8.7.5).
fn write_stbl(
    out: &mut BytesMut,
    entry: impl FnOnce(&mut BytesMut) -> Result<(), HlsError>,
) -> Result<(), HlsError> {
    write_box(out, b"stbl", |out| {
        write_full_box(out, b"stsd", 0, 0, |out| {
            out.put_u32(1); // entry_count
            entry(out)
        })?;
        for kind in [b"stts", b"stsc", b"stco"] {
            write_full_box(out, kind, 0, 0, |out| {
                out.put_u32(0); // entry_count
                Ok(())
            })?;
        }
        write_full_box(out, b"stsz", 0, 0, |out| {
            out.put_u32(0); // sample_size
            out.put_u32(0); // sample_count
            Ok(())
        })
    })
}

/// The fields every sample entry starts with (§8.5.2.2).
fn put_sample_entry_header(out: &mut BytesMut) {
    out.put_bytes(0, 6); // reserved
    out.put_u16(1); // data_reference_index: the `url ` entry
}

fn write_video_trak(v: &Video, out: &mut BytesMut) -> Result<(), HlsError> {
    write_box(out, b"trak", |out| {
        write_tkhd(out, VIDEO_TRACK_ID, 0, v.width, v.height)?;
        write_box(out, b"mdia", |out| {
            write_mdhd_hdlr(out, VIDEO_TIMESCALE, b"vide", "VideoHandler")?;
            write_box(out, b"minf", |out| {
                // vmhd: flags 1, graphicsmode copy, opcolor 0 (§12.1.2).
                write_full_box(out, b"vmhd", 0, 1, |out| {
                    out.put_bytes(0, 2 + 3 * 2);
                    Ok(())
                })?;
                write_dinf(out)?;
                write_stbl(out, |out| write_visual_entry(v, out))
            })
        })
    })
}

/// `avc1` or `hvc1` VisualSampleEntry (§12.1.3) with its `avcC` or `hvcC`
/// (ISO/IEC 14496-15 §5.4.2, §8.4.1).
fn write_visual_entry(v: &Video, out: &mut BytesMut) -> Result<(), HlsError> {
    write_box(out, v.entry, |out| {
        put_sample_entry_header(out);
        out.put_u16(0); // pre_defined
        out.put_u16(0); // reserved
        out.put_bytes(0, 3 * 4); // pre_defined
        out.put_u16(v.width);
        out.put_u16(v.height);
        out.put_u32(0x0048_0000); // horizresolution 72 dpi
        out.put_u32(0x0048_0000); // vertresolution 72 dpi
        out.put_u32(0); // reserved
        out.put_u16(1); // frame_count
        out.put_bytes(0, 32); // compressorname: empty
        out.put_u16(0x0018); // depth: colour, no alpha
        out.put_i16(-1); // pre_defined
        write_box(out, v.config_box, |out| {
            out.put_slice(&v.config);
            Ok(())
        })
    })
}

fn write_audio_trak(a: &Audio, out: &mut BytesMut) -> Result<(), HlsError> {
    write_box(out, b"trak", |out| {
        write_tkhd(out, AUDIO_TRACK_ID, 0x0100, 0, 0)?;
        write_box(out, b"mdia", |out| {
            write_mdhd_hdlr(out, a.rate, b"soun", "SoundHandler")?;
            write_box(out, b"minf", |out| {
                // smhd: balance 0, reserved (§12.2.2).
                write_full_box(out, b"smhd", 0, 0, |out| {
                    out.put_u32(0);
                    Ok(())
                })?;
                write_dinf(out)?;
                write_stbl(out, |out| write_audio_entry(a, out))
            })
        })
    })
}

/// `mp4a` AudioSampleEntry (§12.2.3; ISO/IEC 14496-14 §6.7) with its `esds`.
///
/// `samplerate` is 16.16 fixed point: a rate above 65535 Hz cannot be
/// written and is left 0; the `mdhd` timescale and the AudioSpecificConfig
/// carry it.
fn write_audio_entry(a: &Audio, out: &mut BytesMut) -> Result<(), HlsError> {
    let kind = match a.entry {
        AudioEntry::Mp4a { .. } => b"mp4a",
        AudioEntry::Opus { .. } => b"Opus",
    };
    write_box(out, kind, |out| {
        put_sample_entry_header(out);
        out.put_bytes(0, 2 * 4); // reserved
        out.put_u16(a.channels);
        out.put_u16(16); // samplesize
        out.put_u16(0); // pre_defined
        out.put_u16(0); // reserved
        out.put_u32(u16::try_from(a.rate).map_or(0, |r| u32::from(r) << 16));
        match &a.entry {
            AudioEntry::Mp4a { asc } => write_full_box(out, b"esds", 0, 0, |out| {
                put_es_descriptor(asc, out);
                Ok(())
            }),
            AudioEntry::Opus { dops } => write_box(out, b"dOps", |out| {
                out.put_slice(dops);
                Ok(())
            }),
        }
    })
}

/// The ES_Descriptor of an `esds` (ISO/IEC 14496-14 §3.1.2, ISO/IEC 14496-1
/// §7.2.6.5): ES_ID 0 (§3.1.2 leaves it 0 in files), no optional fields, a
/// DecoderConfigDescriptor for MPEG-4 audio with the AudioSpecificConfig as
/// DecoderSpecificInfo, bitrates unknown (0), and the predefined MP4
/// SLConfigDescriptor.
fn put_es_descriptor(asc: &[u8], out: &mut BytesMut) {
    let mut dsi = Vec::with_capacity(asc.len() + 5);
    put_descriptor(&mut dsi, 0x05, asc);
    let mut dcd = vec![OTI_MPEG4_AUDIO, AUDIO_STREAM_TYPE_BYTE];
    dcd.extend_from_slice(&[0; 3]); // bufferSizeDB
    dcd.extend_from_slice(&[0; 4]); // maxBitrate
    dcd.extend_from_slice(&[0; 4]); // avgBitrate
    dcd.extend_from_slice(&dsi);
    let mut es = vec![0, 0, 0]; // ES_ID, flags
    put_descriptor(&mut es, 0x04, &dcd);
    put_descriptor(&mut es, 0x06, &[0x02]); // SLConfigDescriptor, predefined MP4
    let mut buf = Vec::with_capacity(es.len() + 5);
    put_descriptor(&mut buf, 0x03, &es);
    out.put_slice(&buf);
}

/// A descriptor (ISO/IEC 14496-1 §8.3.3): tag, `sizeOfInstance` in 7-bit
/// groups, most significant first, each but the last with the high bit set.
fn put_descriptor(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let len = body.len();
    let groups = (1..4).take_while(|i| len >> (7 * i) != 0).count() + 1;
    for i in (0..groups).rev() {
        let more = if i > 0 { 0x80 } else { 0 };
        out.push(more | ((len >> (7 * i)) & 0x7f) as u8);
    }
    out.extend_from_slice(body);
}

/// `trex` (§8.8.3): sample description 1, no default duration or size.
fn write_trex(out: &mut BytesMut, track_id: u32, flags: u32) -> Result<(), HlsError> {
    write_full_box(out, b"trex", 0, 0, |out| {
        out.put_u32(track_id);
        out.put_u32(1); // default_sample_description_index
        out.put_u32(0); // default_sample_duration
        out.put_u32(0); // default_sample_size
        out.put_u32(flags); // default_sample_flags
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_lengths() {
        let mut out = Vec::new();
        put_descriptor(&mut out, 5, &[9; 3]);
        assert_eq!(out, [5, 3, 9, 9, 9]);
        for (len, prefix) in [
            (127usize, vec![127u8]),
            (128, vec![0x81, 0x00]),
            (300, vec![0x82, 0x2c]),
            (16_384, vec![0x81, 0x80, 0x00]),
        ] {
            let mut out = Vec::new();
            put_descriptor(&mut out, 4, &vec![0; len]);
            assert_eq!(out.get(1..1 + prefix.len()), Some(&prefix[..]), "{len}");
            assert_eq!(out.len(), 1 + prefix.len() + len);
        }
    }

    #[test]
    fn language_is_und() {
        assert_eq!(LANGUAGE_UND, 0x55c4);
    }
}
