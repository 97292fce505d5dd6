//! The frame codec: `[protocol version: u8][message kind: u8][postcard body]`,
//! and the splitting of large deltas and pushes into frames that fit the
//! transport's maximum.
//!
//! ```
//! use gossip_core::protocol::{codec, Message, Ping, PROTOCOL_VERSION};
//!
//! let ping = Message::Ping(Ping { probe: 7, incarnation: 1, updates: vec![] });
//! let frame = codec::encode(&ping);
//! assert_eq!(frame.len(), codec::encoded_len(&ping));
//! assert_eq!(&frame[..2], &[PROTOCOL_VERSION, 1]);
//! assert_eq!(codec::decode(&frame, 64 * 1024)?, ping);
//! # Ok::<(), gossip_core::DecodeError>(())
//! ```
//!
//! # Decoding untrusted frames
//!
//! [`decode`] never panics, and the memory it allocates is proportional to
//! the frame it is given, never to a length or count the frame declares:
//! postcard checks every string and byte-string length against the bytes
//! actually present before copying them, version vectors are `BTreeMap`s
//! (which never preallocate), and every `Vec` in a message is decoded by an
//! allocation-bounded visitor that grows only as elements actually decode.
//!
//! # Splitting
//!
//! [`delta_response_frames`] and [`push_frames`] pack entries greedily, in
//! order, into as few frames as possible, each at most `max_frame_len` bytes
//! (the size accounting is exact), never cutting a signed run apart when it
//! fits in one frame (a frame's unsigned entries are proven only by their
//! run's signed end; see [`provable_units`](crate::domain::provable_units)). A delta whose entries do not fit in one
//! frame is split; every piece keeps the delta's channel, stream and base.
//!
//! Every frame of a split delta response is a complete
//! [`DeltaResponse`](super::DeltaResponse) whose deltas merge on their own,
//! so the receiver needs no reassembly. `more` tells the receiver to send
//! another [`DeltaRequest`](super::DeltaRequest), which a node does as soon
//! as the frame arrives (before merging it, so that the sender prepares the
//! next part meanwhile), so it is carried by the **last frame only**: every
//! other frame says `more: false`. The receiver therefore asks again at most
//! once per response, and not before the sender has handed over everything
//! it prepared for this one.
//!
//! [`decode_shared`] decodes a frame held in [`Bytes`](bytes::Bytes)
//! without copying payloads: they share the frame's buffer.
//!
//! The anti-entropy requests and digests are split too
//! ([`digest_request_frames`], [`digest_response_frames`],
//! [`delta_request_frames`]): every frame is a complete message of the
//! session, read on its own; a channel digest too large for a frame goes in
//! parts, each naming the streams it speaks for
//! ([`DigestPart`](crate::raw::DigestPart)).

mod envelope;
mod size;
mod split;
mod split_sync;
#[cfg(test)]
mod tests;

pub use envelope::{decode, decode_shared, encode, encoded_len, HEADER_LEN};
pub use split::{delta_response_frames, push_frames};
pub use split_sync::{delta_request_frames, digest_request_frames, digest_response_frames};
