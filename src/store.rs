//! Finding the repository and its session files on disk, and resolving the `SESSION`
//! references people type. Reading is bounded and checked; writing lives in `write.rs`.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::session::Document;

/// Session files are small; anything larger is refused before it is read into memory.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// What a look at the sessions directory found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Session files, sorted by name.
    pub files: Vec<PathBuf>,
    /// `*.md` entries that are not regular files, with what they are ("a FIFO").
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// What a non-regular file is, in words.
pub fn kind_of(t: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub root: PathBuf,
}

impl Repo {
    /// The nearest ancestor of `start` holding `.agents/` or `.git` (a linked worktree's
    /// `.git` is a file, which counts too), else `start` itself.
    pub fn discover(start: &Path) -> Repo {
        let start = absolute(start);
        // The nearest directory with either marker wins, so a fresh repository inside a
        // directory that has its own `.agents/` (a home directory, say) stays separate.
        let root = start
            .ancestors()
            .find(|dir| dir.join(".agents").is_dir() || dir.join(".git").exists())
            .unwrap_or(&start);
        Repo {
            root: root.to_path_buf(),
        }
    }

    pub fn agents_dir(&self) -> PathBuf {
        self.root.join(".agents")
    }
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join(".agents/sessions")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".agents/state")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join(".agents/logs")
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join(".agents/config.yaml")
    }

    /// The sessions directory, or a usage error telling how to create it.
    pub fn require_sessions_dir(&self) -> Result<PathBuf> {
        let dir = self.sessions_dir();
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::Usage(format!(
                "no sessions directory at {}; run `sessions init` in the repository root first",
                self.display(&dir)
            )))
        }
    }

    /// Session files (`*.md`, not hidden) in the sessions directory, sorted by name. Entries
    /// that are not regular files (FIFOs, sockets, devices, links to them) are left out: see
    /// [`Repo::scan_sessions`] for what was skipped.
    pub fn session_files(&self) -> Result<Vec<PathBuf>> {
        Ok(self.scan_sessions()?.files)
    }

    /// The sessions directory's `*.md` entries: regular files (and symlinks to them, or
    /// dangling ones, which fail when read) and, apart, what is skipped and why. Only file
    /// types are looked at (`lstat`/`stat`); nothing is opened, so a FIFO cannot hang a listing.
    pub fn scan_sessions(&self) -> Result<Scan> {
        let dir = self.require_sessions_dir()?;
        let entries = fs::read_dir(&dir).map_err(|e| Error::read(&dir, e))?;
        let mut scan = Scan::default();
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !name.ends_with(".md") || name.starts_with('.') {
                continue;
            }
            let Ok(t) = e.file_type() else { continue };
            let t = if t.is_symlink() {
                match fs::metadata(e.path()) {
                    Ok(m) => m.file_type(),
                    Err(_) => {
                        scan.files.push(e.path());
                        continue;
                    }
                }
            } else {
                t
            };
            if t.is_file() {
                scan.files.push(e.path());
            } else if !t.is_dir() {
                scan.skipped.push((e.path(), kind_of(&t)));
            }
        }
        scan.files.sort();
        scan.skipped.sort();
        Ok(scan)
    }

    /// Whether `path` (after following symlinks) lies inside the repository.
    pub fn contains(&self, path: &Path) -> bool {
        match (fs::canonicalize(path), fs::canonicalize(&self.root)) {
            (Ok(p), Ok(root)) => p.starts_with(root),
            _ => false,
        }
    }

    /// A path relative to the repository root when it is inside, for messages and JSON.
    pub fn display(&self, path: &Path) -> String {
        let p = path.strip_prefix(&self.root).unwrap_or(path);
        p.display().to_string()
    }

    /// Resolves a `SESSION` reference: a path, a file stem, or a unique substring of a stem
    /// or title (case-insensitive). Ambiguous and unknown references fail with exit code 1.
    /// Relative paths are taken from `cwd`. A file that is a symlink out of the repository is
    /// never read through: naming it is a usage error, and substring matching skips its title.
    pub fn resolve(&self, reference: &str, cwd: &Path) -> Result<PathBuf> {
        let path = self.resolve_unchecked(reference, cwd)?;
        if path.is_symlink() && !self.contains(&path) {
            return Err(Error::Usage(format!(
                "{} is a symlink leading outside the repository; sessions does not read or write through it",
                self.display(&path)
            )));
        }
        Ok(path)
    }

    fn resolve_unchecked(&self, reference: &str, cwd: &Path) -> Result<PathBuf> {
        let as_path = cwd.join(reference);
        if (reference.contains('/') || reference.ends_with(".md"))
            && (as_path.is_file() || as_path.is_symlink())
        {
            return Ok(as_path);
        }
        let files = self.session_files()?;
        let stem = |p: &Path| {
            p.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let wanted = reference.strip_suffix(".md").unwrap_or(reference);
        if let Some(p) = files.iter().find(|p| stem(p) == wanted) {
            return Ok(p.clone());
        }
        let needle = wanted.to_lowercase();
        if needle.is_empty() {
            return Err(Error::Usage("the session reference is empty".into()));
        }
        let matches: Vec<(PathBuf, String)> = files
            .iter()
            .filter_map(|p| {
                let inside = !p.is_symlink() || self.contains(p);
                let title = inside.then(|| read_title(p)).flatten().unwrap_or_default();
                let hit = stem(p).to_lowercase().contains(&needle)
                    || title.to_lowercase().contains(&needle);
                hit.then(|| (p.clone(), title))
            })
            .collect();
        match matches.len() {
            1 => Ok(matches
                .into_iter()
                .next()
                .map(|(p, _)| p)
                .unwrap_or_default()),
            0 => Err(Error::Check(format!(
                "no session matches `{reference}` in {}; run `sessions list --all` to see them",
                self.display(&self.sessions_dir())
            ))),
            _ => {
                let list: Vec<String> = matches
                    .iter()
                    .map(|(p, t)| format!("  {}  {}", stem(p), t))
                    .collect();
                Err(Error::Check(format!(
                    "`{reference}` matches {} sessions; use more of the name:\n{}",
                    matches.len(),
                    list.join("\n")
                )))
            }
        }
    }
}

fn read_title(path: &Path) -> Option<String> {
    let text = read_session(path).ok()?;
    let doc = Document::parse_frontmatter(&text);
    doc.str_value(&["session", "title"]).map(str::to_owned)
}

/// Reads a session file as UTF-8, refusing anything over [`MAX_FILE_BYTES`].
pub fn read_session(path: &Path) -> Result<String> {
    let mut buf = Vec::new();
    read_bounded(path, &mut buf)?;
    String::from_utf8(buf).map_err(|e| Error::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Reads `path` into `buf` (cleared first), refusing files over [`MAX_FILE_BYTES`] and
/// anything that is not a regular file. The file is opened non-blocking and checked with
/// `fstat` before any read, so a FIFO (even behind a symlink, even swapped in after a listing
/// looked) is refused at once instead of hanging.
pub fn read_bounded(path: &Path, buf: &mut Vec<u8>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    buf.clear();
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::read(path, e))?;
    let meta = file.metadata().map_err(|e| Error::read(path, e))?;
    if !meta.is_file() {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta.file_type()),
        });
    }
    let size = meta.len();
    if size > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    buf.reserve(size as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(buf)
        .map_err(|e| Error::read(path, e))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size: buf.len() as u64,
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(())
}

/// `path` made absolute against the current directory, without touching the file system.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
