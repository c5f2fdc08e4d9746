//! Liu's settings, as read from `liu.toml` (see docs/configuration.md).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use liu_flv::av::FlvDialect;

use crate::dialect::HevcForm;
use crate::host_limits::LimitsConfig;
use crate::hub::{HubConfig, RingLimits};

/// All settings. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub rtmp: RtmpConfig,
    pub rtmps: RtmpsConfig,
    pub rtmpt: RtmptConfig,
    pub http: HttpConfig,
    pub https: HttpsConfig,
    pub stream: StreamConfig,
    pub hls: HlsConfig,
    pub access: AccessConfig,
    /// What one client address may take (`[limits]`).
    pub limits: LimitsConfig,
    /// Per-application overrides, `[app.NAME]`.
    pub app: BTreeMap<String, AppConfig>,
}

/// Settings of one application (the first path segment of a stream URL);
/// unset keys take the `[stream]` value.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    pub merge_window_ms: Option<u64>,
    /// Serve this application's streams over HLS (`[hls] enabled` if unset).
    pub hls: Option<bool>,
    /// Classic HLS (MPEG-TS) for this application (`[hls] ts` if unset).
    pub hls_ts: Option<bool>,
    /// fMP4 / LL-HLS for this application (`[hls] fmp4` if unset).
    pub hls_fmp4: Option<bool>,
    /// RTMP transports this application takes connections over (all if
    /// unset); others get `NetConnection.Connect.Rejected`.
    pub transports: Option<Vec<RtmpTransport>>,
    /// RTMP transports this application takes publishing over (all if
    /// unset); others get `NetStream.Publish.Rejected`.
    pub publish_transports: Option<Vec<RtmpTransport>>,
    /// H.265 form for this application's RTMP viewers that did not announce
    /// Enhanced RTMP (`[stream] rtmp_hevc` if unset).
    pub rtmp_hevc: Option<HevcForm>,
    /// H.265 form for this application's HTTP-FLV viewers without `?hevc=`
    /// (`[stream] flv_hevc` if unset).
    pub flv_hevc: Option<HevcForm>,
    /// Viewers' timelines (`[stream] timestamps` if unset).
    pub timestamps: Option<Timestamps>,
}

/// Where an RTMP, HTTP-FLV or WebSocket-FLV viewer's timeline starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timestamps {
    /// At 0 for each viewer (as SRS does): `onMetaData` and the sequence
    /// headers at 0, the first keyframe at 0, media from there.
    Zero,
    /// The stream's own timeline, the same for every viewer.
    Source,
}

/// The members of the RTMP family, as named in URLs and in config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtmpTransport {
    Rtmp,
    Rtmps,
    Rtmpe,
    Rtmpt,
    Rtmpte,
    Rtmpts,
}

impl RtmpTransport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rtmp => "rtmp",
            Self::Rtmps => "rtmps",
            Self::Rtmpe => "rtmpe",
            Self::Rtmpt => "rtmpt",
            Self::Rtmpte => "rtmpte",
            Self::Rtmpts => "rtmpts",
        }
    }

    /// The same transport once an RTMPE handshake happened over it.
    #[must_use]
    pub fn encrypted(self) -> Self {
        match self {
            Self::Rtmp => Self::Rtmpe,
            Self::Rtmpt => Self::Rtmpte,
            other => other,
        }
    }
}

impl std::fmt::Display for RtmpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Config {
    /// How long a viewer of `app` holds its writes to send several messages
    /// in one (0: write at once).
    /// The hub's settings, with every application's merge window.
    pub fn hub_config(&self) -> crate::hub::HubConfig {
        let mut hub = self.stream.hub_config();
        hub.merge_window = Duration::from_millis(self.stream.merge_window_ms);
        hub.app_merge_windows = self
            .app
            .iter()
            .filter_map(|(name, a)| Some((name.clone(), Duration::from_millis(a.merge_window_ms?))))
            .collect();
        hub
    }

    /// Why `app` refuses a connection over `transport`, if it does.
    pub fn refuses_connect(&self, app: &str, transport: RtmpTransport) -> Option<String> {
        let allowed = self.app.get(app)?.transports.as_deref();
        refusal(allowed, app, "connections", transport)
    }

    /// Why `app` refuses publishing over `transport`, if it does.
    pub fn refuses_publish(&self, app: &str, transport: RtmpTransport) -> Option<String> {
        let allowed = self.app.get(app)?.publish_transports.as_deref();
        refusal(allowed, app, "publishing", transport)
    }

    /// Whether streams of `app` are served over HLS.
    pub fn hls_enabled(&self, app: &str) -> bool {
        self.app
            .get(app)
            .and_then(|a| a.hls)
            .unwrap_or(self.hls.enabled)
    }

    /// Which HLS forms streams of `app` get: (MPEG-TS, fMP4 / LL-HLS).
    pub fn hls_forms(&self, app: &str) -> (bool, bool) {
        if !self.hls_enabled(app) {
            return (false, false);
        }
        let a = self.app.get(app);
        (
            a.and_then(|a| a.hls_ts).unwrap_or(self.hls.ts),
            a.and_then(|a| a.hls_fmp4).unwrap_or(self.hls.fmp4),
        )
    }

    /// The FLV dialect of an RTMP viewer of `app`; `enhanced` if it
    /// announced that it plays `hvc1`.
    pub fn rtmp_dialect(&self, app: &str, enhanced: bool) -> FlvDialect {
        if enhanced {
            return FlvDialect::Enhanced;
        }
        let app = self.app.get(app).and_then(|a| a.rtmp_hevc);
        app.unwrap_or(self.stream.rtmp_hevc).dialect()
    }

    /// The FLV dialect of an HTTP-FLV viewer of `app` with `query`.
    pub fn flv_dialect(&self, app: &str, query: Option<&str>) -> FlvDialect {
        let app = self.app.get(app).and_then(|a| a.flv_hevc);
        HevcForm::from_query(query)
            .or(app)
            .unwrap_or(self.stream.flv_hevc)
            .dialect()
    }

    /// Where the timelines of `app`'s FLV-family viewers start.
    pub fn timestamps(&self, app: &str) -> Timestamps {
        let own = self.app.get(app).and_then(|a| a.timestamps);
        own.unwrap_or(self.stream.timestamps)
    }

    pub fn merge_window(&self, app: &str) -> Duration {
        let ms = self
            .app
            .get(app)
            .and_then(|a| a.merge_window_ms)
            .unwrap_or(self.stream.merge_window_ms);
        Duration::from_millis(ms)
    }
}

/// RTMPS: RTMP over TLS on its own port, on when a certificate and key are
/// configured (or with `liu serve --tls-self-signed`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpsConfig {
    pub listen: SocketAddr,
    /// PEM certificate chain, leaf first.
    pub cert: Option<std::path::PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<std::path::PathBuf>,
    /// A certificate made at startup for localhost (development only).
    pub self_signed: bool,
    /// How often to look whether `cert` or `key` changed (and reload); 0: only on SIGHUP.
    pub watch_interval_ms: u64,
}

impl Default for RtmpsConfig {
    fn default() -> Self {
        RtmpsConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 1936)),
            cert: None,
            key: None,
            self_signed: false,
            watch_interval_ms: 5000,
        }
    }
}

impl RtmpsConfig {
    /// Where the certificate comes from, if RTMPS is on.
    pub fn cert_source(&self) -> Result<Option<crate::tls::CertSource>, String> {
        match (&self.cert, &self.key, self.self_signed) {
            (Some(cert), Some(key), _) => Ok(Some(crate::tls::CertSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            })),
            (None, None, true) => Ok(Some(crate::tls::CertSource::SelfSigned)),
            (None, None, false) => Ok(None),
            _ => Err("[rtmps] needs both cert and key".into()),
        }
    }
}

/// RTMPT, RTMP tunnelled in HTTP: served on the HTTP listener (RTMPTS on
/// HTTPS) and, with `listen`, on a port of its own (80 in production).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmptConfig {
    pub enabled: bool,
    /// An extra listener for RTMPT (it serves the whole HTTP surface).
    pub listen: Option<SocketAddr>,
    pub max_sessions: usize,
    /// A session whose client sends no request for this long is closed.
    pub session_timeout_ms: u64,
    /// Most bytes a session buffers each way (client bytes not yet read,
    /// server bytes not yet fetched).
    pub max_buffered_bytes: usize,
    /// How long an `idle` poll that finds nothing waits for server bytes.
    pub idle_hold_ms: u64,
}

impl Default for RtmptConfig {
    fn default() -> Self {
        RtmptConfig {
            enabled: true,
            listen: None,
            max_sessions: 1_000,
            session_timeout_ms: 15_000,
            max_buffered_bytes: 1 << 20,
            idle_hold_ms: 100,
        }
    }
}

/// HTTPS: the HTTP surface (HTTP-FLV, HLS, RTMPTS) over TLS, with the
/// `[rtmps]` certificate; on whenever that certificate is configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpsConfig {
    pub listen: SocketAddr,
}

impl Default for HttpsConfig {
    fn default() -> Self {
        HttpsConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpConfig {
    pub listen: SocketAddr,
    /// Chunk size Liu sends with.
    pub chunk_size: u32,
    /// Largest RTMP message a peer may send.
    pub max_message_size: u32,
    /// Largest chunk size a peer may announce (any valid size by default:
    /// buffered memory is bounded by `max_message_size`).
    pub max_chunk_size: u32,
    /// Time a new connection has for the handshake, `connect` and
    /// `publish`/`play`.
    pub handshake_timeout_ms: u64,
    /// A publisher that sends no media, or a connected client that neither
    /// publishes nor plays and asks for nothing, this long is disconnected.
    pub idle_timeout_ms: u64,
    /// How long a player of a stream nobody publishes waits for a
    /// publisher before `NetStream.Play.StreamNotFound` and the close.
    pub play_wait_ms: u64,
    /// How long a player whose publisher left waits for it to come back
    /// before it is closed.
    pub republish_wait_ms: u64,
    pub max_connections: usize,
    pub window_ack_size: u32,
    /// Also send `NetStream.Play.UnpublishNotify` when a publisher leaves
    /// (FFmpeg and librtmp stop playing on it).
    pub unpublish_notify: bool,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        RtmpConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 1935)),
            chunk_size: 4096,
            max_message_size: 16 << 20,
            max_chunk_size: 0x7FFF_FFFF,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            play_wait_ms: 5_000,
            republish_wait_ms: 10_000,
            max_connections: 10_000,
            window_ack_size: 2_500_000,
            unpublish_notify: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// How long `GET /app/stream.flv` waits for the stream to be published
    /// (and, once playing, for a publisher that left to come back).
    pub flv_wait_ms: u64,
    pub max_connections: usize,
    /// Time a client has to send its request head.
    pub header_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            flv_wait_ms: 5_000,
            max_connections: 10_000,
            header_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Keep the latest GOP so new viewers start at once on a keyframe.
    pub gop_cache: bool,
    pub gop_cache_max_bytes: u64,
    /// How far (bytes) a viewer may fall behind before it is skipped forward.
    pub queue_max_bytes: u64,
    /// How far (ms of media) a viewer may fall behind before it is skipped.
    pub queue_max_ms: u64,
    /// Skips allowed within `slow_viewer_window_ms` before a viewer is dropped.
    pub max_skips: u32,
    pub slow_viewer_window_ms: u64,
    /// A viewer whose socket accepts nothing for this long is dropped.
    pub write_timeout_ms: u64,
    /// Hold a viewer's writes up to this long so one write carries several
    /// messages (fewer system calls, more latency). 0 writes at once.
    pub merge_window_ms: u64,
    /// Submit the direct fan-out's writes with io_uring (one system call per
    /// flush for all caught-up viewers); off, or where the kernel refuses
    /// it, one `writev` per viewer.
    pub io_uring: bool,
    /// H.265 form for RTMP viewers that did not announce Enhanced RTMP in
    /// `connect` (those that did get `enhanced`).
    pub rtmp_hevc: HevcForm,
    /// H.265 form for HTTP-FLV viewers without `?hevc=legacy|enhanced`.
    pub flv_hevc: HevcForm,
    /// Where each RTMP, HTTP-FLV and WebSocket-FLV viewer's timeline starts.
    pub timestamps: Timestamps,
}

impl Default for StreamConfig {
    fn default() -> Self {
        let hub = HubConfig::default();
        StreamConfig {
            gop_cache: hub.ring.gop_cache,
            gop_cache_max_bytes: hub.ring.gop_cache_max_bytes,
            queue_max_bytes: hub.ring.queue_max_bytes,
            queue_max_ms: hub.ring.queue_max_ms,
            max_skips: hub.max_skips,
            slow_viewer_window_ms: hub.slow_viewer_window_ms,
            write_timeout_ms: 10_000,
            merge_window_ms: 0,
            io_uring: hub.io_uring,
            rtmp_hevc: HevcForm::Legacy,
            flv_hevc: HevcForm::Enhanced,
            timestamps: Timestamps::Zero,
        }
    }
}

impl StreamConfig {
    pub fn hub_config(&self) -> HubConfig {
        HubConfig {
            ring: RingLimits {
                gop_cache: self.gop_cache,
                gop_cache_max_bytes: self.gop_cache_max_bytes,
                queue_max_bytes: self.queue_max_bytes,
                queue_max_ms: self.queue_max_ms,
            },
            max_skips: self.max_skips,
            slow_viewer_window_ms: self.slow_viewer_window_ms,
            io_uring: self.io_uring,
            merge_window: Duration::from_millis(self.merge_window_ms),
            app_merge_windows: Default::default(),
        }
    }
}

/// The access check every protocol asks (`crate::access`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Longest a connection waits for an access decision (a callback's
    /// answer) before it is refused.
    pub timeout_ms: u64,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig { timeout_ms: 5_000 }
    }
}

/// HLS: `/APP/STREAM.m3u8` (MPEG-TS segments), kept in memory.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HlsConfig {
    pub enabled: bool,
    /// Classic HLS: `/APP/STREAM.m3u8` with MPEG-TS segments.
    pub ts: bool,
    /// CMAF HLS: `/APP/STREAM/index.m3u8` with fMP4 segments and LL-HLS parts.
    pub fmp4: bool,
    /// Longest LL-HLS part (`PART-TARGET`).
    pub part_target_ms: u64,
    /// A segment is cut at the first keyframe once it is this long.
    pub target_duration_ms: u64,
    /// Segments listed in a playlist.
    pub window: usize,
    /// Segments kept fetchable beyond the listed ones (for players that
    /// read an older playlist).
    pub keep_extra: usize,
    /// Mux a stream only once someone asks for it over HLS (the first
    /// playlist then waits for the first segment); otherwise from publish.
    pub on_demand: bool,
    /// With `on_demand`, muxing stops when nobody has asked for the stream
    /// this long.
    pub idle_timeout_ms: u64,
    /// After the publisher leaves, the playlist stays this long without
    /// `EXT-X-ENDLIST`: a republish within it continues the playlist after
    /// a discontinuity. Then it ends, and is dropped as long again later.
    pub grace_ms: u64,
    /// Also write every stream's playlists and segments under this
    /// directory (`DIR/APP/STREAM.m3u8`, ...); muxing then starts at publish.
    pub dir: Option<std::path::PathBuf>,
    /// Remove files from `dir` once they leave memory, and a stream's files
    /// when its playlist is dropped; `false` keeps every segment (archive).
    pub dir_cleanup: bool,
}

impl HlsConfig {
    /// Whether a stream is muxed only while someone asks for it over HTTP
    /// (not when files are written: a CDN reading them asks Liu nothing).
    pub fn mux_on_demand(&self) -> bool {
        self.on_demand && self.dir.is_none()
    }
}

impl Default for HlsConfig {
    fn default() -> Self {
        HlsConfig {
            enabled: true,
            ts: true,
            fmp4: true,
            part_target_ms: 334,
            target_duration_ms: 2_000,
            window: 6,
            keep_extra: 3,
            on_demand: true,
            idle_timeout_ms: 60_000,
            grace_ms: 10_000,
            dir: None,
            dir_cleanup: true,
        }
    }
}

/// The reason `app` gives for refusing `what` over `transport`, unless
/// `allowed` (all when unset) lists it.
fn refusal(
    allowed: Option<&[RtmpTransport]>,
    app: &str,
    what: &str,
    transport: RtmpTransport,
) -> Option<String> {
    let allowed = allowed?;
    if allowed.contains(&transport) {
        return None;
    }
    let names: Vec<&str> = allowed.iter().map(|t| t.name()).collect();
    Some(format!(
        "application '{app}' accepts {what} over {} only, not {transport}",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../../liu.toml");
        let config: Config = toml::from_str(text).unwrap();
        assert_eq!(config.rtmp.listen.port(), 1935);
    }

    #[test]
    fn app_overrides_merge_window() {
        let config: Config =
            toml::from_str("[stream]\nmerge_window_ms = 10\n[app.low]\nmerge_window_ms = 0\n")
                .unwrap();
        assert_eq!(config.merge_window("low"), Duration::ZERO);
        assert_eq!(config.merge_window("live"), Duration::from_millis(10));
    }

    #[test]
    fn hls_can_be_turned_off_per_app() {
        let config: Config = toml::from_str("[app.private]\nhls = false\n").unwrap();
        assert!(config.hls_enabled("live") && !config.hls_enabled("private"));
        let config: Config =
            toml::from_str("[hls]\nenabled = false\n[app.tv]\nhls = true\n").unwrap();
        assert!(!config.hls_enabled("live") && config.hls_enabled("tv"));
        let config: Config =
            toml::from_str("[hls]\nts = false\n[app.a]\nhls_fmp4 = false\n[app.b]\nhls = false\n")
                .unwrap();
        assert_eq!(config.hls_forms("live"), (false, true));
        assert_eq!(config.hls_forms("a"), (false, false));
        assert_eq!(config.hls_forms("b"), (false, false));
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[rtmp]\nlisten_port = 1").is_err());
    }
}
