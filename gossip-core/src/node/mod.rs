//! The node: [`Coordinator`] and its builder, handles, configuration and
//! health, and the task that drives the protocol engines.

mod budget;
mod builder;
mod command;
mod config;
mod coordinator;
mod driver;
mod health;
mod materialized;
mod subscription;
mod sync;

pub use budget::InboundBudget;
pub use builder::{CoordinatorBuilder, NoStore};
pub use config::Config;
pub use coordinator::{ChannelHandle, Coordinator, StreamHandle};
pub use health::{Health, NodeState, NodeStats, PeerHealth, ResourceUsage};
pub use materialized::MaterializedView;
pub use subscription::Subscription;
