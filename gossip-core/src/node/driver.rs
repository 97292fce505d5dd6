//! The node task: the one place where `await` meets the store and the network.
//!
//! It owns the protocol engines, the channels, the replica index, the
//! out-of-order buffer and the clock; handles talk to it through a bounded
//! command queue. Its `select!` is `biased` (commands, then timers, then
//! frames) so that a run under paused tokio time is deterministic.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use tokio::{sync::mpsc, time::Instant};

use super::{
    budget::{Admission, InboundBudgets},
    command::{ChannelChange, Command, Lifecycle},
    config::Config,
    health::{Health, NodeState, NodeStats, PeerHealth, ResourceUsage},
    subscription::Feeds,
};
use crate::{
    domain::{
        Channel, ChannelId, DomainEvent, HlcClock, LogEntry, NodeId, OutOfOrderBuffer, PeerStatus,
        SeededRng, StreamId, SyncError,
    },
    error::Error,
    ports::{Clock, DynStore, DynTransport, PeerRecord, TransportEvent},
    protocol::{
        anti_entropy::{AntiEntropy, ReplicaIndex},
        codec,
        push::EagerPush,
        swim::{FailureDetector, SwimOutput},
        Message,
    },
    TransportErrorKind,
};

/// Room a frame needs around one entry's payload (envelope, ids, sequence,
/// timestamp, length prefixes, a modest compaction base).
pub(crate) const FRAME_HEADROOM: usize = 1_024;

/// Everything the node task owns.
pub(crate) struct Driver {
    pub(super) local: NodeId,
    pub(super) config: Config,
    pub(super) store: DynStore,
    pub(super) transport: Option<DynTransport>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) hlc: HlcClock,
    pub(super) channels: BTreeMap<ChannelId, Channel>,
    pub(super) index: ReplicaIndex,
    pub(super) buffer: OutOfOrderBuffer,
    pub(super) peers: BTreeMap<NodeId, PeerRecord>,
    pub(super) last_heard: HashMap<NodeId, Instant>,
    pub(super) swim: FailureDetector,
    pub(super) anti_entropy: AntiEntropy,
    pub(super) push: EagerPush,
    pub(super) rng: SeededRng,
    pub(super) feeds: Arc<Feeds>,
    pub(super) state: NodeState,
    pub(super) stats: NodeStats,
    pub(super) epoch: Instant,
    pub(super) next_gossip: Instant,
    pub(super) next_retention: Instant,
    pub(super) max_frame_len: usize,
    pub(super) budgets: InboundBudgets,
    /// When each peer last sent this node a delta response: a pull from it
    /// is under way while that is recent.
    pub(super) pulling_from: HashMap<NodeId, Instant>,
    /// When this node last answered each peer's delta request: that peer is
    /// pulling from this node while that is recent.
    pub(super) serving: HashMap<NodeId, Instant>,
}

/// Whether the loop goes on.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Exit,
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn recv_from(
    transport: Option<DynTransport>,
) -> Option<crate::TransportResult<TransportEvent>> {
    match transport {
        Some(t) => Some(t.recv().await),
        None => std::future::pending().await,
    }
}

impl Driver {
    /// Monotonic milliseconds since the node task started (SWIM's time base).
    pub(super) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn networking(&self) -> bool {
        self.transport.is_some() && matches!(self.state, NodeState::Running | NodeState::Paused)
    }

    fn running(&self) -> bool {
        self.transport.is_some() && self.state == NodeState::Running
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            let swim_deadline = self
                .swim
                .next_deadline()
                .map(|ms| self.epoch + Duration::from_millis(ms));
            let running = self.running();
            let networking = self.networking();
            let transport = self.transport.clone();
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
                    let now = self.now_ms();
                    self.swim.handle_timeout(now);
                    Flow::Continue
                }
                () = tokio::time::sleep_until(self.next_gossip), if running => {
                    self.gossip_round(None).await;
                    Flow::Continue
                }
                () = tokio::time::sleep_until(self.next_retention) => {
                    self.next_retention = Instant::now() + self.config.retention_interval;
                    self.apply_retention().await;
                    Flow::Continue
                }
                Some(event) = recv_from(transport), if networking => {
                    self.handle_transport_event(event).await;
                    Flow::Continue
                }
            };
            self.flush_swim().await;
            if flow == Flow::Exit {
                break;
            }
        }
    }

    /// Sends what SWIM produced and reports its status changes.
    pub(super) async fn flush_swim(&mut self) {
        let outputs: Vec<SwimOutput> = self.swim.drain_outputs().collect();
        for output in outputs {
            match output {
                SwimOutput::Send { to, message } => {
                    if self.running() {
                        self.send(&to, codec::encode(&message)).await;
                    }
                }
                SwimOutput::StatusChanged { peer, status } => {
                    tracing::info!(%peer, %status, "peer status changed");
                    self.feeds
                        .event(DomainEvent::PeerStatusChanged { peer, status });
                }
            }
        }
    }

    /// Sends one frame, counting it; failures are counted and reported.
    pub(super) async fn send(&mut self, to: &NodeId, frame: Bytes) -> bool {
        let Some(transport) = &self.transport else {
            return false;
        };
        let len = frame.len() as u64;
        match transport.send(to, frame).await {
            Ok(()) => {
                self.stats.frames_out += 1;
                self.stats.bytes_out += len;
                true
            }
            Err(error) => {
                self.stats.send_failures += 1;
                // Unreachable peers are SWIM's business; don't flood the error stream.
                if !matches!(
                    error.kind(),
                    TransportErrorKind::Unreachable | TransportErrorKind::QueueFull
                ) {
                    self.report(Error::Transport(error), Some(to));
                }
                false
            }
        }
    }

    /// Reports a non-fatal error on the error stream.
    pub(super) fn report(&self, error: Error, peer: Option<&NodeId>) {
        let mut e = SyncError::new(error);
        if let Some(peer) = peer {
            e = e.with_peer(peer.clone());
        }
        self.feeds.error(e);
    }

    async fn handle_transport_event(&mut self, event: crate::TransportResult<TransportEvent>) {
        match event {
            Ok(TransportEvent::Frame { from, frame }) => self.handle_frame(from, frame).await,
            Ok(TransportEvent::PeerDiscovered { peer, .. }) => {
                self.feeds.event(DomainEvent::PeerDiscovered { peer });
            }
            Ok(TransportEvent::Connected { peer }) => tracing::debug!(%peer, "connected"),
            Ok(TransportEvent::Disconnected { peer }) => tracing::debug!(%peer, "disconnected"),
            Err(error) if error.kind() == TransportErrorKind::Closed => {
                tracing::warn!("transport closed; networking stops");
                self.report(Error::Transport(error), None);
                self.transport = None;
            }
            Err(error) => self.report(Error::Transport(error), None),
        }
    }

    async fn handle_frame(&mut self, from: NodeId, frame: Bytes) {
        self.stats.frames_in += 1;
        self.stats.bytes_in += frame.len() as u64;
        if self.state != NodeState::Running {
            return;
        }
        if !self.peers.contains_key(&from) {
            self.stats.unknown_peer_frames += 1;
            self.report(Error::UnknownPeer(from.clone()), Some(&from));
            return;
        }
        match self.budgets.admit(&from, frame.len(), self.now_ms()) {
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
        let message = match codec::decode(&frame, self.max_frame_len) {
            Ok(message) => message,
            Err(error) => {
                self.stats.malformed_frames += 1;
                self.report(Error::Decode(error), Some(&from));
                return;
            }
        };
        let now = self.now_ms();
        self.last_heard.insert(from.clone(), Instant::now());
        let span = tracing::debug_span!("frame", peer = %from, kind = message.kind().name());
        let _guard = span.enter();
        match message {
            Message::Ping(_) | Message::Ack(_) | Message::PingReq(_) => {
                self.swim.handle_message(&from, &message, now);
            }
            other => {
                self.swim.handle_contact(&from, now);
                self.handle_sync_message(from, other).await;
            }
        }
    }

    async fn handle_command(&mut self, command: Command) -> Flow {
        match command {
            Command::Lifecycle(change, reply) => {
                let result = self.lifecycle(change).await;
                let exit = change == Lifecycle::Dispose;
                let _ = reply.send(result);
                if exit {
                    return Flow::Exit;
                }
            }
            Command::AddPeer(record, reply) => {
                let _ = reply.send(self.add_peer(record).await);
            }
            Command::RemovePeer(peer, reply) => {
                let _ = reply.send(self.remove_peer(&peer).await);
            }
            Command::CreateChannel(id, reply) => {
                let _ = reply.send(self.create_channel(id).await);
            }
            Command::DeleteChannel(id, reply) => {
                let _ = reply.send(self.delete_channel(&id).await);
            }
            Command::GetChannel(id, reply) => {
                let result = self
                    .channels
                    .get(&id)
                    .cloned()
                    .ok_or(Error::UnknownChannel(id));
                let _ = reply.send(result);
            }
            Command::ListChannels(reply) => {
                let _ = reply.send(Ok(self.channels.keys().cloned().collect()));
            }
            Command::UpdateChannel(id, change, reply) => {
                let _ = reply.send(self.update_channel(&id, change).await);
            }
            Command::Append {
                channel,
                stream,
                payloads,
                reply,
            } => {
                let _ = reply.send(self.append(&channel, &stream, payloads).await);
            }
            Command::Compact(reply) => {
                let _ = reply.send(Ok(self.apply_retention().await));
            }
            Command::SyncNow(reply) => {
                if self.running() {
                    let peers: Vec<NodeId> = self.peers.keys().cloned().collect();
                    for peer in peers {
                        self.gossip_round(Some(peer)).await;
                    }
                }
                let _ = reply.send(Ok(()));
            }
            Command::Health(reply) => {
                let _ = reply.send(Ok(self.health()));
            }
            Command::ResourceUsage(reply) => {
                let _ = reply.send(self.resource_usage().await);
            }
        }
        Flow::Continue
    }

    async fn lifecycle(&mut self, change: Lifecycle) -> Result<(), Error> {
        use NodeState::{Idle, Paused, Running, Stopped};
        match (change, self.state) {
            (Lifecycle::Start, Idle) | (Lifecycle::Resume, Paused) => {
                self.state = Running;
                let now = self.now_ms();
                let peers: Vec<NodeId> = self.peers.keys().cloned().collect();
                for peer in peers {
                    self.swim.add_member(peer, now);
                }
                self.next_gossip = Instant::now();
            }
            (Lifecycle::Start, Running) | (Lifecycle::Resume, Running) => {}
            (Lifecycle::Pause, Running) => self.state = Paused,
            (Lifecycle::Pause, Paused) => {}
            (Lifecycle::Stop, Stopped) => {}
            (Lifecycle::Stop, _) => {
                self.stop_networking().await;
                self.save_clock().await?;
            }
            (Lifecycle::Dispose, _) => {
                self.shutdown().await;
            }
            (change, state) => {
                return Err(Error::InvalidConfig(format!(
                    "cannot {change:?} a node that is {state:?}"
                )))
            }
        }
        Ok(())
    }

    async fn stop_networking(&mut self) {
        if let Some(transport) = self.transport.take() {
            if let Err(error) = transport.close().await {
                self.report(Error::Transport(error), None);
            }
        }
        self.state = NodeState::Stopped;
    }

    async fn save_clock(&mut self) -> Result<(), Error> {
        self.store.save_clock(self.hlc.last()).await?;
        Ok(())
    }

    /// Ends everything: networking, clock saved, store closed.
    async fn shutdown(&mut self) {
        if self.state == NodeState::Disposed {
            return;
        }
        self.stop_networking().await;
        if let Err(error) = self.save_clock().await {
            self.report(error, None);
        }
        if let Err(error) = self.store.close().await {
            self.report(Error::Store(error), None);
        }
        self.state = NodeState::Disposed;
    }

    async fn add_peer(&mut self, record: PeerRecord) -> Result<(), Error> {
        if record.id == self.local {
            return Err(Error::InvalidConfig("a node cannot be its own peer".into()));
        }
        self.store.save_peer(&record).await?;
        let id = record.id.clone();
        self.peers.insert(id.clone(), record);
        if matches!(self.state, NodeState::Running | NodeState::Paused) {
            let now = self.now_ms();
            self.swim.add_member(id, now);
        }
        Ok(())
    }

    async fn remove_peer(&mut self, peer: &NodeId) -> Result<(), Error> {
        self.store.remove_peer(peer).await?;
        self.peers.remove(peer);
        self.last_heard.remove(peer);
        self.budgets.forget(peer);
        self.pulling_from.remove(peer);
        self.serving.remove(peer);
        self.swim.remove_member(peer);
        Ok(())
    }

    async fn create_channel(&mut self, id: ChannelId) -> Result<Channel, Error> {
        if let Some(existing) = self.channels.get(&id) {
            return Ok(existing.clone());
        }
        let mut channel = Channel::new(id.clone(), self.local.clone());
        let mut defaults = channel.default_stream_config().clone();
        defaults.max_payload_bytes = self.config.max_payload_bytes;
        channel.set_default_stream_config(defaults);
        self.store.save_channel(&channel).await?;
        self.index.add_channel(&id);
        self.channels.insert(id, channel.clone());
        Ok(channel)
    }

    async fn delete_channel(&mut self, id: &ChannelId) -> Result<(), Error> {
        self.store.delete_channel(id).await?;
        self.channels.remove(id);
        self.index.remove_channel(id);
        self.buffer.forget_channel(id);
        Ok(())
    }

    async fn update_channel(
        &mut self,
        id: &ChannelId,
        change: ChannelChange,
    ) -> Result<Channel, Error> {
        let mut channel = self
            .channels
            .get(id)
            .cloned()
            .ok_or_else(|| Error::UnknownChannel(id.clone()))?;
        match change {
            ChannelChange::AddMember(node) => {
                channel.add_member(node);
            }
            ChannelChange::RemoveMember(node) => {
                channel.remove_member(&node);
            }
            ChannelChange::StreamConfig(stream, config) => {
                self.check_payload_fits(config.max_payload_bytes)?;
                channel.set_stream_config(stream, config);
            }
            ChannelChange::DefaultStreamConfig(config) => {
                self.check_payload_fits(config.max_payload_bytes)?;
                channel.set_default_stream_config(config);
            }
        }
        self.store.save_channel(&channel).await?;
        self.channels.insert(id.clone(), channel.clone());
        Ok(channel)
    }

    /// A payload limit must leave room for the frame around one entry.
    pub(super) fn check_payload_fits(&self, max_payload: usize) -> Result<(), Error> {
        if self.transport.is_some() && max_payload + FRAME_HEADROOM > self.max_frame_len {
            return Err(Error::InvalidConfig(format!(
                "payload limit of {max_payload} bytes does not fit the transport's largest frame of {} bytes",
                self.max_frame_len
            )));
        }
        Ok(())
    }

    fn health(&self) -> Health {
        let peers = self
            .peers
            .keys()
            .map(|id| PeerHealth {
                id: id.clone(),
                status: self.swim.status(id).unwrap_or(PeerStatus::Reachable),
                last_heard_ms_ago: self
                    .last_heard
                    .get(id)
                    .map(|at| u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX)),
            })
            .collect();
        Health {
            state: self.state,
            peers,
            buffered_entries: self.buffer.len(),
            stats: self.stats,
        }
    }

    async fn resource_usage(&self) -> Result<ResourceUsage, Error> {
        let mut usage = ResourceUsage {
            channels: self.channels.len(),
            buffered_entries: self.buffer.len(),
            buffered_bytes: self.buffer.bytes(),
            ..ResourceUsage::default()
        };
        for id in self.channels.keys() {
            for stream in self.store.streams(id).await? {
                let stats = self.store.stats(id, &stream).await?;
                usage.streams += 1;
                usage.entries += stats.entries;
                usage.bytes += stats.bytes;
            }
        }
        Ok(usage)
    }

    /// Appends local entries: one atomic batch, then pushed at once.
    async fn append(
        &mut self,
        channel_id: &ChannelId,
        stream: &StreamId,
        payloads: Vec<Bytes>,
    ) -> Result<Vec<LogEntry>, Error> {
        let channel = self
            .channels
            .get(channel_id)
            .ok_or_else(|| Error::UnknownChannel(channel_id.clone()))?;
        if !channel.is_member(&self.local) {
            return Err(Error::NotMember {
                channel: channel_id.clone(),
                node: self.local.clone(),
            });
        }
        let limit = channel.stream_config(stream).max_payload_bytes;
        if let Some(p) = payloads.iter().find(|p| p.len() > limit) {
            return Err(Error::PayloadTooLarge {
                size: p.len(),
                limit,
            });
        }
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        let mut version = self.index.version(channel_id, stream);
        let mut sequence = version.get(&self.local);
        let physical = self.clock.now_ms();
        let mut entries = Vec::with_capacity(payloads.len());
        for payload in payloads {
            sequence += 1;
            let timestamp = self.hlc.now(physical)?;
            entries.push(LogEntry::new(
                self.local.clone(),
                sequence,
                timestamp,
                payload,
            ));
        }
        self.store.append(channel_id, stream, &entries).await?;
        version.raise(&self.local, sequence);
        let base = self.index.base(channel_id, stream);
        self.index.set(channel_id, stream, version, base);
        self.stats.entries_appended += entries.len() as u64;
        self.feeds.publish(channel_id, stream, &entries);
        self.feeds.event(DomainEvent::EntriesAppended {
            channel: channel_id.clone(),
            stream: stream.clone(),
            count: entries.len(),
        });
        if self.running() && self.config.eager_push {
            self.push_entries(channel_id, stream, &entries, None).await;
        }
        Ok(entries)
    }
}
