//! [`ControlOp`]: one signed operation of a channel's control log.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::role::Role;
use crate::{
    domain::{channel::StreamConfig, ids::StreamId, node_id::NodeId},
    error::Error,
};

/// The largest control operation accepted, in bytes: the payload limit of
/// the control stream.
pub const MAX_CONTROL_OP_BYTES: usize = 16 * 1024;

/// The longest member label accepted, in bytes of UTF-8.
pub const MAX_LABEL_LEN: usize = 64;

/// The most addresses a member announces.
pub const MAX_MEMBER_ADDRESSES: usize = 8;

/// The longest address accepted, in bytes.
pub const MAX_ADDRESS_LEN: usize = 256;

/// The first byte of every encoded operation: the encoding's version.
const ENCODING_VERSION: u8 = 1;

/// Where a member's writing stops: per stream, the highest sequence of its
/// entries that stays valid (a stream absent from the map: none).
///
/// A removal or a demotion to [`Role::Reader`] names the cut-off as the
/// admin saw it: what the member wrote up to it stays valid everywhere, what
/// it wrote after is rejected everywhere. Removal is not retroactive.
pub type Cutoff = BTreeMap<StreamId, u64>;

/// One operation of a channel's control log: an entry of the control stream
/// whose payload is the operation's [`encode`](Self::encode)d form.
///
/// An operation counts only if its author held the needed role at its
/// place in read order (see [`ControlState`](super::ControlState)).
///
/// ```
/// use gossip_core::{ControlOp, NodeId, Role};
///
/// let op = ControlOp::AddMember {
///     member: NodeId::from_seed("phone"),
///     role: Role::Writer,
///     label: "phone".into(),
/// };
/// assert_eq!(ControlOp::decode(&op.encode())?, op);
/// # Ok::<(), gossip_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ControlOp {
    /// Makes `member` a member with `role` (not [`Role::Owner`]) and a
    /// human `label`. Needs an admin; does not count for a key that is a
    /// member already. A removed member added again as a writer has no
    /// cut-off any more.
    AddMember {
        /// The new member's key.
        member: NodeId,
        /// Its role.
        role: Role,
        /// A human name for it (at most [`MAX_LABEL_LEN`] bytes).
        label: String,
    },
    /// Removes `member`: its entries up to `cutoff` stay valid, later ones
    /// are rejected, and it is no longer served. Needs an admin, or the
    /// member itself (leaving); never the owner.
    RemoveMember {
        /// The member removed.
        member: NodeId,
        /// Its writing as the remover saw it.
        cutoff: Cutoff,
    },
    /// Changes `member`'s role (not to or from [`Role::Owner`]); a member
    /// losing the right to write stops at `cutoff`. Needs an admin.
    ChangeRole {
        /// The member.
        member: NodeId,
        /// Its new role.
        role: Role,
        /// Its writing as the admin saw it (used when it stops writing).
        cutoff: Cutoff,
    },
    /// Sets one data stream's settings everywhere. Needs an admin.
    SetStreamConfig {
        /// The stream.
        stream: StreamId,
        /// Its settings.
        config: StreamConfig,
    },
    /// Sets the settings of streams not configured explicitly. Needs an
    /// admin.
    SetDefaultStreamConfig {
        /// The settings.
        config: StreamConfig,
    },
    /// Where the author can be reached (transport addresses, at most
    /// [`MAX_MEMBER_ADDRESSES`] of at most [`MAX_ADDRESS_LEN`] bytes): a
    /// member's announcement about itself, replacing its previous one, so
    /// that the others (and a restarted node) reach it with no help from
    /// the application. Counts for a member only.
    SetAddresses {
        /// The addresses.
        addresses: Vec<String>,
    },
}

impl ControlOp {
    /// The operation's canonical bytes: a version byte, then `postcard`.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let mut bytes = vec![ENCODING_VERSION];
        // Serializing plain data into a Vec cannot fail.
        let body = postcard::to_allocvec(self).unwrap_or_default();
        bytes.extend_from_slice(&body);
        Bytes::from(bytes)
    }

    /// Decodes an operation from a control entry's payload.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidControlOp`] when the bytes are longer than
    /// [`MAX_CONTROL_OP_BYTES`], of an unknown encoding version or
    /// operation, malformed, or carry a label longer than [`MAX_LABEL_LEN`]
    /// or addresses beyond [`MAX_MEMBER_ADDRESSES`] / [`MAX_ADDRESS_LEN`].
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidControlOp { reason };
        if bytes.len() > MAX_CONTROL_OP_BYTES {
            return Err(invalid(format!(
                "{} bytes, more than {MAX_CONTROL_OP_BYTES}",
                bytes.len()
            )));
        }
        let Some((&version, body)) = bytes.split_first() else {
            return Err(invalid("empty".into()));
        };
        if version != ENCODING_VERSION {
            return Err(invalid(format!("unknown encoding version {version}")));
        }
        let (op, rest) = postcard::take_from_bytes::<Self>(body)
            .map_err(|e| invalid(format!("malformed: {e}")))?;
        if !rest.is_empty() {
            return Err(invalid(format!("{} trailing bytes", rest.len())));
        }
        match &op {
            ControlOp::AddMember { label, .. } if label.len() > MAX_LABEL_LEN => {
                return Err(invalid(format!(
                    "label of {} bytes, more than {MAX_LABEL_LEN}",
                    label.len()
                )));
            }
            ControlOp::SetAddresses { addresses }
                if addresses.len() > MAX_MEMBER_ADDRESSES
                    || addresses.iter().any(|a| a.len() > MAX_ADDRESS_LEN) =>
            {
                return Err(invalid(format!(
                    "more than {MAX_MEMBER_ADDRESSES} addresses, or one longer than \
                     {MAX_ADDRESS_LEN} bytes"
                )));
            }
            _ => {}
        }
        Ok(op)
    }
}
