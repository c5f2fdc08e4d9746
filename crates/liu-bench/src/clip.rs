//! `liu bench clip`: the standard test clip, generated with FFmpeg so
//! anyone can reproduce it: 1280x720 25 fps H.264 High (2 B-frames, 2 s
//! GOP, 2.5 Mbit/s) and AAC 128 kbit/s, from lavfi `testsrc2` and `sine`;
//! or, with `--audio-only`, the AAC track alone (a radio-like stream).

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use crate::error::BenchError;

/// The FFmpeg binary: `$LIU_FFMPEG`, else `ffmpeg` on the PATH.
pub fn ffmpeg() -> OsString {
    std::env::var_os("LIU_FFMPEG")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "ffmpeg".into())
}

/// The arguments (after the program name) that write the clip to `out`.
pub fn ffmpeg_args(out: &Path, seconds: u32, audio_only: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        .map(OsString::from)
        .to_vec();
    if !audio_only {
        args.extend(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"].map(OsString::from));
    }
    args.extend(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=44100",
            "-t",
        ]
        .map(OsString::from),
    );
    args.push(seconds.to_string().into());
    if !audio_only {
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
                "-g",
                "50",
                "-keyint_min",
                "50",
                "-sc_threshold",
                "0",
                "-bf",
                "2",
                "-b:v",
                "2500k",
                "-maxrate",
                "2500k",
                "-bufsize",
                "5000k",
            ]
            .map(OsString::from),
        );
    }
    args.extend(["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "flv"].map(OsString::from));
    args.push(out.as_os_str().to_owned());
    args
}

/// Runs FFmpeg; its errors go to our stderr.
pub fn run(out: &Path, seconds: u32, audio_only: bool) -> Result<(), BenchError> {
    let program = ffmpeg();
    let args = ffmpeg_args(out, seconds, audio_only);
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    tracing::info!("{} {}", program.to_string_lossy(), shown.join(" "));
    let status = Command::new(&program).args(&args).status().map_err(|e| {
        BenchError::Ffmpeg(format!(
            "cannot run {}: {e} (set LIU_FFMPEG)",
            program.to_string_lossy()
        ))
    })?;
    if !status.success() {
        return Err(BenchError::Ffmpeg(format!(
            "{} exited with {status}",
            program.to_string_lossy()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_has_the_standard_settings() {
        let args: Vec<String> = ffmpeg_args(Path::new("/tmp/c.flv"), 60, false)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let joined = args.join(" ");
        for part in [
            "testsrc2=size=1280x720:rate=25",
            "-t 60",
            "-profile:v high",
            "-g 50",
            "-bf 2",
            "-b:v 2500k -maxrate 2500k -bufsize 5000k",
            "-b:a 128k",
        ] {
            assert!(joined.contains(part), "{part} missing from {joined}");
        }
        assert_eq!(args.last().map(String::as_str), Some("/tmp/c.flv"));

        let audio = ffmpeg_args(Path::new("/tmp/a.flv"), 60, true);
        let joined = audio.join(std::ffi::OsStr::new(" "));
        let joined = joined.to_string_lossy();
        assert!(!joined.contains("testsrc2") && !joined.contains("libx264"));
        assert!(joined.contains("sine=") && joined.contains("-c:a aac -b:a 128k"));
    }
}
