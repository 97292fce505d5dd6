//! A channel's control log: membership, roles and settings as signed,
//! replicated data.
//!
//! Every channel has a reserved stream, [`StreamId::control`], whose entries
//! carry [`ControlOp`]s. It is signed, hash-linked, replicated and verified
//! like any other stream; [`ControlState::fold`] turns it into the current
//! members, roles, cut-offs and stream settings, the same on every replica
//! that holds the same entries.

mod op;
mod role;
mod state;
#[cfg(test)]
mod tests;

pub use op::{
    ControlOp, Cutoff, MAX_ADDRESS_LEN, MAX_CONTROL_OP_BYTES, MAX_LABEL_LEN, MAX_MEMBER_ADDRESSES,
};
pub use role::Role;
pub use state::{ControlState, Member, Permission};
