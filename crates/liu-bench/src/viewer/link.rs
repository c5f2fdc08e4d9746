//! A viewer's connection: plain TCP or TLS, read through the runtime's one
//! shared read buffer either way (TLS keeps only rustls' own record
//! buffers per viewer).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::READ_BUF;

/// One viewer's byte stream.
pub(super) enum Link {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Link {
    /// Waits for data, then hands one read to `f` (with the time it
    /// returned). `Ok(None)` is end of stream.
    pub(super) async fn read_some<T>(
        &mut self,
        f: impl FnMut(&mut [u8], Instant) -> T,
    ) -> io::Result<Option<T>> {
        match self {
            Link::Tcp(sock) => read_tcp(sock, f).await,
            Link::Tls(tls) => read_tls(tls, f).await,
        }
    }

    pub(super) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Link::Tcp(sock) => sock.write_all(data).await,
            Link::Tls(tls) => {
                tls.write_all(data).await?;
                tls.flush().await
            }
        }
    }
}

/// A short read is taken to mean the socket is drained, which saves the
/// read that would return EAGAIN.
async fn read_tcp<T>(
    sock: &TcpStream,
    mut f: impl FnMut(&mut [u8], Instant) -> T,
) -> io::Result<Option<T>> {
    loop {
        sock.readable().await?;
        let mut out = None;
        let res = sock.try_io(Interest::READABLE, || {
            READ_BUF.with(|cell| {
                let mut buf = cell.borrow_mut();
                let n = sock.try_read(&mut buf)?;
                if n == 0 {
                    out = Some(None);
                    return Ok(());
                }
                out = Some(Some(f(&mut buf[..n], Instant::now())));
                if n < buf.len() {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            })
        });
        if let Some(v) = out {
            return Ok(v);
        }
        match res {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
    }
}

/// The shared buffer is borrowed only inside one poll, never across an
/// await.
async fn read_tls<T>(
    tls: &mut TlsStream<TcpStream>,
    mut f: impl FnMut(&mut [u8], Instant) -> T,
) -> io::Result<Option<T>> {
    let mut f = Some(&mut f);
    poll_fn(|cx| {
        READ_BUF.with(|cell| {
            let mut buf = cell.borrow_mut();
            let mut read = ReadBuf::new(&mut buf);
            match Pin::new(&mut *tls).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    if n == 0 {
                        return Poll::Ready(Ok(None));
                    }
                    let f = f.take().expect("polled after completion");
                    Poll::Ready(Ok(Some(f(&mut buf[..n], Instant::now()))))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    })
    .await
}

/// TLS client settings shared by every viewer of a run. A load tool runs
/// against its own servers, often with self-signed certificates: the
/// certificate is not verified (the handshake signature still is).
#[derive(Clone)]
pub struct TlsClient(TlsConnector);

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClient")
    }
}

impl TlsClient {
    pub fn new() -> TlsClient {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        TlsClient(TlsConnector::from(Arc::new(config)))
    }

    /// The client side of a TLS handshake over `sock`, for `host`.
    pub(super) async fn connect(&self, host: &str, sock: TcpStream) -> io::Result<Link> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Link::Tls(Box::new(self.0.connect(name, sock).await?)))
    }
}

impl Default for TlsClient {
    fn default() -> Self {
        TlsClient::new()
    }
}

/// Accepts any certificate; checks the handshake signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
