//! Browser interop: Debian's headless Chromium plays Liu's HTTP-FLV with mpegts.js (Media Source
//! Extensions), the way a web player does, from a page served by ANOTHER origin (so the stream's
//! fetch is a CORS request and needs Liu's `Access-Control-Allow-Origin`).
//!
//! Pieces (installed by `scripts/browser-deps.sh`, which `scripts/test.sh` runs):
//!   /usr/bin/chromium (Debian), tests/browser/node_modules (mpegts.js, playwright-core, pinned by
//!   tests/browser/package-lock.json), tests/browser/player.html, tests/browser/play_flv.mjs.
//! A missing piece fails the test ("run scripts/test.sh"); it is never skipped.
//!
//! The test publishes a generated 20 s H.264 High (yuv420p, 640x360, 25 fps, 2 B-frames, 2 s
//! GOP) + AAC clip with FFmpeg 9 `-re`, serves the page and mpegts.js from a tiny static HTTP
//! server on another loopback port, and lets node + playwright-core drive Chromium until the
//! page's <video> has played 8 s of the stream.
mod common;
use common::*;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Seconds of playback (advance of `video.currentTime`) the page waits for.
const PLAY_SECONDS: f64 = 8.0;
/// The node script's own timeout (browser start, page load, first frame, 8 s of playback).
const NODE_TIMEOUT_S: u64 = 45;
/// Decoded-and-presented frames required over the 8 s: see the assertion for why 100.
const MIN_FRAMES: u64 = 100;

#[test]
fn chromium_plays_http_flv_with_mpegts_js_cross_origin() {
    let _wd = watchdog("browser", Duration::from_secs(150));
    let t0 = Instant::now();
    let files = BrowserFiles::locate();

    let clip = clip(&ClipSpec::standard().seconds(20));
    let server = LiuServer::start("");
    let name = stream_name("browser");
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);

    let statics = StaticServer::start(vec![
        (
            "/player.html",
            files.player.clone(),
            "text/html; charset=utf-8",
        ),
        (
            "/mpegts.js",
            files.mpegts.clone(),
            "text/javascript; charset=utf-8",
        ),
    ]);
    let flv_url = server.flv_url(&name);
    assert_ne!(
        statics.addr,
        server.http_addr(),
        "the page must come from another origin than the stream"
    );
    let page_url = format!(
        "http://{}/player.html?src={}&seconds={PLAY_SECONDS}",
        statics.addr,
        percent_encode(&flv_url)
    );
    eprintln!(
        "page: {page_url}\nstream: {flv_url} (page origin http://{})",
        statics.addr
    );

    // Liu holds the HTTP-FLV request up to flv_wait_ms (5 s) until the publisher is on, so the
    // browser can start right away.
    let run = NodeRun::start(&files, &page_url, NODE_TIMEOUT_S);
    let (status, stdout, stderr) = run.finish(Duration::from_secs(NODE_TIMEOUT_S + 40));
    let served = statics.served();
    drop(statics);
    let publisher_alive = publisher.is_running();
    let publisher_log = publisher.stderr();
    drop(publisher);

    let json_line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("")
        .to_string();
    eprintln!(
        "play_flv.mjs ({status}) after {:.1} s:\n{json_line}",
        t0.elapsed().as_secs_f64()
    );
    let context = || {
        format!(
            "\nplay_flv.mjs exit: {status}\nstdout:\n{stdout}\nstderr (tail):\n{}\nstatic server served: {served:?}\n\
             publisher still running: {publisher_alive}; its stderr:\n{publisher_log}",
            tail(&stderr, 30)
        )
    };
    let report = Json::parse(&json_line)
        .unwrap_or_else(|e| panic!("no JSON line from play_flv.mjs ({e}){}", context()));
    let result = report.get("result");
    let num = |k: &str| result.get(k).as_f64().unwrap_or(f64::NAN);

    let total = num("totalVideoFrames");
    let dropped = num("droppedVideoFrames");
    let start = result.get("startTime").as_f64().unwrap_or(0.0);
    let current = num("currentTime");
    let played = current - start;
    let mi = result.get("mediaInfo");
    eprintln!(
        "browser {}: {total} video frames decoded ({dropped} dropped), currentTime {start:.3} -> {current:.3} \
         ({played:.2} s played), {}x{}, first frame at {} ms after page start, mpegts.js media info: {} / {} \
         {}x{} {} fps, {} ms in the browser",
        report.get("browser").as_str().unwrap_or("?"),
        num("videoWidth"),
        num("videoHeight"),
        num("firstFrameMs"),
        mi.get("videoCodec").as_str().unwrap_or("?"),
        mi.get("audioCodec").as_str().unwrap_or("?"),
        mi.get("width").as_f64().unwrap_or(0.0),
        mi.get("height").as_f64().unwrap_or(0.0),
        mi.get("fps").as_f64().unwrap_or(0.0),
        report.get("wallMs").as_f64().unwrap_or(0.0),
    );

    // The page itself: no mpegts.js error (network, CORS, demux, MSE), no <video> error.
    let errors = result.get("errors").as_arr();
    assert!(
        errors.is_empty(),
        "mpegts.js reported errors: {}{}",
        result.get("errors"),
        context()
    );
    let video_errors = result.get("videoErrors").as_arr();
    assert!(
        video_errors.is_empty(),
        "<video> errors: {}{}",
        result.get("videoErrors"),
        context()
    );
    assert!(
        report.get("ok").as_bool() == Some(true) && status.success(),
        "the page did not report {PLAY_SECONDS} s of playback: {}{}",
        report.get("reason"),
        context()
    );
    assert!(
        served.iter().any(|p| p == "/player.html") && served.iter().any(|p| p == "/mpegts.js"),
        "the static server did not serve the page and mpegts.js: {served:?}"
    );

    // What mpegts.js saw in the FLV: H.264 High + AAC LC, 640x360.
    let vcodec = mi.get("videoCodec").as_str().unwrap_or("");
    assert!(
        vcodec.starts_with("avc1.64"),
        "mpegts.js video codec {vcodec:?}, expected avc1.64xxxx (H.264 High){}",
        context()
    );
    assert_eq!(
        mi.get("audioCodec").as_str(),
        Some("mp4a.40.2"),
        "mpegts.js audio codec{}",
        context()
    );
    assert_eq!(
        (mi.get("width").as_f64(), mi.get("height").as_f64()),
        (Some(640.0), Some(360.0)),
        "mpegts.js size{}",
        context()
    );

    // What the browser decoded.
    assert_eq!(
        (num("videoWidth"), num("videoHeight")),
        (640.0, 360.0),
        "<video> size{}",
        context()
    );
    assert!(
        played >= PLAY_SECONDS - 0.1,
        "currentTime advanced only {played:.2} s (from {start:.3} to {current:.3}){}",
        context()
    );
    // 8 s at 25 fps is 200 frames. Requiring 100 presented frames (decoded minus dropped) leaves
    // half of them for a loaded 2-core machine whose decoder or compositor falls behind, yet it
    // cannot be met without really decoding the P- and B-frames: a stream where only the
    // keyframes decoded (one every 2 s) would give about 5, and a stalled one none, while
    // currentTime (checked above) proves the media clock ran for the 8 s.
    let presented = total - dropped;
    assert!(
        presented >= MIN_FRAMES as f64,
        "only {presented} frames presented ({total} decoded, {dropped} dropped) over {played:.2} s; expected >= {MIN_FRAMES}{}",
        context()
    );
    eprintln!("browser test passed in {:.1} s", t0.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// The browser side's files, at fixed repo-relative paths
// ---------------------------------------------------------------------------------------------

struct BrowserFiles {
    dir: PathBuf,
    script: PathBuf,
    player: PathBuf,
    mpegts: PathBuf,
}

impl BrowserFiles {
    fn locate() -> BrowserFiles {
        // crates/liu -> the repository root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .and_then(Path::parent)
            .expect("repo root");
        let dir = root.join("tests/browser");
        let f = BrowserFiles {
            script: dir.join("play_flv.mjs"),
            player: dir.join("player.html"),
            mpegts: dir.join("node_modules/mpegts.js/dist/mpegts.js"),
            dir,
        };
        let need = [
            f.script.clone(),
            f.player.clone(),
            f.mpegts.clone(),
            f.dir.join("node_modules/playwright-core/package.json"),
            PathBuf::from(CHROMIUM),
        ];
        for p in need {
            assert!(
                p.exists(),
                "{} is missing: run scripts/test.sh (it runs scripts/browser-deps.sh, which installs \
                 Chromium and the npm packages of tests/browser)",
                p.display()
            );
        }
        let node = Command::new("node").arg("--version").output();
        assert!(
            node.as_ref().is_ok_and(|o| o.status.success()),
            "`node --version` failed ({node:?}): Node.js >= 20 must be on PATH; run scripts/test.sh"
        );
        f
    }
}

// ---------------------------------------------------------------------------------------------
// node tests/browser/play_flv.mjs, bounded and killed on drop
// ---------------------------------------------------------------------------------------------

struct NodeRun {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl NodeRun {
    fn start(files: &BrowserFiles, page_url: &str, timeout_s: u64) -> NodeRun {
        let mut child = Command::new("node")
            .arg(&files.script)
            .arg(page_url)
            .arg(timeout_s.to_string())
            .current_dir(&files.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node tests/browser/play_flv.mjs");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        NodeRun {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Waits for the script to exit (killing it after `limit`): (status, stdout, stderr).
    fn finish(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                break st;
            }
            if Instant::now() >= deadline {
                eprintln!("play_flv.mjs still running after {limit:?}: killing it");
                break self.stop();
            }
            thread::sleep(Duration::from_millis(50));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }

    /// SIGTERM (Playwright closes the browser on it), then SIGKILL after 5 s. Chromium runs with
    /// --remote-debugging-pipe and exits by itself when node is gone.
    fn stop(&mut self) -> ExitStatus {
        if let Ok(Some(st)) = self.child.try_wait() {
            return st;
        }
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().expect("wait for node")
    }
}

impl Drop for NodeRun {
    fn drop(&mut self) {
        self.stop();
    }
}

fn collect<R: Read + Send + 'static>(mut r: R, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for a URL in a query value).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A tiny static HTTP server (the page's origin), std::net only
// ---------------------------------------------------------------------------------------------

struct StaticServer {
    addr: String,
    stop: Arc<AtomicBool>,
    served: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl StaticServer {
    /// Serves `(path, file, content type)` routes on 127.0.0.1:ephemeral; anything else is 404.
    fn start(routes: Vec<(&'static str, PathBuf, &'static str)>) -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the static server");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let (stop2, served2) = (stop.clone(), served.clone());
        let thread = thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (routes, served) = (routes.clone(), served2.clone());
                        thread::spawn(move || serve_one(conn, &routes, &served));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        StaticServer {
            addr,
            stop,
            served,
            thread: Some(thread),
        }
    }

    /// Paths answered with 200 so far.
    fn served(&self) -> Vec<String> {
        self.served.lock().unwrap().clone()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request per connection (`Connection: close`), GET/HEAD only.
fn serve_one(
    mut conn: TcpStream,
    routes: &[(&'static str, PathBuf, &'static str)],
    served: &Mutex<Vec<String>>,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let route = routes.iter().find(|(p, _, _)| *p == path);
    let (status, ctype, body) = match (method, route) {
        ("GET" | "HEAD", Some((_, file, ctype))) => match fs::read(file) {
            Ok(b) => ("200 OK", *ctype, b),
            Err(e) => (
                "500 Internal Server Error",
                "text/plain",
                format!("{}: {e}\n", file.display()).into_bytes(),
            ),
        },
        ("GET" | "HEAD", None) => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            b"method not allowed\n".to_vec(),
        ),
    };
    if status.starts_with("200") {
        served.lock().unwrap().push(path.to_string());
    }
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        resp.extend_from_slice(&body);
    }
    let _ = conn.write_all(&resp);
}

// ---------------------------------------------------------------------------------------------
// A minimal JSON reader for the script's one-line report (no extra dependency)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

static NULL: Json = Json::Null;

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at byte {}", p.i));
        }
        Ok(v)
    }
    /// The member `key` of an object; Null when absent or not an object.
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or(&NULL),
            _ => &NULL,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn as_arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => &[],
        }
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Json::Null => write!(f, "null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Num(n) => write!(f, "{n}"),
            Json::Str(s) => write!(f, "{s:?}"),
            Json::Arr(a) => {
                write!(f, "[")?;
                for (i, v) in a.iter().enumerate() {
                    write!(f, "{}{v}", if i > 0 { "," } else { "" })?;
                }
                write!(f, "]")
            }
            Json::Obj(m) => {
                write!(f, "{{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    write!(f, "{}{k:?}:{v}", if i > 0 { "," } else { "" })?;
                }
                write!(f, "}}")
            }
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return Err("unexpected end".into());
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return Err(format!("expected ':' at byte {}", self.i));
                    }
                    m.push((k, self.value()?));
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Json::Obj(m));
                    }
                    return Err(format!("expected ',' or '}}' at byte {}", self.i));
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value()?);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Json::Arr(a));
                    }
                    return Err(format!("expected ',' or ']' at byte {}", self.i));
                }
            }
            b'"' => Ok(Json::Str(self.string()?)),
            b't' if self.eat("true") => Ok(Json::Bool(true)),
            b'f' if self.eat("false") => Ok(Json::Bool(false)),
            b'n' if self.eat("null") => Ok(Json::Null),
            _ => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                t.parse()
                    .map(Json::Num)
                    .map_err(|_| format!("bad value at byte {start}"))
            }
        }
    }
    fn string(&mut self) -> Result<String, String> {
        if !self.eat("\"") {
            return Err(format!("expected a string at byte {}", self.i));
        }
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err("bad escape".into());
                    };
                    self.i += 1;
                    let ch = match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => {
                            let hex = std::str::from_utf8(
                                self.s.get(self.i..self.i + 4).ok_or("bad \\u")?,
                            )
                            .unwrap_or("");
                            self.i += 4;
                            let mut cp = u32::from_str_radix(hex, 16).map_err(|_| "bad \\u")?;
                            // A surrogate pair: \uD8xx\uDCxx.
                            if (0xd800..0xdc00).contains(&cp)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                let lo = std::str::from_utf8(
                                    self.s.get(self.i + 2..self.i + 6).ok_or("bad \\u")?,
                                )
                                .unwrap_or("");
                                if let Some(lo) = u32::from_str_radix(lo, 16)
                                    .ok()
                                    .filter(|lo| (0xdc00..0xe000).contains(lo))
                                {
                                    self.i += 6;
                                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                }
                            }
                            char::from_u32(cp).unwrap_or('\u{fffd}')
                        }
                        other => other as char,
                    };
                    let mut b = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

#[test]
fn json_reader_reads_the_report_shape() {
    let j = Json::parse(r#"{"ok":true,"n":-1.5e2,"s":"a\"b\u00e9","a":[1,{"x":null}],"o":{}}"#)
        .unwrap();
    assert_eq!(j.get("ok").as_bool(), Some(true));
    assert_eq!(j.get("n").as_f64(), Some(-150.0));
    assert_eq!(j.get("s").as_str(), Some("a\"bé"));
    assert_eq!(j.get("a").as_arr().len(), 2);
    assert_eq!(j.get("a").as_arr()[1].get("x"), &Json::Null);
    assert_eq!(j.get("missing"), &Json::Null);
    assert!(Json::parse("{\"a\":").is_err());
}
