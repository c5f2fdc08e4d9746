//! The RTMP family on one hub: FFmpeg 9 publishes over RTMPE, RTMPT, RTMPTE, RTMPS and RTMP, and
//! each stream plays over other members (FFmpeg 9's rtmpe/rtmpt/rtmpte/rtmps/rtmp, Debian's
//! FFmpeg 5.1 over rtmps, rtmpdump over rtmpe/rtmpt/rtmpte) and over HTTP-FLV and HTTPS-FLV, each
//! viewer decoding the clip. rtmpdump's log shows the RTMPE handshake type Liu answered.
//!
//! Also: bad RTMPE handshakes (a degenerate DH key, a truncated C1) end only their own
//! connection; RTMPE type 8 (XTEA-signed S2) with liu-rtmp's client; per-app transport rules.
//!
//! FFmpeg 9's rtmpts:// cannot connect to any server (it reuses its HTTPS connection with an
//! http:// URL and refuses itself: "Cannot reuse HTTP connection for different protocol https vs
//! http") and rtmpdump 2.4 crashes on RTMPTS with TLS 1.3, so RTMPTS is checked with their
//! rtmpt:// clients through a local TLS relay ([`TlsRelay`], verifying the test certificate):
//! the tunnel is theirs, Liu sees RTMPTS on its HTTPS listener.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// FFmpeg 9 verifies certificates by default; the test's own is self-signed.
const NO_VERIFY: [&str; 2] = ["-tls_verify", "0"];

/// A server with RTMPS and HTTPS on a test certificate, and a TLS relay to its HTTPS listener.
struct Family {
    server: LiuServer,
    relay: TlsRelay,
    _dir: std::path::PathBuf,
}

impl Family {
    fn start(prefix: &str, extra: &str) -> Family {
        let dir = temp_dir(prefix);
        let (cert, key) = make_cert(&dir, "server", 2020, 2099);
        let server = LiuServer::start(&format!("{}{extra}", rtmps_config(&cert, &key)));
        let relay = TlsRelay::start(server.https_addr(), &cert);
        Family {
            server,
            relay,
            _dir: dir,
        }
    }

    /// The server's URL for `scheme`; `rtmpts` is an `rtmpt://` URL of the TLS relay.
    fn url(&self, scheme: &str, name: &str) -> String {
        match scheme {
            "rtmpts" => format!("rtmpt://{}/live/{name}", self.relay.addr()),
            s => self.server.url(s, name),
        }
    }
}

/// A viewer of `scheme` (`rtmp`, `rtmpe`, `rtmps`, `rtmpt`, `rtmpte`, `rtmpts`, `flv`,
/// `https-flv`) with FFmpeg 9 unless `tool` says `ffmpeg5` or `rtmpdump`.
fn viewer(family: &Family, tool: &str, scheme: &str, name: &str) -> Viewer {
    let server = &family.server;
    match (tool, scheme) {
        ("rtmpdump", s) => Viewer::rtmpdump_with(&family.url(s, name), &["-V"]),
        ("ffmpeg5", "rtmps") => Viewer::ffmpeg(&ffmpeg5(), &server.url("rtmps", name)),
        (_, "flv") => Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(name)),
        (_, "https-flv") => Viewer::ffmpeg_with(
            &ffmpeg9(),
            &format!("https://{}/live/{name}.flv", server.https_addr()),
            &NO_VERIFY,
        ),
        (_, "rtmps") => Viewer::ffmpeg_with(&ffmpeg9(), &server.url("rtmps", name), &NO_VERIFY),
        (_, s) => Viewer::ffmpeg(&ffmpeg9(), &family.url(s, name)),
    }
}

/// FFmpeg 9 publishes the clip over `scheme`; every viewer in `plays` ((tool, scheme)) decodes
/// >= 95 % of it bit-exact with no damage. Returns the rtmpdump logs.
fn round(family: &Family, clip: &Clip, scheme: &str, plays: &[(&str, &str)]) -> Vec<String> {
    let name = stream_name(scheme);
    let viewers: Vec<(String, Viewer)> = plays
        .iter()
        .map(|(tool, s)| (format!("{tool} {s}"), viewer(family, tool, s, &name)))
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let extra: &[&str] = if scheme == "rtmps" { &NO_VERIFY } else { &[] };
    let mut publisher = Publisher::spawn(&family.url(scheme, &name), clip, extra);
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(
        st.success(),
        "publisher over {scheme}: {st}\n{}",
        publisher.stderr()
    );
    let mut logs = Vec::new();
    for (label, v) in viewers {
        eprintln!("published over {scheme}, played by {label}");
        let d = v.finish(Duration::from_secs(3), Duration::from_secs(60));
        d.assert_plays(clip);
        logs.push(d.feeder_log.join("\n"));
    }
    logs
}

#[test]
fn rtmpe_rtmpt_and_rtmpts_publishers_play_everywhere() {
    let _serial = serial();
    let _wd = watchdog("rtmp_family_a", Duration::from_secs(330));
    let clip = clip(&ClipSpec::standard());
    let family = Family::start("family-a", "");
    let logs = round(
        &family,
        &clip,
        "rtmpe",
        &[
            ("ffmpeg9", "rtmpe"),
            ("rtmpdump", "rtmpe"),
            ("ffmpeg9", "rtmpt"),
            ("ffmpeg9", "flv"),
        ],
    );
    let rtmpdump_log = &logs[1];
    assert!(
        rtmpdump_log.contains("Type Answer   : 06"),
        "rtmpdump logs the RTMPE type Liu answered: {rtmpdump_log}"
    );
    round(
        &family,
        &clip,
        "rtmpt",
        &[
            ("ffmpeg9", "rtmpte"),
            ("rtmpdump", "rtmpt"),
            ("ffmpeg9", "rtmps"),
            ("ffmpeg9", "rtmpts"),
        ],
    );
    round(
        &family,
        &clip,
        "rtmpts",
        &[
            ("ffmpeg9", "rtmpts"),
            ("rtmpdump", "rtmpts"),
            ("ffmpeg9", "rtmp"),
        ],
    );
    let log = family.server.log_tail(3000);
    for (protocol, rtmpe, action) in [
        ("protocol=\"rtmp\"", true, "publishing"),
        ("protocol=\"rtmpt\"", false, "publishing"),
        ("protocol=\"rtmpts\"", false, "publishing"),
        ("protocol=\"rtmpts\"", false, "playing"),
    ] {
        assert!(
            log.lines().any(|l| l.contains(protocol)
                && l.contains("rtmpe=true") == rtmpe
                && l.contains(action)),
            "{action} over {protocol} (RTMPE {rtmpe}) is logged: {log}"
        );
    }
}

#[test]
fn rtmpte_rtmps_and_rtmp_publishers_play_everywhere() {
    let _serial = serial();
    let _wd = watchdog("rtmp_family_b", Duration::from_secs(300));
    let clip = clip(&ClipSpec::standard());
    let family = Family::start("family-b", "");
    let logs = round(
        &family,
        &clip,
        "rtmpte",
        &[
            ("ffmpeg9", "rtmpe"),
            ("rtmpdump", "rtmpte"),
            ("ffmpeg5", "rtmps"),
            ("ffmpeg9", "https-flv"),
        ],
    );
    assert!(logs[1].contains("Type Answer   : 06"), "{}", logs[1]);
    round(
        &family,
        &clip,
        "rtmps",
        &[
            ("ffmpeg9", "rtmpt"),
            ("rtmpdump", "rtmpe"),
            ("ffmpeg9", "rtmpte"),
        ],
    );
    round(
        &family,
        &clip,
        "rtmp",
        &[("ffmpeg9", "rtmpe"), ("rtmpdump", "rtmpt")],
    );
}

/// An RTMPE C1 (digest scheme 1, as FFmpeg sends it) carrying `key` as its DH public key.
fn rtmpe_c1_with_key(key: &[u8; 128]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut c1: Vec<u8> = (0..1536u32).map(|i| (i * 7 + 3) as u8).collect();
    let sum = |m: &[u8], at: usize| m[at..at + 4].iter().map(|&b| b as usize).sum::<usize>();
    let kp = 8 + sum(&c1, 768) % 632;
    c1[kp..kp + 128].copy_from_slice(key);
    let dp = 776 + sum(&c1, 772) % 728;
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"Genuine Adobe Flash Player 001").unwrap();
    mac.update(&c1[..dp]);
    mac.update(&c1[dp + 32..]);
    let d = mac.finalize().into_bytes();
    c1[dp..dp + 32].copy_from_slice(&d);
    c1
}

/// Reads until the server closes (or `limit`); returns what came.
fn read_to_close(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, String> {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(got),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => return Err(format!("still open after {limit:?}")),
        }
    }
}

#[test]
fn bad_rtmpe_handshakes_end_only_their_connection_and_type_8_works() {
    let _serial = serial();
    let _wd = watchdog("rtmpe_bad", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let mut server = LiuServer::start("");
    let name = stream_name("rtmpebad");
    let watcher = Viewer::ffmpeg(&ffmpeg9(), &server.url("rtmpe", &name));
    std::thread::sleep(Duration::from_millis(800));
    let mut publisher = Publisher::spawn(&server.url("rtmpe", &name), &clip, &[]);
    std::thread::sleep(Duration::from_secs(2));

    // Degenerate public keys: 0, 1 and p - 1 (order 2).
    let mut p_minus_1 = rfc2409_prime();
    p_minus_1[127] = 0xFE;
    let mut one = [0u8; 128];
    one[127] = 1;
    for key in [[0u8; 128], one, p_minus_1] {
        let mut s = TcpStream::connect(server.rtmp_addr()).unwrap();
        let started = Instant::now();
        s.write_all(&[6]).unwrap();
        s.write_all(&rtmpe_c1_with_key(&key)).unwrap();
        let got = read_to_close(&mut s, Duration::from_secs(5)).unwrap();
        assert!(
            got.is_empty(),
            "no S0/S1 for a bad key ({} bytes)",
            got.len()
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    // A truncated C1, then the client goes.
    let mut s = TcpStream::connect(server.rtmp_addr()).unwrap();
    s.write_all(&[8]).unwrap();
    s.write_all(&rtmpe_c1_with_key(&[5; 128])[..700]).unwrap();
    drop(s);

    // RTMPE type 8: liu-rtmp's client checks the XTEA-transformed S2, then talks RC4.
    let mut s = TcpStream::connect(server.rtmp_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut hs = liu_rtmp::handshake::ClientHandshake::new_encrypted([3; 32], 0, 8);
    s.write_all(&hs.take_output().unwrap()).unwrap();
    let mut buf = vec![0u8; 1 + 2 * 1536];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(buf[0], 8, "S0 answers type 8");
    hs.receive(&buf).expect("S1 and the type-8 S2 verify");
    assert!(hs.is_done());
    let mut ciphers = hs.take_ciphers().unwrap();
    let mut out = hs.take_output().unwrap().to_vec();
    let connect = connect_command("live", "rtmpe://localhost/live");
    let mut chunks = message_chunks(3, 20, 0, connect.len() as u32, &connect, 128);
    ciphers.outgoing.apply(&mut chunks);
    out.extend(chunks);
    s.write_all(&out).unwrap();
    let mut answer = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while find(&answer, b"Connection succeeded.").is_none() {
        assert!(Instant::now() < deadline, "no connect answer over type 8");
        let mut b = [0u8; 4096];
        let n = s
            .read(&mut b)
            .unwrap_or_else(|e| panic!("{e}; got so far: {:?}", String::from_utf8_lossy(&answer)));
        assert!(n > 0, "closed");
        let mut b = b[..n].to_vec();
        ciphers.incoming.apply(&mut b);
        answer.extend(b);
    }
    drop(s);

    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {}", publisher.stderr());
    watcher
        .finish(Duration::from_secs(3), Duration::from_secs(60))
        .assert_plays(&clip);
    server.assert_alive("bad RTMPE handshakes");
    let log = server.log_tail(400);
    assert_eq!(
        log.matches("bad RTMPE Diffie-Hellman key").count(),
        3,
        "one line per bad key: {log}"
    );
}

/// RFC 2409 section 6.2, written out again for the test.
fn rfc2409_prime() -> [u8; 128] {
    const HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
                       020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
                       4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
                       EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF";
    std::array::from_fn(|i| u8::from_str_radix(&HEX[i * 2..i * 2 + 2], 16).unwrap())
}

#[test]
fn apps_can_require_transports() {
    let _wd = watchdog("rtmp_family_rules", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard());
    let family = Family::start(
        "family-rules",
        "[app.secure]\ntransports = [\"rtmps\", \"rtmpe\"]\n\
         [app.live]\npublish_transports = [\"rtmps\"]\n",
    );
    let server = &family.server;
    // Connecting to "secure" over plain RTMP: NetConnection.Connect.Rejected with a reason.
    let mut raw = RawRtmp::connect(server.rtmp_addr());
    raw.handshake().unwrap();
    let err = raw.connect_app("secure").unwrap_err();
    assert!(
        err.contains("NetConnection.Connect.Rejected")
            && err.contains("accepts connections over rtmps, rtmpe only, not rtmp"),
        "{err}"
    );
    raw.expect_closed(Duration::from_secs(5)).unwrap();

    // Publishing to "live" over RTMP is refused with a reason; over RTMPS it works, and the
    // stream plays over RTMPE (play is not restricted).
    let name = stream_name("rules");
    let mut refused = Publisher::spawn(&server.url("rtmp", &name), &clip, &[]);
    let st = refused.wait_with_timeout(Duration::from_secs(20));
    assert!(!st.success(), "publishing over rtmp must fail");
    let log = server.log_tail(200);
    assert!(
        log.contains(
            "publish refused: application 'live' accepts publishing over rtmps only, not rtmp"
        ),
        "{log}"
    );
    let v = Viewer::ffmpeg(&ffmpeg9(), &server.url("rtmpe", &name));
    std::thread::sleep(Duration::from_millis(800));
    let mut publisher = Publisher::spawn(&server.url("rtmps", &name), &clip, &NO_VERIFY);
    assert!(
        publisher
            .wait_with_timeout(Duration::from_secs(30))
            .success()
    );
    v.finish(Duration::from_secs(3), Duration::from_secs(30))
        .assert_plays(&clip);
}
