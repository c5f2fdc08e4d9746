//! Tools, temp dirs and child bookkeeping: tool paths, unique names, stopping and reaping
//! children, the [`watchdog`], and reading a child's output line by line.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

fn tool(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("{var} not set: run scripts/test.sh"),
    }
}

/// FFmpeg 9 (static build from the imageio-ffmpeg wheel).
pub fn ffmpeg9() -> PathBuf {
    tool("LIU_FFMPEG")
}
/// Debian's FFmpeg 5.1.
pub fn ffmpeg5() -> PathBuf {
    tool("LIU_FFMPEG5")
}
/// Debian's rtmpdump 2.4 (librtmp).
pub fn rtmpdump() -> PathBuf {
    tool("LIU_RTMPDUMP")
}

/// `liu bench ARGS` of the binary under test, reading nothing and writing its output nowhere
/// but stderr (piped); callers pipe stdout where they read the report from it.
pub fn bench_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liu"));
    cmd.arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// A fresh directory under the cargo target tmp dir, unique to this process and call.
pub fn temp_dir(prefix: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("liu-tests")
        .join(format!("{prefix}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create test temp dir");
    dir
}

/// A unique stream name (tests in one process run in parallel threads).
pub fn stream_name(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Serializes the heavy media tests of one test binary (cargo runs binaries one after another).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn children() -> &'static Mutex<HashSet<u32>> {
    static C: OnceLock<Mutex<HashSet<u32>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashSet::new()))
}
pub fn register_child(pid: u32) {
    children()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pid);
}
pub fn unregister_child(pid: u32) {
    children()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&pid);
}

/// Sends a signal by name ("TERM", "INT", "KILL") to a process.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stops a child: `first_signal` (if any) for up to `grace`, then SIGKILL. Always reaps it.
pub fn stop_child(
    child: &mut Child,
    first_signal: Option<&str>,
    grace: Duration,
) -> Option<ExitStatus> {
    if let Ok(Some(st)) = child.try_wait() {
        unregister_child(child.id());
        return Some(st);
    }
    if let Some(sig) = first_signal {
        // Repeated every 500 ms: FFmpeg 9 blocked on an idle RTMP input sometimes ignores the
        // first SIGTERM and exits cleanly on the second.
        let deadline = Instant::now() + grace;
        let mut next_signal = Instant::now();
        while Instant::now() < deadline {
            if Instant::now() >= next_signal {
                signal(child.id(), sig);
                next_signal += Duration::from_millis(500);
            }
            if let Ok(Some(st)) = child.try_wait() {
                unregister_child(child.id());
                return Some(st);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let st = child.wait().ok();
    unregister_child(child.id());
    st
}

/// Waits for a child to exit by itself, at most `limit`.
pub fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Hard wall-clock bound of a test: if it is still running after `limit`, every child process
/// this test binary started is killed and the process exits with an error. Disarmed on drop.
pub struct Watchdog(Arc<AtomicBool>);

pub fn watchdog(test: &str, limit: Duration) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let test = test.to_string();
    thread::spawn(move || {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "\n*** {test}: exceeded its wall-clock bound of {limit:?}; killing its children ***"
        );
        for pid in children().lock().unwrap_or_else(|e| e.into_inner()).iter() {
            signal(*pid, "KILL");
        }
        std::process::exit(101);
    });
    Watchdog(done)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Reads `r` on a thread and calls `f` for every line (split at `\n` or `\r`, so progress lines
/// that end in `\r` arrive as they are printed).
pub(super) fn spawn_line_reader<R, F>(r: R, mut f: F) -> JoinHandle<()>
where
    R: Read + Send + 'static,
    F: FnMut(String) + Send + 'static,
{
    thread::spawn(move || {
        let mut r = r;
        let mut buf = [0u8; 16384];
        let mut line = Vec::new();
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        if b == b'\n' || b == b'\r' {
                            if !line.is_empty() {
                                f(String::from_utf8_lossy(&line).into_owned());
                                line.clear();
                            }
                        } else {
                            line.push(b);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if !line.is_empty() {
            f(String::from_utf8_lossy(&line).into_owned());
        }
    })
}

pub(super) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
