//! The HTTP-FLV viewer: a hand-written GET, the response head, then the
//! body (chunked, sized or close-delimited) skimmed as FLV tags. A
//! WebSocket-FLV viewer is the same with an upgrade: `101`, then the FLV
//! stream in WebSocket frames.

use std::time::Instant;

use super::{Failure, Phase, Tracker, ViewerConfig, connect, read_setup, write_all};
use crate::http::{self, BodyKind, Dechunker, Deframer, MAX_HEAD};
use crate::skim::{FlvSkimmer, Message};
use crate::target::Protocol;

pub(super) async fn play(config: &ViewerConfig, t: &mut Tracker) -> Result<(), Failure> {
    let mut sock = connect(config, t).await?;
    t.phase = Phase::Setup;
    let target = &config.target;
    let websocket = target.protocol == Protocol::WsFlv;
    let request = if websocket {
        http::websocket_request(&target.authority(), &target.stream)
    } else {
        http::request(&target.authority(), &target.stream)
    };
    write_all(&mut sock, request.as_bytes(), t.phase).await?;

    let mut head = Vec::with_capacity(512);
    let mut body = loop {
        let (start, phase) = (t.start, t.phase);
        let step = read_setup(config, start, phase, &mut sock, |data, now| {
            head_bytes(&mut head, data, websocket, t, now)
        })
        .await?;
        let Some(step) = step else {
            let why = "the server closed the connection before answering";
            return Err(Failure::new("closed", why));
        };
        if let Some(body) = step? {
            break body;
        }
    };
    drop(head);
    t.phase = Phase::Playing;
    loop {
        let phase = t.phase;
        let read = sock.read_some(|data, now| {
            let r = body.feed(data, t, now);
            t.after_read(data.len(), body.skim.media_bytes(), now);
            r
        });
        match read.await {
            Ok(Some(r)) => r?,
            Ok(None) => return Ok(()),
            Err(e) => return Err(Failure::io(phase, &e)),
        }
        if body.is_done() {
            return Ok(());
        }
    }
}

/// Takes one read during the response head; once the head is complete,
/// returns the body reader, fed with the bytes that followed the head.
fn head_bytes(
    head: &mut Vec<u8>,
    data: &[u8],
    websocket: bool,
    t: &mut Tracker,
    now: Instant,
) -> Result<Option<Body>, Failure> {
    let before = head.len();
    let room = (MAX_HEAD + 4).saturating_sub(before);
    head.extend_from_slice(&data[..data.len().min(room)]);
    let result = http::parse_head(head)
        .map_err(Failure::from)
        .and_then(|response| {
            let Some(response) = response else {
                return Ok(None);
            };
            let want = if websocket { 101 } else { 200 };
            if response.status != want {
                return Err(Failure::new(
                    "http_status",
                    format!("HTTP {}", response.status),
                ));
            }
            // The head ended in this read (it had not before), so it ends inside `data`.
            let mut body = if websocket {
                Body::websocket()
            } else {
                Body::new(response.body)
            };
            body.feed(&data[response.len - before..], t, now)?;
            Ok(Some(body))
        });
    let media = result
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .map_or(0, |b| b.skim.media_bytes());
    t.after_read(data.len(), media, now);
    result
}

/// The response body: its framing and the FLV skimmer behind it.
struct Body {
    framing: Framing,
    skim: FlvSkimmer,
}

enum Framing {
    Chunked(Dechunker),
    WebSocket(Deframer),
    Length(u64),
    Close,
}

impl Body {
    fn new(kind: BodyKind) -> Self {
        let framing = match kind {
            BodyKind::Chunked => Framing::Chunked(Dechunker::new()),
            BodyKind::Length(n) => Framing::Length(n),
            BodyKind::Close => Framing::Close,
        };
        Body {
            framing,
            skim: FlvSkimmer::new(),
        }
    }

    fn websocket() -> Self {
        Body {
            framing: Framing::WebSocket(Deframer::default()),
            skim: FlvSkimmer::new(),
        }
    }

    fn is_done(&self) -> bool {
        match &self.framing {
            Framing::Chunked(d) => d.is_done(),
            Framing::WebSocket(d) => d.is_done(),
            Framing::Length(n) => *n == 0,
            Framing::Close => false,
        }
    }

    /// Takes body bytes as received on the socket.
    fn feed(&mut self, data: &[u8], t: &mut Tracker, now: Instant) -> Result<(), Failure> {
        let skim = &mut self.skim;
        let mut on_tag = |m: &Message<'_>| t.on_message(m, now);
        match &mut self.framing {
            Framing::Chunked(d) => d.feed(data, &mut |part| skim.feed(part, &mut on_tag))?,
            Framing::WebSocket(d) => d.feed(data, &mut |part| skim.feed(part, &mut on_tag))?,
            Framing::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                *left -= n as u64;
                skim.feed(&data[..n], &mut on_tag)?;
            }
            Framing::Close => skim.feed(data, &mut on_tag)?,
        }
        Ok(())
    }
}
