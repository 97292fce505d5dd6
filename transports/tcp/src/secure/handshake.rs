//! The connection handshake: Noise XX (`Noise_XX_25519_ChaChaPoly_SHA256`, or
//! `Noise_XXpsk0_…` with a network key) in which each side proves its
//! [`NodeId`] by signing its Noise static key with its identity, as
//! libp2p's Noise does.
//!
//! ```text
//! dialer   → acceptor: magic[8] = "GOSSIP/N" | version: u8     (in the clear)
//! dialer   → acceptor: m1 = Noise(e)                            [psk0: needs the network key]
//! acceptor → dialer:   m2 = Noise(e, ee, s, es; acceptor hello)
//! dialer   → acceptor: m3 = Noise(s, se; dialer hello | target: [u8; 32])
//! acceptor → dialer:   verdict: u8, the first sealed frame (0 accepted, 1 yield)
//! hello  = node: [u8; 32] | signature: [u8; 64] | max_frame_len: u32 | listen_port: u16
//! ```
//!
//! Each Noise message travels as `[length: u16][message]` (at most
//! [`MAX_MESSAGE`] bytes, checked before allocating, and its buffer grown
//! as its bytes arrive). The magic and version
//! come first, in the clear, so that a peer speaking anything else is told
//! apart at once; they are also the Noise prologue, so a version changed in
//! transit fails the handshake. The signature covers
//! [`STATIC_KEY_CONTEXT`] and the sender's Noise static key: a hello is
//! accepted only from the holder of the identity key, and a recorded hello
//! is useless without the static key's secret half. The dialer checks that
//! the acceptor is the node it meant to reach before it says who it is; the
//! acceptor checks the dialer's `target`. After the handshake, frames are
//! sealed under the session's keys ([`session`](super::session)).

use std::{fmt, io};

use gossip_core::{protocol::PROTOCOL_VERSION, Identity, NodeId, Signature};
use snow::{params::NoiseParams, Builder, HandshakeState};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::session::{Opener, Sealer};
use crate::frame::{read_growing, ReadError};

/// First bytes on every connection.
pub(crate) const MAGIC: [u8; 8] = *b"GOSSIP/N";

/// What an identity signs to vouch for a Noise static key.
pub(crate) const STATIC_KEY_CONTEXT: &[u8] = b"gossip tcp noise static key v1:";

/// The largest handshake message read (ours are under 200 bytes).
pub(crate) const MAX_MESSAGE: usize = 1024;

/// How far a handshake message's buffer runs ahead of its bytes
/// ([`read_growing`]): one step holds any of ours.
const MESSAGE_STEP: usize = 256;

const HELLO_LEN: usize = 32 + 64 + 4 + 2;

/// One side's introduction, authenticated by the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    /// The largest frame this side accepts.
    pub(crate) max_frame_len: u32,
    /// The port this side listens on (0 if none), for the peer to dial back.
    pub(crate) listen_port: u16,
    /// The node speaking: proven by the handshake.
    pub(crate) node: NodeId,
}

impl Hello {
    /// Our own hello.
    pub(crate) fn ours(node: NodeId, max_frame_len: usize, listen_port: u16) -> Self {
        Self {
            max_frame_len: u32::try_from(max_frame_len).unwrap_or(u32::MAX),
            listen_port,
            node,
        }
    }
}

/// The acceptor's decision about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The connection is kept: frames may flow.
    Accepted = 0,
    /// The acceptor keeps another connection with the dialer: wait for it.
    Yield = 1,
}

/// This side's handshake keys, made once per transport: a Noise static key
/// pair vouched for by the identity, and the network key if any.
pub(crate) struct LocalKeys {
    node: NodeId,
    static_private: Vec<u8>,
    signature: Signature,
    psk: Option<[u8; 32]>,
}

impl fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeys")
            .field("node", &self.node)
            .field("psk", &self.psk.is_some())
            .finish_non_exhaustive()
    }
}

fn params(psk: bool) -> NoiseParams {
    let name = if psk {
        "Noise_XXpsk0_25519_ChaChaPoly_SHA256"
    } else {
        "Noise_XX_25519_ChaChaPoly_SHA256"
    };
    match name.parse() {
        Ok(params) => params,
        Err(_) => unreachable!("{name} is a valid Noise protocol name"),
    }
}

fn prologue() -> [u8; 9] {
    let mut prologue = [0u8; 9];
    let (magic, version) = prologue.split_at_mut(MAGIC.len());
    magic.copy_from_slice(&MAGIC);
    version.copy_from_slice(&[PROTOCOL_VERSION]);
    prologue
}

impl LocalKeys {
    /// Fresh Noise keys for `identity`, with the network key `psk` if any.
    pub(crate) fn new(identity: &Identity, psk: Option<[u8; 32]>) -> Result<Self, HandshakeError> {
        let keypair = Builder::new(params(psk.is_some())).generate_keypair()?;
        let signature = identity.sign(&[STATIC_KEY_CONTEXT, &keypair.public].concat());
        Ok(Self {
            node: identity.node_id().clone(),
            static_private: keypair.private,
            signature,
            psk,
        })
    }

    /// Keys of an impostor: the hello names `claimed`, but only `identity`
    /// (another key) can sign. For the attack harness.
    pub(crate) fn claiming(
        identity: &Identity,
        claimed: NodeId,
        psk: Option<[u8; 32]>,
    ) -> Result<Self, HandshakeError> {
        let keys = Self::new(identity, psk)?;
        Ok(Self {
            node: claimed,
            ..keys
        })
    }

    /// The node this side's hello names.
    pub(crate) fn node(&self) -> &NodeId {
        &self.node
    }

    fn state(&self, initiator: bool) -> Result<HandshakeState, HandshakeError> {
        let prologue = prologue();
        let mut builder = Builder::new(params(self.psk.is_some()))
            .local_private_key(&self.static_private)?
            .prologue(&prologue)?;
        if let Some(psk) = &self.psk {
            builder = builder.psk(0, psk)?;
        }
        Ok(if initiator {
            builder.build_initiator()?
        } else {
            builder.build_responder()?
        })
    }

    fn encode_hello(&self, hello: &Hello) -> Vec<u8> {
        let mut out = Vec::with_capacity(HELLO_LEN + 32);
        out.extend_from_slice(self.node.as_bytes());
        out.extend_from_slice(&self.signature.to_bytes());
        out.extend_from_slice(&hello.max_frame_len.to_be_bytes());
        out.extend_from_slice(&hello.listen_port.to_be_bytes());
        out
    }
}

/// Reads a hello from a handshake payload and checks its signature over
/// the sender's Noise static key. Returns the hello and what follows it.
fn decode_hello<'a>(
    payload: &'a [u8],
    remote_static: Option<&[u8]>,
) -> Result<(Hello, &'a [u8]), HandshakeError> {
    let malformed = || HandshakeError::Malformed("hello too short");
    let (node, rest) = payload.split_first_chunk::<32>().ok_or_else(malformed)?;
    let (signature, rest) = rest.split_first_chunk::<64>().ok_or_else(malformed)?;
    let (max_frame_len, rest) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
    let (listen_port, rest) = rest.split_first_chunk::<2>().ok_or_else(malformed)?;
    let node = NodeId::from_bytes(node).map_err(|_| HandshakeError::Malformed("node id"))?;
    let remote_static = remote_static.ok_or(HandshakeError::Malformed("no static key"))?;
    node.verify(
        &[STATIC_KEY_CONTEXT, remote_static].concat(),
        &Signature::from_bytes(*signature),
    )
    .map_err(|_| HandshakeError::BadSignature {
        claimed: node.clone(),
    })?;
    Ok((
        Hello {
            max_frame_len: u32::from_be_bytes(*max_frame_len),
            listen_port: u16::from_be_bytes(*listen_port),
            node,
        },
        rest,
    ))
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
    /// A Noise message did not decrypt or verify: the peer uses another
    /// network key (or none when we have one), or is not a gossip node.
    Noise(snow::Error),
    /// A handshake message was longer than [`MAX_MESSAGE`].
    TooLong(usize),
    /// A hello was malformed.
    Malformed(&'static str),
    /// The hello's signature is not the claimed node's: an impostor.
    BadSignature {
        /// The node it claimed to be.
        claimed: NodeId,
    },
    /// The node at the dialed address is not the one expected.
    WrongPeer {
        /// The node we meant to reach.
        expected: NodeId,
        /// The node that answered.
        found: NodeId,
    },
    /// The acceptor answered something other than `accepted` or `yield`.
    Refused(u8),
    /// The peer is this node.
    SelfConnection,
    /// The acceptor closed the connection before answering the first
    /// message: it refused the network key (or its absence), the protocol
    /// version, or us.
    ClosedByPeer,
    /// The handshake did not complete in time.
    Timeout,
}

impl From<io::Error> for HandshakeError {
    fn from(error: io::Error) -> Self {
        HandshakeError::Io(error)
    }
}

impl From<snow::Error> for HandshakeError {
    fn from(error: snow::Error) -> Self {
        HandshakeError::Noise(error)
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
            HandshakeError::Noise(error) => write!(
                f,
                "the Noise handshake failed ({error}): the peer uses another network key, or is \
                 not a gossip node"
            ),
            HandshakeError::TooLong(len) => {
                write!(f, "a handshake message of {len} bytes, over {MAX_MESSAGE}")
            }
            HandshakeError::Malformed(what) => write!(f, "malformed hello: {what}"),
            HandshakeError::BadSignature { claimed } => write!(
                f,
                "the peer claims to be {claimed} but cannot prove it (bad signature)"
            ),
            HandshakeError::WrongPeer { expected, found } => {
                write!(f, "expected node {expected} at this address, found {found}")
            }
            HandshakeError::Refused(verdict) => {
                write!(f, "the peer refused the connection (verdict {verdict})")
            }
            HandshakeError::SelfConnection => f.write_str("the peer is this node itself"),
            HandshakeError::ClosedByPeer => f.write_str(
                "the peer closed the connection during the handshake: it uses another network \
                 key (or none), another protocol version, or is not a gossip node",
            ),
            HandshakeError::Timeout => f.write_str("the handshake timed out"),
        }
    }
}

impl std::error::Error for HandshakeError {}

async fn send_message<W: AsyncWrite + Unpin>(writer: &mut W, message: &[u8]) -> io::Result<()> {
    let len = u16::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "handshake message too long"))?;
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(message).await?;
    writer.flush().await
}

async fn read_message<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, HandshakeError> {
    let len = usize::from(reader.read_u16().await?);
    if len > MAX_MESSAGE {
        return Err(HandshakeError::TooLong(len));
    }
    let mut message = Vec::new();
    read_growing(reader, len, MESSAGE_STEP, &mut message).await?;
    Ok(message)
}

/// Writes the next handshake message carrying `payload`.
async fn write_step<W: AsyncWrite + Unpin>(
    state: &mut HandshakeState,
    writer: &mut W,
    payload: &[u8],
) -> Result<(), HandshakeError> {
    let mut message = vec![0u8; MAX_MESSAGE];
    let len = state.write_message(payload, &mut message)?;
    message.truncate(len);
    send_message(writer, &message).await?;
    Ok(())
}

/// Reads the next handshake message and returns its payload.
async fn read_step<R: AsyncRead + Unpin>(
    state: &mut HandshakeState,
    reader: &mut R,
) -> Result<Vec<u8>, HandshakeError> {
    let message = read_message(reader).await?;
    // A payload is never longer than its message.
    let mut payload = vec![0u8; message.len()];
    let len = state.read_message(&message, &mut payload)?;
    payload.truncate(len);
    Ok(payload)
}

/// The two halves of an established session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) sealer: Sealer,
    pub(crate) opener: Opener,
}

fn split(state: &mut HandshakeState, initiator: bool) -> Session {
    let (initiator_to_responder, responder_to_initiator) = state.dangerously_get_raw_split();
    let (send, receive) = if initiator {
        (initiator_to_responder, responder_to_initiator)
    } else {
        (responder_to_initiator, initiator_to_responder)
    };
    Session {
        sealer: Sealer::new(&send),
        opener: Opener::new(&receive),
    }
}

/// The dialer's side: proves who we are to `expected` (only once it has
/// proven to be `expected`), and reads the acceptor's verdict.
pub(crate) async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    keys: &LocalKeys,
    ours: &Hello,
    expected: &NodeId,
) -> Result<(Hello, Verdict, Session), HandshakeError> {
    stream.write_all(&prologue()).await?;
    let mut state = keys.state(true)?;
    write_step(&mut state, stream, &[]).await?;
    let payload = match read_step(&mut state, stream).await {
        Err(HandshakeError::Io(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(HandshakeError::ClosedByPeer)
        }
        other => other?,
    };
    let (theirs, _) = decode_hello(&payload, state.get_remote_static())?;
    if theirs.node == keys.node {
        return Err(HandshakeError::SelfConnection);
    }
    if theirs.node != *expected {
        return Err(HandshakeError::WrongPeer {
            expected: expected.clone(),
            found: theirs.node,
        });
    }
    let mut payload = keys.encode_hello(ours);
    payload.extend_from_slice(expected.as_bytes());
    write_step(&mut state, stream, &payload).await?;
    let mut session = split(&mut state, true);
    let verdict = match session.opener.read_frame(stream, 1).await {
        Ok(verdict) => verdict,
        Err(ReadError::Io(error)) => return Err(HandshakeError::Io(error)),
        Err(ReadError::Eof | ReadError::Truncated) => {
            return Err(HandshakeError::Io(io::ErrorKind::UnexpectedEof.into()))
        }
        Err(_) => return Err(HandshakeError::Malformed("verdict")),
    };
    match verdict.first() {
        Some(0) => Ok((theirs, Verdict::Accepted, session)),
        Some(1) => Ok((theirs, Verdict::Yield, session)),
        other => Err(HandshakeError::Refused(other.copied().unwrap_or(u8::MAX))),
    }
}

/// The acceptor's side, up to the verdict: checks the magic and version,
/// proves who we are, and learns (with proof) who dialed and whom it meant
/// to reach. Then the caller decides and answers with [`reply`].
///
/// [`accept_opening`] then [`accept_rest`], for callers that give the
/// dialer's first message its own deadline.
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    keys: &LocalKeys,
    ours: &Hello,
) -> Result<(Hello, Session), HandshakeError> {
    let opening = accept_opening(stream, keys).await?;
    accept_rest(opening, stream, keys, ours).await
}

/// The acceptor's handshake once the dialer's first message has arrived.
pub(crate) struct Opening {
    state: HandshakeState,
}

impl fmt::Debug for Opening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Opening(..)")
    }
}

/// The first part of [`accept`]: reads and checks what a dialer sends as
/// soon as it is connected (magic, version, the first Noise message, which
/// needs the network key if there is one). Nothing is written.
pub(crate) async fn accept_opening<R: AsyncRead + Unpin>(
    stream: &mut R,
    keys: &LocalKeys,
) -> Result<Opening, HandshakeError> {
    let mut magic = [0u8; MAGIC.len()];
    stream.read_exact(&mut magic).await?;
    if magic != MAGIC {
        return Err(HandshakeError::BadMagic);
    }
    let version = stream.read_u8().await?;
    if version != PROTOCOL_VERSION {
        return Err(HandshakeError::Version { found: version });
    }
    let mut state = keys.state(false)?;
    read_step(&mut state, stream).await?;
    Ok(Opening { state })
}

/// The rest of [`accept`], after [`accept_opening`].
pub(crate) async fn accept_rest<S: AsyncRead + AsyncWrite + Unpin>(
    opening: Opening,
    stream: &mut S,
    keys: &LocalKeys,
    ours: &Hello,
) -> Result<(Hello, Session), HandshakeError> {
    let Opening { mut state } = opening;
    write_step(&mut state, stream, &keys.encode_hello(ours)).await?;
    let payload = read_step(&mut state, stream).await?;
    let (theirs, target) = decode_hello(&payload, state.get_remote_static())?;
    let target: &[u8; 32] = target
        .try_into()
        .map_err(|_| HandshakeError::Malformed("target"))?;
    let target = NodeId::from_bytes(target).map_err(|_| HandshakeError::Malformed("target"))?;
    if target != keys.node {
        return Err(HandshakeError::WrongPeer {
            expected: target,
            found: keys.node.clone(),
        });
    }
    if theirs.node == keys.node {
        return Err(HandshakeError::SelfConnection);
    }
    Ok((theirs, split(&mut state, false)))
}

/// The acceptor's verdict, sealed: the first frame of the session.
pub(crate) async fn reply<W: AsyncWrite + Unpin>(
    writer: &mut W,
    sealer: &mut Sealer,
    verdict: Verdict,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(32);
    sealer.seal(&[verdict as u8], &mut out)?;
    writer.write_all(&out).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use tokio::io::{duplex, DuplexStream};

    use super::*;

    fn keys(name: &str, psk: Option<[u8; 32]>) -> (LocalKeys, Hello) {
        let identity = Identity::from_seed(name);
        let hello = Hello::ours(identity.node_id().clone(), 1024, 7000);
        (LocalKeys::new(&identity, psk).unwrap(), hello)
    }

    /// Runs `dial` from `a` to `expected` against `accept` at `b`.
    async fn handshake(
        a: &(LocalKeys, Hello),
        b: &(LocalKeys, Hello),
        expected: &NodeId,
    ) -> (
        Result<(Hello, Verdict, Session), HandshakeError>,
        Result<Hello, HandshakeError>,
    ) {
        let (mut dialer, mut acceptor) = duplex(4096);
        let accepting = async {
            let accepted = accept(&mut acceptor, &b.0, &b.1).await;
            match accepted {
                Ok((hello, mut session)) => {
                    reply(&mut acceptor, &mut session.sealer, Verdict::Accepted)
                        .await
                        .unwrap();
                    Ok(hello)
                }
                Err(failure) => {
                    drop(acceptor);
                    Err(failure)
                }
            }
        };
        let dialing = async {
            let dialed = dial(&mut dialer, &a.0, &a.1, expected).await;
            drop(dialer);
            dialed
        };
        tokio::join!(dialing, accepting)
    }

    #[tokio::test]
    async fn both_sides_learn_the_proven_id_and_frames_flow_sealed() {
        let (a, b) = (keys("a", None), keys("b", None));
        let (mut dialer, mut acceptor): (DuplexStream, DuplexStream) = duplex(4096);
        let (dialed, accepted) = tokio::join!(dial(&mut dialer, &a.0, &a.1, &b.1.node), async {
            let (hello, mut session) = accept(&mut acceptor, &b.0, &b.1).await.unwrap();
            reply(&mut acceptor, &mut session.sealer, Verdict::Accepted)
                .await
                .unwrap();
            (hello, session)
        });
        let (theirs, verdict, mut dialer_session) = dialed.unwrap();
        let (dialer_hello, mut acceptor_session) = accepted;
        assert_eq!((theirs, verdict), (b.1.clone(), Verdict::Accepted));
        assert_eq!(dialer_hello, a.1);
        // Sealed both ways.
        let mut wire = Vec::new();
        dialer_session.sealer.seal(b"ping", &mut wire).unwrap();
        assert!(!wire.windows(4).any(|w| w == b"ping"), "sent in the clear");
        let got = acceptor_session
            .opener
            .read_frame(&mut &wire[..], 64)
            .await
            .unwrap();
        assert_eq!(&got[..], b"ping");
        let mut wire = Vec::new();
        acceptor_session.sealer.seal(b"pong", &mut wire).unwrap();
        let got = dialer_session
            .opener
            .read_frame(&mut &wire[..], 64)
            .await
            .unwrap();
        assert_eq!(&got[..], b"pong");
    }

    #[tokio::test]
    async fn a_dialer_reveals_nothing_to_the_wrong_node() {
        let (a, b) = (keys("a", None), keys("b", None));
        let c = keys("c", None).1.node;
        let (dialed, accepted) = handshake(&a, &b, &c).await;
        assert!(matches!(
            dialed,
            Err(HandshakeError::WrongPeer { ref expected, ref found }) if *expected == c && *found == b.1.node
        ));
        // The acceptor never learnt who dialed: the connection closed first.
        assert!(
            matches!(accepted, Err(HandshakeError::Io(_))),
            "{accepted:?}"
        );
    }

    #[tokio::test]
    async fn an_identity_signature_over_another_static_key_is_refused() {
        // An impostor: its Noise static key vouched for by a signature it
        // copied from bravo's handshake, which covers bravo's static key.
        let (a, b) = (keys("a", None), keys("b", None));
        let mut impostor = keys("impostor", None);
        impostor.0.node = b.1.node.clone();
        impostor.0.signature = b.0.signature;
        impostor.1.node = b.1.node.clone();
        let (dialed, _) = handshake(&a, &impostor, &b.1.node).await;
        assert!(
            matches!(dialed, Err(HandshakeError::BadSignature { ref claimed }) if *claimed == b.1.node),
            "{dialed:?}"
        );
        let (_, accepted) = handshake(&impostor, &a, &a.1.node).await;
        assert!(
            matches!(accepted, Err(HandshakeError::BadSignature { .. })),
            "{accepted:?}"
        );
    }

    #[tokio::test]
    async fn a_network_key_keeps_strangers_out_from_the_first_message() {
        let (a, b) = (keys("a", Some([1; 32])), keys("b", Some([1; 32])));
        let (dialed, accepted) = handshake(&a, &b, &b.1.node).await;
        assert!(dialed.is_ok() && accepted.is_ok());
        for (dialer, acceptor) in [
            (keys("a", Some([2; 32])), keys("b", Some([1; 32]))),
            (keys("a", None), keys("b", Some([1; 32]))),
            (keys("a", Some([1; 32])), keys("b", None)),
        ] {
            let (dialed, accepted) = handshake(&dialer, &acceptor, &acceptor.1.node).await;
            assert!(dialed.is_err(), "{dialed:?}");
            assert!(
                matches!(
                    accepted,
                    Err(HandshakeError::Noise(_) | HandshakeError::Io(_))
                ),
                "{accepted:?}"
            );
        }
        // With a wrong key the acceptor fails on the very first message:
        // it never sends its hello, so the stranger learns nothing.
        let (stranger, b) = (keys("x", Some([9; 32])), keys("b", Some([1; 32])));
        let (dialed, accepted) = handshake(&stranger, &b, &b.1.node).await;
        assert!(
            matches!(accepted, Err(HandshakeError::Noise(_))),
            "{accepted:?}"
        );
        assert!(
            matches!(dialed, Err(HandshakeError::ClosedByPeer)),
            "{dialed:?}"
        );
    }

    #[tokio::test]
    async fn other_protocols_and_versions_are_told_apart() {
        let b = keys("b", None);
        for (bytes, want_magic) in [(&b"GOSSIP/T\x01"[..], true), (&b"GOSSIP/N\xfe"[..], false)] {
            let (mut dialer, mut acceptor) = duplex(4096);
            dialer.write_all(bytes).await.unwrap();
            let accepted = accept(&mut acceptor, &b.0, &b.1).await;
            if want_magic {
                assert!(
                    matches!(accepted, Err(HandshakeError::BadMagic)),
                    "{accepted:?}"
                );
            } else {
                assert!(
                    matches!(accepted, Err(HandshakeError::Version { found: 0xfe })),
                    "{accepted:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn oversized_handshake_messages_are_refused_before_reading_them() {
        let b = keys("b", None);
        let (mut dialer, mut acceptor) = duplex(4096);
        dialer.write_all(&prologue()).await.unwrap();
        dialer.write_all(&u16::MAX.to_be_bytes()).await.unwrap();
        let accepted = accept(&mut acceptor, &b.0, &b.1).await;
        assert!(
            matches!(accepted, Err(HandshakeError::TooLong(65535))),
            "{accepted:?}"
        );
    }

    #[tokio::test]
    async fn a_node_does_not_connect_to_itself() {
        let a = keys("a", None);
        let twin = keys("a", None);
        let (dialed, _) = handshake(&a, &twin, &a.1.node).await;
        assert!(
            matches!(dialed, Err(HandshakeError::SelfConnection)),
            "{dialed:?}"
        );
    }
}
