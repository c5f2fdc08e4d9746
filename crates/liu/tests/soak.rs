//! The soak: one FFmpeg 9 publisher looping a clip; 200 viewers that stay for the whole run
//! (`liu bench play`: 80 RTMP, 80 HTTP-FLV, 40 HLS) plus an FFmpeg 9 HTTP-FLV decoder; 200 that
//! churn (every few seconds 67 RTMP, 67 HTTP-FLV and 66 HLS viewers join for 3 s and leave);
//! and a trickle of hostile clients (idle RTMP and HTTP connects, ghost players, RTMPT opens,
//! garbage), four a second. Prints one line per minute (VmRSS, open fds and threads from
//! /proc, staying viewers playing, stalls, timestamps that went back, churn and hostile counts)
//! and asserts: no stall and no timestamp going back for the staying viewers, every churning
//! viewer played, every hostile client was closed within its time bound, open fds returned to
//! the idle figure once everything ended, and RSS did not grow from the first minute to the
//! last. Two minutes here; `scripts/soak.sh MINUTES` runs it longer (LIU_SOAK_MINUTES).
mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use liu_bench::report::Report;

const STAYING: [(&str, u32); 3] = [("rtmp", 80), ("http-flv", 80), ("hls", 40)];
const CHURNING: [(&str, u32); 3] = [("rtmp", 67), ("http-flv", 67), ("hls", 66)];
/// How long a churning viewer stays.
const CHURN_STAY_S: &str = "3";
/// A hostile client every this long.
const HOSTILE_EVERY: Duration = Duration::from_millis(250);

fn minutes() -> u64 {
    std::env::var("LIU_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .filter(|&m| m >= 1)
        .unwrap_or(2)
}

/// What /proc says about the server.
#[derive(Clone, Copy, Debug, Default)]
struct ProcView {
    rss_kib: u64,
    fds: usize,
    threads: usize,
}

fn proc_view(pid: u32) -> ProcView {
    let count = |dir: &str| {
        std::fs::read_dir(format!("/proc/{pid}/{dir}"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    ProcView {
        rss_kib: vm_rss_kib(pid).unwrap_or(0),
        fds: count("fd"),
        threads: count("task"),
    }
}

fn url(server: &LiuServer, proto: &str, name: &str) -> String {
    match proto {
        "rtmp" => server.rtmp_url(name),
        "http-flv" => server.flv_url(name),
        _ => server.hls_url(name),
    }
}

/// `liu bench play` of `n` viewers for `secs`, its JSON report into `json`.
fn bench_play(url: &str, n: u32, secs: &str, json: &Path, timeline: Option<&Path>) -> Child {
    let n = n.to_string();
    let mut cmd = bench_command(&["play", "--url", url, "-n", &n]);
    cmd.args(["--rate", "100", "--duration", secs, "--progress", "0"])
        .arg("--json")
        .arg(json)
        .stderr(Stdio::null());
    if let Some(t) = timeline {
        cmd.arg("--timeline").arg(t);
    }
    let child = cmd.spawn().expect("spawn liu bench play");
    register_child(child.id());
    child
}

fn read_report(path: &Path) -> Report {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no report in {}: {e}", path.display()));
    Report::from_json(&text).unwrap_or_else(|e| panic!("bad report {}: {e}", path.display()))
}

/// The last line of a `--timeline` file: (playing, stalls, backwards).
fn timeline_now(path: &Path) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let Some(last) = text
        .lines()
        .rev()
        .find(|l| l.split_whitespace().count() >= 7)
    else {
        return (0, 0, 0);
    };
    let v: Vec<u64> = last
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (v[1], v[4], v[5])
}

/// Churning viewers: rounds of short `liu bench play` runs over every protocol until `stop`.
#[derive(Default)]
struct Churn {
    rounds: u64,
    viewers: u64,
    failures: Vec<String>,
}

fn churn(server_urls: Vec<(String, u32)>, dir: PathBuf, stop: Arc<AtomicBool>) -> Churn {
    let mut c = Churn::default();
    while !stop.load(Ordering::SeqCst) {
        let runs: Vec<(Child, PathBuf, &str)> = server_urls
            .iter()
            .enumerate()
            .map(|(i, (url, n))| {
                let json = dir.join(format!("churn-{i}.json"));
                let _ = std::fs::remove_file(&json);
                (
                    bench_play(url, *n, CHURN_STAY_S, &json, None),
                    json,
                    &url[..],
                )
            })
            .collect();
        for (mut child, json, url) in runs {
            let ok = wait_child(&mut child, Duration::from_secs(30)).is_some();
            unregister_child(child.id());
            if !ok {
                let _ = child.kill();
                c.failures
                    .push(format!("{url}: liu bench play did not end"));
                continue;
            }
            let r = read_report(&json);
            c.viewers += u64::from(r.viewers);
            if r.connections.failed > 0 {
                c.failures.push(format!(
                    "round {}: {url}: {} of {} failed: {:?}",
                    c.rounds + 1,
                    r.connections.failed,
                    r.viewers,
                    r.connections.failures
                ));
            }
        }
        c.rounds += 1;
    }
    c
}

/// The FFmpeg 9 publisher: the clip looped in real time for `secs`, copied to `url`.
fn publish_looped(clip: &Clip, url: &str, secs: u64) -> Child {
    let child = Command::new(ffmpeg9())
        .args(["-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"])
        .args(["-re", "-stream_loop", "-1", "-i"])
        .arg(&clip.path)
        .args(["-t", &secs.to_string(), "-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ffmpeg publisher");
    register_child(child.id());
    child
}

#[test]
fn soak() {
    let _serial = serial();
    let minutes = minutes();
    let total = Duration::from_secs(minutes * 60);
    let _wd = watchdog("soak", total + Duration::from_secs(240));
    let clip = clip(&ClipSpec::standard());
    let dir = temp_dir("soak");
    let mut server = LiuServer::start("");
    let pid = server.pid();

    let name = stream_name("soak");
    let mut publisher = publish_looped(&clip, &server.rtmp_url(&name), total.as_secs() + 90);
    // The stream is up when the HLS playlist lists three segments (where players join).
    let up = Instant::now();
    while !hls_segments_listed(server.http_addr(), &server.hls_path(&name), 3) {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "the stream did not come up"
        );
        thread::sleep(Duration::from_millis(200));
    }
    // A warm-up viewer per protocol, then the figures the server must come back to with only
    // the publisher connected (what a first viewer creates once, e.g. a thread's io_uring, is
    // in them).
    for proto in ["rtmp", "http-flv", "hls"] {
        let json = dir.join(format!("warm-{proto}.json"));
        let mut warm = bench_play(&url(&server, proto, &name), 1, "2", &json, None);
        assert!(wait_child(&mut warm, Duration::from_secs(30)).is_some());
        unregister_child(warm.id());
        assert_eq!(read_report(&json).connections.ok, 1, "warm-up over {proto}");
    }
    thread::sleep(Duration::from_secs(1));
    let idle = proc_view(pid);

    let staying: Vec<(Child, PathBuf, PathBuf)> = STAYING
        .iter()
        .map(|(proto, n)| {
            let (json, tl) = (
                dir.join(format!("stay-{proto}.json")),
                dir.join(format!("stay-{proto}.timeline")),
            );
            let secs = total.as_secs().to_string();
            (
                bench_play(&url(&server, proto, &name), *n, &secs, &json, Some(&tl)),
                json,
                tl,
            )
        })
        .collect();
    let decoder = Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name));
    let staying_n: u64 = STAYING.iter().map(|(_, n)| u64::from(*n)).sum();

    let stop = Arc::new(AtomicBool::new(false));
    let churn_urls: Vec<(String, u32)> = CHURNING
        .iter()
        .map(|(proto, n)| (url(&server, proto, &name), *n))
        .collect();
    let churner = {
        let (stop, dir) = (stop.clone(), dir.clone());
        thread::spawn(move || churn(churn_urls, dir, stop))
    };
    let hostile = Arc::new(Mutex::new(HostileLog::default()));
    let trickle = {
        let (stop, log) = (stop.clone(), hostile.clone());
        let (rtmp, http) = (
            server.rtmp_addr().to_string(),
            server.http_addr().to_string(),
        );
        thread::spawn(move || hostile_trickle(rtmp, http, HOSTILE_EVERY, stop, log))
    };

    let start = Instant::now();
    // /proc every second, from the moment every client runs
    let mut samples: Vec<(Duration, ProcView)> = Vec::new();
    eprintln!(
        "soak: {minutes} min; the server with the publisher only: VmRSS {} KiB, {} fds, {} threads",
        idle.rss_kib, idle.fds, idle.threads
    );
    for minute in 1..=minutes {
        let end = start + Duration::from_secs(minute * 60);
        while Instant::now() < end {
            thread::sleep(Duration::from_secs(1).min(end - Instant::now()));
            samples.push((start.elapsed(), proc_view(pid)));
            server.assert_alive("during the soak");
        }
        let this: Vec<ProcView> = samples
            .iter()
            .filter(|(t, _)| *t >= Duration::from_secs((minute - 1) * 60))
            .map(|(_, v)| *v)
            .collect();
        let (mut playing, mut stalls, mut backwards) = (0, 0, 0);
        for (_, _, tl) in &staying {
            let (p, s, b) = timeline_now(tl);
            (playing, stalls, backwards) = (playing + p, stalls + s, backwards + b);
        }
        let h = hostile.lock().unwrap();
        eprintln!(
            "minute {minute}: VmRSS {} KiB (max {}), fds {} (max {}), threads {}; staying viewers \
             playing {playing}/{staying_n}, stalls {stalls}, timestamps back {backwards}; \
             hostile clients {} opened, {} closed, {} not closed in time",
            this.last().map_or(0, |v| v.rss_kib),
            this.iter().map(|v| v.rss_kib).max().unwrap_or(0),
            this.last().map_or(0, |v| v.fds),
            this.iter().map(|v| v.fds).max().unwrap_or(0),
            this.last().map_or(0, |v| v.threads),
            h.opened,
            h.closed,
            h.failures.len()
        );
    }

    stop.store(true, Ordering::SeqCst);
    let churned = churner.join().expect("churn thread");
    trickle.join().expect("hostile thread");
    let mut reports = Vec::new();
    for (mut child, json, _) in staying {
        assert!(
            wait_child(&mut child, Duration::from_secs(60)).is_some(),
            "a staying liu bench play did not end"
        );
        unregister_child(child.id());
        reports.push(read_report(&json));
    }
    let decoded = decoder.finish(Duration::from_secs(2), Duration::ZERO);

    // Every viewer and hostile client ended: with the publisher alone again, the server's open
    // files come back to what they were before the load.
    let settle = Instant::now();
    let mut after = proc_view(pid);
    while after.fds > idle.fds && settle.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(500));
        after = proc_view(pid);
    }
    let open_files = fd_links(pid);
    assert!(
        publisher.try_wait().unwrap().is_none(),
        "the publisher ended early"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    unregister_child(publisher.id());
    let h = hostile.lock().unwrap();
    eprintln!(
        "soak over: churn {} rounds, {} viewers; hostile {} opened, longest lives {:?}; \
         FFmpeg decoded {} pictures; server fds {} (idle {}), VmRSS {} KiB",
        churned.rounds,
        churned.viewers,
        h.opened,
        Hostile::ALL
            .iter()
            .zip(h.longest)
            .map(|(k, d)| format!("{k:?} {:.1} s", d.as_secs_f64()))
            .collect::<Vec<_>>(),
        decoded.video.len(),
        after.fds,
        idle.fds,
        after.rss_kib
    );

    for r in &reports {
        assert_eq!(
            r.connections.failed, 0,
            "{}: staying viewers failed: {:?}",
            r.url, r.connections.failures
        );
        assert_eq!(
            r.stalls.count, 0,
            "{}: {} stalls in {} staying viewers (longest gap {} ms)",
            r.url, r.stalls.count, r.stalls.viewers, r.stalls.longest_gap_ms
        );
        assert_eq!(
            r.media.timestamps_backwards, 0,
            "{}: timestamps went back in {} viewers",
            r.url, r.media.viewers_backwards
        );
    }
    // The FFmpeg viewer decoded the whole run, in order.
    let secs = total.as_secs_f64();
    assert!(
        decoded.video.len() as f64 >= secs * 25.0 * 0.9,
        "FFmpeg 9 decoded {} pictures in {secs} s (25 fps); stderr: {:?}",
        decoded.video.len(),
        decoded.stderr
    );
    assert!(
        decoded.video.windows(2).all(|w| w[1].pts > w[0].pts),
        "FFmpeg 9's pictures are not in increasing time order"
    );
    assert!(
        churned.failures.is_empty(),
        "churning viewers failed ({} rounds): {:#?}",
        churned.rounds,
        churned.failures
    );
    assert!(
        churned.rounds >= minutes * 6,
        "only {} churn rounds",
        churned.rounds
    );
    assert!(
        h.failures.is_empty(),
        "hostile clients the server did not close in time:\n{}",
        h.failures.join("\n")
    );
    assert!(
        h.opened >= minutes * 200,
        "only {} hostile clients",
        h.opened
    );
    assert!(
        after.fds <= idle.fds,
        "the server holds {} open files 30 s after the load ended, {} before it: {open_files:?}",
        after.fds,
        idle.fds
    );
    // No growth: the last minute's highest VmRSS within 25 % (+ 2 MiB) of the first's.
    let max_in = |from: u64, to: u64| {
        samples
            .iter()
            .filter(|(t, _)| *t >= Duration::from_secs(from) && *t < Duration::from_secs(to))
            .map(|(_, v)| v.rss_kib)
            .max()
            .unwrap_or(0)
    };
    let (first, last) = (max_in(0, 60), max_in((minutes - 1) * 60, minutes * 60 + 1));
    assert!(
        last <= first * 125 / 100 + 2048,
        "VmRSS grew: highest {first} KiB in the first minute, {last} KiB in the last"
    );
    let fds_first = samples
        .iter()
        .take(60)
        .map(|(_, v)| v.fds)
        .max()
        .unwrap_or(0);
    let fds_last = samples
        .iter()
        .rev()
        .take(60)
        .map(|(_, v)| v.fds)
        .max()
        .unwrap_or(0);
    assert!(
        fds_last <= fds_first * 125 / 100 + 20,
        "open fds grew: highest {fds_first} in the first minute, {fds_last} in the last"
    );
}

/// GET `path` answers a playlist that lists at least `n` segments.
fn hls_segments_listed(addr: &str, path: &str, n: usize) -> bool {
    http_get(addr, path)
        .ok()
        .filter(|reply| reply.status == 200)
        .and_then(|reply| parse_media_playlist(&reply.body).ok())
        .is_some_and(|playlist| playlist.segments.len() >= n)
}
