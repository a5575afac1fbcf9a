//! The live engine behind `watch` and `serve`: what the session files and run records say
//! right now ([`Snapshot`]), kept up to date incrementally ([`Tracker`]), and the typed
//! [`Event`]s that lead from one snapshot to the next ([`diff`]).
//!
//! Events are derived by comparing snapshots of the files, not from our own actions, so they
//! are right for changes made by editors and other processes too. A change re-reads only the
//! paths its file-system events name; a full look re-reads only files whose `stat` facts
//! changed. This module reads and never writes session files (reconciling runs may write a
//! finished run back, as every reader does) and never prints.

mod event;
mod feed;
mod follow;
mod sessions;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use event::{
    AgentFinished, AgentStarted, Change, Event, FieldChanges, SessionRef, at_now, diff,
};
pub use feed::{Feed, Msg, settle};
pub use follow::Followed;
pub use sessions::Sessions;

use crate::agents::record::RunRecord;
use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::error::Result;
use crate::overview::{AgentCounts, Overview};
use crate::runs::{self, RunView};
use crate::session::rules::Severity;
use crate::store::{Repo, SessionId};
use crate::validation::validate_file;

/// What changed in one batch: the paths events named, or everything (the first look, a
/// queue overflow, a directory created or removed, the periodic refresh).
#[derive(Default)]
pub struct Changes {
    pub all: bool,
    pub paths: HashSet<PathBuf>,
}

impl Changes {
    pub fn everything() -> Changes {
        Changes {
            all: true,
            ..Changes::default()
        }
    }
    pub fn add(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            self.all = true;
        }
        self.paths.extend(paths);
    }
}

/// `- [x]` items against all `- [ ]`/`- [x]` items of the file's checklists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Checklist {
    pub done: usize,
    pub total: usize,
}

impl Checklist {
    fn of(text: &str) -> Checklist {
        let mut c = Checklist::default();
        for line in text.lines() {
            let t = line.trim_start();
            let Some(rest) = t
                .strip_prefix("- [")
                .or_else(|| t.strip_prefix("* ["))
                .or_else(|| t.strip_prefix("+ ["))
            else {
                continue;
            };
            match rest.as_bytes().get(..2) {
                Some([b'x' | b'X', b']']) => {
                    c.done += 1;
                    c.total += 1;
                }
                Some([b' ', b']']) => c.total += 1,
                _ => {}
            }
        }
        c
    }
}

/// One session as the last look saw it.
#[derive(Clone)]
pub struct SessionSnap {
    pub overview: Overview,
    pub linear_issue: Option<String>,
    pub hash: u64,
    pub diagnostics: Vec<Diagnostic>,
    pub checklist: Checklist,
}

impl SessionSnap {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
    pub fn valid(&self) -> bool {
        self.errors().next().is_none()
    }
}

/// Every session (by id) and every run (by run id) at one look.
#[derive(Default, Clone)]
pub struct Snapshot {
    /// Shared with the looks before as long as a session's facts stay the same.
    pub sessions: Sessions,
    pub runs: BTreeMap<String, RunView>,
    /// The reconciled records behind `runs` (cost, task, runner, tmux session…).
    pub records: BTreeMap<String, RunRecord>,
    /// When this look was taken.
    pub at: DateTime<Utc>,
}

/// What one session file said when it was last read: parsed once, kept until the file changes.
struct Parsed {
    /// `lstat` and `stat` facts at the read; a full look re-reads the file when they differ.
    key: Option<FileKey>,
    /// Modified so shortly before it was read that a later write could keep every fact of
    /// `key` (same size, same coarse mtime): a full look never trusts the key of such an entry.
    racy: bool,
    /// A symlink: its target can change without an event naming the link, so it is read
    /// again on every look.
    link: bool,
    /// The agent counts the file itself gives, before runs correct them.
    agents: AgentCounts,
    /// What the last look published of it: the file as read, with `stale` and the agent
    /// counts as of that look. A look that finds both facts unchanged hands on this same
    /// `Arc`, so a look costs no copies of the sessions it did not re-read (and `diff` skips
    /// them by pointer).
    snap: Arc<SessionSnap>,
}

impl Parsed {
    /// Brings the two facts that depend on the look (`stale` as of the look's `cutoff`, see
    /// [`Overview::stale_cutoff`], and running counts corrected by the runs) up to date:
    /// only a change copies the session, and only if it was published already.
    fn relook(&mut self, cutoff: Option<DateTime<Utc>>, running: &HashMap<&str, usize>) {
        let o = &self.snap.overview;
        let stale = o.stale_by(cutoff);
        let agents = self.agents.corrected(running.get(o.id.as_str()).copied());
        if o.stale != stale || o.agents != agents {
            let o = &mut Arc::make_mut(&mut self.snap).overview;
            o.stale = stale;
            o.agents = agents;
        }
    }

    /// The update time from which the session can be stale (none for a completed one).
    fn stales_from(&self) -> Option<DateTime<Utc>> {
        let o = &self.snap.overview;
        o.updated_at.filter(|_| o.status != "completed")
    }
}

/// Where the tracker keeps a file: by session id first, so the files of one id are neighbours
/// (two names the lossy id conversion makes one: the last is published).
type FileName = (String, PathBuf);

fn file_name(path: &Path) -> FileName {
    (SessionId::of(path).to_string(), path.to_path_buf())
}

/// Size, times and inode of the link and of its target (the same file for a regular file).
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileKey([i64; 12]);

fn file_key(path: &Path) -> Option<FileKey> {
    use std::os::unix::fs::MetadataExt;
    let l = fs::symlink_metadata(path).ok()?;
    let t = fs::metadata(path).ok();
    let t = t.as_ref().unwrap_or(&l);
    Some(FileKey([
        l.ino() as i64,
        l.mtime(),
        l.mtime_nsec(),
        l.ctime(),
        l.ctime_nsec(),
        t.ino() as i64,
        t.dev() as i64,
        t.size() as i64,
        t.mtime(),
        t.mtime_nsec(),
        t.ctime(),
        t.ctime_nsec(),
    ]))
}

/// What the engine knows about the session files between two looks. A change re-reads only
/// the paths its events name (and the sessions of runs that changed), so the work per change
/// does not grow with the number of sessions; a full look (start, queue overflow, a directory
/// event, a periodic refresh) lists the directory and re-reads only files whose `stat` facts
/// changed or were racy.
#[derive(Default)]
pub struct Tracker {
    files: BTreeMap<FileName, Parsed>,
    /// What the last look published: the `snap` of every file, by id. A look clones this
    /// (chunk pointers, no sessions) and changes only the sessions of files it re-read or
    /// whose look-dependent facts changed.
    sessions: Sessions,
    /// The files that are symlinks (read again on every look).
    links: BTreeSet<PathBuf>,
    /// The files that can go stale, by their update time: a look needs to recheck only the
    /// ones between its cutoff and the last look's.
    updated: BTreeSet<(DateTime<Utc>, FileName)>,
    /// The last look's stale cutoff (`None` before the first look).
    cutoff: Option<Option<DateTime<Utc>>>,
    /// The last look's running counts by session: only the sessions of counts that changed
    /// need their agent counts corrected again.
    running: HashMap<String, usize>,
    buf: Vec<u8>,
}

impl Tracker {
    /// Looks at the repository as of `now`, re-reading what `changes` names (everything when
    /// there is no `old` snapshot to go on).
    pub fn snapshot(
        &mut self,
        repo: &Repo,
        now: DateTime<Utc>,
        changes: &Changes,
        old: Option<&Snapshot>,
    ) -> Result<Snapshot> {
        let config = Config::load(&repo.config_path())?;
        let runs = crate::agents::sync::Runs::load(repo);
        let views = runs::views(&runs, now);
        let dir = repo.sessions_dir();
        // A run that started or finished may have just been written into its session file.
        let mut dirty: HashSet<PathBuf> = views
            .iter()
            // A running run's runtime grows on every look; only a change of its facts can
            // have touched its session file.
            .filter(|r| old.is_none_or(|o| !o.runs.get(&r.run_id).is_some_and(|b| b.same_facts(r))))
            .map(|r| dir.join(format!("{}.md", r.session)))
            .collect();
        dirty.extend(self.links.iter().cloned());
        let mut all = changes.all || old.is_none();
        for p in &changes.paths {
            if p.parent() == Some(dir.as_path()) {
                dirty.insert(p.clone());
            } else if dir.starts_with(p) || p.starts_with(&dir) {
                // The sessions directory itself, an ancestor, or something below a file.
                all = true;
            }
        }
        // The ids whose sessions have to be looked at again.
        let mut touched = Vec::new();
        if all {
            let files = repo.session_files().unwrap_or_default();
            let listed: HashSet<&PathBuf> = files.iter().collect();
            let gone: Vec<FileName> = self
                .files
                .keys()
                .filter(|(_, p)| !listed.contains(p))
                .cloned()
                .collect();
            for name in gone {
                self.forget(&name);
                touched.push(name.0);
            }
            for path in &files {
                let name = file_name(path);
                let key = file_key(path);
                let fresh = self
                    .files
                    .get(&name)
                    .is_some_and(|e| !e.racy && !e.link && e.key.is_some() && e.key == key);
                if !fresh {
                    self.read(repo, now, name, config.stale_after, &mut touched);
                }
            }
        } else {
            for path in &dirty {
                let name = file_name(path);
                if is_session_file(path) {
                    self.read(repo, now, name, config.stale_after, &mut touched);
                } else {
                    self.forget(&name);
                    touched.push(name.0);
                }
            }
        }
        let cutoff = Overview::stale_cutoff(now, config.stale_after);
        match self.cutoff {
            None => touched.extend(self.files.keys().map(|(id, _)| id.clone())),
            Some(last) if last != cutoff => {
                // `None` sorts first: nothing is stale before any cutoff.
                let (lo, hi) = (last.min(cutoff), last.max(cutoff));
                let bound = |t: Option<DateTime<Utc>>| match t {
                    Some(t) => Bound::Included((t, (String::new(), PathBuf::new()))),
                    None => Bound::Unbounded,
                };
                let hi = match bound(hi) {
                    Bound::Included(b) => Bound::Excluded(b),
                    b => b,
                };
                touched.extend(
                    self.updated
                        .range((bound(lo), hi))
                        .map(|(_, (id, _))| id.clone()),
                );
            }
            Some(_) => {}
        }
        self.cutoff = Some(cutoff);
        let running = runs.running_by_session();
        touched.extend(
            running
                .iter()
                .filter(|(id, n)| self.running.get(**id) != Some(n))
                .map(|(id, _)| id.to_string()),
        );
        touched.extend(
            self.running
                .keys()
                .filter(|id| !running.contains_key(id.as_str()))
                .cloned(),
        );
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            self.publish(id, cutoff, &running);
        }
        self.running = running
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect();
        let mut snap = Snapshot {
            at: now,
            // Chunk pointers only: the sessions themselves are shared with the tracker.
            sessions: self.sessions.clone(),
            ..Snapshot::default()
        };
        for r in views {
            snap.runs.insert(r.run_id.clone(), r);
        }
        for (_, r) in runs.records {
            snap.records.insert(r.id.clone(), r);
        }
        Ok(snap)
    }

    /// Brings the files of session `id` up to date with the look (see [`Parsed::relook`]) and
    /// publishes what they say (the last file of that id), or that there is no such session.
    fn publish(
        &mut self,
        id: String,
        cutoff: Option<DateTime<Utc>>,
        running: &HashMap<&str, usize>,
    ) {
        let mut file = None;
        for (_, p) in self
            .files
            .range_mut((id.clone(), PathBuf::new())..)
            .take_while(|((i, _), _)| *i == id)
        {
            p.relook(cutoff, running);
            file = Some(Arc::clone(&p.snap));
        }
        match file {
            Some(file) => self.sessions.insert(file),
            None => self.sessions.remove(&id),
        }
    }

    /// Drops what was known about one file.
    fn forget(&mut self, name: &FileName) {
        let Some(p) = self.files.remove(name) else {
            return;
        };
        if p.link {
            self.links.remove(&name.1);
        }
        if let Some(t) = p.stales_from() {
            self.updated.remove(&(t, name.clone()));
        }
    }

    /// Reads, validates and parses one file (once), replacing what was known about it; its
    /// id goes into `touched`.
    fn read(
        &mut self,
        repo: &Repo,
        now: DateTime<Utc>,
        name: FileName,
        stale_after: Duration,
        touched: &mut Vec<String>,
    ) {
        let path = name.1.as_path();
        let read_at = std::time::SystemTime::now();
        let key = file_key(path);
        let display = repo.display(path);
        let buf = &mut self.buf;
        // A file refused before it is read must not be judged by the previous file's bytes.
        buf.clear();
        let diagnostics = validate_file(Some(repo), path, &display, buf, now).unwrap_or_default();
        let text = std::str::from_utf8(buf).ok();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        buf.hash(&mut hasher);
        let overview = Overview::new(path, display, text, now, stale_after);
        let linear_issue = text
            .map(crate::session::Document::parse_frontmatter)
            .and_then(|d| d.str_value(&["session", "linear_issue"]).map(str::to_owned));
        let checklist = text.map(Checklist::of).unwrap_or_default();
        let racy = fs::metadata(path)
            .and_then(|m| m.modified())
            .map_or(true, |m| m + RACY > read_at);
        let parsed = Parsed {
            key,
            racy,
            link: path.is_symlink(),
            agents: overview.agents,
            snap: Arc::new(SessionSnap {
                overview,
                linear_issue,
                hash: hasher.finish(),
                diagnostics,
                checklist,
            }),
        };
        touched.push(name.0.clone());
        self.forget(&name);
        if parsed.link {
            self.links.insert(name.1.clone());
        }
        if let Some(t) = parsed.stales_from() {
            self.updated.insert((t, name.clone()));
        }
        self.files.insert(name, parsed);
    }
}

/// How close to a read a modification time must be for the read not to prove the file
/// unchanged since (file systems keep times as coarsely as 1 s; 2 s covers them all).
const RACY: Duration = Duration::from_secs(2);

/// Whether the sessions directory listing would show `path` (named by an event): a `*.md`
/// name, not hidden, a regular file or a symlink to one (or dangling, which reads fail on).
fn is_session_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if !name.ends_with(".md") || name.starts_with('.') {
        return false;
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => true,
        Ok(m) if m.file_type().is_symlink() => fs::metadata(path).map_or(true, |t| t.is_file()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use proptest::prelude::*;

    /// Everything a snapshot says about the sessions, comparable.
    fn facts(s: &Snapshot) -> Vec<String> {
        s.sessions
            .iter()
            .map(|(id, x)| {
                format!(
                    "{id} {} {:?} {} {}",
                    serde_json::to_string(&x.overview).unwrap_or_default(),
                    x.linear_issue,
                    x.hash,
                    serde_json::to_string(&x.diagnostics).unwrap_or_default()
                )
            })
            .collect()
    }

    const STATUSES: [&str; 3] = ["in_progress", "paused", "completed"];

    fn text(variant: usize) -> Vec<u8> {
        let status = STATUSES[variant % 3];
        let title = ["Alpha", "Bravo", "Gamma"][variant / 3 % 3];
        match variant % 7 {
            5 => b"---\nsession: [oops\n---\n".to_vec(),
            6 => b"---\nsession:\n  title: bad\n---\n\xff".to_vec(),
            _ => format!(
                "---\nsession:\n  title: {title}\n  status: {status}\n  created: \"2025-12-04T14:30:00Z\"\n  last_updated: \"2025-12-04T15:10:00Z\"\n  linear_issue: L-{variant}\n---\n# Session: {title}\n\n## Next Steps\n\n- go\n"
            )
            .into_bytes(),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(usize, usize),
        /// Same size, different bytes, the old modification time put back: only `ctime` and
        /// the content tell.
        Sneak(usize),
        Delete(usize),
        Rename(usize, usize),
        Symlink(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4usize, 0..21usize).prop_map(|(f, v)| Op::Write(f, v)),
            (0..4usize).prop_map(Op::Sneak),
            (0..4usize).prop_map(Op::Delete),
            (0..4usize, 0..4usize).prop_map(|(a, b)| Op::Rename(a, b)),
            (0..4usize, 0..4usize).prop_map(|(a, b)| Op::Symlink(a, b)),
        ]
    }

    fn name(dir: &Path, i: usize) -> PathBuf {
        dir.join(format!("2025120{i}-143000-s{i}.md"))
    }

    /// Old modification times, so nothing is racy and a full look has to trust `stat`.
    fn age(path: &Path) {
        let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        if let Ok(f) = fs::OpenOptions::new().append(true).open(path) {
            let _ = f.set_modified(old);
        }
    }

    /// Applies `op`; returns the paths an event would name.
    fn apply(dir: &Path, op: &Op) -> Vec<PathBuf> {
        match *op {
            Op::Write(f, v) => {
                let p = name(dir, f);
                let _ = fs::remove_file(&p);
                fs::write(&p, text(v)).unwrap();
                age(&p);
                vec![p]
            }
            Op::Sneak(f) => {
                let p = name(dir, f);
                if let Ok(mut bytes) = fs::read(&p)
                    && let Some(b) = bytes.iter_mut().find(|b| b.is_ascii_lowercase())
                {
                    *b = if *b == b'z' { b'a' } else { *b + 1 };
                    let mtime = fs::metadata(&p).and_then(|m| m.modified()).unwrap();
                    fs::write(&p, bytes).unwrap();
                    let f = fs::OpenOptions::new().append(true).open(&p).unwrap();
                    f.set_modified(mtime).unwrap();
                }
                // Written through symlinks, the event names the file written: the last target.
                let target =
                    fs::canonicalize(&p).map(|t| dir.join(t.file_name().unwrap_or_default()));
                [Ok(p), target].into_iter().flatten().collect()
            }
            Op::Delete(f) => {
                let p = name(dir, f);
                let _ = fs::remove_file(&p);
                vec![p]
            }
            Op::Rename(a, b) => {
                let (pa, pb) = (name(dir, a), name(dir, b));
                let _ = fs::rename(&pa, &pb);
                vec![pa, pb]
            }
            Op::Symlink(a, b) => {
                let (pa, pb) = (name(dir, a), name(dir, b));
                if a != b {
                    let _ = fs::remove_file(&pa);
                    let _ = std::os::unix::fs::symlink(pb.file_name().unwrap(), &pa);
                }
                vec![pa]
            }
        }
    }

    /// A repository holding the sessions `files` (by `name`), its first full look, and the
    /// tracker that took it.
    fn first_look(files: &[usize]) -> (tempfile::TempDir, Repo, PathBuf, Tracker, Snapshot) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".agents/sessions");
        fs::create_dir_all(&dir).unwrap();
        for &i in files {
            fs::write(name(&dir, i), text(i)).unwrap();
        }
        let repo = crate::store::Repo::at(tmp.path().to_path_buf());
        let mut tracker = Tracker::default();
        let first = tracker
            .snapshot(&repo, Utc::now(), &Changes::everything(), None)
            .unwrap();
        (tmp, repo, dir, tracker, first)
    }

    /// A look whose events name one file hands every other session on as the same `Arc`:
    /// nothing of them is copied, and `diff` passes them over by pointer.
    #[test]
    fn a_change_to_one_file_shares_the_other_sessions() {
        let (_tmp, repo, dir, mut tracker, first) = first_look(&[0, 1, 2, 3]);
        let now = first.at;
        let mut changes = Changes::default();
        changes.add(apply(&dir, &Op::Write(2, 9)));
        let later = now + chrono::Duration::seconds(1);
        let next = tracker
            .snapshot(&repo, later, &changes, Some(&first))
            .unwrap();
        assert_eq!(first.sessions.len(), 4);
        for (id, s) in first.sessions.iter() {
            let shared = next.sessions.get(id).is_some_and(|n| Arc::ptr_eq(s, n));
            assert_eq!(shared, !id.starts_with("20251202"), "{id}");
        }
        let events: Vec<_> = diff(&first, &next)
            .iter()
            .map(|e| format!("{} {}", e.name(), e.session().unwrap_or_default()))
            .collect();
        assert_eq!(events, ["session-updated 20251202-143000-s2"]);
    }

    /// Sessions come out in id order, the ones gone after them, however the two looks
    /// interleave.
    #[test]
    fn events_keep_their_order() {
        let (_tmp, repo, dir, mut tracker, first) = first_look(&[0, 1, 3, 5]);
        let now = first.at;
        let mut changes = Changes::default();
        for op in [
            Op::Delete(0),
            Op::Write(2, 1),
            Op::Write(3, 8),
            Op::Delete(5),
            Op::Write(6, 5),
        ] {
            changes.add(apply(&dir, &op));
        }
        let next = tracker
            .snapshot(&repo, now, &changes, Some(&first))
            .unwrap();
        let events: Vec<_> = diff(&first, &next)
            .iter()
            .map(|e| format!("{} {}", e.name(), e.session().unwrap_or_default()))
            .collect();
        assert_eq!(
            events,
            [
                "session-created 20251202-143000-s2",
                "session-invalid 20251202-143000-s2",
                "session-updated 20251203-143000-s3",
                "session-created 20251206-143000-s6",
                "session-invalid 20251206-143000-s6",
                "session-deleted 20251200-143000-s0",
                "session-deleted 20251205-143000-s5",
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// After every change, the incremental look (told the paths events name) and a full
        /// look by a tracker never told anything (edits behind its back, same size and mtime
        /// included) both equal a fresh read of everything: no stale fact survives.
        #[test]
        fn incremental_and_keyed_looks_equal_a_fresh_read(ops in proptest::collection::vec(op(), 1..14)) {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            fs::create_dir_all(root.join(".agents/sessions")).unwrap();
            let dir = root.join(".agents/sessions");
            let repo = crate::store::Repo::at(root.to_path_buf());
            // The files say they were updated at 15:10 the day before, and stale is a day
            // later: the looks go back and forth across that moment.
            let start = DateTime::parse_from_rfc3339("2025-12-05T13:00:00Z").unwrap().to_utc();
            let mut now = start;
            let (mut told, mut blind) = (Tracker::default(), Tracker::default());
            let mut snap = told.snapshot(&repo, now, &Changes::everything(), None).unwrap();
            let mut blind_snap = blind.snapshot(&repo, now, &Changes::everything(), None).unwrap();
            for (i, op) in ops.iter().enumerate() {
                now = start + chrono::Duration::minutes((i as i64 * 97) % 300);
                let mut changes = Changes::default();
                changes.add(apply(&dir, op));
                let fresh = Tracker::default().snapshot(&repo, now, &Changes::everything(), None).unwrap();
                let next = told.snapshot(&repo, now, &changes, Some(&snap)).unwrap();
                prop_assert_eq!(facts(&next), facts(&fresh), "told, after {:?}", op);
                let blind_next = blind.snapshot(&repo, now, &Changes::everything(), Some(&blind_snap)).unwrap();
                prop_assert_eq!(facts(&blind_next), facts(&fresh), "blind, after {:?}", op);
                snap = next;
                blind_snap = blind_next;
            }
        }
    }
}
