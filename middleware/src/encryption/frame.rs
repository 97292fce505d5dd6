//! The sealed frame format: `[key id: u8][nonce: 12][ciphertext][tag: 16]`.

use ring::aead::{Aad, Nonce, Tag, NONCE_LEN};

use super::key::ActiveKey;
use crate::Error;

/// Bytes before the ciphertext: key id and nonce.
pub(crate) const HEADER_LEN: usize = 1 + NONCE_LEN;

/// Bytes of the authentication tag (both ciphers).
pub(crate) const TAG_LEN: usize = 16;

/// Bytes a sealed frame adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// The parsed header of a sealed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) key_id: u8,
    pub(crate) nonce: [u8; NONCE_LEN],
}

impl Header {
    /// For transport frames: the sender's random session prefix.
    pub(crate) fn prefix(&self) -> [u8; 4] {
        let [a, b, c, d, ..] = self.nonce;
        [a, b, c, d]
    }

    /// For transport frames: the sender's counter.
    pub(crate) fn counter(&self) -> u64 {
        let [_, _, _, _, rest @ ..] = self.nonce;
        u64::from_be_bytes(rest)
    }
}

/// A transport nonce: 4-byte session prefix, then the 64-bit counter, big-endian.
pub(crate) fn transport_nonce(prefix: [u8; 4], counter: u64) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    let (head, tail) = nonce.split_at_mut(4);
    head.copy_from_slice(&prefix);
    tail.copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// Splits a sealed frame into its header and the ciphertext with tag.
pub(crate) fn split<'a>(frame: &'a [u8], layer: &'static str) -> Result<(Header, &'a [u8]), Error> {
    let truncated = || Error::Truncated {
        layer,
        len: frame.len(),
        needed: OVERHEAD,
    };
    if frame.len() < OVERHEAD {
        return Err(truncated());
    }
    let (&key_id, rest) = frame.split_first().ok_or_else(truncated)?;
    let (nonce, body) = rest.split_at_checked(NONCE_LEN).ok_or_else(truncated)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| truncated())?;
    Ok((Header { key_id, nonce }, body))
}

/// Seals `plaintext` under `key` into a complete frame.
pub(crate) fn seal(
    key: &ActiveKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(key.id);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let sealed = out.get_mut(HEADER_LEN..).unwrap_or_default();
    match key.key.seal_in_place_separate_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        sealed,
    ) {
        Ok(tag) => out.extend_from_slice(tag.as_ref()),
        // ring refuses only inputs beyond the algorithm's limit (~64 GiB),
        // far above any frame or payload limit.
        Err(_) => unreachable!("plaintext of {} bytes within AEAD limits", plaintext.len()),
    }
    out
}

/// Opens the ciphertext-with-tag `body` of a frame whose header is `header`.
///
/// The plaintext comes back in a buffer of exactly its length (so turning it
/// into `Bytes` does not allocate again).
pub(crate) fn open(
    key: &ActiveKey,
    header: &Header,
    aad: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, Error> {
    let split = body
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(Error::Authentication)?;
    let (ciphertext, tag) = body.split_at_checked(split).ok_or(Error::Authentication)?;
    let tag = Tag::try_from(tag).map_err(|_| Error::Authentication)?;
    let mut buffer = ciphertext.to_vec();
    key.key
        .open_in_place_separate_tag(
            Nonce::assume_unique_for_key(header.nonce),
            Aad::from(aad),
            tag,
            &mut buffer,
            0..,
        )
        .map_err(|_| Error::Authentication)?;
    Ok(buffer)
}
