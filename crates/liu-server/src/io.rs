//! Socket helpers shared by the listeners.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most buffers handed to one `writev`.
const MAX_IOV: usize = 64;

/// Writes every buffer, in order, with as few vectored writes as possible.
/// A write that makes no progress within `timeout` fails: a viewer that
/// stops reading cannot hold a task forever.
pub async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut Vec<Bytes>,
    timeout: Duration,
) -> io::Result<()> {
    let mut first = 0;
    while first < bufs.len() {
        let n = {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut count = 0;
            for b in bufs[first..].iter().filter(|b| !b.is_empty()).take(MAX_IOV) {
                slices[count] = IoSlice::new(b);
                count += 1;
            }
            if count == 0 {
                break;
            }
            write_vectored_within(w, &slices[..count], timeout).await?
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut left = n;
        while left > 0 && first < bufs.len() {
            let b = &mut bufs[first];
            if b.len() <= left {
                left -= b.len();
                first += 1;
            } else {
                b.advance(left);
                left = 0;
            }
        }
        while first < bufs.len() && bufs[first].is_empty() {
            first += 1;
        }
    }
    bufs.clear();
    // Transforming writers (TLS, RC4) may hold the tail until flushed.
    within(timeout, |cx| Pin::new(&mut *w).poll_flush(cx)).await
}

/// One vectored write; the timer is only armed when the socket is full, so
/// the common case costs no clock read and no timer.
async fn write_vectored_within<W: AsyncWrite + Unpin>(
    w: &mut W,
    slices: &[IoSlice<'_>],
    timeout: Duration,
) -> io::Result<usize> {
    within(timeout, |cx| {
        Pin::new(&mut *w).poll_write_vectored(cx, slices)
    })
    .await
}

/// Polls `op` to completion, failing with `TimedOut` if it stays pending
/// for `timeout`.
async fn within<T>(
    timeout: Duration,
    mut op: impl FnMut(&mut std::task::Context<'_>) -> Poll<io::Result<T>>,
) -> io::Result<T> {
    let mut deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| match op(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let sleep = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "viewer accepted no data in time",
                ))),
                Poll::Pending => Poll::Pending,
            }
        }
    })
    .await
}

/// 32 random bytes for a handshake. A failing OS RNG leaves zeros: the
/// plain and digest handshakes' randomness is no secret, and RTMPE's key
/// exchange protects nothing anyway (it is obfuscation; RTMPS is the
/// secure choice). RTMPT session ids do not come from here.
pub fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let _ = getrandom::fill(&mut seed);
    seed
}

/// A socket whose writes fail when they make no progress for `timeout`,
/// for protocol stacks (hyper) that offer no write timeout of their own.
pub struct WriteTimeout<S> {
    inner: S,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteTimeout<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        WriteTimeout {
            inner,
            timeout,
            deadline: None,
        }
    }

    /// Maps a pending write to an error once the deadline passes.
    fn check<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let deadline = self
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "viewer accepted no data in time",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.check(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.check(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.check(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A socket with bytes already read from it in front: reads return
/// `prefix` first, then the socket's own data.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.prefix[at..at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_stuck_writer_times_out() {
        let (client, _server) = tokio::io::duplex(1024);
        let mut w = WriteTimeout::new(client, Duration::from_millis(50));
        let started = std::time::Instant::now();
        let err = w.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn prefixed_reads_the_prefix_first() {
        use tokio::io::AsyncReadExt;
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut r = Prefixed::new(b"hello".to_vec(), server);
        let mut all = String::new();
        r.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }

    #[tokio::test]
    async fn vectored_writes_cross_partial_writes() {
        let (client, mut server) = tokio::io::duplex(7);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut server, &mut all)
                .await
                .unwrap();
            all
        });
        let mut w = client;
        let mut bufs = vec![
            Bytes::from_static(b"hello "),
            Bytes::new(),
            Bytes::from_static(b"chunked world"),
        ];
        write_all_vectored(&mut w, &mut bufs, Duration::from_secs(1))
            .await
            .unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), b"hello chunked world");
    }
}
