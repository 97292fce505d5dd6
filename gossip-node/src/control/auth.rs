//! The control token: a random secret that `run` writes to an owner-only
//! file at every start, and that every request carries.
//!
//! A client proves it may act as the node by reading that file, which only
//! the user running the node can do. The file is `KEY_FILE.control-token`
//! beside the node's identity key file unless `--token-file` names another;
//! it holds the token as 64 hex characters and a newline.

use std::{
    fmt,
    io::Read,
    path::{Path, PathBuf},
};

use crate::{
    config::parse_key,
    error::{CliError, CliResult},
    owner_only,
};

use super::{Credentials, PROTOCOL_VERSION};

/// The largest token file read: a valid one is 65 bytes.
const MAX_TOKEN_FILE: u64 = 1024;

/// What the token file's name adds to the identity key file's.
const TOKEN_SUFFIX: &str = ".control-token";

/// The secret that authenticates control requests.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ControlToken([u8; 32]);

impl fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ControlToken(..)")
    }
}

impl ControlToken {
    /// A new random token, from the operating system's generator.
    pub(crate) fn generate() -> CliResult<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| {
            CliError::io(
                "generating the control token",
                std::io::Error::other(error.to_string()),
            )
        })?;
        Ok(Self(bytes))
    }

    /// The token as requests carry it: 64 lowercase hex characters.
    pub(crate) fn to_hex(&self) -> String {
        use std::fmt::Write as _;
        self.0
            .iter()
            .fold(String::with_capacity(64), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }

    /// Whether `presented` (the hex text a request carries) is this token.
    /// The comparison takes the same time wherever the two differ.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        let Ok(other) = parse_key(presented) else {
            return false;
        };
        let difference = self
            .0
            .iter()
            .zip(other.iter())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b));
        std::hint::black_box(difference) == 0
    }

    /// Writes the token to `path`, replacing any file there atomically with a
    /// new one of mode 0600; missing directories are created with mode 0700.
    pub(crate) fn write(&self, path: &Path) -> CliResult<()> {
        let failed = |error: std::io::Error| CliError::Token {
            path: path.to_owned(),
            reason: format!("cannot write it: {error}"),
        };
        owner_only::create_parent_dirs(path).map_err(failed)?;
        let unique = format!("{}", std::process::id());
        owner_only::replace_file(path, format!("{}\n", self.to_hex()).as_bytes(), &unique)
            .map_err(failed)
    }

    /// Reads the token `run` wrote to `path`, refusing a file that others
    /// than its owner may read or write.
    pub(crate) fn read(path: &Path) -> CliResult<Self> {
        let error = |reason: String| CliError::Token {
            path: path.to_owned(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| {
            error(if e.kind() == std::io::ErrorKind::NotFound {
                "not found (is the node running? `gossip-node run` writes it at start and prints \
                 its path)"
                    .to_owned()
            } else {
                e.to_string()
            })
        })?;
        let metadata = file.metadata().map_err(|e| error(e.to_string()))?;
        if let Some(mode) = owner_only::loose_mode(&metadata) {
            return Err(error(format!(
                "mode {mode:o}: others than its owner may read or write it, so it was not \
                 used (`gossip-node run` creates it with mode 600)"
            )));
        }
        if !metadata.is_file() {
            return Err(error("not a regular file".into()));
        }
        let mut text = String::new();
        file.take(MAX_TOKEN_FILE)
            .read_to_string(&mut text)
            .map_err(|e| error(e.to_string()))?;
        let bytes = parse_key(&text).map_err(|reason| {
            error(format!(
                "not a control token ({reason}; expected 64 hex characters)"
            ))
        })?;
        Ok(Self(bytes))
    }
}

/// Where `run` writes the token when not told: beside the identity key
/// file, `KEY_FILE.control-token`.
pub(crate) fn default_token_file(identity: &Path) -> PathBuf {
    let mut name = identity.as_os_str().to_owned();
    name.push(TOKEN_SUFFIX);
    PathBuf::from(name)
}

/// Why a request's credentials are refused, if they are: a missing or wrong
/// token, or another protocol version. The token is checked first.
pub(crate) fn check(token: &ControlToken, credentials: &Credentials) -> Result<(), String> {
    let authorized = credentials
        .token
        .as_deref()
        .is_some_and(|presented| token.matches(presented));
    if !authorized {
        let what = if credentials.token.is_some() {
            "a wrong control token"
        } else {
            "no control token"
        };
        return Err(format!(
            "unauthorized: the request carries {what}; clients read the token from the file \
             `gossip-node run` printed at start (--token-file)"
        ));
    }
    match credentials.v {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => Ok(()),
        other => Err(format!(
            "unsupported control protocol version {}: this node speaks version {PROTOCOL_VERSION}",
            other.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves() {
        let token = ControlToken::generate().unwrap();
        let other = ControlToken::generate().unwrap();
        assert_ne!(token, other);
        assert!(token.matches(&token.to_hex()));
        assert!(token.matches(&token.to_hex().to_uppercase()));
        assert!(!token.matches(&other.to_hex()));
        assert!(!token.matches(""));
        assert!(!token.matches(&token.to_hex()[..63]));
        assert!(!format!("{token:?}").contains(&token.to_hex()[..8]));
    }

    #[test]
    fn the_token_file_sits_beside_the_key_file() {
        assert_eq!(
            default_token_file(Path::new("dir/a.key")),
            PathBuf::from("dir/a.key.control-token")
        );
    }

    #[cfg(unix)]
    #[test]
    fn token_files_are_owner_only_and_loose_ones_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("node");
        let path = dir.join("a.key.control-token");
        let token = ControlToken::generate().unwrap();
        token.write(&path).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700, "the directory it created");
        assert_eq!(ControlToken::read(&path).unwrap(), token);
        // A restart replaces it.
        let next = ControlToken::generate().unwrap();
        next.write(&path).unwrap();
        assert_eq!(ControlToken::read(&path).unwrap(), next);
        assert_eq!(mode(&path), 0o600);
        for loose in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
            let error = ControlToken::read(&path).unwrap_err().to_string();
            assert!(error.contains("others"), "{loose:o}: {error}");
            assert!(error.contains(&path.display().to_string()), "{error}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "nonsense").unwrap();
        let error = ControlToken::read(&path).unwrap_err().to_string();
        assert!(error.contains("not a control token"), "{error}");
        let error = ControlToken::read(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("is the node running"), "{error}");
    }

    #[test]
    fn credentials_need_the_token_then_the_version() {
        let token = ControlToken::generate().unwrap();
        let parse = |json: &str| serde_json::from_str::<Credentials>(json).unwrap();
        let right = format!(r#"{{"v":1,"token":"{}","op":"status"}}"#, token.to_hex());
        assert_eq!(check(&token, &parse(&right)), Ok(()));
        let error = check(&token, &parse(r#"{"op":"status"}"#)).unwrap_err();
        assert!(error.contains("no control token"), "{error}");
        let wrong = ControlToken::generate().unwrap().to_hex();
        let error = check(&token, &parse(&format!(r#"{{"v":1,"token":"{wrong}"}}"#))).unwrap_err();
        assert!(error.contains("wrong control token"), "{error}");
        let old = format!(r#"{{"token":"{}"}}"#, token.to_hex());
        let error = check(&token, &parse(&old)).unwrap_err();
        assert!(error.contains("version"), "{error}");
        let future = format!(r#"{{"v":2,"token":"{}"}}"#, token.to_hex());
        assert!(check(&token, &parse(&future)).is_err());
    }
}
