//! Validated names: [`ChannelId`] and [`StreamId`]. (A node is identified
//! by its key: [`NodeId`](super::NodeId).)
//!
//! ```
//! use gossip_core::{ChannelId, StreamId};
//!
//! let stream = StreamId::new("messages")?;
//! assert_eq!(stream.as_str(), "messages");
//! assert!(ChannelId::new("").is_err());
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::{borrow::Borrow, fmt, str::FromStr, sync::Arc};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, IdKind};

/// The longest identifier accepted, in bytes of UTF-8.
pub const MAX_ID_LEN: usize = 128;

fn validate(kind: IdKind, value: &str) -> Result<(), Error> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > MAX_ID_LEN {
        "must be at most 128 bytes of UTF-8"
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidId {
        kind,
        value: value.chars().take(MAX_ID_LEN).collect(),
        reason,
    })
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $example:literal) => {
        $(#[$doc])*
        ///
        /// Non-empty, at most [`MAX_ID_LEN`] bytes of UTF-8, no control characters.
        /// Cloning is cheap (a reference count).
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `value` and wraps it.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidId`] when the value is empty, longer than
            /// [`MAX_ID_LEN`] bytes or contains a control character.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let id = gossip_core::", stringify!($name), "::new(\"", $example, "\")?;")]
            #[doc = concat!("assert_eq!(id.as_str(), \"", $example, "\");")]
            /// # Ok::<(), gossip_core::Error>(())
            /// ```
            pub fn new(value: impl AsRef<str>) -> Result<Self, Error> {
                let value = value.as_ref();
                validate($kind, value)?;
                Ok(Self(Arc::from(value)))
            }

            /// The identifier as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;

            fn try_from(value: &str) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;

            fn try_from(value: String) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::new(&*value).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier!(
    /// Identifies a channel: a group of members sharing a set of streams.
    ChannelId,
    IdKind::Channel,
    "project-1"
);
identifier!(
    /// Identifies an append-only stream inside a channel.
    StreamId,
    IdKind::Stream,
    "messages"
);

/// Key-derivation context of channel ids.
const CHANNEL_ID_CONTEXT: &str = "gossip 2026-12 channel id v1";

/// Separates a derived channel id's name from its owner digest.
const DERIVED_SEPARATOR: char = '~';

/// Digits of a derived channel id's owner digest (128 bits in base32).
const OWNER_DIGEST_LEN: usize = super::base32::encoded_len(16);

/// The longest name a derived channel id may have.
pub const MAX_CHANNEL_NAME_LEN: usize = MAX_ID_LEN - 1 - OWNER_DIGEST_LEN;

impl ChannelId {
    /// The id of the channel `owner` creates under `name`: the name, `~`,
    /// and a 128-bit digest of the owner's key and the name. Nobody without
    /// the owner's key can own a channel with this id, since the owner is
    /// checked against it ([`is_owned_by`](Self::is_owned_by)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`] when `name` is empty, longer than
    /// [`MAX_CHANNEL_NAME_LEN`] bytes, or has a control character.
    ///
    /// ```
    /// use gossip_core::{ChannelId, NodeId};
    ///
    /// let owner = NodeId::from_seed("laptop");
    /// let id = ChannelId::derive(&owner, "groceries")?;
    /// assert!(id.as_str().starts_with("groceries~"));
    /// assert_eq!(id.name(), "groceries");
    /// assert!(id.is_owned_by(&owner));
    /// assert!(!id.is_owned_by(&NodeId::from_seed("impostor")));
    /// # Ok::<(), gossip_core::Error>(())
    /// ```
    pub fn derive(owner: &super::NodeId, name: &str) -> Result<Self, Error> {
        if name.len() > MAX_CHANNEL_NAME_LEN {
            return Err(Error::InvalidId {
                kind: IdKind::Channel,
                value: name.chars().take(MAX_ID_LEN).collect(),
                reason: "a channel name must be at most 101 bytes of UTF-8",
            });
        }
        validate(IdKind::Channel, name)?;
        Self::new(format!(
            "{name}{DERIVED_SEPARATOR}{}",
            owner_digest(owner, name)
        ))
    }

    /// The name part of a derived id (the whole id for one that is not).
    #[must_use]
    pub fn name(&self) -> &str {
        self.0
            .rsplit_once(DERIVED_SEPARATOR)
            .filter(|(_, digest)| digest.len() == OWNER_DIGEST_LEN)
            .map_or(&self.0, |(name, _)| name)
    }

    /// Whether this is the id [`derive`](Self::derive) gives for `owner`
    /// and this id's name.
    #[must_use]
    pub fn is_owned_by(&self, owner: &super::NodeId) -> bool {
        self.0
            .rsplit_once(DERIVED_SEPARATOR)
            .is_some_and(|(name, digest)| digest == owner_digest(owner, name))
    }
}

fn owner_digest(owner: &super::NodeId, name: &str) -> String {
    let mut hasher = blake3::Hasher::new_derive_key(CHANNEL_ID_CONTEXT);
    hasher.update(owner.as_bytes());
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let (first, _) = digest.as_bytes().split_at(16);
    super::base32::encode(first)
}

/// The name of every channel's control stream.
const CONTROL_STREAM: &str = "$control";

static CONTROL_STREAM_ID: std::sync::LazyLock<StreamId> =
    std::sync::LazyLock::new(|| StreamId(Arc::from(CONTROL_STREAM)));

impl StreamId {
    /// The stream every channel keeps its control log in (`$control`):
    /// membership and settings as signed [`ControlOp`](crate::ControlOp)s.
    /// Applications read it but append to it only through the channel's
    /// membership and settings methods.
    ///
    /// ```
    /// use gossip_core::StreamId;
    ///
    /// assert_eq!(StreamId::control().as_str(), "$control");
    /// assert!(StreamId::control().is_control());
    /// ```
    #[must_use]
    pub fn control() -> Self {
        CONTROL_STREAM_ID.clone()
    }

    /// Whether this is the [`control`](Self::control) stream.
    #[must_use]
    pub fn is_control(&self) -> bool {
        &*self.0 == CONTROL_STREAM
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_long_and_control() {
        assert!(matches!(
            StreamId::new(""),
            Err(Error::InvalidId {
                kind: IdKind::Stream,
                ..
            })
        ));
        assert!(StreamId::new("a".repeat(MAX_ID_LEN + 1)).is_err());
        assert!(StreamId::new("a".repeat(MAX_ID_LEN)).is_ok());
        assert!(ChannelId::new("a\nb").is_err());
        assert!(ChannelId::new("ünïcødé ok").is_ok());
    }

    #[test]
    fn deserializing_validates() {
        let bytes = postcard::to_allocvec("").unwrap();
        assert!(postcard::from_bytes::<StreamId>(&bytes).is_err());
        let bytes = postcard::to_allocvec("s1").unwrap();
        assert_eq!(
            postcard::from_bytes::<StreamId>(&bytes).unwrap(),
            StreamId::new("s1").unwrap()
        );
    }

    #[test]
    fn error_message_names_kind() {
        let err = ChannelId::new("").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid channel id \"\": must not be empty"
        );
    }
}
