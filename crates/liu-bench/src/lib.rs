//! `liu bench`: a load tool for live streaming servers (Liu, nginx-rtmp,
//! SRS, node-media-server, xiu, ...).
//!
//! - [`publish`]: an FLV clip pushed over RTMP in real time, looping, with
//!   a wall-clock latency stamp (an H.264 SEI, see [`stamp`]) in every frame.
//! - [`play`]: thousands of viewers from one thread; each skims its stream
//!   ([`skim`], or HLS segments: [`hls`]) instead of decoding it, and measures time to first frame,
//!   delivery rate, stalls and latency ([`viewer`]); one [`report`].
//! - [`clip`]: the FFmpeg command for the standard test clip.

pub mod cli;
pub mod clip;
mod error;
pub mod histogram;
pub mod hls;
pub mod http;
pub mod play;
pub mod publish;
pub mod report;
pub mod skim;
pub mod stamp;
pub mod sys;
pub mod target;
pub mod viewer;

use std::io::Write;
use std::time::Duration;

pub use cli::{BenchArgs, BenchCommand};
pub use error::BenchError;

fn secs(v: f64, what: &str) -> Result<Duration, BenchError> {
    Duration::try_from_secs_f64(v).map_err(|_| BenchError::Usage(format!("bad {what}: {v}")))
}

/// Runs a `liu bench` command. Reports go to `stdout`, or to `stderr` when
/// JSON goes to stdout.
pub fn run(
    args: BenchArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), BenchError> {
    let io_err = |e| BenchError::io("writing the report", e);
    match args.command {
        BenchCommand::Publish(a) => {
            let opts = publish::PublishOptions {
                url: a.url,
                file: a.file,
                duration: a.duration.map(|d| secs(d, "--duration")).transpose()?,
                looped: a.looped,
                streams: a.streams,
                setup_timeout: Duration::from_secs(10),
            };
            publish::run(&opts)?.write_table(stdout).map_err(io_err)
        }
        BenchCommand::Play(a) => {
            let opts = play::PlayOptions {
                url: a.url,
                viewers: a.viewers,
                streams: a.streams,
                audio_only: a.audio_only,
                rate: a.rate,
                duration: secs(a.duration, "--duration")?,
                setup_timeout: secs(a.connect_timeout, "--connect-timeout")?,
                progress: (a.progress > 0.0)
                    .then(|| secs(a.progress, "--progress"))
                    .transpose()?,
                timeline: a.timeline,
            };
            let report = play::run(&opts)?;
            match a.json.as_deref() {
                Some(p) if p.as_os_str() == "-" => {
                    report.write_table(stderr).map_err(io_err)?;
                    report.write_json(stdout).map_err(io_err)
                }
                Some(p) => {
                    let mut f = std::fs::File::create(p)
                        .map_err(|e| BenchError::io(format!("creating {}", p.display()), e))?;
                    report.write_json(&mut f).map_err(io_err)?;
                    report.write_table(stdout).map_err(io_err)
                }
                None => report.write_table(stdout).map_err(io_err),
            }
        }
        BenchCommand::Clip(a) => clip::run(&a.out, a.seconds, a.audio_only),
    }
}
