//! Binding the listeners and running them until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, info, info_span, warn};

use crate::access::{Access, AccessRule};
use crate::config::{Config, RtmpTransport};
use crate::context::Context;
use crate::heap;
use crate::hls::HlsStreams;
use crate::host_limits::{HostLimits, HostPermit};
use crate::http::HttpContext;
use crate::hub::Hub;
use crate::repeats::{self, Level};
use crate::rtmpt::Tunnels;
use crate::tls::TlsSetup;
use crate::transport::Transport;
use crate::{ServerError, http, rtmp};

/// Listeners bound and ready; [`BoundServer::run`] serves them.
pub struct BoundServer {
    ctx: Arc<Context>,
    /// What HTTP connections get: `ctx` plus HLS and the RTMPT tunnels.
    web: Arc<HttpContext>,
    rtmp: TcpListener,
    http: TcpListener,
    /// RTMPS, when a certificate is configured.
    rtmps: Option<(TcpListener, Arc<TlsSetup>)>,
    /// HTTPS, with the same certificate.
    https: Option<TcpListener>,
    /// RTMPT's own port, when configured.
    rtmpt: Option<TcpListener>,
}

async fn bind_one(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { what, addr, source })
}

/// Binds every listener, so a port in use is reported before anything runs.
pub async fn bind(config: Config) -> Result<BoundServer, ServerError> {
    bind_with(config, Vec::new()).await
}

/// [`bind`], with access rules asked after the configured ones.
pub async fn bind_with(
    config: Config,
    rules: Vec<Arc<dyn AccessRule>>,
) -> Result<BoundServer, ServerError> {
    let rtmp = TcpListener::bind(config.rtmp.listen)
        .await
        .map_err(|source| ServerError::Bind {
            what: "RTMP",
            addr: config.rtmp.listen,
            source,
        })?;
    let http = TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| ServerError::Bind {
            what: "HTTP",
            addr: config.http.listen,
            source,
        })?;
    // The certificate is checked before anything listens.
    let tls = match config.rtmps.cert_source().map_err(ServerError::Config)? {
        Some(source) => Some(Arc::new(TlsSetup::new(source)?)),
        None => None,
    };
    let (rtmps, https) = match tls {
        Some(tls) => (
            Some((bind_one("RTMPS", config.rtmps.listen).await?, tls)),
            Some(bind_one("HTTPS", config.https.listen).await?),
        ),
        None => (None, None),
    };
    let rtmpt = match config.rtmpt.listen {
        Some(addr) if config.rtmpt.enabled => Some(bind_one("RTMPT", addr).await?),
        _ => None,
    };
    if let Some(dir) = &config.hls.dir {
        check_writable(dir).map_err(|source| ServerError::HlsDir {
            dir: dir.clone(),
            source,
        })?;
    }
    let hub = Hub::new(config.hub_config());
    let hls = Arc::new(HlsStreams::new(hub.clone(), config.clone()));
    let tunnels = Arc::new(Tunnels::new(config.rtmpt.clone()));
    let ctx = Arc::new(Context {
        access: Access::new(&config, rules),
        hosts: HostLimits::new(config.limits.clone()),
        config,
        hub,
        started: Instant::now(),
    });
    Ok(BoundServer {
        web: Arc::new(HttpContext {
            shared: ctx.clone(),
            hls,
            tunnels,
        }),
        ctx,
        rtmp,
        http,
        rtmps,
        https,
        rtmpt,
    })
}

/// Creates `dir` if needed and checks that a file can be written in it.
fn check_writable(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".liu-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

impl BoundServer {
    pub fn rtmp_addr(&self) -> SocketAddr {
        self.rtmp
            .local_addr()
            .unwrap_or(self.ctx.config.rtmp.listen)
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .unwrap_or(self.ctx.config.http.listen)
    }

    pub fn hub(&self) -> &Hub {
        &self.ctx.hub
    }

    /// The RTMPS address, if RTMPS is on.
    pub fn rtmps_addr(&self) -> Option<SocketAddr> {
        let (l, _) = self.rtmps.as_ref()?;
        Some(l.local_addr().unwrap_or(self.ctx.config.rtmps.listen))
    }

    /// The HTTPS address, if TLS is on.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        let l = self.https.as_ref()?;
        Some(l.local_addr().unwrap_or(self.ctx.config.https.listen))
    }

    /// RTMPT's own address, if configured.
    pub fn rtmpt_addr(&self) -> Option<SocketAddr> {
        let l = self.rtmpt.as_ref()?;
        l.local_addr().ok()
    }

    /// The RTMPS certificate's SHA-256 fingerprint, if RTMPS is on.
    pub fn tls_fingerprint(&self) -> Option<String> {
        Some(self.rtmps.as_ref()?.1.fingerprint())
    }

    /// What reloads the certificate files (on SIGHUP), if RTMPS is on.
    pub fn tls_reloader(&self) -> Option<TlsReloader> {
        Some(TlsReloader(self.rtmps.as_ref()?.1.clone()))
    }

    /// Serves until `shutdown` completes, then closes the listeners, ends
    /// every viewer's stream and waits briefly for connections to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let hls_task = tokio::spawn(self.web.hls.clone().follow(self.ctx.hub.events()));
        let (rtmp_max, http_max) = (
            self.ctx.config.rtmp.max_connections,
            self.ctx.config.http.max_connections,
        );
        let rtmp_task = tokio::spawn(accept_loop(
            self.rtmp,
            "RTMP",
            rtmp_max,
            self.ctx.hosts.clone(),
            self.ctx.clone(),
            stop_rx.clone(),
            |socket, peer, ctx, stop| {
                rtmp::serve_connection(Transport::Tcp(socket), peer, RtmpTransport::Rtmp, ctx, stop)
            },
        ));
        let tls = self.rtmps.as_ref().map(|(_, tls)| tls.clone());
        let watch = self.ctx.config.rtmps.watch_interval_ms;
        let watch_task = tls
            .clone()
            .filter(|_| watch > 0)
            .map(|tls| tokio::spawn(tls.watch_files(Duration::from_millis(watch))));
        let rtmps_task = self.rtmps.map(|(listener, tls)| {
            tokio::spawn(accept_loop(
                listener,
                "RTMPS",
                rtmp_max,
                self.ctx.hosts.clone(),
                self.ctx.clone(),
                stop_rx.clone(),
                move |socket, peer, ctx, stop| serve_rtmps(tls.clone(), socket, peer, ctx, stop),
            ))
        });
        let serve_http = |socket, peer, web, stop| {
            http::serve_connection(socket, peer, web, stop).instrument(info_span!("http", %peer))
        };
        let mut tasks = vec![rtmp_task, hls_task];
        tasks.extend(rtmps_task);
        tasks.extend(watch_task);
        tasks.push(tokio::spawn(accept_loop(
            self.http,
            "HTTP",
            http_max,
            self.ctx.hosts.clone(),
            self.web.clone(),
            stop_rx.clone(),
            serve_http,
        )));
        if let Some(listener) = self.rtmpt {
            tasks.push(tokio::spawn(accept_loop(
                listener,
                "RTMPT",
                http_max,
                self.ctx.hosts.clone(),
                self.web.clone(),
                stop_rx.clone(),
                serve_http,
            )));
        }
        if let (Some(listener), Some(tls)) = (self.https, tls) {
            tasks.push(tokio::spawn(accept_loop(
                listener,
                "HTTPS",
                http_max,
                self.ctx.hosts.clone(),
                self.web.clone(),
                stop_rx.clone(),
                move |socket, peer, web, stop| {
                    serve_https(tls.clone(), socket, peer, web, stop)
                        .instrument(info_span!("https", %peer))
                },
            )));
        }
        let tunnels = self.web.tunnels.clone();
        let hosts = self.ctx.hosts.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut last_trim = Instant::now();
            loop {
                tick.tick().await;
                tunnels.expire(Instant::now());
                hosts.sweep(Instant::now());
                repeats::summarise();
                if last_trim.elapsed() >= heap::TRIM_INTERVAL {
                    last_trim = Instant::now();
                    // Off the runtime's threads: a trim of a large heap
                    // takes a moment and holds the allocator's locks.
                    tokio::task::spawn_blocking(heap::trim_if_released);
                }
            }
        }));
        shutdown.await;
        info!("shutting down");
        let _ = stop_tx.send(true);
        self.web.hls.shutdown();
        self.web.tunnels.close_all();
        for t in tasks {
            t.abort();
        }
        // Connections hold a receiver each; wait for them to say goodbye.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while stop_tx.receiver_count() > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reloads the RTMPS certificate files; new connections get the new one.
#[derive(Clone)]
pub struct TlsReloader(Arc<TlsSetup>);

impl TlsReloader {
    /// Reads the files again; on an error the old certificate stays. One
    /// log line says `why` and the outcome.
    pub fn reload(&self, why: &str) {
        self.0.reload_logged(why)
    }
}

/// The TLS handshake (bounded by the RTMP handshake timeout), then RTMP
/// over it.
async fn serve_rtmps(
    tls: Arc<TlsSetup>,
    socket: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    stop: watch::Receiver<bool>,
) {
    let limit = Duration::from_millis(ctx.config.rtmp.handshake_timeout_ms);
    let Some(handshake) = handshake_place(&ctx.hosts, peer, "RTMPS") else {
        return;
    };
    let Some(stream) = tls.accept(socket, peer, limit, "RTMPS").await else {
        return;
    };
    drop(handshake);
    rtmp::serve_connection(
        Transport::Stream(Box::new(stream)),
        peer,
        RtmpTransport::Rtmps,
        ctx,
        stop,
    )
    .await
}

/// The TLS handshake (bounded by the HTTP header timeout), then HTTP over
/// it, all through hyper.
async fn serve_https(
    tls: Arc<TlsSetup>,
    socket: TcpStream,
    peer: SocketAddr,
    web: Arc<HttpContext>,
    stop: watch::Receiver<bool>,
) {
    let limit = Duration::from_millis(web.shared.config.http.header_timeout_ms);
    let Some(handshake) = handshake_place(&web.shared.hosts, peer, "HTTPS") else {
        return;
    };
    if let Some(stream) = tls.accept(socket, peer, limit, "HTTPS").await {
        drop(handshake);
        http::serve_with_hyper(stream, Vec::new(), peer, true, web, stop).await;
    }
}

/// A place for one more TLS handshake from `peer`'s address (`Some(None)`
/// for a trusted one); `None`, with a log line, when it has too many.
fn handshake_place(
    hosts: &Arc<HostLimits>,
    peer: SocketAddr,
    what: &str,
) -> Option<Option<HostPermit>> {
    match hosts.handshake(peer.ip()) {
        Ok(place) => Some(place),
        Err(refusal) => {
            repeats::note(
                "TLS handshake refused for its address",
                Level::Info,
                Some(peer.ip()),
                format_args!("{what}: TLS handshake from {peer} refused: {refusal}"),
            );
            None
        }
    }
}

/// Accepts connections until aborted, at most `max` at once, each served
/// by `serve` (given its own clone of `ctx`) on its own task.
#[allow(clippy::too_many_arguments)]
async fn accept_loop<C, F, Fut>(
    listener: TcpListener,
    what: &'static str,
    max: usize,
    hosts: Arc<HostLimits>,
    ctx: Arc<C>,
    stop: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, Arc<C>, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(max));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                warn!("{what} accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let host = match hosts.connection(peer.ip(), what, max, Instant::now()) {
            Ok(host) => host,
            Err(refusal) => {
                repeats::note(
                    "connection refused for its address",
                    Level::Warn,
                    Some(peer.ip()),
                    format_args!("{what} connection from {peer} refused: {refusal}"),
                );
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            repeats::note(
                "connection refused",
                Level::Warn,
                Some(peer.ip()),
                format_args!("{what} connection from {peer} refused: {max} connections already"),
            );
            continue;
        };
        let _ = socket.set_nodelay(true);
        let connection = serve(socket, peer, ctx.clone(), stop.clone());
        tokio::spawn(async move {
            connection.await;
            drop((permit, host));
            heap::note_released();
        });
    }
}
