//! `liu bench publish`: an FLV clip published over RTMP in real time (paced
//! by its timestamps against the wall clock, like `ffmpeg -re`), looping
//! with continuous timestamps, every H.264 frame stamped with the time it
//! was sent.

mod source;

use std::cell::RefCell;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use liu_rtmp::media::MediaKind;
use liu_rtmp::session::{ClientConfig, ClientEvent, ClientRole, ClientSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::info;

pub use source::{Clip, Tag};

use crate::error::BenchError;
use crate::stamp::set_time;
use crate::sys::unix_ms;
use crate::target::{Protocol, Security, Target};

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub url: String,
    pub file: PathBuf,
    /// Stop after this much media time; `None`: one pass, or forever with `looped`.
    pub duration: Option<Duration>,
    pub looped: bool,
    /// Publish to K numbered streams ([`Target::numbered`]) at once.
    pub streams: Option<u32>,
    pub setup_timeout: Duration,
}

/// What was sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishSummary {
    pub url: String,
    pub streams: u32,
    pub video_frames: u64,
    pub stamped_frames: u64,
    pub audio_frames: u64,
    pub payload_bytes: u64,
    pub loops: u64,
    pub media: Duration,
    pub wall: Duration,
    /// Most a frame was sent after its due time.
    pub max_late: Duration,
}

impl PublishSummary {
    /// Adds another stream's figures (counts add up, times take the longest).
    fn add(&mut self, other: &PublishSummary) {
        self.streams += other.streams;
        self.video_frames += other.video_frames;
        self.stamped_frames += other.stamped_frames;
        self.audio_frames += other.audio_frames;
        self.payload_bytes += other.payload_bytes;
        self.loops = self.loops.max(other.loops);
        self.media = self.media.max(other.media);
        self.wall = self.wall.max(other.wall);
        self.max_late = self.max_late.max(other.max_late);
    }

    pub fn write_table(&self, out: &mut dyn Write) -> io::Result<()> {
        let wall = self.wall.as_secs_f64();
        let mbps = if wall > 0.0 {
            self.payload_bytes as f64 * 8.0 / wall / 1e6
        } else {
            0.0
        };
        writeln!(out, "liu bench publish  {}", self.url)?;
        if self.streams > 1 {
            writeln!(
                out,
                "  streams    {} (STREAM-0 .. STREAM-{})",
                self.streams,
                self.streams - 1
            )?;
        }
        writeln!(
            out,
            "  sent       {} video frames ({} stamped), {} audio frames, {} full loops",
            self.video_frames, self.stamped_frames, self.audio_frames, self.loops
        )?;
        writeln!(
            out,
            "  media      {:.1} s in {:.1} s wall, {mbps:.2} Mbit/s of payload",
            self.media.as_secs_f64(),
            wall
        )?;
        writeln!(
            out,
            "  late       at most {:.1} ms behind schedule",
            self.max_late.as_secs_f64() * 1000.0
        )
    }
}

/// Loads the clip and publishes it, to one stream or to K numbered ones
/// at once (one task each, sharing the clip).
pub fn run(opts: &PublishOptions) -> Result<PublishSummary, BenchError> {
    let clip = Clip::load(&opts.file)?;
    let target = Target::parse(&opts.url)?;
    if target.protocol != Protocol::Rtmp || target.security != Security::None {
        return Err(BenchError::Url {
            url: opts.url.clone(),
            why: "publishing needs an rtmp:// URL",
        });
    }
    let targets = match opts.streams {
        None => vec![target],
        Some(0) => return Err(BenchError::Usage("need --streams >= 1".into())),
        Some(k) => (0..k).map(|i| target.numbered(i)).collect(),
    };
    let addr = targets[0].resolve()?;
    info!(
        frames = clip.frames.len(),
        stamped = clip.stamped,
        loop_ms = clip.loop_ms,
        streams = targets.len(),
        "loaded {}",
        opts.file.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("starting the runtime", e))?;
    let local = tokio::task::LocalSet::new();
    let clip = Rc::new(RefCell::new(clip));
    local.block_on(&runtime, async {
        let tasks: Vec<_> = targets
            .into_iter()
            .map(|t| tokio::task::spawn_local(publish_one(t, addr, clip.clone(), opts.clone())))
            .collect();
        let mut total = PublishSummary::default();
        let mut first_error = None;
        for task in tasks {
            match task.await {
                Ok(Ok(s)) => total.add(&s),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(BenchError::Usage(format!("publisher task: {e}")));
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        total.url = opts.url.clone();
        Ok(total)
    })
}

/// Publishes to one stream until done.
async fn publish_one(
    target: Target,
    addr: SocketAddr,
    clip: Rc<RefCell<Clip>>,
    opts: PublishOptions,
) -> Result<PublishSummary, BenchError> {
    let mut sock = tokio::time::timeout(opts.setup_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            BenchError::io(
                format!("connecting to {addr}"),
                io::ErrorKind::TimedOut.into(),
            )
        })?
        .map_err(|e| BenchError::io(format!("connecting to {addr}"), e))?;
    let _ = sock.set_nodelay(true);
    let mut p = Publisher::new(&target);
    tokio::time::timeout(opts.setup_timeout, p.setup(&mut sock))
        .await
        .map_err(|_| BenchError::Rejected("no NetStream.Publish.Start in time".into()))??;
    info!(app = %target.app, stream = %target.stream, "publishing");
    p.stream(&mut sock, &clip, &opts).await?;
    p.session.close();
    p.flush(&mut sock).await?;
    let _ = sock.shutdown().await;
    p.summary.streams = 1;
    Ok(p.summary)
}

struct Publisher {
    session: ClientSession,
    buf: Box<[u8]>,
    summary: PublishSummary,
}

impl Publisher {
    fn new(target: &Target) -> Self {
        let config = ClientConfig::new(&target.app, &target.tc_url);
        let mut seed = [0u8; 32];
        let _ = getrandom::fill(&mut seed);
        let role = ClientRole::Publish {
            name: target.stream.clone(),
        };
        Publisher {
            session: ClientSession::new(config, role, seed, 0),
            buf: vec![0u8; 64 * 1024].into_boxed_slice(),
            summary: PublishSummary::default(),
        }
    }

    async fn flush(&mut self, sock: &mut TcpStream) -> Result<(), BenchError> {
        while let Some(out) = self.session.take_output() {
            sock.write_all(&out)
                .await
                .map_err(|e| BenchError::io("sending to the server", e))?;
        }
        Ok(())
    }

    /// Reads once from the server; returns whether publishing has started.
    async fn receive(&mut self, sock: &mut TcpStream) -> Result<bool, BenchError> {
        let n = sock.read(&mut self.buf).await;
        self.received(n, sock).await
    }

    /// Handles the result of a read: answers the server, reports events.
    async fn received(
        &mut self,
        n: io::Result<usize>,
        sock: &mut TcpStream,
    ) -> Result<bool, BenchError> {
        let n = n.map_err(|e| BenchError::io("reading from the server", e))?;
        if n == 0 {
            return Err(BenchError::io(
                "reading from the server",
                io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        self.session.receive(&self.buf[..n])?;
        let mut started = false;
        while let Some(ev) = self.session.poll_event() {
            match ev {
                ClientEvent::Started { .. } => started = true,
                ClientEvent::Rejected { code, description } => {
                    return Err(BenchError::Rejected(format!("{code} {description}")));
                }
                _ => {}
            }
        }
        self.flush(sock).await?;
        Ok(started)
    }

    async fn setup(&mut self, sock: &mut TcpStream) -> Result<(), BenchError> {
        self.flush(sock).await?;
        while !self.receive(sock).await? {}
        Ok(())
    }

    /// Sends the headers, then the frames on schedule until done.
    async fn stream(
        &mut self,
        sock: &mut TcpStream,
        clip: &RefCell<Clip>,
        opts: &PublishOptions,
    ) -> Result<(), BenchError> {
        for h in &clip.borrow().headers {
            self.session.send_media(h.kind, 0, &h.body)?;
        }
        let (frames, loop_ms) = {
            let clip = clip.borrow();
            (clip.frames.len(), clip.loop_ms)
        };
        self.flush(sock).await?;
        let end_ms = opts.duration.map(|d| d.as_millis() as u64);
        let mut interrupt = std::pin::pin!(crate::sys::interrupted());
        let t0 = Instant::now();
        let (mut i, mut loop_base) = (0usize, 0u64);
        loop {
            let due_ms = loop_base + u64::from(clip.borrow().frames[i].ts);
            if end_ms.is_some_and(|e| due_ms >= e) {
                break;
            }
            let due = t0 + Duration::from_millis(due_ms);
            let now = Instant::now();
            if due > now {
                // Only the read is raced: it is the one step safe to cancel.
                let read = tokio::select! {
                    _ = tokio::time::sleep_until(due.into()) => None,
                    r = sock.read(&mut self.buf) => Some(r),
                    _ = &mut interrupt => break,
                };
                if let Some(n) = read {
                    self.received(n, sock).await?;
                }
                continue;
            }
            self.summary.max_late = self.summary.max_late.max(now - due);
            {
                // Stamped and copied into the session's output with no await
                // in between: the publishers sharing the clip take turns.
                let mut clip = clip.borrow_mut();
                let tag = &mut clip.frames[i];
                if let Some(at) = tag.stamp_at {
                    set_time(&mut tag.body, at, unix_ms());
                    self.summary.stamped_frames += 1;
                }
                self.session
                    .send_media(tag.kind, due_ms as u32, &tag.body)?;
                match tag.kind {
                    MediaKind::Video => self.summary.video_frames += 1,
                    MediaKind::Audio => self.summary.audio_frames += 1,
                    MediaKind::Data => {}
                }
                self.summary.payload_bytes += tag.body.len() as u64;
            }
            self.flush(sock).await?;
            self.summary.media = Duration::from_millis(due_ms);
            i += 1;
            if i == frames {
                if !opts.looped {
                    break;
                }
                i = 0;
                loop_base += loop_ms;
                self.summary.loops += 1;
            }
        }
        self.summary.wall = t0.elapsed();
        Ok(())
    }
}
