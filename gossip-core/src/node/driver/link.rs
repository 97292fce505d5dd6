//! [`Link`]: the node's transport, if any, and the frame size it allows.

use crate::{
    domain::NodeId,
    error::Error,
    ports::{DynTransport, Transport},
};

/// Room a frame needs around one entry's payload (envelope, ids, sequence,
/// timestamp, length prefixes, a modest compaction base).
pub(crate) const FRAME_HEADROOM: usize = 1_024;

/// The transport (gone once closed, absent for an offline node) and the
/// largest frame it carries.
pub(crate) struct Link {
    transport: Option<DynTransport>,
    max_frame_len: usize,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("connected", &self.transport.is_some())
            .field("max_frame_len", &self.max_frame_len)
            .finish()
    }
}

impl Link {
    /// The link of node `local` over `transport`, whose frames must carry a
    /// payload of `max_payload` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the transport speaks for another node
    /// or its frames are too small for `max_payload`.
    pub(crate) fn new(
        transport: Option<DynTransport>,
        local: &NodeId,
        max_payload: usize,
    ) -> Result<Self, Error> {
        let max_frame_len = transport.as_ref().map_or(usize::MAX, |t| t.max_frame_len());
        if let Some(t) = &transport {
            if t.local_id() != local {
                return Err(Error::InvalidConfig(format!(
                    "the transport speaks for {} but the node is {local}",
                    t.local_id()
                )));
            }
        }
        let link = Self {
            transport,
            max_frame_len,
        };
        link.check_payload_fits(max_payload)?;
        Ok(link)
    }

    /// The transport, while there is one.
    pub(crate) fn transport(&self) -> Option<&DynTransport> {
        self.transport.as_ref()
    }

    /// Takes the transport away (to close it); the link is offline after,
    /// and frames no longer limit payloads.
    pub(crate) fn take(&mut self) -> Option<DynTransport> {
        self.max_frame_len = usize::MAX;
        self.transport.take()
    }

    /// Whether there is a transport.
    pub(crate) fn is_up(&self) -> bool {
        self.transport.is_some()
    }

    /// The largest frame the transport carries (`usize::MAX` offline).
    pub(crate) fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// A payload limit must leave room for the frame around one entry.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when it does not.
    pub(crate) fn check_payload_fits(&self, max_payload: usize) -> Result<(), Error> {
        if max_payload.saturating_add(FRAME_HEADROOM) > self.max_frame_len {
            return Err(Error::InvalidConfig(format!(
                "payload limit of {max_payload} bytes does not fit the transport's largest frame of {} bytes",
                self.max_frame_len
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_any_payload_fits() {
        let link = Link::new(None, &NodeId::from_seed("a"), usize::MAX).unwrap();
        assert!(!link.is_up());
        assert_eq!(link.max_frame_len(), usize::MAX);
        assert!(link.check_payload_fits(usize::MAX).is_ok());
    }

    #[test]
    fn a_payload_must_leave_room_for_the_frame_around_it() {
        let link = Link {
            transport: None,
            max_frame_len: 4_096,
        };
        assert!(link.check_payload_fits(4_096 - FRAME_HEADROOM).is_ok());
        let err = link
            .check_payload_fits(4_096 - FRAME_HEADROOM + 1)
            .unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("4096")));
    }
}
