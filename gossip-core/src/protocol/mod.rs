//! The wire protocol: messages, their codec, and the sans-IO engines
//! (anti-entropy, eager push, SWIM failure detection).

pub mod codec;
pub mod messages;

pub use messages::*;
