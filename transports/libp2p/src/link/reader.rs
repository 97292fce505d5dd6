//! A reader task per inbound substream: reads whatever the substream has,
//! splits every whole length-prefixed frame out of it (no copy, no
//! allocation per frame) and pushes them into the inbound queue in one
//! hand-over, waiting for room when it is full
//! (back-pressure: the substream is not read meanwhile, Yamux's window
//! closes, the sender's queue fills). Bad input is reported through the
//! inbound queue; an oversized frame is refused and skipped (the sender is
//! told with one [`REFUSED`] byte), a frame cut short ends the substream.

use std::sync::Arc;

use gossip_core::{InboundSender, NodeId, TransportErrorKind, TransportEvent};
use libp2p::{
    futures::{io::WriteHalf, AsyncReadExt, AsyncWriteExt, FutureExt},
    swarm::Stream,
    PeerId,
};
use tracing::Instrument;

use crate::{
    codec::{BadFrame, Decoded, FrameDecoder, REFUSED},
    identity::node_id_from_peer_id,
    state::{bump, error, Shared},
    MAX_FRAME_LEN_LIMIT,
};

/// Reads `stream` from `peer` until it ends, the transport closes, or bad
/// input ends it; `turn` is the peer's (from [`Readers`](super::Readers)).
pub(crate) async fn read(
    shared: Arc<Shared>,
    events: InboundSender,
    peer: PeerId,
    stream: Stream,
    turn: Arc<tokio::sync::Mutex<()>>,
) {
    let span = tracing::debug_span!("reader", local = %shared.local, %peer);
    if let Some(from) = node_id_from_peer_id(&peer) {
        let mut shutdown = shared.shutdown.subscribe();
        let serve = async {
            // Frames of one link in order: one substream per peer at a time.
            let _turn = turn.lock().await;
            serve(&shared, &events, &from, stream).await;
        };
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|closed| *closed) => {}
            () = serve.instrument(span) => {}
        }
    }
    shared.readers.release(&peer, turn);
}

async fn serve(shared: &Shared, events: &InboundSender, from: &NodeId, stream: Stream) {
    let max = shared.config.limits.max_frame_len;
    let (mut input, mut notices) = stream.split();
    let mut decoder = FrameDecoder::default();
    let mut batch = Vec::new();
    loop {
        loop {
            match decoder.next_frame(max) {
                Decoded::Frame(frame) => batch.push(Ok(TransportEvent::Frame {
                    from: from.clone(),
                    frame,
                })),
                Decoded::Refused(bad) => {
                    // The frames before it first, in order.
                    if events.push_many(&mut batch).await.is_err() {
                        return; // closed
                    }
                    refused(shared, events, from, &bad);
                    notify_refusal(&mut notices);
                    if matches!(bad, BadFrame::TooLarge { len, .. } if len > MAX_FRAME_LEN_LIMIT) {
                        // No gossip node sends that: garbage, the framing is lost.
                        return;
                    }
                }
                Decoded::Incomplete => break,
            }
        }
        // The whole read in one hand-over (waits for room: back-pressure).
        if !batch.is_empty() && events.push_many(&mut batch).await.is_err() {
            return; // closed
        }
        match decoder.read_more(&mut input).await {
            Ok(0) => {
                if let Some(bad) = decoder.at_end() {
                    refused(shared, events, from, &bad); // cut short: the substream is over
                }
                return;
            }
            Ok(_) => {}
            Err(failure) => {
                bump(&shared.counters.inbound_failures);
                tracing::debug!(%failure, "substream failed");
                return;
            }
        }
    }
}

/// Tells the sender a frame was refused, without waiting: a sender that does
/// not read its notices loses them, never stalls this reader.
fn notify_refusal(notices: &mut WriteHalf<Stream>) {
    let written = notices.write(&[REFUSED]).now_or_never();
    if matches!(written, Some(Ok(1))) {
        let _ = notices.flush().now_or_never();
    }
}

/// A frame refused: counted and reported through the inbound queue (dropped
/// and counted when it is full).
fn refused(shared: &Shared, events: &InboundSender, from: &NodeId, bad: &BadFrame) {
    bump(&shared.counters.inbound_failures);
    let kind = match bad {
        BadFrame::TooLarge { .. } => {
            bump(&shared.counters.oversized_frames);
            TransportErrorKind::FrameTooLarge
        }
        BadFrame::Truncated { .. } => TransportErrorKind::Rejected,
    };
    shared.report(
        events,
        error(kind, format!("frame from {from} refused: {bad}")),
    );
}
