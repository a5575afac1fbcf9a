//! `sessions agents`: background runs with status, pid, runtime, exit code and log path (or
//! the SPEC §8 JSON), after reconciling them with the live processes. Also the
//! `SESSION[:AGENT|:RUN_ID]` targets that `logs`, `kill` and `attach` take.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Ctx;
use crate::agents::output::Tokens;
use crate::agents::record::{RunRecord, Runner};
use crate::agents::sync::{self, Orphan, OrphanState, Runs};
use crate::cli::AgentsArgs;
use crate::error::{Error, Result};
use crate::session::edit::timestamp;
use crate::table::{Column, Table};

/// Without `--all` or a session, runs that ended longer ago than this are not listed.
const RECENT: chrono::Duration = chrono::Duration::hours(24);

/// One run as `agents --json` prints it.
#[derive(Debug, Serialize)]
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
    pub log: String,
    pub run_id: String,
    /// `lost` for a run whose supervisor and process vanished; why a run failed otherwise.
    pub reason: Option<String>,
    pub summary: Option<String>,
    pub runtime_secs: f64,
    pub signal: Option<String>,
    pub conversation_id: Option<String>,
    pub runner: Runner,
    /// US dollars, as the agent reported them (Claude Code).
    pub cost_usd: Option<f64>,
    /// `{input, output}`, as the agent reported them.
    pub tokens: Option<Tokens>,
    pub turns: Option<u64>,
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
}

impl RunView {
    pub fn new(r: &RunRecord, now: DateTime<Utc>) -> Self {
        let end = r.ended_at.unwrap_or(now);
        RunView {
            session: r.session.clone(),
            agent: r.agent.clone(),
            task: r.task.clone(),
            status: r.status.session_status(),
            pid: r.pid,
            started_at: Some(timestamp(r.started_at)),
            ended_at: r.ended_at.map(timestamp),
            exit_code: r.exit_code,
            log: r.log.display().to_string(),
            run_id: r.id.clone(),
            reason: r.reason.clone(),
            summary: r.summary.clone(),
            runtime_secs: ((end - r.started_at).num_milliseconds().max(0) as f64) / 1000.0,
            signal: r.signal.map(|s| {
                nix::sys::signal::Signal::try_from(s)
                    .map_or_else(|_| s.to_string(), |s| s.as_str().to_string())
            }),
            conversation_id: r.conversation_id.clone(),
            runner: r.runner,
            cost_usd: r.cost_usd,
            tokens: r.tokens,
            turns: r.turns,
            turn: r.turn.clone().filter(|_| r.status.is_active()),
            resumes: r.resumes.clone(),
            notify_failures: r.notify_failures.clone(),
        }
    }
}

/// `running`, `waiting (permission: Bash)`, `completed`, `failed (lost)`, …
pub fn status_text(r: &RunRecord) -> String {
    match &r.turn {
        Some(t) if r.status.is_active() && t.is_waiting() => t.describe(),
        _ => r.status.display().to_string(),
    }
}

impl RunView {
    /// An entry with no run record here that is still unsettled (unknown, or found running
    /// by its environment).
    pub fn orphan(o: &Orphan) -> Self {
        RunView {
            session: o.session.clone(),
            agent: o.agent.clone(),
            task: o.task.clone(),
            status: o.status(),
            pid: match &o.state {
                OrphanState::Running(pids) => pids.first().copied(),
                _ => None,
            },
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
            runner: Runner::Process,
            cost_usd: None,
            tokens: None,
            turns: None,
            turn: None,
            resumes: None,
            notify_failures: Vec::new(),
        }
    }
}

/// The unsettled orphans of the session files (all, or the one of `stem`); lost ones are
/// settled (and recorded) on the way, so the run records loaded afterwards include them.
fn orphans(ctx: &Ctx, stem: Option<&str>) -> Vec<Orphan> {
    let files = match stem {
        Some(s) => vec![ctx.repo.sessions_dir().join(format!("{s}.md"))],
        None => ctx.repo.session_files().unwrap_or_default(),
    };
    files
        .iter()
        .filter_map(|p| Some((p, crate::store::read_session(p).ok()?)))
        .flat_map(|(p, text)| sync::check_entries(&ctx.repo, p, text).1)
        .filter(|o| o.state != OrphanState::Lost)
        .collect()
}

pub fn run(ctx: &Ctx, args: AgentsArgs) -> Result<u8> {
    // Without SESSION: the bound session's runs inside a bound conversation (unless --all),
    // every session's elsewhere.
    let bound = match &args.session {
        None if !args.all => super::conversation(ctx)
            .and_then(|c| crate::binding::lookup(&ctx.repo, &c.id))
            .is_some(),
        _ => false,
    };
    let target = match (&args.session, bound) {
        (Some(s), _) => Some(Target::parse(ctx, Some(s))?),
        (None, true) => Some(Target::parse(ctx, None)?),
        (None, false) => None,
    };
    if bound
        && let Some(t) = &target
        && !args.json
    {
        eprintln!(
            "(runs of {}, the session this conversation is bound to; --all lists every session's)",
            t.stem
        );
    }
    let orphans: Vec<Orphan> = orphans(ctx, target.as_ref().map(|t| t.stem.as_str()))
        .into_iter()
        .filter(|o| {
            target
                .as_ref()
                .and_then(|t| t.selector.as_deref())
                .is_none_or(|sel| o.agent == sel || o.run_id.starts_with(sel))
        })
        .collect();
    let runs = match &target {
        Some(t) => Runs::load_session(&ctx.repo, &t.stem),
        None => Runs::load(&ctx.repo),
    };
    for p in &runs.problems {
        eprintln!("sessions: warning: {p}");
    }
    let now = Utc::now();
    let shown: Vec<&RunRecord> = match &target {
        Some(t) => match t.select(&runs) {
            Ok(hit) => hit.into_iter().map(|(_, r)| r).collect(),
            Err(_) if !orphans.is_empty() => Vec::new(),
            Err(e) => return Err(e),
        },
        None => runs
            .records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| {
                args.all || r.status.is_active() || r.ended_at.is_none_or(|e| now - e < RECENT)
            })
            .collect(),
    };
    if args.json {
        let views: Vec<RunView> = shown
            .iter()
            .map(|r| RunView::new(r, now))
            .chain(orphans.iter().map(RunView::orphan))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&views).unwrap_or_default()
        );
        return Ok(0);
    }
    if shown.is_empty() && orphans.is_empty() {
        let hint = if target.is_none() && !args.all && !runs.records.is_empty() {
            " in the last 24 hours (--all shows older ones)"
        } else {
            ""
        };
        println!(
            "No agent runs{hint}. Start one with: sessions spawn SESSION --agent NAME --task TEXT"
        );
        return Ok(0);
    }
    // Cut first: the log path and the session (widest first); left out first: the pid, the
    // log path (`sessions logs` finds it), then the exit code.
    let mut columns = vec![
        Column::keep("RUN"),
        Column::cut("AGENT", 12),
        Column::keep("STATUS").status(),
        Column::keep("PID").drop(0),
        Column::keep("RUNTIME"),
        Column::keep("EXIT").drop(2),
    ];
    if target.is_none() {
        columns.push(Column::cut("SESSION", 20));
    }
    columns.push(Column::cut("LOG", 16).path().drop(1));
    let mut t = Table::new(&columns);
    for r in &shown {
        let v = RunView::new(r, now);
        let mut row = vec![
            r.id.clone(),
            r.agent.clone(),
            status_text(r),
            r.pid.map_or_else(|| "-".into(), |p| p.to_string()),
            runtime(v.runtime_secs),
            match (&v.exit_code, &v.signal) {
                (Some(c), _) => c.to_string(),
                (None, Some(s)) => s.clone(),
                _ => "-".into(),
            },
        ];
        if target.is_none() {
            row.push(r.session.clone());
        }
        row.push(ctx.show_path(&r.log_path()));
        t.row(row);
    }
    for o in &orphans {
        let v = RunView::orphan(o);
        let mut row = vec![
            o.run_id.clone(),
            o.agent.clone(),
            v.status.to_string(),
            v.pid.map_or_else(|| "-".into(), |p| p.to_string()),
            "-".into(),
            "-".into(),
        ];
        if target.is_none() {
            row.push(o.session.clone());
        }
        row.push(
            o.log
                .as_ref()
                .map_or_else(|| "-".into(), |l| ctx.show_path(&ctx.repo.root.join(l))),
        );
        t.row(row);
    }
    print!("{}", t.render());
    for o in &orphans {
        println!("  {} (run {}): {}", o.agent, o.run_id, o.describe());
    }
    for r in &shown {
        for f in &r.notify_failures {
            println!("  {} (run {}): notification failed: {f}", r.agent, r.id);
        }
    }
    Ok(0)
}

/// `4s`, `2m05s`, `1h03m`.
pub fn runtime(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `SESSION`, `SESSION:AGENT` or `SESSION:RUN_ID` (a unique prefix of at least 4 characters
/// works too). A session whose file was deleted is still found by its exact stem while it has
/// run records. Inside a bound conversation the SESSION may be left out: nothing, `:AGENT` or
/// `:RUN_ID` mean the bound session (a bare word is always a SESSION).
#[derive(Debug)]
pub struct Target {
    pub stem: String,
    pub selector: Option<String>,
    /// As typed, for messages.
    pub text: String,
}

impl Target {
    pub fn parse(ctx: &Ctx, text: Option<&str>) -> Result<Target> {
        let Some(text) = text else {
            let path = super::session_path(ctx, None)?;
            return Ok(Target {
                stem: super::stem(&path),
                selector: None,
                text: super::stem(&path),
            });
        };
        if let Some(selector) = text.strip_prefix(':')
            && !selector.is_empty()
        {
            let stem = super::stem(&super::session_path(ctx, None)?);
            return Ok(Target {
                text: format!("{stem}:{selector}"),
                stem,
                selector: Some(selector.to_string()),
            });
        }
        let with = |stem: String, selector: Option<&str>| Target {
            stem,
            selector: selector.map(str::to_owned),
            text: text.to_string(),
        };
        if let Some((session, selector)) = text.rsplit_once(':')
            && !session.is_empty()
            && !selector.is_empty()
            && !selector.contains('/')
        {
            return match session_stem(ctx, session) {
                Ok(stem) => Ok(with(stem, Some(selector))),
                Err(e) => session_stem(ctx, text)
                    .map(|stem| with(stem, None))
                    .map_err(|_| e),
            };
        }
        Ok(with(session_stem(ctx, text)?, None))
    }

    /// The session's runs this target names (all of them without a selector); an error when a
    /// selector matches none.
    pub fn select<'a>(&self, runs: &'a Runs) -> Result<Vec<&'a (PathBuf, RunRecord)>> {
        let all: Vec<&(PathBuf, RunRecord)> = runs.of(&self.stem).collect();
        let Some(sel) = &self.selector else {
            return Ok(all);
        };
        let hit: Vec<_> = all
            .iter()
            .copied()
            .filter(|(_, r)| {
                r.agent == *sel
                    || r.id == *sel
                    || (sel.len() >= 4 && r.id.starts_with(sel.as_str()))
            })
            .collect();
        if hit.is_empty() {
            return Err(Error::Check(format!(
                "no run of {} matches `{sel}`{}",
                self.stem,
                describe(&all)
            )));
        }
        Ok(hit)
    }
}

/// `; its runs: claude 3fa9c2d1 (running), …` for messages.
pub fn describe(runs: &[&(PathBuf, RunRecord)]) -> String {
    if runs.is_empty() {
        return "; it has no agent runs".into();
    }
    let list: Vec<String> = runs
        .iter()
        .map(|(_, r)| format!("{} {} ({})", r.agent, r.id, r.status.display()))
        .collect();
    format!("; its runs: {}", list.join(", "))
}

fn session_stem(ctx: &Ctx, reference: &str) -> Result<String> {
    match ctx.repo.resolve(reference, &ctx.cwd) {
        Ok(path) => Ok(super::stem(&path)),
        Err(e) => {
            let stem = reference.strip_suffix(".md").unwrap_or(reference);
            let runs = ctx.repo.state_dir().join("runs").join(stem);
            if !stem.is_empty() && !stem.contains(['/', '.']) && runs.is_dir() {
                Ok(stem.to_string())
            } else {
                Err(e)
            }
        }
    }
}
