//! The wire protocol: messages, their codec, and the sans-IO engines
//! (anti-entropy, eager push, lazy push, SWIM failure detection).

pub mod anti_entropy;
pub mod author_push;
pub mod codec;
pub mod lazy_push;
pub mod messages;
pub mod push;
pub mod swim;

pub use author_push::{AuthorPush, RunEntry, StreamRef, StreamTag};
pub use messages::*;
