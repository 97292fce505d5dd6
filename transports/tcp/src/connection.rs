//! The tasks behind a transport: the accept loop, the connector (dial,
//! handshake, yield, give up), and per connection one reader and one writer.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use gossip_core::{NodeId, TransportError, TransportErrorKind, TransportEvent};
use tokio::{
    io::{BufReader, BufWriter},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpListener, TcpStream,
    },
    sync::{watch, OwnedSemaphorePermit, Semaphore},
    time::{sleep, sleep_until, timeout, timeout_at, Instant},
};

use crate::{
    frame::{read_frame, write_frame, ReadError, LEN_PREFIX},
    handshake::{self, HandshakeError, Hello, Verdict},
    state::{error, InboundDecision, QueueRx, Shared},
};

/// Read buffer per connection.
const READ_BUFFER: usize = 64 * 1024;
/// Write buffer per connection: small frames are batched into one syscall.
const WRITE_BUFFER: usize = 64 * 1024;
/// Frames written before a flush, at most, when the queue is busy.
const MAX_BATCH: usize = 64;

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

// ------------------------------------------------------------- accepting --

/// Accepts connections until the transport closes; each one gets a task
/// that runs the handshake (bounded by `max_pending_handshakes` at once).
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let permits = Arc::new(Semaphore::new(shared.config.max_pending_handshakes));
    let mut shutdown = shared.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait_for(|closed| *closed) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(inbound(shared.clone(), stream, remote, permit));
                }
                Err(_) => {
                    shared.count_connect_failure(true);
                    tracing::warn!(local = %shared.local, %remote, "too many pending handshakes: connection dropped");
                }
            },
            Err(error) => {
                // Out of descriptors and the like: wait a little instead of spinning.
                tracing::warn!(local = %shared.local, %error, "accept failed");
                tokio::select! {
                    _ = shutdown.wait_for(|closed| *closed) => break,
                    () = sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
    tracing::debug!(local = %shared.local, "listener closed");
}

/// Reads the dialer's hello and target; answers `incompatible` or `refused`
/// (best effort) when the dialer speaks another version, claims our id or
/// means to reach another node.
async fn read_hello_or_refuse(
    shared: &Shared,
    stream: &mut TcpStream,
) -> Result<Hello, HandshakeError> {
    match Hello::read(stream).await {
        Ok(hello) if hello.node == shared.local => {
            let _ = handshake::reply(stream, &shared.hello, Verdict::Refused).await;
            Err(HandshakeError::SelfConnection)
        }
        Ok(hello) => match handshake::read_target(stream, &shared.local).await {
            Ok(()) => Ok(hello),
            Err(failure @ HandshakeError::WrongPeer { .. }) => {
                let _ = handshake::reply(stream, &shared.hello, Verdict::Refused).await;
                Err(failure)
            }
            Err(failure) => Err(failure),
        },
        Err(HandshakeError::Version { found }) => {
            let _ = handshake::reply(stream, &shared.hello, Verdict::Incompatible).await;
            Err(HandshakeError::Version { found })
        }
        Err(error) => Err(error),
    }
}

/// One inbound connection: handshake, tie-break, then the connection's life.
async fn inbound(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    remote: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + shared.config.handshake_timeout;
    let mut shutdown = shared.shutdown_signal();
    let read = tokio::select! {
        biased;
        _ = shutdown.wait_for(|closed| *closed) => return,
        read = timeout_at(deadline, read_hello_or_refuse(&shared, &mut stream)) => read,
    };
    let hello = match read {
        Ok(Ok(hello)) => hello,
        Ok(Err(failure)) => {
            shared.count_connect_failure(true);
            tracing::debug!(local = %shared.local, %remote, %failure, "inbound handshake failed");
            // A connection that closes mid-handshake is not bad input.
            if !matches!(failure, HandshakeError::Io(_)) {
                shared.report(
                    TransportErrorKind::Handshake,
                    format!("inbound connection from {remote} closed: {failure}"),
                );
            }
            return;
        }
        Err(_) => {
            shared.count_connect_failure(true);
            tracing::debug!(local = %shared.local, %remote, "inbound handshake timed out");
            shared.report(
                TransportErrorKind::Handshake,
                format!(
                    "inbound connection from {remote} closed: no handshake within {:?}",
                    shared.config.handshake_timeout
                ),
            );
            return;
        }
    };
    let local_addr = stream.local_addr().unwrap_or(shared.local_addr);
    let decision = shared.decide_inbound(&hello, (local_addr, remote));
    let verdict = match decision {
        InboundDecision::Accept { .. } => Verdict::Accepted,
        InboundDecision::Yield => Verdict::Yield,
    };
    let replied = timeout_at(
        deadline,
        handshake::reply(&mut stream, &shared.hello, verdict),
    )
    .await;
    drop(permit);
    let peer = hello.node.clone();
    match (decision, replied) {
        (
            InboundDecision::Accept {
                conn_id,
                stop,
                queue,
            },
            Ok(Ok(())),
        ) => {
            run_connection(
                shared,
                stream,
                peer,
                conn_id,
                stop,
                queue,
                hello.max_frame_len,
            )
            .await
        }
        (InboundDecision::Accept { conn_id, .. }, _) => {
            shared.count_connect_failure(true);
            if let Some(attempt) = shared.conn_closed(&peer, conn_id, "handshake reply failed") {
                spawn_connector(shared, peer, attempt);
            }
        }
        (InboundDecision::Yield, _) => {
            tracing::debug!(local = %shared.local, %peer, "kept the other connection (tie-break)");
        }
    }
}

// --------------------------------------------------------------- dialing --

/// Starts the connector for `attempt` to `peer`.
pub(crate) fn spawn_connector(shared: Arc<Shared>, peer: NodeId, attempt: u64) {
    tokio::spawn(connector(shared, peer, attempt));
}

/// Dials `peer` for `attempt`; on `yield` waits for the peer's connection and
/// retries while frames are waiting; on failure puts the peer in backoff.
async fn connector(shared: Arc<Shared>, peer: NodeId, mut attempt: u64) {
    let mut shutdown = shared.shutdown_signal();
    loop {
        let Some(address) = shared.dial_target(&peer, attempt) else {
            return;
        };
        let Some(address) = address else {
            let failure = error(
                TransportErrorKind::UnknownPeer,
                "the peer's address was removed",
            );
            shared.dial_failed(&peer, attempt, failure);
            return;
        };
        let outcome = tokio::select! {
            biased;
            _ = shutdown.wait_for(|closed| *closed) => return,
            outcome = dial(&shared, &peer, address) => outcome,
        };
        match outcome {
            Ok((stream, hello, Verdict::Accepted)) => {
                let addrs = (
                    stream.local_addr().unwrap_or(shared.local_addr),
                    stream.peer_addr().unwrap_or(address),
                );
                // Not current any more (the peer's own dial won): just close.
                if let Some((conn_id, stop, queue)) =
                    shared.dial_accepted(&peer, attempt, &hello, addrs)
                {
                    run_connection(
                        shared,
                        stream,
                        peer,
                        conn_id,
                        stop,
                        queue,
                        hello.max_frame_len,
                    )
                    .await;
                }
                return;
            }
            Ok((stream, _, _yield)) => {
                drop(stream);
                tracing::debug!(local = %shared.local, %peer, "peer keeps another connection; waiting for it");
                if !shared.dial_yielded(&peer, attempt) {
                    return;
                }
                tokio::select! {
                    biased;
                    _ = shutdown.wait_for(|closed| *closed) => return,
                    () = sleep(shared.yield_wait()) => {}
                }
                match shared.yield_expired(&peer, attempt) {
                    Some(next) => attempt = next,
                    None => return,
                }
            }
            Err(failure) => {
                shared.dial_failed(&peer, attempt, failure);
                return;
            }
        }
    }
}

/// Connects to `address` and runs the dialer's handshake.
async fn dial(
    shared: &Shared,
    peer: &NodeId,
    address: SocketAddr,
) -> Result<(TcpStream, Hello, Verdict), TransportError> {
    let config = &shared.config;
    let mut stream = match timeout(config.connect_timeout, TcpStream::connect(address)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(io)) => {
            shared.count_connect_failure(false);
            return Err(error(
                TransportErrorKind::Io,
                format!("connect to {peer} at {address} failed"),
            )
            .with_source(io));
        }
        Err(_) => {
            shared.count_connect_failure(false);
            return Err(error(
                TransportErrorKind::Unreachable,
                format!(
                    "connect to {peer} at {address} timed out after {:?}",
                    config.connect_timeout
                ),
            ));
        }
    };
    let _ = stream.set_nodelay(true);
    let result = timeout(
        config.handshake_timeout,
        handshake::dial(&mut stream, &shared.hello, peer),
    )
    .await
    .unwrap_or(Err(HandshakeError::Timeout));
    match result {
        Ok((hello, verdict)) => Ok((stream, hello, verdict)),
        Err(failure) => {
            shared.count_connect_failure(true);
            Err(error(
                TransportErrorKind::Handshake,
                format!("handshake with {peer} at {address} failed: {failure}"),
            )
            .with_source(failure))
        }
    }
}

// ------------------------------------------------------------ connection --

/// Runs a handshaken, installed connection until it ends: a spawned writer
/// drains the peer's send queue, this task reads.
async fn run_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: NodeId,
    conn_id: u64,
    stop: watch::Receiver<bool>,
    queue: QueueRx,
    peer_max_frame_len: u32,
) {
    let (read_half, write_half) = stream.into_split();
    let activity = Arc::new(Activity::new());
    tokio::spawn(writer(
        shared.clone(),
        write_half,
        peer.clone(),
        conn_id,
        stop.clone(),
        queue,
        usize::try_from(peer_max_frame_len).unwrap_or(usize::MAX),
        activity.clone(),
    ));
    reader(shared, read_half, peer, conn_id, stop, activity).await;
}

fn ended(shared: Arc<Shared>, peer: NodeId, conn_id: u64, why: &str) {
    if let Some(attempt) = shared.conn_closed(&peer, conn_id, why) {
        spawn_connector(shared, peer, attempt);
    }
}

async fn reader(
    shared: Arc<Shared>,
    read_half: OwnedReadHalf,
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
        why = read_loop(&shared, read_half, &peer, &activity) => why,
    };
    ended(shared, peer, conn_id, &why);
}

/// Reads frames and hands them to `recv`, waiting for room in the inbound
/// queue (TCP flow control then slows the peer down). Returns why it stopped.
async fn read_loop(
    shared: &Shared,
    read_half: OwnedReadHalf,
    peer: &NodeId,
    activity: &Activity,
) -> String {
    let mut reader = BufReader::with_capacity(READ_BUFFER, read_half);
    loop {
        match read_frame(&mut reader, shared.config.limits.max_frame_len).await {
            Ok(frame) => {
                activity.touch();
                let event = TransportEvent::Frame {
                    from: peer.clone(),
                    frame,
                };
                if shared.events.push(Ok(event)).await.is_err() {
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
            Err(failure @ ReadError::Truncated) => {
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
        why = write_loop(&shared, write_half, &peer, &queue, peer_max_frame_len, &activity) => why,
    };
    ended(shared, peer, conn_id, &why);
}

/// Drains the peer's send queue into the socket, batching what is already
/// queued into one flush. Returns why it stopped.
async fn write_loop(
    shared: &Shared,
    write_half: OwnedWriteHalf,
    peer: &NodeId,
    queue: &QueueRx,
    peer_max_frame_len: usize,
    activity: &Activity,
) -> String {
    let mut rx = queue.lock().await;
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER + LEN_PREFIX, write_half);
    loop {
        let Some(first) = rx.recv().await else {
            return "send queue closed".to_owned();
        };
        let mut next = Some(first);
        let mut batch = 0;
        while let Some(frame) = next.take() {
            if frame.len() > peer_max_frame_len {
                shared.count_discarded(1);
                tracing::warn!(
                    local = %shared.local, %peer, len = frame.len(), max = peer_max_frame_len,
                    "frame over the peer's maximum discarded"
                );
            } else if let Err(failure) = write_frame(&mut writer, &frame).await {
                return format!("write failed: {failure}");
            }
            batch += 1;
            if batch < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if let Err(failure) = tokio::io::AsyncWriteExt::flush(&mut writer).await {
            return format!("write failed: {failure}");
        }
        activity.touch();
    }
}
