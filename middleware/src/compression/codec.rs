//! The compressed frame format: `[flag: u8][body]`, and the codecs.

use crate::Error;

/// Flag of a frame sent as is.
pub(crate) const STORED: u8 = 0;
/// Flag of an lz4 block with its size prepended (`lz4_flex`'s format).
pub(crate) const LZ4: u8 = 1;
/// Flag of a zstd frame (its header declares the content size).
#[cfg(feature = "compression-zstd")]
pub(crate) const ZSTD: u8 = 2;

/// The algorithm a [`CompressionLayer`](super::CompressionLayer) sends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Lz4,
    #[cfg(feature = "compression-zstd")]
    Zstd(i32),
}

impl Algorithm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Lz4 => "lz4",
            #[cfg(feature = "compression-zstd")]
            Algorithm::Zstd(_) => "zstd",
        }
    }

    /// The compressed body and its flag, or `None` when compressing failed.
    fn compress(self, frame: &[u8]) -> Option<(u8, Vec<u8>)> {
        match self {
            Algorithm::Lz4 => Some((LZ4, lz4_flex::block::compress_prepend_size(frame))),
            #[cfg(feature = "compression-zstd")]
            Algorithm::Zstd(level) => zstd::bulk::compress(frame, level)
                .ok()
                .map(|body| (ZSTD, body)),
        }
    }
}

/// Encodes `frame`: stored when shorter than `threshold` or when compressing
/// does not make it smaller, so the result is at most one byte longer.
pub(crate) fn encode(algorithm: Algorithm, threshold: usize, frame: &[u8]) -> Vec<u8> {
    if frame.len() >= threshold {
        if let Some((flag, body)) = algorithm.compress(frame) {
            if body.len() < frame.len() {
                let mut out = Vec::with_capacity(1 + body.len());
                out.push(flag);
                out.extend_from_slice(&body);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(1 + frame.len());
    out.push(STORED);
    out.extend_from_slice(frame);
    out
}

/// What [`decode`] produced: the frame is either a slice of the input
/// (stored) or a new buffer (decompressed).
pub(crate) enum Decoded<'a> {
    Stored(&'a [u8]),
    Decompressed(Vec<u8>),
}

/// Decodes a frame, refusing before any allocation to produce more than `max` bytes.
pub(crate) fn decode(frame: &[u8], max: usize) -> Result<Decoded<'_>, Error> {
    let (&flag, body) = frame.split_first().ok_or(Error::Truncated {
        layer: "compression",
        len: 0,
        needed: 1,
    })?;
    match flag {
        STORED => {
            if body.len() > max {
                return Err(Error::DecompressedTooLarge {
                    declared: body.len(),
                    max,
                });
            }
            Ok(Decoded::Stored(body))
        }
        LZ4 => decode_lz4(body, max).map(Decoded::Decompressed),
        #[cfg(feature = "compression-zstd")]
        ZSTD => decode_zstd(body, max).map(Decoded::Decompressed),
        other => Err(Error::UnknownCompression(other)),
    }
}

fn decode_lz4(body: &[u8], max: usize) -> Result<Vec<u8>, Error> {
    let declared = body
        .first_chunk::<4>()
        .map(|size| u32::from_le_bytes(*size))
        .ok_or(Error::Truncated {
            layer: "compression",
            len: body.len() + 1,
            needed: 5,
        })?;
    let declared = usize::try_from(declared).unwrap_or(usize::MAX);
    if declared > max {
        return Err(Error::DecompressedTooLarge { declared, max });
    }
    // The declared size is bounded: lz4_flex allocates exactly that much and
    // fails if the block would produce more or less.
    lz4_flex::block::decompress_size_prepended(body).map_err(|e| Error::Corrupt(e.to_string()))
}

#[cfg(feature = "compression-zstd")]
fn decode_zstd(body: &[u8], max: usize) -> Result<Vec<u8>, Error> {
    let declared = match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(size)) => usize::try_from(size).unwrap_or(usize::MAX),
        Ok(None) => return Err(Error::Corrupt("zstd frame without a content size".into())),
        Err(_) => return Err(Error::Corrupt("not a zstd frame".into())),
    };
    if declared > max {
        return Err(Error::DecompressedTooLarge { declared, max });
    }
    // Capacity is the (bounded) declared size: decompressing more fails.
    let out = zstd::bulk::decompress(body, declared).map_err(|e| Error::Corrupt(e.to_string()))?;
    if out.len() != declared {
        return Err(Error::Corrupt(format!(
            "zstd frame declared {declared} bytes but produced {}",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(algorithm: Algorithm, frame: &[u8]) -> Vec<u8> {
        let encoded = encode(algorithm, 16, frame);
        assert!(
            encoded.len() <= frame.len() + 1,
            "never inflates beyond the flag"
        );
        match decode(&encoded, 1 << 20).unwrap() {
            Decoded::Stored(f) => f.to_vec(),
            Decoded::Decompressed(f) => f,
        }
    }

    #[test]
    fn lz4_roundtrips_and_compresses() {
        let frame = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(20);
        let encoded = encode(Algorithm::Lz4, 16, &frame);
        assert_eq!(encoded[0], LZ4);
        assert!(encoded.len() < frame.len() / 4);
        assert_eq!(roundtrip(Algorithm::Lz4, &frame), frame);
        assert_eq!(roundtrip(Algorithm::Lz4, b""), b"");
    }

    #[cfg(feature = "compression-zstd")]
    #[test]
    fn zstd_roundtrips_and_compresses() {
        let frame = b"hello gossip ".repeat(100);
        let encoded = encode(Algorithm::Zstd(3), 16, &frame);
        assert_eq!(encoded[0], ZSTD);
        assert_eq!(roundtrip(Algorithm::Zstd(3), &frame), frame);
    }

    #[test]
    fn lz4_declared_size_over_max_is_refused() {
        let mut bomb = vec![LZ4];
        bomb.extend_from_slice(&u32::MAX.to_le_bytes());
        bomb.extend_from_slice(&[0x1F, 0, 1, 0]);
        assert!(matches!(
            decode(&bomb, 1024),
            Err(Error::DecompressedTooLarge { declared, max: 1024 }) if declared == u32::MAX as usize
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for frame in [
            &[LZ4][..],
            &[LZ4, 1, 0, 0, 0, 0xFF],
            &[9, 1, 2],
            &[],
            &[2, 1, 2, 3],
        ] {
            assert!(decode(frame, 1024).is_err(), "{frame:?}");
        }
    }
}
