//! A reader task per inbound substream: reads length-prefixed frames and
//! pushes them into the inbound queue, waiting for room when it is full
//! (back-pressure: the substream is not read meanwhile, Yamux's window
//! closes, the sender's queue fills). Bad input is reported through the
//! inbound queue; an oversized frame is refused and skipped (the sender is
//! told with one [`REFUSED`] byte), a frame cut short ends the substream.

use std::sync::Arc;

use gossip_core::{InboundSender, NodeId, TransportErrorKind, TransportEvent};
use libp2p::{
    futures::{
        io::{BufReader, WriteHalf},
        AsyncReadExt, AsyncWriteExt, FutureExt,
    },
    swarm::Stream,
    PeerId,
};
use tracing::Instrument;

use crate::{
    codec::{read_frame, skip, BadFrame, REFUSED},
    identity::node_id_from_peer_id,
    state::{bump, error, Shared},
    MAX_FRAME_LEN_LIMIT,
};

/// Read buffer per substream.
const READ_BUFFER: usize = 64 * 1024;

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
    let (input, mut notices) = stream.split();
    let mut input = BufReader::with_capacity(READ_BUFFER, input);
    loop {
        let bad = match read_frame(&mut input, max).await {
            Ok(Ok(frame)) => {
                let frame = TransportEvent::Frame {
                    from: from.clone(),
                    frame,
                };
                if events.push(Ok(frame)).await.is_err() {
                    return; // closed
                }
                continue;
            }
            Ok(Err(bad)) => bad,
            Err(failure) => {
                if failure.kind() != std::io::ErrorKind::UnexpectedEof {
                    bump(&shared.counters.inbound_failures);
                    tracing::debug!(%failure, "substream failed");
                }
                return;
            }
        };
        refused(shared, events, from, &bad);
        let BadFrame::TooLarge { len, .. } = bad else {
            return; // cut short: the substream is over
        };
        notify_refusal(&mut notices);
        if len > MAX_FRAME_LEN_LIMIT {
            // No gossip node sends that: garbage, the framing is lost.
            return;
        }
        match skip(&mut input, len).await {
            Ok(Ok(())) => {}
            Ok(Err(bad)) => return refused(shared, events, from, &bad),
            Err(_) => return,
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
