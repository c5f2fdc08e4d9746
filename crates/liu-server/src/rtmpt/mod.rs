//! RTMPT sessions on the HTTP listeners (RTMPTS on HTTPS): each tunnel
//! feeds one RTMP connection, the same one TCP feeds, through a pair of
//! bounded byte queues. `send` bodies go to the connection's reads; what the
//! connection writes waits for the client's next request.
//!
//! Sessions have unguessable ids (128 random bits), are bounded in number
//! and in buffered bytes each way, and end when the client closes them,
//! when it sends nothing for `session_timeout_ms`, or when the RTMP
//! connection ends (after its last bytes are fetched).

pub(crate) mod pipe;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use liu_rtmp::tunnel::{TunnelCommand, TunnelError, TunnelRequest, TunnelState};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::access::{AccessRequest, Action, Protocol};
use crate::buf_list::BufList;
use crate::config::{RtmpTransport, RtmptConfig};
use crate::context::Context;
use crate::repeats::{self, Level};
use crate::transport::Transport;
use pipe::{Queues, Tunnel, TunnelStream};

/// What a tunnel request gets back: an HTTP status and a body.
#[derive(Debug)]
pub struct TunnelAnswer {
    pub status: u16,
    pub body: BufList,
    /// `application/x-fcs` (else plain text, for errors).
    pub fcs: bool,
}

impl TunnelAnswer {
    fn fcs(body: BufList) -> Self {
        TunnelAnswer {
            status: 200,
            body,
            fcs: true,
        }
    }

    fn error(status: u16, text: &'static str) -> Self {
        TunnelAnswer {
            status,
            body: Bytes::from_static(text.as_bytes()).into(),
            fcs: false,
        }
    }
}

/// All open tunnels.
pub struct Tunnels {
    config: RtmptConfig,
    sessions: Mutex<HashMap<String, Arc<Tunnel>>>,
}

impl Tunnels {
    pub fn new(config: RtmptConfig) -> Self {
        Tunnels {
            config,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Tunnel>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers one RTMPT request (`kind` is RTMPT or RTMPTS).
    pub async fn handle(
        &self,
        request: Result<TunnelRequest<'_>, TunnelError>,
        body: Bytes,
        peer: SocketAddr,
        kind: RtmpTransport,
        ctx: &Arc<Context>,
        stop: &watch::Receiver<bool>,
    ) -> TunnelAnswer {
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                repeats::note(
                    "RTMPT request refused",
                    Level::Info,
                    Some(peer.ip()),
                    format_args!("RTMPT request from {peer} refused: {e}"),
                );
                return TunnelAnswer::error(400, "malformed RTMPT request\n");
            }
        };
        match request.command {
            // FMS answers Flash Player's probe with 404; the player then opens.
            TunnelCommand::Ident => TunnelAnswer::error(404, "not found\n"),
            TunnelCommand::Open => {
                let request = AccessRequest {
                    action: Action::Open,
                    protocol: Protocol::Rtmp(kind),
                    app: String::new(),
                    stream: None,
                    query: None,
                    peer,
                    url: None,
                };
                if let Err(refusal) = ctx.access.decide(&request).await {
                    info!(%peer, "RTMPT open refused: {refusal}");
                    return TunnelAnswer::error(403, "RTMPT session refused\n");
                }
                self.open(peer, kind, ctx, stop)
            }
            _ => self.exchange(request, body, peer).await,
        }
    }

    fn open(
        &self,
        peer: SocketAddr,
        kind: RtmpTransport,
        ctx: &Arc<Context>,
        stop: &watch::Receiver<bool>,
    ) -> TunnelAnswer {
        let mut sessions = self.sessions();
        if sessions.len() >= self.config.max_sessions {
            repeats::note(
                "RTMPT open refused",
                Level::Info,
                Some(peer.ip()),
                format_args!(
                    "RTMPT open from {peer} refused: {} sessions open",
                    sessions.len()
                ),
            );
            return TunnelAnswer::error(503, "too many RTMPT sessions\n");
        }
        let host = match ctx.hosts.session(peer.ip()) {
            Ok(host) => host,
            Err(refusal) => {
                repeats::note(
                    "RTMPT open refused for its address",
                    Level::Info,
                    Some(peer.ip()),
                    format_args!("RTMPT open from {peer} refused: {refusal}"),
                );
                return TunnelAnswer::error(429, "too many RTMPT sessions from this address\n");
            }
        };
        // Ids must be unguessable: no OS randomness, no session.
        let mut random = [0u8; 16];
        if let Err(e) = getrandom::fill(&mut random) {
            warn!(%peer, "RTMPT open refused: no OS randomness: {e}");
            return TunnelAnswer::error(503, "no randomness for a session id\n");
        }
        let id: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let tunnel = Arc::new(Tunnel {
            id: id.clone(),
            state: Mutex::new(Queues {
                protocol: TunnelState::default(),
                inbound: BufList::default(),
                reader: None,
                outbound: BytesMut::new(),
                writer: None,
                client_gone: false,
                conn_ended: false,
                last_request: Instant::now(),
            }),
            written: tokio::sync::Notify::new(),
            _host: host,
        });
        sessions.insert(id.clone(), tunnel.clone());
        drop(sessions);
        debug!(%peer, session = %id, "RTMPT session opened");
        let stream = TunnelStream {
            tunnel,
            max_buffered: self.config.max_buffered_bytes,
        };
        tokio::spawn(crate::rtmp::serve_connection(
            Transport::Tunnel(stream),
            peer,
            kind,
            ctx.clone(),
            stop.clone(),
        ));
        TunnelAnswer::fcs(Bytes::from(format!("{id}\n")).into())
    }

    /// `send`, `idle` and `close`: hand over the body, answer with the
    /// interval byte and whatever the connection wrote. An `idle` finding
    /// nothing waits up to `idle_hold_ms` for the connection to write: a
    /// client that polls without pause (librtmp) does not spin, and bytes
    /// go out as soon as they exist.
    async fn exchange(
        &self,
        request: TunnelRequest<'_>,
        body: Bytes,
        peer: SocketAddr,
    ) -> TunnelAnswer {
        let Some(tunnel) = self.sessions().get(request.session).cloned() else {
            debug!(%peer, "RTMPT request for an unknown session");
            return TunnelAnswer::error(404, "no such RTMPT session\n");
        };
        let hold = match self.take_request(&tunnel, &request, body, peer) {
            Ok(hold) => hold,
            Err(answer) => return answer,
        };
        if hold {
            self.hold_idle(&tunnel).await;
        }
        let mut q = tunnel.lock();
        let data = q.outbound.split();
        if let Some(w) = q.writer.take() {
            w.wake();
        }
        let sent = request.command == TunnelCommand::Send;
        let interval = q.protocol.interval(sent || !data.is_empty());
        let finished =
            request.command == TunnelCommand::Close || (q.conn_ended && q.outbound.is_empty());
        drop(q);
        if finished {
            self.remove(&tunnel);
        }
        let answer: BufList = [Bytes::copy_from_slice(&[interval]), data.freeze()]
            .into_iter()
            .collect();
        TunnelAnswer::fcs(answer)
    }

    /// Checks the sequence number and queues a `send` body. `Ok(true)`: an
    /// `idle` with nothing to fetch yet.
    fn take_request(
        &self,
        tunnel: &Tunnel,
        request: &TunnelRequest<'_>,
        body: Bytes,
        peer: SocketAddr,
    ) -> Result<bool, TunnelAnswer> {
        let mut q = tunnel.lock();
        if let Err(e) = q.protocol.check_seq(request.seq) {
            drop(q);
            info!(%peer, session = %tunnel.id, "RTMPT session ended: {e}");
            self.remove(tunnel);
            return Err(TunnelAnswer::error(400, "RTMPT sequence out of order\n"));
        }
        q.last_request = Instant::now();
        if request.command == TunnelCommand::Send && !body.is_empty() {
            if q.inbound.remaining() + body.len() > self.config.max_buffered_bytes {
                drop(q);
                info!(%peer, session = %tunnel.id,
                    "RTMPT session ended: client sent more than {} bytes ahead",
                    self.config.max_buffered_bytes);
                self.remove(tunnel);
                return Err(TunnelAnswer::error(413, "RTMPT send too large\n"));
            }
            q.inbound.push(body);
            if let Some(w) = q.reader.take() {
                w.wake();
            }
        }
        Ok(request.command == TunnelCommand::Idle && q.outbound.is_empty() && !q.conn_ended)
    }

    /// Waits up to `idle_hold_ms` for the connection to write or end.
    async fn hold_idle(&self, tunnel: &Tunnel) {
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.config.idle_hold_ms);
        loop {
            let written = tunnel.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            {
                let q = tunnel.lock();
                if !q.outbound.is_empty() || q.conn_ended || q.client_gone {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, written).await.is_err() {
                return;
            }
        }
    }

    /// Ends the session `id`, if it exists.
    pub fn end(&self, id: &str) {
        let tunnel = self.sessions().get(id).cloned();
        if let Some(t) = tunnel {
            self.remove(&t);
        }
    }

    /// Forgets a session; its connection reads end of stream.
    fn remove(&self, tunnel: &Tunnel) {
        self.sessions().remove(&tunnel.id);
        tunnel.client_gone();
    }

    /// Ends sessions whose client has sent nothing for the timeout.
    pub fn expire(&self, now: Instant) {
        let timeout = Duration::from_millis(self.config.session_timeout_ms);
        let expired: Vec<Arc<Tunnel>> = self
            .sessions()
            .values()
            .filter(|t| now.duration_since(t.lock().last_request) > timeout)
            .cloned()
            .collect();
        for tunnel in expired {
            info!(session = %tunnel.id, "RTMPT session timed out after {timeout:?} without a request");
            self.remove(&tunnel);
        }
    }

    /// Ends every session (shutdown).
    pub fn close_all(&self) {
        let all: Vec<Arc<Tunnel>> = self.sessions().drain().map(|(_, t)| t).collect();
        for t in all {
            t.client_gone();
        }
    }
}
