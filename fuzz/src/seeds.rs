//! The seed corpus of every target, built with the real encoders: written to
//! `fuzz/corpus/<target>/` by `cargo run --example seeds`, replayed by the tests.

use gossip_core::{
    protocol::{
        codec, Ack, Announced, AuthorPush, ChannelSummary, DeltaRequest, DigestRequest,
        DigestResponse, Graft, GraftWant, IHave, Message, Nack, Ping, PingReq, Prune, RunEntry,
        StreamRef, StreamTag, StreamWant,
    },
    raw::{ChannelDigest, DigestHash, StreamDigest},
    ChannelId, EntryHash, Hlc, Identity, StreamId, VersionVector,
};

/// Every target's seeds: `(target, [(file name, bytes)])`.
pub fn all() -> Vec<(&'static str, Vec<(String, Vec<u8>)>)> {
    vec![
        ("frame_decode", frame_decode()),
        ("tcp_handshake", crate::handshake::seeds()),
        ("tcp_frame_reader", crate::tcp_frame_reader::seeds()),
        ("middleware_decode", crate::middleware::seeds()),
        ("merge", crate::merge::seeds()),
    ]
}

/// One frame of every message kind, plus the merge target's push and delta
/// frames.
fn frame_decode() -> Vec<(String, Vec<u8>)> {
    let alice = Identity::from_seed("fuzz-alice").node_id().clone();
    let bob = Identity::from_seed("fuzz-bob").node_id().clone();
    let channel = ChannelId::new("fuzz-channel").expect("channel id");
    let stream = StreamId::new("fuzz-stream").expect("stream id");
    let mut version = VersionVector::new();
    version.raise(&alice, 3);
    version.raise(&bob, 1 << 40);
    let messages = [
        (
            "ping",
            Message::Ping(Ping {
                probe: 7,
                incarnation: 1,
                updates: vec![],
            }),
        ),
        (
            "ack",
            Message::Ack(Ack {
                probe: u64::MAX,
                target: bob.clone(),
                incarnation: 2,
                updates: vec![],
            }),
        ),
        (
            "ping-req",
            Message::PingReq(PingReq {
                probe: 3,
                target: alice.clone(),
                updates: vec![],
            }),
        ),
        (
            "nack",
            Message::Nack(Nack {
                probe: 3,
                target: alice.clone(),
                updates: vec![],
            }),
        ),
        (
            "digest-request",
            Message::DigestRequest(DigestRequest {
                session: 1,
                channels: vec![ChannelSummary {
                    channel: channel.clone(),
                    hash: DigestHash(0xdead_beef),
                }],
            }),
        ),
        (
            "digest-response",
            Message::DigestResponse(DigestResponse {
                session: 1,
                digests: vec![ChannelDigest::new(
                    channel.clone(),
                    vec![StreamDigest::new(
                        stream.clone(),
                        version.clone(),
                        VersionVector::new(),
                    )],
                )],
            }),
        ),
        (
            "delta-request",
            Message::DeltaRequest(DeltaRequest {
                session: 2,
                wants: vec![StreamWant {
                    channel: channel.clone(),
                    stream: stream.clone(),
                    have: version,
                }],
            }),
        ),
        (
            "ihave",
            Message::IHave(IHave {
                channel: channel.clone(),
                ranges: vec![Announced {
                    stream: stream.clone(),
                    author: alice.clone(),
                    up_to: 3,
                }],
            }),
        ),
        (
            "author-push",
            Message::AuthorPush(AuthorPush {
                to: StreamRef::Tagged(StreamTag::of(&channel, &stream)),
                first: 4,
                previous: None,
                entries: vec![
                    RunEntry {
                        timestamp: Hlc::new(1_700_000_000_000, 0).expect("timestamp"),
                        payload: b"fuzz".to_vec().into(),
                        signature: None,
                    },
                    RunEntry {
                        timestamp: Hlc::new(1_700_000_000_001, 0).expect("timestamp"),
                        payload: Vec::new().into(),
                        signature: Some(gossip_core::Signature::from_bytes([7; 64])),
                    },
                ],
            }),
        ),
        (
            "author-push-linked",
            Message::AuthorPush(AuthorPush {
                to: StreamRef::Named(channel.clone(), stream.clone()),
                first: 1,
                previous: Some(EntryHash::GENESIS),
                entries: vec![RunEntry {
                    timestamp: Hlc::new(1, 0).expect("timestamp"),
                    payload: b"x".to_vec().into(),
                    signature: None,
                }],
            }),
        ),
        (
            "graft",
            Message::Graft(Graft {
                channel: channel.clone(),
                wants: vec![GraftWant {
                    stream,
                    author: alice,
                    after: 1,
                    up_to: 3,
                }],
            }),
        ),
        ("prune", Message::Prune(Prune { channel })),
    ];
    let mut out: Vec<(String, Vec<u8>)> = messages
        .into_iter()
        .map(|(name, message)| (name.to_string(), codec::encode(&message).to_vec()))
        .collect();
    // The merge target's raw frames: a push and a delta response.
    out.extend(crate::merge::sample_frames());
    out
}
