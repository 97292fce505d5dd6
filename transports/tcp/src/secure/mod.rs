//! Authenticated, encrypted connections: the Noise handshake that proves
//! both sides' node ids ([`handshake`]) and the sealed frames that follow
//! ([`session`]).

pub(crate) mod handshake;
pub(crate) mod raw_peer;
pub(crate) mod session;
