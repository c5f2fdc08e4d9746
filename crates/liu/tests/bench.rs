//! `liu bench` against Liu: `liu bench publish` loops a generated clip with latency stamps,
//! `liu bench play -n 20` watches it over RTMP and over HTTP-FLV at the same time, and FFmpeg 9
//! decodes the stamped stream (the SEI stamps must not bother a decoder). Then the options of
//! the scale scenarios: several numbered streams at once (`--streams`) and an audio-only clip
//! (`clip --audio-only`, `play --audio-only`); and viewers over RTMPS, RTMPE and HTTPS-FLV, whose
//! stamps (read through TLS or RC4) prove they got the stream.
mod common;
use common::*;
use liu_bench::report::Report;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

/// Kills the child on drop (every `liu bench` child also ends by itself: all are bounded).
struct Guard(Option<Child>);

impl Guard {
    fn wait(mut self) -> Output {
        self.0
            .take()
            .unwrap()
            .wait_with_output()
            .expect("wait for liu bench")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn bench(args: &[&str]) -> Guard {
    let child = bench_command(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn liu bench");
    Guard(Some(child))
}

/// `liu bench publish --loop` of `file` to `url` for `seconds` of media.
fn publish_loop(url: &str, file: &str, seconds: &str, extra: &[&str]) -> Guard {
    let mut args = vec![
        "publish",
        "--url",
        url,
        "--file",
        file,
        "--loop",
        "--duration",
        seconds,
    ];
    args.extend_from_slice(extra);
    bench(&args)
}

fn play(url: &str) -> Guard {
    play_with(url, &["-n", "20"])
}

fn play_with(url: &str, extra: &[&str]) -> Guard {
    let mut args = vec![
        "play",
        "--url",
        url,
        "--rate",
        "50",
        "--duration",
        "6",
        "--progress",
        "0",
        "--json",
        "-",
    ];
    args.extend_from_slice(extra);
    bench(&args)
}

fn report(label: &str, out: Output) -> Report {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{label}: liu bench play failed ({}):\n{stderr}",
        out.status
    );
    eprintln!("{label}:\n{stderr}");
    Report::from_json(&stdout).unwrap_or_else(|e| panic!("{label}: bad JSON ({e}):\n{stdout}"))
}

fn check(label: &str, r: &Report) {
    check_n(label, r, 20);
}

fn check_n(label: &str, r: &Report, n: u32) {
    let c = &r.connections;
    assert_eq!((c.ok, c.failed), (n, 0), "{label}: {:?}", c.failures);
    let ttff = r.ttff_ms.p95.expect("TTFF measured");
    assert!(ttff < 1000.0, "{label}: TTFF p95 {ttff} ms");
    let latency = r.latency_ms.p50.expect("latency measured");
    assert!(
        r.media.stamped_frames > 0 && latency < 500.0,
        "{label}: latency p50 {latency} ms"
    );
    let ratio = r.media.ratio_min.expect("media ratio");
    assert!(
        ratio >= 0.8,
        "{label}: a viewer got only {ratio:.2} s of media per second"
    );
    assert!(r.throughput.bytes_total > 0);
}

#[test]
fn bench_publish_and_play_over_rtmp_and_http_flv() {
    let _serial = serial();
    let _wd = watchdog("bench", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard());
    let server = LiuServer::start("");
    let name = stream_name("bench");
    let url = server.rtmp_url(&name);

    let publisher = publish_loop(&url, clip.path_str(), "14", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let decoder = Viewer::ffmpeg(&ffmpeg9(), &url);
    let rtmp = play(&url);
    let http = play(&server.flv_url(&name));

    let rtmp = report("RTMP", rtmp.wait());
    let http = report("HTTP-FLV", http.wait());
    check("RTMP", &rtmp);
    check("HTTP-FLV", &http);
    assert_eq!(rtmp.protocol, "rtmp");
    assert_eq!(http.protocol, "http-flv");

    let d = decoder.finish(Duration::from_secs(3), Duration::from_secs(9));
    eprintln!("{}", d.summary());
    d.assert_h264_640x360_aac();
    d.assert_no_damage();
    let warnings: Vec<&String> = d
        .stderr
        .iter()
        .filter(|l| l.contains("[warning]") || l.contains("[error]"))
        .collect();
    assert!(
        warnings.is_empty(),
        "FFmpeg 9 warned about the stamped stream: {warnings:#?}"
    );
    assert!(d.video_frames() >= 100, "{}", d.summary());
    // Stamps change the bitstream, not the pictures: they decode bit-exact.
    let matched = d.matched_video(&clip);
    assert!(
        matched * 10 >= d.video_frames().min(clip.video_frames) * 9,
        "only {matched} pictures bit-exact: {}",
        d.summary()
    );

    let out = publisher.wait();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "publisher: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("stamped"), "{table}");
    server_alive(server);
}

#[test]
fn bench_plays_over_rtmps_rtmpe_and_https_flv() {
    let _serial = serial();
    let _wd = watchdog("bench_tls", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard());
    let dir = temp_dir("bench-tls");
    let (cert, key) = make_cert(&dir, "server", 2020, 2099);
    let server = LiuServer::start(&rtmps_config(&cert, &key));
    let name = stream_name("benchtls");
    let publisher = publish_loop(&server.rtmp_url(&name), clip.path_str(), "12", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let https = format!("https://{}/live/{name}.flv", server.https_addr());
    let runs = [
        (
            "rtmps",
            play_with(&server.url("rtmps", &name), &["-n", "10"]),
        ),
        (
            "rtmpe",
            play_with(&server.url("rtmpe", &name), &["-n", "10"]),
        ),
        ("https-flv", play_with(&https, &["-n", "10"])),
    ];
    for (kind, run) in runs {
        let r = report(kind, run.wait());
        check_n(kind, &r, 10);
        assert_eq!(r.protocol, kind);
    }
    let log = server.log_tail(300);
    assert!(
        log.lines()
            .any(|l| l.contains("rtmpe=true") && l.contains("playing")),
        "RTMPE viewers: {log}"
    );
    assert!(publisher.wait().status.success());
    server_alive(server);
}

/// `publish --streams 3` makes three streams, `play --streams 3` spreads six viewers over them
/// (RTMP and HTTP-FLV); a stream nobody publishes would fail its viewers.
#[test]
fn bench_several_streams() {
    let _serial = serial();
    let _wd = watchdog("bench streams", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard());
    let server = LiuServer::start("[http]\nflv_wait_ms = 1000\n");
    let name = stream_name("multi");
    let url = server.rtmp_url(&name);
    let publisher = publish_loop(&url, clip.path_str(), "10", &["--streams", "3"]);
    std::thread::sleep(Duration::from_millis(1500));
    let rtmp = play_with(&url, &["-n", "6", "--streams", "3"]);
    let http = play_with(&server.flv_url(&name), &["-n", "6", "--streams", "3"]);
    // Four streams asked of three published: the viewers of the fourth fail.
    let missing = play_with(&server.flv_url(&name), &["-n", "4", "--streams", "4"]);
    for (label, r) in [
        ("RTMP", report("RTMP, 3 streams", rtmp.wait())),
        ("HTTP-FLV", report("HTTP-FLV, 3 streams", http.wait())),
    ] {
        check_n(label, &r, 6);
        assert_eq!(r.streams, 3);
    }
    let out = missing.wait();
    let r = Report::from_json(&String::from_utf8_lossy(&out.stdout)).expect("JSON report");
    assert_eq!(
        (r.connections.ok, r.connections.failed),
        (3, 1),
        "{:?}",
        r.connections
    );
    let out = publisher.wait();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "publisher: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("streams    3"), "{table}");
    server_alive(server);
}

/// An audio-only clip (`liu bench clip --audio-only`) published and played with
/// `--audio-only`: the first audio frame is the first frame; without the option the viewers wait
/// for a keyframe that never comes and fail.
#[test]
fn bench_audio_only() {
    let _serial = serial();
    let _wd = watchdog("bench audio", Duration::from_secs(120));
    let dir = temp_dir("bench-audio");
    let file = dir.join("audio.flv");
    let file = file.to_str().unwrap();
    let out = bench(&["clip", "--audio-only", "--seconds", "8", "--out", file]).wait();
    assert!(
        out.status.success(),
        "clip: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = LiuServer::start("");
    let name = stream_name("audio");
    let url = server.rtmp_url(&name);
    let publisher = publish_loop(&url, file, "10", &[]);
    std::thread::sleep(Duration::from_millis(1000));
    let with = play_with(
        &server.flv_url(&name),
        &["-n", "5", "--audio-only", "--connect-timeout", "3"],
    );
    let without = play_with(&url, &["-n", "2", "--connect-timeout", "3"]);
    let r = report("HTTP-FLV audio-only", with.wait());
    let c = &r.connections;
    assert_eq!((c.ok, c.failed), (5, 0), "{:?}", c.failures);
    assert!(r.ttff_ms.p95.is_some_and(|t| t < 1000.0), "{:?}", r.ttff_ms);
    assert!(r.media.ratio_min.is_some_and(|x| x >= 0.8), "{:?}", r.media);
    assert_eq!(r.stalls.count, 0);
    let out = without.wait();
    let r = Report::from_json(&String::from_utf8_lossy(&out.stdout)).unwrap_or_else(|e| {
        panic!(
            "RTMP viewers without --audio-only: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // Both viewers played (the server sent them audio) and failed for the one reason an
    // audio-only stream gives a video viewer: no keyframe, not a refused or dropped connection.
    let reasons: Vec<(&str, u32)> = r
        .connections
        .failures
        .iter()
        .map(|f| (f.reason.as_str(), f.count))
        .collect();
    assert_eq!(
        (r.connections.ok, r.connections.failed, reasons),
        (0, 2, vec![("no_keyframe", 2)]),
        "RTMP viewers without --audio-only of an audio-only stream: {:?}",
        r.connections
    );
    assert!(publisher.wait().status.success());
    server_alive(server);
}

/// HLS viewers: on `STREAM.m3u8` they poll and fetch whole 1 s segments, on
/// `STREAM/index.m3u8` they fetch LL-HLS parts after blocking reloads, so their latency is a
/// fraction of the classic one; both find the stamps inside TS and fMP4.
#[test]
fn bench_plays_hls_and_ll_hls() {
    let _serial = serial();
    let _wd = watchdog("bench hls", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard().gop(25));
    let server = LiuServer::start("[hls]\ntarget_duration_ms = 1000\n");
    let name = stream_name("benchhls");
    let publisher = publish_loop(&server.rtmp_url(&name), clip.path_str(), "14", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let base = format!("http://{}/live/{name}", server.http_addr());
    let classic = play_with(&format!("{base}.m3u8"), &["-n", "10"]);
    let low = play_with(&format!("{base}/index.m3u8"), &["-n", "10"]);
    let classic = report("HLS", classic.wait());
    let low = report("LL-HLS", low.wait());
    for (label, r) in [("HLS", &classic), ("LL-HLS", &low)] {
        let c = &r.connections;
        assert_eq!((c.ok, c.failed), (10, 0), "{label}: {:?}", c.failures);
        assert_eq!(r.protocol, "hls");
        assert!(r.media.stamped_frames > 500, "{label}: {:?}", r.media);
        assert!(
            r.media.ratio_min.is_some_and(|x| x >= 0.8),
            "{label}: {:?}",
            r.media
        );
        assert!(
            r.ttff_ms.p95.is_some_and(|t| t < 3000.0),
            "{label}: {:?}",
            r.ttff_ms
        );
    }
    // Six seconds of 1 s segments: a few playlists and segments each; parts: many more.
    let per_viewer = |r: &Report| r.throughput.requests / 10;
    assert!(
        (6..=40).contains(&per_viewer(&classic)),
        "{:?}",
        classic.throughput
    );
    assert!(per_viewer(&low) >= 25, "{:?}", low.throughput);
    let (c, l) = (classic.latency_ms.p50.unwrap(), low.latency_ms.p50.unwrap());
    assert!(
        l < 1000.0 && l * 1.5 < c && c < 4000.0,
        "latency p50: LL-HLS {l} ms, HLS {c} ms"
    );
    assert!(publisher.wait().status.success());
    server_alive(server);
}

fn server_alive(mut server: LiuServer) {
    server.assert_alive("liu bench");
}
