//! Frames sealed under a session's keys: `[length: u32 big-endian]
//! [ciphertext and 16-byte tag]`, AES-256-GCM (ring) with the frame's
//! counter as nonce, one key and counter per direction.
//!
//! The keys come from the Noise handshake ([`handshake`](super::handshake)),
//! so they are fresh for every connection (forward secrecy) and a frame
//! recorded on one connection opens on no other. The counters make every
//! frame open once, in order: a replayed, reordered, dropped or altered frame
//! fails authentication, and the connection is closed. The reader checks the
//! announced length against its maximum, then grows the frame's buffer as
//! its bytes arrive ([`read_growing`]): an announced length costs nothing
//! until it is sent.

use std::io;

use bytes::Bytes;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::frame::{read_growing, ReadError, GROWTH_STEP, LEN_PREFIX};

/// Bytes the tag adds to each frame.
pub(crate) const TAG_LEN: usize = 16;

fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    let (_, tail) = bytes.split_at_mut(NONCE_LEN - 8);
    tail.copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

fn key(bytes: &[u8; 32]) -> LessSafeKey {
    // AES-256 takes any 32 bytes.
    match UnboundKey::new(&AES_256_GCM, bytes) {
        Ok(key) => LessSafeKey::new(key),
        Err(_) => unreachable!("a 32-byte key is refused by AES-256-GCM"),
    }
}

/// The sending half of a session.
pub(crate) struct Sealer {
    key: LessSafeKey,
    counter: u64,
}

impl Sealer {
    pub(crate) fn new(key_bytes: &[u8; 32]) -> Self {
        Self {
            key: key(key_bytes),
            counter: 0,
        }
    }

    /// Appends `frame`, sealed and length-prefixed, to `out`.
    ///
    /// # Errors
    ///
    /// When the frame does not fit the length prefix, or the session has
    /// sealed 2^64 frames (the connection must end: a nonce is never reused).
    pub(crate) fn seal(&mut self, frame: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let sealed_len = frame.len() + TAG_LEN;
        let len = u32::try_from(sealed_len).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame too long for the length prefix",
            )
        })?;
        let counter = self.counter;
        self.counter = counter
            .checked_add(1)
            .ok_or_else(|| io::Error::other("session exhausted: 2^64 frames sealed"))?;
        out.reserve(LEN_PREFIX + sealed_len);
        out.extend_from_slice(&len.to_be_bytes());
        let start = out.len();
        out.extend_from_slice(frame);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce(counter),
                Aad::empty(),
                out.get_mut(start..).unwrap_or_default(),
            )
            .map_err(|_| io::Error::other("sealing failed"))?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }
}

/// The receiving half of a session.
pub(crate) struct Opener {
    key: LessSafeKey,
    counter: u64,
    /// The frame being read: grown as its bytes arrive, handed out whole.
    body: Vec<u8>,
}

impl Opener {
    pub(crate) fn new(key_bytes: &[u8; 32]) -> Self {
        Self {
            key: key(key_bytes),
            counter: 0,
            body: Vec::new(),
        }
    }

    /// The bytes allocated for the frame being read.
    #[cfg(test)]
    pub(crate) fn body_capacity(&self) -> usize {
        self.body.capacity()
    }

    /// Reads and opens the next frame of at most `max` bytes (plaintext).
    /// The frame's buffer grows as its bytes arrive, at most
    /// [`GROWTH_STEP`] (or as much again as arrived) ahead of them.
    ///
    /// Not cancel-safe (a partly read frame is lost): callers only cancel it
    /// when they drop the connection.
    pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
        &mut self,
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
        let len = sealed_len(header, max)?;
        read_growing(reader, len, GROWTH_STEP, &mut self.body)
            .await
            .map_err(truncated)?;
        let mut body = std::mem::take(&mut self.body);
        let plain_len = self.open_in_place(&mut body)?;
        body.truncate(plain_len);
        Ok(Bytes::from(body))
    }

    /// Opens the next frame's sealed body (ciphertext and tag) in place;
    /// returns the length of the plaintext at its start.
    ///
    /// # Errors
    ///
    /// [`ReadError::Forged`] when it fails authentication (the connection
    /// must end: the counter has moved on).
    pub(crate) fn open_in_place(&mut self, body: &mut [u8]) -> Result<usize, ReadError> {
        let counter = self.counter;
        self.counter = counter.checked_add(1).ok_or(ReadError::Forged)?;
        Ok(self
            .key
            .open_in_place(nonce(counter), Aad::empty(), body)
            .map_err(|_| ReadError::Forged)?
            .len())
    }
}

/// The sealed length a frame's prefix announces, checked against `max`
/// bytes of plaintext before anything is read or allocated for it.
///
/// # Errors
///
/// [`ReadError::TooLarge`] over `max`; [`ReadError::Forged`] for a length
/// shorter than a tag.
pub(crate) fn sealed_len(header: [u8; LEN_PREFIX], max: usize) -> Result<usize, ReadError> {
    let len = u64::from(u32::from_be_bytes(header));
    let too_large = ReadError::TooLarge {
        len: len.saturating_sub(TAG_LEN as u64),
        max,
    };
    let Ok(len) = usize::try_from(len) else {
        return Err(too_large);
    };
    if len < TAG_LEN {
        return Err(ReadError::Forged);
    }
    if len - TAG_LEN > max {
        return Err(too_large);
    }
    Ok(len)
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer {{ counter: {} }}", self.counter)
    }
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Opener {{ counter: {} }}", self.counter)
    }
}

/// An end of stream inside a frame is a truncated frame, not a clean close.
pub(crate) fn truncated(error: io::Error) -> ReadError {
    match ReadError::from(error) {
        ReadError::Eof => ReadError::Truncated,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn pair() -> (Sealer, Opener) {
        (Sealer::new(&[7; 32]), Opener::new(&[7; 32]))
    }

    fn sealed(sealer: &mut Sealer, frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for frame in frames {
            sealer.seal(frame, &mut out).unwrap();
        }
        out
    }

    #[tokio::test]
    async fn frames_open_in_order_including_empty_and_max() {
        let (mut sealer, mut opener) = pair();
        let wire = sealed(&mut sealer, &[b"", b"abc", &[9u8; 64]]);
        let mut reader = &wire[..];
        assert!(opener.read_frame(&mut reader, 64).await.unwrap().is_empty());
        assert_eq!(
            &opener.read_frame(&mut reader, 64).await.unwrap()[..],
            b"abc"
        );
        assert_eq!(
            &opener.read_frame(&mut reader, 64).await.unwrap()[..],
            &[9u8; 64]
        );
        assert!(matches!(
            opener.read_frame(&mut reader, 64).await,
            Err(ReadError::Eof)
        ));
    }

    #[tokio::test]
    async fn altered_replayed_reordered_or_foreign_frames_fail() {
        let (mut sealer, _) = pair();
        let wire = sealed(&mut sealer, &[b"first", b"second"]);
        let frame_len = LEN_PREFIX + 5 + TAG_LEN;
        let (first, second) = wire.split_at(frame_len);
        // Altered: one bit of the ciphertext.
        let mut altered = first.to_vec();
        altered[LEN_PREFIX] ^= 1;
        assert!(matches!(
            Opener::new(&[7; 32])
                .read_frame(&mut &altered[..], 64)
                .await,
            Err(ReadError::Forged)
        ));
        // Reordered: the second frame first.
        assert!(matches!(
            Opener::new(&[7; 32]).read_frame(&mut &second[..], 64).await,
            Err(ReadError::Forged)
        ));
        // Replayed: the first frame twice.
        let mut opener = Opener::new(&[7; 32]);
        let replayed = [first, first].concat();
        let mut reader = &replayed[..];
        opener.read_frame(&mut reader, 64).await.unwrap();
        assert!(matches!(
            opener.read_frame(&mut reader, 64).await,
            Err(ReadError::Forged)
        ));
        // Another session's key.
        assert!(matches!(
            Opener::new(&[8; 32]).read_frame(&mut &first[..], 64).await,
            Err(ReadError::Forged)
        ));
    }

    #[tokio::test]
    async fn a_frame_announced_large_and_sent_slowly_is_not_allocated_up_front() {
        let (mut sealer, mut opener) = pair();
        let wire = sealed(&mut sealer, &[&[3u8; 1 << 20]]);
        let (mut peer, mut reader) = tokio::io::duplex(2 << 20);
        // The 1 MiB length prefix and three bytes of the body; then nothing.
        peer.write_all(&wire[..LEN_PREFIX + 3]).await.unwrap();
        {
            let read = opener.read_frame(&mut reader, 1 << 20);
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
            opener.body_capacity() <= GROWTH_STEP,
            "{} bytes allocated for 3 that arrived",
            opener.body_capacity()
        );
        // The same frame, all of it sent: it opens.
        let mut opener = Opener::new(&[7; 32]);
        let frame = opener.read_frame(&mut &wire[..], 1 << 20).await.unwrap();
        assert_eq!(frame.len(), 1 << 20);
        assert!(frame.iter().all(|&b| b == 3));
    }

    #[tokio::test]
    async fn lengths_are_checked_before_allocating() {
        let wire = u32::MAX.to_be_bytes();
        assert!(matches!(
            Opener::new(&[7; 32]).read_frame(&mut &wire[..], 1 << 20).await,
            Err(ReadError::TooLarge { max, .. }) if max == 1 << 20
        ));
        let short = 3u32.to_be_bytes();
        assert!(matches!(
            Opener::new(&[7; 32]).read_frame(&mut &short[..], 64).await,
            Err(ReadError::Forged)
        ));
        let (mut sealer, mut opener) = pair();
        let wire = sealed(&mut sealer, &[&[1u8; 65]]);
        assert!(matches!(
            opener.read_frame(&mut &wire[..], 64).await,
            Err(ReadError::TooLarge { len: 65, max: 64 })
        ));
        for cut in 1..wire.len() {
            assert!(matches!(
                Opener::new(&[7; 32])
                    .read_frame(&mut &wire[..cut], 128)
                    .await,
                Err(ReadError::Truncated)
            ));
        }
    }
}
