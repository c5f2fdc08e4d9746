//! The one FLV-family viewer driver: RTMP, HTTP-FLV and WebSocket-FLV
//! viewers read the hub through [`FlvViewer`], which owns what they share:
//! the merge window, the FLV header's wait for the stream's tracks, the
//! hand-over of a caught-up viewer's socket to the stream's direct fan-out
//! and back, and which tracks and FLV dialect a viewer takes. What differs
//! is the form ([`FlvForm`]): RTMP messages ([`RtmpMessages`]), FLV tags in
//! an HTTP body ([`FlvTags`]), FLV tags in WebSocket messages
//! ([`WsMessages`]).
//!
//! The adapter keeps what is its own: the socket, its protocol's answers to
//! a publisher leaving or coming back ([`Next`]), and its time bounds.

mod form;
mod rtmp;
mod sink;
mod tag;
mod ws;

use std::cell::RefCell;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use liu_flv::flv::encode_file_header;
use tokio::net::tcp::OwnedWriteHalf;

use crate::hub::{
    Delivery, DirectBytes, DirectTicket, FrameKind, Returned, StreamHeaders, Subscriber,
    SubscriberError,
};
pub use form::{FlvForm, Selection};
pub use rtmp::{RTMP_FORM, RtmpMessages, rtmp_message};
use sink::FormSink;
pub use tag::{FLV_FORM, FlvTags, flv_tag};
pub use ws::WsMessages;

/// Most deliveries taken from the hub at once.
const BATCH: usize = 128;
/// Batch buffers longer than this are released after use, so an idle
/// viewer keeps small ones.
const SMALL_BATCH: usize = 16;

thread_local! {
    /// Viewers' small pieces (patched headers, length prefixes) are copied
    /// into one arena per thread, not one per viewer.
    static SCRATCH: RefCell<DirectBytes> = RefCell::new(DirectBytes::default());
}

/// What [`FlvViewer::next`] found, after the bytes it added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Frames (bytes were added).
    Frames,
    /// The stream is published (again); its configuration follows.
    Published,
    /// The publisher left; nothing follows until [`Next::Published`].
    Unpublished,
    /// The viewer fell behind and was moved forward to a keyframe.
    Skipped,
}

/// One FLV-family viewer's position in a stream and its form.
pub struct FlvViewer<F: FlvForm> {
    subscriber: Subscriber,
    form: F,
    /// Which tracks, in which dialect.
    pub selection: Selection,
    merge_window: Duration,
    /// Media was delivered already (the merge window applies from then on).
    started: bool,
    batch: Vec<Delivery>,
    /// Deliveries of `batch` handled already.
    taken: usize,
    /// The FLV header, to lead the next write (FLV-file forms).
    file_header: Option<Bytes>,
    /// Frames were written (a viewer may go direct from then on).
    wrote: bool,
    /// When [`FlvViewer::announce`] stops waiting, once it began: a call
    /// cancelled and made again does not wait longer.
    announce_by: Option<tokio::time::Instant>,
}

impl<F: FlvForm> FlvViewer<F> {
    pub fn new(
        subscriber: Subscriber,
        form: F,
        selection: Selection,
        merge_window: Duration,
    ) -> Self {
        FlvViewer {
            subscriber,
            form,
            selection,
            merge_window,
            started: false,
            batch: Vec::new(),
            taken: 0,
            file_header: None,
            wrote: false,
            announce_by: None,
        }
    }

    pub fn form(&self) -> &F {
        &self.form
    }

    /// Starts again where a new viewer would (after a pause).
    pub fn rejoin(&mut self) {
        self.batch.clear();
        self.taken = 0;
        self.subscriber.rejoin();
    }

    /// True while the stream has a live publisher.
    pub fn is_published(&self) -> bool {
        self.subscriber.is_published()
    }

    /// Waits up to `wait` for a publisher (one that left to come back).
    pub async fn wait_published(&self, wait: Duration) -> bool {
        self.subscriber.wait_published(wait).await
    }

    /// FLV-file forms: holds the first frames until the stream's tracks are
    /// known (from `onMetaData`, from both tracks' frames, or after
    /// `wait`), then has the FLV header with the right audio and video
    /// flags lead them: flv.js and mpegts.js wait for every track the
    /// header announces.
    pub async fn announce(&mut self, wait: Duration) -> Result<(), SubscriberError> {
        let deadline = *self
            .announce_by
            .get_or_insert_with(|| tokio::time::Instant::now() + wait);
        let (mut audio, mut video) = (false, false);
        let mut scanned = self.taken;
        let (audio, video) = loop {
            if let Some(tracks) = announced_tracks(&self.subscriber.headers()) {
                break tracks;
            }
            let mut changed = false;
            for delivery in &self.batch[scanned..] {
                match delivery {
                    Delivery::Frame(f) => {
                        audio |= f.kind == FrameKind::Audio;
                        video |= f.kind == FrameKind::Video;
                    }
                    // The publisher left: what came is all there is.
                    Delivery::Unpublished => changed = true,
                    Delivery::Published | Delivery::Skipped => {}
                }
            }
            scanned = self.batch.len();
            if (audio && video) || changed {
                break (audio || !video, video || !audio);
            }
            // `next_batch` returns at once when its output is not empty.
            let mut more = Vec::new();
            let waited =
                tokio::time::timeout_at(deadline, self.subscriber.next_batch(&mut more, BATCH))
                    .await;
            self.batch.append(&mut more);
            match waited {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => break (audio || !video, video || !audio),
            }
        };
        self.file_header = Some(Bytes::copy_from_slice(&encode_file_header(audio, video)));
        Ok(())
    }

    /// Appends the bytes of what comes next to `out`, waiting until there
    /// is something; stops after a change of the stream's state and
    /// returns it (the bytes before it are in `out`). Cancel-safe.
    pub async fn next(&mut self, out: &mut Vec<Bytes>) -> Result<Next, SubscriberError> {
        if self.taken == self.batch.len() {
            self.subscriber.next_batch(&mut self.batch, BATCH).await?;
            // The first batch (the GOP cache) leaves at once; later ones
            // wait for more messages so one write carries them all.
            if std::mem::replace(&mut self.started, true) && !self.merge_window.is_zero() {
                tokio::time::sleep(self.merge_window).await;
                self.subscriber.read_ready(&mut self.batch, BATCH)?;
            }
        }
        Ok(self.drain(out))
    }

    /// Writes the frames up to the next change of state, or takes that
    /// change.
    fn drain(&mut self, out: &mut Vec<Bytes>) -> Next {
        let next = self.drain_some(out);
        if self.taken == self.batch.len() {
            // Nothing of the batch is kept: its frames may leave memory
            // (the stream keeps what later viewers need), and a viewer
            // waiting or written to directly holds no large buffer.
            self.batch.clear();
            self.taken = 0;
            if self.batch.capacity() > SMALL_BATCH {
                self.batch = Vec::new();
            }
        }
        next
    }

    fn drain_some(&mut self, out: &mut Vec<Bytes>) -> Next {
        let start = self.taken;
        let end = self.batch[start..]
            .iter()
            .position(|d| !matches!(d, Delivery::Frame(_)))
            .map_or(self.batch.len(), |i| start + i);
        if end == start {
            self.taken += 1;
            return match self.batch[start] {
                Delivery::Published => Next::Published,
                Delivery::Unpublished => Next::Unpublished,
                Delivery::Skipped | Delivery::Frame(_) => Next::Skipped,
            };
        }
        let frames = self.batch[start..end].iter().map(|d| match d {
            Delivery::Frame(f) => f,
            _ => unreachable!("only frames in start..end"),
        });
        let header = self.file_header.take();
        SCRATCH.with(|scratch| {
            let bytes = &mut *scratch.borrow_mut();
            self.selection.write(&mut self.form, header, frames, bytes);
            bytes.move_to(out);
        });
        self.taken = end;
        self.wrote = true;
        Next::Frames
    }

    /// Hands the socket's write side to the stream if this viewer has
    /// read everything there is: the stream then writes new frames to it
    /// in this viewer's form until it hands it back ([`DirectTicket`]).
    pub fn go_direct(&mut self, wr: OwnedWriteHalf) -> Result<DirectTicket, OwnedWriteHalf> {
        if !self.wrote || self.taken < self.batch.len() || (F::FILE && self.file_header.is_some()) {
            return Err(wr);
        }
        let sink = Box::new(FormSink {
            wr,
            form: self.form.clone(),
            selection: self.selection,
            pending: Vec::new(),
            error: None,
        });
        self.subscriber.go_direct(sink).map_err(|sink| sink.wr)
    }

    /// The stream handed the write side back: it and what the socket did
    /// not take (to be written first); the error that ended direct writing,
    /// if one did. Reading goes on where the stream stopped writing.
    pub fn resume(&mut self, returned: Returned) -> io::Result<(OwnedWriteHalf, Vec<Bytes>)> {
        let sink = self.subscriber.resume::<FormSink<F>>(returned);
        let (wr, pending, selection) = unpack(sink)?;
        // The clock went on while the stream wrote.
        self.selection.clock = selection.clock;
        Ok((wr, pending))
    }
}

/// The write side and unwritten bytes of a sink handed back to a viewer
/// that no longer reads the stream.
pub fn reclaim<F: FlvForm>(returned: Returned) -> io::Result<(OwnedWriteHalf, Vec<Bytes>)> {
    let (wr, pending, _) = unpack(returned.into_sink::<FormSink<F>>())?;
    Ok((wr, pending))
}

/// A returned sink's write side, unwritten bytes and selection (its clock
/// went on while the stream wrote).
fn unpack<F: FlvForm>(
    sink: Option<Box<FormSink<F>>>,
) -> io::Result<(OwnedWriteHalf, Vec<Bytes>, Selection)> {
    let sink = sink.ok_or_else(|| io::Error::other("a foreign sink came back"))?;
    let FormSink {
        wr,
        pending,
        error,
        selection,
        ..
    } = *sink;
    match error {
        Some(e) => Err(e),
        None => Ok((wr, pending, selection)),
    }
}

/// The tracks a stream announces: `onMetaData`'s `audiocodecid` and
/// `videocodecid` (FLV spec E.5) and the sequence headers seen, else both
/// sequence headers.
fn announced_tracks(h: &StreamHeaders) -> Option<(bool, bool)> {
    if let Some(meta) = &h.metadata
        && let Ok(values) = liu_flv::amf0::decode_all(&meta.payload)
        && let Some(object) = values.get(1)
    {
        let audio = object.get("audiocodecid").is_some() || h.audio_config.is_some();
        let video = object.get("videocodecid").is_some() || h.video_config.is_some();
        if audio || video {
            return Some((audio, video));
        }
    }
    (h.audio_config.is_some() && h.video_config.is_some()).then_some((true, true))
}

#[cfg(test)]
mod tests;
