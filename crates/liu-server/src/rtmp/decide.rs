//! An RTMP connection's `connect`, `publish` and `play`: the access check
//! asked, its answer (now or later) carried out in RTMP's terms, and the
//! publish or play started.

use liu_rtmp::session::{ConnectRequest, PlayRequest, PublishRequest};
use tracing::info;

use super::{ConnError, Connection, NoPublisher, Playback, Role};
use crate::access::{AccessRequest, Action, PendingAnswer, Protocol, Refusal, Verdict};
use crate::hub::{SourceInfo, StreamKey, ViewerInfo};
use crate::ingest::Ingest;
use crate::viewer::{FlvViewer, RtmpMessages, Selection};

/// A `connect`, `publish` or `play` waiting for the access check; the
/// session holds what the client sends meanwhile.
pub(super) struct Deciding {
    pub(super) asked: Asked,
    pub(super) answer: PendingAnswer,
}

pub(super) enum Asked {
    Connect(ConnectRequest),
    Publish(PublishRequest),
    Play(PlayRequest),
}

impl Connection {
    /// The access request for `action` on this connection.
    pub(super) fn access_request(
        &self,
        action: Action,
        app: &str,
        stream: Option<&str>,
        query: Option<&str>,
    ) -> AccessRequest {
        AccessRequest {
            action,
            protocol: Protocol::Rtmp(self.kind),
            app: app.to_string(),
            stream: stream.map(str::to_string),
            query: query.or(self.connect_query.as_deref()).map(str::to_string),
            peer: self.peer,
            url: self.tc_url.clone(),
        }
    }

    /// Asks the access check about `asked`: answered now, or later (the
    /// connection then waits for [`Deciding`]).
    pub(super) fn ask(&mut self, asked: Asked, request: AccessRequest) -> Result<(), ConnError> {
        match self.ctx.access.check(&request) {
            Verdict::Allow => self.answer(asked, Ok(())),
            Verdict::Deny(refusal) => self.answer(asked, Err(refusal)),
            Verdict::Pending(answer) => {
                self.deciding = Some(Deciding { asked, answer });
                Ok(())
            }
        }
    }

    /// Carries out the access check's answer, then handles what the client
    /// sent while it was pending.
    pub(super) fn answer(
        &mut self,
        asked: Asked,
        verdict: Result<(), Refusal>,
    ) -> Result<(), ConnError> {
        self.useful_at = tokio::time::Instant::now();
        match (asked, verdict) {
            (Asked::Connect(req), Ok(())) => {
                self.app = req.app.clone();
                self.plays_enhanced = req.enhanced.plays("hvc1");
                self.session.accept_connect(&req.app);
            }
            (Asked::Connect(_), Err(refusal)) => {
                self.session.reject_connect(&refusal.reason);
                self.take_session_output();
                return Err(ConnError::Closed(format!("connect refused: {refusal}")));
            }
            (Asked::Publish(req), Ok(())) => self.start_publish(req),
            (Asked::Publish(req), Err(refusal)) => {
                info!(stream = %req.name, "publish refused: {refusal}");
                self.session.reject_publish(
                    req.stream_id,
                    "NetStream.Publish.Rejected",
                    &refusal.reason,
                );
            }
            (Asked::Play(req), Ok(())) => self.start_play(req),
            (Asked::Play(req), Err(refusal)) => {
                info!(stream = %req.name, "play refused: {refusal}");
                self.session
                    .reject_play(req.stream_id, "NetStream.Play.Failed", &refusal.reason);
            }
        }
        self.session.resume()?;
        Ok(())
    }

    fn start_publish(&mut self, req: PublishRequest) {
        let key = StreamKey::new(&self.app, &req.name);
        let source = SourceInfo {
            protocol: self.kind.name(),
            peer: Some(self.peer),
            query: req.query.clone().or_else(|| self.connect_query.clone()),
        };
        match self.ctx.hub.publish(&key, source) {
            Ok(publisher) => {
                tracing::Span::current().record("stream", req.name.as_str());
                info!(stream = %key, "publishing");
                self.session.accept_publish(req.stream_id, &req.name);
                self.role = Role::Publishing {
                    ingest: Ingest::new(publisher),
                    stream_id: req.stream_id,
                };
            }
            Err(e) => {
                info!(stream = %key, "publish refused: {e}");
                self.session.reject_publish(
                    req.stream_id,
                    "NetStream.Publish.BadName",
                    &e.to_string(),
                );
            }
        }
    }

    fn start_play(&mut self, req: PlayRequest) {
        let key = StreamKey::new(&self.app, &req.name);
        tracing::Span::current().record("stream", req.name.as_str());
        info!(stream = %key, "playing");
        let viewer = ViewerInfo {
            protocol: self.kind.name(),
            peer: Some(self.peer),
            query: req.query.clone().or_else(|| self.connect_query.clone()),
        };
        let subscriber = self.ctx.hub.subscribe(&key, viewer);
        let wait = std::time::Duration::from_millis(self.ctx.config.rtmp.play_wait_ms);
        let no_publisher = (!subscriber.is_published()).then(|| NoPublisher {
            until: tokio::time::Instant::now() + wait,
            left: false,
        });
        self.session
            .accept_play(req.stream_id, &req.name, req.reset);
        // Set Chunk Size went out with the answer: the chunk size is final.
        let form = RtmpMessages {
            stream_id: req.stream_id,
            chunk_size: self.ctx.config.rtmp.chunk_size,
            out_chunk_size: self.session.out_chunk_size(),
        };
        let dialect = self.ctx.config.rtmp_dialect(&self.app, self.plays_enhanced);
        let viewer = FlvViewer::new(
            subscriber,
            form,
            Selection::all(dialect, self.ctx.config.timestamps(&self.app)),
            self.ctx.config.merge_window(&self.app),
        );
        self.role = Role::Playing(Box::new(Playback {
            viewer,
            stream_id: req.stream_id,
            name: req.name,
            paused: false,
            out: Vec::new(),
            no_publisher,
        }));
    }
}
