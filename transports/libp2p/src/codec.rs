//! The `/gossip/frames/1` request-response codec: a request is one frame,
//! `[length: u32 big-endian][bytes]`; the response is a one-byte
//! acknowledgement sent once the frame is in the receiver's inbound queue.
//!
//! The length is checked against the local maximum *before* anything is
//! allocated, and the body is read incrementally, so a peer can make us
//! allocate no more than it actually sends, and never more than
//! `max_frame_len`.

use std::{
    io,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

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

/// The frame codec; clones share the counter of refused frames.
#[derive(Debug, Clone)]
pub(crate) struct FrameCodec {
    max_frame_len: usize,
    oversized: Arc<AtomicU64>,
}

impl FrameCodec {
    pub(crate) fn new(max_frame_len: usize, oversized: Arc<AtomicU64>) -> Self {
        Self {
            max_frame_len,
            oversized,
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

/// Reads one length-prefixed frame of at most `max` bytes.
pub(crate) async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Result<Bytes, usize>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len > max {
        return Ok(Err(len));
    }
    let mut body = Vec::with_capacity(len.min(INITIAL_CAPACITY));
    let read = io.take(len as u64).read_to_end(&mut body).await?;
    if read != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame truncated after {read} of {len} bytes"),
        ));
    }
    Ok(Ok(Bytes::from(body)))
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Bytes;
    type Response = ();

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Bytes>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_frame(io, self.max_frame_len).await? {
            Ok(frame) => Ok(frame),
            Err(len) => {
                self.oversized.fetch_add(1, Ordering::Relaxed);
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "frame of {len} bytes exceeds the maximum of {} bytes",
                        self.max_frame_len
                    ),
                ))
            }
        }
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
        frame: Bytes,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &frame).await
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
            assert_eq!(read.unwrap(), Bytes::copy_from_slice(frame));
        }
    }

    #[test]
    fn a_frame_over_the_maximum_is_refused_before_reading_it() {
        // Only the prefix: announcing 4 GiB must not allocate or wait for them.
        let prefix = u32::MAX.to_be_bytes().to_vec();
        let read = block_on(read_frame(&mut Cursor::new(prefix), 100)).unwrap();
        assert_eq!(read, Err(u32::MAX as usize));
        let read = block_on(read_frame(&mut Cursor::new(wire(&[1u8; 101])), 100)).unwrap();
        assert_eq!(read, Err(101));
    }

    #[test]
    fn a_truncated_frame_is_an_error() {
        let mut bytes = wire(&[1u8; 10]);
        bytes.truncate(8);
        let error = block_on(read_frame(&mut Cursor::new(bytes), 100)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
