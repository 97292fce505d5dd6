//! Authenticated, encrypted connections: the Noise handshake that proves
//! both sides' node ids ([`handshake`]) and the sealed frames that follow
//! ([`session`]), read by the connections in batches ([`batch_reader`]).

pub(crate) mod batch_reader;
pub(crate) mod handshake;
pub(crate) mod raw_peer;
pub(crate) mod session;
