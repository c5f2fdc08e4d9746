//! Errors that stop the server.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen for {what} on {addr}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("RTMPS certificate")]
    Tls(#[from] crate::tls::TlsError),
    #[error("{0}")]
    Config(String),
    #[error("cannot use the HLS directory {}", dir.display())]
    HlsDir {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}
