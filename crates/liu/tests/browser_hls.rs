//! Browser interop for HLS: Debian's headless Chromium plays Liu's classic HLS
//! (`STREAM.m3u8`, MPEG-TS) and CMAF LL-HLS (`STREAM/index.m3u8`, fMP4 parts) with hls.js, from
//! a page served by another origin (so every playlist and segment fetch needs CORS).
//!
//! Pieces (installed by `scripts/browser-deps.sh`, which `scripts/test.sh` runs): /usr/bin/chromium,
//! tests/browser/node_modules (hls.js, playwright-core), tests/browser/player_hls.html and
//! tests/browser/play_flv.mjs (which opens any page of ours and reads its report). A missing
//! piece fails the test; it is never skipped.
mod common;
use common::*;
use std::time::{Duration, Instant};

/// Seconds `currentTime` must advance.
const PLAY_SECONDS: f64 = 4.0;
const NODE_TIMEOUT_S: u64 = 40;
/// Frames presented over those 4 s (100 at 25 fps): half, as in the HTTP-FLV browser test, and
/// far more than keyframes alone (two) would give.
const MIN_FRAMES: f64 = 50.0;

struct Played {
    played: f64,
    frames: f64,
    size: (f64, f64),
    latency_ms: Option<f64>,
    report: String,
}

fn play_in_chromium(
    files: &BrowserFiles,
    statics: &StaticServer,
    playlist_url: &str,
    low_latency: bool,
) -> Played {
    let page_url = format!(
        "http://{}/player_hls.html?src={}&seconds={PLAY_SECONDS}&lowLatency={}",
        statics.addr,
        percent_encode(playlist_url),
        u8::from(low_latency)
    );
    eprintln!("page: {page_url}");
    let run = NodeRun::start(files, &page_url, NODE_TIMEOUT_S);
    let (status, stdout, stderr) = run.finish(Duration::from_secs(NODE_TIMEOUT_S + 40));
    let json_line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("")
        .to_string();
    let context = format!(
        "\nplay_flv.mjs exit: {status}\nreport: {json_line}\nstderr (tail):\n{}",
        tail(&stderr, 20)
    );
    let report = Json::parse(&json_line)
        .unwrap_or_else(|e| panic!("no JSON line from play_flv.mjs ({e}){context}"));
    let result = report.get("result");
    let num = |k: &str| result.get(k).as_f64().unwrap_or(f64::NAN);
    assert!(
        result.get("videoErrors").as_arr().is_empty(),
        "<video> errors{context}"
    );
    let fatal: Vec<String> = result
        .get("errors")
        .as_arr()
        .iter()
        .filter(|e| e.get("fatal").as_bool() == Some(true))
        .map(|e| e.to_string())
        .collect();
    assert!(fatal.is_empty(), "hls.js fatal errors {fatal:?}{context}");
    assert!(
        report.get("ok").as_bool() == Some(true) && status.success(),
        "the page did not report {PLAY_SECONDS} s of playback: {}{context}",
        report.get("reason")
    );
    let start = result.get("startTime").as_f64().unwrap_or(0.0);
    let latencies: Vec<f64> = result
        .get("latencies")
        .as_arr()
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    Played {
        played: num("currentTime") - start,
        frames: num("totalVideoFrames") - num("droppedVideoFrames") - num("startFrames"),
        size: (num("videoWidth"), num("videoHeight")),
        latency_ms: (!latencies.is_empty())
            .then(|| latencies.iter().sum::<f64>() / latencies.len() as f64),
        report: json_line,
    }
}

#[test]
fn chromium_plays_hls_and_ll_hls_with_hls_js_cross_origin() {
    let _wd = watchdog("browser_hls", Duration::from_secs(170));
    let t0 = Instant::now();
    let files = BrowserFiles::locate();
    let clip = clip(&ClipSpec::standard().seconds(40));
    let server = LiuServer::start("");
    let name = stream_name("bhls");
    let _publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let statics = StaticServer::start(vec![
        (
            "/player_hls.html",
            files.player_hls.clone(),
            "text/html; charset=utf-8",
        ),
        (
            "/hls.js",
            files.hlsjs.clone(),
            "text/javascript; charset=utf-8",
        ),
    ]);
    assert_ne!(statics.addr, server.http_addr(), "another origin");
    let addr = server.http_addr().to_string();
    // Both forms are ready before the browser starts (the first playlist waits for a segment).
    wait_for_playlist(&addr, &server.hls_path(&name), Duration::from_secs(15));
    wait_for_playlist(
        &addr,
        &format!("/live/{name}/index.m3u8"),
        Duration::from_secs(15),
    );

    for (url, low_latency) in [
        (server.hls_url(&name), false),
        (format!("http://{addr}/live/{name}/index.m3u8"), true),
    ] {
        let p = play_in_chromium(&files, &statics, &url, low_latency);
        eprintln!(
            "{url}: {:.2} s played, {} frames presented, {}x{}, hls.js latency {:?} ms\n{}",
            p.played, p.frames, p.size.0, p.size.1, p.latency_ms, p.report
        );
        assert!(
            p.played >= PLAY_SECONDS - 0.1,
            "{url}: played {:.2} s",
            p.played
        );
        assert!(
            p.frames >= MIN_FRAMES,
            "{url}: only {} frames presented over {:.2} s",
            p.frames,
            p.played
        );
        assert_eq!(p.size, (640.0, 360.0), "{url}: <video> size");
        if low_latency {
            assert!(
                p.report.contains("\"partTarget\":0.334")
                    && p.report.contains("\"canBlockReload\":true"),
                "hls.js did not see LL-HLS parts: {}",
                p.report
            );
        }
    }
    let served = statics.served();
    assert!(
        served.iter().any(|p| p == "/hls.js"),
        "the static server did not serve hls.js: {served:?}"
    );
    eprintln!(
        "browser HLS test passed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
