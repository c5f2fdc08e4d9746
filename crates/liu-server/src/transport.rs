//! What an RTMP connection runs over. Plain TCP reads on readiness into a
//! per-thread buffer, and its write side can be handed to the hub's direct
//! fan-out. Any other byte stream (TLS for RTMPS, the RTMPT tunnel)
//! transforms bytes per connection: it reads into its own buffer and its
//! viewers are written by their own task. RTMPE runs over either: the
//! session decrypts what it reads, and the write side is wrapped in
//! [`EncryptedWrite`] once the handshake is over. The one RTMP session runs
//! the same over all of them.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use liu_rtmp::handshake::RtmpeCipher;

use crate::rtmpt::pipe::{TunnelReader, TunnelStream, TunnelWriter};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Bytes read at once (a TLS record holds at most 16 KiB).
const READ_CHUNK: usize = 64 * 1024;
const STREAM_READ_CHUNK: usize = 16 * 1024;
/// Most bytes an [`EncryptedWrite`] takes (and encrypts) per write.
const ENCRYPT_CHUNK: usize = 64 * 1024;

thread_local! {
    /// One read buffer per worker thread instead of one per TCP connection:
    /// reads happen between awaits, so connections never share it at once.
    static READ_BUF: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; READ_CHUNK].into_boxed_slice());
}

/// A byte stream an RTMP session can run over.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// A connection's transport.
pub enum Transport {
    Tcp(TcpStream),
    Stream(Box<dyn ByteStream>),
    /// RTMPT: bytes come and go in HTTP requests.
    Tunnel(TunnelStream),
}

impl Transport {
    /// The read and write sides, usable apart.
    pub fn split(self) -> (TransportRead, TransportWrite) {
        match self {
            Transport::Tcp(s) => {
                let (r, w) = s.into_split();
                (TransportRead::Tcp(r), TransportWrite::Tcp(w))
            }
            Transport::Stream(s) => {
                let (r, w) = tokio::io::split(s);
                let buf = vec![0u8; STREAM_READ_CHUNK].into_boxed_slice();
                (TransportRead::Stream(r, buf), TransportWrite::Stream(w))
            }
            Transport::Tunnel(t) => {
                let (r, w) = t.split();
                (TransportRead::Tunnel(r), TransportWrite::Tunnel(w))
            }
        }
    }
}

pub enum TransportRead {
    Tcp(OwnedReadHalf),
    Stream(ReadHalf<Box<dyn ByteStream>>, Box<[u8]>),
    Tunnel(TunnelReader),
}

impl TransportRead {
    /// Waits for bytes and hands what arrived to `f`; `None` at end of
    /// stream. Cancel-safe: nothing is read before `f` runs.
    pub async fn read_with<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> io::Result<Option<T>> {
        match self {
            TransportRead::Tcp(rd) => {
                let mut f = Some(f);
                loop {
                    rd.readable().await?;
                    let read = READ_BUF.with(|cell| {
                        let mut buf = cell.borrow_mut();
                        let n = rd.try_read(&mut buf)?;
                        Ok::<_, io::Error>((n > 0).then(|| f.take().map(|f| f(&buf[..n]))))
                    });
                    match read {
                        Ok(None) => return Ok(None),
                        Ok(Some(out)) => return Ok(out),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            TransportRead::Stream(rd, buf) => match rd.read(buf).await? {
                0 => Ok(None),
                n => Ok(Some(f(&buf[..n]))),
            },
            // A request body, as it came: no copy, no buffer of our own.
            TransportRead::Tunnel(rd) => Ok(rd.read().await.map(|b| f(&b))),
        }
    }
}

pub enum TransportWrite {
    Tcp(OwnedWriteHalf),
    Stream(WriteHalf<Box<dyn ByteStream>>),
    Tunnel(TunnelWriter),
    Encrypted(Box<EncryptedWrite>),
}

impl TransportWrite {
    /// This write side with every further byte RC4-encrypted (RTMPE).
    pub fn encrypted(self, cipher: RtmpeCipher) -> TransportWrite {
        TransportWrite::Encrypted(Box::new(EncryptedWrite {
            inner: self,
            cipher,
            pending: Vec::new(),
            written: 0,
        }))
    }
}

macro_rules! each_write {
    ($self:expr, $w:ident => $e:expr) => {
        match $self {
            TransportWrite::Tcp($w) => $e,
            TransportWrite::Stream($w) => $e,
            TransportWrite::Tunnel($w) => $e,
            TransportWrite::Encrypted($w) => $e,
        }
    };
}

impl AsyncWrite for TransportWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_write!(self.get_mut(), w => Pin::new(w).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_write!(self.get_mut(), w => Pin::new(w).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        each_write!(self, w => w.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_write!(self.get_mut(), w => Pin::new(w).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_write!(self.get_mut(), w => Pin::new(w).poll_shutdown(cx))
    }
}

/// A write side that RC4-encrypts everything written to it (RTMPE). The
/// shared chunked bytes are copied once per viewer here, as the keystream
/// is per connection; at most [`ENCRYPT_CHUNK`] bytes wait in `pending`.
pub struct EncryptedWrite {
    inner: TransportWrite,
    cipher: RtmpeCipher,
    /// Encrypted bytes the inner side has not taken yet, from `written`.
    pending: Vec<u8>,
    written: usize,
}

impl EncryptedWrite {
    /// Writes out `pending`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes up to [`ENCRYPT_CHUNK`] bytes of `bufs` once `pending` is
    /// empty, and starts writing them.
    fn poll_take(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_drain(cx))?;
        for buf in bufs {
            let n = buf.len().min(ENCRYPT_CHUNK - self.pending.len());
            self.pending.extend_from_slice(&buf[..n]);
            if self.pending.len() == ENCRYPT_CHUNK {
                break;
            }
        }
        let taken = self.pending.len();
        self.cipher.apply(&mut self.pending);
        // The bytes are ours now, whether or not the inner side takes them
        // yet; an error surfaces here or on the next call.
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }
}

impl AsyncWrite for EncryptedWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_take(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_take(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
