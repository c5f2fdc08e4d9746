//! Bounds-checked big-endian byte cursor used by the parsers here and in `liu-flv`.

use crate::error::{CodecError, Result};

/// A read position over a byte slice; every read is checked and never panics.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next byte without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Consumes `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(CodecError::Truncated { what })?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(CodecError::Truncated { what })?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        let [b] = self.array::<1>(what)?;
        Ok(b)
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub fn i16(&mut self, what: &'static str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    pub fn u24(&mut self, what: &'static str) -> Result<u32> {
        let [a, b, c] = self.array(what)?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// Signed 24-bit big-endian integer, sign-extended (FLV SI24).
    pub fn i24(&mut self, what: &'static str) -> Result<i32> {
        let v = self.u24(what)?;
        Ok(((v << 8) as i32) >> 8)
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub fn fourcc(&mut self, what: &'static str) -> Result<[u8; 4]> {
        self.array(what)
    }

    pub fn f64(&mut self, what: &'static str) -> Result<f64> {
        Ok(f64::from_be_bytes(self.array(what)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_tracks_position() {
        let mut c = Cursor::new(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(c.u8("a").ok(), Some(1));
        assert_eq!(c.u16("b").ok(), Some(0x0203));
        assert_eq!(c.u24("c").ok(), Some(0x040506));
        assert_eq!(c.position(), 6);
        assert_eq!(c.remaining(), 1);
        assert_eq!(c.u16("d"), Err(CodecError::Truncated { what: "d" }));
        // A failed read does not move the cursor.
        assert_eq!(c.u8("e").ok(), Some(7));
        assert!(c.is_empty());
    }

    #[test]
    fn si24_sign_extends() {
        assert_eq!(Cursor::new(&[0xff, 0xff, 0xff]).i24("x").ok(), Some(-1));
        assert_eq!(Cursor::new(&[0x80, 0, 0]).i24("x").ok(), Some(-8_388_608));
        assert_eq!(
            Cursor::new(&[0x7f, 0xff, 0xff]).i24("x").ok(),
            Some(8_388_607)
        );
    }

    #[test]
    fn take_huge_length_is_truncated_not_overflow() {
        let mut c = Cursor::new(&[0; 4]);
        assert!(c.take(usize::MAX, "x").is_err());
    }
}
