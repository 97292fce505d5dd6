//! Entry points for the fuzz targets in `fuzz/` (see CONTRIBUTING.md,
//! "Fuzzing"): the real handshake and the real frame reader, over any
//! stream. **Not part of the stable API**: may change or go away in any
//! release.

use std::io;

use bytes::Bytes;
use gossip_core::{Identity, NodeId};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{
    frame::ReadError,
    secure::{
        handshake::{self, Hello, LocalKeys, Verdict},
        session::{Opener, Sealer},
    },
};

/// One side of a handshake: an identity's Noise keys and its hello.
#[derive(Debug)]
pub struct HandshakeSide {
    keys: LocalKeys,
    hello: Hello,
}

impl HandshakeSide {
    /// Fresh Noise keys for `identity`, with the network key `psk` if any,
    /// announcing `max_frame_len` and `listen_port` in its hello.
    ///
    /// # Errors
    ///
    /// When Noise cannot make a key pair.
    pub fn new(
        identity: &Identity,
        psk: Option<[u8; 32]>,
        max_frame_len: usize,
        listen_port: u16,
    ) -> Result<Self, String> {
        let keys = LocalKeys::new(identity, psk).map_err(|e| e.to_string())?;
        let hello = Hello::ours(identity.node_id().clone(), max_frame_len, listen_port);
        Ok(Self { keys, hello })
    }

    /// The node this side is.
    #[must_use]
    pub fn node(&self) -> &NodeId {
        self.keys.node()
    }
}

/// What a completed handshake proved about the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The node at the other end, as the handshake proved it.
    pub node: NodeId,
    /// The largest frame it accepts.
    pub max_frame_len: u32,
    /// The port it listens on.
    pub listen_port: u16,
    /// For the dialer: whether the acceptor kept the connection (`false`:
    /// it yielded). Always `true` for the acceptor.
    pub accepted: bool,
}

impl Remote {
    fn new(hello: Hello, accepted: bool) -> Self {
        Self {
            node: hello.node,
            max_frame_len: hello.max_frame_len,
            listen_port: hello.listen_port,
            accepted,
        }
    }
}

/// The acceptor's handshake on `stream` (magic, version, Noise XX, hellos,
/// target check), then its `accepted` verdict, as the transport runs it.
///
/// # Errors
///
/// The handshake failure, as text.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    side: &HandshakeSide,
) -> Result<Remote, String> {
    let (theirs, mut session) = handshake::accept(stream, &side.keys, &side.hello)
        .await
        .map_err(|e| e.to_string())?;
    handshake::reply(stream, &mut session.sealer, Verdict::Accepted)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Remote::new(theirs, true))
}

/// The dialer's handshake on `stream`, expecting the node `expected`, up to
/// and including the acceptor's verdict.
///
/// # Errors
///
/// The handshake failure, as text.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    side: &HandshakeSide,
    expected: &NodeId,
) -> Result<Remote, String> {
    let (theirs, verdict, _session) = handshake::dial(stream, &side.keys, &side.hello, expected)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Remote::new(theirs, verdict == Verdict::Accepted))
}

/// Why [`FrameOpener::read_frame`] failed (the transport's own reasons).
#[derive(Debug)]
#[non_exhaustive]
pub enum FrameReadError {
    /// The peer closed the connection between frames.
    Eof,
    /// The peer closed the connection inside a frame.
    Truncated,
    /// The announced frame is longer than the maximum.
    TooLarge {
        /// The announced length (plaintext).
        len: u64,
        /// The maximum.
        max: usize,
    },
    /// The frame failed authentication.
    Forged,
    /// Any other I/O failure.
    Io(io::Error),
}

impl From<ReadError> for FrameReadError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Eof => Self::Eof,
            ReadError::Truncated => Self::Truncated,
            ReadError::TooLarge { len, max } => Self::TooLarge { len, max },
            ReadError::Forged => Self::Forged,
            ReadError::Io(error) => Self::Io(error),
        }
    }
}

/// The sending half of a session, under a fixed key.
#[derive(Debug)]
pub struct FrameSealer(Sealer);

impl FrameSealer {
    /// A sealer whose first frame has counter 0.
    #[must_use]
    pub fn new(key: &[u8; 32]) -> Self {
        Self(Sealer::new(key))
    }

    /// Appends `frame`, sealed and length-prefixed, to `out`.
    ///
    /// # Errors
    ///
    /// As the transport's sealer: a frame too long for the length prefix.
    pub fn seal(&mut self, frame: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        self.0.seal(frame, out)
    }
}

/// The receiving half of a session, under a fixed key: the transport's
/// frame reader (length prefix, bound, AEAD, counter).
#[derive(Debug)]
pub struct FrameOpener(Opener);

impl FrameOpener {
    /// An opener expecting the frame with counter 0 first.
    #[must_use]
    pub fn new(key: &[u8; 32]) -> Self {
        Self(Opener::new(key))
    }

    /// Reads and opens the next frame of at most `max` bytes.
    ///
    /// # Errors
    ///
    /// See [`FrameReadError`].
    pub async fn read_frame<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        max: usize,
    ) -> Result<Bytes, FrameReadError> {
        self.0.read_frame(reader, max).await.map_err(Into::into)
    }
}
