//! Shared harness of the interop tests: the Liu server as a child process, real clients
//! (FFmpeg 9, FFmpeg 5.1, rtmpdump) with wall-clock bounds, generated test clips, small raw
//! RTMP / HTTP-FLV clients for the bad-input, slow-viewer and session tests (the RTMP one reads
//! whole messages: connect, createStream, play, closeStream, onStatus), and the kernel's TCP
//! socket table (to see which connections the server still holds).
//!
//! Tool paths come from LIU_FFMPEG, LIU_FFMPEG5 and LIU_RTMPDUMP, which `scripts/test.sh` exports.
//! Every child process is killed when its owner is dropped, and a test's [`watchdog`] kills all of
//! them and exits if the test overruns its bound: no test can hang.
#![allow(dead_code)]

mod amf;
mod browser;
mod clip;
mod decode;
mod hls;
mod hostile;
mod http;
mod process;
mod rtmp;
mod rtmpt;
mod server;
mod sockets;
mod tls;
mod viewer;
mod ws;

// Each test binary uses a subset of the harness.
#[allow(unused_imports)]
pub use {
    amf::*, browser::*, clip::*, decode::*, hls::*, hostile::*, http::*, process::*, rtmp::*,
    rtmpt::*, server::*, sockets::*, tls::*, viewer::*, ws::*,
};
