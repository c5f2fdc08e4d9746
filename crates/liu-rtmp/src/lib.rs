//! Sans-IO RTMP for Liu: handshake, chunk stream, protocol control messages,
//! commands, and the server and client sessions built from them.
//!
//! Nothing here touches a socket, a task or a clock: every type takes bytes
//! (and, where needed, the time) and returns bytes and events.
//!
//! Spec: Adobe's "Real-Time Messaging Protocol (RTMP) specification", 2012
//! (cited below as RTMP §x), and the veovera Enhanced RTMP specification.

pub mod chunk;
pub mod command;
pub mod control;
pub mod enhanced;
mod error;
pub mod handshake;
pub mod media;
pub mod session;
pub mod tunnel;

pub use error::RtmpError;
