//! Frame splitting: deltas and pushes packed into as few frames as possible,
//! each at most the transport's maximum (see the
//! [module docs](crate::protocol::codec#splitting)).

use bytes::Bytes;

use super::{
    envelope::{encode, HEADER_LEN},
    size::{body_len, len_prefix, varint_len, RunsLen},
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
        // The cost of opening a piece holding `runs` in the current frame.
        let open_cost = |pieces: &Vec<Delta>, runs: &RunsLen| {
            header + runs.encoded_len() + len_prefix(pieces.len() + 1) - len_prefix(pieces.len())
        };
        if entries.is_empty() {
            let empty = RunsLen::default();
            if frame_len + open_cost(&pieces, &empty) > max_frame_len && !pieces.is_empty() {
                flush(&mut pieces, &mut frames, &mut frame_len, false);
            }
            let needed = frame_len + open_cost(&pieces, &empty);
            if needed > max_frame_len {
                return Err(too_large(needed, max_frame_len));
            }
            frame_len = needed;
            pieces.push(new_piece());
            continue;
        }
        // The runs of this delta's open piece (the last of `pieces`), if any.
        let mut piece: Option<RunsLen> = None;
        // What adding `chunk` to the current frame costs, and the piece's runs after.
        let cost = |pieces: &Vec<Delta>, piece: &Option<RunsLen>, chunk: &[LogEntry]| match piece {
            Some(runs) => {
                let grown = runs.with(chunk);
                (grown.encoded_len() - runs.encoded_len(), grown)
            }
            None => {
                let runs = RunsLen::default().with(chunk);
                (open_cost(pieces, &runs), runs)
            }
        };
        for unit in provable_units(&entries) {
            let fits_empty = empty_len + cost(&Vec::new(), &None, unit).0 <= max_frame_len;
            // A unit that fits no frame is cut entry by entry (its first
            // entries then reach the receiver unproven).
            let step = if fits_empty { unit.len() } else { 1 };
            for chunk in unit.chunks(step) {
                if frame_len + cost(&pieces, &piece, chunk).0 > max_frame_len && !pieces.is_empty()
                {
                    flush(&mut pieces, &mut frames, &mut frame_len, false);
                    piece = None;
                }
                let (added, grown) = cost(&pieces, &piece, chunk);
                let needed = frame_len + added;
                if needed > max_frame_len {
                    return Err(too_large(needed, max_frame_len));
                }
                frame_len = needed;
                if piece.is_none() {
                    pieces.push(new_piece());
                }
                piece = Some(grown);
                if let Some(open) = pieces.last_mut() {
                    open.entries.extend_from_slice(chunk);
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
    // Frame length = fixed + the runs' length.
    let fixed = HEADER_LEN + body_len(&(&channel, &stream));
    let mut frames = Vec::new();
    let mut batch: Vec<LogEntry> = Vec::new();
    let mut runs = RunsLen::default();
    let flush = |batch: &mut Vec<LogEntry>, frames: &mut Vec<Bytes>, runs: &mut RunsLen| {
        let push = Message::Push(Push {
            channel: channel.clone(),
            stream: stream.clone(),
            entries: std::mem::take(batch),
        });
        let frame = encode(&push);
        debug_assert_eq!(
            frame.len(),
            fixed + runs.encoded_len(),
            "push size accounting"
        );
        frames.push(frame);
        *runs = RunsLen::default();
    };
    for unit in provable_units(&entries) {
        let fits_empty = fixed + RunsLen::default().with(unit).encoded_len() <= max_frame_len;
        // A unit that fits no frame is cut entry by entry.
        let step = if fits_empty { unit.len() } else { 1 };
        for chunk in unit.chunks(step) {
            if fixed + runs.with(chunk).encoded_len() > max_frame_len && !batch.is_empty() {
                flush(&mut batch, &mut frames, &mut runs);
            }
            let grown = runs.with(chunk);
            let needed = fixed + grown.encoded_len();
            if needed > max_frame_len {
                return Err(too_large(needed, max_frame_len));
            }
            runs = grown;
            batch.extend_from_slice(chunk);
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut frames, &mut runs);
    }
    Ok(frames)
}
