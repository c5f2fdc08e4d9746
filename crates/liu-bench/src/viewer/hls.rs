//! The HLS viewer: polls a media playlist like a player and fetches every
//! new segment on one kept-alive connection (RFC 8216bis §6.3.4). On a
//! Low-Latency HLS playlist it joins at the newest independent part and
//! fetches each next part after a blocking playlist reload (§6.2.5.2), as
//! hls.js does in low-latency mode.

use std::time::{Duration, Instant};

use super::{Failure, Link, Phase, Tracker, ViewerConfig, connect, write_all};
use crate::hls::{self, MediaPlaylist, PartId, Playlist, StampScanner};
use crate::http::{self, ResponseReader};

/// Largest playlist accepted.
const MAX_PLAYLIST: usize = 1 << 20;
/// Multivariant playlists followed before a media playlist, at most.
const MAX_VARIANT_HOPS: usize = 3;
/// Segments behind the live edge where a classic player joins (hls.js's
/// `liveSyncDurationCount`).
const JOIN_SEGMENTS_BACK: usize = 3;

pub(super) async fn play(config: &ViewerConfig, t: &mut Tracker) -> Result<(), Failure> {
    let mut client = Client { config, sock: None };
    t.phase = Phase::Setup;
    let deadline = t.start + config.setup_timeout;
    let first = tokio::time::timeout_at(deadline.into(), first_playlist(&mut client, t)).await;
    let (path, playlist) = first.map_err(|_| {
        let why = format!("no media playlist within {:?}", config.setup_timeout);
        Failure::new("timeout", why)
    })??;
    t.phase = Phase::Playing;
    if playlist.is_low_latency() && playlist.newest_independent_part().is_some() {
        low_latency(&mut client, t, &path, playlist).await
    } else {
        classic(&mut client, t, &path, playlist).await
    }
}

/// Loads the URL's playlist, following a multivariant playlist to its first variant.
async fn first_playlist(
    client: &mut Client<'_>,
    t: &mut Tracker,
) -> Result<(String, MediaPlaylist), Failure> {
    let mut path = client.config.target.stream.clone();
    for _ in 0..=MAX_VARIANT_HOPS {
        match client.playlist(t, &path).await? {
            Some(Playlist::Media(p)) => return Ok((path, p)),
            Some(Playlist::Multivariant(uri)) => path = hls::resolve(&path, &uri),
            None => {
                // Not published yet, or not muxed yet: ask again shortly.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Err(Failure::new("protocol", "too many multivariant playlists"))
}

/// Classic HLS: join a few segments back, fetch each new segment, reload
/// after a target duration (half of one when nothing changed).
async fn classic(
    client: &mut Client<'_>,
    t: &mut Tracker,
    path: &str,
    mut playlist: MediaPlaylist,
) -> Result<(), Failure> {
    let back = playlist.segments.len().saturating_sub(JOIN_SEGMENTS_BACK);
    let mut next = playlist
        .segments
        .get(back)
        .map_or(playlist.media_sequence, |s| s.msn);
    let mut loaded_at = Instant::now();
    loop {
        let before = next;
        for seg in playlist.segments.iter().filter(|s| s.msn >= before) {
            client
                .media(t, &hls::resolve(path, &seg.uri), seg.duration_ms)
                .await?;
            next = seg.msn + 1;
        }
        if playlist.ended {
            return Ok(());
        }
        let target = Duration::from_millis(playlist.target_duration_ms.max(100));
        let wait = if next > before { target } else { target / 2 };
        tokio::time::sleep_until((loaded_at + wait).into()).await;
        loaded_at = Instant::now();
        playlist = client.media_playlist(t, path).await?;
        // Fell out of the window (a slow network): go on from the oldest listed.
        next = next.max(playlist.media_sequence);
    }
}

/// LL-HLS: each next part, after a blocking reload when it is not listed yet.
async fn low_latency(
    client: &mut Client<'_>,
    t: &mut Tracker,
    path: &str,
    mut playlist: MediaPlaylist,
) -> Result<(), Failure> {
    let mut next = playlist.newest_independent_part();
    loop {
        let Some(id) = next else {
            // Fell out of the window: join again at the newest independent part.
            next = playlist.newest_independent_part();
            if next.is_none() {
                playlist = client.media_playlist(t, path).await?;
            }
            continue;
        };
        if let Some(part) = playlist.part(id) {
            let (uri, duration) = (hls::resolve(path, &part.uri), part.duration_ms);
            client.media(t, &uri, duration).await?;
            next = Some(playlist.part_after(id));
            continue;
        }
        if playlist.ended {
            return Ok(());
        }
        if id.msn < playlist.media_sequence {
            next = None;
            continue;
        }
        // Its segment completed with fewer parts: on to the next segment.
        if playlist
            .segments
            .iter()
            .any(|s| s.msn == id.msn && id.index >= s.parts.len())
        {
            next = Some(PartId {
                msn: id.msn + 1,
                index: 0,
            });
            continue;
        }
        let query = format!("_HLS_msn={}&_HLS_part={}", id.msn, id.index);
        playlist = client
            .media_playlist(t, &hls::with_query(path, &query))
            .await?;
    }
}

/// One HTTP/1.1 connection, reopened when the server closes it.
struct Client<'a> {
    config: &'a ViewerConfig,
    sock: Option<Link>,
}

impl Client<'_> {
    /// A playlist; `None` for a 404 (nothing to play yet).
    async fn playlist(&mut self, t: &mut Tracker, path: &str) -> Result<Option<Playlist>, Failure> {
        let mut text = Vec::new();
        let mut too_big = false;
        let status = self
            .get(t, path, false, |b| {
                too_big |= text.len() + b.len() > MAX_PLAYLIST;
                if !too_big {
                    text.extend_from_slice(b);
                }
            })
            .await?;
        match status {
            200 if too_big => Err(Failure::new("protocol", "playlist over 1 MiB")),
            200 => {
                let text = String::from_utf8_lossy(&text);
                let playlist = hls::parse_playlist(&text)
                    .ok_or_else(|| Failure::new("protocol", format!("{path}: not a playlist")))?;
                Ok(Some(playlist))
            }
            404 if t.phase != Phase::Playing => Ok(None),
            s => Err(Failure::new("http_status", format!("HTTP {s} for {path}"))),
        }
    }

    /// A media playlist; a 503 (a blocking reload that timed out) is asked again.
    async fn media_playlist(
        &mut self,
        t: &mut Tracker,
        path: &str,
    ) -> Result<MediaPlaylist, Failure> {
        for _ in 0..3 {
            match self.playlist(t, path).await {
                Ok(Some(Playlist::Media(p))) => return Ok(p),
                Ok(_) => return Err(Failure::new("protocol", "the media playlist changed kind")),
                Err(f) if f.detail.starts_with("HTTP 503") => {}
                Err(f) => return Err(f),
            }
        }
        Err(Failure::new(
            "http_status",
            format!("HTTP 503 three times for {path}"),
        ))
    }

    /// A segment or part of `duration_ms`: bytes counted, stamps measured
    /// once the whole of it has arrived (when a player can use it).
    async fn media(
        &mut self,
        t: &mut Tracker,
        path: &str,
        duration_ms: u64,
    ) -> Result<(), Failure> {
        let mut scanner = StampScanner::new();
        let mut stamps = Vec::new();
        let status = self
            .get(t, path, true, |b| {
                scanner.feed(b, &mut |ms| stamps.push(ms))
            })
            .await?;
        if status != 200 {
            return Err(Failure::new(
                "http_status",
                format!("HTTP {status} for {path}"),
            ));
        }
        let now = Instant::now();
        t.media_chunk(duration_ms, now);
        for sent in stamps {
            t.stamp(sent, now);
        }
        Ok(())
    }

    /// GET `path`, body bytes to `on_body`; returns the status. A kept-alive
    /// connection found closed before any answer is reopened once.
    async fn get(
        &mut self,
        t: &mut Tracker,
        path: &str,
        media: bool,
        mut on_body: impl FnMut(&[u8]),
    ) -> Result<u16, Failure> {
        let phase = t.phase;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reused = self.sock.is_some();
            let sock = match &mut self.sock {
                Some(s) => s,
                None => {
                    let s = connect(self.config, t).await?;
                    t.phase = phase;
                    self.sock.insert(s)
                }
            };
            let request = http::request(&self.config.target.authority(), path);
            let retry = reused && attempt == 1;
            if let Err(f) = write_all(sock, request.as_bytes(), phase).await {
                self.sock = None;
                if retry {
                    continue;
                }
                return Err(f);
            }
            t.requests += 1;
            let mut reader = ResponseReader::new();
            let mut answered = false;
            let done = loop {
                let read = sock.read_some(|data, now| {
                    answered = true;
                    let mut body = 0;
                    let r = reader.feed(data, &mut |b| {
                        body += b.len();
                        on_body(b);
                        Ok(())
                    });
                    if media && body > 0 {
                        t.first_media_byte.get_or_insert(now);
                    }
                    t.after_read(data.len(), 0, now);
                    r
                });
                match read.await {
                    Ok(Some(r)) => {
                        r.map_err(Failure::from)?;
                        if reader.is_done() {
                            break true;
                        }
                    }
                    Ok(None) if answered => {
                        reader.closed().map_err(Failure::from)?;
                        break true;
                    }
                    Ok(None) => break false,
                    Err(e) if answered || !retry => return Err(Failure::io(phase, &e)),
                    Err(_) => break false,
                }
            };
            if !done {
                self.sock = None;
                if retry {
                    continue;
                }
                return Err(Failure::new(
                    "closed",
                    "the server closed the connection before answering",
                ));
            }
            let (status, keep_alive) = reader
                .head()
                .map_or((0, false), |h| (h.status, h.keep_alive));
            if !keep_alive {
                self.sock = None;
            }
            return Ok(status);
        }
    }
}
