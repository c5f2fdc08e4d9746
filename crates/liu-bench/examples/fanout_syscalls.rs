//! Does io_uring cut the CPU cost of fanning one live stream out to many TCP
//! viewers, compared with one `writev` system call per message per viewer?
//!
//! The program plays a deterministic schedule that looks like a 2.66 Mbit/s
//! live stream (25 video frames/s averaging 12.5 kB with a 60 kB keyframe every
//! 2 s, and ~43 AAC frames/s of ~370 B, interleaved by timestamp) in real time
//! to `--viewers` TCP connections on 127.0.0.1. Every message is written as
//! two slices, an FLV tag header (13 or 16 bytes) and a payload taken from one
//! shared buffer, the way a server writes one shared tag to every viewer.
//!
//! The viewers live in a child process (this same executable, re-run with
//! `--receiver`) pinned to its own core, reading and discarding with epoll.
//! The sender, the measured process, is pinned to another core. Its CPU time
//! (`getrusage(RUSAGE_SELF)`, which sums all threads of the process,
//! including io_uring's `iou-sqp-*` and `iou-wrk-*` threads) is divided by the
//! bytes the kernel accepted, giving µs of CPU per delivered MB (10^6 bytes).
//!
//! Modes (each runs `--seconds` per round; rounds repeat the mode list in the
//! same order, A B C A B C ..., so the ratios compare like with like):
//!
//! - `writev`: one `writev` per viewer per message.
//! - `uring`: one `IORING_OP_WRITEV` SQE per viewer, then one
//!   `io_uring_enter` submitting them all and waiting for all completions.
//! - `uring-batch`: as `uring`, but the enter only submits; completions are
//!   reaped from the ring at the next message.
//! - `uring-tuned`: as `uring` with registered (fixed) files, a registered
//!   ring fd and `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN`.
//! - `uring-sendmsg`: as `uring` with `IORING_OP_SENDMSG` instead of WRITEV.
//! - `uring-sqpoll`: as `uring-batch` with `IORING_SETUP_SQPOLL`; the kernel
//!   thread is pinned to the sender's core and its CPU is counted.
//!
//! Every viewer has a queue of messages not yet fully written. Each message
//! makes at most one write attempt per viewer (of up to four queued messages);
//! a short write or `EAGAIN` leaves the rest queued for the next message.
//! Those events are counted, as are messages dropped because a queue is full.
//! An io_uring write to a full socket does not fail with `EAGAIN` even though
//! the socket is `O_NONBLOCK`: the kernel arms a poll and completes it later.
//! Such a viewer keeps one request in flight, and each message that finds it
//! so is counted as `late` (the message waits in the queue).
//!
//! `--stall S` (with small `--sndbuf`/`--receiver-rcvbuf`) stops the receiver
//! for S seconds in each segment to exercise that backpressure path. With
//! SQPOLL, note that the kernel rounds `--sqpoll-idle-ms` up to whole jiffies
//! (4 ms at HZ=250), during which the polling thread spins.
//!
//! Columns: `MB` delivered (10^6 bytes), `deliv%` of what the schedule asked,
//! user/system CPU seconds, `cpu%` of one core, `µs/MB` CPU per delivered MB,
//! `ns/wr` CPU per write request, write requests and fan-out system calls
//! (writev or io_uring_enter; sleeps not counted) per second, `eagain`,
//! `short` writes, `late`, `backlg` (writes issued with more than one message
//! queued), `drop`ped messages, `err` (failed writes plus io_uring_enter calls
//! that timed out or were interrupted), context switches per second and the
//! receiver's CPU as a percentage of a core.
//!
//! Usage:
//!
//! ```text
//! cargo run --release -p liu-bench --example fanout_syscalls -- \
//!     --viewers 1000 --seconds 10 --rounds 2 --modes writev,uring,uring-batch
//! ```

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use io_uring::{CompletionQueue, IoUring, SubmissionQueue, Submitter, opcode, squeue, types};

#[derive(Parser, Debug)]
#[command(about = "CPU cost of fanning a live stream out to many TCP viewers: writev vs io_uring")]
struct Args {
    /// Number of viewer connections.
    #[arg(long, default_value_t = 1000)]
    viewers: usize,
    /// Seconds each mode runs per round.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Rounds; each round runs every mode once, in the order given.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Modes to compare, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [Mode::Writev, Mode::Uring, Mode::UringBatch, Mode::UringTuned, Mode::UringSendmsg, Mode::UringSqpoll]
    )]
    modes: Vec<Mode>,
    /// Seconds of unreported `writev` fan-out before the first round, so TCP
    /// windows and caches are warm when measuring starts.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Core the sender (and an SQPOLL thread) is pinned to.
    #[arg(long, default_value_t = 0)]
    sender_cpu: usize,
    /// Core the receiver process is pinned to.
    #[arg(long, default_value_t = 1)]
    receiver_cpu: usize,
    /// SQPOLL thread idle time before it sleeps, in milliseconds.
    #[arg(long, default_value_t = 1)]
    sqpoll_idle_ms: u32,
    /// SO_RCVBUF of the receiver's sockets in bytes (0: kernel autotuning).
    /// Small buffers (with `--sndbuf`) make `--stall` fill sockets quickly.
    #[arg(long, default_value_t = 0)]
    receiver_rcvbuf: usize,
    /// SO_SNDBUF of the sender's sockets in bytes (0: kernel autotuning).
    #[arg(long, default_value_t = 0)]
    sndbuf: usize,
    /// Backpressure test: stop the receiver (SIGSTOP to our child) this many
    /// seconds, from 2 s into each segment, so writes meet full sockets.
    #[arg(long, default_value_t = 0.0)]
    stall: f64,
    /// Internal: run as the receiver, connecting to this port.
    #[arg(long, hide = true)]
    receiver: Option<u16>,
    /// Internal: the receiver's time limit in seconds.
    #[arg(long, hide = true, default_value_t = 600)]
    receiver_limit: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Writev,
    Uring,
    UringBatch,
    UringTuned,
    UringSendmsg,
    UringSqpoll,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Writev => "writev",
            Mode::Uring => "uring",
            Mode::UringBatch => "uring-batch",
            Mode::UringTuned => "uring-tuned",
            Mode::UringSendmsg => "uring-sendmsg",
            Mode::UringSqpoll => "uring-sqpoll",
        }
    }

    /// How the ring is set up and driven; `None` for plain `writev`.
    fn uring_config(self) -> Option<UringConfig> {
        let base = UringConfig {
            sendmsg: false,
            fixed_files: false,
            register_ring: false,
            defer_taskrun: false,
            wait: true,
            sqpoll: false,
        };
        match self {
            Mode::Writev => None,
            Mode::Uring => Some(base),
            Mode::UringBatch => Some(UringConfig {
                wait: false,
                ..base
            }),
            Mode::UringTuned => Some(UringConfig {
                fixed_files: true,
                register_ring: true,
                defer_taskrun: true,
                ..base
            }),
            Mode::UringSendmsg => Some(UringConfig {
                sendmsg: true,
                ..base
            }),
            Mode::UringSqpoll => Some(UringConfig {
                wait: false,
                sqpoll: true,
                ..base
            }),
        }
    }
}

fn main() {
    let args = Args::parse();
    let result = match args.receiver {
        Some(port) => receiver(
            port,
            args.viewers,
            args.receiver_cpu,
            args.receiver_rcvbuf,
            Duration::from_secs(args.receiver_limit),
        ),
        None => sender(&args),
    };
    if let Err(e) = result {
        eprintln!("fanout_syscalls: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// The stream: a deterministic message schedule
// ---------------------------------------------------------------------------

const VIDEO_FPS: u64 = 25;
const KEYFRAME_INTERVAL: u64 = 50; // frames: one keyframe every 2 s
const KEYFRAME_BYTES: usize = 60_000;
const VIDEO_MEAN_BYTES: usize = 12_500; // mean over all frames, keyframes included
const AUDIO_SAMPLE_RATE: u64 = 44_100;
const AUDIO_SAMPLES_PER_FRAME: u64 = 1024;
const AUDIO_BYTES: usize = 370;
const MAX_PAYLOAD: usize = 64 * 1024;

/// One message of the stream: an FLV tag header (with the codec header bytes)
/// plus `payload_len` bytes of the shared payload buffer.
struct Msg {
    /// When the message is due, from the start of the segment.
    due: Duration,
    header: [u8; 16],
    header_len: u8,
    payload_len: u32,
}

impl Msg {
    fn header(&self) -> &[u8] {
        &self.header[..self.header_len as usize]
    }

    fn len(&self) -> usize {
        self.header_len as usize + self.payload_len as usize
    }

    fn new(due: Duration, tag_type: u8, codec_header: &[u8], payload_len: usize) -> Msg {
        let data_size = (codec_header.len() + payload_len) as u32;
        let ts = due.as_millis() as u32;
        let mut header = [0u8; 16];
        header[0] = tag_type;
        header[1..4].copy_from_slice(&data_size.to_be_bytes()[1..]);
        header[4..7].copy_from_slice(&ts.to_be_bytes()[1..]);
        header[7] = (ts >> 24) as u8;
        // header[8..11]: stream id 0
        header[11..11 + codec_header.len()].copy_from_slice(codec_header);
        Msg {
            due,
            header,
            header_len: (11 + codec_header.len()) as u8,
            payload_len: payload_len as u32,
        }
    }
}

/// A small deterministic generator (xorshift64*), uniform in [0, 1).
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The messages of `duration` of stream, in timestamp order. Inter frames vary
/// ±30% around the size that makes the video mean 12.5 kB per frame.
fn schedule(duration: Duration) -> Vec<Msg> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let inter_mean = (VIDEO_MEAN_BYTES * KEYFRAME_INTERVAL as usize - KEYFRAME_BYTES) as f64
        / (KEYFRAME_INTERVAL - 1) as f64;
    let mut msgs = Vec::new();
    for k in 0.. {
        let due = Duration::from_micros(k * 1_000_000 / VIDEO_FPS);
        if due >= duration {
            break;
        }
        let key = k % KEYFRAME_INTERVAL == 0;
        let size = if key {
            KEYFRAME_BYTES
        } else {
            (inter_mean * (0.7 + 0.6 * rng.unit())) as usize
        };
        let codec = [if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        msgs.push(Msg::new(due, 9, &codec, size.min(MAX_PAYLOAD)));
    }
    for j in 0.. {
        let due =
            Duration::from_micros(j * AUDIO_SAMPLES_PER_FRAME * 1_000_000 / AUDIO_SAMPLE_RATE);
        if due >= duration {
            break;
        }
        let size = AUDIO_BYTES - 20 + (rng.unit() * 40.0) as usize;
        msgs.push(Msg::new(due, 8, &[0xaf, 1], size));
    }
    msgs.sort_by_key(|m| m.due); // stable: video first on equal timestamps
    msgs
}

// ---------------------------------------------------------------------------
// Viewers as seen by the sender
// ---------------------------------------------------------------------------

/// At most this many queued messages go into one write.
const MAX_MSGS_PER_WRITE: usize = 4;
const MAX_IOV: usize = 2 * MAX_MSGS_PER_WRITE;
/// A viewer with this many messages unwritten drops new ones.
const MAX_QUEUE: usize = 512;

/// A queued message and how much of it was already written.
#[derive(Clone, Copy)]
struct Pending {
    msg: u32,
    offset: u32,
}

/// One viewer connection. `iov` and `msg` are what a writev/sendmsg (or an
/// io_uring request) reads; they live in the `conns` vector, which is built
/// once and never resized or moved while requests are in flight.
struct Conn {
    stream: TcpStream,
    queue: VecDeque<Pending>,
    iov: [libc::iovec; MAX_IOV],
    msg: libc::msghdr,
    /// Bytes asked of the io_uring request in flight, if any.
    in_flight: Option<usize>,
    dead: bool,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Conn {
            stream,
            queue: VecDeque::with_capacity(MAX_QUEUE),
            iov: [empty; MAX_IOV],
            // SAFETY: msghdr is plain data; all-zero is a valid empty header
            // (null name, iov and control pointers with zero lengths).
            msg: unsafe { mem::zeroed() },
            in_flight: None,
            dead: false,
        }
    }

    fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Queues message `m`, unless the queue is full (then it is dropped).
    fn enqueue(&mut self, m: u32, st: &mut Stats) {
        if self.queue.len() >= MAX_QUEUE {
            st.dropped += 1;
        } else {
            self.queue.push_back(Pending { msg: m, offset: 0 });
        }
        st.max_queue = st.max_queue.max(self.queue.len());
    }

    /// Points `iov` (and `msg`) at the unwritten bytes of the first queued
    /// messages. Returns the iovec count and the byte count.
    fn fill_iov(&mut self, msgs: &'static [Msg], payload: &'static [u8]) -> (usize, usize) {
        let mut count = 0;
        let mut total = 0;
        for p in self.queue.iter().take(MAX_MSGS_PER_WRITE) {
            let msg = &msgs[p.msg as usize];
            let mut skip = p.offset as usize;
            for part in [msg.header(), &payload[..msg.payload_len as usize]] {
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                let rest = &part[skip..];
                skip = 0;
                self.iov[count] = libc::iovec {
                    iov_base: rest.as_ptr() as *mut libc::c_void,
                    iov_len: rest.len(),
                };
                count += 1;
                total += rest.len();
            }
        }
        self.msg.msg_iov = self.iov.as_mut_ptr();
        self.msg.msg_iovlen = count as _;
        (count, total)
    }

    /// Accounts for a write of `attempted` bytes that returned `res` (bytes,
    /// or a negative errno).
    fn complete(&mut self, res: isize, attempted: usize, msgs: &[Msg], st: &mut Stats) {
        if res >= 0 {
            let mut n = res as usize;
            st.bytes += n as u64;
            if n < attempted {
                st.short += 1;
            }
            while n > 0 {
                let Some(front) = self.queue.front_mut() else {
                    break;
                };
                let left = msgs[front.msg as usize].len() - front.offset as usize;
                if n >= left {
                    n -= left;
                    self.queue.pop_front();
                } else {
                    front.offset += n as u32;
                    n = 0;
                }
            }
        } else if res == -(libc::EAGAIN as isize) || res == -(libc::EINTR as isize) {
            st.eagain += 1;
        } else {
            st.errors += 1;
            self.dead = true;
            self.queue.clear();
        }
    }
}

// ---------------------------------------------------------------------------
// Per-segment statistics
// ---------------------------------------------------------------------------

#[derive(Default, Clone)]
struct Stats {
    msgs: u64,
    /// Bytes the kernel accepted (sum of completed writes).
    bytes: u64,
    /// Bytes the schedule asked for: messages × live viewers.
    expected: u64,
    /// Write requests (writev calls or SQEs).
    writes: u64,
    /// writev or io_uring_enter calls made for the fan-out (sleeps not counted).
    syscalls: u64,
    eagain: u64,
    short: u64,
    /// Writes issued while more than one message was queued.
    backlogged: u64,
    /// Viewers whose previous request had not completed when a message came.
    late: u64,
    dropped: u64,
    errors: u64,
    /// io_uring_enter calls that returned ETIME, EINTR, EAGAIN or EBUSY.
    enter_retries: u64,
    max_queue: usize,
    cpu_user: Duration,
    cpu_sys: Duration,
    voluntary_switches: i64,
    involuntary_switches: i64,
    receiver_cpu: Duration,
    wall: Duration,
    /// CPU of threads other than the main one, when there were any.
    threads: String,
}

impl Stats {
    fn cpu(&self) -> Duration {
        self.cpu_user + self.cpu_sys
    }

    fn us_per_mb(&self) -> f64 {
        if self.bytes == 0 {
            f64::NAN
        } else {
            self.cpu().as_secs_f64() * 1e6 / (self.bytes as f64 / 1e6)
        }
    }

    fn cpu_percent(&self) -> f64 {
        100.0 * self.cpu().as_secs_f64() / self.wall.as_secs_f64()
    }

    fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.wall.as_secs_f64()
    }
}

// ---------------------------------------------------------------------------
// Process facts
// ---------------------------------------------------------------------------

struct Usage {
    user: Duration,
    sys: Duration,
    nvcsw: i64,
    nivcsw: i64,
}

/// getrusage(RUSAGE_SELF): all threads of this process, io_uring's included.
fn usage() -> Usage {
    // SAFETY: getrusage only writes into the zeroed struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv =
        |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, t.tv_usec.max(0) as u32 * 1000);
    Usage {
        user: tv(ru.ru_utime),
        sys: tv(ru.ru_stime),
        nvcsw: ru.ru_nvcsw,
        nivcsw: ru.ru_nivcsw,
    }
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// Name and utime+stime clock ticks from a `/proc/.../stat` file.
fn stat_ticks(path: &str) -> Option<(String, u64)> {
    let s = std::fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let name = s[open + 1..close].to_string();
    // Fields after the name start at field 3 (state); utime and stime are 14 and 15.
    let rest: Vec<&str> = s.get(close + 2..)?.split_whitespace().collect();
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Every thread of this process: (tid, name, CPU ticks).
fn thread_ticks() -> Vec<(u32, String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((name, ticks)) = stat_ticks(&format!("/proc/self/task/{tid}/stat")) {
            out.push((tid, name, ticks));
        }
    }
    out.sort();
    out
}

fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it (it checks the
    // index) and sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The soft open-file limit, raised towards `want` if the hard limit allows.
fn raise_nofile(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit read and write the struct they are given.
    unsafe {
        let mut lim: libc::rlimit = mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur as u64 >= want {
            return lim.rlim_cur as u64;
        }
        let raised = libc::rlimit {
            rlim_cur: (want as libc::rlim_t).min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            raised.rlim_cur as u64
        } else {
            lim.rlim_cur as u64
        }
    }
}

/// Sets SO_SNDBUF or SO_RCVBUF (which also turns off autotuning).
fn set_buffer(s: &TcpStream, option: libc::c_int, bytes: usize) -> io::Result<()> {
    let size = bytes.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: setsockopt reads an int of the given size from `size`.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&size as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Receiver process
// ---------------------------------------------------------------------------

/// Connects `n` sockets to 127.0.0.1:`port` and reads and discards until
/// every one is closed by the sender, or `limit` passes.
fn receiver(port: u16, n: usize, cpu: usize, rcvbuf: usize, limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    pin_to_cpu(cpu)?;
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers; we get SIGKILL
    // if the sender dies, so a crashed run leaves no receiver behind.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    raise_nofile(n as u64 + 64);

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        s.set_nonblocking(true)?;
        if rcvbuf > 0 {
            set_buffer(&s, libc::SO_RCVBUF, rcvbuf)?;
        }
        streams.push(s);
    }

    // SAFETY: epoll_create1 takes a flag and returns a new fd or -1.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    for (i, s) in streams.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: `ev` is a valid epoll_event; `ep` and the socket fd are open.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }

    let mut open = vec![true; n];
    let mut remaining = n;
    let mut buf = vec![0u8; 256 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    while remaining > 0 && Instant::now() < deadline {
        // SAFETY: `events` has room for the count passed.
        let k = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 1000) };
        if k < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        for ev in &events[..k as usize] {
            let i = ev.u64 as usize;
            if i >= n || !open[i] {
                continue;
            }
            match (&streams[i]).read(&mut buf) {
                Ok(0) => {}
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {}
            }
            // End of stream or a hard error: stop watching this socket.
            // SAFETY: removing an fd from an epoll set; the event pointer may be null.
            unsafe {
                libc::epoll_ctl(
                    ep,
                    libc::EPOLL_CTL_DEL,
                    streams[i].as_raw_fd(),
                    std::ptr::null_mut(),
                )
            };
            open[i] = false;
            remaining -= 1;
        }
    }
    Ok(())
}

/// Kills the receiver (our own child, by pid) if the sender leaves early.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------

/// What a segment needs besides the viewers.
struct Setup {
    msgs: &'static [Msg],
    payload: &'static [u8],
    receiver_pid: u32,
    sender_cpu: usize,
    sqpoll_idle_ms: u32,
    /// How long to stop the receiver, from 2 s into each segment.
    stall: Duration,
}

fn sender(args: &Args) -> io::Result<()> {
    if args.viewers == 0 || args.seconds == 0 || args.rounds == 0 || args.modes.is_empty() {
        return Err(io::Error::other(
            "viewers, seconds, rounds and modes must be non-empty",
        ));
    }
    let nofile = raise_nofile(args.viewers as u64 + 64);
    if nofile < args.viewers as u64 + 64 {
        return Err(io::Error::other(format!(
            "open-file limit {nofile} is too low for {} viewers",
            args.viewers
        )));
    }
    pin_to_cpu(args.sender_cpu)?;

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port();
    let limit =
        args.warmup + args.rounds as u64 * args.modes.len() as u64 * (args.seconds + 10) + 120;
    let child = Command::new(std::env::current_exe()?)
        .args(["--receiver", &port.to_string()])
        .args(["--viewers", &args.viewers.to_string()])
        .args(["--receiver-cpu", &args.receiver_cpu.to_string()])
        .args(["--receiver-rcvbuf", &args.receiver_rcvbuf.to_string()])
        .args(["--receiver-limit", &limit.to_string()])
        .stdin(Stdio::null())
        .spawn()?;
    let mut child = ChildGuard(child);
    let receiver_pid = child.0.id();

    // Accept every viewer, as a server would: TCP_NODELAY and nonblocking.
    listener.set_nonblocking(true)?;
    let accept_deadline = Instant::now() + Duration::from_secs(60);
    let mut conns = Vec::with_capacity(args.viewers);
    while conns.len() < args.viewers {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nodelay(true)?;
                s.set_nonblocking(true)?;
                if args.sndbuf > 0 {
                    set_buffer(&s, libc::SO_SNDBUF, args.sndbuf)?;
                }
                conns.push(Conn::new(s));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() > accept_deadline {
                    return Err(io::Error::other(format!(
                        "only {} of {} viewers connected",
                        conns.len(),
                        args.viewers
                    )));
                }
                if let Ok(Some(status)) = child.0.try_wait() {
                    return Err(io::Error::other(format!("receiver exited early: {status}")));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    drop(listener);

    // The schedule and payload stay alive (leaked) until the process exits, so
    // no iovec handed to the kernel can ever outlive what it points at.
    let msgs: &'static [Msg] =
        Box::leak(schedule(Duration::from_secs(args.seconds)).into_boxed_slice());
    let mut rng = Rng(42);
    let payload: &'static [u8] = Box::leak(
        (0..MAX_PAYLOAD)
            .map(|_| (rng.unit() * 256.0) as u8)
            .collect::<Vec<u8>>()
            .into_boxed_slice(),
    );
    let setup = Setup {
        msgs,
        payload,
        receiver_pid,
        sender_cpu: args.sender_cpu,
        sqpoll_idle_ms: args.sqpoll_idle_ms,
        stall: Duration::from_secs_f64(args.stall.clamp(0.0, 3600.0)),
    };

    let per_viewer: usize = msgs.iter().map(Msg::len).sum();
    println!(
        "fanout_syscalls: {} viewers on 127.0.0.1, {} messages per {} s segment ({:.0} msg/s), \
         {:.3} Mbit/s per viewer, {:.1} MB per segment in total",
        args.viewers,
        msgs.len(),
        args.seconds,
        msgs.len() as f64 / args.seconds as f64,
        per_viewer as f64 * 8.0 / args.seconds as f64 / 1e6,
        (per_viewer * args.viewers) as f64 / 1e6,
    );
    println!(
        "sender pinned to cpu {}, receiver (pid {receiver_pid}) to cpu {}; kernel {}",
        args.sender_cpu,
        args.receiver_cpu,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "CPU = getrusage(RUSAGE_SELF) of the sender (all its threads); µs/MB = CPU µs per 10^6 bytes delivered"
    );
    println!("round 0 is the unreported warm-up");
    println!();
    println!("{}", row_header());

    if args.warmup > 0 {
        let warmup = Setup {
            msgs: Box::leak(schedule(Duration::from_secs(args.warmup)).into_boxed_slice()),
            ..setup
        };
        let st = run_segment(Mode::Writev, &mut conns, &warmup)?;
        println!("{}", row(0, Mode::Writev, &st));
        std::thread::sleep(Duration::from_millis(300));
    }

    let mut results: Vec<(Mode, Stats)> = Vec::new();
    for round in 1..=args.rounds {
        for &mode in &args.modes {
            let st = run_segment(mode, &mut conns, &setup)?;
            println!("{}", row(round, mode, &st));
            if !st.threads.is_empty() {
                println!("      threads: {}", st.threads);
            }
            results.push((mode, st));
            if conns.iter().all(|c| c.dead) {
                return Err(io::Error::other("every viewer connection failed"));
            }
            // Let the receiver catch up before the next segment.
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    // Closing every socket ends the receiver.
    drop(conns);
    let wait_deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < wait_deadline {
        if let Ok(Some(_)) = child.0.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    println!();
    summary(&args.modes, &results);
    Ok(())
}

/// Runs one mode for one segment of the schedule and measures it.
fn run_segment(mode: Mode, conns: &mut [Conn], setup: &Setup) -> io::Result<Stats> {
    // Ring setup happens before the measurement starts.
    let mut ring = match mode.uring_config() {
        Some(cfg) => Some((build_ring(&cfg, conns.len(), setup)?, cfg)),
        None => None,
    };
    let mut engine = match &mut ring {
        Some((ring, cfg)) => Engine::Uring(Uring::new(ring, *cfg, conns)?),
        None => Engine::Writev,
    };

    let mut st = Stats::default();
    let proc_path = format!("/proc/{}/stat", setup.receiver_pid);
    let receiver_before = stat_ticks(&proc_path).map_or(0, |(_, t)| t);
    let threads_before = thread_ticks();
    let before = usage();
    let start = Instant::now();

    let msgs = setup.msgs;
    let mut stall = Stall::new(setup, start);
    for (i, msg) in msgs.iter().enumerate() {
        let due = start + msg.due;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        stall.update(Instant::now());
        let next_due = msgs
            .get(i + 1)
            .map_or(due + Duration::from_millis(20), |m| start + m.due);
        st.msgs += 1;
        st.expected += msg.len() as u64 * conns.iter().filter(|c| !c.dead).count() as u64;
        match &mut engine {
            Engine::Writev => writev_fanout(i as u32, conns, setup, &mut st),
            Engine::Uring(u) => u.fanout(i as u32, conns, setup, next_due, &mut st)?,
        }
    }
    drop(stall);
    if let Engine::Uring(u) = &mut engine {
        u.finish(conns, setup, &mut st)?;
    }

    let after = usage();
    st.wall = start.elapsed();
    st.cpu_user = after.user.saturating_sub(before.user);
    st.cpu_sys = after.sys.saturating_sub(before.sys);
    st.voluntary_switches = after.nvcsw - before.nvcsw;
    st.involuntary_switches = after.nivcsw - before.nivcsw;
    let receiver_after = stat_ticks(&proc_path).map_or(0, |(_, t)| t);
    st.receiver_cpu = ticks(receiver_after.saturating_sub(receiver_before));
    st.threads = other_threads(&threads_before, &thread_ticks());

    drop(engine);
    drop(ring);
    flush_backlogs(conns, setup);
    Ok(st)
}

fn ticks(t: u64) -> Duration {
    Duration::from_secs_f64(t as f64 / clock_ticks_per_second() as f64)
}

/// Stops the receiver (our own child, by pid) during `[start + 2 s, start +
/// 2 s + stall)` of a segment, and always lets it go on again when dropped.
struct Stall {
    pid: libc::pid_t,
    from: Instant,
    until: Instant,
    stopped: bool,
}

impl Stall {
    fn new(setup: &Setup, start: Instant) -> Stall {
        let from = start + Duration::from_secs(2);
        Stall {
            pid: setup.receiver_pid as libc::pid_t,
            from,
            until: from + setup.stall,
            stopped: false,
        }
    }

    fn update(&mut self, now: Instant) {
        let want_stopped = now >= self.from && now < self.until;
        if want_stopped != self.stopped {
            let signal = if want_stopped {
                libc::SIGSTOP
            } else {
                libc::SIGCONT
            };
            // SAFETY: kill() takes plain integers; the pid is our own child,
            // which is reaped only after the last segment.
            unsafe { libc::kill(self.pid, signal) };
            self.stopped = want_stopped;
        }
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        if self.stopped {
            // SAFETY: as in `update`.
            unsafe { libc::kill(self.pid, libc::SIGCONT) };
        }
    }
}

/// CPU of threads other than the main one during the segment, with the whole
/// process's /proc/self/stat figure to show they are part of it.
fn other_threads(before: &[(u32, String, u64)], after: &[(u32, String, u64)]) -> String {
    let main_tid = std::process::id();
    let mut out = String::new();
    let mut main_delta = 0;
    for (tid, name, t) in after {
        let t0 = before.iter().find(|(b, _, _)| b == tid).map_or(0, |b| b.2);
        if *tid == main_tid {
            main_delta = t - t0;
        } else {
            let _ = write!(out, "{name}[{tid}] {:.2} s; ", ticks(t - t0).as_secs_f64());
        }
    }
    if out.is_empty() {
        return out;
    }
    let _ = write!(out, "main thread {:.2} s", ticks(main_delta).as_secs_f64());
    out
}

/// Plain mode: one writev per viewer with something queued.
fn writev_fanout(m: u32, conns: &mut [Conn], setup: &Setup, st: &mut Stats) {
    for c in conns.iter_mut().filter(|c| !c.dead) {
        c.enqueue(m, st);
        if c.queue.is_empty() {
            continue;
        }
        if c.queue.len() > 1 {
            st.backlogged += 1;
        }
        let (count, len) = c.fill_iov(setup.msgs, setup.payload);
        // SAFETY: `iov[..count]` are valid iovecs pointing into the leaked
        // schedule and payload; writev only reads them during the call.
        let r = unsafe { libc::writev(c.fd(), c.iov.as_ptr(), count as i32) };
        let res = if r < 0 { -(errno() as isize) } else { r };
        st.syscalls += 1;
        st.writes += 1;
        c.complete(res, len, setup.msgs, st);
    }
}

/// After a segment, writes what viewers still have queued (unmeasured, for
/// up to 2 s), so the next segment starts with empty queues.
fn flush_backlogs(conns: &mut [Conn], setup: &Setup) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut scratch = Stats::default();
    loop {
        let mut pending = false;
        for c in conns.iter_mut().filter(|c| !c.dead && !c.queue.is_empty()) {
            let (count, len) = c.fill_iov(setup.msgs, setup.payload);
            // SAFETY: as in writev_fanout.
            let r = unsafe { libc::writev(c.fd(), c.iov.as_ptr(), count as i32) };
            let res = if r < 0 { -(errno() as isize) } else { r };
            c.complete(res, len, setup.msgs, &mut scratch);
            pending |= !c.queue.is_empty();
        }
        if !pending {
            return;
        }
        if Instant::now() > deadline {
            let stuck = conns.iter().filter(|c| !c.queue.is_empty()).count();
            eprintln!("fanout_syscalls: {stuck} viewers still had a backlog after 2 s; discarded");
            for c in conns.iter_mut() {
                c.queue.clear();
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

enum Engine<'r> {
    Writev,
    Uring(Uring<'r>),
}

// ---------------------------------------------------------------------------
// io_uring modes
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct UringConfig {
    /// IORING_OP_SENDMSG instead of IORING_OP_WRITEV.
    sendmsg: bool,
    /// Sockets registered as fixed files.
    fixed_files: bool,
    /// Ring fd registered (IORING_ENTER_REGISTERED_RING).
    register_ring: bool,
    /// IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN.
    defer_taskrun: bool,
    /// Wait for every completion in the same enter that submits.
    wait: bool,
    /// IORING_SETUP_SQPOLL, the kernel thread on the sender's core.
    sqpoll: bool,
}

fn build_ring(cfg: &UringConfig, viewers: usize, setup: &Setup) -> io::Result<IoUring> {
    // One SQE per viewer per message must fit; at most one request per viewer
    // is in flight, so a CQ of twice that never overflows.
    let entries = viewers.next_power_of_two().clamp(8, 32768) as u32;
    let mut builder = IoUring::builder();
    builder.setup_cqsize(2 * entries);
    if cfg.defer_taskrun {
        builder.setup_single_issuer().setup_defer_taskrun();
    }
    if cfg.sqpoll {
        builder
            .setup_sqpoll(setup.sqpoll_idle_ms)
            .setup_sqpoll_cpu(setup.sender_cpu as u32);
    }
    builder.build(entries)
}

/// A ring split into its parts for one segment.
struct Uring<'r> {
    submitter: Submitter<'r>,
    sq: SubmissionQueue<'r>,
    cq: CompletionQueue<'r>,
    cfg: UringConfig,
    in_flight: usize,
}

impl<'r> Uring<'r> {
    fn new(ring: &'r mut IoUring, cfg: UringConfig, conns: &[Conn]) -> io::Result<Uring<'r>> {
        let (mut submitter, sq, cq) = ring.split();
        if cfg.fixed_files {
            let fds: Vec<RawFd> = conns.iter().map(Conn::fd).collect();
            submitter.register_files(&fds)?;
        }
        if cfg.register_ring {
            submitter.register_ring_fd()?;
        }
        Ok(Uring {
            submitter,
            sq,
            cq,
            cfg,
            in_flight: 0,
        })
    }

    /// Queues message `m` for every viewer and issues one request per viewer
    /// that has none in flight.
    fn fanout(
        &mut self,
        m: u32,
        conns: &mut [Conn],
        setup: &Setup,
        next_due: Instant,
        st: &mut Stats,
    ) -> io::Result<()> {
        if !self.cfg.wait {
            self.reap(conns, setup.msgs, st);
        }
        for (idx, c) in conns.iter_mut().enumerate() {
            if c.dead {
                continue;
            }
            c.enqueue(m, st);
            if c.in_flight.is_some() {
                st.late += 1;
                continue;
            }
            if c.queue.is_empty() {
                continue;
            }
            if c.queue.len() > 1 {
                st.backlogged += 1;
            }
            // `fill_iov` only runs for a viewer with no request in flight, so
            // the kernel never sees these iovecs change under it.
            let (count, len) = c.fill_iov(setup.msgs, setup.payload);
            let entry = self.entry(idx, c, count);
            self.push(&entry, st)?;
            c.in_flight = Some(len);
            self.in_flight += 1;
            st.writes += 1;
        }
        if self.cfg.wait {
            let timeout = next_due
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            self.submit_and_wait(self.in_flight, timeout, st)?;
            self.reap(conns, setup.msgs, st);
        } else {
            self.submit(st)?;
        }
        Ok(())
    }

    /// The request writing viewer `idx`'s prepared iovecs.
    fn entry(&self, idx: usize, c: &Conn, count: usize) -> squeue::Entry {
        let entry = match (self.cfg.sendmsg, self.cfg.fixed_files) {
            (false, false) => {
                opcode::Writev::new(types::Fd(c.fd()), c.iov.as_ptr(), count as u32).build()
            }
            (false, true) => {
                opcode::Writev::new(types::Fixed(idx as u32), c.iov.as_ptr(), count as u32).build()
            }
            (true, false) => opcode::SendMsg::new(types::Fd(c.fd()), &c.msg).build(),
            (true, true) => opcode::SendMsg::new(types::Fixed(idx as u32), &c.msg).build(),
        };
        entry.user_data(idx as u64)
    }

    fn push(&mut self, entry: &squeue::Entry, st: &mut Stats) -> io::Result<()> {
        for _ in 0..2 {
            // SAFETY: the entry points at `iov`/`msg` of a `Conn` in the
            // `conns` slice, which is neither moved nor resized during the
            // segment and is not refilled until the request's CQE is reaped
            // (`in_flight` is set right after this push); those in turn point
            // into the leaked schedule and payload. `finish` reaps every
            // request before the ring is dropped.
            match unsafe { self.sq.push(entry) } {
                Ok(()) => return Ok(()),
                // Full: submit what is there to make room.
                Err(_) => self.submit(st)?,
            }
        }
        Err(io::Error::other("submission queue stayed full"))
    }

    /// Submits what is queued without waiting.
    fn submit(&mut self, st: &mut Stats) -> io::Result<()> {
        self.sq.sync();
        if self.sq.is_empty() {
            return Ok(());
        }
        // With SQPOLL the call below enters the kernel only to wake the
        // polling thread up; count it when it will (approximate, racy read).
        if !self.cfg.sqpoll || self.sq.need_wakeup() {
            st.syscalls += 1;
        }
        match self.submitter.submit() {
            Ok(_) => {}
            Err(e) if retryable(&e) => st.enter_retries += 1,
            Err(e) => return Err(e),
        }
        self.sq.sync();
        Ok(())
    }

    /// Submits what is queued and waits for `want` completions, for at most
    /// `timeout`.
    fn submit_and_wait(
        &mut self,
        want: usize,
        timeout: Duration,
        st: &mut Stats,
    ) -> io::Result<()> {
        self.sq.sync();
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        st.syscalls += 1;
        match self.submitter.submit_with_args(want, &args) {
            Ok(_) => {}
            Err(e) if retryable(&e) => st.enter_retries += 1,
            Err(e) => return Err(e),
        }
        self.sq.sync();
        Ok(())
    }

    /// Takes every completion that is ready.
    fn reap(&mut self, conns: &mut [Conn], msgs: &[Msg], st: &mut Stats) {
        self.cq.sync();
        for cqe in &mut self.cq {
            let idx = cqe.user_data() as usize;
            let Some(c) = conns.get_mut(idx) else {
                continue;
            };
            let attempted = c.in_flight.take().unwrap_or(0);
            self.in_flight = self.in_flight.saturating_sub(1);
            c.complete(cqe.result() as isize, attempted, msgs, st);
        }
        self.cq.sync();
    }

    /// Waits (up to 2 s) for every request still in flight.
    fn finish(&mut self, conns: &mut [Conn], setup: &Setup, st: &mut Stats) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        self.reap(conns, setup.msgs, st);
        while self.in_flight > 0 && Instant::now() < deadline {
            self.submit_and_wait(self.in_flight, Duration::from_millis(100), st)?;
            self.reap(conns, setup.msgs, st);
        }
        if self.in_flight > 0 {
            // Should not happen; the ring is about to be dropped (which
            // cancels these), and what they point at is never freed or reused
            // because the viewers are given up.
            eprintln!(
                "fanout_syscalls: {} requests never completed; viewers dropped",
                self.in_flight
            );
            for c in conns.iter_mut().filter(|c| c.in_flight.is_some()) {
                c.dead = true;
                st.errors += 1;
            }
        }
        Ok(())
    }
}

/// io_uring_enter errors after which the loop just carries on.
fn retryable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)
    )
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

fn row_header() -> String {
    format!(
        "{:>5} {:<13} {:>5} {:>8} {:>6} {:>6} {:>6} {:>6} {:>8} {:>7} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6} {:>5} {:>4} {:>7} {:>7}",
        "round",
        "mode",
        "msgs",
        "MB",
        "deliv%",
        "user-s",
        "sys-s",
        "cpu%",
        "µs/MB",
        "ns/wr",
        "writes/s",
        "sysc/s",
        "eagain",
        "short",
        "late",
        "backlg",
        "drop",
        "err",
        "csw/s",
        "recv%"
    )
}

fn row(round: usize, mode: Mode, st: &Stats) -> String {
    let ns_per_write = if st.writes == 0 {
        f64::NAN
    } else {
        st.cpu().as_secs_f64() * 1e9 / st.writes as f64
    };
    format!(
        "{:>5} {:<13} {:>5} {:>8.1} {:>6.2} {:>6.2} {:>6.2} {:>6.1} {:>8.1} {:>7.0} {:>9.0} {:>9.0} {:>6} {:>6} {:>6} {:>6} {:>5} {:>4} {:>7.0} {:>7.1}",
        round,
        mode.name(),
        st.msgs,
        st.bytes as f64 / 1e6,
        100.0 * st.bytes as f64 / st.expected.max(1) as f64,
        st.cpu_user.as_secs_f64(),
        st.cpu_sys.as_secs_f64(),
        st.cpu_percent(),
        st.us_per_mb(),
        ns_per_write,
        st.per_second(st.writes),
        st.per_second(st.syscalls),
        st.eagain,
        st.short,
        st.late,
        st.backlogged,
        st.dropped,
        st.errors + st.enter_retries,
        (st.voluntary_switches + st.involuntary_switches) as f64 / st.wall.as_secs_f64(),
        100.0 * st.receiver_cpu.as_secs_f64() / st.wall.as_secs_f64(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per mode: median, min and max µs/MB, median CPU%, and the ratio of the
/// median µs/MB to writev's.
fn summary(modes: &[Mode], results: &[(Mode, Stats)]) {
    let of = |mode: Mode, f: &dyn Fn(&Stats) -> f64| -> Vec<f64> {
        results
            .iter()
            .filter(|(m, _)| *m == mode)
            .map(|(_, s)| f(s))
            .collect()
    };
    let base = median(of(Mode::Writev, &|s| s.us_per_mb()));
    println!(
        "{:<13} {:>6} {:>9} {:>9} {:>9} {:>7} {:>10} {:>10} {:>11}",
        "mode", "rounds", "µs/MB med", "min", "max", "cpu%", "sysc/s", "writes/s", "vs writev"
    );
    for &mode in modes {
        let us = of(mode, &|s| s.us_per_mb());
        let n = us.len();
        let lo = us.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = us.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let med = median(us);
        let ratio = if base.is_finite() {
            format!("{:.3}", med / base)
        } else {
            "-".into()
        };
        println!(
            "{:<13} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>7.1} {:>10.0} {:>10.0} {:>11}",
            mode.name(),
            n,
            med,
            lo,
            hi,
            median(of(mode, &|s| s.cpu_percent())),
            median(of(mode, &|s| s.per_second(s.syscalls))),
            median(of(mode, &|s| s.per_second(s.writes))),
            ratio
        );
    }
}
