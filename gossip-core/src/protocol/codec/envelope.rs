//! The envelope: `[protocol version: u8][message kind: u8][postcard body]`.
//! One message, one frame; [`decode`] checks the header, then the body.

use bytes::Bytes;
use serde::Deserialize;

use super::size::{body_len, infallible};
use crate::{
    error::DecodeError,
    protocol::messages::{Message, MessageKind, PROTOCOL_VERSION},
};

/// Length of the envelope header: the version byte and the kind byte.
pub const HEADER_LEN: usize = 2;

/// Applies `$f` to the body struct of `$message`, whatever its kind.
macro_rules! with_body {
    ($message:expr, |$body:ident| $f:expr) => {
        match $message {
            Message::Ping($body) => $f,
            Message::Ack($body) => $f,
            Message::PingReq($body) => $f,
            Message::DigestRequest($body) => $f,
            Message::DigestResponse($body) => $f,
            Message::DeltaRequest($body) => $f,
            Message::DeltaResponse($body) => $f,
            Message::Push($body) => $f,
            Message::IHave($body) => $f,
            Message::Graft($body) => $f,
            Message::Prune($body) => $f,
            Message::Nack($body) => $f,
            Message::AuthorPush($body) => $f,
        }
    };
}

/// Encodes `message` as one frame.
///
/// The frame may be longer than a transport accepts; use
/// [`delta_response_frames`](super::delta_response_frames) and
/// [`push_frames`](super::push_frames) for messages that can grow
/// large.
#[must_use]
pub fn encode(message: &Message) -> Bytes {
    let header = vec![PROTOCOL_VERSION, message.kind() as u8];
    let frame = with_body!(message, |body| infallible(postcard::to_extend(
        body, header
    )));
    Bytes::from(frame)
}

/// The length of the frame [`encode`] would produce, computed without
/// allocating.
#[must_use]
pub fn encoded_len(message: &Message) -> usize {
    HEADER_LEN + with_body!(message, |body| body_len(body))
}

/// Decodes one frame, refusing frames longer than `max_frame_len`.
///
/// # Behavior
///
/// Checks, in order: the length against `max_frame_len`, the header's
/// presence, the version, the kind, then the body, which must be consumed
/// exactly. Never panics, and allocates only in proportion to `frame`'s
/// length (see the [module docs](crate::protocol::codec)).
///
/// # Errors
///
/// - [`DecodeError::TooLarge`] when the frame is longer than `max_frame_len`;
/// - [`DecodeError::Truncated`] when it is shorter than the two header bytes;
/// - [`DecodeError::UnsupportedVersion`] when the version is not
///   [`PROTOCOL_VERSION`];
/// - [`DecodeError::UnknownKind`] when the kind byte is unknown;
/// - [`DecodeError::Malformed`] when the body does not decode as the announced
///   message or is followed by trailing bytes.
pub fn decode(frame: &[u8], max_frame_len: usize) -> Result<Message, DecodeError> {
    if frame.len() > max_frame_len {
        return Err(DecodeError::TooLarge {
            len: frame.len(),
            max: max_frame_len,
        });
    }
    let [version, kind, body @ ..] = frame else {
        return Err(DecodeError::Truncated(frame.len()));
    };
    if *version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            found: *version,
            supported: PROTOCOL_VERSION,
        });
    }
    let kind = MessageKind::from_u8(*kind).ok_or(DecodeError::UnknownKind(*kind))?;
    Ok(match kind {
        MessageKind::Ping => Message::Ping(decode_body(kind, body)?),
        MessageKind::Ack => Message::Ack(decode_body(kind, body)?),
        MessageKind::PingReq => Message::PingReq(decode_body(kind, body)?),
        MessageKind::DigestRequest => Message::DigestRequest(decode_body(kind, body)?),
        MessageKind::DigestResponse => Message::DigestResponse(decode_body(kind, body)?),
        MessageKind::DeltaRequest => Message::DeltaRequest(decode_body(kind, body)?),
        MessageKind::DeltaResponse => Message::DeltaResponse(decode_body(kind, body)?),
        MessageKind::Push => Message::Push(decode_body(kind, body)?),
        MessageKind::IHave => Message::IHave(decode_body(kind, body)?),
        MessageKind::Graft => Message::Graft(decode_body(kind, body)?),
        MessageKind::Prune => Message::Prune(decode_body(kind, body)?),
        MessageKind::Nack => Message::Nack(decode_body(kind, body)?),
        MessageKind::AuthorPush => Message::AuthorPush(decode_body(kind, body)?),
    })
}

/// As [`decode`], for a frame held in [`Bytes`]: the payloads of the
/// entries it carries are slices of `frame` rather than copies (zero-copy),
/// so they keep `frame`'s buffer alive for as long as they live.
///
/// ```
/// use bytes::Bytes;
/// use gossip_core::protocol::{codec, Message, Ping};
///
/// let ping = Message::Ping(Ping { probe: 7, incarnation: 1, updates: vec![] });
/// let frame: Bytes = codec::encode(&ping);
/// assert_eq!(codec::decode_shared(&frame, 64 * 1024)?, ping);
/// # Ok::<(), gossip_core::DecodeError>(())
/// ```
///
/// # Errors
///
/// As [`decode`].
pub fn decode_shared(frame: &Bytes, max_frame_len: usize) -> Result<Message, DecodeError> {
    crate::shared_payload::sharing(frame, || decode(frame, max_frame_len))
}

fn decode_body<'de, T: Deserialize<'de>>(
    kind: MessageKind,
    body: &'de [u8],
) -> Result<T, DecodeError> {
    let malformed = |reason: String| DecodeError::Malformed {
        kind: kind.name(),
        reason,
    };
    let (value, rest) = postcard::take_from_bytes(body).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}
