//! The conformance suite catches broken transports: each test wraps the
//! memory transport with one bug and expects the matching behaviour test to
//! fail with the matching message.

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc,
};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    testkit::{fixtures::run, transport},
    Identity, NodeId, Transport, TransportCapabilities, TransportError, TransportErrorKind,
    TransportEvent, TransportResult,
};
use gossip_transport_memory::{LinkFaults, MemoryNetwork, MemoryNetworkConfig, MemoryTransport};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bug {
    /// `recv` takes a frame, then yields before returning it.
    RecvNotCancelSafe,
    /// Declares a smaller maximum than it enforces.
    NoSizeCheck,
    /// `close` stops sends but leaves pending `recv` calls waiting.
    CloseDoesNotWakeRecv,
    /// Reports the receiver as the sender.
    WrongSenderId,
    /// Declares `stream_like` on a reordering network.
    ClaimsOrder,
    /// Declares `stream_like` on a duplicating network.
    HidesDuplicates,
    /// A second `close` fails.
    CloseTwiceFails,
    /// Sends to an unknown peer wait forever.
    UnknownPeerHangs,
    /// Empty frames are swallowed by `recv`.
    LosesEmptyFrames,
    /// `max_frame_len` shrinks on every call.
    UnstableMaxLen,
}

struct Mutant {
    inner: MemoryTransport,
    bug: Bug,
    closed: AtomicBool,
    calls: AtomicUsize,
}

#[async_trait]
impl Transport for Mutant {
    fn backend(&self) -> &'static str {
        "mutant"
    }

    fn local_id(&self) -> &NodeId {
        self.inner.local_id()
    }

    fn max_frame_len(&self) -> usize {
        match self.bug {
            Bug::NoSizeCheck => self.inner.max_frame_len() - 10,
            Bug::UnstableMaxLen => {
                self.inner.max_frame_len() - self.calls.fetch_add(1, Ordering::Relaxed)
            }
            _ => self.inner.max_frame_len(),
        }
    }

    fn capabilities(&self) -> TransportCapabilities {
        match self.bug {
            Bug::ClaimsOrder | Bug::HidesDuplicates => TransportCapabilities::stream_like(),
            _ => self.inner.capabilities(),
        }
    }

    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        if self.bug == Bug::CloseDoesNotWakeRecv && self.closed.load(Ordering::Relaxed) {
            return Err(TransportError::new(
                "mutant",
                TransportErrorKind::Closed,
                "closed",
            ));
        }
        let stranger = NodeId::from_seed("conformance-stranger-not-in-the-network");
        if self.bug == Bug::UnknownPeerHangs && *to == stranger {
            std::future::pending::<()>().await;
        }
        self.inner.send(to, frame).await
    }

    async fn recv(&self) -> TransportResult<TransportEvent> {
        loop {
            let event = self.inner.recv().await?;
            match (self.bug, event) {
                (Bug::RecvNotCancelSafe, event) => {
                    tokio::task::yield_now().await;
                    return Ok(event);
                }
                (Bug::WrongSenderId, TransportEvent::Frame { frame, .. }) => {
                    return Ok(TransportEvent::Frame {
                        from: self.local_id().clone(),
                        frame,
                    });
                }
                (Bug::LosesEmptyFrames, TransportEvent::Frame { frame, .. })
                    if frame.is_empty() => {}
                (_, event) => return Ok(event),
            }
        }
    }

    async fn close(&self) -> TransportResult<()> {
        match self.bug {
            Bug::CloseDoesNotWakeRecv => {
                self.closed.store(true, Ordering::Relaxed);
                Ok(())
            }
            Bug::CloseTwiceFails if self.closed.swap(true, Ordering::Relaxed) => Err(
                TransportError::new("mutant", TransportErrorKind::Closed, "closed twice"),
            ),
            _ => self.inner.close().await,
        }
    }
}

fn join(network: &MemoryNetwork, id: &Identity) -> MemoryTransport {
    match network.join(id) {
        Ok(transport) => transport,
        Err(error) => panic!("join: {error}"),
    }
}

fn mutants(bug: Bug) -> impl Fn(Vec<Identity>) -> std::future::Ready<Vec<Mutant>> {
    move |ids| {
        let faults = match bug {
            Bug::ClaimsOrder => LinkFaults::none().reorder(0.5),
            Bug::HidesDuplicates => LinkFaults::none().duplicate(0.3),
            _ => LinkFaults::none(),
        };
        let network = MemoryNetwork::new(MemoryNetworkConfig::default().default_faults(faults));
        std::future::ready(
            ids.into_iter()
                .map(|id| Mutant {
                    inner: join(&network, &id),
                    bug,
                    closed: AtomicBool::new(false),
                    calls: AtomicUsize::new(0),
                })
                .collect(),
        )
    }
}

#[test]
#[should_panic(expected = "frames were lost when recv futures were dropped")]
fn catches_recv_that_is_not_cancel_safe() {
    run(transport::recv_is_cancel_safe(mutants(
        Bug::RecvNotCancelSafe,
    )));
}

#[test]
#[should_panic(expected = "a frame of max_frame_len + 1 bytes was accepted")]
fn catches_missing_size_check() {
    run(transport::larger_frame_is_frame_too_large_and_nothing_sent(
        mutants(Bug::NoSizeCheck),
    ));
}

#[test]
#[should_panic(expected = "a pending recv did not wake up after close")]
fn catches_close_that_does_not_wake_recv() {
    run(transport::close_fails_send_and_wakes_recv(mutants(
        Bug::CloseDoesNotWakeRecv,
    )));
}

#[test]
#[should_panic(expected = "unexpected frame")]
fn catches_wrong_sender_id() {
    run(transport::delivers_frames_with_sender_id(mutants(
        Bug::WrongSenderId,
    )));
}

#[test]
#[should_panic(expected = "but the transport declares `ordered`")]
fn catches_false_ordering_claim() {
    run(transport::per_link_order_when_ordered(mutants(
        Bug::ClaimsOrder,
    )));
}

#[test]
#[should_panic(expected = "does not declare `may_duplicate`")]
fn catches_hidden_duplicates() {
    run(transport::declared_capabilities(mutants(
        Bug::HidesDuplicates,
    )));
}

#[test]
#[should_panic(expected = "closed twice")]
fn catches_close_that_is_not_idempotent() {
    run(transport::close_is_idempotent(mutants(
        Bug::CloseTwiceFails,
    )));
}

#[test]
#[should_panic(expected = "send to an unknown peer hung")]
fn catches_send_to_unknown_peer_that_hangs() {
    run(transport::unknown_peer_is_error_not_hang(mutants(
        Bug::UnknownPeerHangs,
    )));
}

#[test]
#[should_panic(expected = "no frame arrived within")]
fn catches_lost_empty_frames() {
    run(transport::empty_frame_roundtrips(mutants(
        Bug::LosesEmptyFrames,
    )));
}

#[test]
#[should_panic(expected = "max_frame_len changed with traffic")]
fn catches_unstable_max_frame_len() {
    run(transport::max_frame_len_is_positive_and_stable(mutants(
        Bug::UnstableMaxLen,
    )));
}

#[test]
fn an_honest_wrapper_passes() {
    // The same wrapper with a harmless "bug" passes, so the failures above
    // come from the bugs, not from the wrapper.
    let honest = |ids: Vec<Identity>| {
        let network = MemoryNetwork::new(MemoryNetworkConfig::default());
        let transports: Vec<Arc<dyn Transport>> = ids
            .into_iter()
            .map(|id| Arc::new(join(&network, &id)) as Arc<dyn Transport>)
            .collect();
        std::future::ready(transports)
    };
    run(transport::recv_is_cancel_safe(honest));
}
