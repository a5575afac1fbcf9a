//! Safe writes of session files. Writers are serialised by an advisory lock under
//! `.agents/state/locks/`; under the lock the file is re-read and the edit re-applied, so a
//! change made since the command first looked (by an editor or another agent) is kept, never
//! overwritten. The new text goes to a temp file in the same directory, is fsynced, renamed
//! over the old one and the directory fsynced: a crash leaves the old or the new file, never a
//! torn one. Leftover temp files of killed writers are removed under the lock.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
const MAX_ATTEMPTS: usize = 8;

#[derive(Debug)]
pub enum Outcome {
    Unchanged,
    Written { before: String, after: String },
}

/// Reads `path`, applies `edit` to its text and writes the result safely. `edit` returns
/// `Ok(None)` for "nothing to change", in which case the file is not touched at all.
pub fn edit_file(
    repo: &Repo,
    path: &Path,
    mut edit: impl FnMut(&str) -> Result<Option<String>, EditError>,
) -> Result<Outcome> {
    if path.is_symlink() && !repo.contains(path) {
        return Err(Error::Usage(format!(
            "{} is a symlink leading outside the repository; refusing to write through it",
            repo.display(path)
        )));
    }
    let first = store::read_session(path)?;
    // Fail fast, before waiting for a lock, when the edit cannot apply at all.
    edit(&first).map_err(|e| edit_error(repo, path, e))?;
    let _lock = Lock::acquire(repo, path)?;
    remove_stale_temps(path);
    let mut seen = first.clone();
    for _ in 0..MAX_ATTEMPTS {
        let current = store::read_session(path)?;
        let new = match edit(&current) {
            Ok(Some(new)) => new,
            Ok(None) => return Ok(Outcome::Unchanged),
            Err(e) if current != first => {
                return Err(Error::Check(format!(
                    "{} changed while this command ran, and the edit no longer applies: {e}\nWhat changed:\n{}",
                    repo.display(path),
                    diff(&first, &current)
                )));
            }
            Err(e) => return Err(edit_error(repo, path, e)),
        };
        seen = current;
        let tmp = write_temp(path, &new)?;
        test_pause();
        // An editor does not take our lock: if it saved meanwhile, apply the edit again.
        if store::read_session(path)? != seen {
            let _ = fs::remove_file(tmp.path());
            continue;
        }
        tmp.persist(path).map_err(|e| Error::write(path, e.error))?;
        sync_dir(path);
        return Ok(Outcome::Written {
            before: seen,
            after: new,
        });
    }
    Err(Error::Check(format!(
        "{} kept changing while this command tried to write it ({MAX_ATTEMPTS} attempts); try again",
        repo.display(path)
    )))
    .inspect_err(|_| drop(seen))
}

fn edit_error(repo: &Repo, path: &Path, e: EditError) -> Error {
    Error::Check(format!("{}: {e}", repo.display(path)))
}

/// A unified diff of `before` → `after`, for messages and `--dry-run`.
pub fn diff(before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(2)
        .header("before", "after")
        .to_string()
}

/// Writes `text` to a new temp file next to `path` (same permissions), fsynced.
fn write_temp(path: &Path, text: &str) -> Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::write(path, e))?;
    if let Ok(meta) = fs::metadata(path) {
        let _ = fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::write(path, e))?;
    Ok(tmp)
}

/// Atomically replaces (or creates) `path` with `text`: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = write_temp(path, text)?;
    tmp.persist(path).map_err(|e| Error::write(path, e.error))?;
    sync_dir(path);
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
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

/// Test seam: `SESSIONS_TEST_WRITE_DELAY_MS` pauses between preparing and renaming, so tests
/// can change the file in that window (the editor-race test).
fn test_pause() {
    if let Some(ms) =
        std::env::var_os("SESSIONS_TEST_WRITE_DELAY_MS").and_then(|v| v.to_str()?.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// An exclusive advisory lock (flock) on `.agents/state/locks/<file>.lock`, released on drop
/// or when the process dies.
pub struct Lock {
    file: File,
}

impl Lock {
    pub fn acquire(repo: &Repo, path: &Path) -> Result<Lock> {
        let lock_path = lock_path(repo, path);
        if let Some(dir) = lock_path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::write(&lock_path, e))?;
        let start = Instant::now();
        let timeout = Duration::from_millis(LOCK_TIMEOUT_MS.load(Ordering::Relaxed));
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Lock { file }),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::Usage(format!(
                        "another sessions process has held the lock on {} for {:.1}s; if none is running, delete {}",
                        repo.display(path),
                        timeout.as_secs_f64(),
                        repo.display(&lock_path)
                    )));
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::write(&lock_path, e)),
            }
        }
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
    repo.state_dir().join("locks").join(format!("{name}.lock"))
}
