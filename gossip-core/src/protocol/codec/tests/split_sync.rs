//! Splitting of digest requests, digest responses and delta requests.

use super::*;
use crate::protocol::codec::{
    decode, delta_request_frames, digest_request_frames, digest_response_frames,
};

fn version(authors: usize, seq: u64) -> VersionVector {
    let mut v = VersionVector::new();
    for a in 0..authors {
        v.raise(&NodeId::from_seed(format!("author{a}")), seq);
    }
    v
}

fn big_digest(channel: &str, streams: usize) -> ChannelDigest {
    ChannelDigest::new(
        ChannelId::new(channel).unwrap(),
        (0..streams)
            .map(|i| {
                let id = StreamId::new(format!("stream-{i:05}")).unwrap();
                StreamDigest::new(id, version(3, i as u64 + 1), VersionVector::new())
            })
            .collect(),
    )
}

fn decoded(frames: &[bytes::Bytes], max: usize) -> Vec<Message> {
    frames
        .iter()
        .map(|f| {
            assert!(f.len() <= max, "a frame of {} bytes exceeds {max}", f.len());
            decode(f, max).unwrap()
        })
        .collect()
}

#[test]
fn a_digest_larger_than_a_frame_goes_in_parts_that_cover_every_stream_once() {
    let max = 16 * 1024;
    let whole = big_digest("big", 2_000);
    let small = big_digest("small", 3);
    assert!(body_len(&whole) > 8 * max, "the digest needs many frames");
    let response = DigestResponse {
        session: 9,
        digests: vec![small.clone(), whole.clone()],
    };
    let frames = digest_response_frames(response, max).unwrap();
    let mut parts = Vec::new();
    for message in decoded(&frames, max) {
        let Message::DigestResponse(r) = message else {
            panic!("not a digest response")
        };
        assert_eq!(r.session, 9);
        parts.extend(r.digests);
    }
    assert_eq!(
        parts.first(),
        Some(&small),
        "a digest that fits is sent whole"
    );
    let parts = &parts[1..];
    assert!(parts.len() > 8);
    // Every stream is covered by exactly one part, and listed by it.
    for stream in &whole.streams {
        let covering: Vec<&ChannelDigest> = parts
            .iter()
            .filter(|p| p.part.covers(&stream.stream))
            .collect();
        assert_eq!(covering.len(), 1, "{} covered once", stream.stream);
        assert_eq!(covering[0].stream(&stream.stream), Some(stream));
    }
    // Streams the sender lacks are covered too (before, between, after).
    for lacking in ["a", "stream-00100x", "zzz"] {
        let lacking = StreamId::new(lacking).unwrap();
        assert_eq!(parts.iter().filter(|p| p.part.covers(&lacking)).count(), 1);
    }
    let listed: Vec<StreamDigest> = parts.iter().flat_map(|p| p.streams.clone()).collect();
    assert_eq!(listed, whole.streams);
}

#[test]
fn requests_are_packed_into_frames_that_fit_and_keep_every_item() {
    let max = 4 * 1024;
    let channels: Vec<ChannelSummary> = (0..500)
        .map(|i| ChannelSummary {
            channel: ChannelId::new(format!("channel-{i}")).unwrap(),
            hash: DigestHash(i),
        })
        .collect();
    let request = DigestRequest {
        session: 3,
        channels: channels.clone(),
    };
    let frames = digest_request_frames(request, max).unwrap();
    assert!(frames.len() > 1);
    let mut got = Vec::new();
    for message in decoded(&frames, max) {
        let Message::DigestRequest(r) = message else {
            panic!("not a digest request")
        };
        assert_eq!(r.session, 3);
        got.extend(r.channels);
    }
    assert_eq!(got, channels);

    let wants: Vec<StreamWant> = (0..300)
        .map(|i| StreamWant {
            channel: ChannelId::new("c").unwrap(),
            stream: StreamId::new(format!("s{i}")).unwrap(),
            have: version(2, i),
        })
        .collect();
    let request = DeltaRequest {
        session: 4,
        wants: wants.clone(),
    };
    let frames = delta_request_frames(request, max).unwrap();
    assert!(frames.len() > 1);
    let mut got = Vec::new();
    for message in decoded(&frames, max) {
        let Message::DeltaRequest(r) = message else {
            panic!("not a delta request")
        };
        got.extend(r.wants);
    }
    assert_eq!(got, wants);
}

#[test]
fn an_item_that_fits_no_frame_is_a_typed_error() {
    let want = StreamWant {
        channel: ChannelId::new("c").unwrap(),
        stream: StreamId::new("s").unwrap(),
        have: version(500, 1),
    };
    let request = DeltaRequest {
        session: 1,
        wants: vec![want],
    };
    assert!(matches!(
        delta_request_frames(request, 1024),
        Err(crate::error::Error::EntryTooLargeForFrame { .. })
    ));
}
