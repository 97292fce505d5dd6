//! Accepting: the accept loop, and per inbound connection its handshake and
//! the peer table's decision about it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use gossip_core::TransportErrorKind;
use tokio::{
    net::{TcpListener, TcpStream},
    time::{sleep, timeout_at, Instant},
};

use super::{
    admission::{InboundSlot, Refusal},
    ended, run_connection,
};
use crate::{
    peer_table::{InboundDecision, Installed},
    secure::handshake::{self, HandshakeError, Hello, Session, Verdict},
    state::Shared,
};

/// Accepts connections until the transport closes; each one admitted by the
/// caps ([`Admission`](super::Admission)) gets a task that runs the
/// handshake, and the others are closed at once.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut shutdown = shared.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait_for(|closed| *closed) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => match shared.admission.admit(remote.ip()) {
                Ok(slot) => {
                    tokio::spawn(inbound(shared.clone(), stream, remote, slot));
                }
                Err(refusal) => {
                    // Closed here, before a byte is read or a task spawned.
                    drop(stream);
                    shared.refused(refusal, remote);
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

/// Why an inbound handshake did not complete.
enum Failed {
    /// It failed.
    Handshake(HandshakeError),
    /// The dialer's first message did not arrive within `limit`.
    FirstMessageTimeout { limit: Duration },
    /// The handshake did not complete within `limit`.
    Timeout { limit: Duration },
}

/// The acceptor's handshake on `stream`, the first message within
/// `first_message_timeout`, the whole within `handshake_timeout`. Returns
/// the deadline of the whole, for the reply.
async fn handshake_in_time(
    shared: &Shared,
    stream: &mut TcpStream,
) -> (Instant, Result<(Hello, Session), Failed>) {
    let config = &shared.config;
    let started = Instant::now();
    let deadline = started + config.handshake_timeout;
    let first_limit = config.first_message_timeout.min(config.handshake_timeout);
    let opening = match timeout_at(
        started + first_limit,
        handshake::accept_opening(stream, &shared.keys),
    )
    .await
    {
        Ok(Ok(opening)) => opening,
        Ok(Err(failure)) => return (deadline, Err(Failed::Handshake(failure))),
        Err(_) => {
            let failed = Failed::FirstMessageTimeout { limit: first_limit };
            return (deadline, Err(failed));
        }
    };
    let rest = handshake::accept_rest(opening, stream, &shared.keys, &shared.hello);
    let result = match timeout_at(deadline, rest).await {
        Ok(accepted) => accepted.map_err(Failed::Handshake),
        Err(_) => Err(Failed::Timeout {
            limit: config.handshake_timeout,
        }),
    };
    (deadline, result)
}

/// One inbound connection: handshake, tie-break, then the connection's life.
/// `slot` holds its place among the inbound connections until it ends.
async fn inbound(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    remote: SocketAddr,
    mut slot: InboundSlot,
) {
    let _ = stream.set_nodelay(true);
    let mut shutdown = shared.shutdown_signal();
    let evicted = slot.evicted();
    let (deadline, accepted) = tokio::select! {
        biased;
        _ = shutdown.wait_for(|closed| *closed) => return,
        () = evicted.notified() => {
            // Its pending slot went to an address with fewer.
            shared.refused(Refusal::PendingPerAddress, remote);
            return;
        }
        accepted = handshake_in_time(&shared, &mut stream) => accepted,
    };
    let (hello, mut session) = match accepted {
        Ok(accepted) => accepted,
        Err(failed) => {
            shared.count_connect_failure(true);
            let message = match failed {
                // A connection that closes mid-handshake is not bad input.
                Failed::Handshake(HandshakeError::Io(failure)) => {
                    tracing::debug!(local = %shared.local, %remote, %failure, "inbound connection closed in its handshake");
                    return;
                }
                Failed::Handshake(failure) => format!("{failure}"),
                Failed::FirstMessageTimeout { limit } => {
                    format!("no handshake within {limit:?}: its first message did not arrive")
                }
                Failed::Timeout { limit } => format!("no handshake within {limit:?}"),
            };
            tracing::debug!(local = %shared.local, %remote, %message, "inbound handshake failed");
            shared.report(
                TransportErrorKind::Handshake,
                format!("inbound connection from {remote} closed: {message}"),
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
    slot.handshake_done();
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
