//! The envelope: every message round-trips, no input panics, every decode
//! error has a frame that produces it, declared counts cost nothing.

use std::time::{Duration, Instant};

use proptest::{collection::vec, prelude::*};

use super::{message, varint, MAX};
use crate::{
    error::DecodeError,
    protocol::{
        codec::{decode, decode_shared, encode, encoded_len},
        messages::{Message, MessageKind, Ping, PROTOCOL_VERSION},
    },
};

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
    fn a_shared_decode_equals_a_copying_one_and_shares_payloads(message in message()) {
        let frame = encode(&message);
        let shared = decode_shared(&frame, frame.len());
        prop_assert_eq!(&shared, &Ok(message));
        let inside = |p: &[u8]| {
            let start = frame.as_ptr() as usize;
            p.is_empty() || (p.as_ptr() as usize >= start && p.as_ptr() as usize + p.len() <= start + frame.len())
        };
        let payloads: Vec<bytes::Bytes> = match shared {
            Ok(Message::DeltaResponse(r)) => r.deltas.into_iter().flat_map(|d| d.entries).map(|e| e.payload).collect(),
            Ok(Message::Push(p)) => p.entries.into_iter().map(|e| e.payload).collect(),
            Ok(Message::AuthorPush(p)) => p.entries.into_iter().map(|e| e.payload).collect(),
            _ => Vec::new(),
        };
        for payload in payloads {
            prop_assert!(inside(&payload), "a payload was copied");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes, MAX);
    }

    #[test]
    fn arbitrary_bodies_never_panic(kind in 0u8..14, body in vec(any::<u8>(), 0..512)) {
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
        decode(&[PROTOCOL_VERSION, 14, 1, 2], MAX),
        Err(DecodeError::UnknownKind(14))
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

/// Sequences above 2^63 are refused when decoded, in entries and in version
/// vectors, so that no `sequence + 1` downstream can overflow.
#[test]
fn sequences_above_two_to_the_63_are_refused_at_decode() {
    use crate::{
        domain::{ChannelId, Hlc, LogEntry, NodeId, StreamId, VersionVector, MAX_SEQUENCE},
        protocol::messages::Push,
    };
    let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
    let push = |sequence| {
        encode(&Message::Push(Push {
            channel: c.clone(),
            stream: s.clone(),
            entries: vec![LogEntry::new(
                NodeId::from_seed("a"),
                sequence,
                Hlc::new(1, 0).unwrap(),
                vec![],
            )],
        }))
    };
    assert!(decode(&push(MAX_SEQUENCE), MAX).is_ok());
    for sequence in [MAX_SEQUENCE + 1, u64::MAX - 1, u64::MAX] {
        assert!(
            matches!(
                decode(&push(sequence), MAX),
                Err(DecodeError::Malformed { kind: "push", .. })
            ),
            "sequence {sequence}"
        );
        let vector: VersionVector = [(NodeId::from_seed("a"), sequence)].into_iter().collect();
        let bytes = postcard::to_allocvec(&vector).unwrap();
        assert!(postcard::from_bytes::<VersionVector>(&bytes).is_err());
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

#[test]
fn lazy_push_messages_past_their_limits_are_refused() {
    use crate::{
        domain::{ChannelId, NodeId, StreamId},
        protocol::messages::{
            Announced, Graft, GraftWant, IHave, MAX_GRAFT_WANTS, MAX_IHAVE_RANGES,
        },
    };
    let channel = ChannelId::new("c").unwrap();
    let range = Announced {
        stream: StreamId::new("s").unwrap(),
        author: NodeId::from_seed("a"),
        up_to: 3,
    };
    let ihave = |n: usize| {
        Message::IHave(IHave {
            channel: channel.clone(),
            ranges: vec![range.clone(); n],
        })
    };
    let at_limit = ihave(MAX_IHAVE_RANGES);
    assert_eq!(decode(&encode(&at_limit), usize::MAX), Ok(at_limit));
    assert!(matches!(
        decode(&encode(&ihave(MAX_IHAVE_RANGES + 1)), usize::MAX),
        Err(DecodeError::Malformed { kind: "ihave", .. })
    ));
    let want = GraftWant {
        stream: StreamId::new("s").unwrap(),
        author: NodeId::from_seed("a"),
        after: 1,
        up_to: 3,
    };
    let graft = |n: usize| {
        Message::Graft(Graft {
            channel: channel.clone(),
            wants: vec![want.clone(); n],
        })
    };
    let at_limit = graft(MAX_GRAFT_WANTS);
    assert_eq!(decode(&encode(&at_limit), usize::MAX), Ok(at_limit));
    assert!(matches!(
        decode(&encode(&graft(MAX_GRAFT_WANTS + 1)), usize::MAX),
        Err(DecodeError::Malformed { kind: "graft", .. })
    ));
    // A count declared far past the limit fails before anything decodes.
    let huge = [
        &[PROTOCOL_VERSION, MessageKind::IHave as u8, 1, b'c'][..],
        &super::varint(1 << 60),
    ]
    .concat();
    assert!(matches!(
        decode(&huge, usize::MAX),
        Err(DecodeError::Malformed { kind: "ihave", .. })
    ));
}
