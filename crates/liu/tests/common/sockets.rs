//! TCP sockets as the kernel sees them.

use std::collections::HashSet;
use std::fs;

/// One line of /proc/net/tcp or /proc/net/tcp6.
#[derive(Clone, Debug)]
pub struct TcpSocket {
    pub local_port: u16,
    pub remote_port: u16,
    /// Kernel TCP state: 1 ESTABLISHED, 4 FIN_WAIT1, 8 CLOSE_WAIT, ... (include/net/tcp_states.h).
    pub state: u8,
    /// Bytes queued for sending / received and not yet read.
    pub tx_queue: u64,
    pub rx_queue: u64,
    /// 0 once no process holds the socket (closed, kernel finishing it as an orphan).
    pub inode: u64,
}

/// Every TCP socket of this network namespace.
pub fn tcp_sockets() -> Vec<TcpSocket> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let port = |a: &str| {
                a.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    .unwrap_or(0)
            };
            let (tx, rx) = f[4].split_once(':').unwrap_or(("0", "0"));
            out.push(TcpSocket {
                local_port: port(f[1]),
                remote_port: port(f[2]),
                state: u8::from_str_radix(f[3], 16).unwrap_or(0),
                tx_queue: u64::from_str_radix(tx, 16).unwrap_or(0),
                rx_queue: u64::from_str_radix(rx, 16).unwrap_or(0),
                inode: f[9].parse().unwrap_or(0),
            });
        }
    }
    out
}

/// What process `pid` holds open: the targets of its /proc/PID/fd links (`socket:[N]`,
/// `pipe:[N]`, paths).
pub fn fd_links(pid: u32) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| fs::read_link(e.path()).ok())
                .map(|t| t.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Inodes of the sockets process `pid` holds open (/proc/PID/fd links `socket:[N]`).
pub fn socket_inodes(pid: u32) -> HashSet<u64> {
    fd_links(pid)
        .iter()
        .filter_map(|t| t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok())
        .collect()
}

/// Completions the kernel has posted on process `pid`'s io_uring rings (the `CqTail` counters
/// of /proc/PID/fdinfo for its `anon_inode:[io_uring]` fds, summed): writes the server made
/// through io_uring, as the kernel saw them. `None` if it holds no ring.
pub fn io_uring_completions(pid: u32) -> Option<u64> {
    let dir = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let mut total = None;
    for e in dir.flatten() {
        let is_ring =
            fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("[io_uring]"));
        if !is_ring {
            continue;
        }
        let info = fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            e.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let tail: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("CqTail:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        *total.get_or_insert(0) += tail;
    }
    total
}

/// Port of `addr` ("host:port").
pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr}"))
}

/// A TCP connection to `addr` from the loopback address `source` (any 127.0.0.0/8 address
/// works on Linux): a client on another host, as far as the server can tell.
pub fn connect_from(source: &str, addr: &str) -> std::io::Result<std::net::TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let source: std::net::IpAddr = source.parse().expect("a source address");
    let addr: std::net::SocketAddr = addr.parse().expect("host:port");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind((source, 0).into())?;
        tokio::time::timeout(std::time::Duration::from_secs(3), socket.connect(addr))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}
