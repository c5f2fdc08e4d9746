//! The server: `liu serve` as a child process on ephemeral ports.

use std::fs::{self, File};
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::process::{register_child, spawn_line_reader, stop_child, tail_lines, temp_dir};
use super::rtmp::RawRtmp;

/// `liu serve` on ephemeral ports. Its stdout and stderr go to `dir/server.log`; on a failing
/// test (drop while panicking) the tail of that log is printed.
pub struct LiuServer {
    child: Child,
    dir: PathBuf,
    log_path: PathBuf,
    rtmp_addr: String,
    http_addr: String,
    rtmps_addr: String,
    https_addr: String,
    readers: Vec<JoinHandle<()>>,
}

impl LiuServer {
    pub fn start(config_toml: &str) -> LiuServer {
        let dir = temp_dir("server");
        let config = dir.join("liu.toml");
        fs::write(&config, config_toml).expect("write config");
        let log_path = dir.join("server.log");
        let log = Arc::new(Mutex::new(
            File::create(&log_path).expect("create server log"),
        ));

        let mut child = Command::new(env!("CARGO_BIN_EXE_liu"))
            .args([
                "serve",
                "--rtmp",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&config)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,liu=debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn liu (CARGO_BIN_EXE_liu)");
        register_child(child.id());

        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let log1 = log.clone();
        let out = spawn_line_reader(child.stdout.take().unwrap(), move |l| {
            let _ = writeln!(log1.lock().unwrap(), "{l}");
            let _ = tx.send(l);
        });
        let log2 = log.clone();
        let err = spawn_line_reader(child.stderr.take().unwrap(), move |l| {
            let _ = writeln!(log2.lock().unwrap(), "{l}");
        });

        let mut server = LiuServer {
            child,
            dir,
            log_path,
            rtmp_addr: String::new(),
            http_addr: String::new(),
            rtmps_addr: String::new(),
            https_addr: String::new(),
            readers: vec![out, err],
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        // With [rtmps], its URL line and the HTTPS one come too.
        let want_rtmps = config_toml.contains("[rtmps]");
        while server.rtmp_addr.is_empty()
            || server.http_addr.is_empty()
            || (want_rtmps && (server.rtmps_addr.is_empty() || server.https_addr.is_empty()))
        {
            if let Ok(Some(st)) = server.child.try_wait() {
                panic!(
                    "liu exited during startup ({st}); log:\n{}",
                    server.log_tail(40)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "liu printed no rtmp:// and http:// listen URLs within 15 s; log:\n{}",
                    server.log_tail(40)
                );
            }
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                if server.rtmp_addr.is_empty()
                    && let Some(a) = url_authority(&line, "rtmp://")
                {
                    server.rtmp_addr = a;
                }
                if server.http_addr.is_empty()
                    && let Some(a) = url_authority(&line, "http://")
                {
                    server.http_addr = a;
                }
                if server.rtmps_addr.is_empty()
                    && let Some(a) = url_authority(&line, "rtmps://")
                {
                    server.rtmps_addr = a;
                }
                if server.https_addr.is_empty()
                    && let Some(a) = url_authority(&line, "https://")
                {
                    server.https_addr = a;
                }
            }
        }
        server
    }

    /// `host:port` of the RTMP listener.
    pub fn rtmp_addr(&self) -> &str {
        &self.rtmp_addr
    }
    /// `host:port` of the HTTP listener.
    pub fn http_addr(&self) -> &str {
        &self.http_addr
    }
    /// `host:port` of the RTMPS listener (a config with `[rtmps]`).
    pub fn rtmps_addr(&self) -> &str {
        &self.rtmps_addr
    }
    /// `host:port` of the HTTPS listener (a config with `[rtmps]`).
    pub fn https_addr(&self) -> &str {
        &self.https_addr
    }
    /// `scheme://host:port/live/STREAM` for any member of the RTMP family: rtmp, rtmpe (the
    /// RTMP port), rtmps, rtmpt, rtmpte (HTTP), rtmpts (HTTPS).
    pub fn url(&self, scheme: &str, stream: &str) -> String {
        let addr = match scheme {
            "rtmp" | "rtmpe" => &self.rtmp_addr,
            "rtmps" => &self.rtmps_addr,
            "rtmpt" | "rtmpte" => &self.http_addr,
            "rtmpts" => &self.https_addr,
            other => panic!("no such scheme {other}"),
        };
        format!("{scheme}://{addr}/live/{stream}")
    }
    pub fn rtmps_url(&self, stream: &str) -> String {
        format!("rtmps://{}/live/{}", self.rtmps_addr, stream)
    }
    pub fn rtmp_url(&self, stream: &str) -> String {
        format!("rtmp://{}/live/{}", self.rtmp_addr, stream)
    }
    pub fn flv_url(&self, stream: &str) -> String {
        format!("http://{}/live/{}.flv", self.http_addr, stream)
    }
    /// The classic (MPEG-TS) HLS playlist's path.
    pub fn hls_path(&self, stream: &str) -> String {
        format!("/live/{stream}.m3u8")
    }
    pub fn hls_url(&self, stream: &str) -> String {
        format!("http://{}{}", self.http_addr, self.hls_path(stream))
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size from /proc/PID/status (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        vm_rss_kib(self.pid()).unwrap_or_else(|| panic!("no VmRSS in /proc/{}/status", self.pid()))
    }

    /// The last `lines` lines of the server's log, without terminal colours.
    pub fn log_tail(&self, lines: usize) -> String {
        strip_ansi(&tail_lines(
            &fs::read_to_string(&self.log_path).unwrap_or_default(),
            lines,
        ))
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server process is running and both ports still accept: a fresh RTMP connection
    /// completes the plain handshake and the HTTP port answers (with anything) or accepts.
    pub fn assert_alive(&mut self, after: &str) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("liu died ({st}) after {after}; log:\n{}", self.log_tail(40));
        }
        if let Err(e) = RawRtmp::try_connect(&self.rtmp_addr).and_then(|mut p| p.handshake()) {
            panic!(
                "after {after}: a fresh RTMP handshake with liu failed: {e}; log:\n{}",
                self.log_tail(40)
            );
        }
        if let Err(e) = TcpStream::connect_timeout(
            &self.http_addr.to_socket_addrs().unwrap().next().unwrap(),
            Duration::from_secs(3),
        ) {
            panic!("after {after}: the HTTP port refuses connections: {e}");
        }
    }
}

impl Drop for LiuServer {
    fn drop(&mut self) {
        stop_child(&mut self.child, Some("TERM"), Duration::from_secs(2));
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        if thread::panicking() {
            eprintln!(
                "---- liu server log (tail, full log in {}) ----\n{}\n----",
                self.log_path.display(),
                self.log_tail(60)
            );
        }
    }
}

/// VmRSS of process `pid` in KiB (/proc/PID/status); `None` once it is gone.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Runs `liu serve --rtmp RTMP --http 127.0.0.1:0 --config FILE` with `config` in FILE, which
/// must fail at startup: exit status 1, no panic. Returns its stderr.
pub fn failed_startup(rtmp: &str, config: &str) -> String {
    let dir = temp_dir("startup");
    let path = dir.join("liu.toml");
    fs::write(&path, config).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_liu"))
        .args(["serve", "--rtmp", rtmp, "--http", "127.0.0.1:0", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("run liu");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "exit status; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// [`failed_startup`] that must say why in one line containing `expect`.
pub fn assert_one_line_startup_error(rtmp: &str, config: &str, expect: &str) {
    let stderr = failed_startup(rtmp, config);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got:\n{stderr}");
    assert!(lines[0].contains(expect), "wanted {expect:?}: {stderr}");
}

fn url_authority(line: &str, scheme: &str) -> Option<String> {
    let rest = &line[line.find(scheme)? + scheme.len()..];
    let end = rest
        .find(|c: char| c == '/' || c.is_whitespace())
        .unwrap_or(rest.len());
    let auth = &rest[..end];
    auth.contains(':').then(|| auth.to_string())
}

/// The log without its terminal colours.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
