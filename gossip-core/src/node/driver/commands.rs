//! Commands from the handles: peers, channels, appends, health.

use tracing::Instrument;

use super::{event_loop::Flow, Driver};
use crate::{
    domain::{ChannelId, NodeId},
    error::Error,
    node::{
        command::{Command, Lifecycle},
        health::{Health, NodeState, PeerHealth, ResourceUsage},
    },
    ports::PeerRecord,
};

impl Driver {
    /// Runs one command and replies to it.
    pub(super) async fn handle_command(&mut self, command: Command) -> Flow {
        match command {
            Command::Lifecycle(change, reply) => {
                let result = self.lifecycle(change).await;
                let _ = reply.send(result);
                if change == Lifecycle::Dispose {
                    return Flow::Exit;
                }
            }
            Command::AddPeer(record, reply) => {
                let _ = reply.send(self.add_peer(record).await);
            }
            Command::RemovePeer(peer, reply) => {
                let _ = reply.send(self.remove_peer(&peer).await);
            }
            Command::CreateChannel(name, reply) => {
                let _ = reply.send(self.create_channel(&name).await);
            }
            Command::Join(invitation, reply) => {
                let _ = reply.send(self.join(invitation).await);
            }
            Command::Invite {
                channel,
                member,
                role,
                addresses,
                reply,
            } => {
                let _ = reply.send(self.invite(&channel, member, role, addresses).await);
            }
            Command::DeleteChannel(id, reply) => {
                let _ = reply.send(self.delete_channel(&id).await);
            }
            Command::GetChannel(id, reply) => {
                let _ = reply.send(self.channel(&id));
            }
            Command::ListChannels(reply) => {
                let _ = reply.send(Ok(self.replica.channels.keys().cloned().collect()));
            }
            Command::UpdateChannel(id, change, reply) => {
                let _ = reply.send(self.change_channel(&id, change).await);
            }
            Command::Append {
                channel,
                stream,
                payloads,
                reply,
            } => {
                let span = tracing::debug_span!(
                    "append",
                    node = %self.local,
                    channel = %channel,
                    stream = %stream,
                    entries = payloads.len(),
                );
                let result = self
                    .append(&channel, &stream, payloads)
                    .instrument(span)
                    .await;
                let _ = reply.send(result);
            }
            Command::AppendDurable {
                channel,
                stream,
                payload,
                copies,
                reply,
            } => {
                let result = self
                    .append_durable(&channel, &stream, payload, copies)
                    .await;
                let _ = reply.send(result);
            }
            Command::Compact(reply) => {
                let _ = reply.send(Ok(self.apply_retention().await));
            }
            Command::SyncNow(reply) => {
                if self.running() {
                    for peer in self.peers.ids() {
                        self.gossip_round(Some(peer)).await;
                    }
                }
                let _ = reply.send(Ok(()));
            }
            Command::Health(reply) => {
                let _ = reply.send(Ok(self.health().await));
            }
            Command::ResourceUsage(reply) => {
                let _ = reply.send(self.resource_usage().await);
            }
        }
        Flow::Continue
    }

    pub(super) async fn add_peer(&mut self, record: PeerRecord) -> Result<(), Error> {
        if record.id == self.local {
            return Err(Error::InvalidConfig("a node cannot be its own peer".into()));
        }
        self.store.save_peer(&record).await?;
        let id = record.id.clone();
        self.peers.insert(record);
        if matches!(self.state, NodeState::Running | NodeState::Paused) {
            let now = self.timers.now_ms();
            self.engines.swim.add_member(id, now);
        }
        Ok(())
    }

    async fn remove_peer(&mut self, peer: &NodeId) -> Result<(), Error> {
        self.store.remove_peer(peer).await?;
        self.peers.remove(peer);
        self.peer_sync.forget_peer(peer);
        self.author_pushes.forget_peer(peer);
        self.pulls.forget_peer(peer);
        self.engines.swim.remove_member(peer);
        Ok(())
    }

    async fn delete_channel(&mut self, id: &ChannelId) -> Result<(), Error> {
        self.store.delete_channel(id).await?;
        self.replica.remove_channel(id);
        self.peer_sync.forget_channel(id);
        self.author_pushes.forget_channel(id);
        Ok(())
    }

    pub(super) async fn health(&self) -> Health {
        let now = self.timers.now_ms();
        let mut peers = Vec::new();
        for id in self.peers.ids() {
            let view = self.peer_sync.view(&id);
            peers.push(PeerHealth {
                status: self.engines.status(&id),
                last_heard_ms_ago: self.peers.last_heard_ms_ago(&id),
                last_sync_ms_ago: view
                    .and_then(|v| v.last_sync_ms)
                    .map(|at| now.saturating_sub(at)),
                clock_skew_ms: view.and_then(|v| v.clock_skew_ms()),
                streams: self.peer_streams(&id).await,
                id,
            });
        }
        Health {
            state: self.state,
            peers,
            buffered_entries: self.replica.buffer.len(),
            quarantined_entries: self.replica.quarantine.len(),
            pending_entries: self.replica.pending.len(),
            lazy_missing: self.engines.lazy.missing(),
            equivocations: self.replica.equivocations.values().cloned().collect(),
            stats: self.stats,
            transport: self
                .link
                .transport()
                .map(|t| t.counters())
                .unwrap_or_default(),
        }
    }

    async fn resource_usage(&self) -> Result<ResourceUsage, Error> {
        let mut usage = ResourceUsage {
            channels: self.replica.channels.len(),
            buffered_entries: self.replica.buffer.len(),
            buffered_bytes: self.replica.buffer.bytes(),
            ..ResourceUsage::default()
        };
        for id in self.replica.channels.keys() {
            for stream in self.store.streams(id).await? {
                let stats = self.store.stats(id, &stream).await?;
                usage.streams += 1;
                usage.entries += stats.entries;
                usage.bytes += stats.bytes;
            }
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;
    use crate::{
        domain::{Role, StreamConfig, StreamId},
        node::{
            command::ChannelChange,
            driver::fixture::{node, Fixture},
        },
        ports::Store,
    };

    #[tokio::test]
    async fn peers_are_persisted_and_forgotten() {
        let mut f = Fixture::new(&["b"]).await;
        let err = f
            .driver
            .add_peer(PeerRecord::new(node("a")))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)));
        f.driver.add_peer(PeerRecord::new(node("b"))).await.unwrap();
        assert!(f.driver.peers.contains(&node("b")));
        assert_eq!(f.store.load_peers().await.unwrap().len(), 1);
        let health = f.driver.health().await;
        assert_eq!(health.peers.len(), 1);
        assert_eq!(health.peers[0].id, node("b"));

        f.driver.remove_peer(&node("b")).await.unwrap();
        assert!(!f.driver.peers.contains(&node("b")));
        assert!(f.store.load_peers().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn channels_are_created_once_changed_through_the_control_log_and_deleted() {
        let mut f = Fixture::new(&[]).await;
        let created = f.driver.create_channel("d").await.unwrap();
        let id = created.id().clone();
        assert!(id.is_owned_by(&node("a")));
        assert_eq!(created.role(&node("a")), Some(Role::Owner));
        // Creating it again opens it.
        assert_eq!(f.driver.create_channel("d").await.unwrap(), created);
        let updated = f
            .driver
            .change_channel(
                &id,
                ChannelChange::AddMember(node("b"), Role::Writer, "b".into()),
            )
            .await
            .unwrap();
        assert_eq!(updated.role(&node("b")), Some(Role::Writer));
        // The change is an entry of the control stream, and the saved
        // channel its fold.
        let control = f.store.version(&id, &StreamId::control()).await.unwrap();
        assert_eq!(control.get(&node("a")), 1);
        assert!(f.store.load_channels().await.unwrap().contains(&updated));
        // Adding it again changes nothing; with another role, the role.
        f.driver
            .change_channel(
                &id,
                ChannelChange::AddMember(node("b"), Role::Writer, String::new()),
            )
            .await
            .unwrap();
        let reader = f
            .driver
            .change_channel(
                &id,
                ChannelChange::AddMember(node("b"), Role::Reader, String::new()),
            )
            .await
            .unwrap();
        assert_eq!(reader.role(&node("b")), Some(Role::Reader));
        let control = f.store.version(&id, &StreamId::control()).await.unwrap();
        assert_eq!(control.get(&node("a")), 2);

        f.driver.delete_channel(&id).await.unwrap();
        let err = f
            .driver
            .change_channel(
                &id,
                ChannelChange::DefaultStreamConfig(StreamConfig::default()),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UnknownChannel(_)));
    }

    #[tokio::test]
    async fn commands_reply_and_dispose_ends_the_loop() {
        let mut f = Fixture::new(&[]).await;
        let (tx, rx) = oneshot::channel();
        let flow = f.driver.handle_command(Command::ListChannels(tx)).await;
        assert_eq!(flow, Flow::Continue);
        assert_eq!(rx.await.unwrap().unwrap(), vec![f.channel.clone()]);

        let (tx, rx) = oneshot::channel();
        f.driver.handle_command(Command::ResourceUsage(tx)).await;
        assert_eq!(rx.await.unwrap().unwrap().channels, 1);

        let (tx, rx) = oneshot::channel();
        let flow = f
            .driver
            .handle_command(Command::Lifecycle(Lifecycle::Dispose, tx))
            .await;
        assert_eq!(flow, Flow::Exit);
        rx.await.unwrap().unwrap();
        assert_eq!(f.driver.state, NodeState::Disposed);
    }
}
