//! `liu`: the command line of the Liu live streaming server.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use liu_server::Config;
use tracing_subscriber::EnvFilter;

mod allocator;

/// Liu (流): a live streaming media server. RTMP in; RTMP, HTTP-FLV and HLS out.
#[derive(Parser)]
#[command(name = "liu", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve(ServeArgs),
    /// Load tool: publish a clip in real time, play it with many light viewers.
    Bench(liu_bench::BenchArgs),
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// RTMP listen address [default: 0.0.0.0:1935, or the config file's]
    #[arg(long, value_name = "ADDR")]
    rtmp: Option<SocketAddr>,
    /// HTTP listen address (HTTP-FLV, HLS) [default: 0.0.0.0:8080, or the config file's]
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// RTMPS listen address [default: 0.0.0.0:1936, or the config file's]; RTMPS is on when
    /// `[rtmps] cert` and `key` are configured, or with --tls-self-signed
    #[arg(long, value_name = "ADDR")]
    rtmps: Option<SocketAddr>,
    /// HTTPS listen address (HTTP-FLV, HLS, RTMPTS over TLS) [default: 0.0.0.0:8443, or the
    /// config file's]; on with RTMPS, with the same certificate
    #[arg(long, value_name = "ADDR")]
    https: Option<SocketAddr>,
    /// Serve RTMPS with a certificate made at startup for localhost (development only; the
    /// SHA-256 fingerprint is printed)
    #[arg(long)]
    tls_self_signed: bool,
    /// TOML configuration file (see docs/configuration.md)
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Bench(args)) => bench(args),
        None => ServeArgs::default(),
    };
    allocator::tune_glibc_malloc();
    if let Err(e) = serve(args) {
        eprintln!("liu: {e:#}");
        std::process::exit(1);
    }
}

/// Runs `liu bench` and exits.
fn bench(args: liu_bench::BenchArgs) -> ! {
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr());
    if let Err(e) = liu_bench::run(args, &mut stdout, &mut stderr) {
        let _ = stdout.flush();
        eprintln!("liu bench: {e}");
        std::process::exit(1);
    }
    let _ = stdout.flush();
    std::process::exit(0);
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<Config>(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(addr) = args.rtmp {
        config.rtmp.listen = addr;
    }
    if let Some(addr) = args.http {
        config.http.listen = addr;
    }
    if let Some(addr) = args.rtmps {
        config.rtmps.listen = addr;
    }
    if let Some(addr) = args.https {
        config.https.listen = addr;
    }
    if args.tls_self_signed {
        config.rtmps.self_signed = true;
        config.rtmps.cert = None;
        config.rtmps.key = None;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = liu_server::bind(config).await?;
        let (rtmp, http) = (server.rtmp_addr(), server.http_addr());
        let rtmp_host = display_host(rtmp);
        let http_host = display_host(http);
        println!("push:  rtmp://{rtmp_host}:{}/live/<stream>", rtmp.port());
        println!("play:  rtmp://{rtmp_host}:{}/live/<stream>", rtmp.port());
        println!(
            "       http://{http_host}:{}/live/<stream>.flv",
            http.port()
        );
        println!(
            "       ws://{http_host}:{}/live/<stream>.flv     (WebSocket-FLV)",
            http.port()
        );
        println!(
            "       http://{http_host}:{}/live/<stream>.m3u8   (HLS)",
            http.port()
        );
        println!(
            "also:  rtmpe://{rtmp_host}:{}/live/<stream>   rtmpt://{http_host}:{}/live/<stream>",
            rtmp.port(),
            http.port()
        );
        if let Some(addr) = server.rtmpt_addr() {
            println!(
                "rtmpt: rtmpt://{}:{}/live/<stream>",
                display_host(addr),
                addr.port()
            );
        }
        if let (Some(addr), Some(fingerprint)) = (server.rtmps_addr(), server.tls_fingerprint()) {
            println!(
                "rtmps: rtmps://{}:{}/live/<stream>   (certificate SHA-256 {fingerprint})",
                display_host(addr),
                addr.port()
            );
        }
        if let Some(addr) = server.https_addr() {
            let host = display_host(addr);
            println!(
                "https: https://{host}:{}/live/<stream>.flv   rtmpts://{host}:{}/live/<stream>",
                addr.port(),
                addr.port()
            );
        }
        if let Some(reloader) = server.tls_reloader() {
            tokio::spawn(reload_on_sighup(reloader));
        }
        tracing::info!(%rtmp, %http, "Liu {} listening", env!("CARGO_PKG_VERSION"));
        server.run(shutdown_signal()).await;
        Ok(())
    })
}

/// The host to print in URLs: the bound address, or this machine's
/// outgoing address when bound to all interfaces.
fn display_host(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        primary_ip().unwrap_or(IpAddr::from([127, 0, 0, 1]))
    } else {
        addr.ip()
    };
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The address the OS would use to reach the outside (no packet is sent).
fn primary_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// Reloads the RTMPS certificate files on each SIGHUP.
async fn reload_on_sighup(reloader: liu_server::TlsReloader) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            reloader.reload("on SIGHUP");
        }
    }
    #[cfg(not(unix))]
    let _ = reloader;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
