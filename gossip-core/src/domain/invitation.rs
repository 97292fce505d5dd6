//! [`Invitation`]: what a new device needs to join a channel, as a short
//! string to show as text or a QR code.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::{base32, ids::ChannelId, node_id::NodeId};
use crate::error::Error;

/// The text form's prefix.
pub const INVITATION_PREFIX: &str = "gossip-invite1";

/// The longest text form accepted, in bytes.
const MAX_INVITATION_TEXT: usize = 4 * 1024;

/// The most addresses an invitation carries.
pub const MAX_INVITATION_ADDRESSES: usize = 8;

/// An invitation to a channel: its id, its owner's key (which the id is
/// derived from, so a forged owner is refused), the member that invited
/// (trusted to sync with until the control log arrives) and how to reach
/// it.
///
/// The invited device's key must also be added to the channel
/// ([`ChannelHandle::invite`](crate::ChannelHandle::invite) does both); then
/// [`Coordinator::join`](crate::Coordinator::join) on the device is enough
/// to sync the control log and the data. The text form is
/// [`INVITATION_PREFIX`] and the base32 of a compact encoding.
///
/// ```
/// use gossip_core::{ChannelId, Invitation, NodeId};
///
/// let owner = NodeId::from_seed("laptop");
/// let invitation = Invitation::new(
///     ChannelId::derive(&owner, "groceries")?,
///     owner.clone(),
///     owner,
///     vec!["192.168.1.20:7000".into()],
/// )?;
/// let text = invitation.to_string();
/// assert!(text.starts_with("gossip-invite1"));
/// assert_eq!(text.parse::<Invitation>()?, invitation);
/// # Ok::<(), gossip_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    channel: ChannelId,
    owner: NodeId,
    inviter: NodeId,
    addresses: Vec<String>,
}

impl Invitation {
    /// An invitation to `channel`, owned by `owner`, from `inviter`
    /// reachable at `addresses` (transport addresses, e.g. `host:port` for
    /// TCP or a multiaddr for libp2p).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInvitation`] when `channel` is not derived from
    /// `owner`, or with more than [`MAX_INVITATION_ADDRESSES`] addresses.
    pub fn new(
        channel: ChannelId,
        owner: NodeId,
        inviter: NodeId,
        addresses: Vec<String>,
    ) -> Result<Self, Error> {
        let invitation = Self {
            channel,
            owner,
            inviter,
            addresses,
        };
        invitation.check()?;
        Ok(invitation)
    }

    fn check(&self) -> Result<(), Error> {
        if !self.channel.is_owned_by(&self.owner) {
            return Err(Error::InvalidInvitation(format!(
                "channel {} is not owned by {}",
                self.channel, self.owner
            )));
        }
        if self.addresses.len() > MAX_INVITATION_ADDRESSES {
            return Err(Error::InvalidInvitation(format!(
                "{} addresses, more than {MAX_INVITATION_ADDRESSES}",
                self.addresses.len()
            )));
        }
        Ok(())
    }

    /// The channel.
    #[must_use]
    pub fn channel(&self) -> &ChannelId {
        &self.channel
    }

    /// The channel's owner.
    #[must_use]
    pub fn owner(&self) -> &NodeId {
        &self.owner
    }

    /// The member that invited.
    #[must_use]
    pub fn inviter(&self) -> &NodeId {
        &self.inviter
    }

    /// How to reach the inviter.
    #[must_use]
    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }
}

impl fmt::Display for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Serializing plain data into a Vec cannot fail.
        let bytes = postcard::to_allocvec(self).unwrap_or_default();
        write!(f, "{INVITATION_PREFIX}{}", base32::encode(&bytes))
    }
}

impl FromStr for Invitation {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidInvitation(reason.to_owned());
        let text = text.trim();
        if text.len() > MAX_INVITATION_TEXT {
            return Err(invalid("longer than 4 KiB"));
        }
        let body = text
            .strip_prefix(INVITATION_PREFIX)
            .ok_or_else(|| invalid("does not start with gossip-invite1"))?;
        let bytes = base32::decode_vec(body).ok_or_else(|| invalid("not base32"))?;
        let (invitation, rest) = postcard::take_from_bytes::<Self>(&bytes)
            .map_err(|e| Error::InvalidInvitation(format!("malformed: {e}")))?;
        if !rest.is_empty() {
            return Err(invalid("trailing bytes"));
        }
        invitation.check()?;
        Ok(invitation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation() -> Invitation {
        let owner = NodeId::from_seed("owner");
        Invitation::new(
            ChannelId::derive(&owner, "c").unwrap(),
            owner,
            NodeId::from_seed("admin"),
            vec!["127.0.0.1:7000".into(), "/ip4/10.0.0.1/tcp/4001".into()],
        )
        .unwrap()
    }

    #[test]
    fn the_text_form_round_trips() {
        let inv = invitation();
        assert_eq!(inv.to_string().parse::<Invitation>().unwrap(), inv);
        assert_eq!(
            format!("  {inv}\n").parse::<Invitation>().unwrap(),
            inv,
            "surrounding blanks are ignored"
        );
    }

    #[test]
    fn a_forged_owner_or_a_damaged_text_is_refused() {
        let inv = invitation();
        let forged = Invitation {
            owner: NodeId::from_seed("mallory"),
            ..inv.clone()
        };
        assert!(matches!(
            forged.to_string().parse::<Invitation>(),
            Err(Error::InvalidInvitation(_))
        ));
        let text = inv.to_string();
        for bad in [
            String::new(),
            "gossip-invite1".into(),
            text.replace("gossip-invite1", "gossip-invite2"),
            format!("{text}00"),
            text[..text.len() - 3].to_owned(),
            text.to_uppercase(),
        ] {
            assert!(
                matches!(bad.parse::<Invitation>(), Err(Error::InvalidInvitation(_))),
                "{bad}"
            );
        }
    }
}
