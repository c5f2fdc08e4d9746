//! The `liu bench` command line (clap), kept here so the binary stays thin.

use std::path::PathBuf;

/// `liu bench`: load tool for RTMP / HTTP-FLV servers.
#[derive(clap::Args, Debug)]
#[command(about = "Load tool: publish a clip in real time, play it with many light viewers")]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Publish an FLV file (H.264 + AAC) over RTMP in real time, with latency stamps.
    Publish(PublishArgs),
    /// Open N viewers of one stream (RTMP or HTTP-FLV) and report what they got.
    Play(PlayArgs),
    /// Generate the standard test clip with FFmpeg (720p25 H.264 2.5 Mbit/s + AAC).
    Clip(ClipArgs),
}

#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// rtmp://HOST[:PORT]/APP/STREAM
    #[arg(long)]
    pub url: String,
    /// The FLV clip to send
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// Stop after this many seconds of media [default: one pass, or forever with --loop]
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Start over at the end, with continuous timestamps
    #[arg(long = "loop")]
    pub looped: bool,
    /// Publish the clip as K streams at once, named STREAM-0 .. STREAM-(K-1)
    #[arg(long, value_name = "K")]
    pub streams: Option<u32>,
}

#[derive(clap::Args, Debug)]
pub struct PlayArgs {
    /// rtmp://HOST[:PORT]/APP/STREAM or http://HOST[:PORT]/PATH.flv
    #[arg(long)]
    pub url: String,
    /// Number of viewers
    #[arg(short = 'n', long = "viewers", default_value_t = 1)]
    pub viewers: u32,
    /// Spread the viewers over K streams, STREAM-0 .. STREAM-(K-1) (as `publish --streams K`)
    #[arg(long, value_name = "K")]
    pub streams: Option<u32>,
    /// The stream has no video: the first audio frame counts as the first frame
    #[arg(long)]
    pub audio_only: bool,
    /// New connections per second
    #[arg(long, default_value_t = 200.0, value_name = "PER_SEC")]
    pub rate: f64,
    /// How long each viewer plays, in seconds
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub duration: f64,
    /// Bound on TCP connect plus protocol setup, in seconds
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub connect_timeout: f64,
    /// Write the report as JSON to FILE (`-` for stdout; the table then goes to stderr)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Seconds between progress lines on stderr (0: none)
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub progress: f64,
    /// Every 0.2 s, append "UNIX_TIME BYTES PLAYING STARTED FAILED STALLS BACKWARDS" to FILE
    /// (totals so far; PLAYING = viewers that have their first frame and have not ended;
    /// BACKWARDS = frames whose timestamp went back within their track), so a CPU sampler can
    /// tell the steady part of the run and a soak can follow the viewers minute by minute
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ClipArgs {
    /// Where to write the FLV clip
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Length in seconds
    #[arg(long, default_value_t = 60)]
    pub seconds: u32,
    /// AAC only (128 kbit/s), no video
    #[arg(long)]
    pub audio_only: bool,
}
