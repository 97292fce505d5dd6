//! [`BatchReader`]: the connection reader's side of a session. One read
//! takes whatever the socket has (up to a buffer), and every whole frame in
//! it is opened in place and handed out as a slice of that buffer: a burst
//! of small frames costs one system call and no copy per frame.
//!
//! The buffer follows the bytes that arrived, never an announced length: a
//! frame is buffered at most [`GROWTH_STEP`] (or as much again as arrived)
//! ahead of its bytes, as [`read_growing`](crate::frame::read_growing) does
//! for a single frame.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::session::{sealed_len, Opener};
use crate::frame::{ReadError, GROWTH_STEP, LEN_PREFIX};

/// Free room below which the buffer is grown before a read, so that reads
/// are never small.
const MIN_READ: usize = 4 * 1024;

/// Reads sealed frames in batches; see the [module docs](self).
pub(crate) struct BatchReader {
    opener: Opener,
    buf: BytesMut,
    /// A failure met after frames were already taken in the same call,
    /// returned by the next call (the stream cannot be read past it).
    failed: Option<ReadError>,
}

impl BatchReader {
    pub(crate) fn new(opener: Opener) -> Self {
        Self {
            opener,
            buf: BytesMut::new(),
            failed: None,
        }
    }

    /// The bytes allocated for frames being read.
    #[cfg(test)]
    pub(crate) fn buffered_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Reads until at least one whole frame has arrived, then opens every
    /// whole frame buffered, up to `limit` (at least one), each of at most
    /// `max` bytes of plaintext, appending them to `frames` in order.
    ///
    /// # Errors
    ///
    /// As [`Opener::read_frame`]: [`ReadError::Eof`] at a clean end between
    /// frames, [`ReadError::Truncated`] inside one, [`ReadError::TooLarge`],
    /// [`ReadError::Forged`], [`ReadError::Io`]. A failure found after some
    /// frames were taken is returned by the next call, and the frames
    /// before it are delivered first.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: bytes read stay buffered for the next call, and frames
    /// are opened only in the poll that returns them.
    pub(crate) async fn read_frames<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        max: usize,
        frames: &mut Vec<Bytes>,
        limit: usize,
    ) -> Result<(), ReadError> {
        if let Some(failure) = self.failed.take() {
            return Err(failure);
        }
        let start = frames.len();
        let limit = limit.max(1);
        loop {
            let wanted = match self.take_whole(max, frames, limit) {
                Ok(wanted) => wanted,
                Err(failure) if frames.len() > start => {
                    self.failed = Some(failure);
                    return Ok(());
                }
                Err(failure) => return Err(failure),
            };
            if frames.len() > start {
                return Ok(());
            }
            // Room to read ahead, and for what the frame being read still
            // lacks, at most one step (or as much again as arrived) ahead of
            // its bytes.
            let needed = wanted.min(GROWTH_STEP.max(self.buf.len()));
            if self.buf.capacity() - self.buf.len() < needed.max(MIN_READ) {
                self.buf.reserve(needed.max(GROWTH_STEP));
            }
            if reader.read_buf(&mut self.buf).await? == 0 {
                return Err(if self.buf.is_empty() {
                    ReadError::Eof
                } else {
                    ReadError::Truncated
                });
            }
        }
    }

    /// Opens the whole frames at the front of the buffer, up to `limit` in
    /// `frames`; returns how many more bytes the next frame needs.
    fn take_whole(
        &mut self,
        max: usize,
        frames: &mut Vec<Bytes>,
        limit: usize,
    ) -> Result<usize, ReadError> {
        while frames.len() < limit {
            let Some(header) = self.buf.first_chunk::<LEN_PREFIX>() else {
                return Ok(LEN_PREFIX - self.buf.len());
            };
            let total = LEN_PREFIX + sealed_len(*header, max)?;
            if self.buf.len() < total {
                return Ok(total - self.buf.len());
            }
            let mut frame = self.buf.split_to(total);
            frame.advance(LEN_PREFIX);
            let plain_len = self.opener.open_in_place(&mut frame)?;
            frame.truncate(plain_len);
            frames.push(frame.freeze());
        }
        Ok(0)
    }
}

impl std::fmt::Debug for BatchReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReader")
            .field("opener", &self.opener)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::secure::session::Sealer;

    fn sealed(frames: &[&[u8]]) -> Vec<u8> {
        let mut sealer = Sealer::new(&[7; 32]);
        let mut out = Vec::new();
        for frame in frames {
            sealer.seal(frame, &mut out).unwrap();
        }
        out
    }

    fn reader() -> BatchReader {
        BatchReader::new(Opener::new(&[7; 32]))
    }

    #[tokio::test]
    async fn a_burst_is_taken_in_one_call_within_the_limit_and_in_order() {
        let frames: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; usize::from(i) * 7]).collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let wire = sealed(&refs);
        let mut stream = &wire[..];
        let mut batch = reader();
        let mut got = Vec::new();
        batch
            .read_frames(&mut stream, 64, &mut got, 4)
            .await
            .unwrap();
        assert_eq!(got.len(), 4, "the limit holds");
        batch
            .read_frames(&mut stream, 64, &mut got, 64)
            .await
            .unwrap();
        assert_eq!(got.len(), 10, "the rest came from what was buffered");
        assert_eq!(got, frames);
        assert!(matches!(
            batch.read_frames(&mut stream, 64, &mut got, 64).await,
            Err(ReadError::Eof)
        ));
    }

    #[tokio::test]
    async fn frames_before_a_bad_one_are_delivered_then_the_failure() {
        let mut wire = sealed(&[b"one", b"two", b"three"]);
        let third = wire.len() - (LEN_PREFIX + 5 + 16);
        wire[third + LEN_PREFIX] ^= 1; // the third frame's ciphertext
        let mut stream = &wire[..];
        let mut batch = reader();
        let mut got = Vec::new();
        batch
            .read_frames(&mut stream, 64, &mut got, 64)
            .await
            .unwrap();
        assert_eq!(got, vec![&b"one"[..], &b"two"[..]]);
        assert!(matches!(
            batch.read_frames(&mut stream, 64, &mut got, 64).await,
            Err(ReadError::Forged)
        ));
    }

    #[tokio::test]
    async fn lengths_are_checked_and_cuts_are_truncations() {
        let wire = u32::MAX.to_be_bytes();
        let mut got = Vec::new();
        assert!(matches!(
            reader().read_frames(&mut &wire[..], 1 << 20, &mut got, 8).await,
            Err(ReadError::TooLarge { max, .. }) if max == 1 << 20
        ));
        let wire = sealed(&[&[1u8; 65]]);
        assert!(matches!(
            reader().read_frames(&mut &wire[..], 64, &mut got, 8).await,
            Err(ReadError::TooLarge { len: 65, max: 64 })
        ));
        for cut in 1..wire.len() {
            assert!(matches!(
                reader()
                    .read_frames(&mut &wire[..cut], 128, &mut got, 8)
                    .await,
                Err(ReadError::Truncated)
            ));
        }
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn a_frame_announced_large_and_sent_slowly_is_not_allocated_up_front() {
        let wire = sealed(&[&[3u8; 1 << 20]]);
        let (mut peer, mut stream) = tokio::io::duplex(2 << 20);
        peer.write_all(&wire[..LEN_PREFIX + 3]).await.unwrap();
        let mut batch = reader();
        let mut got = Vec::new();
        {
            let read = batch.read_frames(&mut stream, 1 << 20, &mut got, 8);
            tokio::pin!(read);
            for _ in 0..2 {
                tokio::select! {
                    biased;
                    done = &mut read => panic!("read a frame from 3 bytes: {done:?}"),
                    () = tokio::task::yield_now() => {}
                }
            }
        }
        assert!(
            batch.buffered_capacity() <= 2 * GROWTH_STEP,
            "{} bytes allocated for 7 that arrived",
            batch.buffered_capacity()
        );
        // The rest arrives: the frame opens, whole.
        peer.write_all(&wire[LEN_PREFIX + 3..]).await.unwrap();
        batch
            .read_frames(&mut stream, 1 << 20, &mut got, 8)
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].len() == 1 << 20 && got[0].iter().all(|&b| b == 3));
    }
}
