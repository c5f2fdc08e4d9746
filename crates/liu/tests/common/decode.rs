//! What a decoder produced: frames (parsed from framemd5 lines), the input's stream
//! descriptions and stderr lines, and the damage those lines report.

use std::collections::{HashMap, HashSet};
use std::process::ExitStatus;
use std::time::Duration;

use super::clip::Clip;

#[derive(Clone, Debug)]
pub struct Frame {
    pub pts: i64,
    pub md5: String,
    /// Wall time from the viewer's spawn to the moment the line was read.
    pub at: Duration,
}

/// What a decoder produced: frames per stream, the input's stream descriptions and every stderr
/// line (FFmpeg runs with `-loglevel level+info`, so each line carries its level).
#[derive(Debug, Default)]
pub struct Decoded {
    pub label: String,
    pub video: Vec<Frame>,
    pub audio: Vec<Frame>,
    /// e.g. "1/25" for video, "1/44100" for audio (the framemd5 output time bases).
    pub video_tb: Option<String>,
    pub audio_tb: Option<String>,
    /// The input's stream lines, e.g. "Video: h264 (High), yuv420p(progressive), 640x360 ...".
    pub input_video: Option<String>,
    pub input_audio: Option<String>,
    /// Input streams other than the video and audio (a server bug when present).
    pub extra_input_streams: Vec<String>,
    pub stderr: Vec<String>,
    /// stderr of a feeding client (rtmpdump), not judged.
    pub feeder_log: Vec<String>,
    pub exit: Option<ExitStatus>,
    /// Whether the harness had to stop the decoder (wall-clock bound or idle).
    pub stopped_by_harness: bool,
    pub wall: Duration,
    pub framemd5_text: String,
}

/// stderr lines that are not about damaged media even at error level.
const BENIGN: &[&str] = &[
    "error during demuxing: input/output error", // the server closed the connection
    "error during demuxing: end of file",
    "immediate exit requested", // we stopped it
    "exiting normally",
    "failed to update header with correct", // flv muxer on a non-seekable output
];

/// Warning-level lines that mean damaged or inconsistent media (H.264, AAC, FLV demuxer,
/// muxer timestamps). Measured with deliberately damaged FLV files.
const DAMAGE_WARNINGS: &[&str] = &[
    "error",
    "corrupt",
    "conceal",
    "missing",
    "non-existing",
    "no frame",
    "invalid",
    "decode_slice_header",
    "reference",
    "mismatch",
    "unavailable",
    "mmco",
    "exceeds max",
    "start code",
    "monoton",
    "out of order",
    "not allocated",
    "overread",
    "truncat",
];

/// Warning-level lines in which a client complains about the server's protocol answers (not
/// damaged media, but just as wrong): FFmpeg's rtmpproto prints "Unexpected reply on
/// getStreamLength()" when `getStreamLength` is not answered with a Number.
const PROTOCOL_WARNINGS: &[&str] = &["unexpected reply"];

impl Decoded {
    pub fn video_frames(&self) -> usize {
        self.video.len()
    }
    pub fn audio_frames(&self) -> usize {
        self.audio.len()
    }
    pub fn first_video_after(&self) -> Option<Duration> {
        self.video.first().map(|f| f.at)
    }

    /// Decoder/demuxer errors, warnings about damaged media, and complaints about the server's
    /// protocol answers ([`PROTOCOL_WARNINGS`]).
    pub fn damage(&self) -> Vec<String> {
        self.stderr
            .iter()
            .filter(|l| is_damage(l))
            .cloned()
            .collect()
    }

    /// Codec name of the input's video stream ("h264").
    pub fn video_codec(&self) -> Option<String> {
        let v = self.input_video.as_deref()?;
        let rest = v.split("Video: ").nth(1)?;
        Some(rest.split([' ', ',']).next()?.to_string())
    }
    pub fn audio_codec(&self) -> Option<String> {
        let a = self.input_audio.as_deref()?;
        let rest = a.split("Audio: ").nth(1)?;
        Some(rest.split([' ', ',']).next()?.to_string())
    }
    /// Width x height of the input's video stream.
    pub fn video_size(&self) -> Option<(u32, u32)> {
        let v = self.input_video.as_deref()?;
        v.split([' ', ',']).find_map(|w| {
            let (a, b) = w.split_once('x')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
    }

    /// Decoded pictures that are bit-exact with pictures of `clip` (distinct clip frames).
    pub fn matched_video(&self, clip: &Clip) -> usize {
        let set: HashSet<&str> = clip.video_md5.iter().map(String::as_str).collect();
        let got: HashSet<&str> = self
            .video
            .iter()
            .map(|f| f.md5.as_str())
            .filter(|m| set.contains(m))
            .collect();
        got.len()
    }
    pub fn matched_audio(&self, clip: &Clip) -> usize {
        let set: HashSet<&str> = clip.audio_md5.iter().map(String::as_str).collect();
        self.audio
            .iter()
            .filter(|f| set.contains(f.md5.as_str()))
            .count()
    }
    /// Index in `clip` of the first decoded picture.
    pub fn first_video_index(&self, clip: &Clip) -> Option<usize> {
        clip.video_index(&self.video.first()?.md5)
    }

    /// The first place where a stream's pts goes back, if any.
    pub fn pts_regression(&self) -> Option<String> {
        for (name, frames) in [("video", &self.video), ("audio", &self.audio)] {
            for (i, w) in frames.windows(2).enumerate() {
                if w[1].pts < w[0].pts {
                    return Some(format!(
                        "{name} pts goes back at frame {}: {} -> {}",
                        i + 1,
                        w[0].pts,
                        w[1].pts
                    ));
                }
            }
        }
        None
    }

    /// One paragraph for assertion messages.
    pub fn summary(&self) -> String {
        let warn: Vec<&String> = self
            .stderr
            .iter()
            .filter(|l| !l.contains("[info]") && !l.contains("[verbose]"))
            .collect();
        format!(
            "[{}] video {} frames, audio {} frames, first video after {:?}, input video: {:?}, input audio: {:?}, \
             exit {:?}{}, wall {:?}; {} warning/error lines{}{}",
            self.label,
            self.video.len(),
            self.audio.len(),
            self.first_video_after(),
            self.input_video,
            self.input_audio,
            self.exit,
            if self.stopped_by_harness {
                " (stopped by the harness)"
            } else {
                ""
            },
            self.wall,
            warn.len(),
            if warn.is_empty() {
                String::new()
            } else {
                format!(
                    ":\n    {}",
                    warn.iter()
                        .take(15)
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("\n    ")
                )
            },
            if self.feeder_log.is_empty() {
                String::new()
            } else {
                format!(
                    "\n  feeder log tail:\n    {}",
                    self.feeder_log[self.feeder_log.len().saturating_sub(8)..].join("\n    ")
                )
            }
        )
    }

    /// Asserts the stream decoded as the standard clip's format: h264 640x360 video + aac audio.
    pub fn assert_h264_640x360_aac(&self) {
        self.assert_codecs_640x360("h264", "aac");
    }

    /// Asserts the stream decoded as `video` 640x360 + `audio` (FFmpeg's codec names).
    pub fn assert_codecs_640x360(&self, video: &str, audio: &str) {
        assert_eq!(
            self.video_codec().as_deref(),
            Some(video),
            "video codec: {}",
            self.summary()
        );
        assert_eq!(
            self.video_size(),
            Some((640, 360)),
            "video size: {}",
            self.summary()
        );
        assert_eq!(
            self.audio_codec().as_deref(),
            Some(audio),
            "audio codec: {}",
            self.summary()
        );
    }

    /// Asserts the whole clip came through: its codecs (H.264 + AAC for most clips) at 640x360
    /// without damage, >= 95 % of its pictures bit-exact and of its audio frames, timestamps
    /// never going back.
    pub fn assert_plays(&self, clip: &Clip) {
        eprintln!("{}", self.summary());
        self.assert_codecs_640x360(clip.spec.video_codec, clip.spec.audio_codec);
        self.assert_no_damage();
        let min_video = clip.video_frames * 95 / 100;
        assert!(
            self.matched_video(clip) >= min_video,
            "expected >= {min_video} of the clip's {} pictures bit-exact, got {} ({} decoded): {}",
            clip.video_frames,
            self.matched_video(clip),
            self.video_frames(),
            self.summary()
        );
        let min_audio = clip.audio_frames * 95 / 100;
        assert!(
            self.audio_frames() >= min_audio,
            "expected >= {min_audio} of the clip's {} audio frames, got {}: {}",
            clip.audio_frames,
            self.audio_frames(),
            self.summary()
        );
        assert!(
            self.pts_regression().is_none(),
            "{:?}: {}",
            self.pts_regression(),
            self.summary()
        );
    }

    pub fn assert_no_damage(&self) {
        assert!(
            self.extra_input_streams.is_empty(),
            "the input has streams besides video and audio: {:?}\n{}",
            self.extra_input_streams,
            self.summary()
        );
        let d = self.damage();
        assert!(
            d.is_empty(),
            "decoder reported damaged media or a bad protocol answer ({} lines, first ones: {:#?})\n{}",
            d.len(),
            &d[..d.len().min(6)],
            self.summary()
        );
    }

    /// Lines where FFmpeg saw timestamps go back (it then clamps them, so the output pts alone
    /// would not show it).
    pub fn timestamp_complaints(&self) -> Vec<String> {
        self.stderr
            .iter()
            .filter(|l| l.to_ascii_lowercase().contains("monoton"))
            .cloned()
            .collect()
    }

    /// Parses framemd5 text (no timing).
    pub fn from_framemd5(label: &str, text: &str) -> Decoded {
        let mut p = Framemd5Parser::default();
        let mut d = Decoded {
            label: label.into(),
            ..Default::default()
        };
        for l in text.lines() {
            p.line(l, Duration::ZERO, &mut d);
        }
        d.framemd5_text = text.to_string();
        d
    }
}

fn is_damage(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    if BENIGN.iter().any(|b| l.contains(b)) {
        return false;
    }
    if l.contains("[error]") || l.contains("[fatal]") || l.contains("[panic]") {
        return true;
    }
    l.contains("[warning]")
        && (DAMAGE_WARNINGS.iter().any(|p| l.contains(p))
            || PROTOCOL_WARNINGS.iter().any(|p| l.contains(p)))
}

/// framemd5 lines: `#tb 0: 1/25`, `#media_type 0: video`, then
/// `stream, dts, pts, duration, size, md5`.
#[derive(Default)]
pub(super) struct Framemd5Parser {
    kinds: HashMap<u32, String>,
    tbs: HashMap<u32, String>,
}

impl Framemd5Parser {
    pub(super) fn line(&mut self, l: &str, at: Duration, d: &mut Decoded) {
        if let Some(rest) = l.strip_prefix('#') {
            let Some((head, value)) = rest.split_once(':') else {
                return;
            };
            let mut h = head.split_whitespace();
            let (Some(key), Some(idx)) = (h.next(), h.next().and_then(|i| i.parse::<u32>().ok()))
            else {
                return;
            };
            match key {
                "tb" => {
                    self.tbs.insert(idx, value.trim().to_string());
                }
                "media_type" => {
                    self.kinds.insert(idx, value.trim().to_string());
                }
                _ => {}
            }
            return;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f.len() < 6 {
            return;
        }
        let (Ok(idx), Ok(pts)) = (f[0].parse::<u32>(), f[2].parse::<i64>()) else {
            return;
        };
        let frame = Frame {
            pts,
            md5: f[5].to_string(),
            at,
        };
        match self.kinds.get(&idx).map(String::as_str) {
            Some("video") => {
                d.video_tb = self.tbs.get(&idx).cloned();
                d.video.push(frame);
            }
            Some("audio") => {
                d.audio_tb = self.tbs.get(&idx).cloned();
                d.audio.push(frame);
            }
            _ => {}
        }
    }
}
