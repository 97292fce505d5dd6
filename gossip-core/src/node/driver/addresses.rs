//! Addresses: members announce where they can be reached (a signed
//! operation of each channel's control log, about themselves), and every
//! node hands what it learns — from the logs, from invitations, from saved
//! peers — to its transport, so that a restarted node reconnects with no
//! help from the application.

use super::Driver;
use crate::{
    domain::{ChannelId, ControlOp, StreamId},
    error::Error,
    ports::PeerRecord,
};

impl Driver {
    /// Hands `addresses` of `peer` to the transport (errors reported).
    pub(super) fn learn_addresses(&mut self, peer: &crate::domain::NodeId, addresses: &[String]) {
        if *peer == self.local {
            return;
        }
        let Some(transport) = self.link.transport().cloned() else {
            return;
        };
        for address in addresses {
            if let Err(error) = transport.learn_address(peer, address) {
                self.report(Error::Transport(error), Some(peer));
            }
        }
    }

    /// What the node knows of where its peers are, handed to the transport:
    /// saved peer addresses, then what every channel's members announced.
    pub(super) fn learn_known_addresses(&mut self) {
        for (peer, address) in self.peers.addresses() {
            self.learn_addresses(&peer, std::slice::from_ref(&address));
        }
        let ids: Vec<ChannelId> = self.replica.channels.keys().cloned().collect();
        for id in ids {
            self.learn_channel_addresses(&id);
        }
    }

    /// The addresses `channel`'s members announced, handed to the transport.
    pub(super) fn learn_channel_addresses(&mut self, channel: &ChannelId) {
        let Some(channel) = self.replica.channels.get(channel) else {
            return;
        };
        let announced: Vec<_> = channel
            .control()
            .members()
            .map(|(id, _)| (id.clone(), channel.control().addresses(id).to_vec()))
            .filter(|(_, addresses)| !addresses.is_empty())
            .collect();
        for (member, addresses) in announced {
            self.learn_addresses(&member, &addresses);
        }
    }

    /// Makes every member of `channel` a peer (saved), so that it is synced
    /// with and its frames are heard.
    pub(super) async fn peer_with_members(&mut self, channel: &ChannelId) {
        let Some(channel) = self.replica.channels.get(channel) else {
            return;
        };
        let new: Vec<_> = channel
            .members()
            .filter(|m| **m != self.local && !self.peers.contains(m))
            .cloned()
            .collect();
        for member in new {
            if let Err(error) = self.add_peer(PeerRecord::new(member)).await {
                self.report(error, None);
            }
        }
    }

    /// Announces this node's transport addresses in every channel where it
    /// is a member and its last announcement differs: one signed operation
    /// per such channel. Runs while the node is running (a node that is
    /// not cannot be reached anyway).
    pub(super) async fn announce_addresses(&mut self) {
        if !self.running() || self.replica.announce.is_empty() {
            return;
        }
        let channels = std::mem::take(&mut self.replica.announce);
        let Some(addresses) = self
            .link
            .transport()
            .map(|t| t.advertised_addresses())
            .filter(|a| !a.is_empty())
        else {
            return;
        };
        for id in channels {
            let Some(channel) = self.replica.channels.get(&id) else {
                continue;
            };
            if channel.role(&self.local).is_none()
                || channel.control().addresses(&self.local) == addresses.as_slice()
            {
                continue;
            }
            let op = ControlOp::SetAddresses {
                addresses: addresses.clone(),
            };
            if let Err(error) = self
                .append(&id, &StreamId::control(), vec![op.encode()])
                .await
            {
                self.report(error, None);
            }
        }
    }
}
