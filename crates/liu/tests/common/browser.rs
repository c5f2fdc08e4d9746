//! The browser tests' pieces: where the page, scripts and npm packages are, a bounded
//! `node tests/browser/play_flv.mjs` run, a static HTTP server on another origin, and a small
//! JSON reader for the page's report.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::process::signal;

pub const CHROMIUM: &str = "/usr/bin/chromium";

// ---------------------------------------------------------------------------------------------
// The browser side's files, at fixed repo-relative paths
// ---------------------------------------------------------------------------------------------

pub struct BrowserFiles {
    pub dir: PathBuf,
    pub script: PathBuf,
    pub player: PathBuf,
    pub player_hls: PathBuf,
    pub mpegts: PathBuf,
    pub hlsjs: PathBuf,
}

impl BrowserFiles {
    pub fn locate() -> BrowserFiles {
        // crates/liu -> the repository root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .and_then(Path::parent)
            .expect("repo root");
        let dir = root.join("tests/browser");
        let f = BrowserFiles {
            script: dir.join("play_flv.mjs"),
            player: dir.join("player.html"),
            player_hls: dir.join("player_hls.html"),
            mpegts: dir.join("node_modules/mpegts.js/dist/mpegts.js"),
            hlsjs: dir.join("node_modules/hls.js/dist/hls.min.js"),
            dir,
        };
        let need = [
            f.script.clone(),
            f.player.clone(),
            f.mpegts.clone(),
            f.player_hls.clone(),
            f.hlsjs.clone(),
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

pub struct NodeRun {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl NodeRun {
    pub fn start(files: &BrowserFiles, page_url: &str, timeout_s: u64) -> NodeRun {
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
    pub fn finish(mut self, limit: Duration) -> (ExitStatus, String, String) {
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
    pub fn stop(&mut self) -> ExitStatus {
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

pub fn collect<R: Read + Send + 'static>(mut r: R, into: Arc<Mutex<String>>) -> JoinHandle<()> {
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

pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for a URL in a query value).
pub fn percent_encode(s: &str) -> String {
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

pub struct StaticServer {
    pub addr: String,
    stop: Arc<AtomicBool>,
    served: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl StaticServer {
    /// Serves `(path, file, content type)` routes on 127.0.0.1:ephemeral; anything else is 404.
    pub fn start(routes: Vec<(&'static str, PathBuf, &'static str)>) -> StaticServer {
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
    pub fn served(&self) -> Vec<String> {
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
pub fn serve_one(
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
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

static NULL: Json = Json::Null;

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
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
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or(&NULL),
            _ => &NULL,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_arr(&self) -> &[Json] {
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

pub struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    pub fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    pub fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }
    pub fn value(&mut self) -> Result<Json, String> {
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
    pub fn string(&mut self) -> Result<String, String> {
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
