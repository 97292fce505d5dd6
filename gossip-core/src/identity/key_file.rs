//! Key files: an [`Identity`] saved as text, readable by its owner only.
//!
//! The format is two lines: `gossip-identity-v1` and the 32-byte secret key
//! in lowercase base32hex. [`Identity::save`] creates the file with mode 0600
//! and never overwrites one; [`Identity::load`] refuses a file that others
//! can read or write (on Unix), as SSH does.

use std::{
    fmt,
    fs::{File, OpenOptions},
    io::{self, Read, Write},
    path::Path,
};

use super::Identity;
use crate::{domain::base32, error::Error};

/// The first line of a key file.
const HEADER: &str = "gossip-identity-v1";

/// The largest key file read: a valid one is under 80 bytes.
const MAX_LEN: u64 = 4096;

/// Why a key file could not be used ([`Error::KeyFile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFileErrorKind {
    /// There is no file at the path.
    NotFound,
    /// [`Identity::save`] found a file already there; it was left alone.
    AlreadyExists,
    /// The file can be read or written by others than its owner; it was not
    /// read. Fix with `chmod 600`.
    Permissions,
    /// The file is not a key file.
    Malformed,
    /// Another I/O failure.
    Io,
}

impl fmt::Display for KeyFileErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotFound => "not found",
            Self::AlreadyExists => "already exists",
            Self::Permissions => "readable or writable by others",
            Self::Malformed => "not a key file",
            Self::Io => "I/O failure",
        })
    }
}

fn key_file_error(path: &Path, kind: KeyFileErrorKind, detail: impl fmt::Display) -> Error {
    Error::KeyFile {
        path: path.to_path_buf(),
        kind,
        detail: detail.to_string(),
    }
}

fn io_error(path: &Path, error: &io::Error) -> Error {
    let kind = match error.kind() {
        io::ErrorKind::NotFound => KeyFileErrorKind::NotFound,
        io::ErrorKind::AlreadyExists => KeyFileErrorKind::AlreadyExists,
        _ => KeyFileErrorKind::Io,
    };
    key_file_error(path, kind, error)
}

impl Identity {
    /// Writes the identity to a new key file at `path`, readable and
    /// writable by the owner only (mode 0600 on Unix), flushed to disk.
    ///
    /// # Errors
    ///
    /// [`Error::KeyFile`]: [`AlreadyExists`](KeyFileErrorKind::AlreadyExists)
    /// if anything is at `path` (it is never overwritten), otherwise
    /// [`Io`](KeyFileErrorKind::Io) or [`NotFound`](KeyFileErrorKind::NotFound)
    /// for a missing directory.
    ///
    /// ```
    /// use gossip_core::Identity;
    ///
    /// let dir = std::env::temp_dir().join(format!("gossip-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("node.key");
    /// # let _ = std::fs::remove_file(&path);
    /// let identity = Identity::generate();
    /// identity.save(&path)?;
    /// assert_eq!(Identity::load(&path)?.node_id(), identity.node_id());
    /// assert!(identity.save(&path).is_err(), "never overwritten");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| io_error(path, &e))?;
        let text = format!("{HEADER}\n{}\n", base32::encode(&self.secret_bytes()));
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(path, &e))
    }

    /// Reads the identity saved at `path` by [`save`](Self::save).
    ///
    /// # Errors
    ///
    /// [`Error::KeyFile`]: [`NotFound`](KeyFileErrorKind::NotFound),
    /// [`Permissions`](KeyFileErrorKind::Permissions) when others than the
    /// owner may read or write it (Unix),
    /// [`Malformed`](KeyFileErrorKind::Malformed), or
    /// [`Io`](KeyFileErrorKind::Io).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| io_error(path, &e))?;
        let metadata = file.metadata().map_err(|e| io_error(path, &e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(key_file_error(
                    path,
                    KeyFileErrorKind::Permissions,
                    format_args!("mode {:o}; run `chmod 600` on it", mode & 0o777),
                ));
            }
        }
        if !metadata.is_file() {
            return Err(key_file_error(
                path,
                KeyFileErrorKind::Malformed,
                "not a regular file",
            ));
        }
        let mut text = String::new();
        file.take(MAX_LEN)
            .read_to_string(&mut text)
            .map_err(|e| io_error(path, &e))?;
        let mut lines = text.lines().map(str::trim);
        let malformed = |detail| key_file_error(path, KeyFileErrorKind::Malformed, detail);
        if lines.next() != Some(HEADER) {
            return Err(malformed(format!("the first line is not {HEADER:?}")));
        }
        let secret = lines
            .next()
            .and_then(base32::decode::<32>)
            .ok_or_else(|| malformed("the second line is not a base32 secret key".to_string()))?;
        if lines.any(|line| !line.is_empty()) {
            return Err(malformed("text after the secret key".to_string()));
        }
        Ok(Self::from_secret_bytes(secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("gossip-key-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn kind(error: Error) -> KeyFileErrorKind {
        match error {
            Error::KeyFile { kind, .. } => kind,
            other => panic!("not a key file error: {other}"),
        }
    }

    #[test]
    fn saved_identities_load_back_and_are_never_overwritten() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("node.key");
        let identity = Identity::from_seed("alice");
        identity.save(&path).unwrap();
        assert_eq!(
            Identity::load(&path).unwrap().secret_bytes(),
            identity.secret_bytes()
        );
        let before = std::fs::read(&path).unwrap();
        assert_eq!(
            kind(Identity::from_seed("bravo").save(&path).unwrap_err()),
            KeyFileErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(
            kind(Identity::load(dir.0.join("missing.key")).unwrap_err()),
            KeyFileErrorKind::NotFound
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private_and_shared_ones_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("private");
        let path = dir.0.join("node.key");
        Identity::generate().save(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = Identity::load(&path).unwrap_err();
            assert_eq!(
                kind(error.clone()),
                KeyFileErrorKind::Permissions,
                "{mode:o}"
            );
            assert!(error.to_string().contains("chmod 600"), "{error}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(Identity::load(&path).is_ok());
    }

    fn write_private(path: &Path, text: &str) {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    #[test]
    fn only_the_two_line_format_loads() {
        let dir = TempDir::new("format");
        let secret = base32::encode(&[7; 32]);
        for (name, text) in [
            ("empty", String::new()),
            ("no-header", format!("{secret}\n")),
            ("short", format!("{HEADER}\n{}\n", &secret[..51])),
            ("upper", format!("{HEADER}\n{}\n", secret.to_uppercase())),
            ("trailing", format!("{HEADER}\n{secret}\nmore\n")),
        ] {
            let path = dir.0.join(name);
            write_private(&path, &text);
            assert_eq!(
                kind(Identity::load(&path).unwrap_err()),
                KeyFileErrorKind::Malformed,
                "{name}"
            );
        }
        let path = dir.0.join("good");
        write_private(&path, &format!("{HEADER}\r\n{secret}\r\n\r\n"));
        assert_eq!(Identity::load(&path).unwrap().secret_bytes(), [7; 32]);
    }
}
