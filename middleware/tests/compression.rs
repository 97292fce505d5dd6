//! Compression: round trips, small frames stored, incompressible frames never
//! inflated, compression bombs rejected before allocation while the stream
//! keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg(feature = "compression")]

use bytes::Bytes;
use gossip_core::{raw::SeededRng, Identity, Transport, TransportErrorKind, TransportEvent};
use gossip_middleware::{Compression, CompressionLayer, Error};
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig, MemoryTransport};
use tower::Layer;

type Node = Compression<MemoryTransport>;

fn pair(layer: CompressionLayer, max_frame_len: usize) -> (Node, Node) {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().max_frame_len(max_frame_len));
    (
        layer.layer(network.join(&Identity::from_seed("a")).unwrap()),
        layer.layer(network.join(&Identity::from_seed("b")).unwrap()),
    )
}

/// Sends through `a`'s layer and returns the raw frame on `b`'s wire.
async fn wire(a: &Node, b: &Node, frame: Bytes) -> Bytes {
    a.send(b.local_id(), frame).await.unwrap();
    match b.get_ref().recv().await.unwrap() {
        TransportEvent::Frame { frame, .. } => frame,
        other => panic!("{other:?}"),
    }
}

async fn inject(a: &Node, b: &Node, raw: Bytes) -> Result<Bytes, gossip_core::TransportError> {
    a.get_ref().send(b.local_id(), raw).await.unwrap();
    match b.recv().await? {
        TransportEvent::Frame { frame, .. } => Ok(frame),
        other => panic!("{other:?}"),
    }
}

fn reason(result: Result<Bytes, gossip_core::TransportError>) -> Error {
    let error = result.expect_err("must be rejected");
    assert_eq!(error.kind(), TransportErrorKind::Rejected);
    assert_eq!(error.backend(), "compression");
    Error::find_in(&error).cloned().unwrap()
}

async fn still_serving(a: &Node, b: &Node) {
    let frame = Bytes::from("still serving ".repeat(40));
    a.send(b.local_id(), frame.clone()).await.unwrap();
    match b.recv().await.unwrap() {
        TransportEvent::Frame { frame: got, .. } => assert_eq!(got, frame),
        other => panic!("{other:?}"),
    }
}

fn random_bytes(len: usize, seed: u64) -> Bytes {
    let mut rng = SeededRng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[tokio::test]
async fn round_trips_compressible_frames() {
    let (a, b) = pair(CompressionLayer::lz4(), 1 << 20);
    let frame = Bytes::from("gossip gossip gossip ".repeat(500));
    let raw = wire(&a, &b, frame.clone()).await;
    assert_eq!(raw[0], 1, "lz4 flag");
    assert!(
        raw.len() < frame.len() / 10,
        "{} → {}",
        frame.len(),
        raw.len()
    );
    assert_eq!(inject(&a, &b, raw).await.unwrap(), frame);
    assert_eq!(a.algorithm(), "lz4");
    assert_eq!(a.max_frame_len(), (1 << 20) - 1);
}

#[cfg(feature = "compression-zstd")]
#[tokio::test]
async fn zstd_round_trips_and_decodes_lz4_too() {
    let (a, b) = pair(CompressionLayer::zstd(3), 1 << 20);
    let frame = Bytes::from("zstd zstd zstd ".repeat(500));
    let raw = wire(&a, &b, frame.clone()).await;
    assert_eq!(raw[0], 2, "zstd flag");
    assert_eq!(inject(&a, &b, raw).await.unwrap(), frame);
    // A zstd receiver decodes an lz4 sender's frames.
    let mut lz4 = vec![1u8];
    lz4.extend_from_slice(&lz4_body(&frame).await);
    let lz4 = Bytes::from(lz4);
    assert_eq!(inject(&a, &b, lz4).await.unwrap(), frame);
}

#[tokio::test]
async fn small_frames_are_stored() {
    let (a, b) = pair(CompressionLayer::lz4().threshold(256), 1 << 20);
    let small = Bytes::from("a".repeat(255));
    let raw = wire(&a, &b, small.clone()).await;
    assert_eq!(raw[0], 0, "stored flag");
    assert_eq!(&raw[1..], &small[..]);
    assert_eq!(inject(&a, &b, raw).await.unwrap(), small);
    let empty = wire(&a, &b, Bytes::new()).await;
    assert_eq!(&empty[..], &[0]);
}

#[tokio::test]
async fn incompressible_frames_are_never_inflated() {
    let (a, b) = pair(CompressionLayer::lz4().threshold(0), 1 << 20);
    for (len, seed) in [(1, 1), (300, 2), (4096, 3), ((1 << 20) - 1, 4)] {
        let frame = random_bytes(len, seed);
        let raw = wire(&a, &b, frame.clone()).await;
        assert_eq!(raw.len(), frame.len() + 1, "only the flag byte is added");
        assert_eq!(raw[0], 0);
        assert_eq!(inject(&a, &b, raw).await.unwrap(), frame);
    }
}

#[tokio::test]
async fn lz4_bomb_is_rejected_before_allocating() {
    let (a, b) = pair(CompressionLayer::lz4(), 64 * 1024);
    // Declares 4 GiB.
    let mut bomb = vec![1u8];
    bomb.extend_from_slice(&u32::MAX.to_le_bytes());
    bomb.extend_from_slice(&[0x1F, 0, 1, 0, 0, 0]);
    assert!(matches!(
        reason(inject(&a, &b, bomb.into()).await),
        Error::DecompressedTooLarge { max, .. } if max == 64 * 1024 - 1
    ));
    // A genuine lz4 block of 1 MiB of zeros: small on the wire, too big decompressed.
    let zeros = vec![0u8; 1 << 20];
    let mut real = vec![1u8];
    real.extend_from_slice(&lz4_body(&zeros).await);
    assert!(real.len() < 64 * 1024);
    assert!(matches!(
        reason(inject(&a, &b, real.into()).await),
        Error::DecompressedTooLarge { declared, .. } if declared == 1 << 20
    ));
    // Declares less than it produces: corrupt, not an overflow.
    let mut liar = vec![1u8];
    liar.extend_from_slice(&lz4_body(&[0u8; 5000]).await);
    liar[1..5].copy_from_slice(&100u32.to_le_bytes());
    assert!(matches!(
        reason(inject(&a, &b, liar.into()).await),
        Error::Corrupt(_)
    ));
    // Unknown flag.
    assert_eq!(
        reason(inject(&a, &b, Bytes::from_static(&[7, 1, 2])).await),
        Error::UnknownCompression(7)
    );
    // Empty frame on the wire: no flag.
    assert!(matches!(
        reason(inject(&a, &b, Bytes::new()).await),
        Error::Truncated { .. }
    ));
    still_serving(&a, &b).await;
}

/// Compresses through an lz4 layer with a large limit and strips the flag.
async fn lz4_body(data: &[u8]) -> Vec<u8> {
    let (a, b) = pair(CompressionLayer::lz4().threshold(0), 8 << 20);
    let raw = wire(&a, &b, Bytes::copy_from_slice(data)).await;
    assert_eq!(raw[0], 1);
    raw[1..].to_vec()
}

#[cfg(feature = "compression-zstd")]
#[tokio::test]
async fn zstd_bomb_is_rejected_before_allocating() {
    let (a, b) = pair(CompressionLayer::zstd(3), 64 * 1024);
    let bomb = {
        let (a, b) = pair(CompressionLayer::zstd(19).threshold(0), 64 << 20);
        wire(&a, &b, Bytes::from(vec![0u8; 32 << 20])).await
    };
    assert_eq!(bomb[0], 2);
    assert!(bomb.len() < 64 * 1024, "{} bytes on the wire", bomb.len());
    assert!(matches!(
        reason(inject(&a, &b, bomb).await),
        Error::DecompressedTooLarge { declared, .. } if declared == 32 << 20
    ));
    assert!(matches!(
        reason(inject(&a, &b, Bytes::from_static(&[2, 0xde, 0xad, 0xbe, 0xef])).await),
        Error::Corrupt(_)
    ));
    still_serving(&a, &b).await;
}
