//! Replacing a file atomically: the new bytes go to a temp file beside it (so the rename stays
//! on one file system), optionally fsynced, renamed over the old file, and the directory
//! optionally fsynced. A crash leaves the old or the new file, never a torn one. The one copy
//! of this for session files (`write.rs`, which puts the temp file in place by its own
//! exchange), run records (`agents::record`) and agent settings (`hooks::install`).
//!
//! A leaf: imports nothing from the crate, so the agents engine and the hooks may use it.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// An I/O failure and the file it happened on (the directory, the temp file or the target).
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct Error {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// How a replacement is made.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// The temp file is named `<prefix>XXXXXX<suffix>` beside the target.
    pub prefix: &'a str,
    pub suffix: &'a str,
    /// The new file's mode; `None` keeps the temp file's (0600).
    pub permissions: Option<Permissions>,
    /// Whether failing to set `permissions` fails the write; otherwise it is best effort.
    pub permissions_required: bool,
    /// fsync the file's bytes before it is put in place.
    pub sync_file: bool,
    /// fsync the directory after the rename, so the rename itself survives a crash.
    pub sync_dir: bool,
}

/// The directory `path` is in (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temp file beside `path` holding `bytes`, set up as `opts` says, not yet in place. It is
/// removed when dropped.
pub fn prepare(path: &Path, bytes: &[u8], opts: &Options) -> Result<NamedTempFile, Error> {
    let dir = parent(path);
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error { path: p, source }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(opts.prefix)
        .suffix(opts.suffix)
        .tempfile_in(dir)
        .map_err(at(dir))?;
    if let Some(perms) = &opts.permissions {
        let set = tmp.as_file().set_permissions(perms.clone());
        if opts.permissions_required {
            set.map_err(at(tmp.path()))?;
        }
    }
    tmp.write_all(bytes).map_err(at(tmp.path()))?;
    if opts.sync_file {
        tmp.as_file().sync_all().map_err(at(tmp.path()))?;
    }
    Ok(tmp)
}

/// Atomically replaces (or creates) `path` with `bytes`.
pub fn write(path: &Path, bytes: &[u8], opts: &Options) -> Result<(), Error> {
    let tmp = prepare(path, bytes, opts)?;
    tmp.persist(path).map_err(|e| Error {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    if opts.sync_dir {
        sync_parent(path);
    }
    Ok(())
}

/// fsyncs the directory holding `path`, so a rename into it is durable. Best effort: the write
/// itself already succeeded.
pub fn sync_parent(path: &Path) {
    if let Ok(d) = File::open(parent(path)) {
        let _ = d.sync_all();
    }
}

/// The mode a file at `path` has now, if it exists.
pub fn current_permissions(path: &Path) -> Option<Permissions> {
    fs::metadata(path).ok().map(|m| m.permissions())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_the_file_with_the_mode_asked_for_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        fs::write(&path, "old").unwrap();
        let opts = Options {
            prefix: ".t-",
            suffix: ".tmp",
            permissions: Some(Permissions::from_mode(0o640)),
            permissions_required: true,
            sync_file: true,
            sync_dir: true,
        };
        write(&path, b"new", &opts).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "only the file itself is left");
    }

    #[test]
    fn a_missing_directory_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such");
        let err = write(&missing.join("a"), b"x", &Options::default()).unwrap_err();
        assert_eq!(err.path, missing);
    }
}
