//! The store conformance suite from `gossip-core`'s testkit through the store
//! layers over the memory store: metrics, encryption at rest, and both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg(all(feature = "encryption", feature = "metrics"))]

use gossip_middleware::{NetworkKey, StoreEncryptionLayer, StoreMetricsLayer};
use gossip_store_memory::MemoryStore;
use tower::{Layer, ServiceBuilder};

fn key() -> NetworkKey {
    NetworkKey::new(1, [0x77; 32])
}

mod metrics {
    use super::*;

    gossip_core::store_conformance!(volatile, |_dir: std::path::PathBuf| async {
        StoreMetricsLayer::new().layer(MemoryStore::new())
    });
}

mod encryption {
    use super::*;

    gossip_core::store_conformance!(volatile, |_dir: std::path::PathBuf| async {
        StoreEncryptionLayer::new(key()).layer(MemoryStore::new())
    });
}

mod metrics_over_encryption {
    use super::*;

    gossip_core::store_conformance!(volatile, |_dir: std::path::PathBuf| async {
        ServiceBuilder::new()
            .layer(StoreMetricsLayer::new())
            .layer(StoreEncryptionLayer::new(key()))
            .service(MemoryStore::new())
    });
}

mod at_rest {
    use super::*;
    use gossip_core::{ChannelId, Hlc, LogEntry, NodeId, Store, StoreErrorKind, StreamId};

    /// An entry whose signature (if any) starts with `signature`, padded
    /// to 64 bytes.
    fn entry(seq: u64, payload: &[u8], signature: Option<&[u8]>) -> LogEntry {
        let mut e = LogEntry::new(
            NodeId::from_seed("a"),
            seq,
            Hlc::new(seq, 0).unwrap(),
            payload.to_vec(),
        );
        e.previous = gossip_core::EntryHash::from_bytes([seq as u8; 32]);
        e.signature = signature.map(|prefix| {
            let mut bytes = [0u8; 64];
            bytes[..prefix.len()].copy_from_slice(prefix);
            gossip_core::Signature::from_bytes(bytes)
        });
        e
    }

    #[tokio::test]
    async fn payload_and_signature_are_encrypted_metadata_stays_clear() {
        let store = StoreEncryptionLayer::new(key()).layer(MemoryStore::new());
        let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
        let entries = vec![
            entry(1, b"secret payload", Some(b"sig-bytes")),
            entry(2, b"", Some(b"")),
            entry(3, b"no signature", None),
        ];
        store.append(&c, &s, &entries).await.unwrap();
        let raw = store.get_ref().read(&c, &s, None, 10).await.unwrap();
        for (raw, plain) in raw.iter().zip(&entries) {
            assert_eq!(
                (raw.author.clone(), raw.sequence, raw.timestamp),
                (plain.author.clone(), plain.sequence, plain.timestamp)
            );
            assert_eq!(raw.signature, None);
            assert!(!raw
                .payload
                .windows(6)
                .any(|w| w == b"secret" || w == b"sig-by"));
            assert_eq!(
                raw.payload.len(),
                plain.payload.len()
                    + plain.signature.map_or(0, |s| s.to_bytes().len())
                    + gossip_middleware::encryption::STORE_OVERHEAD
            );
        }
        assert_eq!(store.read(&c, &s, None, 10).await.unwrap(), entries);
        let stats = store.stats(&c, &s).await.unwrap();
        assert_eq!(
            stats.bytes,
            entries.iter().map(LogEntry::size_bytes).sum::<u64>()
        );
    }

    #[tokio::test]
    async fn wrong_key_or_moved_entry_reads_as_corrupt() {
        let inner = std::sync::Arc::new(MemoryStore::new());
        let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
        let writer = StoreEncryptionLayer::new(key()).layer(inner.clone());
        writer
            .append(&c, &s, &[entry(1, b"x", None)])
            .await
            .unwrap();
        // Another key.
        let other = StoreEncryptionLayer::new(NetworkKey::new(1, [1; 32])).layer(inner.clone());
        assert_eq!(
            other.read(&c, &s, None, 10).await.unwrap_err().kind(),
            StoreErrorKind::Corrupt
        );
        // Another key id, with the right key kept as an old key: readable.
        let rotated = StoreEncryptionLayer::new(NetworkKey::new(2, [2; 32]))
            .old_key(key())
            .layer(inner.clone());
        assert_eq!(rotated.read(&c, &s, None, 10).await.unwrap().len(), 1);
        // The ciphertext copied into another stream does not decrypt there.
        let moved = inner.read(&c, &s, None, 10).await.unwrap();
        let s2 = StreamId::new("s2").unwrap();
        inner.append(&c, &s2, &moved).await.unwrap();
        assert_eq!(
            writer.read(&c, &s2, None, 10).await.unwrap_err().kind(),
            StoreErrorKind::Corrupt
        );
    }
}
