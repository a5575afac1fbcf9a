//! Truth on every read: load run records once, reconcile them against the live processes
//! (pid + start time), and write every finished-but-unrecorded outcome back into its session
//! file. `agents`, `list`, `status`, `close`/`delete`, `logs`, `kill` and `prune` all start
//! here, so a run whose supervisor died is shown — and written — as `failed (lost)`, never
//! left `running`.
//!
//! Cheap by design: with no `.agents/state/runs/` it is one failed `read_dir`; a finished,
//! written-back record costs one small JSON parse and no `/proc` lookup.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::compact;
use super::record::{self, LoadReport, RunRecord};
use super::{notify, writeback};
use crate::error::Result;
use crate::store::{Repo, SessionId};

/// Reconciled run records, oldest first.
#[derive(Debug, Default)]
pub struct Runs {
    pub records: Vec<(PathBuf, RunRecord)>,
    /// Corrupt records and failed write-backs, as `path: message` lines (for `agents` to warn).
    pub problems: Vec<String>,
}

impl Runs {
    /// Every run of the repository (all held: [`Runs::stream`] is for listing them).
    pub fn load(repo: &Repo) -> Runs {
        let (mut runs, mut compacted) = Runs::stream(repo);
        let mut errors = Vec::new();
        runs.records = compacted.records(&mut errors).collect();
        errors.extend(compacted.errors().iter().cloned());
        runs.problems.extend(problems(&errors));
        runs
    }

    /// Every run of the repository, oldest first, without holding the settled ones: the loose
    /// records are loaded and settled (reconciled, written back), settled ones are compacted
    /// once [`compact::COMPACT_AT`] of them have piled up, and the compacted records are
    /// streamed behind them. The returned `Runs` holds the problems met so far and no records;
    /// corrupt compacted lines are reported by the iterator (see [`compacted_problems`]).
    pub fn stream(repo: &Repo) -> (Runs, compact::Merged) {
        let state_dir = repo.state_dir();
        let mut runs = Runs::settle(record::load_loose(&state_dir));
        let now = Utc::now();
        if runs
            .records
            .iter()
            .filter(|(_, r)| compact::eligible(r, now))
            .count()
            >= compact::COMPACT_AT
            && let Some(views) = compact::views()
            && let Err(e) = compact::compact(&state_dir, &runs.records, views)
        {
            runs.problems
                .push(format!("cannot compact finished runs: {e}"));
        }
        let loose = std::mem::take(&mut runs.records);
        (
            runs,
            compact::Merged::new(loose, compact::Compacted::open(&state_dir)),
        )
    }

    /// Only the runs not yet settled (running, or finished but not written back): all that
    /// running counts need, at the cost of a few directory reads however many runs are kept.
    pub fn load_live(repo: &Repo) -> Runs {
        Runs::settle(record::load_live(&repo.state_dir()))
    }

    /// The runs of one session.
    pub fn load_session(repo: &Repo, session: &SessionId) -> Runs {
        let state_dir = repo.state_dir();
        let mut runs = Runs::settle(record::load_loose_session(&state_dir, session.as_str()));
        let mut merged = compact::Merged::new(
            std::mem::take(&mut runs.records),
            compact::Compacted::of_session(&state_dir, session.as_str()),
        );
        let mut errors = Vec::new();
        runs.records = merged.records(&mut errors).collect();
        errors.extend(merged.errors().iter().cloned());
        runs.problems.extend(problems(&errors));
        runs
    }

    fn settle(mut report: LoadReport) -> Runs {
        super::reconcile::reconcile_report(&mut report);
        let mut problems = problems(&report.errors);
        let now = Utc::now();
        for (path, rec) in report.records.iter_mut() {
            // Esc fires no hook: an interactive run's turn state is checked against its pane.
            super::waiting::check_pane(path, rec, now);
            if rec.needs_write_back() {
                match write_back_once(path) {
                    Ok(fresh) => *rec = fresh,
                    Err(e) => problems.push(format!(
                        "run {} ({}): cannot write its outcome into the session file: {e}",
                        rec.id, rec.agent
                    )),
                }
            } else if !rec.status.is_active() && super::queue::pending(rec) {
                // A message queued while it ran, not delivered yet (its deliverer died, or
                // the message came in as it ended).
                super::queue::deliver_pending(rec);
            }
        }
        Runs {
            records: report.records,
            problems,
        }
    }

    /// Runs of the session with this stem.
    pub fn of<'a>(
        &'a self,
        stem: &str,
    ) -> impl Iterator<Item = &'a (PathBuf, RunRecord)> + use<'a> {
        let stem = stem.to_owned();
        self.records.iter().filter(move |(_, r)| r.session == stem)
    }

    /// How many of the session's runs are active; `None` when none of its runs were loaded
    /// (then the file's `spawned_agents` statuses, written back, are all there is to go by).
    pub fn running(&self, stem: &str) -> Option<usize> {
        let mut any = false;
        let mut n = 0;
        for (_, r) in self.of(stem) {
            any = true;
            n += usize::from(r.status.is_active());
        }
        any.then_some(n)
    }

    /// [`Runs::running`] of every session that has runs, in one pass over the records.
    pub fn running_by_session(&self) -> HashMap<&str, usize> {
        let mut counts = HashMap::new();
        for (_, r) in &self.records {
            *counts.entry(r.session.as_str()).or_insert(0) += usize::from(r.status.is_active());
        }
        counts
    }
}

/// Unreadable records as `path: message` lines.
pub fn problems(errors: &[(PathBuf, String)]) -> Vec<String> {
    errors
        .iter()
        .map(|(p, e)| format!("{}: {e}", p.display()))
        .collect()
}

/// Writes a finished run back into its session file unless that already happened, under the
/// record's lock (so two readers never both do it), then marks the record and notifies.
pub fn write_back_once(path: &Path) -> Result<RunRecord> {
    let mut failure = None;
    let (rec, done) = record::update_if(path, |r| {
        if !r.needs_write_back() {
            return false;
        }
        match writeback::write_back(r, Utc::now()) {
            Ok(_) => {
                r.written_back = true;
                true
            }
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    if done {
        notify::on_finished(&rec);
    }
    if !rec.status.is_active() && super::queue::pending(&rec) {
        super::queue::deliver_pending(&rec);
    }
    Ok(rec)
}

/// The supervisor's `on_exit`: write the outcome back, notify, and continue the conversation
/// with the messages queued for it meanwhile.
pub fn on_exit(rec: &RunRecord) -> Result<()> {
    writeback::write_back(rec, Utc::now())?;
    notify::on_finished(rec);
    if super::queue::pending(rec) {
        super::queue::deliver_pending(rec);
    }
    Ok(())
}

/// A `spawned_agents` entry that says `in_progress` but has no run record on this machine: a
/// fresh clone (`.agents/state/` is git-ignored), deleted state, or a run of another machine.
#[derive(Debug, Clone)]
pub struct Orphan {
    /// Session file stem.
    pub session: String,
    pub agent: String,
    pub task: String,
    pub run_id: String,
    /// Log path relative to the repository root, as the entry gives it.
    pub log: Option<String>,
    pub conversation_id: Option<String>,
    /// The host the entry says the run was launched on.
    pub host: Option<String>,
    pub state: OrphanState,
}

/// What this machine can tell about an [`Orphan`] (see `docs/runs.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrphanState {
    /// Processes started with the run's environment are alive here: running, unsupervised.
    Running(Vec<u32>),
    /// It may be running on another machine: why we think so.
    Unknown(String),
    /// It was launched here and nothing of it runs: written back `failed`, `reason: lost`.
    Lost,
}

impl Orphan {
    /// `running (no run record; found by its environment: pids 12, 13)`, `unknown (…)`,
    /// `failed (lost)`.
    pub fn describe(&self) -> String {
        match &self.state {
            OrphanState::Running(pids) => {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                format!(
                    "running without a run record (found by its environment: pid {})",
                    pids.join(", ")
                )
            }
            OrphanState::Unknown(why) => format!("unknown ({why})"),
            OrphanState::Lost => format!("failed (lost: {NO_RECORD})"),
        }
    }

    /// The status word, as `agents --json` prints it.
    pub fn status(&self) -> &'static str {
        match self.state {
            OrphanState::Running(_) => "running",
            OrphanState::Unknown(_) => "unknown",
            OrphanState::Lost => "failed",
        }
    }
}

const NO_RECORD: &str = "no run record on this machine";

/// Reconciles the `in_progress` entries of the session file at `path` that have no run record
/// here: one that was launched on this machine (its `host` is ours, or, for entries without a
/// host, its log is here) and of which no process runs is `lost` — written back `failed` with
/// `reason: lost`, and recorded so `agents` and `prune` see it; one of another (or an unknown)
/// machine is `unknown` and left alone; one whose processes are found (by `SESSIONS_RUN_ID`
/// in their environment) is running. Entries without a `run_id` were not spawned by us and
/// are never touched. Returns the file's text as it is afterwards and the orphans found.
///
/// Cheap when there are none: one parse of the frontmatter and a `stat` per `in_progress`
/// entry.
pub fn check_entries(repo: &Repo, path: &Path, text: String) -> (String, Vec<Orphan>) {
    let stem = crate::store::SessionId::of(path);
    let state_dir = repo.state_dir();
    let mut orphans = candidates(&text, &stem)
        .into_iter()
        .filter(|o| !record::exists(&state_dir, &stem, &o.run_id))
        .collect::<Vec<_>>();
    if orphans.is_empty() {
        return (text, orphans);
    }
    let snap = super::process::snapshot();
    let here = super::runner::host_name();
    for o in &mut orphans {
        let pids = super::process::with_env(
            &snap,
            &[("SESSIONS_RUN_ID", &o.run_id), ("SESSIONS_SESSION", &stem)],
        );
        o.state = if !pids.is_empty() {
            OrphanState::Running(pids)
        } else {
            match (&o.host, &here) {
                (Some(h), Some(me)) if h == me => OrphanState::Lost,
                (Some(h), _) => OrphanState::Unknown(format!(
                    "spawned on host {h}; {NO_RECORD}, it may still be running there"
                )),
                (None, _) if o.log.as_ref().is_some_and(|l| repo.root.join(l).is_file()) => {
                    OrphanState::Lost
                }
                (None, _) => OrphanState::Unknown(format!(
                    "{NO_RECORD} and no log; the entry does not say which host ran it"
                )),
            }
        };
    }
    let lost: Vec<&Orphan> = orphans
        .iter()
        .filter(|o| o.state == OrphanState::Lost)
        .collect();
    if lost.is_empty() {
        return (text, orphans);
    }
    let now = Utc::now();
    let written = writeback::edit(repo, path, now, |text| {
        lost.iter()
            .flat_map(|o| lost_ops(repo, path, text, o, now))
            .collect()
    });
    match written {
        Ok(_) => {
            for o in &lost {
                // A record that cannot be saved is looked for (and settled) again next time.
                if let Some(rec) = lost_record(repo, path, o, here.clone(), now) {
                    let _ = record::save(&record::record_path(&state_dir, &stem, &o.run_id), &rec);
                }
            }
        }
        Err(e) => {
            let why = format!("lost, but its entry cannot be marked failed: {e}");
            for o in orphans.iter_mut().filter(|o| o.state == OrphanState::Lost) {
                o.state = OrphanState::Unknown(why.clone());
            }
        }
    }
    let text = crate::store::read_session(path).unwrap_or(text);
    (text, orphans)
}

/// `in_progress` entries with a `run_id` (state not yet known).
fn candidates(text: &str, stem: &str) -> Vec<Orphan> {
    let doc = crate::session::Document::parse_frontmatter(text);
    let Some(items) = doc
        .value(&["orchestration", "spawned_agents"])
        .map(crate::session::yaml::Node::items)
    else {
        return Vec::new();
    };
    let field = |n: &crate::session::yaml::Node, k: &str| {
        n.get(k)
            .and_then(crate::session::yaml::Node::as_str)
            .map(str::to_owned)
    };
    items
        .iter()
        .filter(|n| field(n, "status").as_deref() == Some("in_progress"))
        .filter_map(|n| {
            Some(Orphan {
                session: stem.to_string(),
                run_id: field(n, "run_id").filter(|r| !r.is_empty())?,
                agent: field(n, "agent").unwrap_or_default(),
                task: field(n, "task").unwrap_or_default(),
                log: field(n, "log"),
                conversation_id: field(n, "conversation_id"),
                host: field(n, "host"),
                state: OrphanState::Unknown(String::new()),
            })
        })
        .collect()
}

/// Marks a lost orphan's entry `failed`, `reason: lost`, with a Session Log line (its log
/// linked only if the log exists); nothing when the entry no longer says `in_progress`.
fn lost_ops(
    repo: &Repo,
    path: &Path,
    text: &str,
    o: &Orphan,
    now: chrono::DateTime<Utc>,
) -> Vec<crate::session::edit::Op> {
    use crate::session::edit::{Op, Scalar, Seg, key_path};
    let log = o.log.clone().unwrap_or_default();
    let Some(i) = writeback::find_entry(text, &o.run_id, &log) else {
        return Vec::new();
    };
    let still = candidates(text, &o.session)
        .iter()
        .any(|c| c.run_id == o.run_id);
    if !still {
        return Vec::new();
    }
    let field = |k: &str| {
        let mut p = key_path(&["orchestration", "spawned_agents"]);
        p.push(Seg::Index(i));
        p.push(Seg::Key(k.into()));
        p
    };
    let abs = repo.root.join(&log);
    let link = if !log.is_empty() && abs.is_file() {
        format!(" — [log]({})", writeback::link_target(path, &abs))
    } else {
        String::new()
    };
    vec![
        Op::Set {
            path: field("status"),
            value: Scalar::Plain("failed".into()),
        },
        Op::Set {
            path: field("reason"),
            value: Scalar::Plain("lost".into()),
        },
        Op::Log {
            at: now,
            actor: o.agent.clone(),
            message: format!(
                "Agent {} failed (lost: {NO_RECORD}, and none of its processes runs){link}",
                o.agent
            ),
        },
    ]
}

/// The record kept for a lost orphan, so every run the file names is recorded here too.
/// Built from JSON so that every field a record may gain keeps its serde default.
fn lost_record(
    repo: &Repo,
    path: &Path,
    o: &Orphan,
    host: Option<String>,
    now: chrono::DateTime<Utc>,
) -> Option<RunRecord> {
    let at = crate::session::edit::timestamp(now);
    let log = o
        .log
        .clone()
        .unwrap_or_else(|| repo.display(&repo.logs_dir()));
    let value = serde_json::json!({
        "version": record::RECORD_VERSION,
        "id": o.run_id,
        "session": o.session,
        "session_file": path,
        "agent": o.agent,
        "task": o.task,
        "conversation_id": o.conversation_id,
        "argv": [],
        "cwd": repo.root,
        "root": repo.root,
        "log": log,
        "log_cap": 0,
        "log_keep": 0,
        "supervisor_argv": [],
        "host": o.host.clone().or(host),
        // Unknown: the time it was found lost.
        "started_at": at,
        "ended_at": at,
        "status": "lost",
        "reason": "lost",
        "summary": format!("lost: {NO_RECORD}"),
        "written_back": true,
    });
    serde_json::from_value(value).ok()
}
