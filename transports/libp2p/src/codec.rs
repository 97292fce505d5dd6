//! The `/gossip/frames/1` request-response codec: a request is one frame,
//! `[length: u32 big-endian][bytes]`; the response is a one-byte
//! acknowledgement sent once the frame is in the receiver's inbound queue.
//!
//! The length is checked against the local maximum *before* anything is
//! allocated, and the body is read incrementally, so a peer can make us
//! allocate no more than it actually sends, and never more than
//! `max_frame_len`.

use std::{fmt, io};

use bytes::Bytes;
use libp2p::{
    futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    request_response, StreamProtocol,
};

/// The protocol name of gossip frames.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/gossip/frames/1");

/// The acknowledgement byte.
const ACK: u8 = 0;

/// How much of a frame is allocated before its bytes arrive.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// The frame codec.
#[derive(Debug, Clone)]
pub(crate) struct FrameCodec {
    max_frame_len: usize,
}

impl FrameCodec {
    pub(crate) fn new(max_frame_len: usize) -> Self {
        Self { max_frame_len }
    }
}

/// What a `/gossip/frames/1` request carries. A frame the codec refuses is
/// still handed to the swarm task, as [`Request::Refused`], so that it is
/// reported with the peer it came from (libp2p only logs a failed read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// A frame.
    Frame(Bytes),
    /// Received only: a frame refused, and why. It is never acknowledged.
    Refused(BadFrame),
}

/// Why an inbound frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadFrame {
    /// The length prefix announced more than the local maximum; nothing was
    /// allocated for it.
    TooLarge { len: usize, max: usize },
    /// The substream ended inside the frame's body.
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

/// Writes `frame` with its length prefix.
pub(crate) async fn write_frame<T>(io: &mut T, frame: &[u8]) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len = u32::try_from(frame.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame longer than u32::MAX"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(frame).await?;
    io.flush().await
}

/// Reads one length-prefixed frame of at most `max` bytes. A frame over
/// `max` (refused before its body is read) or cut short is a [`BadFrame`];
/// a substream that fails or ends before the length prefix is an I/O error.
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

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = ();

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        Ok(match read_frame(io, self.max_frame_len).await? {
            Ok(frame) => Request::Frame(frame),
            Err(bad) => Request::Refused(bad),
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut ack = [0u8; 1];
        io.read_exact(&mut ack).await?;
        if ack == [ACK] {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unknown acknowledgement",
            ))
        }
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match request {
            Request::Frame(frame) => write_frame(io, &frame).await,
            Request::Refused(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a refused frame is never sent",
            )),
        }
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, (): ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&[ACK]).await?;
        io.flush().await
    }
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
}
