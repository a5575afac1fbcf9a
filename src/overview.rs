//! The few facts listings show about a session (SPEC §8 `list --json`), computed from the file.
//! `list`, `status`, the SessionStart hook and `watch` all use this one view.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::agents::sync::{Orphan, OrphanState, Runs};
use crate::session::Document;
use crate::session::rules::parse_timestamp;
use crate::session::yaml::Node;
use crate::summary_cache::Facts;

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct AgentCounts {
    pub total: usize,
    pub running: usize,
}

impl AgentCounts {
    /// The counts with the running one replaced by `running`, the reconciled count of the
    /// session's runs, when it has runs (see [`Runs::running`]).
    pub fn corrected(self, running: Option<usize>) -> AgentCounts {
        match running {
            Some(n) => AgentCounts {
                running: n,
                total: self.total.max(n),
            },
            None => self,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub path: String,
    pub id: String,
    pub title: String,
    pub status: String,
    pub created: Option<String>,
    pub last_updated: Option<String>,
    pub current_task: Option<String>,
    pub agents: AgentCounts,
    pub stale: bool,
    #[serde(skip)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub created_at: Option<DateTime<Utc>>,
}

impl Overview {
    /// The fields of its JSON, for `--json=FIELD,…`.
    pub const FIELDS: &[&str] = &[
        "path",
        "id",
        "title",
        "status",
        "created",
        "last_updated",
        "current_task",
        "agents",
        "stale",
    ];

    /// Builds the view of one file. `display` is the path as shown; `text` is `None` when
    /// the file could not be read (it is then listed with status `unreadable`).
    pub fn new(
        path: &Path,
        display: String,
        text: Option<&str>,
        now: DateTime<Utc>,
        stale_after: Duration,
    ) -> Self {
        let id = crate::store::SessionId::of(path).to_string();
        let mut o = Overview {
            path: display,
            title: id.clone(),
            id,
            status: "unreadable".into(),
            created: None,
            last_updated: None,
            current_task: None,
            agents: AgentCounts::default(),
            stale: false,
            updated_at: None,
            created_at: None,
        };
        let Some(text) = text else { return o };
        let doc = Document::parse_frontmatter(text);
        if doc.yaml().is_none() {
            o.status = "invalid".into();
            return o;
        }
        let get = |k: &[&str]| doc.str_value(k).map(str::to_owned);
        if let Some(t) = get(&["session", "title"]).filter(|t| !t.trim().is_empty()) {
            o.title = t;
        }
        o.status = get(&["session", "status"]).unwrap_or_else(|| "unknown".into());
        o.created = get(&["session", "created"]);
        o.last_updated = get(&["session", "last_updated"]);
        o.current_task = get(&["orchestration", "current_task"]);
        o.created_at = o.created.as_deref().and_then(|s| parse_timestamp(s).ok());
        o.updated_at = o
            .last_updated
            .as_deref()
            .and_then(|s| parse_timestamp(s).ok())
            .or(o.created_at);
        o.agents = agent_counts(doc.value(&["orchestration", "spawned_agents"]));
        o.restale(now, stale_after);
        o
    }

    /// The facts of an overview built from text, when the summary cache may remember them:
    /// not for an unreadable file, nor for one with an `in_progress` agent that may have been
    /// spawned here (`spawned`: its head names a `run_id`), whose entries must be checked
    /// against the run records on every read.
    pub fn facts(&self, spawned: bool) -> Option<Facts> {
        let checked = spawned && self.agents.running > 0;
        (self.status != "unreadable" && !checked).then(|| Facts {
            title: self.title.clone(),
            status: self.status.clone(),
            created: self.created.clone(),
            last_updated: self.last_updated.clone(),
            current_task: self.current_task.clone(),
            total: self.agents.total,
            running: self.agents.running,
        })
    }

    /// The overview remembered facts stand for, as [`Overview::new`] would build it from the
    /// text.
    pub fn from_facts(
        f: &Facts,
        path: &Path,
        display: String,
        now: DateTime<Utc>,
        stale_after: Duration,
    ) -> Overview {
        let created_at = f.created.as_deref().and_then(|s| parse_timestamp(s).ok());
        let mut o = Overview {
            path: display,
            id: crate::store::SessionId::of(path).to_string(),
            title: f.title.clone(),
            status: f.status.clone(),
            created: f.created.clone(),
            last_updated: f.last_updated.clone(),
            current_task: f.current_task.clone(),
            agents: AgentCounts {
                total: f.total,
                running: f.running,
            },
            stale: false,
            updated_at: f
                .last_updated
                .as_deref()
                .and_then(|s| parse_timestamp(s).ok())
                .or(created_at),
            created_at,
        };
        o.restale(now, stale_after);
        o
    }

    /// Sets `stale` as of `now`: not completed and not updated for longer than `stale_after`.
    pub fn restale(&mut self, now: DateTime<Utc>, stale_after: Duration) {
        self.stale = self.stale_by(Overview::stale_cutoff(now, stale_after));
    }

    /// The moment an update must be older than for a session to be stale as of `now`
    /// (`None`: nothing can be that old). Computed once, it makes [`Overview::stale_by`] a
    /// comparison, for a look at many sessions.
    pub fn stale_cutoff(now: DateTime<Utc>, stale_after: Duration) -> Option<DateTime<Utc>> {
        chrono::Duration::from_std(stale_after)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
    }

    /// Whether it is stale as of the `cutoff` of [`Overview::stale_cutoff`].
    pub fn stale_by(&self, cutoff: Option<DateTime<Utc>>) -> bool {
        self.status != "completed" && cutoff.is_some_and(|c| self.updated_at.is_some_and(|t| t < c))
    }

    /// Replaces the running count with the reconciled one of `runs`, when it has runs of
    /// this session.
    pub fn correct(&mut self, runs: &Runs) {
        self.agents = self.agents.corrected(runs.running(&self.id));
    }

    /// [`Overview::correct`], then the file's entries without a run record here: unknown
    /// ones are not counted running, ones found by their environment are.
    pub fn correct_with(&mut self, runs: &Runs, orphans: &[Orphan]) {
        let found = orphans
            .iter()
            .filter(|x| matches!(x.state, OrphanState::Running(_)))
            .count();
        let unknown = orphans
            .iter()
            .filter(|x| matches!(x.state, OrphanState::Unknown(_)))
            .count();
        if runs.running(&self.id).is_some() {
            self.correct(runs);
            self.agents.running += found;
        } else {
            self.agents.running = self.agents.running.saturating_sub(unknown);
        }
    }

    /// A file that could not be read or whose frontmatter does not parse.
    pub fn is_broken(&self) -> bool {
        matches!(self.status.as_str(), "invalid" | "unreadable")
    }

    pub fn is_active(&self) -> bool {
        self.status != "completed"
    }

    /// The age as tables show it, with the stale marker: `3h`, `2d stale`.
    pub fn age_label(&self, now: DateTime<Utc>) -> String {
        if self.stale {
            format!("{} stale", self.age(now))
        } else {
            self.age(now)
        }
    }

    /// Age since `last_updated`, e.g. `5m`, `3h`, `2d`; `?` when unknown.
    pub fn age(&self, now: DateTime<Utc>) -> String {
        self.updated_at
            .map_or_else(|| "?".into(), |t| format_age(now - t))
    }
}

fn agent_counts(agents: Option<&Node>) -> AgentCounts {
    let items = agents.map(Node::items).unwrap_or_default();
    AgentCounts {
        // An entry whose run `prune` cleared is history, not an agent (as in `agents`).
        total: items
            .iter()
            .filter(|a| {
                a.get("log").and_then(Node::as_str) != Some(crate::agents::writeback::PRUNED)
            })
            .count(),
        running: items
            .iter()
            .filter(|a| a.get("status").and_then(Node::as_str) == Some("in_progress"))
            .count(),
    }
}

/// A compact human age: `45s`, `12m`, `3h`, `5d`.
pub fn format_age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// The overview of every session file in the repository, in file-name order. Background runs
/// are reconciled (and dead ones written back) first, so files and running counts tell the
/// truth.
pub fn load_all(
    repo: &crate::store::Repo,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> crate::error::Result<Vec<Overview>> {
    use crate::summary_cache::{Cache, Key};
    use rayon::prelude::*;
    let files = repo.session_files()?;
    let runs = Runs::load_live(repo);
    let mut cache = Cache::load(&repo.state_dir());
    let one = |p: &PathBuf| {
        let Some((key, newest)) = cache.as_ref().and_then(|_| Key::of(p)) else {
            return (read(repo, &runs, p, now, stale_after).0, None);
        };
        if let Some(f) = cache.as_ref().and_then(|c| c.get(p, &key)) {
            let mut o = Overview::from_facts(f, p, repo.display(p), now, stale_after);
            o.correct_with(&runs, &[]);
            return (o, None);
        }
        let (o, facts) = read(repo, &runs, p, now, stale_after);
        (o, Some((key, newest, facts)))
    };
    // Threads pay from a few dozen files on; below that their start-up costs more.
    let read: Vec<_> = if files.len() >= PARALLEL_FROM {
        files.par_iter().map(one).collect()
    } else {
        files.iter().map(one).collect()
    };
    let mut out = Vec::with_capacity(read.len());
    for (p, (o, learnt)) in files.iter().zip(read) {
        if let (Some(c), Some((key, newest, facts))) = (cache.as_mut(), learnt) {
            c.put(p, key, newest, facts);
        }
        out.push(o);
    }
    if let Some(mut c) = cache {
        c.retain(&files);
        c.save();
    }
    Ok(out)
}

/// From this many files on, [`load_all`] reads them on every core.
const PARALLEL_FROM: usize = 64;

/// The overview of one session file, from its head only (the frontmatter: the body is never
/// read), with running counts corrected by `runs`, and the facts the summary cache may keep of
/// it. A symlink out of the repository is not read through (listed as `unreadable`).
fn read(
    repo: &crate::store::Repo,
    runs: &Runs,
    path: &Path,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> (Overview, Option<crate::summary_cache::Facts>) {
    let text = (!path.is_symlink() || repo.contains(path))
        .then(|| crate::store::read_head(path).ok())
        .flatten();
    // Entries without a run record here (a fresh clone): lost ones are settled. Only a head
    // that names a `run_id` can have such entries (without a `\` there are no YAML escapes,
    // so the key is spelled out), which spares the other files a second YAML parse.
    let spawned = text
        .as_ref()
        .is_some_and(|t| t.contains("run_id") || t.contains('\\'));
    let (text, orphans) = match text {
        Some(t) if spawned => {
            let (t, o) = crate::agents::sync::check_entries(repo, path, t);
            (Some(t), o)
        }
        other => (other, Vec::new()),
    };
    let mut o = Overview::new(path, repo.display(path), text.as_deref(), now, stale_after);
    let facts = o.facts(spawned);
    o.correct_with(runs, &orphans);
    (o, facts)
}

/// How listings are ordered (`list --sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// Most recently updated first
    Updated,
    /// Newest first
    Created,
    Title,
    /// in_progress, then paused, then completed
    Status,
}

fn status_rank(s: &str) -> u8 {
    match s {
        "in_progress" => 0,
        "paused" => 1,
        "completed" => 2,
        _ => 3,
    }
}

/// Orders a listing by `key`.
pub fn sort(sessions: &mut [Overview], key: SortKey) {
    match key {
        SortKey::Updated => sessions.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| b.id.cmp(&a.id))
        }),
        SortKey::Created => sessions.sort_by(|a, b| b.id.cmp(&a.id)),
        SortKey::Title => sessions.sort_by_key(|o| o.title.to_lowercase()),
        // Keys computed once per element, not once per comparison (stable, like `sort_by`).
        SortKey::Status => sessions
            .sort_by_cached_key(|o| (status_rank(&o.status), std::cmp::Reverse(o.updated_at))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cutoff comparison says what "not updated for longer than `stale_after`" says, at
    /// the boundary, in the future and for durations longer than any calendar.
    #[test]
    fn stale_by_the_cutoff_is_older_than_stale_after() {
        let now = DateTime::parse_from_rfc3339("2025-12-04T14:30:00.5Z")
            .unwrap()
            .to_utc();
        let ns = chrono::Duration::nanoseconds;
        for stale_after in [
            Duration::ZERO,
            Duration::from_secs(86400),
            Duration::from_nanos(1),
            Duration::MAX,
        ] {
            for age in [
                ns(-5),
                ns(0),
                ns(1),
                ns(86_400_000_000_000),
                ns(86_400_000_000_001),
            ] {
                let mut o = Overview::new(Path::new("x.md"), "x".into(), None, now, stale_after);
                o.status = "paused".into();
                o.updated_at = Some(now - age);
                let older = (now - (now - age)).to_std().is_ok_and(|a| a > stale_after);
                o.restale(now, stale_after);
                assert_eq!(o.stale, older, "{stale_after:?} {age:?}");
                o.status = "completed".into();
                o.restale(now, stale_after);
                assert!(!o.stale);
            }
        }
    }
}
