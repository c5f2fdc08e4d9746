//! A caught-up viewer's socket as a [`DirectSink`]: the stream writes each
//! new frame to it in the viewer's form, with no task of the viewer's
//! running.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::tcp::OwnedWriteHalf;

use super::form::{FlvForm, Selection};
use crate::hub::{DirectBytes, DirectSink, Frame};

pub(super) struct FormSink<F: FlvForm> {
    pub wr: OwnedWriteHalf,
    pub form: F,
    pub selection: Selection,
    /// What a full socket did not take, to be written before anything else.
    pub pending: Vec<Bytes>,
    /// The write error that ended direct writing.
    pub error: Option<io::Error>,
}

impl<F: FlvForm> DirectSink for FormSink<F> {
    fn socket(&self) -> RawFd {
        self.wr.as_ref().as_raw_fd()
    }

    fn bytes_for(&mut self, frames: &[Arc<Frame>], out: &mut DirectBytes) {
        if !frames.is_empty() {
            self.selection.write(&mut self.form, None, frames, out);
        }
    }

    fn keep(&mut self, rest: Vec<Bytes>) {
        self.pending.extend(rest);
    }

    fn fail(&mut self, error: io::Error) {
        self.error = Some(error);
    }
}
