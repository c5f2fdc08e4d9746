//! Hostile clients for soaks: each kind does one thing a careless or malicious client does
//! (connects and sends nothing, plays a stream nobody publishes, opens an RTMPT session and
//! leaves it, sends garbage) and then waits for the server to close it, within the time bound
//! the server's default configuration sets for that state.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::rtmp::{RawRtmp, XorShift};

/// Slack on every time bound of the server (loaded machine, sampling).
pub const SLACK: Duration = Duration::from_secs(8);

/// One hostile client: what it does, and the most time the server may let it live.
#[derive(Clone, Copy, Debug)]
pub enum Hostile {
    /// TCP connect to RTMP, nothing sent: `handshake_timeout_ms`.
    IdleRtmp,
    /// connect, createStream, play of a stream nobody publishes: `play_wait_ms`.
    GhostPlayer,
    /// `POST /open/1` for an RTMPT session, then nothing on that connection: `header_timeout_ms`.
    RtmptOpen,
    /// A C0 of no RTMP version and random bytes: `handshake_timeout_ms` at most.
    GarbageRtmp,
    /// Random bytes as a request head: `header_timeout_ms` at most.
    GarbageHttp,
    /// TCP connect to HTTP, nothing sent: `header_timeout_ms`.
    IdleHttp,
}

impl Hostile {
    pub const ALL: [Hostile; 6] = [
        Hostile::IdleRtmp,
        Hostile::GhostPlayer,
        Hostile::RtmptOpen,
        Hostile::GarbageRtmp,
        Hostile::GarbageHttp,
        Hostile::IdleHttp,
    ];

    pub fn bound(self) -> Duration {
        match self {
            Hostile::IdleRtmp | Hostile::RtmptOpen | Hostile::IdleHttp => Duration::from_secs(10),
            Hostile::GhostPlayer => Duration::from_secs(5),
            // bytes that are no handshake or no request head may still be the start of one:
            // at most the handshake or header timeout
            Hostile::GarbageRtmp | Hostile::GarbageHttp => Duration::from_secs(10),
        }
    }

    /// Runs the client until the server closes it: Ok(its life), or Err.
    pub fn run(self, rtmp: &str, http: &str, seed: u64) -> Result<Duration, String> {
        let started = Instant::now();
        let limit = self.bound() + SLACK;
        let mut garbage = XorShift::new(seed).bytes(1537);
        if let Hostile::GhostPlayer = self {
            let mut p = RawRtmp::try_connect(rtmp)?;
            p.handshake()?;
            p.connect_app("live")?;
            let id = p.create_stream()?;
            p.play(id, &format!("ghost-{seed}"))?;
            p.expect_closed(limit)?;
            return Ok(started.elapsed());
        }
        let addr = match self {
            Hostile::IdleRtmp | Hostile::GarbageRtmp => rtmp,
            _ => http,
        };
        let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        match self {
            Hostile::GarbageRtmp => {
                garbage[0] = 0x42;
                let _ = s.write_all(&garbage);
            }
            Hostile::GarbageHttp => {
                garbage[0] = b'Z';
                let _ = s.write_all(&garbage);
            }
            Hostile::RtmptOpen => {
                s.write_all(b"POST /open/1 HTTP/1.1\r\nHost: soak\r\nContent-Type: application/x-fcs\r\nContent-Length: 1\r\n\r\n\0")
                    .map_err(|e| format!("write: {e}"))?;
            }
            _ => {}
        }
        let deadline = started + limit;
        let mut buf = [0u8; 4096];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("still open after {limit:?}"));
            }
            s.set_read_timeout(Some(deadline - now)).unwrap();
            match s.read(&mut buf) {
                Ok(0) => return Ok(started.elapsed()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Ok(started.elapsed()),
            }
        }
    }
}

#[derive(Default)]
pub struct HostileLog {
    pub opened: u64,
    pub closed: u64,
    /// The longest life per kind.
    pub longest: [Duration; 6],
    pub failures: Vec<String>,
}

/// Starts one hostile client every `every`, each kind in turn, until `stop`; then waits for
/// them all to end.
pub fn hostile_trickle(
    rtmp: String,
    http: String,
    every: Duration,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<HostileLog>>,
) {
    let mut handles = Vec::new();
    let mut i = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let kind = Hostile::ALL[(i % 6) as usize];
        let (rtmp, http, log) = (rtmp.clone(), http.clone(), log.clone());
        log.lock().unwrap().opened += 1;
        handles.push(thread::spawn(move || {
            let r = kind.run(&rtmp, &http, i);
            let mut l = log.lock().unwrap();
            match r {
                Ok(life) => {
                    l.closed += 1;
                    let k = &mut l.longest[(i % 6) as usize];
                    *k = (*k).max(life);
                }
                Err(e) => l.failures.push(format!("{kind:?} #{i}: {e}")),
            }
        }));
        handles.retain(|h| !h.is_finished());
        i += 1;
        thread::sleep(every);
    }
    for h in handles {
        let _ = h.join();
    }
}
