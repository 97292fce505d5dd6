//! Dialing: the connector of one attempt, its handshake, the wait after a
//! `yield`, and the backoff after a failure.

use std::{net::SocketAddr, sync::Arc};

use gossip_core::{NodeId, TransportError, TransportErrorKind};
use tokio::{
    net::TcpStream,
    time::{sleep, timeout, Instant},
};

use super::run_connection;
use crate::{
    peer_table::Installed,
    secure::handshake::{self, HandshakeError, Hello, Session, Verdict},
    state::{error, Shared},
};

/// Starts the connector for `attempt` to `peer`.
pub(crate) fn spawn_connector(shared: Arc<Shared>, peer: NodeId, attempt: u64) {
    tokio::spawn(connector(shared, peer, attempt));
}

/// Dials `peer` for `attempt`; on `yield` waits for the peer's connection and
/// retries while frames are waiting; on failure puts the peer in backoff.
async fn connector(shared: Arc<Shared>, peer: NodeId, mut attempt: u64) {
    let mut shutdown = shared.shutdown_signal();
    loop {
        let Some(address) = shared.lock().dial_target(&peer, attempt) else {
            return;
        };
        let Some(address) = address else {
            let failure = error(
                TransportErrorKind::UnknownPeer,
                "the peer's address was removed",
            );
            dial_failed(&shared, &peer, attempt, failure);
            return;
        };
        let outcome = tokio::select! {
            biased;
            _ = shutdown.wait_for(|closed| *closed) => return,
            outcome = dial(&shared, &peer, address) => outcome,
        };
        match outcome {
            Ok((stream, hello, Verdict::Accepted, session)) => {
                let addrs = (
                    stream.local_addr().unwrap_or(shared.local_addr),
                    stream.peer_addr().unwrap_or(address),
                );
                // Not current any more (the peer's own dial won): just close.
                let installed = shared
                    .transition(|table, fx| table.dial_accepted(&peer, attempt, &hello, addrs, fx));
                if let Some(Installed {
                    conn_id,
                    stop,
                    queue,
                }) = installed
                {
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
                    .await;
                }
                return;
            }
            Ok((stream, _, Verdict::Yield, _)) => {
                drop(stream);
                tracing::debug!(local = %shared.local, %peer, "peer keeps another connection; waiting for it");
                if !shared.lock().dial_yielded(&peer, attempt) {
                    return;
                }
                tokio::select! {
                    biased;
                    _ = shutdown.wait_for(|closed| *closed) => return,
                    () = sleep(shared.yield_wait()) => {}
                }
                match shared.lock().yield_expired(&peer, attempt) {
                    Some(next) => attempt = next,
                    None => return,
                }
            }
            Err(failure) => {
                dial_failed(&shared, &peer, attempt, failure);
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
) -> Result<(TcpStream, Hello, Verdict, Session), TransportError> {
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
        handshake::dial(&mut stream, &shared.keys, &shared.hello, peer),
    )
    .await
    .unwrap_or(Err(HandshakeError::Timeout));
    match result {
        Ok((hello, verdict, session)) => Ok((stream, hello, verdict, session)),
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

/// Our attempt to reach `peer` failed: the table backs off.
fn dial_failed(shared: &Shared, peer: &NodeId, attempt: u64, failure: TransportError) {
    let now = Instant::now();
    shared.transition(|table, fx| table.dial_failed(peer, attempt, failure, now, fx));
}
