//! Waiting for what a transport's `recv` returns, with deadlines: the
//! helpers a transport crate's own tests need beside the conformance suite
//! (wait for `Connected`, for the next frame, for a reported error; collect
//! everything for a while).
//!
//! Each waits at most [`EVENT_WAIT`] and panics with the transport's id when
//! nothing matching came: a panic is how a test fails.
//!
//! ```
//! use gossip_core::{testkit::transport::events::next_event, Transport, TransportEvent};
//!
//! /// In a transport's test: wait until `a` reports its connection.
//! async fn connected(a: &impl Transport) -> TransportEvent {
//!     next_event(a, |event| matches!(event, TransportEvent::Connected { .. })).await
//! }
//! ```

use std::time::Duration;

use bytes::Bytes;
use tokio::time::{timeout_at, Instant};

use crate::{NodeId, Transport, TransportError, TransportErrorKind, TransportEvent};

/// The bound on any single wait of these helpers.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

/// The next event matching `want`, skipping other events and reported
/// errors (bad input from peers).
///
/// # Panics
///
/// After [`EVENT_WAIT`] without a match, or when `recv` returns `Closed`.
pub async fn next_event<T: Transport + ?Sized>(
    transport: &T,
    mut want: impl FnMut(&TransportEvent) -> bool,
) -> TransportEvent {
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        let received = timeout_at(deadline, transport.recv())
            .await
            .unwrap_or_else(|_| panic!("{}: expected event did not come", transport.local_id()));
        match received {
            Ok(event) if want(&event) => return event,
            Ok(_) => {}
            Err(error) if error.kind() == TransportErrorKind::Closed => {
                panic!("{}: {error}", transport.local_id())
            }
            Err(_) => {}
        }
    }
}

/// The next error `recv` reports (bad input from a peer, or `Closed`),
/// skipping events.
///
/// # Panics
///
/// After [`EVENT_WAIT`] without an error.
pub async fn next_error<T: Transport + ?Sized>(transport: &T) -> TransportError {
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        let received = timeout_at(deadline, transport.recv())
            .await
            .unwrap_or_else(|_| panic!("{}: expected error did not come", transport.local_id()));
        if let Err(error) = received {
            return error;
        }
    }
}

/// The next frame and its sender, skipping peer events and reported errors.
///
/// # Panics
///
/// As [`next_event`].
pub async fn next_frame<T: Transport + ?Sized>(transport: &T) -> (NodeId, Bytes) {
    loop {
        if let TransportEvent::Frame { from, frame } =
            next_event(transport, |e| matches!(e, TransportEvent::Frame { .. })).await
        {
            return (from, frame);
        }
    }
}

/// Every event arriving within `period`, in order (reported errors
/// skipped); stops early when `recv` returns `Closed`.
pub async fn drain<T: Transport + ?Sized>(transport: &T, period: Duration) -> Vec<TransportEvent> {
    let deadline = Instant::now() + period;
    let mut events = Vec::new();
    while let Ok(received) = timeout_at(deadline, transport.recv()).await {
        match received {
            Ok(event) => events.push(event),
            Err(error) if error.kind() == TransportErrorKind::Closed => break,
            Err(_) => {}
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::{InboundQueue, InboundSender, TransportCapabilities, TransportResult};

    /// A transport whose `recv` returns what the test pushes.
    struct Scripted {
        id: NodeId,
        queue: InboundQueue,
    }

    impl Scripted {
        fn new() -> (Self, InboundSender) {
            let queue = InboundQueue::new("scripted", 16);
            let sender = queue.sender();
            let id = NodeId::from_seed("me");
            (Self { id, queue }, sender)
        }
    }

    #[async_trait]
    impl Transport for Scripted {
        fn backend(&self) -> &'static str {
            "scripted"
        }
        fn local_id(&self) -> &NodeId {
            &self.id
        }
        fn max_frame_len(&self) -> usize {
            16
        }
        fn capabilities(&self) -> TransportCapabilities {
            TransportCapabilities::stream_like()
        }
        async fn send(&self, to: &NodeId, _frame: Bytes) -> TransportResult<()> {
            Err(TransportError::unknown_peer("scripted", to))
        }
        async fn recv(&self) -> TransportResult<TransportEvent> {
            self.queue.recv().await
        }
        async fn close(&self) -> TransportResult<()> {
            self.queue.close();
            Ok(())
        }
    }

    fn peer() -> NodeId {
        NodeId::from_seed("peer")
    }

    fn push(sender: &InboundSender, item: TransportResult<TransportEvent>) {
        sender.try_push(item).unwrap_or_else(|e| panic!("{e}"));
    }

    fn rejected() -> TransportError {
        TransportError::new("scripted", TransportErrorKind::Rejected, "bad frame")
    }

    #[tokio::test]
    async fn next_frame_skips_peer_events_and_errors() {
        let (transport, sender) = Scripted::new();
        push(&sender, Ok(TransportEvent::Connected { peer: peer() }));
        push(&sender, Err(rejected()));
        push(
            &sender,
            Ok(TransportEvent::Frame {
                from: peer(),
                frame: "x".into(),
            }),
        );
        assert_eq!(next_frame(&transport).await, (peer(), Bytes::from("x")));
    }

    #[tokio::test]
    async fn next_error_skips_events() {
        let (transport, sender) = Scripted::new();
        push(&sender, Ok(TransportEvent::Connected { peer: peer() }));
        push(&sender, Err(rejected()));
        assert_eq!(
            next_error(&transport).await.kind(),
            TransportErrorKind::Rejected
        );
    }

    #[tokio::test]
    async fn drain_collects_in_order_until_closed() {
        let (transport, sender) = Scripted::new();
        push(&sender, Ok(TransportEvent::Connected { peer: peer() }));
        push(&sender, Err(rejected()));
        push(&sender, Ok(TransportEvent::Disconnected { peer: peer() }));
        let events = drain(&transport, Duration::from_millis(50)).await;
        assert_eq!(
            events,
            vec![
                TransportEvent::Connected { peer: peer() },
                TransportEvent::Disconnected { peer: peer() }
            ]
        );
        transport.queue.close();
        assert!(drain(&transport, EVENT_WAIT).await.is_empty());
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "expected event did not come")]
    async fn next_event_panics_when_nothing_matches() {
        let (transport, sender) = Scripted::new();
        push(&sender, Ok(TransportEvent::Connected { peer: peer() }));
        next_event(&transport, |e| {
            matches!(e, TransportEvent::Disconnected { .. })
        })
        .await;
    }
}
