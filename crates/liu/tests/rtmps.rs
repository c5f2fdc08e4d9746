//! RTMPS (RTMP over TLS) with a certificate the test makes (rcgen): FFmpeg 9 (OpenSSL,
//! `-tls_verify 0`) and Debian's FFmpeg 5.1 (GnuTLS) publish and play; a stream pushed over one
//! transport plays over the others and over HTTP-FLV; a client speaking the wrong protocol on
//! either port fails quickly; changed certificate files are served without a restart (seen by a
//! TLS client that trusts only the new certificate), so are files reloaded on SIGHUP; certificate
//! problems stop the server at startup with one line.
mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// FFmpeg 9 verifies certificates by default; the test's own is self-signed.
const NO_VERIFY: [&str; 2] = ["-tls_verify", "0"];

fn assert_plays(v: Viewer, clip: &Clip) {
    v.finish(Duration::from_secs(3), Duration::from_secs(60))
        .assert_plays(clip);
}

#[test]
fn rtmps_publish_plays_over_rtmps_rtmp_and_http_flv() {
    let _serial = serial();
    let _wd = watchdog("rtmps_publish", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let dir = temp_dir("rtmps");
    let (cert, key) = make_cert(&dir, "server", 2020, 2099);
    let server = LiuServer::start(&rtmps_config(&cert, &key));
    let name = stream_name("rtmps");
    let viewers = vec![
        Viewer::ffmpeg_with(&ffmpeg9(), &server.rtmps_url(&name), &NO_VERIFY),
        Viewer::ffmpeg(&ffmpeg5(), &server.rtmps_url(&name)),
        Viewer::ffmpeg(&ffmpeg9(), &server.rtmp_url(&name)),
        Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name)),
    ];
    std::thread::sleep(Duration::from_millis(700));
    let mut publisher = Publisher::spawn(&server.rtmps_url(&name), &clip, &NO_VERIFY);
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {st}\n{}", publisher.stderr());
    for v in viewers {
        assert_plays(v, &clip);
    }
    let log = server.log_tail(400);
    assert!(
        log.lines()
            .any(|l| l.contains("\"rtmps\"") && l.contains("publishing")),
        "the publish is logged as RTMPS: {log}"
    );
}

#[test]
fn rtmp_publish_plays_over_rtmps_and_wrong_protocols_fail_fast() {
    let _serial = serial();
    let _wd = watchdog("rtmps_play", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let dir = temp_dir("rtmps-play");
    let (cert, key) = make_cert(&dir, "server", 2020, 2099);
    // rtmps_config ends in [rtmps].
    let mut server = LiuServer::start(&format!(
        "{}watch_interval_ms = 300\n",
        rtmps_config(&cert, &key)
    ));
    let name = stream_name("rtmpsplay");

    // Plain RTMP on the TLS port, TLS on the plain port: both fail at once.
    for (label, url, args) in [
        (
            "plain RTMP to the RTMPS port",
            format!("rtmp://{}/live/{name}", server.rtmps_addr()),
            &[][..],
        ),
        (
            "RTMPS to the plain port",
            format!("rtmps://{}/live/{name}", server.rtmp_addr()),
            &NO_VERIFY[..],
        ),
    ] {
        let started = Instant::now();
        let d = Viewer::ffmpeg_with(&ffmpeg9(), &url, args)
            .finish(Duration::from_secs(10), Duration::from_secs(10));
        assert!(
            !d.stopped_by_harness && d.video_frames() == 0,
            "{label}: {}",
            d.summary()
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{label} took {:?} to fail",
            started.elapsed()
        );
    }
    let log = server.log_tail(200);
    assert!(log.contains("RTMPS: TLS handshake failed"), "{log}");
    assert!(log.contains("unsupported RTMP version 0x16"), "{log}");
    server.assert_alive("clients speaking the wrong protocol");

    // New files: the server sees the change and serves them (RTMPS and HTTPS).
    let old_cert = dir.join("old.crt");
    std::fs::copy(dir.join("server.crt"), &old_cert).unwrap();
    let (cert, _, fingerprint) = make_cert_with_fingerprint(&dir, "server", 2020, 2099);
    wait_for_log(
        &server,
        &format!("reloaded (SHA-256 {fingerprint}), the files changed"),
    );
    for addr in [server.rtmps_addr(), server.https_addr()] {
        tls_handshake(addr, &cert).unwrap_or_else(|e| panic!("new certificate on {addr}: {e}"));
        assert!(
            tls_handshake(addr, &old_cert).is_err(),
            "old certificate on {addr}"
        );
    }
    // New files and SIGHUP: the server loads them (the viewers below connect after).
    let (cert, _, fingerprint) = make_cert_with_fingerprint(&dir, "server", 2020, 2099);
    let hup = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for_log(
        &server,
        &format!("reloaded (SHA-256 {fingerprint}), on SIGHUP"),
    );
    tls_handshake(server.rtmps_addr(), &cert).unwrap();

    let viewers = vec![
        Viewer::ffmpeg_with(&ffmpeg9(), &server.rtmps_url(&name), &NO_VERIFY),
        Viewer::ffmpeg(&ffmpeg5(), &server.rtmps_url(&name)),
    ];
    std::thread::sleep(Duration::from_millis(700));
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {st}\n{}", publisher.stderr());
    for v in viewers {
        assert_plays(v, &clip);
    }
}

/// Waits up to 10 s for a line containing `what` in the server's log.
fn wait_for_log(server: &LiuServer, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log_tail(100).contains(what) {
        assert!(
            Instant::now() < deadline,
            "no {what:?} in the log: {}",
            server.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_startup_error(config: &str, expect: &str) {
    assert_one_line_startup_error("127.0.0.1:0", config, expect);
}

#[test]
fn rtmps_certificate_problems_stop_the_server_at_startup() {
    let _serial = serial();
    let _wd = watchdog("rtmps_startup", Duration::from_secs(60));
    let dir = temp_dir("rtmps-certs");
    let (cert, key) = make_cert(&dir, "good", 2020, 2099);
    let (_, other_key) = make_cert(&dir, "other", 2020, 2099);
    let (old_cert, old_key) = make_cert(&dir, "old", 2000, 2001);
    assert_startup_error(
        &rtmps_config(&dir.join("missing.crt"), &key),
        "missing.crt: No such file",
    );
    assert_startup_error(
        &rtmps_config(&cert, &other_key),
        "does not match the certificate",
    );
    assert_startup_error(&rtmps_config(&old_cert, &old_key), "expired on 2001-01-01");
    assert_startup_error(&rtmps_config(&key, &key), "no CERTIFICATE");
    assert_startup_error(
        &format!("[rtmps]\ncert = {:?}\n", cert.to_str().unwrap()),
        "needs both cert and key",
    );
}
