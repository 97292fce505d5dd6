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
