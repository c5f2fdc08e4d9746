//! One way into the hub for every source.
//!
//! A source (an RTMP publisher today; an edge's pull, a relay, RTSP later)
//! hands [`Ingest`] its media as FLV tag bodies (FLV spec E.4, Enhanced
//! RTMP v2). Ingest classifies each message (keyframe, codec
//! configuration, FLV dialect, multitrack track 0), learns what the stream
//! really carries ([`StreamInfo`]), writes that over the publisher's
//! `onMetaData`, and pushes hub frames.

use bytes::Bytes;
use liu_flv::av::dialect::{audio_dialect, video_dialect};
use liu_flv::av::multitrack::{audio_track, is_sequence_start, video_track};
use liu_flv::av::{AudioPacket, VideoPacket, parse_audio_tag_header, parse_video_tag_header};
use tracing::{debug, info};

use crate::hub::{FrameFlags, FrameKind, Publisher, StreamKey};
use crate::stream_info::{StreamInfo, metadata_dialect};

/// A live publish's way into its stream. Dropping it unpublishes.
pub struct Ingest {
    publisher: Publisher,
    /// What the stream really carries, for logs and `onMetaData`.
    info: Box<StreamInfo>,
}

impl Ingest {
    pub fn new(publisher: Publisher) -> Self {
        Ingest {
            publisher,
            info: Box::default(),
        }
    }

    pub fn key(&self) -> &StreamKey {
        self.publisher.key()
    }

    /// A video message (FLV `VIDEODATA`, legacy or Enhanced).
    pub fn video(&mut self, timestamp: u32, payload: Bytes) {
        let h = match parse_video_tag_header(&payload) {
            Ok(h) => h,
            Err(e) => {
                debug!("video message dropped: {e}");
                return;
            }
        };
        let flags = FrameFlags {
            keyframe: h.is_keyframe(),
            config: h.is_sequence_header()
                || (h.packet == VideoPacket::MultiTrack
                    && video_track(&payload, 0).is_some_and(|t| is_sequence_start(&t))),
            metadata: false,
            dialect: video_dialect(&h),
        };
        let learned = self.info.video(&h, &payload, timestamp);
        self.publisher
            .push(FrameKind::Video, timestamp, payload, flags);
        self.learned(learned);
    }

    /// An audio message (FLV `AUDIODATA`, legacy or Enhanced).
    pub fn audio(&mut self, timestamp: u32, payload: Bytes) {
        let h = match parse_audio_tag_header(&payload) {
            Ok(h) => h,
            Err(e) => {
                debug!("audio message dropped: {e}");
                return;
            }
        };
        let flags = FrameFlags {
            keyframe: false,
            config: h.is_sequence_header
                || (h.packet == AudioPacket::MultiTrack
                    && audio_track(&payload, 0).is_some_and(|t| is_sequence_start(&t))),
            metadata: false,
            dialect: audio_dialect(&h),
        };
        let learned = self.info.audio(&h, &payload);
        self.publisher
            .push(FrameKind::Audio, timestamp, payload, flags);
        self.learned(learned);
    }

    /// The publisher's `onMetaData` (`["onMetaData", object]`): kept as
    /// claimed, with what the stream showed so far written over it.
    pub fn metadata(&mut self, timestamp: u32, payload: Bytes) {
        self.info.claimed(&payload);
        let payload = self.info.metadata().unwrap_or(payload);
        let flags = FrameFlags {
            metadata: true,
            dialect: metadata_dialect(&payload),
            ..FrameFlags::default()
        };
        self.publisher
            .push(FrameKind::Data, timestamp, payload, flags);
    }

    /// Another timed data message, passed on as it came.
    pub fn data(&mut self, timestamp: u32, payload: Bytes) {
        self.publisher
            .push(FrameKind::Data, timestamp, payload, FrameFlags::default());
    }

    /// Sends what was pushed since the last flush to the viewers: call once
    /// per batch of messages read together.
    pub fn flush(&self) {
        self.publisher.flush();
    }

    /// A message told something new about the stream: log it, and correct
    /// the `onMetaData` later viewers get.
    fn learned(&mut self, line: Option<String>) {
        let Some(line) = line else {
            return;
        };
        info!("{line}");
        if let Some(meta) = self.info.metadata() {
            let dialect = metadata_dialect(&meta);
            self.publisher.set_metadata(meta, dialect);
        }
    }
}
