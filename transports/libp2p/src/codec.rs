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

use bytes::Bytes;
use libp2p::{
    futures::{io, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    StreamProtocol,
};

/// The protocol name of gossip frames: one long-lived substream per peer and
/// direction carrying length-prefixed frames (version 1 was one
/// request-response exchange per frame).
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/gossip/frames/2");

/// The byte a receiver writes back for each frame it refuses.
pub(crate) const REFUSED: u8 = 1;

/// How much of a frame is allocated before its bytes arrive.
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

/// Writes `frame` with its length prefix (not flushed: the caller batches).
pub(crate) async fn write_frame<T>(io: &mut T, frame: &[u8]) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len = u32::try_from(frame.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame longer than u32::MAX"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(frame).await
}

/// Reads one length-prefixed frame of at most `max` bytes. A frame over
/// `max` (refused before its body is read: see [`skip`]) or cut short is a
/// [`BadFrame`]; a substream that fails or ends before the length prefix is
/// an I/O error.
pub(crate) async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Result<Bytes, BadFrame>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len > max {
        return Ok(Err(BadFrame::TooLarge { len, max }));
    }
    let mut body = Vec::with_capacity(len.min(INITIAL_CAPACITY));
    let read = io.take(len as u64).read_to_end(&mut body).await?;
    if read != len {
        return Ok(Err(BadFrame::Truncated { read, len }));
    }
    Ok(Ok(Bytes::from(body)))
}

/// Reads and discards the `len`-byte body of a refused frame, without
/// buffering it, so that the frames after it can still be read. A substream
/// that ends first is [`BadFrame::Truncated`].
pub(crate) async fn skip<T>(io: &mut T, len: usize) -> io::Result<Result<(), BadFrame>>
where
    T: AsyncRead + Unpin + Send,
{
    let read = io::copy(io.take(len as u64), &mut io::sink()).await?;
    let read = usize::try_from(read).unwrap_or(usize::MAX);
    if read != len {
        return Ok(Err(BadFrame::Truncated { read, len }));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use libp2p::futures::{executor::block_on, io::Cursor};

    use super::*;

    fn wire(frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        block_on(write_frame(&mut Cursor::new(&mut out), frame)).unwrap();
        out
    }

    #[test]
    fn frames_roundtrip_including_empty() {
        for frame in [&b""[..], b"x", &[0xffu8; 1000]] {
            let bytes = wire(frame);
            assert_eq!(bytes.len(), 4 + frame.len());
            let read = block_on(read_frame(&mut Cursor::new(bytes), 1000)).unwrap();
            assert_eq!(read, Ok(Bytes::copy_from_slice(frame)));
        }
    }

    #[test]
    fn a_frame_over_the_maximum_is_refused_before_reading_it() {
        // Only the prefix: announcing 4 GiB must not allocate or wait for them.
        let prefix = u32::MAX.to_be_bytes().to_vec();
        let read = block_on(read_frame(&mut Cursor::new(prefix), 100)).unwrap();
        assert_eq!(
            read,
            Err(BadFrame::TooLarge {
                len: u32::MAX as usize,
                max: 100
            })
        );
        let read = block_on(read_frame(&mut Cursor::new(wire(&[1u8; 101])), 100)).unwrap();
        assert_eq!(read, Err(BadFrame::TooLarge { len: 101, max: 100 }));
    }

    #[test]
    fn a_truncated_frame_is_refused_and_one_without_its_prefix_is_an_error() {
        let mut bytes = wire(&[1u8; 10]);
        bytes.truncate(8);
        let read = block_on(read_frame(&mut Cursor::new(bytes), 100)).unwrap();
        let bad = read.unwrap_err();
        assert_eq!(bad, BadFrame::Truncated { read: 4, len: 10 });
        assert_eq!(bad.to_string(), "frame truncated after 4 of 10 bytes");
        let error = block_on(read_frame(&mut Cursor::new(vec![0u8, 0]), 100)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_skipped_body_leaves_the_next_frame_readable() {
        let mut bytes = wire(&[1u8; 200]);
        bytes.extend(wire(b"next"));
        let mut io = Cursor::new(bytes);
        let read = block_on(read_frame(&mut io, 100)).unwrap();
        assert_eq!(read, Err(BadFrame::TooLarge { len: 200, max: 100 }));
        block_on(skip(&mut io, 200)).unwrap().unwrap();
        let next = block_on(read_frame(&mut io, 100)).unwrap();
        assert_eq!(next, Ok(Bytes::from_static(b"next")));
        let short = block_on(skip(&mut Cursor::new(vec![0u8; 3]), 10)).unwrap();
        assert_eq!(short, Err(BadFrame::Truncated { read: 3, len: 10 }));
    }
}
