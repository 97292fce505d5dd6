//! Encryption: tampered, truncated, replayed, reordered-beyond-window,
//! misaddressed and wrong-key frames are rejected with a typed error and the
//! stream keeps serving; rotation and its grace period; keys never in Debug.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg(feature = "encryption")]

use std::time::Duration;

use bytes::Bytes;
use gossip_core::{Identity, Transport, TransportErrorKind, TransportEvent};
use gossip_middleware::{Encryption, EncryptionLayer, Error, NetworkKey};
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig, MemoryTransport};
use tower::Layer;

type Node = Encryption<MemoryTransport>;

fn key(id: u8, byte: u8) -> NetworkKey {
    NetworkKey::new(id, [byte; 32])
}

fn nodes(network: &MemoryNetwork, layer: &EncryptionLayer, names: &[&str]) -> Vec<Node> {
    names
        .iter()
        .map(|n| layer.layer(network.join(&Identity::from_seed(n)).unwrap()))
        .collect()
}

/// Sends `plaintext` from `a` to `b` and takes the sealed frame off `b`'s
/// inner transport, undelivered.
async fn capture(a: &Node, b: &Node, plaintext: &'static [u8]) -> Bytes {
    a.send(b.local_id(), Bytes::from_static(plaintext))
        .await
        .unwrap();
    match b.get_ref().recv().await.unwrap() {
        TransportEvent::Frame { frame, .. } => frame,
        other => panic!("{other:?}"),
    }
}

/// Puts raw bytes on the wire from `a`'s inner transport and receives them
/// through `b`'s encryption layer.
async fn inject(a: &Node, b: &Node, raw: Bytes) -> Result<Bytes, gossip_core::TransportError> {
    a.get_ref().send(b.local_id(), raw).await.unwrap();
    match b.recv().await? {
        TransportEvent::Frame { from, frame } => {
            assert_eq!(&from, a.local_id());
            Ok(frame)
        }
        other => panic!("{other:?}"),
    }
}

fn reason(result: Result<Bytes, gossip_core::TransportError>) -> Error {
    let error = result.expect_err("the frame must be rejected");
    assert_eq!(error.kind(), TransportErrorKind::Rejected);
    assert_eq!(error.backend(), "encryption");
    Error::find_in(&error)
        .cloned()
        .expect("the source is a gossip_middleware::Error")
}

/// After a rejection, the next frame is served.
async fn still_serving(a: &Node, b: &Node) {
    a.send(b.local_id(), Bytes::from_static(b"next"))
        .await
        .unwrap();
    match b.recv().await.unwrap() {
        TransportEvent::Frame { frame, .. } => assert_eq!(&frame[..], b"next"),
        other => panic!("{other:?}"),
    }
}

fn setup() -> (Node, Node, Node) {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let layer = EncryptionLayer::new(key(1, 0x11));
    let mut v = nodes(&network, &layer, &["a", "b", "c"]);
    let c = v.pop().unwrap();
    let b = v.pop().unwrap();
    let a = v.pop().unwrap();
    (a, b, c)
}

#[tokio::test]
async fn roundtrip_and_overhead() {
    let (a, b, _c) = setup();
    let sealed = capture(&a, &b, b"hello").await;
    assert_eq!(sealed.len(), 5 + 29);
    assert_eq!(sealed[0], 1, "key id first");
    assert!(
        !sealed.windows(5).any(|w| w == b"hello"),
        "plaintext must not show"
    );
    assert_eq!(&inject(&a, &b, sealed).await.unwrap()[..], b"hello");
    assert_eq!(a.max_frame_len(), a.get_ref().max_frame_len() - 29);
    assert_eq!(a.backend(), "encryption");
}

#[tokio::test]
async fn tampered_frame_is_rejected_and_does_not_move_the_window() {
    let (a, b, _c) = setup();
    let sealed = capture(&a, &b, b"original").await;
    // Flip a ciphertext bit, the tag, the key id's neighbour (nonce).
    for position in [1, 5, 13, sealed.len() - 1] {
        let mut tampered = sealed.to_vec();
        tampered[position] ^= 0x01;
        assert_eq!(
            reason(inject(&a, &b, tampered.into()).await),
            Error::Authentication
        );
    }
    // A forged frame with a counter far ahead must not advance the window...
    let mut forged = sealed.to_vec();
    forged[5..13].copy_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(
        reason(inject(&a, &b, forged.into()).await),
        Error::Authentication
    );
    // ...so the genuine frame is still accepted, once.
    assert_eq!(
        &inject(&a, &b, sealed.clone()).await.unwrap()[..],
        b"original"
    );
    assert!(matches!(
        reason(inject(&a, &b, sealed).await),
        Error::Replayed { .. }
    ));
    still_serving(&a, &b).await;
}

#[tokio::test]
async fn truncated_frames_are_rejected() {
    let (a, b, _c) = setup();
    let sealed = capture(&a, &b, b"some bytes").await;
    for len in [0, 1, 13, 28] {
        assert!(matches!(
            reason(inject(&a, &b, sealed.slice(..len)).await),
            Error::Truncated {
                layer: "encryption",
                ..
            }
        ));
    }
    // Long enough to parse, but cut: authentication fails.
    let cut = sealed.slice(..sealed.len() - 1);
    assert_eq!(reason(inject(&a, &b, cut).await), Error::Authentication);
    still_serving(&a, &b).await;
}

#[tokio::test]
async fn replayed_frame_is_rejected() {
    let (a, b, _c) = setup();
    let sealed = capture(&a, &b, b"once").await;
    assert_eq!(&inject(&a, &b, sealed.clone()).await.unwrap()[..], b"once");
    for _ in 0..3 {
        assert!(matches!(
            reason(inject(&a, &b, sealed.clone()).await),
            Error::Replayed { .. }
        ));
    }
    still_serving(&a, &b).await;
}

#[tokio::test]
async fn reordering_within_the_window_is_accepted_beyond_it_rejected() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let layer = EncryptionLayer::new(key(1, 0x22)).replay_window(64);
    let mut v = nodes(&network, &layer, &["a", "b"]);
    let (b, a) = (v.pop().unwrap(), v.pop().unwrap());
    let first = capture(&a, &b, b"first").await;
    let second = capture(&a, &b, b"second").await;
    let third = capture(&a, &b, b"third").await;
    // Within the window, any order is fine.
    assert_eq!(&inject(&a, &b, third).await.unwrap()[..], b"third");
    assert_eq!(&inject(&a, &b, first.clone()).await.unwrap()[..], b"first");
    // 100 more frames move the window past `second`.
    for _ in 0..100 {
        still_serving(&a, &b).await;
    }
    assert!(matches!(
        reason(inject(&a, &b, second).await),
        Error::TooOld { .. }
    ));
    assert!(matches!(
        reason(inject(&a, &b, first).await),
        Error::TooOld { .. }
    ));
    still_serving(&a, &b).await;
}

#[tokio::test]
async fn misaddressed_or_misattributed_frames_are_rejected() {
    let (a, b, c) = setup();
    let sealed = capture(&a, &b, b"for b only").await;
    // Re-addressed to c (same key): fails authentication.
    assert_eq!(
        reason(inject(&a, &c, sealed.clone()).await),
        Error::Authentication
    );
    // Sent by c as if it were its own: fails authentication.
    assert_eq!(
        reason(inject(&c, &b, sealed.clone()).await),
        Error::Authentication
    );
    // The genuine delivery still works.
    assert_eq!(&inject(&a, &b, sealed).await.unwrap()[..], b"for b only");
}

#[tokio::test]
async fn wrong_key_is_rejected() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let a =
        EncryptionLayer::new(key(1, 0x33)).layer(network.join(&Identity::from_seed("a")).unwrap());
    let b =
        EncryptionLayer::new(key(1, 0x44)).layer(network.join(&Identity::from_seed("b")).unwrap());
    let c =
        EncryptionLayer::new(key(9, 0x33)).layer(network.join(&Identity::from_seed("c")).unwrap());
    a.send(b.local_id(), Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert_eq!(
        reason(match b.recv().await {
            Ok(_) => Ok(Bytes::new()),
            Err(e) => Err(e),
        }),
        Error::Authentication
    );
    a.send(c.local_id(), Bytes::from_static(b"x"))
        .await
        .unwrap();
    let error = c.recv().await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Rejected);
    assert!(
        error.to_string().contains("unknown or expired key id 1"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn rotation_accepts_the_previous_key_for_the_grace_period() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let grace = Duration::from_secs(30);
    let layer_a = EncryptionLayer::new(key(1, 0x55)).grace_period(grace);
    let layer_b = EncryptionLayer::new(key(1, 0x55)).grace_period(grace);
    let a = layer_a.layer(network.join(&Identity::from_seed("a")).unwrap());
    let b = layer_b.layer(network.join(&Identity::from_seed("b")).unwrap());

    // b rotates first: b now sends with key 2; a (not rotated) rejects those.
    layer_b.handle().rotate(&key(2, 0x66)).unwrap();
    assert_eq!(b.handle().current_key_id(), 2);
    let sealed = capture(&b, &a, b"new key").await;
    assert_eq!(sealed[0], 2);
    assert_eq!(reason(inject(&b, &a, sealed).await), Error::UnknownKey(2));

    // a's frames under key 1 are accepted by b during the grace period.
    tokio::time::advance(grace - Duration::from_secs(1)).await;
    still_serving(&a, &b).await;

    // After it, key 1 is retired.
    tokio::time::advance(Duration::from_secs(2)).await;
    let old = capture(&a, &b, b"old key").await;
    assert_eq!(reason(inject(&a, &b, old).await), Error::UnknownKey(1));

    // a rotates too: traffic flows both ways under key 2.
    a.rotate(&key(2, 0x66)).unwrap();
    still_serving(&a, &b).await;
    still_serving(&b, &a).await;

    // Reusing the current id is refused and changes nothing.
    assert_eq!(a.rotate(&key(2, 0x77)), Err(Error::KeyIdInUse(2)));
    still_serving(&a, &b).await;
}

#[tokio::test]
async fn close_is_forwarded() {
    let (a, b, _c) = setup();
    a.close().await.unwrap();
    assert_eq!(
        a.send(b.local_id(), Bytes::from_static(b"x"))
            .await
            .unwrap_err()
            .kind(),
        TransportErrorKind::Closed
    );
    assert_eq!(
        a.recv().await.unwrap_err().kind(),
        TransportErrorKind::Closed
    );
}

#[test]
fn debug_never_shows_the_key() {
    let secret = key(3, 0xAB);
    let layer = EncryptionLayer::new(secret.clone());
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let transport = layer.layer(network.join(&Identity::from_seed("a")).unwrap());
    for shown in [
        format!("{secret:?}"),
        format!("{secret:#?}"),
        format!("{layer:?}"),
        format!("{:?}", layer.handle()),
        format!("{transport:?}"),
        format!(
            "{:?}",
            gossip_middleware::StoreEncryptionLayer::new(secret.clone())
        ),
    ] {
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab, "),
            "{shown}"
        );
        assert!(!shown.contains("0xab") && !shown.contains("AB"), "{shown}");
    }
    assert!(format!("{secret:?}").contains("redacted"));
}

#[test]
fn generated_keys_differ() {
    let a = NetworkKey::generate(1).unwrap();
    let b = NetworkKey::generate(1).unwrap();
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let ta = EncryptionLayer::new(a).layer(network.join(&Identity::from_seed("a")).unwrap());
    let tb = EncryptionLayer::new(b).layer(network.join(&Identity::from_seed("b")).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        ta.send(tb.local_id(), Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert_eq!(
            tb.recv().await.unwrap_err().kind(),
            TransportErrorKind::Rejected
        );
    });
}
