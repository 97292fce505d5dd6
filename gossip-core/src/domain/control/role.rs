//! [`Role`]: what a member of a channel may do.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a member of a channel may do, from least to most.
///
/// Roles are ordered: a role may do everything the roles below it may.
///
/// ```
/// use gossip_core::Role;
///
/// assert!(Role::Admin > Role::Writer);
/// assert!(Role::Writer.may_write() && !Role::Reader.may_write());
/// assert!(Role::Admin.may_manage() && !Role::Writer.may_manage());
/// assert_eq!("writer".parse::<Role>()?, Role::Writer);
/// # Ok::<(), gossip_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Receives the channel's streams; writes nothing but leaving.
    Reader,
    /// Appends to the channel's streams.
    Writer,
    /// Manages members (below owner) and stream settings.
    Admin,
    /// The identity the channel id is derived from: one per channel, never
    /// removed or demoted.
    Owner,
}

impl Role {
    /// Whether the role may append entries to data streams.
    #[must_use]
    pub fn may_write(self) -> bool {
        self >= Role::Writer
    }

    /// Whether the role may change membership and settings.
    #[must_use]
    pub fn may_manage(self) -> bool {
        self >= Role::Admin
    }

    /// The role's lower-case name, as [`Display`](fmt::Display) prints it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Role::Reader, Role::Writer, Role::Admin, Role::Owner]
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                crate::Error::InvalidConfig(format!(
                    "unknown role {s:?}: expected reader, writer, admin or owner"
                ))
            })
    }
}
