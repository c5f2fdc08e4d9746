//! An RBSP bit reader for parameter sets: emulation prevention removed
//! (ISO/IEC 23008-2 §7.4.2, ISO/IEC 14496-10 §7.4.1), then fixed-width and
//! Exp-Golomb reads (§9.2). Every read is checked and never panics.

use crate::error::{CodecError, Result};

/// Strips the `emulation_prevention_three_byte`s of a NAL unit payload.
pub(crate) fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads bits most significant first from an RBSP.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    pub(crate) fn bit(&mut self, what: &'static str) -> Result<bool> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or(CodecError::Truncated { what })?;
        let bit = byte >> (7 - self.pos % 8) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// `u(n)` for n <= 32.
    pub(crate) fn bits(&mut self, n: u32, what: &'static str) -> Result<u32> {
        debug_assert!(n <= 32);
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.bit(what)?);
        }
        Ok(v)
    }

    /// Skips `n` bits.
    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<()> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(CodecError::Truncated { what })?;
        if end > self.data.len() * 8 {
            return Err(CodecError::Truncated { what });
        }
        self.pos = end;
        Ok(())
    }

    /// `ue(v)` (§9.2), up to 2^32 - 2.
    pub(crate) fn ue(&mut self, what: &'static str) -> Result<u32> {
        let mut zeros = 0;
        while !self.bit(what)? {
            zeros += 1;
            if zeros > 31 {
                return Err(CodecError::Invalid("Exp-Golomb code longer than 32 bits"));
            }
        }
        let rest = self.bits(zeros, what)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_and_fixed() {
        // 1 | 010 | 011 | 00100 | 0001000 -> 0, 1, 2, 3, 7; then 0b101 fixed.
        let data = [0b1010_0110, 0b0100_0001, 0b0000_1000];
        let mut r = BitReader::new(&data);
        let got: Vec<u32> = (0..5).map(|_| r.ue("v").unwrap_or(u32::MAX)).collect();
        assert_eq!(got, [0, 1, 2, 3, 7]);
        assert_eq!(r.bits(2, "v"), Ok(0b01));
        assert!(r.bits(8, "v").is_err());
        assert!(BitReader::new(&[0, 0, 0, 0, 0]).ue("v").is_err());
    }

    #[test]
    fn emulation_prevention_removed() {
        assert_eq!(unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3]), [0, 0, 1, 0, 0]);
        assert_eq!(unescape_rbsp(&[0, 3, 0, 0, 3, 3]), [0, 3, 0, 0, 3]);
    }
}
