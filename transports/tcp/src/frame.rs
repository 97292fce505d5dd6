//! Length-prefixed framing on the wire: `[length: u32 big-endian][length
//! bytes]`, and why reading a frame fails. Frames are sealed and opened by
//! [`session`](crate::secure::session).

use std::io;

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
    /// The frame failed authentication: altered, replayed, reordered, or
    /// not sealed under this session's key. The connection is closed.
    Forged,
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
            ReadError::Forged => f.write_str("a frame failed authentication (altered or replayed)"),
            ReadError::Io(error) => write!(f, "read failed: {error}"),
        }
    }
}
