//! A memo of the facts listings read from each session file's frontmatter, so `list`,
//! `status` and the SessionStart hook do not parse 10,000 YAML heads on every call.
//!
//! `.agents/state/overview-cache.jsonl` holds one line per session file: its name, the
//! `lstat` key (inode, size, mtime and ctime to the nanosecond) and the facts
//! `Overview::new` derived from it. A line is used only while the file's key is unchanged,
//! so an edit by any program (an editor, `git checkout`, `sed -i`) is seen; ctime cannot be set
//! from user space, so even an edit that keeps the size and puts the mtime back is seen.
//!
//! Racy timestamps (as git's index calls them): a file changed twice within one tick of the
//! file-system clock keeps one key for two contents. So a fact is only remembered when the
//! file's mtime and ctime are older than [`margin`] at the moment it is read; anything newer is
//! read again on every call until it has aged. Nothing time-dependent (age, stale) and nothing
//! that depends on run records (running counts) is remembered: a file with an `in_progress`
//! agent entry is always read, so orphaned runs are still settled.
//!
//! The cache is never a source of truth: a missing, corrupt, foreign-version or unwritable
//! cache only costs the full read. `SESSIONS_OVERVIEW_CACHE=off` bypasses it.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

const FILE: &str = "overview-cache.jsonl";
/// First line of the file; another value (another build's format) discards the cache.
const HEADER: &str = concat!("sessions overview cache 1 ", env!("CARGO_PKG_VERSION"));
/// How old a file's timestamps must be before its facts are remembered (see the module text):
/// two seconds covers file systems that keep whole seconds (FAT keeps two).
const DEFAULT_MARGIN: Duration = Duration::from_secs(2);

/// From this size on, the cache's lines are parsed on every core.
const PARALLEL_BYTES: usize = 16 << 10;

/// `lstat` facts that change with every write to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Key {
    /// The key of a regular file (not followed through a symlink); `None` for anything else.
    pub fn of(path: &Path) -> Option<(Key, SystemTime)> {
        let m = fs::symlink_metadata(path).ok()?;
        if !m.file_type().is_file() {
            return None;
        }
        let key = Key {
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        };
        let newest = key.mtime.max(key.ctime);
        let at = UNIX_EPOCH
            .checked_add(Duration::new(
                newest.0.max(0) as u64,
                newest.1.clamp(0, 999_999_999) as u32,
            ))
            .unwrap_or(UNIX_EPOCH);
        Some((key, at))
    }
}

/// What an `Overview` keeps from the file's text (`overview.rs` turns one into the other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub title: String,
    pub status: String,
    pub created: Option<String>,
    pub last_updated: Option<String>,
    pub current_task: Option<String>,
    pub total: usize,
    pub running: usize,
}

/// One line of the file: name, key, facts, written as JSON arrays (no field names to match:
/// reading 10,000 lines costs half as much as with objects).
#[derive(Serialize, Deserialize)]
struct Line(
    String,
    (u64, u64, i64, i64, i64, i64),
    (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        usize,
        usize,
    ),
);

impl Line {
    fn new(name: String, k: Key, f: Facts) -> Line {
        Line(
            name,
            (k.ino, k.size, k.mtime.0, k.mtime.1, k.ctime.0, k.ctime.1),
            (
                f.title,
                f.status,
                f.created,
                f.last_updated,
                f.current_task,
                f.total,
                f.running,
            ),
        )
    }

    fn into_parts(self) -> (String, Key, Facts) {
        let Line(name, k, f) = self;
        let key = Key {
            ino: k.0,
            size: k.1,
            mtime: (k.2, k.3),
            ctime: (k.4, k.5),
        };
        let facts = Facts {
            title: f.0,
            status: f.1,
            created: f.2,
            last_updated: f.3,
            current_task: f.4,
            total: f.5,
            running: f.6,
        };
        (name, key, facts)
    }
}

/// The remembered facts of one repository, and what a listing learnt meanwhile.
pub struct Cache {
    path: PathBuf,
    entries: HashMap<String, (Key, Facts)>,
    margin: Duration,
    changed: bool,
    /// Entries [`Cache::get`] returned: when all were, none is for a removed file.
    hits: AtomicUsize,
}

impl Cache {
    /// The repository's cache (empty when there is none, or it is off).
    pub fn load(state_dir: &Path) -> Option<Cache> {
        if std::env::var_os("SESSIONS_OVERVIEW_CACHE").is_some_and(|v| v == "off") {
            return None;
        }
        let path = state_dir.join(FILE);
        let mut entries = HashMap::new();
        if let Ok(text) = fs::read_to_string(&path)
            && let Some((first, rest)) = text.split_once('\n')
            && first == HEADER
        {
            use rayon::prelude::*;
            let line = |l: &str| {
                let (name, key, facts) = serde_json::from_str::<Line>(l).ok()?.into_parts();
                Some((name, (key, facts)))
            };
            // Parsed on every core when there are more than a few dozen lines (10,000 are most
            // of a listing's work); below that, starting threads costs more.
            let parsed: Option<HashMap<String, (Key, Facts)>> = if rest.len() >= PARALLEL_BYTES {
                rest.par_lines().map(line).collect()
            } else {
                rest.lines().map(line).collect()
            };
            entries = parsed.unwrap_or_default();
        }
        Some(Cache {
            path,
            entries,
            margin: margin(),
            changed: false,
            hits: AtomicUsize::new(0),
        })
    }

    /// The remembered facts of `path` when its key is still `key`.
    pub fn get(&self, path: &Path, key: &Key) -> Option<&Facts> {
        let name = path.file_name()?.to_str()?;
        let hit = self.entries.get(name).filter(|(k, _)| k == key);
        if hit.is_some() {
            self.hits.fetch_add(1, Relaxed);
        }
        hit.map(|(_, f)| f)
    }

    /// The session title remembered for `path` if its key is unchanged (`Some(None)`: it has
    /// none, and listings show its id instead); `None` when the file must be read.
    pub fn title(&self, path: &Path) -> Option<Option<&str>> {
        let (key, _) = Key::of(path)?;
        let f = self.get(path, &key)?;
        let id = path.file_stem()?.to_str()?;
        Some((f.title != id).then_some(f.title.as_str()))
    }

    /// Remembers what was read from `path` (key taken before the read) if the file is old
    /// enough to be trusted; forgets it otherwise.
    pub fn put(&mut self, path: &Path, key: Key, newest: SystemTime, facts: Option<Facts>) {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let old_enough = SystemTime::now()
            .duration_since(newest)
            .is_ok_and(|age| age > self.margin);
        match facts.filter(|_| old_enough) {
            Some(f) => {
                if self.entries.get(name) != Some(&(key, f.clone())) {
                    self.entries.insert(name.to_string(), (key, f));
                    self.changed = true;
                }
            }
            None => self.changed |= self.entries.remove(name).is_some(),
        }
    }

    /// Drops the entries of files no longer listed.
    pub fn retain(&mut self, listed: &[PathBuf]) {
        if !self.changed
            && self.entries.len() <= listed.len()
            && self.hits.load(Relaxed) == self.entries.len()
        {
            return;
        }
        let names: std::collections::HashSet<&str> = listed
            .iter()
            .filter_map(|p| p.file_name()?.to_str())
            .collect();
        let before = self.entries.len();
        self.entries.retain(|n, _| names.contains(n.as_str()));
        self.changed |= self.entries.len() != before;
    }

    /// Writes the cache when it changed (temp file + rename: a reader sees the old or the new
    /// one; two writers both write valid caches and the last one stays). Best effort.
    pub fn save(self) {
        // `.agents/state/` is made on first use, inside an initialised `.agents/` only.
        let dir_ok = self.path.parent().is_some_and(|state| {
            state.is_dir()
                || (state.parent().is_some_and(Path::is_dir) && fs::create_dir(state).is_ok())
        });
        if !self.changed || !dir_ok {
            // Freeing 10,000 entries one by one costs more than the process exit that follows.
            std::mem::forget(self);
            return;
        }
        let mut text = String::with_capacity(64 + self.entries.len() * 200);
        text.push_str(HEADER);
        text.push('\n');
        let mut names: Vec<&String> = self.entries.keys().collect();
        names.sort();
        for name in names {
            let (key, facts) = &self.entries[name];
            let line = Line::new(name.clone(), *key, facts.clone());
            if let Ok(l) = serde_json::to_string(&line) {
                text.push_str(&l);
                text.push('\n');
            }
        }
        let Some(dir) = self.path.parent() else {
            return;
        };
        if let Ok(mut tmp) = tempfile::Builder::new()
            .prefix(".overview-cache")
            .tempfile_in(dir)
            && tmp.write_all(text.as_bytes()).is_ok()
        {
            let _ = tmp.persist(&self.path);
        }
    }
}

/// The trust margin; `SESSIONS_CACHE_MARGIN_MS` shortens it for tests that cannot wait.
fn margin() -> Duration {
    std::env::var("SESSIONS_CACHE_MARGIN_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DEFAULT_MARGIN, Duration::from_millis)
}
