//! A peer's writer task: opens one substream to the peer (dialing first if
//! needed) and drains the peer's send queue into it, every batch of queued
//! frames encoded into one buffer and sent in one write and one flush, with no acknowledgement. It reads the substream only
//! for the receiver's refusal notices. It stops when the substream stays
//! idle for `idle_timeout` (closing it), when the substream breaks, or when
//! the transport closes; frames it could not deliver are counted in
//! `failed_frames`.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use gossip_core::{TransportError, TransportErrorKind};
use libp2p::{
    futures::{
        io::{ReadHalf, WriteHalf},
        AsyncReadExt, AsyncWriteExt,
    },
    swarm::Stream,
    PeerId,
};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};
use tracing::Instrument;

use crate::{
    codec::encode_frame,
    driver::Command,
    state::{bump, error, Shared},
    BACKEND,
};

/// Frames written before a flush, at most, when the queue is busy.
const MAX_BATCH: usize = 64;

/// Bytes gathered for one write, at least: small frames are batched into
/// one write (and a few Yamux frames).
const WRITE_BUFFER: usize = 64 * 1024;

/// A peer's writer.
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) peer: PeerId,
    /// The id of its queue in [`Links`](super::Links).
    pub(crate) id: u64,
    pub(crate) queue: mpsc::Receiver<Bytes>,
}

/// Why a substream stopped carrying frames.
enum Stop {
    /// Nothing to send for `idle_timeout`; the queue is retired.
    Idle,
    /// The substream failed or the peer closed it.
    Broken(String),
}

impl Writer {
    /// Runs until the link is idle, broken, or the transport closes.
    pub(crate) async fn run(mut self) {
        let span = tracing::debug_span!("writer", local = %self.shared.local, peer = %self.peer);
        let mut shutdown = self.shared.shutdown.subscribe();
        async {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|closed| *closed) => {}
                () = self.serve() => {}
            }
        }
        .instrument(span)
        .await;
    }

    async fn serve(&mut self) {
        let stream = match self.open().await {
            Ok(stream) => stream,
            Err(failure) => {
                tracing::debug!(%failure, "cannot open the frames substream");
                return self.fail_queued();
            }
        };
        bump(&self.shared.counters.streams_opened);
        match self.pump(stream).await {
            Stop::Idle => tracing::debug!("idle; substream closed"),
            Stop::Broken(why) => {
                tracing::debug!(%why, "substream broken");
                self.fail_queued();
            }
        }
    }

    /// Opens the substream: the swarm task dials first when the peer is not
    /// connected (unless it is in backoff).
    async fn open(&mut self) -> Result<Stream, TransportError> {
        let addresses = self.shared.dial_plan(&self.peer)?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Open {
                peer: self.peer,
                addresses,
                reply,
            })
            .await
            .map_err(|_| TransportError::closed(BACKEND))?;
        // The dial and the handshake are bounded by `handshake_timeout`;
        // this only guards against a request lost with its connection.
        let limit = self.shared.config.handshake_timeout.saturating_mul(2);
        match tokio::time::timeout(limit, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(TransportError::closed(BACKEND)),
            Err(_) => Err(error(
                TransportErrorKind::Unreachable,
                format!("no substream to {} after {limit:?}", self.peer),
            )),
        }
    }

    /// Writes queued frames until the substream is idle or broken.
    async fn pump(&mut self, stream: Stream) -> Stop {
        let (mut notices, mut out) = stream.split();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut buffer = Vec::with_capacity(WRITE_BUFFER);
        let idle = self.shared.config.idle_timeout;
        // One timer, re-armed only when it fires (not once per batch): the
        // link is idle when nothing was written for `idle`.
        let mut last_write = Instant::now();
        let timer = tokio::time::sleep(idle);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                received = self.queue.recv_many(&mut batch, MAX_BATCH) => {
                    if received == 0 {
                        // No sender left: the queue was retired.
                        return Stop::Idle;
                    }
                }
                stop = refusals(&self.shared, &mut notices) => return stop,
                () = &mut timer => {
                    let quiet_until = last_write + idle;
                    if quiet_until > Instant::now() {
                        timer.as_mut().reset(quiet_until);
                        continue;
                    }
                    if self.shared.links.retire(&self.peer, self.id, &self.queue, true) {
                        let _ = tokio::time::timeout(Duration::from_secs(1), out.close()).await;
                        return Stop::Idle;
                    }
                    timer.as_mut().reset(Instant::now() + idle);
                    continue;
                }
            }
            last_write = Instant::now();
            let (frames, written) =
                write_batch(&mut out, &mut buffer, &mut batch, &mut self.queue).await;
            if buffer.capacity() > 4 * WRITE_BUFFER {
                // A batch of large frames: do not keep its buffer.
                buffer = Vec::with_capacity(WRITE_BUFFER);
            }
            if let Err(failure) = written {
                self.shared
                    .counters
                    .failed_frames
                    .fetch_add(frames, std::sync::atomic::Ordering::Relaxed);
                return Stop::Broken(format!("write failed: {failure}"));
            }
        }
    }

    /// Retires the queue and counts what is left in it as failed frames.
    fn fail_queued(&mut self) {
        self.shared
            .links
            .retire(&self.peer, self.id, &self.queue, false);
        self.queue.close();
        let mut failed = 0u64;
        while self.queue.try_recv().is_ok() {
            failed += 1;
        }
        if failed > 0 {
            tracing::debug!(failed, "queued frames dropped");
            self.shared
                .counters
                .failed_frames
                .fetch_add(failed, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Writes the frames of `batch`, then what else is queued up to a write's
/// worth, encoded into `buffer` and written [`WRITE_BUFFER`] bytes or more
/// at a time (Yamux makes a frame of each write, up to its split size),
/// then flushes once. Returns how many frames were taken (when it fails,
/// they are not known to be delivered) and the outcome; `batch` and
/// `buffer` are left empty.
async fn write_batch(
    out: &mut WriteHalf<Stream>,
    buffer: &mut Vec<u8>,
    batch: &mut Vec<Bytes>,
    queue: &mut mpsc::Receiver<Bytes>,
) -> (u64, std::io::Result<()>) {
    let mut taken = batch.len() as u64;
    let written = async {
        for frame in batch.drain(..) {
            encode_frame(&frame, buffer)?;
            if buffer.len() >= WRITE_BUFFER {
                // Large frames: the buffer stays within a write and a frame.
                out.write_all(buffer).await?;
                buffer.clear();
            }
        }
        while buffer.len() < WRITE_BUFFER {
            let Ok(frame) = queue.try_recv() else {
                break;
            };
            taken += 1;
            encode_frame(&frame, buffer)?;
        }
        out.write_all(buffer).await?;
        out.flush().await
    }
    .await;
    batch.clear();
    buffer.clear();
    (taken, written)
}

/// Waits for the receiver's refusal notices, counting each refused frame as
/// failed; returns when the substream ends or fails.
async fn refusals(shared: &Shared, notices: &mut ReadHalf<Stream>) -> Stop {
    let mut buffer = [0u8; 64];
    loop {
        match notices.read(&mut buffer).await {
            Ok(0) => return Stop::Broken("closed by the peer".to_owned()),
            Ok(n) => {
                tracing::debug!(refused = n, "frames refused by the peer");
                shared
                    .counters
                    .failed_frames
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Err(failure) => return Stop::Broken(format!("read failed: {failure}")),
        }
    }
}
