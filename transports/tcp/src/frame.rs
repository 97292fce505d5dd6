//! Length-prefixed framing: `[length: u32 big-endian][length bytes]`.
//!
//! The reader checks the announced length against its maximum *before*
//! allocating or reading anything more, so a peer cannot make it allocate
//! an attacker-chosen size.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes of the length prefix.
pub(crate) const LEN_PREFIX: usize = 4;

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection between frames.
    Eof,
    /// The peer closed the connection inside a frame (its length prefix or
    /// its body).
    Truncated,
    /// The peer announced a frame longer than the maximum; nothing was read
    /// past the length prefix and nothing was allocated for it.
    TooLarge {
        /// The announced length.
        len: u64,
        /// The maximum.
        max: usize,
    },
    /// Any other I/O failure.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            ReadError::Eof
        } else {
            ReadError::Io(error)
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Eof => f.write_str("connection closed by the peer"),
            ReadError::Truncated => f.write_str("the peer closed the connection inside a frame"),
            ReadError::TooLarge { len, max } => {
                write!(
                    f,
                    "peer announced a frame of {len} bytes, over the maximum of {max}"
                )
            }
            ReadError::Io(error) => write!(f, "read failed: {error}"),
        }
    }
}

/// Reads one frame of at most `max` bytes.
///
/// Not cancel-safe (a partly read frame is lost): callers only cancel it
/// when they drop the connection.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Bytes, ReadError> {
    let mut header = [0u8; LEN_PREFIX];
    let first = reader.read(&mut header).await?;
    if first == 0 {
        return Err(ReadError::Eof);
    }
    if let Some(rest) = header.get_mut(first..) {
        reader.read_exact(rest).await.map_err(truncated)?;
    }
    let len = u32::from_be_bytes(header);
    let Ok(len) = usize::try_from(len) else {
        return Err(ReadError::TooLarge {
            len: u64::from(len),
            max,
        });
    };
    if len > max {
        return Err(ReadError::TooLarge {
            len: len as u64,
            max,
        });
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await.map_err(truncated)?;
    Ok(Bytes::from(body))
}

/// An end of stream inside a frame is a truncated frame, not a clean close.
fn truncated(error: io::Error) -> ReadError {
    match ReadError::from(error) {
        ReadError::Eof => ReadError::Truncated,
        other => other,
    }
}

/// Writes one frame (prefix and body) into `writer` without flushing.
///
/// The caller has checked `frame.len()` against the limits; a frame that
/// does not fit a `u32` is refused here as a last line of defence.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(frame.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame length does not fit the u32 prefix",
        )
    })?;
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(frame).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn encode(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for frame in frames {
            write_frame(&mut out, frame).await.unwrap();
        }
        out
    }

    #[tokio::test]
    async fn frames_roundtrip_including_empty_and_max() {
        let max = 16;
        let wire = encode(&[b"", b"abc", &[9u8; 16]]).await;
        let mut reader = &wire[..];
        assert_eq!(read_frame(&mut reader, max).await.unwrap(), Bytes::new());
        assert_eq!(&read_frame(&mut reader, max).await.unwrap()[..], b"abc");
        assert_eq!(&read_frame(&mut reader, max).await.unwrap()[..], &[9u8; 16]);
        assert!(matches!(
            read_frame(&mut reader, max).await,
            Err(ReadError::Eof)
        ));
    }

    #[tokio::test]
    async fn oversized_length_is_refused_before_reading_the_body() {
        // Only the prefix is there: had the reader trusted the length and
        // tried to read the body, it would have reported EOF instead.
        let wire = u32::MAX.to_be_bytes();
        let mut reader = &wire[..];
        match read_frame(&mut reader, 1 << 20).await {
            Err(ReadError::TooLarge { len, max }) => {
                assert_eq!(len, u64::from(u32::MAX));
                assert_eq!(max, 1 << 20);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let wire = 17u32.to_be_bytes();
        assert!(matches!(
            read_frame(&mut &wire[..], 16).await,
            Err(ReadError::TooLarge { len: 17, max: 16 })
        ));
    }

    #[tokio::test]
    async fn a_close_between_frames_is_eof_and_inside_one_is_truncated() {
        let wire = encode(&[b"hello"]).await;
        assert!(matches!(
            read_frame(&mut &wire[..0], 64).await,
            Err(ReadError::Eof)
        ));
        for cut in 1..wire.len() {
            let mut reader = &wire[..cut];
            assert!(
                matches!(read_frame(&mut reader, 64).await, Err(ReadError::Truncated)),
                "cut at {cut}"
            );
        }
    }
}
