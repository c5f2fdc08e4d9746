//! Liu's server: the hub, the RTMP and HTTP listeners, and the adapters that
//! connect sockets to the sans-IO protocol crates.

pub mod access;
mod buf_list;
pub mod config;
mod context;
pub mod dialect;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod heap;
mod hls;
pub mod host_limits;
mod http;
pub mod hub;
pub mod ingest;
mod io;
mod repeats;
mod rtmp;
mod rtmpt;
mod send_batch;
mod server;
mod stream_info;
mod tls;
mod transport;
mod viewer;
#[doc(hidden)]
pub mod workload;

pub use config::Config;
pub use error::ServerError;
pub use server::{BoundServer, TlsReloader, bind, bind_with};
pub use tls::TlsError;
