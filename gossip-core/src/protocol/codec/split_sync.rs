//! Frame splitting of the anti-entropy requests and digests: a node with
//! many channels, streams or authors never builds a sync message larger
//! than the transport carries (which the receiver would refuse, stopping
//! anti-entropy for every channel bundled with it).

use bytes::Bytes;
use serde::Serialize;

use super::{
    envelope::{encode, HEADER_LEN},
    size::{body_len, len_prefix, varint_len},
};
use crate::{
    domain::{ChannelDigest, DigestPart, StreamDigest, StreamId, MAX_ID_LEN},
    error::Error,
    protocol::messages::{DeltaRequest, DigestRequest, DigestResponse, Message},
};

fn too_large(size: usize, max_frame_len: usize) -> Error {
    Error::EntryTooLargeForFrame {
        size,
        max_frame_len,
    }
}

/// Packs `items` greedily, in order, into frames of at most `max_frame_len`
/// bytes, each the message `build(session, items)`. At least one frame.
fn pack<T: Serialize>(
    session: u64,
    items: Vec<T>,
    max_frame_len: usize,
    build: impl Fn(u64, Vec<T>) -> Message,
) -> Result<Vec<Bytes>, Error> {
    let fixed = HEADER_LEN + varint_len(session);
    let frame_len = |count: usize, bytes: usize| fixed + len_prefix(count) + bytes;
    let mut frames = Vec::new();
    let mut batch: Vec<T> = Vec::new();
    let mut batch_bytes = 0;
    for item in items {
        let size = body_len(&item);
        if frame_len(batch.len() + 1, batch_bytes + size) > max_frame_len && !batch.is_empty() {
            frames.push(encode(&build(session, std::mem::take(&mut batch))));
            batch_bytes = 0;
        }
        let needed = frame_len(batch.len() + 1, batch_bytes + size);
        if needed > max_frame_len {
            return Err(too_large(needed, max_frame_len));
        }
        batch.push(item);
        batch_bytes += size;
    }
    if !batch.is_empty() || frames.is_empty() {
        frames.push(encode(&build(session, batch)));
    }
    Ok(frames)
}

/// Encodes a digest request as frames of at most `max_frame_len` bytes
/// each, its channel summaries packed in order; every frame carries the
/// session. The responder answers each frame on its own.
///
/// # Errors
///
/// [`Error::EntryTooLargeForFrame`] when one summary cannot fit in a frame.
pub fn digest_request_frames(
    request: DigestRequest,
    max_frame_len: usize,
) -> Result<Vec<Bytes>, Error> {
    pack(
        request.session,
        request.channels,
        max_frame_len,
        |session, channels| Message::DigestRequest(DigestRequest { session, channels }),
    )
}

/// Encodes a delta request as frames of at most `max_frame_len` bytes each,
/// its stream wants packed in order; every frame carries the session. The
/// responder serves each frame on its own.
///
/// # Errors
///
/// [`Error::EntryTooLargeForFrame`] when one want (a version vector of more
/// authors than a frame holds) cannot fit in a frame.
pub fn delta_request_frames(
    request: DeltaRequest,
    max_frame_len: usize,
) -> Result<Vec<Bytes>, Error> {
    pack(
        request.session,
        request.wants,
        max_frame_len,
        |session, wants| Message::DeltaRequest(DeltaRequest { session, wants }),
    )
}

/// Encodes a digest response as frames of at most `max_frame_len` bytes
/// each. Digests are packed in order; a channel digest too large for one
/// frame is sent in parts, each a [`ChannelDigest`] of consecutive streams
/// whose [`DigestPart`] says which streams it speaks for, so the receiver
/// reads each frame on its own.
///
/// # Errors
///
/// [`Error::EntryTooLargeForFrame`] when one stream's digest cannot fit in
/// a frame.
pub fn digest_response_frames(
    response: DigestResponse,
    max_frame_len: usize,
) -> Result<Vec<Bytes>, Error> {
    // The most one digest may take, alone in a frame.
    let room =
        max_frame_len.saturating_sub(HEADER_LEN + varint_len(response.session) + len_prefix(1));
    let mut digests = Vec::with_capacity(response.digests.len());
    for digest in response.digests {
        if body_len(&digest) <= room {
            digests.push(digest);
        } else {
            digests.extend(digest_parts(digest, room, max_frame_len)?);
        }
    }
    pack(
        response.session,
        digests,
        max_frame_len,
        |session, digests| Message::DigestResponse(DigestResponse { session, digests }),
    )
}

/// Cuts `digest` into parts of consecutive streams, each at most `room`
/// bytes encoded.
fn digest_parts(
    digest: ChannelDigest,
    room: usize,
    max_frame_len: usize,
) -> Result<Vec<ChannelDigest>, Error> {
    // A part's bounds take at most two of the longest stream ids (an option
    // tag, a length and the id), its stream list a length prefix.
    let bound_len = 1 + varint_len(MAX_ID_LEN as u64) + MAX_ID_LEN;
    let fixed = body_len(&digest.channel) + 2 * bound_len + varint_len(u64::MAX);
    let ChannelDigest {
        channel, streams, ..
    } = digest;
    let mut parts = Vec::new();
    let mut chunk = Vec::new();
    let mut size = fixed;
    let mut after: Option<StreamId> = None;
    for stream in streams {
        let n = body_len(&stream);
        if size + n > room {
            if let Some(through) = chunk.last().map(|s: &StreamDigest| s.stream.clone()) {
                let mut part = ChannelDigest::new(channel.clone(), std::mem::take(&mut chunk));
                part.part = DigestPart::new(after.replace(through.clone()), Some(through));
                parts.push(part);
                size = fixed;
            }
        }
        if size + n > room {
            return Err(too_large(
                max_frame_len.saturating_sub(room) + size + n,
                max_frame_len,
            ));
        }
        chunk.push(stream);
        size += n;
    }
    let mut last = ChannelDigest::new(channel, chunk);
    last.part = DigestPart::new(after, None);
    parts.push(last);
    Ok(parts)
}
