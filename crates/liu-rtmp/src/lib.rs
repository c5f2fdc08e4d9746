//! Sans-IO RTMP for Liu: handshake, chunk stream, protocol control messages,
//! commands, and the server and client sessions built from them.
//!
//! Nothing here touches a socket, a task or a clock: every type takes bytes
//! (and, where needed, the time) and returns bytes and events.

pub mod chunk;
pub mod control;
pub mod handshake;
