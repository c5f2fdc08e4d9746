//! One host cannot take every slot (`[limits]`). Clients bound to 127.0.0.2 flood the RTMP and
//! HTTP listeners and one on 127.0.0.4 the RTMPT sessions, past their per-host caps; the kernel's
//! socket table shows the server holds exactly the cap of each flood, and FFmpeg 9 on
//! 127.0.0.1 publishes and plays over RTMP and HTTP-FLV undisturbed meanwhile. New connections
//! per second per host are bounded too.
mod common;
use common::*;
use std::collections::HashSet;
use std::net::TcpStream;
use std::time::Duration;

const PER_HOST: usize = 20;
const FLOOD: usize = 100;

/// `n` connections from `source` to `addr`, each sending nothing; their client ports.
fn flood(source: &str, addr: &str, n: usize) -> (Vec<TcpStream>, HashSet<u16>) {
    let streams: Vec<TcpStream> = (0..n)
        .map(|_| connect_from(source, addr).expect("connect"))
        .collect();
    let ports = streams
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    (streams, ports)
}

/// How many of the connections from `ports` to `server_port` the server process holds.
fn held_by_server(server: &LiuServer, server_port: u16, ports: &HashSet<u16>) -> usize {
    let inodes = socket_inodes(server.pid());
    tcp_sockets()
        .iter()
        .filter(|s| {
            s.local_port == server_port
                && ports.contains(&s.remote_port)
                && s.state == 1
                && inodes.contains(&s.inode)
        })
        .count()
}

#[test]
fn one_host_cannot_take_every_slot() {
    let _serial = serial();
    let _wd = watchdog("host_limits", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let mut server = LiuServer::start(&format!(
        "[rtmp]\nmax_connections = 100\nhandshake_timeout_ms = 60000\n\
         [http]\nmax_connections = 100\nheader_timeout_ms = 60000\n\
         [limits]\nper_host_connections = {PER_HOST}\nper_host_rtmpt_sessions = 10\n\
         per_host_rate = 1000\ntrusted = []\n"
    ));
    let (rtmp, http) = (
        server.rtmp_addr().to_string(),
        server.http_addr().to_string(),
    );

    // 127.0.0.4 opens RTMPT sessions on one keep-alive connection: 10 are its share.
    let mut tunnel = RawHttp::over(connect_from("127.0.0.4", &http).expect("connect"));
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(tunnel.post("/open/1", &[0]).expect("open").0);
    }
    let opened = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (opened, refused),
        (10, 20),
        "RTMPT opens from one address: {statuses:?}"
    );

    // 127.0.0.2 floods RTMP and HTTP.
    let (_rtmp_flood, rtmp_ports) = flood("127.0.0.2", &rtmp, FLOOD);
    let (_http_flood, http_ports) = flood("127.0.0.2", &http, FLOOD);
    // The server accepts the flood's connections as fast as it can; wait for it to settle.
    let count = || {
        (
            held_by_server(&server, port_of(&rtmp), &rtmp_ports),
            held_by_server(&server, port_of(&http), &http_ports),
        )
    };
    let settle = std::time::Instant::now() + Duration::from_secs(5);
    while count() != (PER_HOST, PER_HOST) && std::time::Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let held = count();
    assert_eq!(
        held,
        (PER_HOST, PER_HOST),
        "connections of the flooding host the server holds (RTMP, HTTP)"
    );

    // Meanwhile another host publishes and plays.
    let name = stream_name("undisturbed");
    let url = server.rtmp_url(&name);
    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &url),
        Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name)),
    ];
    std::thread::sleep(Duration::from_millis(500));
    let mut publisher = Publisher::spawn(&url, &clip, &[]);
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {}", publisher.stderr());
    for v in viewers {
        v.finish(Duration::from_secs(3), Duration::from_secs(60))
            .assert_plays(&clip);
    }
    // The flood is still held at its cap, no more.
    assert_eq!(
        held_by_server(&server, port_of(&rtmp), &rtmp_ports),
        PER_HOST
    );
    server.assert_alive("a flood from one host");
}

#[test]
fn new_connections_per_second_are_bounded_per_host() {
    let _serial = serial();
    let _wd = watchdog("host_limits_rate", Duration::from_secs(60));
    let server = LiuServer::start("[limits]\nper_host_rate = 20\ntrusted = []\n");
    let http = server.http_addr().to_string();
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..100 {
        let c = connect_from("127.0.0.5", &http).expect("connect");
        match get_root(c).as_str() {
            "" => refused += 1,
            s if s.starts_with("HTTP/1.1 200") => answered += 1,
            other => panic!("answer {other:?}"),
        }
    }
    eprintln!("{answered} answered, {refused} refused");
    // A burst of 20, plus what the allowance refilled while the loop ran (20 per second).
    assert!(
        (20..100).contains(&answered) && refused > 0,
        "{answered} of 100 quick connections from one address answered"
    );
    // Another address is not affected.
    let other = get_root(connect_from("127.0.0.6", &http).expect("connect"));
    assert!(other.starts_with("HTTP/1.1 200"), "{other:?}");
}

/// `GET /` on `c`: what came back before the server closed (empty when it closed at once).
fn get_root(mut c: TcpStream) -> String {
    use std::io::{Read, Write};
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}
