//! [`StoreEncryption`]: encryption at rest of entry payloads and signatures.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    Channel, ChannelId, EntryKey, Hlc, LogEntry, NodeId, PeerRecord, Signature, Store,
    StoreCapabilities, StoreError, StoreErrorKind, StoreResult, StreamId, StreamStats,
    VersionVector,
};
use ring::rand::{SecureRandom, SystemRandom};
use tower::Layer;

use super::{
    frame::{self, OVERHEAD},
    key::ActiveKey,
    Cipher, NetworkKey,
};
use crate::Error;

const BACKEND: &str = "encryption";

/// Bytes that encryption adds to each stored entry: the sealed-frame overhead
/// (key id, nonce, tag) and a 4-byte signature length.
pub const STORE_OVERHEAD: usize = OVERHEAD + 4;

/// Signature length meaning "no signature".
const NO_SIGNATURE: u32 = u32::MAX;

/// The length of a signature.
const SIGNATURE_LEN: u32 = 64;

struct StoreKeys {
    current: ActiveKey,
    /// Keys entries may still be sealed with (decryption only).
    old: Vec<ActiveKey>,
    cipher: Cipher,
}

impl StoreKeys {
    fn lookup(&self, id: u8) -> Result<&ActiveKey, Error> {
        std::iter::once(&self.current)
            .chain(&self.old)
            .find(|key| key.id == id)
            .ok_or(Error::UnknownKey(id))
    }
}

/// A [`tower::Layer`] that wraps a store in [`StoreEncryption`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use gossip_core::{ChannelId, Hlc, LogEntry, NodeId, Store, StreamId};
/// use gossip_middleware::{NetworkKey, StoreEncryptionLayer};
/// use gossip_store_memory::MemoryStore;
/// use tower::Layer;
///
/// let store = StoreEncryptionLayer::new(NetworkKey::new(1, [9; 32])).layer(MemoryStore::new());
/// let (c, s) = (ChannelId::new("c")?, StreamId::new("s")?);
/// let entry = LogEntry::new(NodeId::from_seed("a"), 1, Hlc::new(1, 0)?, b"private".to_vec());
/// store.append(&c, &s, &[entry.clone()]).await?;
/// // The inner store holds ciphertext; reads through the layer decrypt.
/// assert_ne!(store.get_ref().read(&c, &s, None, 10).await?[0].payload, entry.payload);
/// assert_eq!(store.read(&c, &s, None, 10).await?, vec![entry]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct StoreEncryptionLayer {
    keys: Arc<StoreKeys>,
}

impl fmt::Debug for StoreEncryptionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreEncryptionLayer")
            .field("cipher", &self.keys.cipher)
            .field("key_id", &self.keys.current.id)
            .finish_non_exhaustive()
    }
}

impl StoreEncryptionLayer {
    /// Encrypts with `key` under AES-256-GCM.
    #[must_use]
    pub fn new(key: NetworkKey) -> Self {
        Self::with_keys(&key, &[], Cipher::default())
    }

    fn with_keys(current: &NetworkKey, old: &[NetworkKey], cipher: Cipher) -> Self {
        Self {
            keys: Arc::new(StoreKeys {
                current: ActiveKey::new(current, cipher),
                old: old.iter().map(|key| ActiveKey::new(key, cipher)).collect(),
                cipher,
            }),
        }
    }

    fn sources(&self) -> (NetworkKey, Vec<NetworkKey>) {
        (
            self.keys.current.source().clone(),
            self.keys.old.iter().map(|k| k.source().clone()).collect(),
        )
    }

    /// Selects the AEAD (the stored data must have been written with the same).
    #[must_use]
    pub fn cipher(self, cipher: Cipher) -> Self {
        let (current, old) = self.sources();
        Self::with_keys(&current, &old, cipher)
    }

    /// Also accepts entries sealed with an older `key` (after a rotation);
    /// new entries are sealed with the current key.
    #[must_use]
    pub fn old_key(self, key: NetworkKey) -> Self {
        let (current, mut old) = self.sources();
        old.push(key);
        Self::with_keys(&current, &old, self.keys.cipher)
    }
}

impl<S> Layer<S> for StoreEncryptionLayer {
    type Service = StoreEncryption<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StoreEncryption {
            inner,
            keys: self.keys.clone(),
            random: SystemRandom::new(),
        }
    }
}

/// A store whose entry payloads and signatures are encrypted at rest.
///
/// Each entry's payload and signature are sealed together into the stored
/// payload (`[key id][random 12-byte nonce][sealed: signature length u32,
/// signature, payload][tag]`, [`STORE_OVERHEAD`] bytes more than the
/// plaintext) and the stored signature is `None`. Author, sequence and
/// timestamp stay in clear, so the store keeps indexing, ordering, version
/// vectors and compaction; they are bound to the ciphertext as additional
/// authenticated data, with the channel and stream, so an entry cannot be
/// moved or swapped on disk without failing to decrypt
/// ([`StoreErrorKind::Corrupt`]).
///
/// [`stats`](Store::stats) reports plaintext bytes (the inner figure minus
/// [`STORE_OVERHEAD`] per entry), as the store contract asks.
///
/// Nonces are random (96 bits): keep well below 2³² entries per key.
pub struct StoreEncryption<S> {
    inner: S,
    keys: Arc<StoreKeys>,
    random: SystemRandom,
}

impl<S: fmt::Debug> fmt::Debug for StoreEncryption<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreEncryption")
            .field("inner", &self.inner)
            .field("cipher", &self.keys.cipher)
            .field("key_id", &self.keys.current.id)
            .finish_non_exhaustive()
    }
}

impl<S> StoreEncryption<S> {
    /// Wraps `inner`, encrypting with `key` under AES-256-GCM.
    pub fn new(inner: S, key: NetworkKey) -> Self {
        StoreEncryptionLayer::new(key).layer(inner)
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped store, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

fn aad(channel: &ChannelId, stream: &StreamId, entry: &LogEntry) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    for part in [channel.as_str(), stream.as_str(), entry.author.as_str()] {
        aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad.extend_from_slice(&entry.sequence.to_be_bytes());
    aad.extend_from_slice(&Hlc::as_u64(entry.timestamp).to_be_bytes());
    aad.extend_from_slice(entry.previous.as_bytes());
    aad
}

fn corrupt(entry: &LogEntry, error: Error) -> StoreError {
    StoreError::new(
        BACKEND,
        StoreErrorKind::Corrupt,
        format!(
            "entry ({}, {}) does not decrypt: {error}",
            entry.author, entry.sequence
        ),
    )
    .with_source(error)
}

impl<S: Store> StoreEncryption<S> {
    fn seal(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        entry: &LogEntry,
    ) -> StoreResult<LogEntry> {
        let signature = entry.signature.map(|s| s.to_bytes());
        let signature_len = match signature {
            None => NO_SIGNATURE,
            Some(_) => SIGNATURE_LEN,
        };
        let signature = signature.as_ref().map_or(&[][..], |s| &s[..]);
        let mut plaintext = Vec::with_capacity(4 + signature.len() + entry.payload.len());
        plaintext.extend_from_slice(&signature_len.to_be_bytes());
        plaintext.extend_from_slice(signature);
        plaintext.extend_from_slice(&entry.payload);
        let mut nonce = [0u8; 12];
        self.random.fill(&mut nonce).map_err(|_| {
            StoreError::new(BACKEND, StoreErrorKind::Other, Error::Random.to_string())
                .with_source(Error::Random)
        })?;
        let sealed = frame::seal(
            &self.keys.current,
            nonce,
            &aad(channel, stream, entry),
            &plaintext,
        );
        let mut stored = entry.clone();
        stored.payload = Bytes::from(sealed);
        stored.signature = None;
        Ok(stored)
    }

    fn open(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        stored: LogEntry,
    ) -> StoreResult<LogEntry> {
        let opened = (|| {
            let (header, body) = frame::split(&stored.payload, BACKEND)?;
            let key = self.keys.lookup(header.key_id)?;
            frame::open(key, &header, &aad(channel, stream, &stored), body)
        })()
        .map_err(|error| corrupt(&stored, error))?;
        let short = || {
            corrupt(
                &stored,
                Error::Truncated {
                    layer: BACKEND,
                    len: opened.len(),
                    needed: 4,
                },
            )
        };
        let (len, rest) = opened.split_at_checked(4).ok_or_else(short)?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| short())?);
        let (signature, payload) = match len {
            NO_SIGNATURE => (None, rest),
            SIGNATURE_LEN => {
                let (signature, payload) = rest.split_first_chunk::<64>().ok_or_else(short)?;
                (Some(Signature::from_bytes(*signature)), payload)
            }
            other => {
                return Err(StoreError::new(
                    BACKEND,
                    StoreErrorKind::Corrupt,
                    format!(
                        "entry ({}, {}) holds a signature of {other} bytes (64 expected)",
                        stored.author, stored.sequence
                    ),
                ))
            }
        };
        let mut entry = stored.clone();
        entry.payload = Bytes::copy_from_slice(payload);
        entry.signature = signature;
        Ok(entry)
    }

    fn open_all(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        entries: Vec<LogEntry>,
    ) -> StoreResult<Vec<LogEntry>> {
        entries
            .into_iter()
            .map(|entry| self.open(channel, stream, entry))
            .collect()
    }
}

// A forwarding wrapper: every `Store` method, defaulted ones included, is
// written out, so a method added to the trait later cannot silently bypass it.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Store> Store for StoreEncryption<S> {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> StoreCapabilities {
        self.inner.capabilities()
    }

    async fn append(&self, c: &ChannelId, s: &StreamId, entries: &[LogEntry]) -> StoreResult<()> {
        let sealed = entries
            .iter()
            .map(|entry| self.seal(c, s, entry))
            .collect::<StoreResult<Vec<_>>>()?;
        self.inner.append(c, s, &sealed).await
    }

    async fn read(
        &self,
        c: &ChannelId,
        s: &StreamId,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        let entries = self.inner.read(c, s, after, limit).await?;
        self.open_all(c, s, entries)
    }

    async fn read_author(
        &self,
        c: &ChannelId,
        s: &StreamId,
        author: &NodeId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        let entries = self.inner.read_author(c, s, author, after, limit).await?;
        self.open_all(c, s, entries)
    }

    async fn version(&self, c: &ChannelId, s: &StreamId) -> StoreResult<VersionVector> {
        self.inner.version(c, s).await
    }

    async fn base(&self, c: &ChannelId, s: &StreamId) -> StoreResult<VersionVector> {
        self.inner.base(c, s).await
    }

    async fn stats(&self, c: &ChannelId, s: &StreamId) -> StoreResult<StreamStats> {
        let stats = self.inner.stats(c, s).await?;
        let overhead = stats.entries.saturating_mul(STORE_OVERHEAD as u64);
        Ok(StreamStats::new(
            stats.entries,
            stats.bytes.saturating_sub(overhead),
        ))
    }

    async fn streams(&self, c: &ChannelId) -> StoreResult<Vec<StreamId>> {
        self.inner.streams(c).await
    }

    async fn compact(&self, c: &ChannelId, s: &StreamId, base: &VersionVector) -> StoreResult<u64> {
        self.inner.compact(c, s, base).await
    }

    async fn truncate_author(
        &self,
        c: &ChannelId,
        s: &StreamId,
        author: &NodeId,
        after: u64,
    ) -> StoreResult<u64> {
        self.inner.truncate_author(c, s, author, after).await
    }

    async fn save_channel(&self, channel: &Channel) -> StoreResult<()> {
        self.inner.save_channel(channel).await
    }

    async fn load_channels(&self) -> StoreResult<Vec<Channel>> {
        self.inner.load_channels().await
    }

    async fn delete_channel(&self, channel: &ChannelId) -> StoreResult<()> {
        self.inner.delete_channel(channel).await
    }

    async fn save_peer(&self, peer: &PeerRecord) -> StoreResult<()> {
        self.inner.save_peer(peer).await
    }

    async fn load_peers(&self) -> StoreResult<Vec<PeerRecord>> {
        self.inner.load_peers().await
    }

    async fn remove_peer(&self, peer: &NodeId) -> StoreResult<()> {
        self.inner.remove_peer(peer).await
    }

    async fn save_clock(&self, clock: Hlc) -> StoreResult<()> {
        self.inner.save_clock(clock).await
    }

    async fn load_clock(&self) -> StoreResult<Option<Hlc>> {
        self.inner.load_clock().await
    }

    async fn clear(&self) -> StoreResult<()> {
        self.inner.clear().await
    }

    async fn close(&self) -> StoreResult<()> {
        self.inner.close().await
    }
}
