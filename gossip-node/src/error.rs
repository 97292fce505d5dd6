//! The CLI's error type: every variant renders as one actionable line.

use std::{net::SocketAddr, path::PathBuf};

/// What went wrong, phrased for the person at the terminal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// A flag or config value is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The config file cannot be read or parsed.
    #[error("cannot use config file {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The store cannot be opened.
    #[error("cannot open the store at {path}: {reason} (check the path and its permissions, or pass --store memory)")]
    Store {
        /// The store's path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The pre-shared key file is unusable.
    #[error("cannot use key file {path}: {reason} (expected 64 hex characters, e.g. from `openssl rand -hex 32`)")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A local address cannot be bound.
    #[error("cannot listen for {what} on {addr}: {reason} (is another process using it? port 0 picks a free one)")]
    Bind {
        /// Which endpoint.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A control address is not on loopback.
    #[error("{flag} {addr} is not a loopback address: the control endpoint serves this machine only; use 127.0.0.1:PORT (any 127.x.y.z) or [::1]:PORT")]
    ControlNotLoopback {
        /// The flag (or config key) that named it.
        flag: &'static str,
        /// The address.
        addr: SocketAddr,
    },
    /// The control token file is unusable.
    #[error("cannot use control token file {path}: {reason}")]
    Token {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The control endpoint of a running node cannot be reached.
    #[error("cannot reach the control endpoint at {addr}: {reason} (is `gossip-node run` running? it prints its control address at start)")]
    ControlUnreachable {
        /// The address tried.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The running node answered with an error.
    #[error("the node answered: {0}")]
    Remote(String),
    /// The control connection broke or spoke nonsense.
    #[error("control connection to {addr}: {reason}")]
    Control {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The demo did not converge in time.
    #[error("the nodes did not converge within {seconds} s ({detail}); try a larger --timeout")]
    NotConverged {
        /// The limit.
        seconds: u64,
        /// What each node held.
        detail: String,
    },
    /// Not every demo node learned in time that it was let into the channel.
    #[error("not every node learned it may write to the channel within {seconds} s (still waiting: {waiting}); try a larger --timeout")]
    NotAdmitted {
        /// The limit.
        seconds: u64,
        /// The nodes that did not.
        waiting: String,
    },
    /// The gossip node failed.
    #[error("{0}")]
    Node(#[from] gossip::Error),
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl CliError {
    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// The error and its sources on one line: `a: b: c`, without repeating a
/// source whose text is already shown, and with newlines flattened.
pub(crate) fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Result` with [`CliError`].
pub(crate) type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_sources_and_flattens_newlines() {
        let io = std::io::Error::other("disk\nfull");
        let error = CliError::io("writing x", io);
        let line = one_line(&error);
        assert_eq!(line, "writing x: disk full");
        assert!(!line.contains('\n'));
    }
}
