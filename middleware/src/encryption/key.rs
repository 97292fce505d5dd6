//! [`NetworkKey`], [`Cipher`], and the shared key ring that rotation updates.

use std::{
    fmt,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use ring::{
    aead::{self, LessSafeKey, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::Error;

/// Length of a [`NetworkKey`] in bytes (256 bits).
pub const KEY_LEN: usize = 32;

/// A 256-bit symmetric key shared by the members of a network (or channel),
/// with a one-byte id carried in every frame so that receivers pick the right
/// key during a rotation.
///
/// The key bytes never appear in `Debug` output or logs, and are zeroized
/// when the value is dropped. (The expanded key schedule that `ring` derives
/// from them is not zeroized by `ring`.)
///
/// ```
/// use gossip_middleware::NetworkKey;
///
/// let key = NetworkKey::new(1, [7u8; 32]);
/// assert_eq!(key.id(), 1);
/// let shown = format!("{key:?}");
/// assert!(shown.contains("redacted") && !shown.contains('7'));
/// ```
#[derive(Clone)]
pub struct NetworkKey {
    id: u8,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl NetworkKey {
    /// A key with id `id` from its raw bytes. The argument is a copy: zeroize
    /// your own copy of the bytes if you keep one.
    #[must_use]
    pub fn new(id: u8, bytes: [u8; KEY_LEN]) -> Self {
        Self {
            id,
            bytes: Zeroizing::new(bytes),
        }
    }

    /// A fresh random key from the operating system's generator.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] if the generator failed.
    pub fn generate(id: u8) -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| Error::Random)?;
        Ok(Self { id, bytes })
    }

    /// The key's id, carried in each frame.
    #[must_use]
    pub fn id(&self) -> u8 {
        self.id
    }

    pub(crate) fn aead_key(&self, cipher: Cipher) -> LessSafeKey {
        let algorithm = cipher.algorithm();
        match UnboundKey::new(algorithm, self.bytes.as_ref()) {
            Ok(key) => LessSafeKey::new(key),
            // Both algorithms take exactly KEY_LEN bytes, which the type guarantees.
            Err(_) => unreachable!("a 32-byte key is valid for {cipher:?}"),
        }
    }
}

impl fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkKey")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// The AEAD algorithm. Every node of a network must use the same one.
///
/// Chosen by measurement (`examples/seal_bench.rs`: 100 000 seals of 1 KiB,
/// release, x86-64 with AES-NI, a loaded 2-core machine): ring AES-256-GCM
/// 0.45–0.47 µs per seal, ring ChaCha20-Poly1305 1.60–1.72 µs, about 3.5×
/// slower (BUILD-NOTES' quieter run: 0.2 µs against 0.7 µs). So
/// AES-256-GCM is the default. Prefer ChaCha20-Poly1305 on CPUs without AES
/// instructions (older or low-end ARM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Cipher {
    /// AES-256 in Galois/Counter Mode (the default).
    #[default]
    Aes256Gcm,
    /// ChaCha20 with a Poly1305 authenticator.
    ChaCha20Poly1305,
}

impl Cipher {
    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Cipher::Aes256Gcm => &aead::AES_256_GCM,
            Cipher::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

/// One usable key: its id and ring's prepared form.
pub(crate) struct ActiveKey {
    pub(crate) id: u8,
    pub(crate) key: LessSafeKey,
    source: NetworkKey,
}

impl ActiveKey {
    pub(crate) fn new(key: &NetworkKey, cipher: Cipher) -> Self {
        Self {
            id: key.id,
            key: key.aead_key(cipher),
            source: key.clone(),
        }
    }

    pub(crate) fn source(&self) -> &NetworkKey {
        &self.source
    }
}

struct KeyState {
    current: Arc<ActiveKey>,
    /// The key replaced by the last rotation, accepted until the instant.
    previous: Option<(Arc<ActiveKey>, Instant)>,
}

/// The keys of one network, shared by a layer, its handles and every
/// transport it built.
pub(crate) struct KeyRing {
    cipher: Cipher,
    grace: Duration,
    state: RwLock<KeyState>,
}

impl KeyRing {
    pub(crate) fn new(key: &NetworkKey, cipher: Cipher, grace: Duration) -> Self {
        Self {
            cipher,
            grace,
            state: RwLock::new(KeyState {
                current: Arc::new(ActiveKey::new(key, cipher)),
                previous: None,
            }),
        }
    }

    /// The same keys (and rotation state) with another cipher or grace period.
    pub(crate) fn reconfigured(&self, cipher: Cipher, grace: Duration) -> Self {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let rebuild = |key: &ActiveKey| Arc::new(ActiveKey::new(&key.source, cipher));
        Self {
            cipher,
            grace,
            state: RwLock::new(KeyState {
                current: rebuild(&state.current),
                previous: state
                    .previous
                    .as_ref()
                    .map(|(key, until)| (rebuild(key), *until)),
            }),
        }
    }

    pub(crate) fn cipher(&self) -> Cipher {
        self.cipher
    }

    pub(crate) fn grace(&self) -> Duration {
        self.grace
    }

    /// The key new frames are sealed with.
    pub(crate) fn current(&self) -> Arc<ActiveKey> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .clone()
    }

    /// The id of the current key.
    pub(crate) fn current_id(&self) -> u8 {
        self.current().id
    }

    /// The key with id `id`, if it is current or within its grace period.
    pub(crate) fn lookup(&self, id: u8) -> Result<Arc<ActiveKey>, Error> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        if state.current.id == id {
            return Ok(state.current.clone());
        }
        match &state.previous {
            Some((key, until)) if key.id == id && Instant::now() < *until => Ok(key.clone()),
            _ => Err(Error::UnknownKey(id)),
        }
    }

    /// Makes `key` current; the old current key stays accepted for the grace
    /// period (replacing any older key still in its grace period).
    pub(crate) fn rotate(&self, key: &NetworkKey) -> Result<(), Error> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.current.id == key.id {
            return Err(Error::KeyIdInUse(key.id));
        }
        let next = Arc::new(ActiveKey::new(key, self.cipher));
        let old = std::mem::replace(&mut state.current, next);
        state.previous = Some((old, Instant::now() + self.grace));
        tracing::info!(key_id = key.id, "encryption key rotated");
        Ok(())
    }
}
