//! The tasks behind a transport: the accept loop ([`accept`]) and its
//! inbound caps ([`admission`]), the connector ([`dial`]: dial, handshake, yield, give up), and per connection
//! one reader and one writer (here).

mod accept;
mod admission;
mod dial;

pub(crate) use accept::accept_loop;
pub(crate) use admission::{Admission, Refusal};
pub(crate) use dial::spawn_connector;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use gossip_core::{NodeId, TransportErrorKind, TransportEvent};
use tokio::{
    io::AsyncWriteExt,
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpStream,
    },
    sync::watch,
    time::{sleep_until, Instant},
};

use crate::{
    frame::ReadError,
    peer_table::QueueRx,
    secure::{
        batch_reader::BatchReader,
        handshake::Session,
        session::{Opener, Sealer},
    },
    state::Shared,
};

/// Frames read from a socket handed to the inbound queue at most per read.
const READ_BATCH: usize = 256;
/// Frames taken from a peer's send queue at most per wake-up of its writer.
const WRITE_BATCH: usize = 256;
/// Sealed bytes written with one system call, about (a larger frame is
/// written whole).
const WRITE_CHUNK: usize = 256 * 1024;

/// When a connection last carried a frame, either direction.
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once nothing has moved for `idle`.
    async fn idle_for(&self, idle: Option<Duration>) {
        let Some(idle) = idle else {
            return std::future::pending().await;
        };
        loop {
            let last = self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            sleep_until(deadline).await;
        }
    }
}

/// Runs a handshaken, installed connection until it ends: a spawned writer
/// drains the peer's send queue, this task reads.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    session: Session,
    peer: NodeId,
    conn_id: u64,
    stop: watch::Receiver<bool>,
    queue: QueueRx,
    peer_max_frame_len: u32,
) {
    let (read_half, write_half) = stream.into_split();
    let Session { sealer, opener } = session;
    let activity = Arc::new(Activity::new());
    tokio::spawn(writer(
        shared.clone(),
        write_half,
        sealer,
        peer.clone(),
        conn_id,
        stop.clone(),
        queue,
        usize::try_from(peer_max_frame_len).unwrap_or(usize::MAX),
        activity.clone(),
    ));
    reader(shared, read_half, opener, peer, conn_id, stop, activity).await;
}

/// The connection `conn_id` to `peer` ended: redials if the table says so.
pub(super) fn ended(shared: Arc<Shared>, peer: NodeId, conn_id: u64, why: &str) {
    let closing = shared.is_closed();
    let redial = shared.transition(|table, fx| table.conn_closed(&peer, conn_id, why, closing, fx));
    if let Some(attempt) = redial {
        spawn_connector(shared, peer, attempt);
    }
}

async fn reader(
    shared: Arc<Shared>,
    read_half: OwnedReadHalf,
    opener: Opener,
    peer: NodeId,
    conn_id: u64,
    mut stop: watch::Receiver<bool>,
    activity: Arc<Activity>,
) {
    let mut shutdown = shared.shutdown_signal();
    let why = tokio::select! {
        biased;
        _ = shutdown.wait_for(|closed| *closed) => "transport closed".to_owned(),
        _ = stop.wait_for(|stopped| *stopped) => "connection replaced or removed".to_owned(),
        () = activity.idle_for(shared.config.idle_timeout) => "idle".to_owned(),
        why = read_loop(&shared, read_half, opener, &peer, &activity) => why,
    };
    ended(shared, peer, conn_id, &why);
}

/// Reads frames in batches and hands them to `recv`, waiting for room in
/// the inbound queue (TCP flow control then slows the peer down). Returns
/// why it stopped.
async fn read_loop(
    shared: &Shared,
    mut read_half: OwnedReadHalf,
    opener: Opener,
    peer: &NodeId,
    activity: &Activity,
) -> String {
    let mut reader = BatchReader::new(opener);
    let mut frames = Vec::with_capacity(READ_BATCH);
    let mut events = Vec::with_capacity(READ_BATCH);
    loop {
        let read = reader
            .read_frames(
                &mut read_half,
                shared.config.limits.max_frame_len,
                &mut frames,
                READ_BATCH,
            )
            .await;
        match read {
            Ok(()) => {
                activity.touch();
                events.extend(frames.drain(..).map(|frame| {
                    Ok(TransportEvent::Frame {
                        from: peer.clone(),
                        frame,
                    })
                }));
                if shared.events.push_many(&mut events).await.is_err() {
                    return "inbound queue closed".to_owned();
                }
            }
            Err(failure @ ReadError::TooLarge { .. }) => {
                shared.count_oversized();
                tracing::warn!(local = %shared.local, %peer, %failure, "disconnecting peer");
                shared.report(
                    TransportErrorKind::FrameTooLarge,
                    format!("{peer} disconnected: {failure}"),
                );
                return failure.to_string();
            }
            Err(failure @ (ReadError::Truncated | ReadError::Forged)) => {
                shared.report(
                    TransportErrorKind::Rejected,
                    format!("{peer} disconnected: {failure}"),
                );
                return failure.to_string();
            }
            Err(failure) => return failure.to_string(),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn writer(
    shared: Arc<Shared>,
    write_half: OwnedWriteHalf,
    sealer: Sealer,
    peer: NodeId,
    conn_id: u64,
    mut stop: watch::Receiver<bool>,
    queue: QueueRx,
    peer_max_frame_len: usize,
    activity: Arc<Activity>,
) {
    let mut shutdown = shared.shutdown_signal();
    let why = tokio::select! {
        biased;
        _ = shutdown.wait_for(|closed| *closed) => "transport closed".to_owned(),
        _ = stop.wait_for(|stopped| *stopped) => "connection replaced or removed".to_owned(),
        why = write_loop(&shared, write_half, sealer, &peer, &queue, peer_max_frame_len, &activity) => why,
    };
    ended(shared, peer, conn_id, &why);
}

/// Drains the peer's send queue into the socket: every frame already
/// queued (up to [`WRITE_BATCH`]) is sealed into one buffer and written with
/// one system call per [`WRITE_CHUNK`] bytes. Returns why it stopped.
async fn write_loop(
    shared: &Shared,
    mut write_half: OwnedWriteHalf,
    mut sealer: Sealer,
    peer: &NodeId,
    queue: &QueueRx,
    peer_max_frame_len: usize,
    activity: &Activity,
) -> String {
    let mut rx = queue.lock().await;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let mut sealed = Vec::with_capacity(WRITE_CHUNK);
    loop {
        if rx.recv_many(&mut batch, WRITE_BATCH).await == 0 {
            return "send queue closed".to_owned();
        }
        for frame in batch.drain(..) {
            if frame.len() > peer_max_frame_len {
                shared.count_discarded(1);
                tracing::warn!(
                    local = %shared.local, %peer, len = frame.len(), max = peer_max_frame_len,
                    "frame over the peer's maximum discarded"
                );
                continue;
            }
            if let Err(failure) = sealer.seal(&frame, &mut sealed) {
                return format!("sealing failed: {failure}");
            }
            if sealed.len() >= WRITE_CHUNK {
                if let Err(failure) = write_half.write_all(&sealed).await {
                    return format!("write failed: {failure}");
                }
                sealed.clear();
            }
        }
        if let Err(failure) = write_half.write_all(&sealed).await {
            return format!("write failed: {failure}");
        }
        sealed.clear();
        // A frame of megabytes leaves no buffer of its size behind.
        sealed.shrink_to(WRITE_CHUNK);
        activity.touch();
    }
}
