//! [`EncryptionLayer`], which builds [`Encryption`] transports, and
//! [`EncryptionHandle`], which rotates their key.

use std::{fmt, sync::Arc, time::Duration};

use tower::Layer;

use super::{
    key::KeyRing, replay::DEFAULT_WINDOW, Cipher, Encryption, EncryptionTransform, NetworkKey,
};
use crate::frame::Framed;
use crate::Error;

/// How long the previous key stays accepted after a rotation, by default.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(60);

/// A [`tower::Layer`] that wraps a transport in [`Encryption`].
///
/// Clones of a layer, their [`handle`](Self::handle)s and every transport
/// they build share one key ring: a rotation through any of them applies to
/// all. Each built transport draws its own random nonce prefix.
///
/// ```
/// use gossip_middleware::{Cipher, EncryptionLayer, NetworkKey};
/// use std::time::Duration;
///
/// let layer = EncryptionLayer::new(NetworkKey::new(1, [42; 32]))
///     .cipher(Cipher::ChaCha20Poly1305)
///     .grace_period(Duration::from_secs(30))
///     .replay_window(4096);
/// let handle = layer.handle();
/// handle.rotate(&NetworkKey::new(2, [43; 32]))?;
/// assert_eq!(handle.current_key_id(), 2);
/// # Ok::<(), gossip_middleware::Error>(())
/// ```
#[derive(Clone)]
pub struct EncryptionLayer {
    keys: Arc<KeyRing>,
    window: u64,
}

impl fmt::Debug for EncryptionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionLayer")
            .field("cipher", &self.keys.cipher())
            .field("key_id", &self.keys.current_id())
            .field("grace_period", &self.keys.grace())
            .field("replay_window", &self.window)
            .finish()
    }
}

impl EncryptionLayer {
    /// A layer sealing with `key` under AES-256-GCM, a
    /// [`DEFAULT_GRACE_PERIOD`] for rotations and a replay window of 1024
    /// frames.
    #[must_use]
    pub fn new(key: NetworkKey) -> Self {
        Self {
            keys: Arc::new(KeyRing::new(&key, Cipher::default(), DEFAULT_GRACE_PERIOD)),
            window: DEFAULT_WINDOW,
        }
    }

    /// Selects the AEAD. Call before [`handle`](Self::handle): the layer gets
    /// a new key ring.
    #[must_use]
    pub fn cipher(self, cipher: Cipher) -> Self {
        Self {
            keys: Arc::new(self.keys.reconfigured(cipher, self.keys.grace())),
            window: self.window,
        }
    }

    /// How long the previous key is still accepted after a rotation. Call
    /// before [`handle`](Self::handle): the layer gets a new key ring.
    #[must_use]
    pub fn grace_period(self, grace: Duration) -> Self {
        Self {
            keys: Arc::new(self.keys.reconfigured(self.keys.cipher(), grace)),
            window: self.window,
        }
    }

    /// How many frames behind the newest one a frame may arrive (reordered)
    /// and still be accepted, per sender session; rounded up to a multiple of
    /// 64. Older frames are rejected as too old.
    #[must_use]
    pub fn replay_window(mut self, frames: u64) -> Self {
        self.window = frames.max(1);
        self
    }

    /// A handle to rotate the key of every transport this layer builds.
    #[must_use]
    pub fn handle(&self) -> EncryptionHandle {
        EncryptionHandle::new(self.keys.clone())
    }

    pub(crate) fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }
}

impl<T> Layer<T> for EncryptionLayer {
    type Service = Encryption<T>;

    fn layer(&self, inner: T) -> Self::Service {
        Framed::with_transform(
            inner,
            EncryptionTransform::new(self.keys.clone(), self.window),
        )
    }
}

/// Rotates the key shared by an [`EncryptionLayer`] and its transports.
/// Cheap to clone.
#[derive(Clone)]
pub struct EncryptionHandle {
    keys: Arc<KeyRing>,
}

impl fmt::Debug for EncryptionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionHandle")
            .field("key_id", &self.keys.current_id())
            .finish_non_exhaustive()
    }
}

impl EncryptionHandle {
    pub(crate) fn new(keys: Arc<KeyRing>) -> Self {
        Self { keys }
    }

    /// Makes `key` the key new frames are sealed with. Frames sealed with the
    /// previous key are still accepted for the grace period (measured with
    /// `tokio::time`, so paused-time tests control it); an older key still in
    /// its grace period is dropped at once.
    ///
    /// Rotate every node within the grace period: a node that has not rotated
    /// yet rejects frames under the new key id as
    /// [`UnknownKey`](Error::UnknownKey).
    ///
    /// # Errors
    ///
    /// [`Error::KeyIdInUse`] if `key` has the current key's id; nothing changed.
    pub fn rotate(&self, key: &NetworkKey) -> Result<(), Error> {
        self.keys.rotate(key)
    }

    /// The id of the key new frames are sealed with.
    #[must_use]
    pub fn current_key_id(&self) -> u8 {
        self.keys.current_id()
    }
}
