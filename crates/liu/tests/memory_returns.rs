//! Memory comes back: after many streams end, the server's resident memory (VmRSS in
//! /proc) returns to within 20 % of its idle baseline, where glibc's malloc alone would keep
//! every freed page (measured: 300 audio streams took it from 7.5 MB to 60 MB, and it stayed
//! there).
mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const STREAMS: &str = "100";

fn run(mut bench: Command) -> std::process::Output {
    bench.output().expect("run liu bench")
}

/// VmRSS as soon as it is at most `target` KiB, else its lowest within `limit`.
fn rss_down_to(server: &LiuServer, target: u64, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    let mut low = server.rss_kib();
    while low > target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        low = low.min(server.rss_kib());
    }
    low
}

#[test]
fn rss_returns_after_many_streams_end() {
    let _serial = serial();
    let _wd = watchdog("memory_returns", Duration::from_secs(150));
    let dir = temp_dir("memory");
    let file = dir.join("audio.flv");
    let file = file.to_str().unwrap();
    let out = run(bench_command(&[
        "clip",
        "--audio-only",
        "--seconds",
        "10",
        "--out",
        file,
    ]));
    assert!(
        out.status.success(),
        "clip: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = LiuServer::start("[hls]\nenabled = false\n");
    // The server runs without glibc's per-thread cache (crates/liu/src/allocator.rs), which
    // keeps freed chunks out of the trim's reach: the kernel's view of its environment.
    let environ = std::fs::read(format!("/proc/{}/environ", server.pid())).unwrap();
    assert!(
        environ
            .split(|&b| b == 0)
            .any(|v| v == b"GLIBC_TUNABLES=glibc.malloc.tcache_count=0"),
        "liu serve did not restart itself with glibc's per-thread cache off"
    );
    let url = |name: &str| server.rtmp_url(name);
    // Warm-up: the first streams touch what every later one reuses (buffers, tables).
    let warm = run(bench_command(&[
        "publish",
        "--url",
        &url("warm"),
        "--file",
        file,
        "--streams",
        "2",
        "--duration",
        "3",
    ]));
    assert!(
        warm.status.success(),
        "{}",
        String::from_utf8_lossy(&warm.stderr)
    );
    // Past the trim interval (10 s) the warm-up's memory is back too.
    std::thread::sleep(Duration::from_secs(11));
    let idle = server.rss_kib();

    let start = Instant::now();
    let mut load = bench_command(&["publish", "--url", &url("load"), "--file", file])
        .args(["--streams", STREAMS, "--duration", "8"])
        .spawn()
        .expect("spawn liu bench publish");
    let mut peak = idle;
    while load.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the load did not end"
        );
        peak = peak.max(server.rss_kib());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(load.wait().unwrap().success(), "liu bench publish failed");
    // A trim comes within 10 s of the last connection's end; allow three.
    let after = rss_down_to(&server, idle * 120 / 100, Duration::from_secs(30));
    eprintln!(
        "VmRSS: {idle} KiB idle, {peak} KiB peak with {STREAMS} streams, {after} KiB after they ended"
    );
    assert!(
        peak > idle + 8 * 1024,
        "the load should have taken memory (idle {idle} KiB, peak {peak} KiB)"
    );
    assert!(
        after * 100 <= idle * 120,
        "RSS after the streams ended: {after} KiB, more than 20 % over the idle {idle} KiB \
         (peak {peak} KiB)"
    );
}
