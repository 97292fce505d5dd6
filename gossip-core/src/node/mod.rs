//! The node: [`Coordinator`] and its builder, handles, configuration and
//! health, and the task that drives the protocol engines.

mod budget;
mod builder;
mod channel_handle;
mod command;
mod config;
mod coordinator;
mod driver;
mod durability;
mod entry_feed;
mod health;
mod materialized;
mod replay;
mod sequence_range;
mod serve_budget;
mod sessions;
#[cfg(test)]
mod stream_api_tests;
mod stream_handle;
mod subscription;

pub use crate::protocol::{lazy_push::LazyPushConfig, swim::SwimConfig};
pub use budget::InboundBudget;
pub use builder::{CoordinatorBuilder, NoStore};
pub use channel_handle::ChannelHandle;
pub use config::Config;
pub use coordinator::Coordinator;
pub use durability::Durability;
pub use health::{Health, NodeState, NodeStats, PeerHealth, PeerStreamSync, ResourceUsage};
pub use materialized::MaterializedView;
pub use serve_budget::ServeBudget;
pub use stream_handle::StreamHandle;
pub use subscription::Subscription;
