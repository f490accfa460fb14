//! A bounds-checked reader over a byte slice. Every accessor returns a
//! [`DecodeError`] naming the layer and offset instead of panicking, which is how the
//! decoders in this crate keep the "never panics on any input" promise without
//! sprinkling index arithmetic everywhere.

use crate::error::{DecodeError, Result};

#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    layer: &'static str,
}

impl<'a> Cursor<'a> {
    pub fn new(layer: &'static str, data: &'a [u8]) -> Self {
        Cursor {
            data,
            pos: 0,
            layer,
        }
    }

    /// Offset of the next byte to read, relative to the start of the input.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError::truncated(
                self.layer,
                self.pos,
                n,
                self.remaining(),
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u24(&mut self) -> Result<u32> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// An error of this cursor's layer at the current offset.
    pub fn invalid(&self, what: &'static str) -> DecodeError {
        DecodeError::invalid(self.layer, self.pos, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn reads_big_endian_and_reports_truncation_where_it_happens() {
        let mut c = Cursor::new("x", &[0x01, 0x02, 0x03, 0x04, 0x05]);
        assert_eq!(c.u16().unwrap(), 0x0102);
        assert_eq!(c.u24().unwrap(), 0x030405);
        let e = c.u8().unwrap_err();
        assert_eq!(e.offset, 5);
        assert_eq!(
            e.kind,
            ErrorKind::Truncated {
                needed: 1,
                available: 0
            }
        );
    }
}
