//! Several shared buffers sent as one: a [`bytes::Buf`] over a list of
//! `Bytes`, so an HTTP body frame can carry a whole batch of FLV tags (one
//! chunk of chunked transfer encoding, one vectored write) without copying.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

#[derive(Debug, Default)]
pub struct BufList {
    bufs: VecDeque<Bytes>,
    remaining: usize,
}

impl BufList {
    pub fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.remaining += b.len();
            self.bufs.push_back(b);
        }
    }

    /// Takes the first buffer whole.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        let b = self.bufs.pop_front()?;
        self.remaining -= b.len();
        Some(b)
    }

    /// Takes at most `max` bytes from the front (at least one byte when
    /// there are some): whole buffers, and a slice of the next one, no copy.
    pub fn split_to(&mut self, max: usize) -> BufList {
        let max = max.max(1);
        let mut out = BufList::default();
        while out.remaining < max {
            let Some(mut b) = self.pop_front() else { break };
            let room = max - out.remaining;
            if b.len() > room {
                let rest = b.split_off(room);
                self.remaining += rest.len();
                self.bufs.push_front(rest);
            }
            out.push(b);
        }
        out
    }
}

impl FromIterator<Bytes> for BufList {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        let mut list = BufList::default();
        for b in iter {
            list.push(b);
        }
        list
    }
}

impl From<Bytes> for BufList {
    fn from(b: Bytes) -> Self {
        let mut list = BufList::default();
        list.push(b);
        list
    }
}

impl Buf for BufList {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.bufs.front().map_or(&[], |b| &b[..])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, b) in dst.iter_mut().zip(self.bufs.iter()) {
            *slot = IoSlice::new(b);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a BufList");
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.bufs.front_mut() else {
                break;
            };
            if front.len() > cnt {
                front.advance(cnt);
                break;
            }
            cnt -= front.len();
            self.bufs.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_to_slices_without_copying() {
        let a = Bytes::from_static(b"abcdef");
        let mut list: BufList = [a.clone(), Bytes::from_static(b"gh")].into_iter().collect();
        let first = list.split_to(4);
        assert_eq!((first.remaining(), list.remaining()), (4, 4));
        assert_eq!(first.bufs[0].as_ptr(), a.as_ptr());
        let second = list.split_to(3);
        assert_eq!(second.chunk(), b"ef");
        assert_eq!(second.remaining(), 3);
        assert_eq!(list.split_to(10).remaining(), 1);
        assert_eq!(list.split_to(10).remaining(), 0);
    }

    #[test]
    fn reads_across_buffers() {
        let mut list: BufList = [">", "FLV", "", " tags"]
            .into_iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(list.remaining(), 9);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(list.chunks_vectored(&mut slices), 3);
        list.advance(2);
        assert_eq!(list.chunk(), b"LV");
        let rest = list.copy_to_bytes(list.remaining());
        assert_eq!(&rest[..], b"LV tags");
        assert_eq!(list.remaining(), 0);
    }
}
