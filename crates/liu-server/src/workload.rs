//! A fixed, in-memory fan-out workload: one synthetic stream pushed through
//! the hub to three kinds of viewers, a third each:
//! - RTMP and FLV viewers that read batches and serialize them (RTMP
//!   chunks and FLV tags, shared per form) into a sink: the task path;
//! - HTTP-FLV viewers driven by the server's own loop ([`stream_native`])
//!   on loopback TCP sockets, which hands caught-up sockets to the stream:
//!   the direct path (`go_direct`, the stream's writer, `SendBatch`), what
//!   real viewers run. A reader per socket counts what arrives.
//!
//! `scripts/instructions.sh` counts its instructions with callgrind, a
//! figure that is stable on a noisy machine, compares it with the baseline
//! kept in `bench/`, and checks the byte counts printed by the example.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config::Config;
use crate::http::flv::{FlvPlayback, stream_native};
use crate::hub::{
    Delivery, FrameFlags, FrameKind, Hub, HubConfig, Publisher, SourceInfo, StreamKey, Subscriber,
    ViewerInfo,
};
use crate::io::write_all_vectored;
use crate::viewer::{FLV_FORM, FlvTags, FlvViewer, RTMP_FORM, Selection, flv_tag, rtmp_message};

/// What the workload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadReport {
    pub frames: u64,
    /// Bytes the task-path viewers serialized and wrote, all of them.
    pub bytes_written: u64,
    /// Bytes each HTTP-FLV viewer's socket delivered, least and most.
    pub socket_bytes_min: u64,
    pub socket_bytes_max: u64,
    /// HTTP-FLV viewers on sockets (each counted by its reader).
    pub socket_viewers: usize,
}

/// Runs `seconds` of a 25 fps video + ~43 fps audio stream (2 s GOPs, about
/// 2.5 Mbit/s) to `viewers` viewers (a third each: RTMP and FLV on the task
/// path, HTTP-FLV on sockets), on a current-thread runtime. The same input
/// each time; how socket writes split varies a little with the kernel.
pub fn run_fanout(viewers: usize, seconds: u32) -> WorkloadReport {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(fanout(viewers, seconds))
}

async fn fanout(viewers: usize, seconds: u32) -> WorkloadReport {
    let config = Config::default();
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "workload");
    let publisher = hub
        .publish(
            &key,
            SourceInfo {
                protocol: "workload",
                peer: None,
                query: None,
            },
        )
        .expect("fresh hub");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("loopback");
    let addr = listener.local_addr().expect("bound");
    let (_stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut readers = Vec::new();
    for i in 0..viewers {
        let subscriber = hub.subscribe(&key, ViewerInfo::internal("workload"));
        match i % 3 {
            0 | 1 => tasks.push(tokio::spawn(task_viewer(subscriber, i % 3 == 0))),
            _ => {
                let client = TcpStream::connect(addr).await.expect("connect");
                let (socket, _) = listener.accept().await.expect("accept");
                let viewer = FlvViewer::new(
                    subscriber,
                    FlvTags::new(false),
                    Selection::all(config.flv_dialect("live", None), config.timestamps("live")),
                    config.merge_window("live"),
                );
                // No wait for a publisher that left: the body ends with the stream.
                let playback = FlvPlayback::new(viewer, Duration::ZERO, stop.clone(), "workload");
                tokio::spawn(stream_native(
                    socket,
                    playback,
                    false,
                    Duration::from_secs(5),
                ));
                readers.push(tokio::spawn(count_until_closed(client)));
            }
        }
    }
    tokio::task::yield_now().await;
    let frames = publish(publisher, seconds).await;
    let mut bytes_written = 0;
    for task in tasks {
        bytes_written += task.await.unwrap_or(0);
    }
    let mut socket_bytes = Vec::new();
    for reader in readers {
        socket_bytes.push(reader.await.unwrap_or(0));
    }
    WorkloadReport {
        frames,
        bytes_written,
        socket_bytes_min: socket_bytes.iter().copied().min().unwrap_or(0),
        socket_bytes_max: socket_bytes.iter().copied().max().unwrap_or(0),
        socket_viewers: socket_bytes.len(),
    }
}

/// Pushes `seconds` of the synthetic stream, one flush per video frame,
/// letting every viewer run between flushes; then the publisher leaves.
/// Returns the media frames pushed (configs not counted).
async fn publish(publisher: Publisher, seconds: u32) -> u64 {
    let video = Bytes::from(vec![0x27u8; 12_000]);
    let keyframe = Bytes::from(vec![0x17u8; 60_000]);
    let audio = Bytes::from(vec![0xAFu8; 400]);
    let mut frames = 0u64;
    publisher.push(
        FrameKind::Video,
        0,
        Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1F]),
        FrameFlags {
            config: true,
            ..Default::default()
        },
    );
    publisher.push(
        FrameKind::Audio,
        0,
        Bytes::from_static(&[0xAF, 0, 0x12, 0x10]),
        FrameFlags {
            config: true,
            ..Default::default()
        },
    );
    let mut audio_ms = 0u32;
    for n in 0..seconds * 25 {
        let ts = n * 40;
        let key = n % 50 == 0;
        let payload = if key { keyframe.clone() } else { video.clone() };
        publisher.push(
            FrameKind::Video,
            ts,
            payload,
            FrameFlags {
                keyframe: key,
                ..Default::default()
            },
        );
        frames += 1;
        while audio_ms <= ts {
            publisher.push(
                FrameKind::Audio,
                audio_ms,
                audio.clone(),
                FrameFlags::default(),
            );
            audio_ms += 23;
            frames += 1;
        }
        publisher.flush();
        // Let every viewer take this batch before the next one, as real
        // time would.
        tokio::task::yield_now().await;
    }
    frames
}

/// A viewer on the task path: reads batches, serializes them in its form
/// (shared per form) and writes them to a sink. Returns the bytes written.
async fn task_viewer(mut subscriber: Subscriber, rtmp: bool) -> u64 {
    let mut sink = tokio::io::sink();
    let mut batch = Vec::new();
    let mut out: Vec<Bytes> = Vec::new();
    let mut written = 0u64;
    loop {
        if subscriber.next_batch(&mut batch, 128).await.is_err() {
            break;
        }
        let mut ended = false;
        for delivery in batch.drain(..) {
            match delivery {
                Delivery::Frame(frame) => out.push(if rtmp {
                    frame.form(RTMP_FORM, |f| rtmp_message(f, f.wire_timestamp(), 1, 4096))
                } else {
                    frame.form(FLV_FORM, flv_tag)
                }),
                Delivery::Unpublished => ended = true,
                Delivery::Published | Delivery::Skipped => {}
            }
        }
        written += out.iter().map(|b| b.len() as u64).sum::<u64>();
        if write_all_vectored(&mut sink, &mut out, Duration::from_secs(1))
            .await
            .is_err()
            || ended
        {
            break;
        }
    }
    written
}

/// Reads a socket until the server closes it; returns the bytes read.
async fn count_until_closed(mut socket: TcpStream) -> u64 {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    while let Ok(n) = socket.read(&mut buf).await {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FLV file header and its first PreviousTagSize (FLV spec E.2-E.3).
    const FLV_HEADER: u64 = 9 + 4;

    #[test]
    fn every_viewer_gets_every_byte() {
        // 2 s: 50 video frames (one keyframe) and 86 audio frames, after the two configs.
        let rtmp = run_fanout(1, 2);
        assert_eq!(rtmp.frames, 136, "{rtmp:?}");
        let rtmp_and_flv = run_fanout(2, 2);
        let flv = rtmp_and_flv.bytes_written - rtmp.bytes_written;
        // Each FLV tag is an 11-byte header, the body and a 4-byte PreviousTagSize.
        let bodies = 9 + 4 + 60_000 + 49 * 12_000 + 86 * 400;
        assert_eq!(flv, 138 * 15 + bodies, "{rtmp_and_flv:?}");
        // Six viewers: two of each kind. The task viewers write what the
        // first two did, twice; each socket delivers the FLV header and
        // every tag, exactly, whichever path (task or direct) wrote it.
        let six = run_fanout(6, 2);
        assert_eq!(six.bytes_written, 2 * rtmp_and_flv.bytes_written, "{six:?}");
        assert_eq!(six.socket_viewers, 2, "{six:?}");
        assert_eq!(
            (six.socket_bytes_min, six.socket_bytes_max),
            (FLV_HEADER + flv, FLV_HEADER + flv),
            "{six:?}"
        );
    }
}
