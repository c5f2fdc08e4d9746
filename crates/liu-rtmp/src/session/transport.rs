//! What the server and client sessions share: the chunk codec pair,
//! protocol control handling (RTMP §5.4), acknowledgements and the output
//! buffer.

use bytes::{Bytes, BytesMut};
use liu_flv::amf0::Amf0Value;

use crate::RtmpError;
use crate::chunk::{ChunkDecoder, ChunkEncoder, ChunkLimits, RawMessage};
use crate::command::{Command, status_info};
use crate::control::{CONTROL_CSID, ControlMessage, LimitType, UserControlEvent, type_id};
use crate::media::COMMAND_CSID;

/// The message layer of a session, below commands.
pub(crate) struct Transport {
    pub decoder: ChunkDecoder,
    pub encoder: ChunkEncoder,
    pub input: BytesMut,
    pub output: BytesMut,
    received: u64,
    acked: u64,
    /// Window announced by the peer (RTMP §5.4.4): acknowledge every this many bytes.
    peer_window: Option<u32>,
}

impl Transport {
    pub fn new(limits: ChunkLimits) -> Self {
        Transport {
            decoder: ChunkDecoder::new(limits),
            encoder: ChunkEncoder::new(),
            input: BytesMut::new(),
            output: BytesMut::new(),
            received: 0,
            acked: 0,
            peer_window: None,
        }
    }

    /// Counts received bytes and queues an Acknowledgement when the peer's
    /// window is reached (RTMP §5.4.3).
    pub fn count_received(&mut self, n: usize) {
        self.received += n as u64;
        if let Some(window) = self.peer_window
            && window > 0
            && self.received - self.acked >= u64::from(window)
        {
            self.acked = self.received;
            self.send_control(ControlMessage::Acknowledgement {
                sequence: self.received as u32,
            });
        }
    }

    pub fn next_message(&mut self) -> Result<Option<RawMessage>, RtmpError> {
        Ok(self.decoder.decode(&mut self.input)?)
    }

    /// Handles protocol control and user control messages. Returns the
    /// message back when it is not one of them.
    pub fn handle_control(&mut self, msg: RawMessage) -> Result<Option<RawMessage>, RtmpError> {
        match msg.type_id {
            type_id::SET_CHUNK_SIZE
            | type_id::ABORT
            | type_id::ACKNOWLEDGEMENT
            | type_id::WINDOW_ACK_SIZE
            | type_id::SET_PEER_BANDWIDTH => {
                match ControlMessage::parse(msg.type_id, &msg.payload)? {
                    ControlMessage::SetChunkSize(size) => self.decoder.set_chunk_size(size)?,
                    ControlMessage::Abort { csid } => self.decoder.abort(csid),
                    ControlMessage::WindowAckSize(size) => self.peer_window = Some(size),
                    ControlMessage::Acknowledgement { .. }
                    | ControlMessage::SetPeerBandwidth { .. } => {}
                }
                Ok(None)
            }
            type_id::USER_CONTROL => {
                if let UserControlEvent::PingRequest(t) = UserControlEvent::parse(&msg.payload)? {
                    self.send_user_control(UserControlEvent::PingResponse(t));
                }
                Ok(None)
            }
            _ => Ok(Some(msg)),
        }
    }

    pub fn send_control(&mut self, msg: ControlMessage) {
        let payload = msg.encode();
        self.encoder.write(
            CONTROL_CSID,
            0,
            msg.type_id(),
            0,
            &payload,
            &mut self.output,
        );
        if let ControlMessage::SetChunkSize(size) = msg {
            self.encoder.set_chunk_size(size);
        }
    }

    pub fn send_user_control(&mut self, event: UserControlEvent) {
        let payload = event.encode();
        self.encoder.write(
            CONTROL_CSID,
            0,
            type_id::USER_CONTROL,
            0,
            &payload,
            &mut self.output,
        );
    }

    pub fn send_command(&mut self, stream_id: u32, cmd: &Command) {
        let mut payload = Vec::with_capacity(128);
        cmd.encode(&mut payload);
        self.encoder.write(
            COMMAND_CSID,
            0,
            type_id::COMMAND_AMF0,
            stream_id,
            &payload,
            &mut self.output,
        );
    }

    pub fn send_data(&mut self, stream_id: u32, values: &[Amf0Value]) {
        let payload = liu_flv::amf0::encode_all(values);
        self.encoder.write(
            COMMAND_CSID,
            0,
            type_id::DATA_AMF0,
            stream_id,
            &payload,
            &mut self.output,
        );
    }

    /// `onStatus` on a NetStream (RTMP §7.2.2).
    pub fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let cmd = Command::new(
            "onStatus",
            0.0,
            Amf0Value::Null,
            vec![status_info(level, code, description)],
        );
        self.send_command(stream_id, &cmd);
    }

    pub fn send_peer_bandwidth(&mut self, size: u32) {
        self.send_control(ControlMessage::SetPeerBandwidth {
            size,
            limit: LimitType::Dynamic,
        });
    }

    pub fn take_output(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            None
        } else if self.output.capacity() > IDLE_BUFFER {
            // All of it: an idle connection keeps no large buffer.
            Some(std::mem::take(&mut self.output).freeze())
        } else {
            Some(self.output.split().freeze())
        }
    }

    /// Releases the input buffer once it is consumed and large: an idle
    /// connection keeps no large buffer.
    pub fn compact_input(&mut self) {
        if self.input.is_empty() && self.input.capacity() > IDLE_BUFFER {
            self.input = BytesMut::new();
        }
    }
}

/// Buffer capacity a connection keeps between messages.
const IDLE_BUFFER: usize = 1024;

/// Decodes the values of a data message; type 15 (AMF3 data) carries a
/// format byte before AMF0 values.
pub(crate) fn data_values(
    msg: &RawMessage,
    limits: &liu_flv::amf0::Amf0Limits,
) -> Result<Vec<Amf0Value>, RtmpError> {
    let body = if msg.type_id == type_id::DATA_AMF3 {
        msg.payload.get(1..).unwrap_or(&[])
    } else {
        &msg.payload[..]
    };
    liu_flv::amf0::decode_all_with(body, limits).map_err(|source| RtmpError::Amf {
        context: "data message",
        source,
    })
}

/// The body of a command message; type 17 (AMF3 command) carries a format
/// byte before an AMF0 body.
pub(crate) fn command_body(msg: &RawMessage) -> &[u8] {
    if msg.type_id == type_id::COMMAND_AMF3 {
        msg.payload.get(1..).unwrap_or(&[])
    } else {
        &msg.payload[..]
    }
}
