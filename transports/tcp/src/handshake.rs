//! The connection handshake: who is on the other end, do we speak the same
//! protocol, and does the acceptor keep this connection.
//!
//! Wire format (all integers big-endian):
//!
//! ```text
//! hello   = magic[8] = "GOSSIP/T" | version: u8 | max_frame_len: u32
//!           | listen_port: u16 (0 = none) | id_len: u8 (1..=128) | node_id: [u8; id_len] (UTF-8)
//! dialer   → acceptor: hello | target_len: u8 (1..=128) | target: [u8; target_len]
//! acceptor → dialer:   hello | verdict: u8 (0 accepted, 1 yield, 2 incompatible, 3 refused)
//! ```
//!
//! `target` is the node the dialer means to reach: an acceptor that is not
//! that node refuses before touching its own state (a stale address must not
//! disturb the connection it has with the dialer).
//!
//! Frames flow only after an `accepted` verdict. `yield` means "the peer
//! keeps another connection to us (a simultaneous dial that wins the
//! tie-break, or a live one it dialed): wait for it". The magic and the
//! version come first so that any future layout change is detected.

use std::{fmt, io};

use gossip_core::{protocol::PROTOCOL_VERSION, NodeId, MAX_ID_LEN};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// First bytes of every hello.
pub(crate) const MAGIC: [u8; 8] = *b"GOSSIP/T";

/// One side's introduction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    /// The protocol version spoken ([`PROTOCOL_VERSION`] for our own).
    pub(crate) version: u8,
    /// The largest frame this side accepts.
    pub(crate) max_frame_len: u32,
    /// The port this side listens on (0 if none), for the peer to dial back.
    pub(crate) listen_port: u16,
    /// The node speaking.
    pub(crate) node: NodeId,
}

/// The acceptor's decision about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The connection is kept: frames may flow.
    Accepted = 0,
    /// The acceptor keeps another connection with the dialer: wait for it.
    Yield = 1,
    /// The dialer's protocol version is not spoken here.
    Incompatible = 2,
    /// Refused for another reason (the dialer claims the acceptor's own id,
    /// or means to reach another node).
    Refused = 3,
}

impl Verdict {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Verdict::Accepted,
            1 => Verdict::Yield,
            2 => Verdict::Incompatible,
            3 => Verdict::Refused,
            _ => return None,
        })
    }
}

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The connection failed or closed.
    Io(io::Error),
    /// The peer does not speak this transport at all.
    BadMagic,
    /// The peer speaks another protocol version.
    Version {
        /// Its version.
        found: u8,
    },
    /// The peer's id is missing, too long or invalid.
    BadId(String),
    /// The node at the dialed address is not the one expected.
    WrongPeer {
        /// The node we meant to reach.
        expected: NodeId,
        /// The node that answered.
        found: NodeId,
    },
    /// The acceptor said something other than `accepted` or `yield`, or
    /// something unknown.
    Refused(Option<Verdict>),
    /// The peer claims to be us.
    SelfConnection,
    /// The handshake did not complete in time.
    Timeout,
}

impl From<io::Error> for HandshakeError {
    fn from(error: io::Error) -> Self {
        HandshakeError::Io(error)
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Io(error) => {
                write!(f, "connection failed during the handshake: {error}")
            }
            HandshakeError::BadMagic => {
                f.write_str("the peer does not speak the gossip TCP protocol")
            }
            HandshakeError::Version { found } => write!(
                f,
                "the peer speaks protocol version {found}, this node speaks {PROTOCOL_VERSION}"
            ),
            HandshakeError::BadId(reason) => {
                write!(f, "the peer sent an invalid node id: {reason}")
            }
            HandshakeError::WrongPeer { expected, found } => {
                write!(f, "expected node {expected} at this address, found {found}")
            }
            HandshakeError::Refused(verdict) => {
                write!(f, "the peer refused the connection ({verdict:?})")
            }
            HandshakeError::SelfConnection => f.write_str("the peer claims this node's own id"),
            HandshakeError::Timeout => f.write_str("the handshake timed out"),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl Hello {
    /// Our own hello.
    pub(crate) fn ours(node: NodeId, max_frame_len: usize, listen_port: u16) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            max_frame_len: u32::try_from(max_frame_len).unwrap_or(u32::MAX),
            listen_port,
            node,
        }
    }

    /// The bytes on the wire.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let id = self.node.as_str().as_bytes();
        let mut out = Vec::with_capacity(MAGIC.len() + 8 + id.len());
        out.extend_from_slice(&MAGIC);
        out.push(self.version);
        out.extend_from_slice(&self.max_frame_len.to_be_bytes());
        out.extend_from_slice(&self.listen_port.to_be_bytes());
        // A valid NodeId is at most MAX_ID_LEN (128) bytes: it fits a u8.
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(id);
        out
    }

    /// Reads a hello, checking magic and version before anything else, and
    /// reading no more than [`MAX_ID_LEN`] bytes of id.
    pub(crate) async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Self, HandshakeError> {
        let mut magic = [0u8; MAGIC.len()];
        reader.read_exact(&mut magic).await?;
        if magic != MAGIC {
            return Err(HandshakeError::BadMagic);
        }
        let version = reader.read_u8().await?;
        if version != PROTOCOL_VERSION {
            return Err(HandshakeError::Version { found: version });
        }
        let max_frame_len = reader.read_u32().await?;
        let listen_port = reader.read_u16().await?;
        let id_len = usize::from(reader.read_u8().await?);
        if id_len == 0 || id_len > MAX_ID_LEN {
            return Err(HandshakeError::BadId(format!(
                "length {id_len} is outside 1..={MAX_ID_LEN}"
            )));
        }
        let mut id = vec![0u8; id_len];
        reader.read_exact(&mut id).await?;
        let id = String::from_utf8(id).map_err(|_| HandshakeError::BadId("not UTF-8".into()))?;
        let node = NodeId::new(id).map_err(|error| HandshakeError::BadId(error.to_string()))?;
        Ok(Self {
            version,
            max_frame_len,
            listen_port,
            node,
        })
    }
}

/// The dialer's side: sends `ours`, reads the acceptor's hello and verdict,
/// and checks that the acceptor is `expected`.
pub(crate) async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    ours: &Hello,
    expected: &NodeId,
) -> Result<(Hello, Verdict), HandshakeError> {
    let mut bytes = ours.encode();
    let target = expected.as_str().as_bytes();
    bytes.push(u8::try_from(target.len()).unwrap_or(u8::MAX));
    bytes.extend_from_slice(target);
    stream.write_all(&bytes).await?;
    stream.flush().await?;
    let theirs = Hello::read(stream).await?;
    let verdict = stream.read_u8().await?;
    if theirs.node == ours.node {
        return Err(HandshakeError::SelfConnection);
    }
    if &theirs.node != expected {
        return Err(HandshakeError::WrongPeer {
            expected: expected.clone(),
            found: theirs.node,
        });
    }
    match Verdict::from_byte(verdict) {
        Some(verdict @ (Verdict::Accepted | Verdict::Yield)) => Ok((theirs, verdict)),
        other => Err(HandshakeError::Refused(other)),
    }
}

/// The acceptor reads the node the dialer means to reach (after its hello)
/// and checks that it is `local`.
pub(crate) async fn read_target<R: AsyncRead + Unpin>(
    reader: &mut R,
    local: &NodeId,
) -> Result<(), HandshakeError> {
    let len = usize::from(reader.read_u8().await?);
    if len == 0 || len > MAX_ID_LEN {
        return Err(HandshakeError::BadId(format!(
            "target length {len} is outside 1..={MAX_ID_LEN}"
        )));
    }
    let mut target = vec![0u8; len];
    reader.read_exact(&mut target).await?;
    if target == local.as_str().as_bytes() {
        return Ok(());
    }
    let target = String::from_utf8_lossy(&target);
    match NodeId::new(target.as_ref()) {
        Ok(expected) => Err(HandshakeError::WrongPeer {
            expected,
            found: local.clone(),
        }),
        Err(error) => Err(HandshakeError::BadId(error.to_string())),
    }
}

/// The acceptor's reply: its hello and verdict.
pub(crate) async fn reply<W: AsyncWrite + Unpin>(
    writer: &mut W,
    ours: &Hello,
    verdict: Verdict,
) -> io::Result<()> {
    let mut bytes = ours.encode();
    bytes.push(verdict as u8);
    writer.write_all(&bytes).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> NodeId {
        NodeId::from_seed(name)
    }

    #[tokio::test]
    async fn hello_roundtrips() {
        let hello = Hello::ours(id("node-é"), 1 << 20, 7000);
        let bytes = hello.encode();
        assert_eq!(&bytes[..8], b"GOSSIP/T");
        assert_eq!(bytes[8], PROTOCOL_VERSION);
        assert_eq!(Hello::read(&mut &bytes[..]).await.unwrap(), hello);
    }

    #[tokio::test]
    async fn bad_magic_version_and_ids_are_refused() {
        let good = Hello::ours(id("a"), 10, 0).encode();

        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert!(matches!(
            Hello::read(&mut &bad_magic[..]).await,
            Err(HandshakeError::BadMagic)
        ));

        let mut bad_version = good.clone();
        bad_version[8] = PROTOCOL_VERSION.wrapping_add(1);
        assert!(matches!(
            Hello::read(&mut &bad_version[..]).await,
            Err(HandshakeError::Version { found }) if found == PROTOCOL_VERSION.wrapping_add(1)
        ));

        let mut empty_id = good.clone();
        empty_id[15] = 0;
        assert!(matches!(
            Hello::read(&mut &empty_id[..]).await,
            Err(HandshakeError::BadId(_))
        ));

        let mut long_id = good.clone();
        long_id[15] = 200;
        assert!(matches!(
            Hello::read(&mut &long_id[..]).await,
            Err(HandshakeError::BadId(_))
        ));

        let mut control = good;
        control[16] = b'\n';
        assert!(matches!(
            Hello::read(&mut &control[..]).await,
            Err(HandshakeError::BadId(_))
        ));
    }

    #[tokio::test]
    async fn dial_checks_the_peer_and_the_verdict() {
        let (mut dialer, mut acceptor) = tokio::io::duplex(1024);
        let ours = Hello::ours(id("a"), 10, 1);
        let theirs = Hello::ours(id("b"), 20, 2);
        let accept = {
            let theirs = theirs.clone();
            tokio::spawn(async move {
                let hello = Hello::read(&mut acceptor).await.unwrap();
                read_target(&mut acceptor, &id("b")).await.unwrap();
                reply(&mut acceptor, &theirs, Verdict::Yield).await.unwrap();
                hello
            })
        };
        let (got, verdict) = dial(&mut dialer, &ours, &id("b")).await.unwrap();
        assert_eq!((got, verdict), (theirs, Verdict::Yield));
        assert_eq!(accept.await.unwrap(), ours);
    }

    #[tokio::test]
    async fn the_acceptor_refuses_a_dial_meant_for_another_node() {
        let (mut dialer, mut acceptor) = tokio::io::duplex(1024);
        let dial = tokio::spawn(async move {
            let _ = dial(&mut dialer, &Hello::ours(id("a"), 10, 0), &id("b")).await;
        });
        Hello::read(&mut acceptor).await.unwrap();
        let result = read_target(&mut acceptor, &id("c")).await;
        assert!(
            matches!(&result, Err(HandshakeError::WrongPeer { expected, found })
                if *expected == id("b") && *found == id("c")),
            "{result:?}"
        );
        drop(acceptor);
        dial.await.unwrap();
    }

    #[tokio::test]
    async fn dial_refuses_the_wrong_peer() {
        let (mut dialer, mut acceptor) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let _ = Hello::read(&mut acceptor).await;
            let _ = reply(
                &mut acceptor,
                &Hello::ours(id("c"), 10, 0),
                Verdict::Accepted,
            )
            .await;
        });
        let result = dial(&mut dialer, &Hello::ours(id("a"), 10, 0), &id("b")).await;
        assert!(
            matches!(result, Err(HandshakeError::WrongPeer { .. })),
            "{result:?}"
        );
    }
}
