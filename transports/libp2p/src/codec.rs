//! The `/gossip/frames/2` wire format: on a long-lived substream, frames
//! follow each other as `[length: u32 big-endian][bytes]`, with no
//! acknowledgement. The receiver answers on the same substream only when it
//! refuses a frame: one [`REFUSED`] byte per refused frame, so the sender can
//! count it as failed.
//!
//! The length is checked against the local maximum *before* anything is
//! allocated, and the body is read incrementally, so a peer can make us
//! allocate no more than it actually sends, and never more than
//! `max_frame_len`.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use libp2p::{
    futures::{io, AsyncRead, AsyncReadExt},
    StreamProtocol,
};

/// The protocol name of gossip frames: one long-lived substream per peer and
/// direction carrying length-prefixed frames (version 1 was one
/// request-response exchange per frame).
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/gossip/frames/2");

/// The byte a receiver writes back for each frame it refuses.
pub(crate) const REFUSED: u8 = 1;

/// How much of a frame is allocated before its bytes arrive, and the size
/// of a read.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// Why an inbound frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadFrame {
    /// The length prefix announced more than the local maximum; nothing was
    /// allocated for it.
    TooLarge { len: usize, max: usize },
    /// The substream ended inside the frame's body (or inside the body of
    /// an oversized frame being skipped).
    Truncated { read: usize, len: usize },
}

impl fmt::Display for BadFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadFrame::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max} bytes")
            }
            BadFrame::Truncated { read, len } => {
                write!(f, "frame truncated after {read} of {len} bytes")
            }
        }
    }
}

/// Appends `frame` with its length prefix to `out` (the writer sends a
/// whole batch in one write).
pub(crate) fn encode_frame(frame: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let len = u32::try_from(frame.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame longer than u32::MAX"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(frame);
    Ok(())
}

/// Size of the length prefix.
const LEN_PREFIX: usize = 4;

/// What [`FrameDecoder::next_frame`] found at the front of its buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A whole frame (a slice of the read buffer, not copied).
    Frame(Bytes),
    /// A frame over the maximum, refused; its body is being skipped.
    Refused(BadFrame),
    /// No whole frame buffered: read more.
    Incomplete,
}

/// Splits the frames of a substream out of what was read: each read takes
/// whatever the substream has (up to a buffer), and every whole frame in it
/// is handed out as a slice of that buffer, with no allocation per frame.
///
/// The buffer follows the bytes that arrived, never an announced length: it
/// grows by at most [`INITIAL_CAPACITY`] (or as much again as is buffered)
/// ahead of the bytes, so a peer can make us allocate no more than about
/// twice what it actually sent, and never much more than `max_frame_len`.
#[derive(Debug, Default)]
pub(crate) struct FrameDecoder {
    buf: BytesMut,
    /// The body of a refused frame being discarded: (bytes skipped, length).
    skipping: Option<(usize, usize)>,
    /// Where a read of one step lands (allocated by the first read).
    scratch: Box<[u8]>,
}

impl FrameDecoder {
    /// The next frame of at most `max` bytes buffered, if any.
    pub(crate) fn next_frame(&mut self, max: usize) -> Decoded {
        if let Some((skipped, len)) = self.skipping {
            let n = (len - skipped).min(self.buf.len());
            self.buf.advance(n);
            if skipped + n < len {
                self.skipping = Some((skipped + n, len));
                return Decoded::Incomplete;
            }
            self.skipping = None;
        }
        let Some(prefix) = self.buf.first_chunk::<LEN_PREFIX>() else {
            return Decoded::Incomplete;
        };
        let len = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
        if len > max {
            self.buf.advance(LEN_PREFIX);
            self.skipping = Some((0, len));
            return Decoded::Refused(BadFrame::TooLarge { len, max });
        }
        if self.buf.len() < LEN_PREFIX + len {
            return Decoded::Incomplete;
        }
        let mut frame = self.buf.split_to(LEN_PREFIX + len);
        frame.advance(LEN_PREFIX);
        Decoded::Frame(frame.freeze())
    }

    /// Reads what `io` has into the buffer; the number of bytes read (0 at
    /// the end of the substream).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: bytes read by a dropped call are lost.
    pub(crate) async fn read_more<T>(&mut self, io: &mut T) -> io::Result<usize>
    where
        T: AsyncRead + Unpin + Send,
    {
        let wanted = match (self.skipping, self.buf.first_chunk::<LEN_PREFIX>()) {
            // Skipping: the body is not kept, a step at a time.
            (Some(_), _) => INITIAL_CAPACITY,
            (None, Some(prefix)) => {
                let len = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
                (LEN_PREFIX + len).saturating_sub(self.buf.len())
            }
            (None, None) => LEN_PREFIX,
        };
        // A read of one step, or of what the frame being read lacks, at
        // most as much again as arrived.
        let room = wanted
            .min(INITIAL_CAPACITY.max(self.buf.len()))
            .max(INITIAL_CAPACITY);
        if self.scratch.is_empty() {
            self.scratch = vec![0; INITIAL_CAPACITY].into_boxed_slice();
        }
        if let Some(scratch) = self.scratch.get_mut(..room) {
            // The usual read: into the scratch buffer (zeroed once), then
            // copied after what is buffered; cheaper than zeroing room in
            // the buffer for every read.
            let n = io.read(scratch).await?;
            self.buf
                .extend_from_slice(scratch.get(..n).unwrap_or_default());
            return Ok(n);
        }
        // A large frame: straight into the buffer.
        let filled = self.buf.len();
        self.buf.resize(filled + room, 0);
        let read = match self.buf.get_mut(filled..) {
            Some(free) => io.read(free).await,
            None => Ok(0),
        };
        let n = *read.as_ref().unwrap_or(&0);
        self.buf.truncate(filled + n);
        read
    }

    /// Why the substream's end came too early: `None` at a clean end
    /// between frames (or inside a length prefix), the frame cut short
    /// otherwise.
    pub(crate) fn at_end(&self) -> Option<BadFrame> {
        if let Some((read, len)) = self.skipping {
            return Some(BadFrame::Truncated { read, len });
        }
        let prefix = self.buf.first_chunk::<LEN_PREFIX>()?;
        let len = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
        Some(BadFrame::Truncated {
            read: self.buf.len() - LEN_PREFIX,
            len,
        })
    }

    /// The bytes allocated for the buffer.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use libp2p::futures::executor::block_on;

    use super::*;

    fn wire(frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(frame, &mut out).unwrap();
        out
    }

    /// Decodes all of `bytes`, read `step` bytes at a time.
    fn decode(bytes: &[u8], step: usize, max: usize) -> (Vec<Decoded>, Option<BadFrame>) {
        let mut decoder = FrameDecoder::default();
        let mut out = Vec::new();
        for chunk in bytes.chunks(step) {
            let mut io = chunk;
            while !io.is_empty() {
                block_on(decoder.read_more(&mut io)).unwrap();
            }
            loop {
                match decoder.next_frame(max) {
                    Decoded::Incomplete => break,
                    other => out.push(other),
                }
            }
        }
        (out, decoder.at_end())
    }

    #[test]
    fn frames_roundtrip_including_empty_whatever_the_reads() {
        let frames: Vec<&[u8]> = vec![b"", b"x", &[0xffu8; 1000]];
        let bytes: Vec<u8> = frames.iter().flat_map(|frame| wire(frame)).collect();
        assert_eq!(bytes.len(), 3 * 4 + 1001);
        for step in [1, 3, 7, 1000, 5000] {
            let (got, end) = decode(&bytes, step, 1000);
            let expected: Vec<Decoded> = frames
                .iter()
                .map(|frame| Decoded::Frame(Bytes::copy_from_slice(frame)))
                .collect();
            assert_eq!(got, expected, "step {step}");
            assert_eq!(end, None);
        }
    }

    #[test]
    fn a_frame_over_the_maximum_is_refused_before_reading_it() {
        // Only the prefix: announcing 4 GiB must not allocate or wait for them.
        let prefix = u32::MAX.to_be_bytes().to_vec();
        let mut decoder = FrameDecoder::default();
        block_on(decoder.read_more(&mut &prefix[..])).unwrap();
        assert_eq!(
            decoder.next_frame(100),
            Decoded::Refused(BadFrame::TooLarge {
                len: u32::MAX as usize,
                max: 100
            })
        );
        assert!(decoder.capacity() <= 2 * INITIAL_CAPACITY);
        let (got, _) = decode(&wire(&[1u8; 101]), 1000, 100);
        assert_eq!(
            got,
            vec![Decoded::Refused(BadFrame::TooLarge { len: 101, max: 100 })]
        );
    }

    #[test]
    fn the_buffer_grows_with_the_bytes_that_arrived() {
        // A 1 MiB frame announced, 10 bytes sent.
        let mut bytes = (1u32 << 20).to_be_bytes().to_vec();
        bytes.extend([0u8; 10]);
        let mut decoder = FrameDecoder::default();
        let mut io = &bytes[..];
        while !io.is_empty() {
            block_on(decoder.read_more(&mut io)).unwrap();
        }
        assert_eq!(decoder.next_frame(1 << 20), Decoded::Incomplete);
        assert!(decoder.capacity() <= 2 * INITIAL_CAPACITY);
    }

    #[test]
    fn a_truncated_frame_is_refused_and_one_without_its_prefix_is_a_clean_end() {
        let mut bytes = wire(&[1u8; 10]);
        bytes.truncate(8);
        let (got, end) = decode(&bytes, 1000, 100);
        assert!(got.is_empty());
        let bad = end.unwrap();
        assert_eq!(bad, BadFrame::Truncated { read: 4, len: 10 });
        assert_eq!(bad.to_string(), "frame truncated after 4 of 10 bytes");
        assert_eq!(decode(&[0u8, 0], 1000, 100).1, None);
    }

    #[test]
    fn a_skipped_body_leaves_the_next_frame_readable() {
        let mut bytes = wire(&[1u8; 200]);
        bytes.extend(wire(b"next"));
        for step in [1, 50, 1000] {
            let (got, end) = decode(&bytes, step, 100);
            assert_eq!(
                got,
                vec![
                    Decoded::Refused(BadFrame::TooLarge { len: 200, max: 100 }),
                    Decoded::Frame(Bytes::from_static(b"next")),
                ]
            );
            assert_eq!(end, None);
        }
        let mut short = 10u32.to_be_bytes().to_vec();
        short.extend([0u8; 3]);
        let (_, end) = decode(&short, 1000, 5);
        assert_eq!(end, Some(BadFrame::Truncated { read: 3, len: 10 }));
    }
}
