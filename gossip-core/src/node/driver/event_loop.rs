//! The node task's `select!` loop, and what it does with transport events
//! and frames.
//!
//! The `select!` is `biased` (commands, then timers, then frames) so that a
//! run under paused tokio time is deterministic.

use bytes::Bytes;
use tokio::{sync::mpsc, time::Instant};
use tracing::Instrument;

use super::Driver;
use crate::{
    domain::{DomainEvent, NodeId},
    error::{Error, TransportErrorKind},
    node::{budget::Admission, command::Command, health::NodeState},
    ports::{DynTransport, TransportEvent, TransportResult},
    protocol::{codec, swim::SwimOutput, Message},
};

/// Whether the loop goes on.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Exit,
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Most transport events handled per wake-up of the node task: a burst is
/// taken in one go, then the per-wake-up work (pending entries, addresses,
/// SWIM's sends) runs once for all of it.
const RECV_BATCH: usize = 64;

/// The next burst of events, in `events` (handed back, so its allocation is
/// reused).
async fn recv_from(
    transport: Option<DynTransport>,
    mut events: Vec<TransportResult<TransportEvent>>,
) -> Option<Vec<TransportResult<TransportEvent>>> {
    match transport {
        Some(t) => {
            t.recv_many(&mut events, RECV_BATCH).await;
            Some(events)
        }
        None => std::future::pending().await,
    }
}

impl Driver {
    /// Runs the node task until the handles are gone or the node is disposed.
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            let swim_deadline = self
                .engines
                .swim
                .next_deadline()
                .map(|ms| self.timers.at_ms(ms));
            let running = self.running();
            let networking = self.networking();
            let transport = self.link.transport().cloned();
            let flow = tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(command) => self.handle_command(command).await,
                    None => {
                        self.shutdown().await;
                        Flow::Exit
                    }
                },
                () = sleep_until_opt(swim_deadline), if running => {
                    let now = self.timers.now_ms();
                    self.engines.swim.handle_timeout(now);
                    Flow::Continue
                }
                () = tokio::time::sleep_until(self.timers.next_gossip()), if running => {
                    self.release_quarantine().await;
                    let expired = self.replica.buffer.expire(self.clock.now_ms());
                    self.stats.buffer_expired += expired as u64;
                    self.lazy_tick().await;
                    self.gossip_round(None).await;
                    Flow::Continue
                }
                () = sleep_until_opt(self.acks.due()), if running => {
                    self.send_acks().await;
                    Flow::Continue
                }
                () = tokio::time::sleep_until(self.timers.next_retention()) => {
                    self.timers.schedule_retention(self.config.retention_interval);
                    self.apply_retention().await;
                    Flow::Continue
                }
                Some(mut events) = recv_from(transport, std::mem::take(&mut self.inbox)), if networking => {
                    for event in events.drain(..) {
                        self.handle_transport_event(event).await;
                    }
                    self.inbox = events;
                    Flow::Continue
                }
            };
            self.release_pending().await;
            self.announce_addresses().await;
            self.flush_swim().await;
            if flow == Flow::Exit {
                break;
            }
        }
    }

    /// Sends what SWIM produced and reports its status changes.
    pub(super) async fn flush_swim(&mut self) {
        let outputs: Vec<SwimOutput> = self.engines.swim.drain_outputs().collect();
        for output in outputs {
            match output {
                SwimOutput::Send { to, message } => {
                    if self.running() {
                        self.send(&to, codec::encode(&message)).await;
                    }
                }
                SwimOutput::StatusChanged { peer, status } => {
                    tracing::info!(node = %self.local, %peer, %status, "peer status changed");
                    self.feeds
                        .event(DomainEvent::PeerStatusChanged { peer, status });
                }
            }
        }
    }

    async fn handle_transport_event(&mut self, event: TransportResult<TransportEvent>) {
        match event {
            Ok(TransportEvent::Frame { from, frame }) => self.handle_frame(from, frame).await,
            Ok(TransportEvent::PeerDiscovered { peer, .. }) => self.peer_discovered(peer).await,
            Ok(TransportEvent::Connected { peer }) => {
                tracing::debug!(node = %self.local, %peer, "connected");
            }
            Ok(TransportEvent::Disconnected { peer }) => {
                tracing::debug!(node = %self.local, %peer, "disconnected");
            }
            Err(error) if error.kind() == TransportErrorKind::Closed => {
                tracing::warn!(node = %self.local, "transport closed; networking stops");
                self.report(Error::Transport(error), None);
                self.link.take();
            }
            Err(error) => self.report(Error::Transport(error), None),
        }
    }

    /// Counts, admits and decodes a frame, then dispatches it in a span
    /// naming the node, the peer and the message kind.
    pub(super) async fn handle_frame(&mut self, from: NodeId, frame: Bytes) {
        self.stats.frames_in += 1;
        self.stats.bytes_in += frame.len() as u64;
        if self.state != NodeState::Running {
            return;
        }
        if !self.peers.contains(&from) {
            self.stats.unknown_peer_frames += 1;
            self.report(Error::UnknownPeer(from.clone()), Some(&from));
            return;
        }
        match self.peers.admit(&from, frame.len(), self.timers.now_ms()) {
            Admission::Admitted => {}
            Admission::ThrottlingStarted => {
                self.stats.throttled_frames += 1;
                self.report(Error::Throttled(from.clone()), Some(&from));
                return;
            }
            Admission::Throttled => {
                self.stats.throttled_frames += 1;
                return;
            }
        }
        let message = match codec::decode_shared(&frame, self.link.max_frame_len()) {
            Ok(message) => message,
            Err(error) => {
                self.stats.malformed_frames += 1;
                self.report(Error::Decode(error), Some(&from));
                return;
            }
        };
        self.peers.heard_from(&from);
        let span = tracing::debug_span!(
            "frame",
            node = %self.local,
            peer = %from,
            kind = message.kind().name(),
        );
        self.dispatch(from, message).instrument(span).await;
    }

    async fn dispatch(&mut self, from: NodeId, message: Message) {
        let now = self.timers.now_ms();
        match message {
            Message::Ping(_) | Message::Ack(_) | Message::PingReq(_) | Message::Nack(_) => {
                self.engines.swim.handle_message(&from, &message, now);
            }
            other => {
                self.engines.swim.handle_contact(&from, now);
                self.handle_sync_message(from, other).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        node::{
            command::Lifecycle,
            driver::fixture::{node, Fixture},
        },
        ports::PeerRecord,
    };

    #[tokio::test]
    async fn frames_are_counted_and_checked_before_they_are_dispatched() {
        let mut f = Fixture::new(&["b"]).await;
        f.driver.peers.insert(PeerRecord::new(node("b")));
        let frame = Bytes::from_static(b"\x00\x00garbage");

        // Not running: counted, nothing else.
        f.driver.handle_frame(node("b"), frame.clone()).await;
        assert_eq!(f.driver.stats.frames_in, 1);
        assert!(f.errors().is_empty());

        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        f.driver.handle_frame(node("x"), frame.clone()).await;
        assert_eq!(f.driver.stats.unknown_peer_frames, 1);
        assert!(matches!(&f.errors()[..], [Error::UnknownPeer(p)] if p == &node("x")));

        f.driver.handle_frame(node("b"), frame.clone()).await;
        assert_eq!(f.driver.stats.malformed_frames, 1);
        assert!(matches!(&f.errors()[..], [Error::Decode(_)]));
        assert_eq!(f.driver.stats.frames_in, 3);
        assert_eq!(f.driver.stats.bytes_in, 3 * frame.len() as u64);
    }

    #[tokio::test]
    async fn a_push_frame_is_merged() {
        let mut f = Fixture::new(&["b"]).await;
        f.driver.peers.insert(PeerRecord::new(node("b")));
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        let entries = f.entries("b", 1..=2, 10);
        let frames =
            codec::push_frames(f.channel.clone(), f.stream.clone(), entries, usize::MAX).unwrap();
        for frame in frames {
            f.driver.handle_frame(node("b"), frame).await;
        }
        assert_eq!(f.driver.stats.entries_merged, 2);
        assert_eq!(f.driver.peers.last_heard_ms_ago(&node("b")), Some(0));
        assert!(f.errors().is_empty());
    }
}
