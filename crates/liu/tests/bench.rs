//! `liu bench` against Liu: `liu bench publish` loops a generated clip with latency stamps,
//! `liu bench play -n 20` watches it over RTMP and over HTTP-FLV at the same time, and FFmpeg 9
//! decodes the stamped stream (the SEI stamps must not bother a decoder).
mod common;
use common::*;
use liu_bench::report::Report;
use std::process::{Child, Command, Output, Stdio};
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

fn liu_bench(args: &[&str]) -> Guard {
    let child = Command::new(env!("CARGO_BIN_EXE_liu"))
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn liu bench");
    Guard(Some(child))
}

fn play(url: &str) -> Guard {
    liu_bench(&[
        "play",
        "--url",
        url,
        "-n",
        "20",
        "--rate",
        "50",
        "--duration",
        "6",
        "--progress",
        "0",
        "--json",
        "-",
    ])
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
    let c = &r.connections;
    assert_eq!((c.ok, c.failed), (20, 0), "{label}: {:?}", c.failures);
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
    let _wd = watchdog("bench", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard());
    let server = LiuServer::start("");
    let name = stream_name("bench");
    let url = server.rtmp_url(&name);

    let publisher = liu_bench(&[
        "publish",
        "--url",
        &url,
        "--file",
        clip.path_str(),
        "--loop",
        "--duration",
        "14",
    ]);
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

fn server_alive(mut server: LiuServer) {
    server.assert_alive("liu bench");
}
