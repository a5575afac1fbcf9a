//! Run records: one JSON file per run at `<state_dir>/runs/<session-stem>/<run-id>.json`.
//!
//! Owns the record's shape, its atomic saves, its locked read-modify-write and the loading
//! of many. It never looks at a process: whether a recorded run is alive is the runner's to
//! say (see `reconcile`), so a record of a run on another host reads the same as a local one.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::output::Tokens;
use super::runner::state::{FLAT_TMUX, RunnerState};
use super::{Error, IoContext, Result};

/// Schema version written into every record. 2: `runner` is a tagged enum (version 1 had a
/// flat `"runner": "tmux"` and `"tmux_session"`; [`load`] still reads those).
pub const RECORD_VERSION: u32 = 2;

/// Lifecycle of a run. `Lost` is shown as `failed (lost)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Starting,
    Running,
    Completed,
    Failed,
    Cancelled,
    Lost,
}

impl RunStatus {
    pub fn is_active(self) -> bool {
        matches!(self, RunStatus::Starting | RunStatus::Running)
    }

    /// The status word for the session file / `agents --json`: `running`, `completed`,
    /// `failed` (also for `Lost`) or `cancelled`.
    pub fn session_status(self) -> &'static str {
        match self {
            RunStatus::Starting | RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed | RunStatus::Lost => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Human form: `running`, `completed`, `failed`, `failed (lost)`, `cancelled`, `starting`.
    pub fn display(self) -> &'static str {
        match self {
            RunStatus::Starting => "starting",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Lost => "failed (lost)",
        }
    }
}

/// One run of one agent for one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(default = "default_version")]
    pub version: u32,
    /// Short run id (8 hex digits of a v4 uuid).
    pub id: String,
    /// Session file stem.
    pub session: String,
    /// Absolute path of the session file at spawn (write-back falls back to
    /// `.agents/sessions/<session>.md` when it has moved).
    #[serde(default)]
    pub session_file: Option<PathBuf>,
    pub agent: String,
    pub task: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The agent's argv, exactly as executed (never through a shell).
    pub argv: Vec<String>,
    /// Extra environment for the agent.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Absolute working directory of the agent.
    pub cwd: PathBuf,
    /// Absolute repository root; `log` is relative to it.
    pub root: PathBuf,
    /// Log path, relative to `root` (as linked from the session file).
    pub log: PathBuf,
    /// Rotate the log when it grows past this many bytes.
    pub log_cap: u64,
    /// Bytes of tail kept at rotation.
    pub log_keep: u64,
    /// How the agent is run, and what that runner needs to find it again.
    #[serde(default)]
    pub runner: RunnerState,
    /// argv prefix that re-enters the supervisor (`[exe, "<hidden subcommand>"]`).
    pub supervisor_argv: Vec<String>,
    /// Host name of the machine that launched the run (runs are only visible there).
    #[serde(default)]
    pub host: Option<String>,
    /// The `sessions spawn` process that wrote this record, until a supervisor takes over: a
    /// record with no supervisor whose spawner is gone was interrupted before the agent ran.
    #[serde(default)]
    pub spawner_pid: Option<u32>,
    #[serde(default)]
    pub spawner_start: Option<u64>,
    #[serde(default)]
    pub supervisor_pid: Option<u32>,
    #[serde(default)]
    pub supervisor_start: Option<u64>,
    #[serde(default)]
    pub pid: Option<u32>,
    /// Clock ticks since boot (field 22 of `/proc/<pid>/stat`).
    #[serde(default)]
    pub pid_start: Option<u64>,
    #[serde(default)]
    pub pgid: Option<i32>,
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    #[serde(default, with = "ts_opt")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub signal: Option<i32>,
    pub status: RunStatus,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    /// Cost in US dollars, as the agent reported it (Claude Code does; Codex and Gemini don't).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Input and output tokens, as the agent reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Tokens>,
    /// Model turns, as the agent reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<u64>,
    #[serde(default)]
    pub cancel_requested: bool,
    /// The outcome has been written back into the session file.
    #[serde(default)]
    pub written_back: bool,
    /// The linked git worktree the agent runs in (`spawn --worktree`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<Worktree>,
    /// The run this one continues (`sessions send`, `restart`, a queued message): same
    /// conversation, resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumes: Option<String>,
    /// Working or waiting for the person, as the agent's turn hooks last said (interactive
    /// runs; see `waiting`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<super::waiting::TurnState>,
    /// Notification targets that failed for this run (`target: why`), for `agents` to show.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify_failures: Vec<String>,
    /// The machine whose session file holds this run's entry, when that is not this one: a
    /// run started here over ssh (`spawn --owned-by`). Its outcome is written back there, by
    /// the owner, never into this checkout's copy of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A linked git worktree made for a run: where, on which branch, from which base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worktree {
    /// Absolute path of the worktree.
    pub path: PathBuf,
    pub branch: String,
    /// The base as given (`main`, a tag) or, for a detached HEAD, its commit.
    pub base: String,
    /// The commit the branch started from (still known when the base branch is deleted).
    pub base_commit: String,
    /// sessions created the branch: only such a branch is ever deleted by a cleanup.
    pub created_branch: bool,
    /// Removed by `sessions worktree remove` (or the cleanup of `prune`/`close`).
    #[serde(default)]
    pub removed: bool,
}

fn default_version() -> u32 {
    RECORD_VERSION
}

impl RunRecord {
    /// `<state_dir>/runs/<session>/<id>.json`.
    pub fn path_in(&self, state_dir: &Path) -> PathBuf {
        record_path(state_dir, &self.session, &self.id)
    }

    /// Absolute log path.
    pub fn log_path(&self) -> PathBuf {
        if self.log.is_absolute() {
            self.log.clone()
        } else {
            self.root.join(&self.log)
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("RunRecord serializes");
        v.push(b'\n');
        v
    }
}

/// `<state_dir>/runs/<session>/<id>.json`.
pub fn record_path(state_dir: &Path, session: &str, id: &str) -> PathBuf {
    state_dir
        .join("runs")
        .join(session)
        .join(format!("{id}.json"))
}

/// A new short run id: the first 8 hex digits of a v4 uuid.
pub fn new_run_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    u[..8].to_string()
}

pub fn load(path: &Path) -> Result<RunRecord> {
    // Records are small: a fixed first guess saves the `statx` of `fs::read`, which shows
    // when `agents` reads a thousand of them.
    let mut bytes = Vec::with_capacity(4096);
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .at(path)?;
    parse(&bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// A record from its JSON, in the current shape or in version 1's.
pub fn parse(bytes: &[u8]) -> serde_json::Result<RunRecord> {
    match serde_json::from_slice(bytes) {
        Err(e) if e.to_string().contains(FLAT_TMUX) => upgrade_v1(bytes).ok_or(e),
        other => other,
    }
}

/// Version 1 kept a tmux run's session beside a flat `"runner": "tmux"`; move it into the
/// tagged `runner`. Only tmux records of version 1 pay for this second parse.
fn upgrade_v1(bytes: &[u8]) -> Option<RunRecord> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let obj = value.as_object_mut()?;
    let session = obj.remove("tmux_session")?;
    obj.insert(
        "runner".into(),
        serde_json::json!({"kind": "tmux", "session": session}),
    );
    serde_json::from_value(value).ok()
}

/// Write `rec` to `path` atomically: temp file in the same directory, rename. A finished
/// record is fsynced first, as its outcome must survive a crash; an active one is not: after a
/// crash its processes are gone and reconciling turns it `lost` whatever it said, so the
/// fsyncs would only slow `spawn` down. (The directory itself is not fsynced: a crash may lose
/// the newest rename, never tear a record.)
pub fn save(path: &Path, rec: &RunRecord) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{}: no parent directory", path.display())))?;
    fs::create_dir_all(dir).at(dir)?;
    let opts = crate::atomic::Options {
        prefix: ".tmp-",
        suffix: ".json",
        sync_file: !rec.status.is_active(),
        ..Default::default()
    };
    crate::atomic::write(path, &rec.to_json(), &opts).map_err(|e| Error::Io {
        path: e.path,
        source: e.source,
    })?;
    if rec.written_back && !rec.status.is_active() {
        unmark_live(path);
    }
    Ok(())
}

/// `<session dir>/live/<id>`: an empty marker that exists from launch until the run's outcome
/// is in its session file. Readers that only need unsettled runs (`list`, `status`) read
/// these few instead of parsing every record ever kept.
fn live_marker(path: &Path) -> Option<PathBuf> {
    Some(path.parent()?.join(LIVE_DIR).join(path.file_stem()?))
}

const LIVE_DIR: &str = "live";

/// Marks the run at `path` live (before its record is first saved, so no live run lacks it).
pub fn mark_live(path: &Path) -> Result<()> {
    let marker = live_marker(path)
        .ok_or_else(|| Error::Invalid(format!("{}: not a record path", path.display())))?;
    if let Some(dir) = marker.parent() {
        fs::create_dir_all(dir).at(dir)?;
    }
    File::create(&marker).at(&marker)?;
    Ok(())
}

fn unmark_live(path: &Path) {
    if let Some(marker) = live_marker(path) {
        let _ = fs::remove_file(marker);
    }
}

/// Read-modify-write `path` under an exclusive `flock` on its directory, so concurrent
/// updaters (supervisor, `kill`, reconciling readers) never lose each other's changes.
/// Returns the saved record and the closure's result. The record is saved even if the
/// closure changed nothing. A compacted record (see `compact`) is written back out as a loose
/// file, which from then on wins over its compacted line.
pub fn update<T>(path: &Path, f: impl FnOnce(&mut RunRecord) -> T) -> Result<(RunRecord, T)> {
    let _lock = lock_dir(path)?;
    let mut rec = load_or_compacted(path)?;
    let out = f(&mut rec);
    save(path, &rec)?;
    Ok((rec, out))
}

/// Like [`update`], but the closure says whether it changed anything; saves only then.
pub fn update_if(path: &Path, f: impl FnOnce(&mut RunRecord) -> bool) -> Result<(RunRecord, bool)> {
    let _lock = lock_dir(path)?;
    let mut rec = load_or_compacted(path)?;
    let changed = f(&mut rec);
    if changed {
        save(path, &rec)?;
    }
    Ok((rec, changed))
}

/// The record at `path`, or, when that file is gone, its compacted line.
fn load_or_compacted(path: &Path) -> Result<RunRecord> {
    match load(path) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let found = (|| {
                let id = path.file_stem()?.to_str()?;
                let dir = path.parent()?;
                let session = dir.file_name()?.to_str()?;
                let state_dir = dir.parent()?.parent()?;
                super::compact::find(state_dir, session, id)
            })();
            found.ok_or_else(|| Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        other => other,
    }
}

/// Whether the run has a record here, loose or compacted.
pub fn exists(state_dir: &Path, session: &str, id: &str) -> bool {
    record_path(state_dir, session, id).exists() || super::compact::contains(state_dir, session, id)
}

/// Runs `f` under the exclusive lock of the record's directory (as [`update`] holds it).
pub(crate) fn with_dir_lock<T>(path: &Path, f: impl FnOnce() -> T) -> Result<T> {
    let _lock = lock_dir(path)?;
    Ok(f())
}

/// Exclusive lock on the record's directory, released on drop.
fn lock_dir(path: &Path) -> Result<File> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{}: no parent directory", path.display())))?;
    let f = File::open(dir).at(dir)?;
    f.lock().at(dir)?;
    Ok(f)
}

/// Records found by a load, plus the ones that could not be read.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// `(path, record)`, sorted by `started_at` then id.
    pub records: Vec<(PathBuf, RunRecord)>,
    /// `(path, error message)` of corrupt or unreadable records (skipped).
    pub errors: Vec<(PathBuf, String)>,
}

/// Every record under `<state_dir>/runs/`, loose and compacted (a loose file wins over its
/// compacted line). A missing directory is an empty report.
pub fn load_all(state_dir: &Path) -> LoadReport {
    let mut report = load_loose(state_dir);
    add_compacted(&mut report, super::compact::Compacted::open(state_dir));
    report
}

/// The loose record files only (`<state_dir>/runs/<session>/<id>.json`): the runs still
/// live, the recently finished ones and anything not compacted yet.
pub fn load_loose(state_dir: &Path) -> LoadReport {
    let mut report = LoadReport::default();
    let runs = state_dir.join("runs");
    let Ok(dir) = fs::read_dir(&runs) else {
        return report;
    };
    let mut sessions: Vec<PathBuf> = dir
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    sessions.sort();
    for s in sessions {
        load_dir(&s, &mut report);
    }
    sort_report(&mut report);
    report
}

/// Adds the compacted records no loose record of the report hides, keeping the order.
pub fn add_compacted(report: &mut LoadReport, compacted: super::compact::Compacted) {
    let mut merged = super::compact::Merged::new(std::mem::take(&mut report.records), compacted);
    let mut errors = Vec::new();
    report.records = merged.records(&mut errors).collect();
    report.errors.extend(errors);
    report.errors.extend(merged.errors().iter().cloned());
}

/// Records of runs still live (running, or finished without their outcome written back), as
/// their markers say. Stale markers (settled or missing records) are removed.
pub fn load_live(state_dir: &Path) -> LoadReport {
    let mut report = LoadReport::default();
    let Ok(dir) = fs::read_dir(state_dir.join("runs")) else {
        return report;
    };
    for session in dir.flatten() {
        let Ok(markers) = fs::read_dir(session.path().join(LIVE_DIR)) else {
            continue;
        };
        for m in markers.flatten() {
            let path = session
                .path()
                .join(format!("{}.json", m.file_name().to_string_lossy()));
            match load(&path) {
                Ok(rec) if rec.written_back && !rec.status.is_active() => unmark_live(&path),
                Ok(rec) => report.records.push((path, rec)),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    let _ = fs::remove_file(m.path());
                }
                Err(err) => report.errors.push((path, err.to_string())),
            }
        }
    }
    sort_report(&mut report);
    report
}

/// Records of one session (by file stem), loose and compacted.
pub fn load_for_session(state_dir: &Path, session: &str) -> LoadReport {
    let mut report = load_loose_session(state_dir, session);
    add_compacted(
        &mut report,
        super::compact::Compacted::of_session(state_dir, session),
    );
    report
}

/// The loose records of one session.
pub fn load_loose_session(state_dir: &Path, session: &str) -> LoadReport {
    let mut report = LoadReport::default();
    load_dir(&state_dir.join("runs").join(session), &mut report);
    sort_report(&mut report);
    report
}

/// Oldest start first (the order of the compacted file, see `compact::Key`).
fn sort_report(report: &mut LoadReport) {
    report
        .records
        .sort_by_cached_key(|(_, r)| super::compact::Key::of(r));
}

fn load_dir(dir: &Path, report: &mut LoadReport) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        // Skip temp files of in-flight saves and anything that is not a record.
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let path = e.path();
        match load(&path) {
            Ok(rec) => report.records.push((path, rec)),
            // Gone since the listing: compacted (then its line is read next) or pruned.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => report.errors.push((path, err.to_string())),
        }
    }
}

/// Delete a finished run: its log, any leftover helper files, and its loose record (last, so
/// a crash leaves the record to retry). Refuses an active run. A compacted line stays until
/// the caller passes the run to `compact::forget` (one rewrite for a whole `prune`).
pub fn remove(path: &Path, rec: &RunRecord) -> Result<()> {
    if rec.status.is_active() {
        return Err(Error::Invalid(format!(
            "run {} is still {}",
            rec.id,
            rec.status.display()
        )));
    }
    unmark_live(path);
    for p in [rec.log_path(), path.with_extension("sink")] {
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at(&p),
            _ => {}
        }
    }
    // A compacted run has no loose file (its line goes with `compact::forget`).
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at(path),
        _ => {}
    }
    if let Some(dir) = path.parent() {
        // Drop the session's directory once empty (fails harmlessly otherwise).
        let _ = fs::remove_dir(dir.join(LIVE_DIR));
        let _ = fs::remove_dir(dir);
    }
    Ok(())
}

pub fn mark_written_back(path: &Path) -> Result<RunRecord> {
    Ok(update(path, |r| r.written_back = true)?.0)
}

/// RFC 3339 with milliseconds, for other state files of the agents module.
pub(crate) mod ts_pub {
    pub use super::ts::{deserialize, serialize};
}

mod ts {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(D::Error::custom)
    }
}

mod ts_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::ts::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "super::ts")] DateTime<Utc>);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(session: &str) -> RunRecord {
        RunRecord {
            version: RECORD_VERSION,
            id: new_run_id(),
            session: session.to_string(),
            session_file: None,
            agent: "claude".into(),
            task: "do things".into(),
            conversation_id: None,
            argv: vec!["true".into()],
            env: vec![],
            cwd: "/tmp".into(),
            root: "/tmp".into(),
            log: ".agents/logs/x/claude-1.log".into(),
            log_cap: 50 << 20,
            log_keep: 25 << 20,
            runner: RunnerState::Process,
            supervisor_argv: vec!["/bin/false".into()],
            host: None,
            spawner_pid: None,
            spawner_start: None,
            supervisor_pid: None,
            supervisor_start: None,
            pid: None,
            pid_start: None,
            pgid: None,
            started_at: Utc::now(),
            ended_at: None,
            exit_code: None,
            signal: None,
            status: RunStatus::Running,
            reason: None,
            summary: None,
            cost_usd: None,
            tokens: None,
            turns: None,
            cancel_requested: false,
            written_back: false,
            worktree: None,
            resumes: None,
            turn: None,
            notify_failures: Vec::new(),
            owner: None,
        }
    }

    #[test]
    fn roundtrip_and_corrupt_records_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = sample("s1");
        rec.ended_at = Some(Utc::now());
        let path = rec.path_in(dir.path());
        save(&path, &rec).unwrap();
        // Millisecond precision on disk.
        let back = load(&path).unwrap();
        assert_eq!(back.id, rec.id);
        assert_eq!(
            back.started_at.timestamp_millis(),
            rec.started_at.timestamp_millis()
        );
        assert!(back.ended_at.is_some());
        fs::write(dir.path().join("runs/s1/bad.json"), b"{not json").unwrap();
        fs::write(dir.path().join("runs/s1/.tmp-x.json"), b"partial").unwrap();
        fs::write(dir.path().join("runs/s1/notes.txt"), b"x").unwrap();
        let report = load_all(dir.path());
        assert_eq!(report.records.len(), 1);
        assert_eq!(report.errors.len(), 1);
        assert!(report.errors[0].0.ends_with("bad.json"));
        assert_eq!(load_for_session(dir.path(), "s1").records.len(), 1);
        assert!(load_for_session(dir.path(), "nope").records.is_empty());
        assert!(load_all(&dir.path().join("missing")).records.is_empty());
    }

    #[test]
    fn live_markers_follow_the_run_until_written_back() {
        let dir = tempfile::tempdir().unwrap();
        let rec = sample("s");
        let path = rec.path_in(dir.path());
        mark_live(&path).unwrap();
        save(&path, &rec).unwrap();
        assert_eq!(load_live(dir.path()).records.len(), 1);
        update(&path, |r| r.status = RunStatus::Completed).unwrap();
        assert_eq!(
            load_live(dir.path()).records.len(),
            1,
            "not yet written back"
        );
        mark_written_back(&path).unwrap();
        assert!(load_live(dir.path()).records.is_empty());
        assert_eq!(load_all(dir.path()).records.len(), 1);
        // A marker whose record is gone is dropped.
        let ghost = record_path(dir.path(), "s", "gone");
        mark_live(&ghost).unwrap();
        assert!(load_live(dir.path()).records.is_empty());
        assert!(!dir.path().join("runs/s/live/gone").exists());
    }

    #[test]
    fn update_is_serialized() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = sample("s");
        rec.exit_code = Some(0);
        let path = rec.path_in(dir.path());
        save(&path, &rec).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        update(&path, |r| *r.exit_code.as_mut().unwrap() += 1).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(load(&path).unwrap().exit_code, Some(80));
    }

    #[test]
    fn version_1_records_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut v1 = serde_json::to_value(sample("s")).unwrap();
        v1["version"] = 1.into();
        v1["runner"] = "tmux".into();
        v1["tmux_session"] = "s-1234abcd".into();
        let path = dir.path().join("tmux.json");
        fs::write(&path, serde_json::to_vec(&v1).unwrap()).unwrap();
        let rec = load(&path).unwrap();
        assert_eq!(
            rec.runner,
            RunnerState::Tmux(super::super::runner::state::TmuxState {
                session: "s-1234abcd".into()
            })
        );
        // Saved again in the current shape, without the flat field.
        save(&path, &rec).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(back["runner"]["kind"], "tmux");
        assert!(back.get("tmux_session").is_none());

        v1["runner"] = "process".into();
        v1["tmux_session"] = serde_json::Value::Null;
        fs::write(&path, serde_json::to_vec(&v1).unwrap()).unwrap();
        assert_eq!(load(&path).unwrap().runner, RunnerState::Process);
        v1.as_object_mut().unwrap().remove("runner");
        v1.as_object_mut().unwrap().remove("tmux_session");
        fs::write(&path, serde_json::to_vec(&v1).unwrap()).unwrap();
        assert_eq!(load(&path).unwrap().runner, RunnerState::Process);
        // A flat tmux runner without its session is a corrupt record, not a guess.
        v1["runner"] = "tmux".into();
        fs::write(&path, serde_json::to_vec(&v1).unwrap()).unwrap();
        assert!(matches!(load(&path), Err(Error::Json { .. })));
    }
}
