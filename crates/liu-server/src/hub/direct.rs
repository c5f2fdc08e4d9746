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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;

use super::{Frame, Stream};

/// A viewer's output, written to by the publisher while the viewer keeps up.
pub trait DirectSink: std::any::Any + Send {
    /// Writes `frames`, in order, without blocking. `true` if everything
    /// was written; `false` hands the sink back to its task, with whatever
    /// could not be written kept inside it.
    fn write_now(&mut self, frames: &[Arc<Frame>]) -> bool;
}

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
    /// Writes the frames pushed since the last flush to every direct sink,
    /// outside the stream's lock. Sinks that could not take everything, or
    /// whose task asked for them, go back to their tasks.
    pub(super) fn write_direct(&self) {
        let (entries, frames, first, head) = {
            let mut state = self.lock();
            if state.direct.is_empty() {
                return;
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
            let entries = std::mem::take(&mut state.direct);
            if !all_frames {
                drop(state);
                entries.into_iter().for_each(DirectEntry::give_back);
                return;
            }
            (entries, frames, first, head)
        };
        let mut kept = Vec::with_capacity(entries.len());
        for mut entry in entries {
            if entry.recalled() {
                entry.give_back();
                continue;
            }
            let due = &frames[(entry.cursor - first) as usize..];
            let written = due.is_empty() || entry.sink.write_now(due);
            entry.cursor = head;
            if written {
                kept.push(entry);
            } else {
                entry.give_back();
            }
        }
        let mut state = self.lock();
        for entry in kept {
            if entry.recalled() {
                entry.give_back();
            } else {
                state.direct.push(entry);
            }
        }
    }

    /// Hands every direct sink back to its task (the publisher came or went).
    pub(super) fn return_direct(&self) {
        let entries = std::mem::take(&mut self.lock().direct);
        entries.into_iter().for_each(DirectEntry::give_back);
    }
}
