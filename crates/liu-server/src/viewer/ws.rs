//! WebSocket-FLV viewers' form: the same FLV file as HTTP-FLV, the same
//! shared tags, each write one binary message (RFC 6455 §5.6) whose frame
//! header is the viewer's only bytes of its own.

use liu_ws::{MAX_HEADER, Opcode, frame_header};

use super::form::FlvForm;
use super::tag::tag_at;
use crate::hub::{DirectBytes, Frame};

/// One WebSocket-FLV viewer's messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct WsMessages {
    /// Where the current message's frame header goes.
    header: Option<usize>,
}

impl FlvForm for WsMessages {
    const FILE: bool = true;

    fn begin(&mut self, out: &mut DirectBytes) {
        self.header = Some(out.slot());
    }

    fn frame(&mut self, frame: &Frame, timestamp: u32, out: &mut DirectBytes) {
        tag_at(frame, timestamp, out);
    }

    fn end(&mut self, out: &mut DirectBytes) {
        if let Some(slot) = self.header.take() {
            out.fill_prefix::<MAX_HEADER>(slot, |header, len| {
                frame_header(Opcode::Binary, len, header)
            });
        }
    }
}
