//! Finding the repository and its session files on disk, and resolving the `SESSION`
//! references people type. The one place that knows the `.agents/` layout (sessions, state,
//! logs, locks, archive, runs) and what a session's id is ([`SessionId`]). Reading is bounded
//! and checked; writing lives in `write.rs`.

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

/// A session's id: its file's stem, `YYYYMMDD-HHMMSS-slug` for files `sessions new` made (any
/// stem for others). It names the session's runs (`.agents/state/runs/<id>/`), its logs and
/// its run targets (`<id>:AGENT`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// The id of the session file at `path` (its stem).
    pub fn of(path: &Path) -> SessionId {
        SessionId(
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    }

    /// A stem as a person typed it, when it can only be one: not empty, and no `/`, `.` or
    /// NUL (so it cannot step out of the directory it is joined to).
    pub fn parse(text: &str) -> Option<SessionId> {
        (!text.is_empty() && !text.contains(['/', '.', '\0'])).then(|| SessionId(text.into()))
    }

    /// An id as a run record or session entry spells it, unchecked.
    pub fn from_record(text: &str) -> SessionId {
        SessionId(text.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<id>.md`.
    pub fn file_name(&self) -> String {
        format!("{}.md", self.0)
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

impl std::ops::Deref for SessionId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for SessionId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SessionId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for SessionId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// Where things live under `.agents/`. Nothing else in the crate spells these paths (the
/// agents engine takes the state and logs directories from here).
const AGENTS_DIR: &str = ".agents";
const SESSIONS_DIR: &str = ".agents/sessions";
const STATE_DIR: &str = ".agents/state";
const LOGS_DIR: &str = ".agents/logs";
const CONFIG_FILE: &str = ".agents/config.yaml";
const ARCHIVE_DIR: &str = "archive";
const LOCKS_DIR: &str = "locks";
const RUNS_DIR: &str = "runs";

#[derive(Debug, Clone)]
pub struct Repo {
    /// The checkout whose `.agents/` holds the sessions: the main checkout when a command runs
    /// in a linked git worktree (see `docs/worktrees.md`), else the repository found.
    pub root: PathBuf,
    /// The checkout the command runs in: a linked worktree's top, or `root`.
    pub worktree: PathBuf,
}

impl Repo {
    /// The nearest ancestor of `start` holding `.agents/` or `.git`, else `start` itself. When
    /// that is a linked git worktree (its `.git` is a file naming `…/.git/worktrees/<id>`, which
    /// has a `commondir`), the sessions are the main checkout's, so `root` is the main
    /// checkout (unless it has no `.agents/` and the worktree does, e.g. beside a bare
    /// repository). Only two small files are read: no `git` runs on the hook path.
    pub fn discover(start: &Path) -> Repo {
        let start = absolute(start);
        // The nearest directory with either marker wins, so a fresh repository inside a
        // directory that has its own `.agents/` (a home directory, say) stays separate.
        let found = start
            .ancestors()
            .find(|dir| dir.join(".agents").is_dir() || dir.join(".git").exists())
            .unwrap_or(&start)
            .to_path_buf();
        let root = crate::worktree::main_checkout(&found)
            .filter(|main| main.join(".agents").is_dir() || !found.join(".agents").is_dir())
            .unwrap_or_else(|| found.clone());
        Repo {
            root,
            worktree: found,
        }
    }

    /// The repository at `root`, known to be its own checkout (a run record's root).
    pub fn at(root: PathBuf) -> Repo {
        Repo {
            worktree: root.clone(),
            root,
        }
    }

    /// Whether the command runs in a linked worktree whose sessions are the main checkout's.
    pub fn in_linked_worktree(&self) -> bool {
        self.root != self.worktree
    }

    pub fn agents_dir(&self) -> PathBuf {
        self.root.join(AGENTS_DIR)
    }
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join(SESSIONS_DIR)
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join(LOGS_DIR)
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }
    /// The archived session files (`close --archive`), by name; none when there is no archive.
    pub fn archived_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.archive_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "md")
                    && fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
            })
            .collect();
        sort_by_name(&mut files);
        files
    }

    /// Whether an archived session's stem contains `needle` (lower case).
    fn is_archived(&self, needle: &str) -> bool {
        self.archived_files()
            .iter()
            .any(|p| SessionId::of(p).0.to_lowercase().contains(needle))
    }

    /// Where `close --archive` moves sessions.
    pub fn archive_dir(&self) -> PathBuf {
        self.sessions_dir().join(ARCHIVE_DIR)
    }
    /// The writers' lock files (see `write.rs`).
    pub fn locks_dir(&self) -> PathBuf {
        self.state_dir().join(LOCKS_DIR)
    }
    /// The run records of one session.
    pub fn runs_dir(&self, session: &SessionId) -> PathBuf {
        self.state_dir().join(RUNS_DIR).join(session.as_str())
    }
    /// `<sessions>/<id>.md`: where the session's file is, whether or not it exists.
    pub fn session_file(&self, session: &SessionId) -> PathBuf {
        self.sessions_dir().join(session.file_name())
    }

    /// The sessions directory, or a usage error telling how to create it.
    pub fn require_sessions_dir(&self) -> Result<PathBuf> {
        let dir = self.sessions_dir();
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::NotInitialised {
                dir: self.display(&dir),
                hint: "run `sessions init` in the repository root first",
            })
        }
    }

    /// Session files (`*.md`, not hidden) in the sessions directory, sorted by name. Entries
    /// that are not regular files (FIFOs, sockets, devices, links to them) are left out: see
    /// [`Repo::scan_sessions`] for what was skipped.
    pub fn session_files(&self) -> Result<Vec<PathBuf>> {
        Ok(self.scan_sessions()?.files)
    }

    /// [`Repo::session_files`], but none (not an error) before `sessions init`: for callers
    /// to whom "no sessions directory" is just "no sessions". Other failures still count.
    pub fn session_files_if_any(&self) -> Result<Vec<PathBuf>> {
        match self.session_files() {
            Err(Error::NotInitialised { .. }) => Ok(Vec::new()),
            other => other,
        }
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
        sort_by_name(&mut scan.files);
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
        use std::os::unix::ffi::OsStrExt;
        // Listings call this for every file: the common case (`root/…`, UTF-8, no empty or
        // `.` components, which the component-wise way would drop) is a byte slice.
        let plain = |b: &[u8], absolute: bool| {
            let mut parts = b.split(|&c| c == b'/');
            (!absolute || parts.next() == Some(b""))
                && !b.is_empty()
                && parts.all(|c| !c.is_empty() && c != b".")
        };
        let root = self.root.as_os_str().as_bytes();
        let rest = path
            .as_os_str()
            .as_bytes()
            .strip_prefix(root)
            .and_then(|r| r.strip_prefix(b"/"))
            .filter(|r| plain(root, root.starts_with(b"/")) && plain(r, false));
        if let Some(text) = rest.and_then(|r| std::str::from_utf8(r).ok()) {
            return text.to_owned();
        }
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
            return Err(Error::SymlinkOutside {
                path: self.display(&path),
                hint: "sessions does not read or write through it",
            });
        }
        Ok(path)
    }

    fn resolve_unchecked(&self, reference: &str, cwd: &Path) -> Result<PathBuf> {
        let as_path = cwd.join(reference);
        if (reference.contains('/') || reference.ends_with(".md"))
            && (as_path.is_file() || as_path.is_symlink())
        {
            // A linked worktree's checked-out copy of a session names the main checkout's file.
            let copy = absolute(&as_path);
            if self.in_linked_worktree()
                && let Ok(rel) = copy.strip_prefix(self.worktree.join(".agents/sessions"))
            {
                return Ok(self.sessions_dir().join(rel));
            }
            return Ok(as_path);
        }
        let wanted = reference.strip_suffix(".md").unwrap_or(reference);
        if let Some(p) = self.session_by_stem(wanted) {
            return Ok(p);
        }
        let files = self.session_files()?;
        let stem = |p: &Path| SessionId::of(p).0;
        if let Some(p) = files.iter().find(|p| stem(p) == wanted) {
            return Ok(p.clone());
        }
        let needle = wanted.to_lowercase();
        if needle.is_empty() {
            return Err(Error::Usage("the session reference is empty".into()));
        }
        // The summary cache knows most titles (what `list` shows): a file whose title cannot
        // match is not read. The others are read as before (a file that is not UTF-8
        // throughout matches by name only); on every core from a few dozen files on.
        let cache = crate::summary_cache::Cache::load(&self.state_dir());
        let one = |p: &PathBuf| self.substring_match(cache.as_ref(), p, &needle);
        let matches: Vec<(PathBuf, String)> = if files.len() >= 64 {
            use rayon::prelude::*;
            files.par_iter().filter_map(one).collect()
        } else {
            files.iter().filter_map(one).collect()
        };
        match matches.len() {
            1 => Ok(matches
                .into_iter()
                .next()
                .map(|(p, _)| p)
                .unwrap_or_default()),
            0 => Err(Error::NoSuchSession {
                reference: reference.to_string(),
                dir: self.display(&self.sessions_dir()),
                hint: if self.is_archived(&needle) {
                    "it was archived (`sessions close --archive`): `sessions list --archived` lists it"
                } else {
                    "run `sessions list --all` to see them (archived ones: `sessions list --archived`)"
                },
                close: self.close_to(&files, wanted),
            }),
            _ => Err(Error::Ambiguous {
                reference: reference.to_string(),
                matches: matches.into_iter().map(|(p, t)| (stem(&p), t)).collect(),
                hint: "use more of the name",
            }),
        }
    }
}

impl Repo {
    /// Whether `p` matches the lowercased `needle` by stem or title, as [`Repo::resolve`]
    /// matches a reference that names no file and no stem; its title if it does.
    fn substring_match(
        &self,
        cache: Option<&crate::summary_cache::Cache>,
        p: &Path,
        needle: &str,
    ) -> Option<(PathBuf, String)> {
        let stem_hit = SessionId::of(p).0.to_lowercase().contains(needle);
        let title = match cache.and_then(|c| c.title(p)) {
            Some(None) => None,
            Some(Some(t)) if !stem_hit && !t.to_lowercase().contains(needle) => None,
            _ => (!p.is_symlink() || self.contains(p))
                .then(|| read_title(p, (!stem_hit).then_some(needle)))
                .flatten(),
        }
        .unwrap_or_default();
        let hit = stem_hit || title.to_lowercase().contains(needle);
        hit.then(|| (p.to_path_buf(), title))
    }

    /// The first of `references` that [`Repo::resolve`] resolves to the session `stem`, found
    /// with one listing of the sessions directory for all of them: a reference that another
    /// session's stem also contains is ambiguous without a file read, and titles are read
    /// (or taken from the summary cache) only for a reference that no other stem contains.
    pub fn first_naming(&self, references: &[String], stem: &str, cwd: &Path) -> Option<usize> {
        let files = self.session_files().ok()?;
        let ours = files.iter().find(|p| SessionId::of(p).0 == stem)?;
        if ours.is_symlink() && !self.contains(ours) {
            return None;
        }
        let stems: Vec<String> = files.iter().map(|p| SessionId::of(p).0).collect();
        let mut cache = None;
        references.iter().position(|reference| {
            let wanted = reference.strip_suffix(".md").unwrap_or(reference);
            if reference.contains('/') || reference.ends_with(".md") || wanted.is_empty() {
                return self
                    .resolve(reference, cwd)
                    .is_ok_and(|p| SessionId::of(&p) == stem);
            }
            if let Some(p) = self.session_by_stem(wanted) {
                return self
                    .resolve(reference, cwd)
                    .is_ok_and(|_| SessionId::of(&p) == stem);
            }
            if stems.iter().any(|s| s == wanted) {
                return wanted == stem;
            }
            let needle = wanted.to_lowercase();
            let mut others = files.iter().zip(&stems).filter(|(_, s)| *s != stem);
            if !stem.to_lowercase().contains(&needle)
                || others.any(|(_, s)| s.to_lowercase().contains(&needle))
            {
                return false;
            }
            let cache =
                cache.get_or_insert_with(|| crate::summary_cache::Cache::load(&self.state_dir()));
            let others: Vec<&PathBuf> = files
                .iter()
                .zip(&stems)
                .filter(|(_, s)| *s != stem)
                .map(|(p, _)| p)
                .collect();
            // The first other session whose title has it makes it ambiguous.
            let names = |p: &&PathBuf| self.substring_match(cache.as_ref(), p, &needle).is_some();
            let ambiguous = if others.len() >= 64 {
                use rayon::prelude::*;
                others.par_iter().any(names)
            } else {
                others.iter().any(names)
            };
            !ambiguous
        })
    }

    /// The sessions whose slug or title is close to a reference that matched none, as
    /// (stem, title), best first. Only on that error path: titles are read here.
    fn close_to(&self, files: &[PathBuf], wanted: &str) -> Vec<(String, String)> {
        let known: Vec<(String, String)> = files
            .iter()
            .filter(|p| !p.is_symlink() || self.contains(p))
            .map(|p| (SessionId::of(p).0, read_title(p, None).unwrap_or_default()))
            .collect();
        let slug = |stem: &str| {
            crate::session::name::parse(&format!("{stem}.md"))
                .map_or_else(|_| stem.to_string(), |n| n.slug.to_string())
        };
        crate::suggest::closest(wanted, &known, |(stem, title)| {
            let mut keys = crate::suggest::words(&slug(stem));
            keys.extend(crate::suggest::words(title));
            keys
        })
        .into_iter()
        .cloned()
        .collect()
    }

    /// `<sessions>/<stem>.md` when a listing would show it under that stem: one `lstat`
    /// instead of listing the directory. `None` sends the caller to the listing, which then
    /// decides exactly as before.
    fn session_by_stem(&self, stem: &str) -> Option<PathBuf> {
        if stem.is_empty() || stem.starts_with('.') || stem.contains(['/', '\0']) {
            return None;
        }
        let path = self.sessions_dir().join(format!("{stem}.md"));
        let meta = fs::symlink_metadata(&path).ok()?;
        let listed = meta.is_file()
            || (meta.file_type().is_symlink() && fs::metadata(&path).is_ok_and(|m| m.is_file()));
        listed.then_some(path)
    }
}

/// All in one directory, so the names decide: comparing the bytes of the whole paths (same
/// prefix) gives the order of a component-wise path sort at the cost of a `memcmp`.
fn sort_by_name(files: &mut [PathBuf]) {
    use std::os::unix::ffi::OsStrExt;
    fn b(p: &Path) -> &[u8] {
        p.as_os_str().as_bytes()
    }
    // All are `dir/<name>` with one `dir`: the bytes after it decide, so 10,000 long paths are
    // not compared from their first byte on.
    let dir = files
        .first()
        .and_then(|f| f.parent())
        .map_or(0, |d| d.as_os_str().as_bytes().len());
    let shared = files
        .iter()
        .all(|p| b(p).get(..dir) == b(&files[0]).get(..dir));
    let skip = if shared { dir } else { 0 };
    files.sort_unstable_by(|x, y| b(x)[skip..].cmp(&b(y)[skip..]));
}

/// The title of the session at `path`, from its head. With `needle` (lowercase),
/// it is only wanted if it contains the needle: when the needle has no whitespace and no
/// `'`, and the head has no `\`, any match in the title is a verbatim match in the head's
/// text (YAML changes a title's characters only by escapes, `''` and line folding), so a
/// head without the needle is not parsed at all and `None` means "cannot match".
///
/// The whole file is read, as before: a file that is not UTF-8 throughout (or too large)
/// still matches by name only. Only its head is searched and parsed.
fn read_title(path: &Path, needle: Option<&str>) -> Option<String> {
    let whole = read_session(path).ok()?;
    let head = crate::session::document::frontmatter_extent(whole.as_bytes(), true);
    let text = &whole[..head.unwrap_or(whole.len())];
    if let Some(needle) = needle {
        let verbatim =
            !needle.contains(|c: char| c.is_whitespace() || c == '\'') && !text.contains('\\');
        if verbatim && !text.to_lowercase().contains(needle) {
            return None;
        }
    }
    let doc = Document::parse_frontmatter(text);
    doc.str_value(&["session", "title"]).map(str::to_owned)
}

/// Reads a session file as UTF-8, refusing anything over [`MAX_FILE_BYTES`].
pub fn read_session(path: &Path) -> Result<String> {
    let mut buf = Vec::new();
    read_bounded(path, &mut buf)?;
    session_text(path, buf)
}

/// The bytes read from the session file at `path` as its text, refused unless UTF-8.
pub fn session_text(path: &Path, bytes: Vec<u8>) -> Result<String> {
    match utf8(&bytes) {
        // SAFETY: `utf8` just checked the bytes.
        Ok(_) => Ok(unsafe { String::from_utf8_unchecked(bytes) }),
        Err(e) => Err(Error::NotUtf8 {
            path: path.to_path_buf(),
            offset: e.valid_up_to(),
        }),
    }
}

/// `bytes` as UTF-8 text, as `std::str::from_utf8` answers. simdutf8 (AVX2/SSE4.2/NEON) checks
/// a megabyte of session text with accents and CJK in 0.37 M instructions against
/// `from_utf8`'s 0.98 M (whose ASCII shortcut stops at each such character); it only says yes
/// or no, so on a failure the standard check says where.
pub fn utf8(bytes: &[u8]) -> std::result::Result<&str, std::str::Utf8Error> {
    simdutf8::basic::from_utf8(bytes).or_else(|_| std::str::from_utf8(bytes))
}

/// Reads `path` into `buf` (cleared first), refusing files over [`MAX_FILE_BYTES`] and
/// anything that is not a regular file. The file is opened non-blocking and checked with
/// `fstat` before any read, so a FIFO (even behind a symlink, even swapped in after a listing
/// looked) is refused at once instead of hanging. Returns what that `fstat` said, before the
/// first byte was read: a later `stat` that says the same (inode, size, mtime, ctime) most
/// likely names the same version of the file (`write.rs` relies on this only where a read
/// checks it after).
pub fn read_bounded(path: &Path, buf: &mut Vec<u8>) -> Result<fs::Metadata> {
    buf.clear();
    let (file, meta) = open_regular(path)?;
    read_regular(path, file, meta.len(), buf)?;
    Ok(meta)
}

/// Like [`read_bounded`], but when `path` itself is a symlink it is not followed: the answer
/// is `Ok(false)`, with nothing read, so the caller can first look at where it leads. For
/// the usual regular file this is one `open`, where an `lstat` first would walk the path
/// twice.
pub fn read_bounded_unless_symlink(path: &Path, buf: &mut Vec<u8>) -> Result<bool> {
    use std::os::unix::fs::OpenOptionsExt;
    buf.clear();
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        // A symlink (or a path with too many of them): the caller decides.
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => return Ok(false),
        Err(e) => return Err(Error::read(path, e)),
    };
    let meta = regular_meta(path, &file)?;
    read_regular(path, file, meta.len(), buf).map(|()| true)
}

/// Reads the open regular `file` of `size` bytes (its `fstat` size) into `buf`, refusing
/// more than [`MAX_FILE_BYTES`] even when the file grew since.
fn read_regular(path: &Path, file: fs::File, size: u64, buf: &mut Vec<u8>) -> Result<()> {
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

/// The head of a session file: its first bytes through the frontmatter's closing delimiter
/// line (see [`crate::session::document::frontmatter_extent`]), as UTF-8. All that listings
/// need: the body is never read. Same refusals as [`read_bounded`] (size via `fstat`, not
/// a regular file); only the head has to be UTF-8.
pub fn read_head(path: &Path) -> Result<String> {
    use crate::session::document::frontmatter_extent;
    /// Most frontmatter blocks fit in the first read.
    const FIRST: usize = 4096;
    let (mut file, meta) = open_regular(path)?;
    let size = meta.len();
    if size > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let mut buf = vec![0u8; FIRST.min(size as usize + 1).max(64)];
    let mut filled = 0;
    let head = loop {
        if filled == buf.len() {
            if buf.len() as u64 > MAX_FILE_BYTES {
                return Err(Error::TooLarge {
                    path: path.to_path_buf(),
                    size: buf.len() as u64,
                    limit: MAX_FILE_BYTES,
                });
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = loop {
            match file.read(&mut buf[filled..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.map_err(|e| Error::read(path, e))?,
            }
        };
        filled += n;
        if let Some(len) = frontmatter_extent(&buf[..filled], n == 0) {
            break len;
        }
    };
    buf.truncate(head);
    String::from_utf8(buf).map_err(|e| Error::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Opens `path` for reading, refusing anything but a regular file before any read. The open
/// is non-blocking, so a FIFO (even swapped in after a listing looked) cannot hang it.
pub(crate) fn open_regular(path: &Path) -> Result<(fs::File, fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::read(path, e))?;
    let meta = regular_meta(path, &file)?;
    Ok((file, meta))
}

/// What `fstat` says of the open `file`, refusing anything but a regular file.
fn regular_meta(path: &Path, file: &fs::File) -> Result<fs::Metadata> {
    let meta = file.metadata().map_err(|e| Error::read(path, e))?;
    if !meta.is_file() {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta.file_type()),
        });
    }
    Ok(meta)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 61 ASCII bytes: pieces after it straddle the SIMD code's 64-byte blocks.
    const LONG: &[u8] = b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    /// ASCII, multi-byte sequences, their broken pieces, surrogates, overlongs, too-large.
    const PIECES: &[&[u8]] = &[
        b"a",
        b"## Next\n",
        b"\xc3\xa9",
        b"\xe6\x97\xa5",
        b"\xf0\x9f\x98\x80",
        b"\xc3",
        b"\xe6\x97",
        b"\xf0\x9f",
        b"\x80",
        b"\xff",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
        b"\xf4\x90\x80\x80",
        LONG,
    ];

    proptest::proptest! {
        /// The byte-slice shortcut of `display` shows what `strip_prefix` + `display` does.
        #[test]
        fn display_agrees_with_the_component_wise_strip(
            root in "(/[a.b]{0,3}){0,3}/?",
            path in "(/[a.b]{0,3}|//|/\\.){0,5}/?",
        ) {
            let repo = Repo::at(PathBuf::from(&root));
            let slow = |p: &Path| p.strip_prefix(&repo.root).unwrap_or(p).display().to_string();
            for p in [format!("{root}{path}"), path.clone(), format!("{root}/{path}")] {
                let p = PathBuf::from(p);
                proptest::prop_assert_eq!(repo.display(&p), slow(&p), "{:?} in {:?}", p, root);
            }
        }

        /// The SIMD UTF-8 check accepts and refuses what `String::from_utf8` does, and a
        /// refusal names the same offset.
        #[test]
        fn session_text_agrees_with_from_utf8(
            pieces in proptest::collection::vec(
                proptest::sample::select(PIECES),
                0..40,
            ),
        ) {
            let bytes = pieces.concat();
            let want = String::from_utf8(bytes.clone()).map_err(|e| e.utf8_error().valid_up_to());
            let got = session_text(Path::new("f.md"), bytes).map_err(|e| match e {
                Error::NotUtf8 { offset, .. } => offset,
                other => panic!("{other}"),
            });
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn a_session_id_is_the_stem_and_a_typed_one_cannot_leave_its_directory() {
        let id = SessionId::of(Path::new("/r/.agents/sessions/20250101-000000-fix.md"));
        assert_eq!(id, "20250101-000000-fix");
        assert_eq!(id.file_name(), "20250101-000000-fix.md");
        assert!(SessionId::parse("20250101-000000-fix").is_some());
        for bad in ["", "..", "a/b", "a.md"] {
            assert!(SessionId::parse(bad).is_none(), "{bad}");
        }
    }
}
