//! RTMP sessions: the NetConnection/NetStream dialogue on top of the chunk
//! stream, as pure state machines (bytes in, bytes and events out).

mod client;
mod server;
mod transport;

pub use client::{ClientConfig, ClientEvent, ClientRole, ClientSession};
pub use server::{
    ConnectRequest, PlayRequest, PublishRequest, ServerConfig, ServerEvent, ServerSession,
};

#[cfg(test)]
mod tests;
