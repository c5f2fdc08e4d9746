//! One RTMPT session's pair of bounded byte queues, and the RTMP
//! connection's side of them ([`TunnelStream`]): what `send` bodies carry
//! is read by the connection; what the connection writes waits for the
//! client's next request.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use liu_rtmp::tunnel::TunnelState;
use tokio::io::AsyncWrite;

use crate::buf_list::BufList;
use crate::host_limits::HostPermit;

/// One session's shared state.
pub(super) struct Tunnel {
    pub(super) id: String,
    pub(super) state: Mutex<Queues>,
    /// Rings when the connection writes (or ends): a held `idle` answers.
    pub(super) written: tokio::sync::Notify,
    /// The session's place among its address's (`[limits]`).
    pub(super) _host: Option<HostPermit>,
}

/// One tunnel's queues, shared by its HTTP requests and its RTMP
/// connection.
pub(super) struct Queues {
    pub(super) protocol: TunnelState,
    /// Client bytes the connection has not read: request bodies as they came.
    pub(super) inbound: BufList,
    pub(super) reader: Option<Waker>,
    /// Connection bytes the client has not fetched.
    pub(super) outbound: BytesMut,
    pub(super) writer: Option<Waker>,
    /// The client closed the session or went away: reads end.
    pub(super) client_gone: bool,
    /// The RTMP connection ended: writes are over.
    pub(super) conn_ended: bool,
    pub(super) last_request: Instant,
}

impl Tunnel {
    pub(super) fn lock(&self) -> MutexGuard<'_, Queues> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the client side: the connection reads end of stream.
    pub(super) fn client_gone(&self) {
        let mut q = self.lock();
        q.client_gone = true;
        if let Some(w) = q.reader.take() {
            w.wake();
        }
        drop(q);
        self.written.notify_waiters();
    }
}

/// The RTMP connection's side of a tunnel.
pub struct TunnelStream {
    pub(super) tunnel: Arc<Tunnel>,
    pub(super) max_buffered: usize,
}

impl TunnelStream {
    /// The read and write sides, usable apart.
    pub fn split(self) -> (TunnelReader, TunnelWriter) {
        (
            TunnelReader(self.tunnel.clone()),
            TunnelWriter {
                tunnel: self.tunnel,
                max_buffered: self.max_buffered,
            },
        )
    }
}

pub struct TunnelReader(Arc<Tunnel>);

impl TunnelReader {
    /// Waits for client bytes; `None` once the client is gone.
    pub async fn read(&self) -> Option<Bytes> {
        std::future::poll_fn(|cx| {
            let mut q = self.0.lock();
            if let Some(body) = q.inbound.pop_front() {
                return Poll::Ready(Some(body));
            }
            if q.client_gone {
                return Poll::Ready(None);
            }
            q.reader = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

pub struct TunnelWriter {
    tunnel: Arc<Tunnel>,
    max_buffered: usize,
}

impl Drop for TunnelWriter {
    fn drop(&mut self) {
        self.tunnel.lock().conn_ended = true;
        self.tunnel.written.notify_waiters();
    }
}

impl AsyncWrite for TunnelWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let mut q = self.tunnel.lock();
        if q.client_gone {
            return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
        }
        let mut room = self.max_buffered.saturating_sub(q.outbound.len());
        if room == 0 {
            // Until the client fetches: the connection's write timeout
            // ends a tunnel that stops polling.
            q.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut taken = 0;
        for buf in bufs {
            let n = buf.len().min(room);
            q.outbound.extend_from_slice(&buf[..n]);
            taken += n;
            room -= n;
            if room == 0 {
                break;
            }
        }
        drop(q);
        self.tunnel.written.notify_waiters();
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
