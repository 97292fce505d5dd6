//! Unit tests of [`Framed`](super::Framed) with a toy transform.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use gossip_core::{Identity, Transport, TransportErrorKind, TransportEvent};
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig, MemoryTransport};
use tower::Layer;

use super::*;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum TagError {
    #[error("missing tag")]
    Missing,
    #[error("sealing disabled")]
    Disabled,
}

/// Appends the sender's and receiver's first letters and checks them on open,
/// so a test sees the context each side was given.
#[derive(Debug, Default)]
struct Tag {
    refuse_seal: AtomicBool,
}

impl FrameTransform for Tag {
    type Error = TagError;

    fn name(&self) -> &'static str {
        "tag"
    }

    fn overhead(&self) -> usize {
        2
    }

    fn seal(&self, cx: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, TagError> {
        if self.refuse_seal.load(Ordering::Relaxed) {
            return Err(TagError::Disabled);
        }
        assert!(frame.len() <= cx.max_frame_len);
        let mut out = BytesMut::from(&frame[..]);
        out.put_u8(cx.local.as_bytes()[0]);
        out.put_u8(cx.peer.as_bytes()[0]);
        Ok(out.freeze())
    }

    fn open(&self, cx: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, TagError> {
        let expected = [cx.peer.as_bytes()[0], cx.local.as_bytes()[0]];
        match frame.len().checked_sub(2) {
            Some(body) if frame[body..] == expected => Ok(frame.slice(..body)),
            _ => Err(TagError::Missing),
        }
    }
}

type Node = Framed<Tag, MemoryTransport>;

fn pair() -> (MemoryNetwork, Node, Node) {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().max_frame_len(64));
    let join = |name: &str| {
        Framed::with_transform(
            network.join(&Identity::from_seed(name)).unwrap(),
            Tag::default(),
        )
    };
    let (a, b) = (join("a"), join("b"));
    (network, a, b)
}

async fn next_frame(node: &Node) -> Bytes {
    match node.recv().await.unwrap() {
        TransportEvent::Frame { frame, .. } => frame,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn frames_round_trip_with_both_ends_in_the_context() {
    let (_network, a, b) = pair();
    a.send(b.local_id(), Bytes::from_static(b"hi"))
        .await
        .unwrap();
    assert_eq!(next_frame(&b).await, Bytes::from_static(b"hi"));
    b.send(a.local_id(), Bytes::new()).await.unwrap();
    assert_eq!(next_frame(&a).await, Bytes::new());
}

#[tokio::test]
async fn forwards_identity_and_subtracts_the_overhead() {
    let (network, a, _b) = pair();
    assert_eq!(a.backend(), "tag");
    assert_eq!(a.local_id(), a.get_ref().local_id());
    assert_eq!(a.max_frame_len(), network.max_frame_len() - 2);
    assert_eq!(a.capabilities(), a.get_ref().capabilities());
    a.close().await.unwrap();
    assert!(a.get_ref().is_closed());
}

#[tokio::test]
async fn oversized_frames_are_refused_before_sealing() {
    let (network, a, b) = pair();
    let max = a.max_frame_len();
    let err = a
        .send(b.local_id(), Bytes::from(vec![0u8; max + 1]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::FrameTooLarge);
    assert_eq!(err.backend(), "tag");
    assert_eq!(network.queued(), 0);
    a.send(b.local_id(), Bytes::from(vec![7u8; max]))
        .await
        .unwrap();
    assert_eq!(next_frame(&b).await.len(), max);
}

#[tokio::test]
async fn a_seal_error_sends_nothing() {
    let (network, mut a, b) = pair();
    a.transform().refuse_seal.store(true, Ordering::Relaxed);
    let err = a
        .send(b.local_id(), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Other);
    let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<TagError>());
    assert_eq!(source, Some(&TagError::Disabled));
    assert_eq!(network.queued(), 0);
    // get_mut and into_inner reach the same transport.
    assert_eq!(
        a.get_mut().local_id().as_str(),
        gossip_core::NodeId::from_seed("a").as_str()
    );
    assert_eq!(
        a.into_inner().local_id().as_str(),
        gossip_core::NodeId::from_seed("a").as_str()
    );
}

#[tokio::test]
async fn an_unopenable_frame_is_rejected_and_the_next_one_served() {
    let (_network, a, b) = pair();
    // Sent around the layer: no tag.
    a.get_ref()
        .send(b.local_id(), Bytes::from_static(b"raw"))
        .await
        .unwrap();
    a.send(b.local_id(), Bytes::from_static(b"ok"))
        .await
        .unwrap();
    let err = b.recv().await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Rejected);
    assert!(
        err.to_string().contains(&format!(
            "frame from {} rejected: missing tag",
            gossip_core::NodeId::from_seed("a")
        )),
        "{err}"
    );
    let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<TagError>());
    assert_eq!(source, Some(&TagError::Missing));
    assert_eq!(next_frame(&b).await, Bytes::from_static(b"ok"));
}

#[derive(Debug, Clone)]
struct Nothing;

impl FrameTransform for Nothing {
    type Error = std::convert::Infallible;
    fn name(&self) -> &'static str {
        "nothing"
    }
    fn overhead(&self) -> usize {
        0
    }
    fn seal(&self, _: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, Self::Error> {
        Ok(frame)
    }
    fn open(&self, _: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, Self::Error> {
        Ok(frame)
    }
}

#[tokio::test]
async fn framed_layer_builds_framed_transports() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let layer = FramedLayer::new(Nothing);
    let a = layer.layer(network.join(&Identity::from_seed("a")).unwrap());
    assert_eq!(a.backend(), "nothing");
    assert_eq!(a.max_frame_len(), network.max_frame_len());
}
