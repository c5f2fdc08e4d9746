//! Test clips: generated once per spec with FFmpeg 9 and cached, with their reference decode.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use super::decode::Decoded;
use super::process::ffmpeg9;
use super::viewer::decode_file;

/// What to generate: `seconds` of a lavfi video `pattern` (640x360, 25 fps, H.264 High with two
/// B-frames, closed GOPs of `gop` pictures: 2 s by default) plus a sine tone (44.1 kHz stereo AAC),
/// in FLV; or H.265 (libx265 Main), AV1 (libsvtav1) and Opus (48 kHz) instead, which FFmpeg 9
/// writes as Enhanced FLV.
#[derive(Clone, Debug)]
pub struct ClipSpec {
    pub seconds: u32,
    /// lavfi source: "testsrc2" or "testsrc" (both have a moving frame counter, so every frame
    /// of a clip decodes to a distinct picture).
    pub pattern: &'static str,
    pub tone_hz: u32,
    /// Constant video bitrate with temporal noise (e.g. "8M") for the slow-viewer test; None for
    /// x264's default quality (~0.7 Mbit/s).
    pub cbr: Option<&'static str>,
    /// Keyframe interval in pictures (`-g`): 50 (2 s) by default; 250 (10 s) is FFmpeg's and
    /// OBS's default.
    pub gop: u32,
    /// B-frames between references (`-bf`): 2 by default.
    pub bframes: u32,
    /// The video codec, as FFmpeg names it when decoding: "h264", "hevc" or "av1".
    pub video_codec: &'static str,
    /// The audio codec: "aac" or "opus".
    pub audio_codec: &'static str,
}

impl ClipSpec {
    /// The standard 10 s clip.
    pub fn standard() -> ClipSpec {
        ClipSpec {
            seconds: 10,
            pattern: "testsrc2",
            tone_hz: 1000,
            cbr: None,
            gop: 50,
            bframes: 2,
            video_codec: "h264",
            audio_codec: "aac",
        }
    }
    /// H.265 video (libx265 Main 4:2:0, the same GOP and B-frames).
    pub fn hevc(mut self) -> Self {
        self.video_codec = "hevc";
        self
    }
    /// AV1 video (libsvtav1; no reordering, so no B-frames), AAC audio.
    pub fn av1(mut self) -> Self {
        self.video_codec = "av1";
        self.bframes = 0;
        self
    }
    /// AV1 video (libsvtav1; no reordering, so no B-frames) and Opus audio.
    pub fn av1_opus(mut self) -> Self {
        self.video_codec = "av1";
        self.audio_codec = "opus";
        self.bframes = 0;
        self
    }
    pub fn seconds(mut self, s: u32) -> Self {
        self.seconds = s;
        self
    }
    /// A clip distinguishable from the standard one by its pictures and its tone.
    pub fn other_pattern(mut self) -> Self {
        self.pattern = "testsrc";
        self.tone_hz = 500;
        self
    }
    pub fn cbr(mut self, rate: &'static str) -> Self {
        self.cbr = Some(rate);
        self
    }
    /// A keyframe every `pictures` pictures (no scene-cut keyframes in between).
    pub fn gop(mut self, pictures: u32) -> Self {
        self.gop = pictures;
        self
    }
    /// No B-frames: decode order is presentation order.
    pub fn no_bframes(mut self) -> Self {
        self.bframes = 0;
        self
    }
    fn key(&self) -> String {
        format!(
            "v1-{}{}-{}s-{}hz-{}{}{}",
            match (self.video_codec, self.audio_codec) {
                ("h264", "aac") => String::new(),
                (v, a) => format!("{v}-{a}-"),
            },
            self.pattern,
            self.seconds,
            self.tone_hz,
            self.cbr.unwrap_or("crf"),
            if self.gop == 50 {
                String::new()
            } else {
                format!("-g{}", self.gop)
            },
            if self.bframes == 2 {
                String::new()
            } else {
                format!("-bf{}", self.bframes)
            }
        )
    }
}

/// A generated clip and its reference decode (FFmpeg 9 framemd5 of the file itself).
#[derive(Debug)]
pub struct Clip {
    pub spec: ClipSpec,
    pub path: PathBuf,
    pub bytes: u64,
    pub video_frames: usize,
    pub audio_frames: usize,
    /// md5 of every decoded picture, in presentation order.
    pub video_md5: Vec<String>,
    pub audio_md5: Vec<String>,
}

impl Clip {
    /// Index of a decoded picture in this clip, by its md5.
    pub fn video_index(&self, md5: &str) -> Option<usize> {
        self.video_md5.iter().position(|m| m == md5)
    }
    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

/// The clip for `spec`, generated once and cached under CARGO_TARGET_TMPDIR/clips (safe against
/// parallel tests: one generation at a time in a process, atomic renames between processes).
pub fn clip(spec: &ClipSpec) -> Arc<Clip> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Clip>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let key = spec.key();
    if let Some(c) = cache.get(&key) {
        return c.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clips");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{key}.flv"));
    let md5_path = dir.join(format!("{key}.framemd5"));
    if !(path.exists() && md5_path.exists()) {
        generate_clip(spec, &path, &md5_path);
    }
    let reference = fs::read_to_string(&md5_path).unwrap();
    let d = Decoded::from_framemd5(&format!("reference decode of {key}"), &reference);
    let c = Arc::new(Clip {
        spec: spec.clone(),
        bytes: fs::metadata(&path).unwrap().len(),
        path,
        video_frames: d.video_frames(),
        audio_frames: d.audio_frames(),
        video_md5: d.video.iter().map(|f| f.md5.clone()).collect(),
        audio_md5: d.audio.iter().map(|f| f.md5.clone()).collect(),
    });
    assert_eq!(
        c.video_frames,
        spec.seconds as usize * 25,
        "clip {key}: the reference decode has {} video frames",
        c.video_frames
    );
    cache.insert(key, c.clone());
    c
}

fn generate_clip(spec: &ClipSpec, path: &Path, md5_path: &Path) {
    let tmp = path.with_extension(format!("tmp{}.flv", std::process::id()));
    let mut args: Vec<String> = vec![
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    args.push(format!("{}=size=640x360:rate=25", spec.pattern));
    args.extend(["-f", "lavfi", "-i"].map(String::from));
    args.push(format!("sine=frequency={}:sample_rate=44100", spec.tone_hz));
    args.extend(["-t".to_string(), spec.seconds.to_string()]);
    if spec.cbr.is_some() {
        args.extend(["-vf", "noise=alls=24:allf=t+u"].map(String::from));
    }
    let gop = spec.gop.to_string();
    match spec.video_codec {
        "hevc" => {
            args.extend(
                [
                    "-c:v", "libx265", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                ]
                .map(String::from),
            );
            args.extend(["-x265-params".to_string(), format!(
                "log-level=error:keyint={gop}:min-keyint={gop}:scenecut=0:bframes={}:open-gop=0",
                spec.bframes
            )]);
        }
        "av1" => {
            args.extend(
                [
                    "-c:v",
                    "libsvtav1",
                    "-preset",
                    "11",
                    "-pix_fmt",
                    "yuv420p",
                    "-g",
                    &gop,
                ]
                .map(String::from),
            );
            args.extend(["-svtav1-params", "scd=0"].map(String::from));
        }
        _ => {
            args.extend(
                [
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-profile:v",
                    "high",
                    "-pix_fmt",
                    "yuv420p",
                    "-sc_threshold",
                    "0",
                ]
                .map(String::from),
            );
            args.extend(["-bf".to_string(), spec.bframes.to_string()]);
            args.extend(["-g", &gop, "-keyint_min", &gop].map(String::from));
        }
    }
    if let Some(rate) = spec.cbr {
        args.extend(
            [
                "-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", rate,
            ]
            .map(String::from),
        );
        args.extend(["-x264-params", "nal-hrd=cbr:force-cfr=1"].map(String::from));
    }
    if spec.audio_codec == "opus" {
        args.extend(
            [
                "-c:a", "libopus", "-b:a", "96k", "-ar", "48000", "-ac", "2", "-f", "flv",
            ]
            .map(String::from),
        );
    } else {
        args.extend(["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "flv"].map(String::from));
    }
    args.push(tmp.to_str().unwrap().to_string());
    let out = Command::new(ffmpeg9())
        .args(&args)
        .output()
        .expect("run ffmpeg to make a clip");
    assert!(
        out.status.success(),
        "clip generation failed ({}): ffmpeg {}\n{}",
        out.status,
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );

    // The clip must really have B-frames: some video packets have pts != dts.
    let pk = Command::new(ffmpeg9())
        .args([
            "-nostdin",
            "-v",
            "error",
            "-i",
            tmp.to_str().unwrap(),
            "-map",
            "0:v",
            "-c",
            "copy",
            "-f",
            "framemd5",
            "-",
        ])
        .output()
        .unwrap();
    let reordered = String::from_utf8_lossy(&pk.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            f.len() >= 3 && f[1] != f[2]
        })
        .count();
    assert!(
        (reordered > 0) == (spec.bframes > 0),
        "generated clip {} has B-frames: {reordered} reordered (asked for {})",
        tmp.display(),
        spec.bframes
    );

    let reference = decode_file(&ffmpeg9(), &tmp);
    assert!(
        reference.damage().is_empty(),
        "reference decode of the generated clip reports damage: {:?}",
        reference.damage()
    );
    let md5_tmp = md5_path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&md5_tmp, &reference.framemd5_text).unwrap();
    fs::rename(&tmp, path).unwrap();
    fs::rename(&md5_tmp, md5_path).unwrap();
}
