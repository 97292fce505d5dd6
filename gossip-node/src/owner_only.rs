//! Files and directories readable by their owner only: the directories the
//! node creates for its data (mode 0700), its store files and its control
//! token (mode 0600).
//!
//! Directories and files that exist already are left as they are (a
//! directory may be the user's working directory); callers check and
//! report loose permissions where it matters.

use std::{
    fs::{DirBuilder, File, OpenOptions},
    io::{self, Write},
    path::Path,
};

/// The mode of a directory the node creates.
pub(crate) const DIR_MODE: u32 = 0o700;
/// The mode of a file the node creates.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents with mode 0700 (on Unix); an
/// existing directory is left alone.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Creates the parent directories of `path` as [`create_dir_all`] does.
pub(crate) fn create_parent_dirs(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => create_dir_all(parent),
        None => Ok(()),
    }
}

/// Creates an empty file at `path` with mode 0600 (on Unix) unless one is
/// there already; never truncates. Returns whether it created it.
pub(crate) fn create_file(path: &Path) -> io::Result<bool> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error),
    }
}

/// Replaces (or creates) the file at `path` with `contents`, atomically: the
/// contents go to a new file of mode 0600 (on Unix) beside it, flushed to
/// disk, which is then renamed over `path`. A reader sees the old file or
/// the new one, never a partial one, and never a new one others can read.
/// `unique` distinguishes the temporary file from other writers'.
pub(crate) fn replace_file(path: &Path, contents: &[u8], unique: &str) -> io::Result<()> {
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        ));
    };
    let mut temporary = name.to_owned();
    temporary.push(format!(".{unique}.tmp"));
    let temporary = path.with_file_name(temporary);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let written = options.open(&temporary).and_then(|mut file: File| {
        file.write_all(contents)?;
        file.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    renamed
}

/// The permission bits of `path` that give others than its owner access
/// (`mode & 0o077`), when there are any (always `None` off Unix).
pub(crate) fn loose_mode(metadata: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        None
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_directories_and_files_are_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("node");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("data")), 0o700, "parents too");
        let file = dir.join("store.db");
        assert!(create_file(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
        std::fs::write(&file, b"kept").unwrap();
        assert!(!create_file(&file).unwrap(), "an existing file stays");
        assert_eq!(std::fs::read(&file).unwrap(), b"kept");
    }

    #[test]
    fn replaced_files_are_owner_only_and_whole() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("token");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        replace_file(&path, b"new", "1").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o600, "a new file, not the old one rewritten");
        let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        assert_eq!(loose_mode(&std::fs::metadata(&path).unwrap()), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(loose_mode(&std::fs::metadata(&path).unwrap()), Some(0o640));
    }
}
