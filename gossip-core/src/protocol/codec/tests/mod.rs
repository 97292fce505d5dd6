//! Codec tests: proptest strategies and shared helpers here; the envelope's
//! tests in [`envelope`], frame splitting's in [`split`].

use proptest::{collection::vec, option, prelude::*};

use crate::{
    domain::{
        BaseProof, ChannelDigest, ChannelId, Delta, DigestHash, EntryHash, Hlc, LogEntry, NodeId,
        Signature, SignedHeader, StreamDigest, StreamId, VersionVector, MAX_SEQUENCE,
    },
    protocol::author_push::{AuthorPush, RunEntry, StreamRef, StreamTag},
    protocol::messages::{
        Ack, Announced, ChannelSummary, DeltaRequest, DeltaResponse, DigestRequest, DigestResponse,
        Graft, GraftWant, IHave, MemberState, MemberUpdate, Message, Nack, Ping, PingReq, Prune,
        Push, StreamWant,
    },
};

use super::size::{body_len, varint_len};

mod envelope;
mod split;
mod split_sync;

/// A frame maximum every generated message fits in.
const MAX: usize = 64 * 1024;

// ---- strategies ---------------------------------------------------------

fn id_str() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.é-]{1,12}"
}

fn node() -> impl Strategy<Value = NodeId> {
    id_str().prop_map(NodeId::from_seed)
}

fn channel() -> impl Strategy<Value = ChannelId> {
    id_str().prop_map(|s| ChannelId::new(s).unwrap())
}

fn stream() -> impl Strategy<Value = StreamId> {
    id_str().prop_map(|s| StreamId::new(s).unwrap())
}

fn vv() -> impl Strategy<Value = VersionVector> {
    vec((node(), 0..=MAX_SEQUENCE), 0..4).prop_map(|pairs| pairs.into_iter().collect())
}

fn entry_with(payload: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = LogEntry> {
    (
        node(),
        0..=MAX_SEQUENCE,
        any::<u64>(),
        payload,
        any::<[u8; 32]>(),
        option::of(signature()),
    )
        .prop_map(|(author, sequence, ts, payload, previous, signature)| {
            let mut entry = LogEntry::new(author, sequence, Hlc::from_u64(ts), payload);
            entry.previous = EntryHash::from_bytes(previous);
            entry.signature = signature;
            entry
        })
}

fn entry() -> impl Strategy<Value = LogEntry> {
    entry_with(vec(any::<u8>(), 0..48))
}

/// Sets the link of every entry that continues the one before it (same
/// author, next sequence) to that entry's hash in `channel` and `stream`:
/// what the wire's runs carry (see `domain::entry_runs`).
pub(super) fn link(channel: &ChannelId, stream: &StreamId, entries: &mut [LogEntry]) {
    for i in 1..entries.len() {
        let (before, after) = entries.split_at_mut(i);
        let (last, next) = (&before[i - 1], &mut after[0]);
        if next.author == last.author && last.sequence.checked_add(1) == Some(next.sequence) {
            next.previous = last.hash(channel, stream);
        }
    }
}

/// Scattered entries, or runs of one author (linked by [`link`] where the
/// entries are used).
fn entries() -> impl Strategy<Value = Vec<LogEntry>> {
    entries_of(16, 4)
}

/// Up to `n` scattered entries, or a few runs of one author each, signed at
/// random places and at their end; payloads below `max_payload` bytes.
pub(super) fn entries_of(max_payload: usize, n: usize) -> impl Strategy<Value = Vec<LogEntry>> {
    let scattered = vec(entry_with(vec(any::<u8>(), 0..max_payload)), 0..n);
    let run = (
        entry(),
        vec((vec(any::<u8>(), 0..max_payload), any::<bool>()), 1..12),
    )
        .prop_map(|(first, shape)| {
            let n = shape.len();
            shape
                .into_iter()
                .enumerate()
                .map(|(i, (payload, signed))| {
                    let mut e = first.clone();
                    e.sequence = first.sequence.saturating_sub(16) + i as u64;
                    e.payload = payload.into();
                    e.signature = (signed || i + 1 == n).then(|| Signature::from_bytes([3; 64]));
                    e
                })
                .collect::<Vec<_>>()
        });
    prop_oneof![scattered, vec(run, 1..4).prop_map(|runs| runs.concat())]
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

fn signature() -> impl Strategy<Value = Signature> {
    any::<([u8; 32], [u8; 32])>().prop_map(|(low, high)| {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&low);
        bytes[32..].copy_from_slice(&high);
        Signature::from_bytes(bytes)
    })
}

fn header() -> impl Strategy<Value = SignedHeader> {
    (
        node(),
        0..=MAX_SEQUENCE,
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        signature(),
    )
        .prop_map(
            |(author, sequence, ts, previous, payload_hash, signature)| SignedHeader {
                author,
                sequence,
                timestamp: Hlc::from_u64(ts),
                previous: EntryHash::from_bytes(previous),
                payload_hash: EntryHash::from_bytes(payload_hash),
                signature,
            },
        )
}

/// Base proofs (random bytes: the codec does not verify them).
pub(super) fn base_proofs() -> impl Strategy<Value = Vec<BaseProof>> {
    vec((header(), header()), 0..3).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(base, head)| BaseProof { base, head })
            .collect()
    })
}

fn delta() -> impl Strategy<Value = Delta> {
    (channel(), stream(), base_proofs(), entries()).prop_map(|(c, s, base, mut entries)| {
        link(&c, &s, &mut entries);
        Delta::new(c, s, base, entries)
    })
}

fn message() -> impl Strategy<Value = Message> {
    let digest = (
        channel(),
        vec(
            (stream(), vv(), vv()).prop_map(|(s, v, b)| StreamDigest::new(s, v, b)),
            0..3,
        ),
    )
        .prop_map(|(channel, streams)| ChannelDigest::new(channel, streams));
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
        (any::<u64>(), node(), updates()).prop_map(|(probe, target, updates)| {
            Message::Nack(Nack {
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
            .prop_map(|(session, channels)| Message::DigestRequest(DigestRequest {
                session,
                channels
            })),
        (any::<u64>(), vec(digest, 0..3)).prop_map(|(session, digests)| {
            Message::DigestResponse(DigestResponse { session, digests })
        }),
        (any::<u64>(), vec(want, 0..4)).prop_map(|(session, wants)| {
            Message::DeltaRequest(DeltaRequest { session, wants })
        }),
        (any::<u64>(), vec(delta(), 0..3), any::<bool>()).prop_map(|(session, deltas, more)| {
            Message::DeltaResponse(DeltaResponse {
                session,
                deltas,
                more,
            })
        }),
        (channel(), stream(), entries()).prop_map(|(channel, stream, mut entries)| {
            link(&channel, &stream, &mut entries);
            Message::Push(Push {
                channel,
                stream,
                entries,
            })
        }),
        (channel(), vec((stream(), node(), any::<u64>()), 0..4)).prop_map(|(channel, ranges)| {
            let ranges = ranges
                .into_iter()
                .map(|(stream, author, up_to)| Announced {
                    stream,
                    author,
                    up_to,
                })
                .collect();
            Message::IHave(IHave { channel, ranges })
        }),
        (
            channel(),
            vec((stream(), node(), any::<u64>(), any::<u64>()), 0..4)
        )
            .prop_map(|(channel, wants)| {
                let wants = wants
                    .into_iter()
                    .map(|(stream, author, after, up_to)| GraftWant {
                        stream,
                        author,
                        after,
                        up_to,
                    })
                    .collect();
                Message::Graft(Graft { channel, wants })
            }),
        channel().prop_map(|channel| Message::Prune(Prune { channel })),
        (
            prop_oneof![
                (channel(), stream()).prop_map(|(c, s)| StreamRef::Named(c, s)),
                any::<[u8; 8]>().prop_map(|t| StreamRef::Tagged(StreamTag(t))),
            ],
            1..=MAX_SEQUENCE - 16,
            option::of(any::<[u8; 32]>()),
            vec(
                (
                    any::<u64>(),
                    vec(any::<u8>(), 0..16),
                    option::of(signature())
                ),
                1..4
            )
        )
            .prop_map(|(to, first, previous, entries)| {
                Message::AuthorPush(AuthorPush {
                    to,
                    first,
                    previous: previous.map(EntryHash::from_bytes),
                    entries: entries
                        .into_iter()
                        .map(|(ts, payload, signature)| RunEntry {
                            timestamp: Hlc::from_u64(ts),
                            payload: payload.into(),
                            signature,
                        })
                        .collect(),
                })
            }),
    ]
}

// ---- size accounting ----------------------------------------------------

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
