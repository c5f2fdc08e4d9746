//! Direct fan-out: a viewer that has caught up hands its socket's write
//! side to the stream, and the publisher writes new frames to it at flush
//! time, without waking the viewer's task (no wake-up, no task poll, no
//! lock of the stream per viewer and message).
//!
//! The hub stays protocol-free: a viewer's output adapter implements
//! [`DirectSink`] (its own bytes for a frame, its own socket). A sink that
//! cannot take everything at once (a full socket, an error) keeps what is
//! left and is handed back to its task, which carries on as usual: awaits
//! the socket, then reads the ring from where the sink stopped.

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::sync::oneshot;

use super::{Frame, Stream};
use crate::send_batch::{MAX_PARTS, SendBatch, SendJob};

thread_local! {
    /// One flush's scratch per thread: the bytes, the jobs and the results.
    static SCRATCH: RefCell<(DirectBytes, Vec<SendJob>, Vec<io::Result<usize>>)> =
        RefCell::new(Default::default());
}

/// A viewer's output, written to by the publisher while the viewer keeps up.
pub trait DirectSink: std::any::Any + Send {
    /// The socket this viewer's bytes go to.
    fn socket(&self) -> RawFd;
    /// Appends this viewer's bytes for `frames`, in order, to `out`.
    fn bytes_for(&mut self, frames: &[Arc<Frame>], out: &mut DirectBytes);
    /// The write stopped short (a full socket): `rest` is to be written
    /// first by the viewer's task, to which the sink now goes back.
    fn keep(&mut self, rest: Vec<Bytes>);
    /// The write failed; the sink goes back to its task with the error.
    fn fail(&mut self, error: io::Error);
}

/// The bytes of one flush for all direct sinks: shared buffers, plus small
/// per-viewer pieces (a patched header, a chunk-size line) copied into one
/// arena, so a flush allocates nothing per viewer.
#[derive(Default)]
pub struct DirectBytes {
    bufs: Vec<Bytes>,
    arena: BytesMut,
}

impl DirectBytes {
    /// A buffer shared with other viewers.
    pub fn shared(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.bufs.push(b);
        }
    }

    /// A few bytes of this viewer's own.
    pub fn copy(&mut self, b: &[u8]) {
        let piece = self.copied(b);
        self.bufs.push(piece);
    }

    /// A place for bytes known only once what follows is added (a length
    /// prefix); set it with [`DirectBytes::fill`].
    pub fn slot(&mut self) -> usize {
        self.bufs.push(Bytes::new());
        self.bufs.len() - 1
    }

    /// Sets a [`DirectBytes::slot`] to a copy of `b`.
    pub fn fill(&mut self, slot: usize, b: &[u8]) {
        self.bufs[slot] = self.copied(b);
    }

    /// Bytes added after `slot` so far.
    pub fn len_after(&self, slot: usize) -> usize {
        self.bufs[slot + 1..].iter().map(Bytes::len).sum()
    }

    /// Sets `slot` to the prefix `write` makes, into a buffer of `N` bytes,
    /// from the length of what was added after it, and returns that length;
    /// leaves the slot empty when nothing was (an empty HTTP chunk would
    /// end the body, an empty WebSocket message is noise).
    pub fn fill_prefix<const N: usize>(
        &mut self,
        slot: usize,
        write: impl FnOnce(&mut [u8; N], usize) -> usize,
    ) -> usize {
        let len = self.len_after(slot);
        if len > 0 {
            let mut prefix = [0u8; N];
            let n = write(&mut prefix, len);
            self.fill(slot, &prefix[..n]);
        }
        len
    }

    /// Moves every buffer added so far to the end of `out`.
    pub fn move_to(&mut self, out: &mut Vec<Bytes>) {
        out.append(&mut self.bufs);
    }

    fn copied(&mut self, b: &[u8]) -> Bytes {
        if self.arena.capacity() - self.arena.len() < b.len() {
            self.arena.reserve(ARENA.max(b.len()));
        }
        self.arena.extend_from_slice(b);
        self.arena.split().freeze()
    }
}

/// Longest an idle direct writer sleeps before it checks for sinks.
const WRITER_IDLE: Duration = Duration::from_secs(1);

/// Scratch entries kept between rounds.
const LARGE_SCRATCH: usize = 4096;

/// Arena bytes reserved at a time.
const ARENA: usize = 16 * 1024;

/// A sink handed back: the viewer continues reading the ring at `cursor`.
pub struct Returned {
    pub(super) sink: Box<dyn DirectSink>,
    pub(super) cursor: u64,
}

impl Returned {
    /// The sink as the type it was handed over as, for a viewer that no
    /// longer reads the stream (else see [`super::Subscriber::resume`]).
    pub fn into_sink<T: DirectSink>(self) -> Option<Box<T>> {
        let any: Box<dyn std::any::Any + Send> = self.sink;
        any.downcast::<T>().ok()
    }
}

/// A sink registered with its stream.
pub(super) struct DirectEntry {
    pub(super) id: u64,
    pub(super) sink: Box<dyn DirectSink>,
    /// Next ring sequence number this sink is due.
    pub(super) cursor: u64,
    pub(super) back: oneshot::Sender<Returned>,
    pub(super) recall: Arc<AtomicBool>,
}

impl DirectEntry {
    /// Hands the sink back to its task (which may be gone: then it is dropped).
    pub(super) fn give_back(self) {
        let _ = self.back.send(Returned {
            sink: self.sink,
            cursor: self.cursor,
        });
    }

    pub(super) fn recalled(&self) -> bool {
        self.recall.load(Ordering::Acquire)
    }
}

/// The viewer's side of a sink it handed over.
pub struct DirectTicket {
    pub(super) stream: Arc<Stream>,
    pub(super) id: u64,
    pub(super) rx: oneshot::Receiver<Returned>,
    pub(super) recall: Arc<AtomicBool>,
}

impl DirectTicket {
    /// Waits until the publisher hands the sink back (it could not write
    /// everything, or the stream changed).
    pub async fn returned(&mut self) -> Option<Returned> {
        (&mut self.rx).await.ok()
    }

    /// Takes the sink back now: at once if the publisher is not writing to
    /// it, else as soon as its write is done.
    pub async fn recall(&mut self) -> Option<Returned> {
        {
            let mut state = self.stream.lock();
            if let Some(i) = state.direct.iter().position(|e| e.id == self.id) {
                let entry = state.direct.swap_remove(i);
                return Some(Returned {
                    sink: entry.sink,
                    cursor: entry.cursor,
                });
            }
            // Out for writing (or already given back): ask for it.
            self.recall.store(true, Ordering::Release);
        }
        (&mut self.rx).await.ok()
    }
}

impl Drop for DirectTicket {
    /// A viewer that goes away takes its sink out of the stream.
    fn drop(&mut self) {
        let mut state = self.stream.lock();
        if let Some(i) = state.direct.iter().position(|e| e.id == self.id) {
            state.direct.swap_remove(i);
        } else {
            self.recall.store(true, Ordering::Release);
        }
    }
}

impl Stream {
    /// Writes the frames pushed since the last write to every direct sink,
    /// outside the stream's lock. Sinks that could not take everything, or
    /// whose task asked for them, go back to their tasks. `false` when
    /// there was no sink (a ticker then stops).
    pub(super) fn write_direct(&self) -> bool {
        let (mut entries, frames, first, head) = {
            let mut state = self.lock();
            if state.direct.is_empty() {
                state.direct_ticker = false;
                return false;
            }
            let head = state.ring.head();
            let first = state.direct.iter().map(|e| e.cursor).min().unwrap_or(head);
            let mut frames = Vec::with_capacity((head - first) as usize);
            let mut all_frames = true;
            for seq in first..head {
                match state.ring.get(seq) {
                    Some(super::Entry::Frame(f)) => frames.push(f.clone()),
                    // Publish state changes and gaps are for the task to handle.
                    _ => all_frames = false,
                }
            }
            if frames.is_empty() && all_frames {
                // Nothing new (a quiet publisher, an idle tick).
                return true;
            }
            let entries = std::mem::take(&mut state.direct);
            if !all_frames {
                drop(state);
                entries.into_iter().for_each(DirectEntry::give_back);
                return true;
            }
            (entries, frames, first, head)
        };
        let mut kept = Vec::with_capacity(entries.len());
        // Entries recalled before their bytes were taken: they keep their cursor.
        let mut skipped = Vec::with_capacity(entries.len());
        SCRATCH.with(|scratch| {
            let (bytes, jobs, results) = &mut *scratch.borrow_mut();
            bytes.bufs.clear();
            jobs.clear();
            // Each entry's bytes, as one job per entry (an empty job for one
            // that is recalled or has nothing due).
            for entry in &mut entries {
                let start = bytes.bufs.len();
                let skip = entry.recalled();
                if !skip {
                    let due = &frames[(entry.cursor - first) as usize..];
                    entry.sink.bytes_for(due, bytes);
                }
                skipped.push(skip);
                if bytes.bufs.len() - start > MAX_PARTS {
                    // Too many pieces for one write: the task takes them.
                    let rest = bytes.bufs.drain(start..).collect();
                    entry.sink.keep(rest);
                    entry.recall.store(true, Ordering::Release);
                }
                jobs.push(SendJob {
                    fd: entry.sink.socket(),
                    parts: start..bytes.bufs.len(),
                });
            }
            SendBatch::with(self.use_io_uring, |batch| {
                batch.send(jobs, &bytes.bufs, results)
            });
            for (((mut entry, job), result), skip) in entries
                .into_iter()
                .zip(jobs.iter())
                .zip(results.drain(..))
                .zip(skipped.iter())
            {
                if *skip {
                    // Nothing was written: the task reads on from its cursor.
                    entry.give_back();
                    continue;
                }
                // What was written is accounted for, even when the task asked
                // for its sink meanwhile: the rest goes back with it.
                entry.cursor = head;
                let parts = &bytes.bufs[job.parts.clone()];
                let wanted: usize = parts.iter().map(Bytes::len).sum();
                match result {
                    Ok(n) if n == wanted => {
                        if entry.recalled() {
                            entry.give_back();
                        } else {
                            kept.push(entry);
                        }
                        continue;
                    }
                    Ok(n) => entry.sink.keep(rest_after(parts, n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        entry.sink.keep(parts.to_vec());
                    }
                    Err(e) => entry.sink.fail(e),
                }
                entry.give_back();
            }
            bytes.bufs.clear();
            // A round with long writes (a merge window, many viewers) leaves
            // large scratch: give it back rather than keep it per stream.
            if bytes.bufs.capacity() > LARGE_SCRATCH {
                bytes.bufs = Vec::new();
                *results = Vec::new();
            }
            if jobs.capacity() > LARGE_SCRATCH {
                *jobs = Vec::new();
            }
        });
        let mut state = self.lock();
        for entry in kept {
            if entry.recalled() {
                entry.give_back();
            } else {
                state.direct.push(entry);
            }
        }
        true
    }

    /// Starts the stream's direct writer: one task that writes every
    /// direct sink, after each publisher flush (merge window 0) or every
    /// merge window (one timer and one submission per window for all
    /// viewers, not one per viewer). Frames that arrive while it writes
    /// go out together in its next round, so under load writes merge by
    /// themselves instead of piling up, and the publisher never waits for
    /// its viewers. It ends when no sink is left.
    pub(super) fn start_ticker(self: &Arc<Self>) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let stream = Arc::downgrade(self);
        let window = self.merge_window;
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(window.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                let Some(s) = stream.upgrade() else {
                    return;
                };
                if window.is_zero() {
                    // Bounded, so a writer whose stream has gone quiet still
                    // notices that its sinks are gone.
                    let _ = tokio::time::timeout(WRITER_IDLE, s.direct_wake.notified()).await;
                } else {
                    drop(s);
                    tick.tick().await;
                    let Some(again) = stream.upgrade() else {
                        return;
                    };
                    if !again.write_direct() {
                        return;
                    }
                    continue;
                }
                if !s.write_direct() {
                    return;
                }
            }
        });
        true
    }

    /// Hands every direct sink back to its task (the publisher came or went).
    pub(super) fn return_direct(&self) {
        let entries = std::mem::take(&mut self.lock().direct);
        entries.into_iter().for_each(DirectEntry::give_back);
    }
}

/// The buffers after the first `n` bytes.
fn rest_after(parts: &[Bytes], n: usize) -> Vec<Bytes> {
    let mut skip = n;
    let mut rest = Vec::new();
    for part in parts {
        if skip >= part.len() {
            skip -= part.len();
            continue;
        }
        let mut part = part.clone();
        part.advance(skip);
        skip = 0;
        rest.push(part);
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_after_a_short_write() {
        let parts = [
            Bytes::from_static(b"ab"),
            Bytes::from_static(b"cde"),
            Bytes::from_static(b"f"),
        ];
        let wire = b"abcdef";
        for n in 0..=wire.len() {
            let rest: Vec<u8> = rest_after(&parts, n).concat();
            assert_eq!(rest, &wire[n..], "after {n} bytes");
        }
    }

    #[test]
    fn copied_pieces_share_one_arena() {
        let mut out = DirectBytes::default();
        out.copy(b"12");
        out.shared(Bytes::from_static(b"shared"));
        out.copy(b"345");
        out.shared(Bytes::new());
        let slot = out.slot();
        out.shared(Bytes::from_static(b"tail"));
        out.fill(slot, b"6");
        let all: Vec<u8> = out.bufs.concat();
        assert_eq!(all, b"12shared3456tail");
        assert_eq!(out.bufs.len(), 5);
    }
}
