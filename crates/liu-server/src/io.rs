//! Socket helpers shared by the listeners.

use std::io::{self, IoSlice};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Most buffers handed to one `writev`.
const MAX_IOV: usize = 64;

/// Writes every buffer, in order, with as few vectored writes as possible.
/// A write that makes no progress within `timeout` fails: a viewer that
/// stops reading cannot hold a task forever.
pub async fn write_all_vectored<W: AsyncWrite + Unpin>(w: &mut W, bufs: &mut Vec<Bytes>, timeout: Duration) -> io::Result<()> {
    let mut first = 0;
    while first < bufs.len() {
        let n = {
            let slices: Vec<IoSlice<'_>> =
                bufs[first..].iter().take(MAX_IOV).filter(|b| !b.is_empty()).map(|b| IoSlice::new(b)).collect();
            if slices.is_empty() {
                break;
            }
            match tokio::time::timeout(timeout, w.write_vectored(&slices)).await {
                Ok(result) => result?,
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "viewer accepted no data in time")),
            }
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
    w.flush().await
}

/// 32 random bytes for a handshake.
pub fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    // A failing OS RNG leaves zeros: the handshake's randomness is not a secret.
    let _ = getrandom::fill(&mut seed);
    seed
}
