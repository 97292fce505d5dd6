//! Accepting: the accept loop, and per inbound connection its handshake and
//! the peer table's decision about it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use gossip_core::TransportErrorKind;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{sleep, timeout_at, Instant},
};

use super::{ended, run_connection};
use crate::{
    peer_table::{InboundDecision, Installed},
    secure::handshake::{self, HandshakeError, Verdict},
    state::Shared,
};

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
    let accepted = tokio::select! {
        biased;
        _ = shutdown.wait_for(|closed| *closed) => return,
        accepted = timeout_at(deadline, handshake::accept(&mut stream, &shared.keys, &shared.hello)) => accepted,
    };
    let (hello, mut session) = match accepted {
        Ok(Ok(accepted)) => accepted,
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
    let decision =
        shared.transition(|table, fx| table.decide_inbound(&hello, (local_addr, remote), fx));
    let verdict = match decision {
        InboundDecision::Accept(_) => Verdict::Accepted,
        InboundDecision::Yield => Verdict::Yield,
    };
    let replied = timeout_at(
        deadline,
        handshake::reply(&mut stream, &mut session.sealer, verdict),
    )
    .await;
    drop(permit);
    let peer = hello.node.clone();
    match (decision, replied) {
        (
            InboundDecision::Accept(Installed {
                conn_id,
                stop,
                queue,
            }),
            Ok(Ok(())),
        ) => {
            run_connection(
                shared,
                stream,
                session,
                peer,
                conn_id,
                stop,
                queue,
                hello.max_frame_len,
            )
            .await
        }
        (InboundDecision::Accept(Installed { conn_id, .. }), _) => {
            shared.count_connect_failure(true);
            ended(shared, peer, conn_id, "handshake reply failed");
        }
        (InboundDecision::Yield, _) => {
            tracing::debug!(local = %shared.local, %peer, "kept the other connection (tie-break)");
        }
    }
}
