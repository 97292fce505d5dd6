//! Frame splitting: deltas and pushes packed into as few frames as possible,
//! each at most the transport's maximum (see the
//! [module docs](crate::protocol::codec#splitting)).

use std::ops::Range;

use bytes::Bytes;

use super::{
    envelope::{encode, HEADER_LEN},
    size::{body_len, len_prefix, varint_len},
};
use crate::{
    domain::{provable_units, ChannelId, Delta, LogEntry, StreamId},
    error::Error,
    protocol::messages::{DeltaResponse, Message, Push},
};

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
/// Entries are packed greedily, in order, into as few frames as possible,
/// keeping each signed run whole (a frame boundary falls only between the
/// [`provable_units`], unless one unit fits in no frame); a
/// delta is split across frames when needed, each piece keeping its channel,
/// stream and base. Concatenating the frames' deltas gives back `deltas`
/// (split deltas appear as consecutive pieces). A delta without entries is
/// kept as is. Every frame carries `session`; the last carries `more`, the
/// others `more: false` (see the [module docs](crate::protocol::codec#splitting)). With no
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
        // The cost of `size` bytes of `count` entries in the current frame.
        let cost = |pieces: &Vec<Delta>, piece_open: bool, size: usize, count: usize| match pieces
            .last()
        {
            Some(piece) if piece_open => {
                let n = piece.entries.len();
                size + len_prefix(n + count) - len_prefix(n)
            }
            _ => open_cost(pieces) + size + len_prefix(count) - len_prefix(0),
        };
        let sizes: Vec<usize> = entries.iter().map(body_len).collect();
        let units: Vec<Range<usize>> = provable_units(&entries).collect();
        let mut entries = entries.into_iter();
        for unit in units {
            let (count, size) = (unit.len(), sizes[unit.clone()].iter().sum::<usize>());
            let fits_empty = empty_len + cost(&Vec::new(), false, size, count) <= max_frame_len;
            let fits_here = frame_len + cost(&pieces, piece_open, size, count) <= max_frame_len;
            if fits_empty && !fits_here && !pieces.is_empty() {
                flush(&mut pieces, &mut frames, &mut frame_len, false);
                piece_open = false;
            }
            // A unit that fits no frame is cut entry by entry (its first
            // entries then reach the receiver unproven).
            let step = if fits_empty { count } else { 1 };
            for chunk in sizes[unit].chunks(step) {
                let (n, size) = (chunk.len(), chunk.iter().sum::<usize>());
                if frame_len + cost(&pieces, piece_open, size, n) > max_frame_len
                    && !pieces.is_empty()
                {
                    flush(&mut pieces, &mut frames, &mut frame_len, false);
                    piece_open = false;
                }
                let needed = frame_len + cost(&pieces, piece_open, size, n);
                if needed > max_frame_len {
                    return Err(too_large(needed, max_frame_len));
                }
                frame_len = needed;
                if !piece_open {
                    pieces.push(new_piece());
                    piece_open = true;
                }
                if let Some(piece) = pieces.last_mut() {
                    piece.entries.extend(entries.by_ref().take(n));
                }
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
/// Entries are packed greedily, in order, into as few frames as possible,
/// keeping each signed run whole (as [`delta_response_frames`] does); every
/// frame is a [`Push`] of `channel` and `stream`, and concatenating
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
    let sizes: Vec<usize> = entries.iter().map(body_len).collect();
    let units: Vec<Range<usize>> = provable_units(&entries).collect();
    let mut entries = entries.into_iter();
    let cost = |size: usize, count: usize, n: usize| size + len_prefix(n + count) - len_prefix(n);
    for unit in units {
        let (count, size) = (unit.len(), sizes[unit.clone()].iter().sum::<usize>());
        let fits_empty = fixed + len_prefix(0) + cost(size, count, 0) <= max_frame_len;
        if fits_empty
            && !batch.is_empty()
            && frame_len + cost(size, count, batch.len()) > max_frame_len
        {
            flush(&mut batch, &mut frames, &mut frame_len);
        }
        // A unit that fits no frame is cut entry by entry.
        let step = if fits_empty { count } else { 1 };
        for chunk in sizes[unit].chunks(step) {
            let (n, size) = (chunk.len(), chunk.iter().sum::<usize>());
            if frame_len + cost(size, n, batch.len()) > max_frame_len && !batch.is_empty() {
                flush(&mut batch, &mut frames, &mut frame_len);
            }
            let needed = frame_len + cost(size, n, batch.len());
            if needed > max_frame_len {
                return Err(too_large(needed, max_frame_len));
            }
            frame_len = needed;
            batch.extend(entries.by_ref().take(n));
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut frames, &mut frame_len);
    }
    Ok(frames)
}
