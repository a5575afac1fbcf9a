//! One background-agent run as every reader shows it: `agents --json`, `spawn --json`,
//! `watch` (which compares two looks) and, soon, the web server. Built from a reconciled run
//! record (see `agents::sync`), or from a session-file entry this machine has no record of.
//! Rendering (tables, event lines) is the caller's.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::agents::RunnerKind;
use crate::agents::output::Tokens;
use crate::agents::record::{RunRecord, RunStatus};
use crate::agents::sync::{Orphan, OrphanState, Runs};
use crate::session::edit::timestamp;

/// One run (SPEC §8 `agents --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    pub session: String,
    pub agent: String,
    pub task: String,
    /// `running`, `completed`, `failed` or `cancelled`; `unknown` for an `in_progress` entry
    /// that may be running on another machine.
    pub status: &'static str,
    pub pid: Option<u32>,
    /// `null` for an entry this machine has no run record of (see `docs/runs.md`).
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub exit_code: Option<i32>,
    /// Relative to the repository root.
    pub log: String,
    pub run_id: String,
    /// `lost` for a run whose supervisor and process vanished; why a run failed otherwise.
    pub reason: Option<String>,
    pub summary: Option<String>,
    pub runtime_secs: f64,
    pub signal: Option<String>,
    pub conversation_id: Option<String>,
    pub runner: RunnerKind,
    /// US dollars, as the agent reported them (Claude Code).
    pub cost_usd: Option<f64>,
    /// `{input, output}`, as the agent reported them.
    pub tokens: Option<Tokens>,
    pub turns: Option<u64>,
    /// The supervisor's pid, when it was started (`spawn --json` has always printed it).
    pub supervisor_pid: Option<u32>,
    /// The run's git worktree (`spawn --worktree`): branch, base, ahead, uncommitted, merged,
    /// pushed, problems. Filled in by the caller (it runs git).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree: Option<crate::worktree::State>,
    /// Interactive runs: working, or waiting for the person (why, which tool), from the
    /// agent's turn hooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn: Option<crate::agents::waiting::TurnState>,
    /// The run this one continues (`send`, `restart`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumes: Option<String>,
    /// Notification targets that failed for this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify_failures: Vec<String>,
    /// A run on another host (`spawn --host`): the host, the run there, its pids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteView>,
    /// Starting or running.
    #[serde(skip)]
    pub active: bool,
    /// Its supervisor and process vanished without recording an outcome.
    #[serde(skip)]
    pub lost: bool,
}

/// Where a run on another host runs (`agents --json`'s `remote`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteView {
    /// The host's name under `hosts:`.
    pub host: String,
    pub run_id: String,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    pub supervisor_pid: Option<u32>,
    pub supervisor_start: Option<u64>,
    /// Since when the host does not answer (the run is `unknown` meanwhile).
    pub unreachable_since: Option<String>,
}

impl RunView {
    /// The fields of its JSON, for `--json=FIELD,…`.
    pub const FIELDS: &[&str] = &[
        "session",
        "agent",
        "task",
        "status",
        "pid",
        "started_at",
        "ended_at",
        "exit_code",
        "log",
        "run_id",
        "reason",
        "summary",
        "runtime_secs",
        "signal",
        "conversation_id",
        "runner",
        "cost_usd",
        "tokens",
        "turns",
        "supervisor_pid",
        "worktree",
        "turn",
        "resumes",
        "notify_failures",
    ];

    pub fn new(r: &RunRecord, now: DateTime<Utc>) -> Self {
        let end = r.ended_at.unwrap_or(now);
        let unreachable = r.runner.unreachable().filter(|_| r.status.is_active());
        let remote = match &r.runner {
            crate::agents::RunnerState::Ssh(s) => Some(RemoteView {
                host: s.host.clone(),
                run_id: s.remote_run_id.clone(),
                pid: s.remote.as_ref().and_then(|p| p.pid),
                pid_start: s.remote.as_ref().and_then(|p| p.pid_start),
                supervisor_pid: s.remote.as_ref().and_then(|p| p.supervisor_pid),
                supervisor_start: s.remote.as_ref().and_then(|p| p.supervisor_start),
                unreachable_since: s.unreachable_since.clone(),
            }),
            _ => None,
        };
        RunView {
            session: r.session.clone(),
            agent: r.agent.clone(),
            task: r.task.clone(),
            status: if unreachable.is_some() {
                "unknown"
            } else {
                r.status.session_status()
            },
            pid: r.pid,
            started_at: Some(timestamp(r.started_at)),
            ended_at: r.ended_at.map(timestamp),
            exit_code: r.exit_code,
            log: r.log.display().to_string(),
            run_id: r.id.clone(),
            reason: unreachable.or_else(|| r.reason.clone()),
            summary: r.summary.clone(),
            runtime_secs: ((end - r.started_at).num_milliseconds().max(0) as f64) / 1000.0,
            signal: r.signal.map(|s| {
                nix::sys::signal::Signal::try_from(s)
                    .map_or_else(|_| s.to_string(), |s| s.as_str().to_string())
            }),
            conversation_id: r.conversation_id.clone(),
            runner: r.runner.kind(),
            cost_usd: r.cost_usd,
            tokens: r.tokens,
            turns: r.turns,
            supervisor_pid: r.supervisor_pid,
            worktree: None,
            turn: r.turn.clone().filter(|_| r.status.is_active()),
            resumes: r.resumes.clone(),
            notify_failures: r.notify_failures.clone(),
            remote,
            active: r.status.is_active(),
            lost: matches!(r.status, RunStatus::Lost),
        }
    }

    /// An entry with no run record here that is still unsettled (unknown, or found running
    /// by its environment).
    pub fn orphan(o: &Orphan) -> Self {
        let pid = match &o.state {
            OrphanState::Running(pids) => pids.first().copied(),
            _ => None,
        };
        RunView {
            session: o.session.clone(),
            agent: o.agent.clone(),
            task: o.task.clone(),
            status: o.status(),
            pid,
            started_at: None,
            ended_at: None,
            exit_code: None,
            log: o.log.clone().unwrap_or_default(),
            run_id: o.run_id.clone(),
            reason: Some(o.describe()),
            summary: None,
            runtime_secs: 0.0,
            signal: None,
            conversation_id: o.conversation_id.clone(),
            runner: RunnerKind::Process,
            cost_usd: None,
            tokens: None,
            turns: None,
            supervisor_pid: None,
            worktree: None,
            turn: None,
            resumes: None,
            notify_failures: Vec::new(),
            remote: None,
            active: pid.is_some(),
            lost: false,
        }
    }

    /// The same facts apart from the runtime, which grows between any two looks at a run.
    pub fn same_facts(&self, other: &RunView) -> bool {
        let still = |v: &RunView| RunView {
            runtime_secs: 0.0,
            ..v.clone()
        };
        still(self) == still(other)
    }

    pub fn failed(&self) -> bool {
        matches!(self.status, "failed" | "lost")
    }

    /// The whole seconds it has run, for comparisons and labels.
    pub fn runtime_whole_secs(&self) -> u64 {
        self.runtime_secs.max(0.0) as u64
    }

    pub fn started_json(&self) -> Value {
        json!({"session": self.session, "agent": self.agent, "run_id": self.run_id, "pid": self.pid, "log": self.log})
    }

    pub fn finished_json(&self) -> Value {
        json!({
            "session": self.session, "agent": self.agent, "run_id": self.run_id,
            "status": if self.lost { "failed" } else { self.status },
            "reason": if self.lost { Some("lost") } else { None },
            "exit_code": self.exit_code, "summary": self.summary, "log": self.log,
        })
    }
}

/// The views of reconciled runs (see `agents::sync`, which also wrote dead runs back, so a
/// lost run shows as lost here too).
pub fn views(runs: &Runs, now: DateTime<Utc>) -> Vec<RunView> {
    runs.records
        .iter()
        .map(|(_, r)| RunView::new(r, now))
        .collect()
}

/// A view as it stands in a compact JSON array (`agents --json` piped): what
/// `serde_json::to_string` writes. Every streamed listing writes its elements through this,
/// so a stored view (see [`settled_views`]) prints byte for byte the same.
pub fn array_element(view: &RunView) -> String {
    serde_json::to_string(view).expect("a run view serializes")
}

/// Writes views as `crate::jsonout` prints an array of them when piped (compact, one line,
/// control and bidi characters escaped), plus a newline, one element at a time.
pub struct ArrayWriter<W: std::io::Write> {
    out: W,
    first: bool,
}

impl<W: std::io::Write> ArrayWriter<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(b"[")?;
        Ok(ArrayWriter { out, first: true })
    }

    /// One element, as [`array_element`] gives it (or as it is stored beside a compacted
    /// record, which is the same text).
    pub fn element(&mut self, text: &str) -> std::io::Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.write_all(b",")?;
        }
        self.out
            .write_all(crate::terminal::json_escapes(text).as_bytes())
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(b"]\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// How views of settled runs are kept beside their compacted records: a settled run's view
/// never changes (its runtime is fixed, it has no turn state), except for a worktree not yet
/// removed, whose state is looked up live (not stored). A view is stored as the listing
/// prints it ([`array_element`]: compact JSON is one line, serde escapes every line break
/// inside a string), so printing it is a copy. The fingerprint is the hash of a sample view with every field set: any change
/// to the view's shape or formatting changes it, and stored views of another fingerprint are
/// rendered afresh.
pub fn settled_views() -> &'static crate::agents::compact::Views {
    static VIEWS: std::sync::OnceLock<crate::agents::compact::Views> = std::sync::OnceLock::new();
    VIEWS.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        if let Some(sample) = sample_record() {
            render_settled(&sample).hash(&mut h);
        }
        crate::agents::compact::Views {
            fingerprint: h.finish() | 1,
            render: render_settled,
        }
    })
}

fn render_settled(r: &RunRecord) -> Option<String> {
    if r.status.is_active() || r.worktree.as_ref().is_some_and(|w| !w.removed) {
        return None;
    }
    Some(array_element(&RunView::new(r, r.ended_at?)))
}

/// A finished record with every optional field of the view set.
fn sample_record() -> Option<RunRecord> {
    let mut r: RunRecord = serde_json::from_value(json!({
        "id": "0123abcd", "session": "s", "agent": "a", "task": "t", "argv": ["x"],
        "cwd": "/", "root": "/", "log": "l", "log_cap": 1, "log_keep": 1,
        "supervisor_argv": ["x"], "started_at": "2025-01-01T00:00:00.000Z",
        "ended_at": "2025-01-01T00:01:01.500Z", "status": "failed",
    }))
    .ok()?;
    r.pid = Some(2);
    r.supervisor_pid = Some(1);
    r.exit_code = Some(1);
    r.signal = Some(9);
    r.reason = Some("r".into());
    r.summary = Some("s".into());
    r.conversation_id = Some("c".into());
    r.cost_usd = Some(1.25);
    r.tokens = Some(Tokens {
        input: 1,
        output: 2,
    });
    r.turns = Some(3);
    r.resumes = Some("x".into());
    r.notify_failures = vec!["n".into()];
    Some(r)
}

/// `4s`, `2m05s`, `1h03m`.
pub fn runtime_label(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_view_is_one_line_of_the_same_value() {
        let mut r = sample_record().unwrap();
        r.summary = Some("quotes \" and \\ back\\slashes, {braces}, a: colon,\r\n\t".into());
        r.task = "日本語 ✓ \u{1}".into();
        let view = RunView::new(&r, r.ended_at.unwrap());
        let stored = render_settled(&r).unwrap();
        assert!(!stored.contains(['\n', '\r']), "one line");
        let back: Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, serde_json::to_value(&view).unwrap());
    }

    #[test]
    fn the_writer_writes_what_jsonout_prints_when_piped() {
        let mut r = sample_record().unwrap();
        let mut cases = vec![r.clone()];
        r.summary = Some("quotes \" and \\ back\\slashes, {a: b}, [ ],  two  spaces\r\n\t".into());
        r.task = "日本語 ✓ \u{1} \u{202e}bidi \u{7f}".into();
        cases.push(r);
        for r in &cases {
            let view = RunView::new(r, r.ended_at.unwrap());
            for n in 0..=3 {
                let mut w = ArrayWriter::new(Vec::new()).unwrap();
                for i in 0..n {
                    if i % 2 == 0 {
                        w.element(&array_element(&view)).unwrap();
                    } else {
                        w.element(&render_settled(r).unwrap()).unwrap();
                    }
                }
                let want =
                    crate::jsonout::render(&serde_json::to_value(vec![&view; n]).unwrap(), false)
                        .unwrap()
                        + "\n";
                assert_eq!(String::from_utf8(w.finish().unwrap()).unwrap(), want);
            }
        }
    }
}
