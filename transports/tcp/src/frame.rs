//! Length-prefixed framing on the wire: `[length: u32 big-endian][length
//! bytes]`, why reading a frame fails, and [`read_growing`], which reads an
//! announced length without trusting it. Frames are sealed and opened by
//! [`session`](crate::secure::session).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of the length prefix.
pub(crate) const LEN_PREFIX: usize = 4;

/// How far a frame's buffer may run ahead of the bytes that have arrived:
/// 64 KiB, or as much again as has arrived (so growing a large frame copies
/// it O(1) times per byte), never past the announced length.
pub(crate) const GROWTH_STEP: usize = 64 * 1024;

/// Reads exactly `len` announced bytes into `buf` (cleared first), growing
/// it as they arrive: its capacity stays within `max(step, 2 × arrived) +
/// arrived` and never exceeds `len`. A peer announcing a large message and
/// sending little makes us allocate little; one that sends it all costs what
/// it sent.
///
/// The caller checks `len` against its maximum first. Bytes read before an
/// error stay in `buf` (so a caller may look at what arrived).
///
/// # Errors
///
/// [`io::ErrorKind::UnexpectedEof`] when the stream ends first, or the
/// reader's error.
pub(crate) async fn read_growing<R: AsyncRead + Unpin>(
    reader: &mut R,
    len: usize,
    step: usize,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    buf.clear();
    let step = step.max(1);
    let mut filled = 0;
    while filled < len {
        if filled == buf.len() {
            let ahead = step.max(filled);
            let target = len.min(filled.saturating_add(ahead));
            // Exactly `target`: `resize` alone would round up to twice the
            // current capacity, possibly past `len`.
            buf.reserve_exact(target - buf.len());
            buf.resize(target, 0);
        }
        let Some(free) = buf.get_mut(filled..) else {
            break;
        };
        let read = reader.read(free).await?;
        if read == 0 {
            buf.truncate(filled);
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += read;
    }
    buf.truncate(filled);
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use tokio::io::{duplex, AsyncWriteExt};

    use super::*;

    /// Polls `read` until it waits for bytes that are not coming (never
    /// on a timer: `yield_now` is ready on its second poll).
    async fn until_stalled<F: std::future::Future<Output = io::Result<()>>>(read: F) {
        tokio::pin!(read);
        for _ in 0..2 {
            tokio::select! {
                biased;
                done = &mut read => panic!("the read completed: {done:?}"),
                () = tokio::task::yield_now() => {}
            }
        }
    }

    #[tokio::test]
    async fn an_announced_length_is_not_allocated_before_its_bytes_arrive() {
        let (mut peer, mut reader) = duplex(1 << 20);
        peer.write_all(b"abc").await.unwrap();
        let mut buf = Vec::new();
        until_stalled(read_growing(&mut reader, 1 << 20, GROWTH_STEP, &mut buf)).await;
        assert!(
            buf.capacity() <= GROWTH_STEP,
            "{} bytes allocated",
            buf.capacity()
        );
        assert_eq!(buf.get(..3), Some(&b"abc"[..]), "what arrived was read");

        // 200 KiB of 1 MiB: the buffer follows the bytes, not the announcement.
        let (mut peer, mut reader) = duplex(1 << 20);
        peer.write_all(&[5u8; 200 * 1024]).await.unwrap();
        let mut buf = Vec::new();
        until_stalled(read_growing(&mut reader, 1 << 20, GROWTH_STEP, &mut buf)).await;
        assert!(
            buf.capacity() <= 2 * 200 * 1024 + GROWTH_STEP && buf.capacity() < 1 << 20,
            "{} bytes allocated",
            buf.capacity()
        );
    }

    #[tokio::test]
    async fn every_announced_byte_is_read_across_growth_steps() {
        let len = 300 * 1024 + 7;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (mut peer, mut reader) = duplex(4096);
        let writing = async {
            peer.write_all(&data).await.unwrap();
            peer.write_all(b"next").await.unwrap();
        };
        let mut buf = Vec::new();
        let (read, ()) = tokio::join!(read_growing(&mut reader, len, 1000, &mut buf), writing);
        read.unwrap();
        assert_eq!(buf, data);
        assert_eq!(buf.capacity(), len, "never past the announced length");
        // Nothing past the announced length was consumed.
        let mut next = [0u8; 4];
        reader.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"next");
    }

    #[tokio::test]
    async fn a_stream_ending_early_is_unexpected_eof_and_keeps_what_arrived() {
        let mut buf = Vec::new();
        let failure = read_growing(&mut &b"ab"[..], 10, 4, &mut buf)
            .await
            .unwrap_err();
        assert_eq!(failure.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(buf, b"ab");
        read_growing(&mut &b""[..], 0, 4, &mut buf).await.unwrap();
        assert!(buf.is_empty());
    }
}
