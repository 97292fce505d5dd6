//! Discovered peers (mDNS, an unknown node that reached us): reported, and,
//! when they are members of a channel held here, made peers and synced with
//! at once. Strangers are only reported: the application decides.
//!
//! A member is usually a peer already (the control log makes every member
//! one), but one that could not be reached (no address known yet) waits
//! for a gossip round to pick it, and one SWIM declared unreachable is not
//! picked at all until it is heard from again; discovery is the news that
//! it can be reached now, so a digest request goes out at once. A member
//! the application removed as a peer is a peer again, as it is whenever
//! the control log changes.

use super::Driver;
use crate::{
    domain::{DomainEvent, NodeId},
    ports::PeerRecord,
};

impl Driver {
    /// A transport reported `peer` as discovered.
    pub(super) async fn peer_discovered(&mut self, peer: NodeId) {
        self.feeds
            .event(DomainEvent::PeerDiscovered { peer: peer.clone() });
        if !self.syncs_with_anywhere(&peer) {
            tracing::debug!(node = %self.local, %peer, "discovered a stranger");
            return;
        }
        if !self.peers.contains(&peer) {
            if let Err(error) = self.add_peer(PeerRecord::new(peer.clone())).await {
                self.report(error, Some(&peer));
                return;
            }
        }
        tracing::debug!(node = %self.local, %peer, "discovered a member; syncing");
        if self.running() {
            self.gossip_round(Some(peer)).await;
        }
    }

    /// Whether `peer` is another node that some channel held here syncs
    /// with (a member, or an introducer not removed).
    fn syncs_with_anywhere(&self, peer: &NodeId) -> bool {
        *peer != self.local && self.replica.channels.values().any(|c| c.syncs_with(peer))
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        domain::{DomainEvent, Invitation},
        node::{
            command::Lifecycle,
            driver::fixture::{node, Fixture},
        },
        ports::Store,
        protocol::{codec, MessageKind},
    };

    #[tokio::test]
    async fn a_stranger_is_reported_and_nothing_more() {
        let (mut f, transport) = Fixture::with_transport(&["b"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        transport.take_sent();
        f.events();

        f.driver.peer_discovered(node("stranger")).await;
        assert_eq!(
            f.events(),
            vec![DomainEvent::PeerDiscovered {
                peer: node("stranger")
            }]
        );
        assert!(!f.driver.peers.contains(&node("stranger")));
        let saved = f.store.load_peers().await.unwrap();
        assert!(!saved.iter().any(|p| p.id == node("stranger")));
        assert!(
            transport.take_sent().is_empty(),
            "nothing sent to a stranger"
        );
        assert!(f.errors().is_empty());
    }

    #[tokio::test]
    async fn a_member_that_is_not_a_peer_becomes_one_and_is_synced_with_at_once() {
        let (mut f, transport) = Fixture::with_transport(&["b"]).await;
        // The application dropped b; it is still a member of the channel.
        f.driver.peers.remove(&node("b"));
        f.store.remove_peer(&node("b")).await.unwrap();
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        transport.take_sent();
        f.events();

        f.driver.peer_discovered(node("b")).await;
        assert_eq!(
            f.events(),
            vec![DomainEvent::PeerDiscovered { peer: node("b") }]
        );
        assert!(f.driver.peers.contains(&node("b")));
        let saved = f.store.load_peers().await.unwrap();
        assert!(saved.iter().any(|p| p.id == node("b")), "saved: {saved:?}");
        assert!(f.driver.engines.swim.status(&node("b")).is_some());
        let sent = transport.take_sent();
        assert!(
            sent.iter().any(|(to, frame)| to == &node("b")
                && codec::decode(frame, usize::MAX)
                    .is_ok_and(|m| m.kind() == MessageKind::DigestRequest)),
            "a digest request to b: {sent:?}"
        );
        assert!(f.errors().is_empty());
    }

    #[tokio::test]
    async fn a_member_already_a_peer_is_synced_with_at_once() {
        let (mut f, transport) = Fixture::with_transport(&["b"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        transport.take_sent();
        let rounds = f.driver.stats.gossip_rounds;

        f.driver.peer_discovered(node("b")).await;
        assert_eq!(f.driver.stats.gossip_rounds, rounds + 1);
        assert!(transport.take_sent().iter().any(|(to, _)| to == &node("b")));
    }

    #[tokio::test]
    async fn an_introducer_counts_as_a_member() {
        let (mut f, transport) = Fixture::with_transport(&[]).await;
        // Joined channel "x" of "owner" through "inviter"; its control log
        // has not arrived, so the inviter is an introducer, not yet a member.
        let channel = crate::ChannelId::derive(&node("owner"), "x").unwrap();
        let invitation =
            Invitation::new(channel, node("owner"), node("inviter"), Vec::new()).unwrap();
        f.driver.join(invitation).await.unwrap();
        f.driver.peers.remove(&node("inviter"));
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        transport.take_sent();
        f.events();

        f.driver.peer_discovered(node("inviter")).await;
        assert!(f.driver.peers.contains(&node("inviter")));
        assert!(transport
            .take_sent()
            .iter()
            .any(|(to, _)| to == &node("inviter")));
    }

    #[tokio::test]
    async fn while_not_running_a_member_becomes_a_peer_but_nothing_is_sent() {
        let (mut f, transport) = Fixture::with_transport(&["b"]).await;
        f.driver.peers.remove(&node("b"));

        f.driver.peer_discovered(node("b")).await;
        assert!(f.driver.peers.contains(&node("b")));
        assert!(transport.take_sent().is_empty());
    }

    #[tokio::test]
    async fn the_node_itself_is_never_its_own_peer() {
        let (mut f, _transport) = Fixture::with_transport(&["b"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        f.driver.peer_discovered(node("a")).await;
        assert!(!f.driver.peers.contains(&node("a")));
        assert!(f.errors().is_empty());
    }
}
