//! [`Encryption`]: a transport that seals every frame it sends and opens
//! every frame it receives, as a [`FrameTransform`].

use std::{
    collections::hash_map::RandomState,
    fmt,
    hash::BuildHasher,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
};

use bytes::Bytes;
use gossip_core::{domain::MAX_ID_LEN, NodeId};
use ring::rand::{SecureRandom, SystemRandom};

use super::{
    frame::{self, OVERHEAD},
    key::KeyRing,
    layer::EncryptionHandle,
    replay::ReplayGuard,
    NetworkKey,
};
use crate::{
    frame::{FrameContext, FrameTransform, Framed},
    Error,
};

const BACKEND: &str = "encryption";

/// A transport whose frames are sealed with an AEAD under a shared
/// [`NetworkKey`]: [`Framed`] with an [`EncryptionTransform`]. Built by
/// [`EncryptionLayer`](super::EncryptionLayer); see the [module docs](super)
/// for the frame format, nonces, replay protection and rotation.
///
/// Its [`max_frame_len`](gossip_core::Transport::max_frame_len) is the inner
/// maximum minus [`OVERHEAD`].
pub type Encryption<T> = Framed<EncryptionTransform, T>;

/// The [`FrameTransform`] of [`Encryption`]: the shared key ring, this
/// transport's nonce prefix and counter, and the replay window of what it
/// received. Secrets never appear in its `Debug`.
pub struct EncryptionTransform {
    keys: Arc<KeyRing>,
    /// Random per instance: the first 4 bytes of every nonce this instance uses.
    prefix: [u8; 4],
    /// The next nonce counter (starts at a random point below 2⁶³).
    counter: AtomicU64,
    replay: Mutex<ReplayGuard>,
}

impl fmt::Debug for EncryptionTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionTransform")
            .field("cipher", &self.keys.cipher())
            .field("key_id", &self.keys.current_id())
            .finish_non_exhaustive()
    }
}

/// 12 bytes that are unique per call: from the system generator, or, should
/// it fail, from std's randomly keyed hasher (uniqueness, not secrecy, is
/// what a nonce needs).
fn session_randomness() -> [u8; 12] {
    let mut bytes = [0u8; 12];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        let a = RandomState::new().hash_one(0u64).to_le_bytes();
        let b = RandomState::new().hash_one(1u64).to_le_bytes();
        for (slot, byte) in bytes.iter_mut().zip(a.iter().chain(&b)) {
            *slot = *byte;
        }
    }
    bytes
}

impl<T> Encryption<T> {
    /// Wraps `inner` with a fresh key ring holding `key` (AES-256-GCM, default
    /// grace period). Use [`EncryptionLayer`](super::EncryptionLayer) to share
    /// keys and rotation between transports.
    pub fn new(inner: T, key: NetworkKey) -> Self {
        let layer = super::EncryptionLayer::new(key);
        Framed::with_transform(
            inner,
            EncryptionTransform::new(layer.keys().clone(), super::replay::DEFAULT_WINDOW),
        )
    }

    /// A handle to the shared keys, to [`rotate`](EncryptionHandle::rotate) them.
    #[must_use]
    pub fn handle(&self) -> EncryptionHandle {
        EncryptionHandle::new(self.transform().keys.clone())
    }

    /// Makes `key` the sending key; the previous one is still accepted for
    /// the grace period. Same as [`EncryptionHandle::rotate`].
    ///
    /// # Errors
    ///
    /// [`Error::KeyIdInUse`] if `key` has the current key's id.
    pub fn rotate(&self, key: &NetworkKey) -> Result<(), Error> {
        self.transform().keys.rotate(key)
    }
}

impl EncryptionTransform {
    /// A transform sealing with `keys`, with a fresh random nonce prefix and
    /// counter start, and a replay window of `window` frames.
    pub(crate) fn new(keys: Arc<KeyRing>, window: u64) -> Self {
        let random = session_randomness();
        let [p0, p1, p2, p3, c @ ..] = random;
        // Start below 2⁶³ so the counter never wraps in practice.
        let start = u64::from_be_bytes(c) >> 1;
        Self {
            keys,
            prefix: [p0, p1, p2, p3],
            counter: AtomicU64::new(start),
            replay: Mutex::new(ReplayGuard::new(window)),
        }
    }

    fn next_counter(&self) -> Result<u64, Error> {
        self.counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_add(1))
            .map_err(|_| Error::NonceExhausted)
    }
}

/// Additional authenticated data: binds a frame to its sender and receiver,
/// so it cannot be re-addressed or attributed to another node.
///
/// Built on the stack: node ids are at most [`MAX_ID_LEN`] bytes, so it
/// always fits (a longer id, which `NodeId` refuses, would be cut short).
struct FrameAad {
    bytes: [u8; 1 + 4 + 2 * MAX_ID_LEN],
    len: usize,
}

impl FrameAad {
    fn new(key_id: u8, from: &NodeId, to: &NodeId) -> Self {
        let (from, to) = (from.as_str().as_bytes(), to.as_str().as_bytes());
        let mut aad = Self {
            bytes: [0; 1 + 4 + 2 * MAX_ID_LEN],
            len: 0,
        };
        aad.push(&[key_id]);
        aad.push(&u32::try_from(from.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.push(from);
        aad.push(to);
        aad
    }

    fn push(&mut self, part: &[u8]) {
        let end = (self.len + part.len()).min(self.bytes.len());
        if let Some(slot) = self.bytes.get_mut(self.len..end) {
            slot.copy_from_slice(part.get(..end - self.len).unwrap_or_default());
        }
        self.len = end;
    }

    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl FrameTransform for EncryptionTransform {
    type Error = Error;

    fn name(&self) -> &'static str {
        BACKEND
    }

    fn overhead(&self) -> usize {
        OVERHEAD
    }

    fn seal(&self, cx: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, Error> {
        let counter = self.next_counter()?;
        let key = self.keys.current();
        let sealed = frame::seal(
            &key,
            frame::transport_nonce(self.prefix, counter),
            FrameAad::new(key.id, cx.local, cx.peer).as_slice(),
            &frame,
        );
        Ok(Bytes::from(sealed))
    }

    fn open(&self, cx: &FrameContext<'_>, sealed: Bytes) -> Result<Bytes, Error> {
        let (header, body) = frame::split(&sealed, BACKEND)?;
        let key = self.keys.lookup(header.key_id)?;
        let (prefix, counter) = (header.prefix(), header.counter());
        let mut replay = self.replay.lock().unwrap_or_else(PoisonError::into_inner);
        replay.check(cx.peer, prefix, counter)?;
        let plaintext = frame::open(
            &key,
            &header,
            FrameAad::new(header.key_id, cx.peer, cx.local).as_slice(),
            body,
        )?;
        // Authenticated: only now may the window move.
        replay.commit(cx.peer, prefix, counter);
        Ok(Bytes::from(plaintext))
    }
}
