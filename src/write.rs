//! Safe writes of session files. Writers are serialised by an advisory lock under
//! `.agents/state/locks/` (keyed by the file actually written, so a symlink and its target
//! share one lock); under the lock the file is re-read and the edit re-applied, so a change
//! made since the command first looked (by an editor or another agent) is kept, never
//! overwritten. The new text goes to a temp file in the same directory, is fsynced and put in
//! place, and the directory fsynced (unless the caller says the rename may be lost, see
//! [`Durability`]): a crash leaves the old or the new file, never a torn one.
//! Leftover temp files of killed writers are removed under the lock.
//!
//! Editors do not take our lock, and `rename(2)` is not conditional: between our last look at
//! the file and the rename an editor may save. So on Linux the new file is put in place with
//! `renameat2(RENAME_EXCHANGE)`, which swaps it with whatever is at the path in one step and
//! leaves that displaced file at the temp name, where we read it at once. If it is not the
//! text the edit was applied to, someone saved in the window: a second exchange puts their
//! file back (our version was at the path for microseconds) and the edit is re-applied to
//! their text. So a save by rename is never lost. An editor writing in place (truncate, then
//! write) is read only once the file has been quiet for a few milliseconds (and an empty file
//! once it has text, up to half a second), so no edit is built on half a file, and a swap
//! that displaced a file being written puts it back. An in-place save whose `open(2)` found
//! the old file just before the swap lands in the displaced file after our check (the
//! rename's inode lock makes it wait, then run right after): the displaced file is looked at
//! once more, a millisecond later and after the directory fsync, before it is deleted, and
//! put back if it changed. Left open: an editor that writes the file in several pieces and
//! stalls between them for longer than that. Elsewhere (or on
//! a file system without the exchange) a plain rename after a re-read is the fallback.
//!
//! Only files inside the repository's `.agents/sessions/` are written (a symlink there is
//! written through to its target, which must be inside the repository); a read-only file is
//! refused, never silently replaced.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::atomic;
use crate::error::{Error, Result};
use crate::session::edit::EditError;
use crate::store::{self, Repo};

/// How long a writer waits for another to finish before giving up, in milliseconds. Hooks
/// lower it: they sit on the agent's critical path and must never wait long.
static LOCK_TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

pub fn set_lock_timeout(timeout: Duration) {
    LOCK_TIMEOUT_MS.store(timeout.as_millis() as u64, Ordering::Relaxed);
}
/// How often the edit is re-applied when the file keeps changing under us.
const MAX_ATTEMPTS: usize = 32;
/// A file modified more recently than this may still be being written in place by an
/// editor (truncate, then write); it is read once it has been quiet this long.
const QUIET: Duration = Duration::from_millis(5);
/// The longest we wait for a file to become quiet.
const QUIET_LIMIT: Duration = Duration::from_millis(100);
/// The longest we wait for an empty file to get its text.
const EMPTY_LIMIT: Duration = Duration::from_millis(500);
/// How long after checking the file our swap displaced we look at it again before deleting
/// it, for an in-place save that was already under way when we swapped.
const LATE_SAVE: Duration = Duration::from_millis(1);

#[derive(Debug)]
pub enum Outcome {
    Unchanged,
    Written { before: String, after: String },
}

/// How durable the rename that puts an edit in place must be when the write returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The directory is fsynced after the rename: the new file survives a crash.
    Durable,
    /// The directory is not fsynced (one fsync less, a few milliseconds on a busy disk): a
    /// crash soon after may bring back the old file whole — never a torn one, since the new
    /// file's bytes are fsynced before the rename, and never a person's text lost, since the
    /// new text is the old one plus this edit. Only for an edit whose loss a reader
    /// reconciles: `spawn`'s entry, whose run record (written first) settles `interrupted`
    /// when its entry is missing (docs/runs.md). The next durable write of the file (the
    /// run's write-back) makes it durable too: the journal commits in order.
    RenameMayBeLost,
}

/// Reads `path`, applies `edit` to its text and writes the result safely. `edit` returns
/// `Ok(None)` for "nothing to change", in which case the file is not touched at all.
pub fn edit_file(
    repo: &Repo,
    path: &Path,
    edit: impl FnMut(&str) -> Result<Option<String>, EditError>,
) -> Result<Outcome> {
    edit_file_with(repo, path, Durability::Durable, edit)
}

/// [`edit_file`] with the rename's [`Durability`] chosen by the caller.
pub fn edit_file_with(
    repo: &Repo,
    path: &Path,
    durability: Durability,
    mut edit: impl FnMut(&str) -> Result<Option<String>, EditError>,
) -> Result<Outcome> {
    let sync_dir = |path: &Path| {
        if durability == Durability::Durable {
            atomic::sync_parent(path);
        }
    };
    let target = writable_target(repo, path)?;
    let path = target.as_path();
    let mut first = read_quiet(path)?;
    // Fail fast, before waiting for a lock, when the edit cannot apply at all — unless the
    // text changes in a moment (an editor still writing it in place).
    let applies = match edit(&first) {
        Err(e) => match settled_change(path, &first)? {
            Some(later) => {
                first = later;
                edit(&first)
            }
            None => Err(e),
        },
        ok => ok,
    };
    // `edit` is a function of the text: on the same text under the lock, this is its result.
    let Some(prepared) = applies.map_err(|e| edit_error(repo, path, e))? else {
        return Ok(Outcome::Unchanged);
    };
    refuse_read_only(repo, path)?;
    let _lock = Lock::acquire(repo, path)?;
    remove_stale_temps(path);
    // One buffer for every later read: they only compare with a text already read.
    let mut scratch = Vec::new();
    let mut prepared = Some(prepared);
    for _ in 0..MAX_ATTEMPTS {
        read_quiet_into(path, &mut scratch)?;
        // Unchanged since the first look (the usual case): that text, and the edit made on it.
        let base: Cow<'_, str> = if scratch == first.as_bytes() {
            Cow::Borrowed(&first)
        } else {
            prepared = None;
            Cow::Owned(store::session_text(path, std::mem::take(&mut scratch))?)
        };
        let new = match prepared
            .take()
            .map_or_else(|| edit(&base), |new| Ok(Some(new)))
        {
            Ok(Some(new)) => new,
            Ok(None) => return Ok(Outcome::Unchanged),
            Err(_) if settled_change(path, &base)?.is_some() => continue,
            Err(e) if *base != *first => {
                return Err(Error::ChangedUnderneath {
                    path: repo.display(path),
                    reason: e.to_string(),
                    diff: diff(&first, &base),
                });
            }
            Err(e) => return Err(edit_error(repo, path, e)),
        };
        let tmp = write_temp(path, &new)?;
        test_pause("SESSIONS_TEST_WRITE_DELAY_MS");
        // An editor does not take our lock: if it saved meanwhile, apply the edit again.
        read_quiet_into(path, &mut scratch)?;
        if scratch != base.as_bytes() {
            continue;
        }
        let seen = identity(path);
        test_pause("SESSIONS_TEST_SWAP_DELAY_MS");
        match swap_in(&tmp, path)? {
            Swap::Renamed => sync_dir(path),
            Swap::Exchanged => {
                // One `lstat` first: a save in the window almost always shows as another inode,
                // size or mtime, and is put back after two system calls instead of a read.
                if seen.is_none()
                    || identity(tmp.path()) != seen
                    || !displaced_is(&tmp, &base, &mut scratch)?
                {
                    swap_back(repo, &tmp, path)?;
                    continue;
                }
                // An editor's truncating `open(2)` that found the old file just before the
                // swap waits for the rename's inode lock and then runs: its save lands in the
                // displaced file, after the check above. Look once more before that file is
                // deleted (after the directory fsync, and at least LATE_SAVE after the check).
                let checked = Instant::now();
                sync_dir(path);
                test_pause("SESSIONS_TEST_UNLINK_DELAY_MS");
                if let Some(rest) = LATE_SAVE.checked_sub(checked.elapsed()) {
                    std::thread::sleep(rest);
                }
                if identity(tmp.path()) != seen {
                    swap_back(repo, &tmp, path)?;
                    continue;
                }
            }
        }
        let before = match base {
            Cow::Borrowed(_) => first,
            Cow::Owned(base) => base,
        };
        return Ok(Outcome::Written { before, after: new });
    }
    Err(Error::Check(format!(
        "{} kept changing while this command tried to write it ({MAX_ATTEMPTS} attempts); try again",
        repo.display(path)
    )))
}

/// Whether the file our swap displaced (now at the temp name) is the text the edit was
/// applied to. Read at once, so that if it is not, our version is at the path for as short a
/// time as possible; a displaced file written very recently is read again once quiet, in case
/// an editor writing in place was still at it.
fn displaced_is(tmp: &tempfile::NamedTempFile, base: &str, buf: &mut Vec<u8>) -> Result<bool> {
    store::read_bounded(tmp.path(), buf)?;
    if buf != base.as_bytes() {
        return Ok(false);
    }
    if modified_within(tmp.path(), QUIET) {
        read_quiet_into(tmp.path(), buf)?;
        return Ok(buf == base.as_bytes());
    }
    Ok(true)
}

/// Someone saved between our last look and the swap: put their file back at the path (a
/// second exchange) and leave ours at the temp name, to be removed. If yet another save
/// replaced ours in that instant, it is put back instead and the one before it is kept beside
/// the file, named in the error: nothing is thrown away.
fn swap_back(repo: &Repo, tmp: &tempfile::NamedTempFile, path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let ours = tmp
        .as_file()
        .metadata()
        .map_err(|e| Error::read(path, e))?
        .ino();
    exchange(tmp.path(), path)?;
    let back = fs::symlink_metadata(tmp.path()).map_err(|e| Error::read(path, e))?;
    if back.ino() == ours {
        return Ok(()); // dropping `tmp` removes our version
    }
    exchange(tmp.path(), path)?;
    let kept = path.with_file_name(format!(
        "{}.saved-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    fs::rename(tmp.path(), &kept).map_err(|e| write_error(&kept, e))?;
    Err(Error::Check(format!(
        "{} was saved twice by another program while this command wrote it; the newer save is in place and the one before it is kept in {}: compare them, then run the command again",
        repo.display(path),
        repo.display(&kept)
    )))
}

fn edit_error(repo: &Repo, path: &Path, e: EditError) -> Error {
    Error::Check(format!("{}: {e}", repo.display(path)))
}

/// The file a write to `path` really changes, after checking it may be written: the named
/// path must be inside the repository's `.agents/sessions/` (another repository's files are
/// edited with `sessions -C <it>`, so that its own lock serialises the writers), and a
/// symlink there is followed to its target, which must be inside the repository.
pub fn writable_target(repo: &Repo, path: &Path) -> Result<PathBuf> {
    let sessions = fs::canonicalize(repo.require_sessions_dir()?)
        .map_err(|e| Error::read(&repo.sessions_dir(), e))?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let named = match (fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        (Err(e), _) => return Err(Error::read(path, e)),
        (Ok(_), None) => {
            return Err(Error::Usage(format!(
                "{} is not a session file",
                path.display()
            )));
        }
    };
    if !named.starts_with(&sessions) {
        return Err(Error::OutsideRepository {
            path: path.to_path_buf(),
            sessions_dir: repo.display(&repo.sessions_dir()),
            hint: "sessions writes only session files there (for another repository's session, run `sessions -C <that repository> …`)",
        });
    }
    if !path.is_symlink() {
        return Ok(named);
    }
    let root = fs::canonicalize(&repo.root).map_err(|e| Error::read(&repo.root, e))?;
    match fs::canonicalize(path) {
        Ok(target) if target.starts_with(&root) => Ok(target),
        Ok(_) => Err(Error::SymlinkOutside {
            path: repo.display(path),
            hint: "refusing to write through it",
        }),
        Err(e) => Err(Error::Usage(format!(
            "{} is a symlink to a file that cannot be opened ({e}); fix or remove the link",
            repo.display(path)
        ))),
    }
}

/// A file with no write permission is the owner's way of saying "leave it": respect it
/// (root could write it anyway).
fn refuse_read_only(repo: &Repo, path: &Path) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| Error::read(path, e))?;
    if meta.permissions().readonly() {
        return Err(Error::Usage(format!(
            "{} is read-only; make it writable (`chmod u+w {}`) to change it, or leave it as it is",
            repo.display(path),
            path.display()
        )));
    }
    Ok(())
}

/// A unified diff of `before` → `after`, for messages and `--dry-run`.
pub fn diff(before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(2)
        .header("before", "after")
        .to_string()
}

/// A patch of `before` → `after` for the file at `rel` (relative to the repository root) that
/// `git apply` (and `patch -p1`) accepts: `diff --git` header, `a/`/`b/` paths, three lines of
/// context, every line ending in a newline.
pub fn patch(rel: &str, before: &str, after: &str) -> String {
    let mut out = format!("diff --git a/{rel} b/{rel}\n");
    let diff = similar::TextDiff::from_lines(before, after);
    let body = diff
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(&format!("a/{rel}"), &format!("b/{rel}"))
        .to_string();
    out.push_str(&body);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A write error, in plain words when the disk is full.
fn write_error(path: &Path, e: std::io::Error) -> Error {
    let full = matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(n) if n == nix::libc::ENOSPC || n == nix::libc::EDQUOT);
    if full {
        return Error::Usage(format!(
            "cannot write {}: no space left on the device; the file is unchanged: free some space and run the command again",
            path.display()
        ));
    }
    Error::write(path, e)
}

/// Writes `text` to a new temp file next to `path` (same permissions), fsynced. On failure
/// the temp file is removed.
fn write_temp(path: &Path, text: &str) -> Result<tempfile::NamedTempFile> {
    let prefix = temp_prefix(path);
    atomic::prepare(path, text.as_bytes(), &temp_options(&prefix, path, false))
        .map_err(|e| write_error(path, e.source))
}

/// Temp files are `.<name>.XXXXXX.tmp`: what [`remove_stale_temps`] looks for.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

/// A temp file with the file's mode where it has one, fsynced.
fn temp_options<'a>(prefix: &'a str, path: &Path, sync_dir: bool) -> atomic::Options<'a> {
    atomic::Options {
        prefix,
        suffix: ".tmp",
        permissions: atomic::current_permissions(path),
        permissions_required: false,
        sync_file: true,
        sync_dir,
    }
}

enum Swap {
    /// The temp file and the path traded places: the temp name holds the displaced file.
    Exchanged,
    /// The temp file was renamed over the path (no exchange here).
    Renamed,
}

/// Puts the temp file at `path`, by an atomic exchange where the system has one.
fn swap_in(tmp: &tempfile::NamedTempFile, path: &Path) -> Result<Swap> {
    match exchange(tmp.path(), path) {
        Ok(()) => Ok(Swap::Exchanged),
        Err(Exchange::Unsupported) => {
            fs::rename(tmp.path(), path).map_err(|e| write_error(path, e))?;
            Ok(Swap::Renamed)
        }
        Err(Exchange::Failed(e)) => Err(e),
    }
}

enum Exchange {
    /// No exchange on this system or file system.
    Unsupported,
    Failed(Error),
}

impl From<Exchange> for Error {
    fn from(e: Exchange) -> Error {
        match e {
            Exchange::Unsupported => Error::Usage("this file system cannot exchange files".into()),
            Exchange::Failed(e) => e,
        }
    }
}

/// `renameat2(RENAME_EXCHANGE)`: `a` and `b` trade places in one step.
fn exchange(a: &Path, b: &Path) -> std::result::Result<(), Exchange> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::errno::Errno;
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        match renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => Ok(()),
            // The file was removed meanwhile: do not bring it back.
            Err(Errno::ENOENT) => Err(Exchange::Failed(Error::Check(format!(
                "{} was removed while this command wrote it; nothing was written",
                b.display()
            )))),
            Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => Err(Exchange::Unsupported),
            Err(e) => Err(Exchange::Failed(write_error(b, std::io::Error::from(e)))),
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = (a, b);
        Err(Exchange::Unsupported)
    }
}

/// The file's text a little later, if it is not `text` any more: an edit that fails on a file
/// being written in place is tried again on the finished text rather than refused.
fn settled_change(path: &Path, text: &str) -> Result<Option<String>> {
    std::thread::sleep(QUIET * 4);
    let later = read_quiet(path)?;
    Ok((later != text).then_some(later))
}

/// What identifies a version of a file without reading it: inode, size and mtime.
fn identity(path: &Path) -> Option<(u64, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::symlink_metadata(path).ok()?;
    Some((m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

fn modified_within(path: &Path, d: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < d)
}

/// Reads a file once nothing has modified it for [`QUIET`], so an editor that writes in place
/// (truncate, then write) is read after it finished, not half-way: an edit is never built on
/// half a file. This costs at most [`QUIET`] right after a change (up to [`EMPTY_LIMIT`] for
/// an empty file), nothing otherwise. An editor that writes a file in several pieces and
/// stalls between them for longer than [`QUIET`] is the one case left.
fn read_quiet(path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    read_quiet_into(path, &mut bytes)?;
    store::session_text(path, bytes)
}

/// [`read_quiet`] into `buf`, without the UTF-8 check: for comparing with a text already read.
fn read_quiet_into(path: &Path, buf: &mut Vec<u8>) -> Result<()> {
    let deadline = Instant::now() + QUIET_LIMIT;
    // An empty session file is an editor between truncating and writing, or a mistake:
    // either way worth a wait (longer: an empty file is never a valid session).
    let empty = |p: &Path| fs::metadata(p).is_ok_and(|m| m.len() == 0);
    let empty_deadline = Instant::now() + EMPTY_LIMIT;
    loop {
        let wait = if empty(path) {
            Instant::now() < empty_deadline
        } else {
            Instant::now() < deadline && modified_within(path, QUIET)
        };
        if !wait {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    store::read_bounded(path, buf).map(|_| ())
}

/// Atomically replaces (or creates) `path` with `text`: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let prefix = temp_prefix(path);
    atomic::write(path, text.as_bytes(), &temp_options(&prefix, path, true))
        .map_err(|e| write_error(path, e.source))
}

/// Temp files left by writers that were killed mid-write. Only called under the file's lock,
/// so no live writer of this file can own one.
fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.starts_with(&prefix) && n.ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Test seams: `SESSIONS_TEST_WRITE_DELAY_MS` pauses between preparing the temp file and the
/// last re-read, `SESSIONS_TEST_SWAP_DELAY_MS` between that re-read and the swap,
/// `SESSIONS_TEST_UNLINK_DELAY_MS` between the check of the displaced file and its removal, so
/// tests can change the file in each window (the editor-race tests).
fn test_pause(var: &str) {
    if let Some(ms) = std::env::var_os(var).and_then(|v| v.to_str()?.parse().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// An exclusive advisory lock (flock) on `.agents/state/locks/<file>.lock`, released on drop
/// or when the process dies. The holder writes its pid into the file, so a writer that times
/// out can say who holds it.
pub struct Lock {
    file: File,
}

impl Lock {
    pub fn acquire(repo: &Repo, path: &Path) -> Result<Lock> {
        let lock_path = lock_path(repo, path);
        if let Some(dir) = lock_path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
        }
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::write(&lock_path, e))?;
        let start = Instant::now();
        // Test seam: `SESSIONS_TEST_LOCK_TIMEOUT_MS` shortens the wait (the lock-timeout test).
        let ms = std::env::var("SESSIONS_TEST_LOCK_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| LOCK_TIMEOUT_MS.load(Ordering::Relaxed));
        let timeout = Duration::from_millis(ms);
        loop {
            match file.try_lock() {
                Ok(()) => {
                    // Who holds it, for the message of a writer that times out. Best effort.
                    let _ = file
                        .set_len(0)
                        .and_then(|()| writeln!(file, "{}", std::process::id()));
                    return Ok(Lock { file });
                }
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::LockBusy {
                        path: repo.display(path),
                        secs: timeout.as_secs_f64(),
                        holder: lock_holder(repo, &lock_path),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::write(&lock_path, e)),
            }
        }
    }
}

/// Says who holds the lock and what to do, as the rest of [`Error::LockBusy`]'s sentence.
/// Never "delete the lock file": an flock lock goes away with its holder, and deleting the
/// file would let a second writer in beside it.
fn lock_holder(repo: &Repo, lock_path: &Path) -> String {
    let pid = fs::read_to_string(lock_path)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|&p| p > 0);
    let alive = |pid: i32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    match pid {
        Some(pid) if alive(pid) => {
            let what = fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .map(|c| {
                    let words: Vec<String> = c
                        .split(|&b| b == 0)
                        .filter(|w| !w.is_empty())
                        .map(|w| String::from_utf8_lossy(w).into_owned())
                        .collect();
                    crate::terminal::line(&words.join(" ")).into_owned()
                })
                .filter(|c| !c.is_empty())
                .map(|c| format!(": `{}`", crate::table::truncate(&c, 80)))
                .unwrap_or_default();
            format!(
                ": pid {pid}, still running{what}. Wait for it to finish and try again, or stop it (`kill {pid}`); the lock is released the moment it exits. Do not delete {}: that would let two writers in at once",
                repo.display(lock_path)
            )
        }
        Some(pid) => format!(
            ". Its file names pid {pid}, which is no longer running, so the lock is held by a process that has not written its pid yet or inherited the lock (a child of pid {pid}?): find it with `fuser {}` and let it finish. Do not delete the lock file: that would let two writers in at once",
            lock_path.display()
        ),
        None => format!(
            "; find the holder with `fuser {}` and let it finish. Do not delete the lock file: the lock is released when its holder exits, and deleting it would let two writers in at once",
            lock_path.display()
        ),
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn lock_path(repo: &Repo, path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    repo.locks_dir().join(format!("{name}.lock"))
}
