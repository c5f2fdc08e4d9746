//! A fixed, in-memory fan-out workload: one synthetic stream pushed through
//! the hub to viewers that serialize it (RTMP chunks and FLV tags, shared
//! per form) and write it with vectored writes into a sink.
//!
//! `scripts/instructions.sh` counts its instructions with callgrind, a
//! figure that is stable on a noisy machine, and compares it with the
//! baseline kept in `bench/`. It exercises the code every viewer runs for
//! every message, without sockets.

use std::time::Duration;

use bytes::Bytes;

use crate::hub::{
    Delivery, FrameFlags, FrameKind, Hub, HubConfig, SourceInfo, StreamKey, ViewerInfo,
};
use crate::io::write_all_vectored;
use crate::viewer::{FLV_FORM, RTMP_FORM, flv_tag, rtmp_message};

/// What the workload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadReport {
    pub frames: u64,
    pub bytes_written: u64,
}

/// Runs `seconds` of a 25 fps video + ~43 fps audio stream (2 s GOPs, about
/// 2.5 Mbit/s) to `viewers` viewers, half RTMP and half HTTP-FLV, on a
/// current-thread runtime. Deterministic: same input, same work.
pub fn run_fanout(viewers: usize, seconds: u32) -> WorkloadReport {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(fanout(viewers, seconds))
}

async fn fanout(viewers: usize, seconds: u32) -> WorkloadReport {
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
    let mut tasks = Vec::new();
    for i in 0..viewers {
        let mut subscriber = hub.subscribe(&key, ViewerInfo::internal("workload"));
        let rtmp = i % 2 == 0;
        tasks.push(tokio::spawn(async move {
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
        }));
    }
    tokio::task::yield_now().await;
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
    drop(publisher);
    let mut bytes_written = 0;
    for task in tasks {
        bytes_written += task.await.unwrap_or(0);
    }
    WorkloadReport {
        frames,
        bytes_written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_viewer_gets_every_frame() {
        let one = run_fanout(1, 2);
        let four = run_fanout(4, 2);
        assert!(one.frames > 130, "{one:?}");
        assert!(one.bytes_written > 2 * 60_000, "{one:?}");
        // Two RTMP and two FLV viewers: RTMP and FLV framing differ a little.
        let rtmp_and_flv = run_fanout(2, 2).bytes_written;
        assert_eq!(four.bytes_written, 2 * rtmp_and_flv);
    }
}
