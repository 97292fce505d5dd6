//! Reading structured fuzz input forward, and writing seeds that read back
//! the same: [`Input`] and [`Seed`] are mirror images.
//!
//! [`Input`] reads through [`arbitrary::Unstructured`], byte by byte: when the
//! data runs out every read yields zeros, so any input is a valid case.

use arbitrary::{Arbitrary, Unstructured};

/// 2^63: the largest sequence the protocol allows.
pub const TOP: u64 = 1 << 63;

/// Structured reads from fuzzer bytes.
pub struct Input<'a> {
    u: Unstructured<'a>,
}

impl<'a> Input<'a> {
    /// Reads from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            u: Unstructured::new(data),
        }
    }

    /// One byte (0 once the data is exhausted).
    pub fn byte(&mut self) -> u8 {
        u8::arbitrary(&mut self.u).unwrap_or(0)
    }

    /// `N` bytes.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte();
        }
        out
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// A `u64` biased towards the edges: a selector byte, then what it needs.
    pub fn edgy_u64(&mut self) -> u64 {
        match self.byte() % 12 {
            0 => 0,
            1 => 1,
            2 => TOP,
            3 => TOP - 1,
            4 => TOP + 1,
            5 => u64::MAX,
            6 => u64::MAX - 1,
            7 => u64::from(self.u32()),
            8 => self.u64(),
            _ => u64::from(self.byte()),
        }
    }

    /// A byte string: a length byte (at most `max`), then that many bytes.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = usize::from(self.byte()).min(max);
        let len = len.min(self.u.len());
        self.u.bytes(len).map(<[u8]>::to_vec).unwrap_or_default()
    }

    /// Everything left.
    pub fn rest(self) -> &'a [u8] {
        self.u.take_rest()
    }
}

/// Writes bytes that [`Input`] reads back as the same values.
#[derive(Default)]
pub struct Seed(pub Vec<u8>);

impl Seed {
    /// A new, empty seed.
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`Input::byte`].
    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.0.push(b);
        self
    }

    /// See [`Input::u16`].
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// See [`Input::u32`].
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// See [`Input::edgy_u64`]: picks the shortest form.
    pub fn edgy_u64(&mut self, v: u64) -> &mut Self {
        match v {
            0 => self.byte(0),
            1 => self.byte(1),
            TOP => self.byte(2),
            u64::MAX => self.byte(5),
            v if v <= 255 => self.byte(9).byte(v as u8),
            v if v <= u64::from(u32::MAX) => self.byte(7).u32(v as u32),
            v => {
                self.byte(8);
                self.0.extend_from_slice(&v.to_le_bytes());
                self
            }
        }
    }

    /// See [`Input::bytes`] (`data` must be at most 255 bytes).
    pub fn bytes(&mut self, data: &[u8]) -> &mut Self {
        assert!(data.len() <= 255, "seed byte string too long");
        self.byte(data.len() as u8);
        self.0.extend_from_slice(data);
        self
    }

    /// Raw bytes (for [`Input::rest`] or [`Input::array`]).
    pub fn raw(&mut self, data: &[u8]) -> &mut Self {
        self.0.extend_from_slice(data);
        self
    }

    /// The seed.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_read_back() {
        let values = [0, 1, 7, 255, 256, 70_000, TOP, u64::MAX, 1 << 40];
        let mut seed = Seed::new();
        for v in values {
            seed.edgy_u64(v).bytes(b"abc").u16(513);
        }
        seed.raw(b"tail");
        let data = seed.finish();
        let mut input = Input::new(&data);
        for v in values {
            assert_eq!(input.edgy_u64(), v);
            assert_eq!(input.bytes(255), b"abc");
            assert_eq!(input.u16(), 513);
        }
        assert_eq!(input.rest(), b"tail");
    }
}
