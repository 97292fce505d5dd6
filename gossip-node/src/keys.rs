//! `gossip-node keygen` and `gossip-node id`: identity key files.

use gossip::Identity;

use crate::{cli::KeyFileArgs, error::CliResult};

/// Creates a new identity in a new key file (mode 0600; an existing file is
/// never overwritten) and prints its node id.
#[allow(clippy::print_stdout)] // the id is the output
pub(crate) fn keygen(args: &KeyFileArgs) -> CliResult<()> {
    let identity = Identity::generate();
    identity.save(&args.path)?;
    println!("{}", identity.node_id());
    Ok(())
}

/// Prints the node id of a key file.
#[allow(clippy::print_stdout)] // the id is the output
pub(crate) fn id(args: &KeyFileArgs) -> CliResult<()> {
    println!("{}", Identity::load(&args.path)?.node_id());
    Ok(())
}
