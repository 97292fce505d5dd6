//! The scenarios, one module each.

pub(crate) mod baselines;
pub(crate) mod catchup;
mod lag_check;
pub(crate) mod latency;
pub(crate) mod memory;
pub(crate) mod overhead;
pub(crate) mod throughput;
pub(crate) mod transport;
