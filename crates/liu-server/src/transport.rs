//! What an RTMP connection runs over. Plain TCP reads on readiness into a
//! per-thread buffer, and its write side can be handed to the hub's direct
//! fan-out. Any other byte stream (TLS for RTMPS; later RC4 for RTMPE and
//! the RTMPT tunnel) transforms bytes per connection: it reads into its own
//! buffer and its viewers are written by their own task. The one RTMP
//! session runs the same over both.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Bytes read at once (a TLS record holds at most 16 KiB).
const READ_CHUNK: usize = 64 * 1024;
const STREAM_READ_CHUNK: usize = 16 * 1024;

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
        }
    }
}

pub enum TransportRead {
    Tcp(OwnedReadHalf),
    Stream(ReadHalf<Box<dyn ByteStream>>, Box<[u8]>),
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
        }
    }
}

pub enum TransportWrite {
    Tcp(OwnedWriteHalf),
    Stream(WriteHalf<Box<dyn ByteStream>>),
}

impl AsyncWrite for TransportWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            TransportWrite::Tcp(w) => Pin::new(w).poll_write(cx, buf),
            TransportWrite::Stream(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            TransportWrite::Tcp(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            TransportWrite::Stream(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            TransportWrite::Tcp(w) => w.is_write_vectored(),
            TransportWrite::Stream(w) => w.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TransportWrite::Tcp(w) => Pin::new(w).poll_flush(cx),
            TransportWrite::Stream(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TransportWrite::Tcp(w) => Pin::new(w).poll_shutdown(cx),
            TransportWrite::Stream(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}
