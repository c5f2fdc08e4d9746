//! Forms and clocks: a patched header must be byte for byte what a fresh
//! serialization at the viewer's time gives.

use std::sync::Arc;

use bytes::Bytes;
use liu_flv::av::FlvDialect;
use liu_flv::flv::{TagType, encode_tag};

use super::form::Clock;
use super::*;
use crate::config::Timestamps;
use crate::hub::{DirectBytes, Frame, FrameKind};

fn frame(kind: FrameKind, timestamp: u64, len: usize) -> Arc<Frame> {
    let mut payload = vec![0x17u8, 1, 0, 0, 0];
    payload.extend((0..len).map(|i| i as u8));
    Arc::new(Frame::new(kind, timestamp, Bytes::from(payload)))
}

fn written<F: FlvForm>(form: &mut F, selection: &mut Selection, frames: &[Arc<Frame>]) -> Vec<u8> {
    let mut out = DirectBytes::default();
    selection.write(form, None, frames, &mut out);
    let mut bufs = Vec::new();
    out.move_to(&mut bufs);
    bufs.concat()
}

#[test]
fn zero_clock_starts_at_the_first_media_frame() {
    let mut clock = Clock::new(Timestamps::Zero);
    let mut meta = Frame::new(FrameKind::Data, 0, Bytes::new());
    meta.metadata = true;
    let mut config = Frame::new(FrameKind::Video, 9_000, Bytes::new());
    config.config = true;
    assert_eq!(clock.stamp(&meta), 0);
    assert_eq!(
        clock.stamp(&config),
        0,
        "a sequence header before any media"
    );
    assert_eq!(
        clock.stamp(&frame(FrameKind::Audio, 8_990, 1)),
        0,
        "audio sets 0 too"
    );
    assert_eq!(clock.stamp(&frame(FrameKind::Video, 9_000, 1)), 10);
    assert_eq!(clock.stamp(&config), 10, "a sequence header later");
    assert_eq!(clock.stamp(&meta), 0);
    let mut source = Clock::new(Timestamps::Source);
    assert_eq!(source.stamp(&frame(FrameKind::Video, 9_000, 1)), 9_000);
}

#[test]
fn rtmp_messages_on_a_viewers_timeline_are_what_chunking_at_that_time_gives() {
    // Larger than the chunk size: continuation chunks follow the patched header.
    let frames = [
        frame(FrameKind::Video, 60_000, 10_000),
        frame(FrameKind::Video, 60_040, 100),
        frame(FrameKind::Audio, 60_041, 300),
    ];
    for stream_id in [1, 3] {
        let mut form = RtmpMessages {
            stream_id,
            chunk_size: 4096,
            out_chunk_size: 4096,
        };
        let mut zero = Selection::all(FlvDialect::Legacy, Timestamps::Zero);
        let got = written(&mut form, &mut zero, &frames);
        let want: Vec<u8> = [(0, &frames[0]), (40, &frames[1]), (41, &frames[2])]
            .iter()
            .flat_map(|(ts, f)| rtmp_message(f, *ts, stream_id, 4096).to_vec())
            .collect();
        assert_eq!(got, want, "zero timeline, message stream {stream_id}");
        let mut source = Selection::all(FlvDialect::Legacy, Timestamps::Source);
        let got = written(&mut form, &mut source, &frames);
        let want: Vec<u8> = frames
            .iter()
            .flat_map(|f| rtmp_message(f, f.wire_timestamp(), stream_id, 4096).to_vec())
            .collect();
        assert_eq!(got, want, "source timeline, message stream {stream_id}");
    }
}

#[test]
fn rtmp_viewer_past_the_short_timestamp_gets_its_own_extended_chunks() {
    // A viewer 4.7 hours into its own timeline: extended timestamps in every chunk.
    let start = frame(FrameKind::Video, 1_000, 10);
    let late = frame(FrameKind::Video, 1_000 + 0x0100_0000, 10_000);
    let mut form = RtmpMessages {
        stream_id: 1,
        chunk_size: 4096,
        out_chunk_size: 4096,
    };
    let mut zero = Selection::all(FlvDialect::Legacy, Timestamps::Zero);
    written(&mut form, &mut zero, std::slice::from_ref(&start));
    let got = written(&mut form, &mut zero, std::slice::from_ref(&late));
    assert_eq!(got, rtmp_message(&late, 0x0100_0000, 1, 4096).to_vec());
}

#[test]
fn flv_tags_and_websocket_messages_on_a_viewers_timeline() {
    let frames = [
        frame(FrameKind::Video, 0x0123_4567, 50),
        frame(FrameKind::Audio, 0x0123_4570, 20),
    ];
    let tag = |f: &Frame, ts: u32| {
        let kind = if f.kind == FrameKind::Audio {
            TagType::Audio
        } else {
            TagType::Video
        };
        encode_tag(kind, ts, &f.payload).to_vec()
    };
    let mut zero = Selection::all(FlvDialect::Legacy, Timestamps::Zero);
    let got = written(&mut FlvTags::new(false), &mut zero, &frames);
    let want = [tag(&frames[0], 0), tag(&frames[1], 9)].concat();
    assert_eq!(got, want);
    // Chunked: one chunk around the write.
    let mut zero = Selection::all(FlvDialect::Legacy, Timestamps::Zero);
    let got = written(&mut FlvTags::new(true), &mut zero, &frames);
    assert_eq!(
        got,
        [
            format!("{:x}\r\n", want.len()).into_bytes(),
            want.clone(),
            b"\r\n".to_vec()
        ]
        .concat()
    );
    // WebSocket: one binary message around the write.
    let mut zero = Selection::all(FlvDialect::Legacy, Timestamps::Zero);
    let got = written(&mut WsMessages::default(), &mut zero, &frames);
    assert!(want.len() < 126);
    assert_eq!(got, [vec![0x82, want.len() as u8], want].concat());
    // Nothing taken: no empty chunk, no empty message.
    let mut audio_only = Selection::all(FlvDialect::Legacy, Timestamps::Zero);
    audio_only.audio = false;
    audio_only.video = false;
    assert!(written(&mut FlvTags::new(true), &mut audio_only, &frames).is_empty());
    assert!(written(&mut WsMessages::default(), &mut audio_only, &frames).is_empty());
}
