//! The frame codec: `[protocol version: u8][message kind: u8][postcard body]`,
//! and the splitting of large deltas and pushes into frames that fit the
//! transport's maximum.
//!
//! ```
//! use gossip_core::protocol::{codec, Message, Ping, PROTOCOL_VERSION};
//!
//! let ping = Message::Ping(Ping { probe: 7, incarnation: 1, updates: vec![] });
//! let frame = codec::encode(&ping);
//! assert_eq!(frame.len(), codec::encoded_len(&ping));
//! assert_eq!(&frame[..2], &[PROTOCOL_VERSION, 1]);
//! assert_eq!(codec::decode(&frame, 64 * 1024)?, ping);
//! # Ok::<(), gossip_core::DecodeError>(())
//! ```
//!
//! # Decoding untrusted frames
//!
//! [`decode`] never panics, and the memory it allocates is proportional to
//! the frame it is given, never to a length or count the frame declares:
//! postcard checks every string and byte-string length against the bytes
//! actually present before copying them, version vectors are `BTreeMap`s
//! (which never preallocate), and every `Vec` in a message is decoded by an
//! allocation-bounded visitor that grows only as elements actually decode.
//!
//! # Splitting
//!
//! [`delta_response_frames`] and [`push_frames`] pack entries greedily, in
//! order, into as few frames as possible, each at most `max_frame_len` bytes
//! (the size accounting is exact). A delta whose entries do not fit in one
//! frame is split; every piece keeps the delta's channel, stream and base.
//!
//! Every frame of a split delta response is a complete
//! [`DeltaResponse`] whose deltas merge on their own,
//! so the receiver needs no reassembly. `more` tells the receiver to send
//! another [`DeltaRequest`](super::DeltaRequest) once it has merged what it
//! got, so it is carried by the **last frame only**: every other frame says
//! `more: false`. The receiver therefore asks again at most once per
//! response, and not before the sender has handed over everything it
//! prepared for this one.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::messages::{DeltaResponse, Message, MessageKind, Push, PROTOCOL_VERSION};
use crate::{
    domain::{ChannelId, Delta, LogEntry, StreamId},
    error::{DecodeError, Error},
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
        }
    };
}

/// Unwraps the result of serializing a protocol value with postcard, which
/// cannot fail: every sequence and map has a known length, the output is a
/// growable `Vec` or a byte counter, and no `Serialize` impl of the protocol
/// reports a custom error.
fn infallible<T>(result: postcard::Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => unreachable!("serializing a protocol message cannot fail: {e}"),
    }
}

/// The postcard-encoded size of `value`, in bytes.
fn body_len<T: Serialize + ?Sized>(value: &T) -> usize {
    infallible(postcard::experimental::serialized_size(value))
}

/// The encoded length of a postcard varint holding `n`.
fn varint_len(n: u64) -> usize {
    let bits = u64::BITS - n.leading_zeros();
    bits.div_ceil(7).max(1) as usize
}

/// The encoded length of a sequence-length prefix.
fn len_prefix(n: usize) -> usize {
    varint_len(n as u64)
}

/// Encodes `message` as one frame.
///
/// The frame may be longer than a transport accepts; use
/// [`delta_response_frames`] and [`push_frames`] for messages that can grow
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
/// length (see the [module docs](self)).
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
    })
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

fn too_large(size: usize, max_frame_len: usize) -> Error {
    Error::EntryTooLargeForFrame {
        size,
        max_frame_len,
    }
}

/// Encodes a delta response as frames of at most `max_frame_len` bytes each.
///
/// # Behavior
///
/// Entries are packed greedily, in order, into as few frames as possible; a
/// delta is split across frames when needed, each piece keeping its channel,
/// stream and base. Concatenating the frames' deltas gives back `deltas`
/// (split deltas appear as consecutive pieces). A delta without entries is
/// kept as is. Every frame carries `session`; the last carries `more`, the
/// others `more: false` (see the [module docs](self#splitting)). With no
/// deltas, the result is one frame with no deltas, so the requester still
/// gets its answer.
///
/// # Errors
///
/// [`Error::EntryTooLargeForFrame`] when one entry, with the envelope and its
/// delta's header, cannot fit in a frame of `max_frame_len` bytes (or when
/// even an empty response cannot). Nothing is returned then.
pub fn delta_response_frames(
    session: u64,
    deltas: Vec<Delta>,
    more: bool,
    max_frame_len: usize,
) -> Result<Vec<Bytes>, Error> {
    // Frame length = fixed + prefix(deltas in frame) + Σ piece lengths, where a
    // piece's length is header + prefix(entries in piece) + Σ entry lengths.
    let fixed = HEADER_LEN + varint_len(session) + 1;
    let empty_len = fixed + len_prefix(0);
    if empty_len > max_frame_len {
        return Err(too_large(empty_len, max_frame_len));
    }
    let mut frames = Vec::new();
    let mut pieces: Vec<Delta> = Vec::new();
    let mut frame_len = empty_len;
    let flush =
        |pieces: &mut Vec<Delta>, frames: &mut Vec<Bytes>, frame_len: &mut usize, more: bool| {
            let response = Message::DeltaResponse(DeltaResponse {
                session,
                deltas: std::mem::take(pieces),
                more,
            });
            let frame = encode(&response);
            debug_assert_eq!(frame.len(), *frame_len, "delta response size accounting");
            frames.push(frame);
            *frame_len = empty_len;
        };

    for delta in deltas {
        let header = body_len(&(&delta.channel, &delta.stream, &delta.base));
        let Delta {
            channel,
            stream,
            base,
            entries,
            ..
        } = delta;
        let new_piece = || Delta::new(channel.clone(), stream.clone(), base.clone(), Vec::new());
        // The cost of opening a piece in the current frame, with no entries yet.
        let open_cost = |pieces: &Vec<Delta>| {
            header + len_prefix(0) + len_prefix(pieces.len() + 1) - len_prefix(pieces.len())
        };
        if entries.is_empty() {
            if frame_len + open_cost(&pieces) > max_frame_len && !pieces.is_empty() {
                flush(&mut pieces, &mut frames, &mut frame_len, false);
            }
            let needed = frame_len + open_cost(&pieces);
            if needed > max_frame_len {
                return Err(too_large(needed, max_frame_len));
            }
            frame_len = needed;
            pieces.push(new_piece());
            continue;
        }
        // Whether the last piece of `pieces` belongs to this delta.
        let mut piece_open = false;
        for entry in entries {
            let size = body_len(&entry);
            let cost = |pieces: &Vec<Delta>, piece_open: bool| match pieces.last() {
                Some(piece) if piece_open => {
                    let n = piece.entries.len();
                    size + len_prefix(n + 1) - len_prefix(n)
                }
                _ => open_cost(pieces) + size + len_prefix(1) - len_prefix(0),
            };
            if frame_len + cost(&pieces, piece_open) > max_frame_len && !pieces.is_empty() {
                flush(&mut pieces, &mut frames, &mut frame_len, false);
                piece_open = false;
            }
            let needed = frame_len + cost(&pieces, piece_open);
            if needed > max_frame_len {
                return Err(too_large(needed, max_frame_len));
            }
            frame_len = needed;
            if !piece_open {
                pieces.push(new_piece());
                piece_open = true;
            }
            if let Some(piece) = pieces.last_mut() {
                piece.entries.push(entry);
            }
        }
    }
    // The last frame (the only one when there are no deltas) carries `more`.
    flush(&mut pieces, &mut frames, &mut frame_len, more);
    Ok(frames)
}

/// Encodes an eager push as frames of at most `max_frame_len` bytes each.
///
/// # Behavior
///
/// Entries are packed greedily, in order, into as few frames as possible;
/// every frame is a [`Push`] of `channel` and `stream`, and concatenating
/// their entries gives back `entries`. No entries, no frames.
///
/// # Errors
///
/// [`Error::EntryTooLargeForFrame`] when one entry, with the envelope and the
/// push's header, cannot fit in a frame of `max_frame_len` bytes. Nothing is
/// returned then.
pub fn push_frames(
    channel: ChannelId,
    stream: StreamId,
    entries: Vec<LogEntry>,
    max_frame_len: usize,
) -> Result<Vec<Bytes>, Error> {
    // Frame length = fixed + prefix(entries in frame) + Σ entry lengths.
    let fixed = HEADER_LEN + body_len(&(&channel, &stream));
    let mut frames = Vec::new();
    let mut batch: Vec<LogEntry> = Vec::new();
    let mut frame_len = fixed + len_prefix(0);
    let flush = |batch: &mut Vec<LogEntry>, frames: &mut Vec<Bytes>, frame_len: &mut usize| {
        let push = Message::Push(Push {
            channel: channel.clone(),
            stream: stream.clone(),
            entries: std::mem::take(batch),
        });
        let frame = encode(&push);
        debug_assert_eq!(frame.len(), *frame_len, "push size accounting");
        frames.push(frame);
        *frame_len = fixed + len_prefix(0);
    };
    for entry in entries {
        let size = body_len(&entry);
        let cost = |n: usize| size + len_prefix(n + 1) - len_prefix(n);
        if frame_len + cost(batch.len()) > max_frame_len && !batch.is_empty() {
            flush(&mut batch, &mut frames, &mut frame_len);
        }
        let needed = frame_len + cost(batch.len());
        if needed > max_frame_len {
            return Err(too_large(needed, max_frame_len));
        }
        frame_len = needed;
        batch.push(entry);
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut frames, &mut frame_len);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::{collection::vec, option, prelude::*};

    use super::*;
    use crate::{
        domain::{ChannelDigest, DigestHash, Hlc, NodeId, StreamDigest, VersionVector},
        protocol::messages::{
            Ack, ChannelSummary, DeltaRequest, DigestRequest, DigestResponse, MemberState,
            MemberUpdate, Ping, PingReq, StreamWant,
        },
    };

    const MAX: usize = 64 * 1024;

    // ---- strategies -------------------------------------------------------

    fn id_str() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.é-]{1,12}"
    }

    fn node() -> impl Strategy<Value = NodeId> {
        id_str().prop_map(|s| NodeId::new(s).unwrap())
    }

    fn channel() -> impl Strategy<Value = ChannelId> {
        id_str().prop_map(|s| ChannelId::new(s).unwrap())
    }

    fn stream() -> impl Strategy<Value = StreamId> {
        id_str().prop_map(|s| StreamId::new(s).unwrap())
    }

    fn vv() -> impl Strategy<Value = VersionVector> {
        vec((node(), any::<u64>()), 0..4).prop_map(|pairs| pairs.into_iter().collect())
    }

    fn entry_with(payload: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = LogEntry> {
        (
            node(),
            any::<u64>(),
            any::<u64>(),
            payload,
            option::of(vec(any::<u8>(), 0..16)),
        )
            .prop_map(|(author, sequence, ts, payload, signature)| LogEntry {
                author,
                sequence,
                timestamp: Hlc::from_u64(ts),
                payload: payload.into(),
                signature: signature.map(Bytes::from),
            })
    }

    fn entry() -> impl Strategy<Value = LogEntry> {
        entry_with(vec(any::<u8>(), 0..48))
    }

    fn updates() -> impl Strategy<Value = Vec<MemberUpdate>> {
        let state = prop_oneof![
            Just(MemberState::Alive),
            Just(MemberState::Suspect),
            Just(MemberState::Unreachable),
        ];
        vec(
            (node(), any::<u64>(), state).prop_map(|(node, incarnation, state)| MemberUpdate {
                node,
                incarnation,
                state,
            }),
            0..4,
        )
    }

    fn delta() -> impl Strategy<Value = Delta> {
        (channel(), stream(), vv(), vec(entry(), 0..4))
            .prop_map(|(c, s, base, entries)| Delta::new(c, s, base, entries))
    }

    fn message() -> impl Strategy<Value = Message> {
        let digest = (
            channel(),
            vec(
                (stream(), vv(), vv()).prop_map(|(s, v, b)| StreamDigest::new(s, v, b)),
                0..3,
            ),
        )
            .prop_map(|(channel, streams)| ChannelDigest { channel, streams });
        let want = (channel(), stream(), vv()).prop_map(|(channel, stream, have)| StreamWant {
            channel,
            stream,
            have,
        });
        prop_oneof![
            (any::<u64>(), any::<u64>(), updates()).prop_map(|(probe, incarnation, updates)| {
                Message::Ping(Ping {
                    probe,
                    incarnation,
                    updates,
                })
            }),
            (any::<u64>(), node(), any::<u64>(), updates()).prop_map(
                |(probe, target, incarnation, updates)| Message::Ack(Ack {
                    probe,
                    target,
                    incarnation,
                    updates,
                })
            ),
            (any::<u64>(), node(), updates()).prop_map(|(probe, target, updates)| {
                Message::PingReq(PingReq {
                    probe,
                    target,
                    updates,
                })
            }),
            (
                any::<u64>(),
                vec(
                    (channel(), any::<u64>()).prop_map(|(channel, h)| ChannelSummary {
                        channel,
                        hash: DigestHash(h),
                    }),
                    0..4
                )
            )
                .prop_map(|(session, channels)| Message::DigestRequest(
                    DigestRequest { session, channels }
                )),
            (any::<u64>(), vec(digest, 0..3)).prop_map(|(session, digests)| {
                Message::DigestResponse(DigestResponse { session, digests })
            }),
            (any::<u64>(), vec(want, 0..4)).prop_map(|(session, wants)| {
                Message::DeltaRequest(DeltaRequest { session, wants })
            }),
            (any::<u64>(), vec(delta(), 0..3), any::<bool>()).prop_map(
                |(session, deltas, more)| Message::DeltaResponse(DeltaResponse {
                    session,
                    deltas,
                    more,
                })
            ),
            (channel(), stream(), vec(entry(), 0..4)).prop_map(|(channel, stream, entries)| {
                Message::Push(Push {
                    channel,
                    stream,
                    entries,
                })
            }),
        ]
    }

    // ---- helpers ------------------------------------------------------------

    fn responses(frames: &[Bytes], max: usize) -> Vec<DeltaResponse> {
        frames
            .iter()
            .map(|f| {
                assert!(f.len() <= max, "frame of {} bytes > {max}", f.len());
                match decode(f, max).unwrap() {
                    Message::DeltaResponse(r) => r,
                    other => panic!("not a delta response: {other:?}"),
                }
            })
            .collect()
    }

    fn pushes(frames: &[Bytes], max: usize) -> Vec<Push> {
        frames
            .iter()
            .map(|f| {
                assert!(f.len() <= max, "frame of {} bytes > {max}", f.len());
                match decode(f, max).unwrap() {
                    Message::Push(p) => p,
                    other => panic!("not a push: {other:?}"),
                }
            })
            .collect()
    }

    /// Joins consecutive pieces of the same delta (deltas in the tests have
    /// distinct streams, so consecutive pieces of one stream are one delta).
    fn reassemble(responses: &[DeltaResponse]) -> Vec<Delta> {
        let mut out: Vec<Delta> = Vec::new();
        let mut first_of_frame = true;
        for r in responses {
            for piece in &r.deltas {
                match out.last_mut() {
                    Some(last)
                        if first_of_frame
                            && last.stream == piece.stream
                            && !piece.entries.is_empty() =>
                    {
                        assert_eq!((&last.channel, &last.base), (&piece.channel, &piece.base));
                        last.entries.extend(piece.entries.iter().cloned());
                    }
                    _ => out.push(piece.clone()),
                }
                first_of_frame = false;
            }
            first_of_frame = true;
        }
        out
    }

    /// Distinct streams, so reassembly is unambiguous.
    fn distinct_deltas(
        entries: impl Strategy<Value = LogEntry>,
    ) -> impl Strategy<Value = Vec<Delta>> {
        vec((channel(), vv(), vec(entries, 0..12)), 0..5).prop_map(|ds| {
            ds.into_iter()
                .enumerate()
                .map(|(i, (c, base, entries))| {
                    Delta::new(c, StreamId::new(format!("s{i}")).unwrap(), base, entries)
                })
                .collect()
        })
    }

    fn test_entry(sequence: u64, payload_len: usize) -> LogEntry {
        LogEntry::new(
            NodeId::new("author").unwrap(),
            sequence,
            Hlc::from_u64(sequence),
            vec![7u8; payload_len],
        )
    }

    fn ids() -> (ChannelId, StreamId) {
        (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap())
    }

    // ---- codec --------------------------------------------------------------

    proptest! {
        #[test]
        fn every_message_round_trips(message in message()) {
            let frame = encode(&message);
            prop_assert_eq!(frame.len(), encoded_len(&message));
            prop_assert_eq!(frame.first().copied(), Some(PROTOCOL_VERSION));
            prop_assert_eq!(frame.get(1).copied(), Some(message.kind() as u8));
            prop_assert_eq!(decode(&frame, frame.len()), Ok(message));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes, MAX);
        }

        #[test]
        fn arbitrary_bodies_never_panic(kind in 0u8..10, body in vec(any::<u8>(), 0..512)) {
            let mut frame = vec![PROTOCOL_VERSION, kind];
            frame.extend(body);
            if let Err(e) = decode(&frame, MAX) {
                let expected_malformed = MessageKind::from_u8(kind).is_some();
                prop_assert_eq!(matches!(e, DecodeError::Malformed { .. }), expected_malformed);
            }
        }

        #[test]
        fn corrupted_frames_never_panic(
            message in message(),
            flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut frame = encode(&message).to_vec();
            for (at, byte) in flips {
                let i = at.index(frame.len());
                frame[i] = byte;
            }
            let _ = decode(&frame, MAX);
            let cut = cut.index(frame.len() + 1);
            let _ = decode(&frame[..cut], MAX);
        }
    }

    #[test]
    fn every_decode_error_has_a_frame() {
        let ping = encode(&Message::Ping(Ping {
            probe: 1,
            incarnation: 2,
            updates: vec![],
        }));
        assert_eq!(
            decode(&ping, ping.len() - 1),
            Err(DecodeError::TooLarge {
                len: ping.len(),
                max: ping.len() - 1
            })
        );
        // Too large is checked before anything else.
        assert!(matches!(
            decode(&[0, 0, 0], 2),
            Err(DecodeError::TooLarge { len: 3, max: 2 })
        ));
        assert_eq!(decode(&[], MAX), Err(DecodeError::Truncated(0)));
        assert_eq!(
            decode(&[PROTOCOL_VERSION], MAX),
            Err(DecodeError::Truncated(1))
        );
        assert_eq!(
            decode(&[PROTOCOL_VERSION + 1, 1, 0, 0], MAX),
            Err(DecodeError::UnsupportedVersion {
                found: PROTOCOL_VERSION + 1,
                supported: PROTOCOL_VERSION
            })
        );
        assert_eq!(
            decode(&[PROTOCOL_VERSION, 0], MAX),
            Err(DecodeError::UnknownKind(0))
        );
        assert_eq!(
            decode(&[PROTOCOL_VERSION, 9, 1, 2], MAX),
            Err(DecodeError::UnknownKind(9))
        );
        // An empty body.
        assert!(matches!(
            decode(&[PROTOCOL_VERSION, MessageKind::Ping as u8], MAX),
            Err(DecodeError::Malformed { kind: "ping", .. })
        ));
        // Trailing bytes.
        let mut long = ping.to_vec();
        long.push(0);
        match decode(&long, MAX) {
            Err(DecodeError::Malformed {
                kind: "ping",
                reason,
            }) => {
                assert!(reason.contains("trailing"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // An invalid id inside the body.
        let bad_id = [PROTOCOL_VERSION, MessageKind::PingReq as u8, 1, 0];
        assert!(matches!(
            decode(&bad_id, MAX),
            Err(DecodeError::Malformed {
                kind: "ping_req",
                ..
            })
        ));
    }

    /// A postcard varint.
    fn varint(mut n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    #[test]
    fn huge_declared_counts_fail_fast() {
        let started = Instant::now();
        let huge = varint(1 << 60);
        let mut frames = Vec::new();
        // A push of 2^60 entries.
        frames.push(
            [
                &[PROTOCOL_VERSION, MessageKind::Push as u8, 1, b'c', 1, b's'][..],
                &huge,
            ]
            .concat(),
        );
        // A delta response of 2^60 deltas, then one delta of 2^60 entries.
        frames.push(
            [
                &[PROTOCOL_VERSION, MessageKind::DeltaResponse as u8, 0][..],
                &huge,
            ]
            .concat(),
        );
        frames.push(
            [
                &[
                    PROTOCOL_VERSION,
                    MessageKind::DeltaResponse as u8,
                    0,
                    1,
                    1,
                    b'c',
                    1,
                    b's',
                    0,
                ][..],
                &huge,
            ]
            .concat(),
        );
        // Every other Vec, and a version vector of 2^60 authors.
        for kind in [
            MessageKind::DigestRequest,
            MessageKind::DigestResponse,
            MessageKind::DeltaRequest,
        ] {
            frames.push([&[PROTOCOL_VERSION, kind as u8, 0][..], &huge].concat());
        }
        frames.push(
            [
                &[PROTOCOL_VERSION, MessageKind::Ping as u8, 0, 0][..],
                &huge,
            ]
            .concat(),
        );
        frames.push(
            [
                &[
                    PROTOCOL_VERSION,
                    MessageKind::DeltaRequest as u8,
                    0,
                    1,
                    1,
                    b'c',
                    1,
                    b's',
                ][..],
                &huge,
            ]
            .concat(),
        );
        // A payload claiming 2^60 bytes.
        frames.push(
            [
                &[
                    PROTOCOL_VERSION,
                    MessageKind::Push as u8,
                    1,
                    b'c',
                    1,
                    b's',
                    1,
                    1,
                    b'a',
                    1,
                    1,
                ][..],
                &huge,
            ]
            .concat(),
        );
        // Counts just below the bytes present (they pass postcard's own check).
        let mut plausible = vec![PROTOCOL_VERSION, MessageKind::DeltaResponse as u8, 0];
        plausible.extend(varint(3000));
        plausible.resize(4000, 0xff);
        frames.push(plausible);
        for frame in &frames {
            assert!(frame.len() < 4096);
            assert!(
                matches!(decode(frame, MAX), Err(DecodeError::Malformed { .. })),
                "{frame:?}"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    // ---- splitting ----------------------------------------------------------

    proptest! {
        #[test]
        fn delta_frames_fit_and_preserve_content(
            session in any::<u64>(),
            deltas in distinct_deltas(entry_with(vec(any::<u8>(), 0..200))),
            more in any::<bool>(),
            max in 60usize..1500,
        ) {
            match delta_response_frames(session, deltas.clone(), more, max) {
                Ok(frames) => {
                    let rs = responses(&frames, max);
                    prop_assert!(!rs.is_empty());
                    for (i, r) in rs.iter().enumerate() {
                        prop_assert_eq!(r.session, session);
                        prop_assert_eq!(r.more, more && i + 1 == rs.len());
                    }
                    prop_assert_eq!(reassemble(&rs), deltas);
                    // Greedy: the next frame's first entry (or empty piece)
                    // would not have fitted in the previous frame.
                    for pair in rs.windows(2) {
                        let (mut grown, next) = (pair[0].clone(), &pair[1].deltas[0]);
                        let continues = grown.deltas.last().is_some_and(|d| d.stream == next.stream);
                        match next.entries.first() {
                            Some(e) if continues => {
                                grown.deltas.last_mut().unwrap().entries.push(e.clone());
                            }
                            Some(e) => grown.deltas.push(Delta::new(
                                next.channel.clone(),
                                next.stream.clone(),
                                next.base.clone(),
                                vec![e.clone()],
                            )),
                            None => grown.deltas.push(next.clone()),
                        }
                        prop_assert!(encoded_len(&Message::DeltaResponse(grown)) > max);
                    }
                }
                Err(Error::EntryTooLargeForFrame { size, max_frame_len }) => {
                    prop_assert_eq!(max_frame_len, max);
                    prop_assert!(size > max);
                    // Some entry (or empty delta) alone does not fit.
                    let alone = |d: &Delta, entries: Vec<LogEntry>| {
                        encoded_len(&Message::DeltaResponse(DeltaResponse {
                            session,
                            deltas: vec![Delta::new(d.channel.clone(), d.stream.clone(), d.base.clone(), entries)],
                            more,
                        }))
                    };
                    let some_too_large = deltas.iter().any(|d| {
                        if d.entries.is_empty() {
                            alone(d, vec![]) > max
                        } else {
                            d.entries.iter().any(|e| alone(d, vec![e.clone()]) > max)
                        }
                    });
                    prop_assert!(some_too_large);
                }
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }

        #[test]
        fn push_frames_fit_and_preserve_content(
            channel in channel(),
            stream in stream(),
            entries in vec(entry_with(vec(any::<u8>(), 0..300)), 0..40),
            max in 40usize..2000,
        ) {
            match push_frames(channel.clone(), stream.clone(), entries.clone(), max) {
                Ok(frames) => {
                    let ps = pushes(&frames, max);
                    prop_assert_eq!(ps.is_empty(), entries.is_empty());
                    for p in &ps {
                        prop_assert_eq!(&p.channel, &channel);
                        prop_assert_eq!(&p.stream, &stream);
                        prop_assert!(!p.entries.is_empty());
                    }
                    let all: Vec<LogEntry> = ps.iter().flat_map(|p| p.entries.clone()).collect();
                    prop_assert_eq!(&all, &entries);
                    for pair in ps.windows(2) {
                        let mut grown = pair[0].clone();
                        grown.entries.push(pair[1].entries[0].clone());
                        prop_assert!(encoded_len(&Message::Push(grown)) > max);
                    }
                }
                Err(Error::EntryTooLargeForFrame { size, max_frame_len }) => {
                    prop_assert_eq!(max_frame_len, max);
                    prop_assert!(size > max);
                    let some_too_large = entries.iter().any(|e| {
                        let alone = Push {
                            channel: channel.clone(),
                            stream: stream.clone(),
                            entries: vec![e.clone()],
                        };
                        encoded_len(&Message::Push(alone)) > max
                    });
                    prop_assert!(some_too_large);
                }
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }

    #[test]
    fn small_responses_take_one_frame() {
        let (c, s) = ids();
        let entries: Vec<LogEntry> = (1..=10).map(|i| test_entry(i, 10)).collect();
        let delta = Delta::new(c, s, VersionVector::new(), entries);
        let frames = delta_response_frames(3, vec![delta.clone()], true, MAX).unwrap();
        assert_eq!(frames.len(), 1);
        let rs = responses(&frames, MAX);
        assert_eq!(rs[0].deltas, vec![delta]);
        assert!(rs[0].more);
    }

    #[test]
    fn more_is_carried_by_the_last_frame_only() {
        let (c, s) = ids();
        let entries: Vec<LogEntry> = (1..=30).map(|i| test_entry(i, 100)).collect();
        let one_entry = body_len(&entries[0]);
        // Room for about ten entries per frame.
        let max = 40 + 10 * one_entry;
        let delta = Delta::new(c, s, VersionVector::new(), entries);
        for more in [false, true] {
            let frames = delta_response_frames(9, vec![delta.clone()], more, max).unwrap();
            let rs = responses(&frames, max);
            assert_eq!(rs.len(), 3);
            let flags: Vec<bool> = rs.iter().map(|r| r.more).collect();
            assert_eq!(flags, vec![false, false, more]);
            assert!(rs
                .iter()
                .all(|r| r.deltas.len() == 1 && r.deltas[0].entries.len() == 10));
        }
    }

    #[test]
    fn no_deltas_is_one_empty_frame() {
        for more in [false, true] {
            let frames = delta_response_frames(1, vec![], more, 16).unwrap();
            let rs = responses(&frames, 16);
            assert_eq!(rs.len(), 1);
            assert!(rs[0].deltas.is_empty());
            assert_eq!(rs[0].more, more);
        }
        let (c, s) = ids();
        assert!(push_frames(c, s, vec![], 16).unwrap().is_empty());
    }

    #[test]
    fn many_small_deltas_share_frames() {
        let deltas: Vec<Delta> = (0..40)
            .map(|i| {
                Delta::new(
                    ChannelId::new("c").unwrap(),
                    StreamId::new(format!("s{i}")).unwrap(),
                    VersionVector::new(),
                    vec![test_entry(1, 20)],
                )
            })
            .collect();
        let total: usize = encoded_len(&Message::DeltaResponse(DeltaResponse {
            session: 0,
            deltas: deltas.clone(),
            more: false,
        }));
        let max = total / 3 + 60;
        let frames = delta_response_frames(0, deltas.clone(), false, max).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(reassemble(&responses(&frames, max)), deltas);
    }

    #[test]
    fn entry_too_large_for_any_frame_is_an_error() {
        let (c, s) = ids();
        let small = test_entry(1, 10);
        let big = test_entry(2, 5000);
        let max = 1024;
        let delta = Delta::new(
            c.clone(),
            s.clone(),
            VersionVector::new(),
            vec![small.clone(), big.clone()],
        );
        match delta_response_frames(0, vec![delta], false, max) {
            Err(Error::EntryTooLargeForFrame {
                size,
                max_frame_len,
            }) => {
                assert_eq!(max_frame_len, max);
                assert!(size > 5000);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            push_frames(c.clone(), s.clone(), vec![small, big], max),
            Err(Error::EntryTooLargeForFrame {
                max_frame_len: 1024,
                ..
            })
        ));
        // A delta whose header alone is too large.
        let base: VersionVector = (0..100)
            .map(|i| (NodeId::new(format!("author-{i}")).unwrap(), 1))
            .collect();
        let empty = Delta::new(c, s, base, vec![]);
        assert!(matches!(
            delta_response_frames(0, vec![empty], false, max),
            Err(Error::EntryTooLargeForFrame { .. })
        ));
        // A maximum below an empty response.
        assert!(matches!(
            delta_response_frames(u64::MAX, vec![], false, 8),
            Err(Error::EntryTooLargeForFrame {
                size: 14,
                max_frame_len: 8
            })
        ));
    }

    #[test]
    fn exact_fit_is_accepted() {
        let (c, s) = ids();
        let entries: Vec<LogEntry> = (1..=5).map(|i| test_entry(i, 50)).collect();
        let whole = encoded_len(&Message::Push(Push {
            channel: c.clone(),
            stream: s.clone(),
            entries: entries.clone(),
        }));
        assert_eq!(
            push_frames(c.clone(), s.clone(), entries.clone(), whole)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(push_frames(c, s, entries, whole - 1).unwrap().len(), 2);
    }

    #[test]
    fn varint_lengths_match_postcard() {
        for n in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            assert_eq!(varint_len(n), body_len(&n), "{n}");
            assert_eq!(varint(n).len(), varint_len(n));
        }
    }
}
