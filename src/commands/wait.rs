//! `sessions wait`: block until agent runs end. No busy loop: each pending record is
//! reconciled (pid + start time) at growing intervals, from 50 ms up to 1 s, until the
//! timeout. An ended run is written back on the way (as every reader does), which also
//! delivers its notifications and queued messages.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Ctx;
use crate::agents::record::{RunRecord, RunStatus};
use crate::agents::sync::{self, Runs};
use crate::cli::WaitArgs;
use crate::error::{Error, Result};

/// Exit code when the timeout passes first (as `timeout(1)`).
pub const TIMED_OUT: u8 = 124;

/// One run's outcome, as `wait --json` prints it.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub session: String,
    pub agent: String,
    pub run_id: String,
    /// `completed`, `failed`, `cancelled`, `lost`, or `running` (timed out).
    pub status: &'static str,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumes: Option<String>,
}

impl Outcome {
    pub fn of(r: &RunRecord) -> Self {
        Outcome {
            session: r.session.clone(),
            agent: r.agent.clone(),
            run_id: r.id.clone(),
            status: match r.status {
                RunStatus::Lost => "lost",
                s => s.session_status(),
            },
            exit_code: r.exit_code,
            reason: r.reason.clone(),
            summary: r.summary.clone(),
            resumes: r.resumes.clone(),
        }
    }

    /// `completed  weather  claude 3fa9c2d1  exit 0  the summary`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{:<9}  {}  {} {}",
            self.status, self.session, self.agent, self.run_id
        );
        if let Some(c) = self.exit_code {
            s.push_str(&format!("  exit {c}"));
        }
        match (&self.summary, &self.reason) {
            (Some(sum), _) => s.push_str(&format!("  {}", sum.lines().next().unwrap_or(""))),
            (None, Some(r)) => s.push_str(&format!("  ({r})")),
            _ => {}
        }
        s
    }
}

pub fn run(ctx: &Ctx, args: WaitArgs) -> Result<u8> {
    let paths = select(ctx, &args.targets)?;
    if paths.is_empty() {
        eprintln!("sessions: no running agents to wait for");
        if args.json {
            println!("[]");
        }
        return Ok(0);
    }
    let (recs, timed_out) = wait_for(&paths, args.any, args.timeout);
    let out: Vec<Outcome> = recs.iter().map(Outcome::of).collect();
    if args.json {
        crate::jsonout::emit(&out)?;
    } else {
        for o in &out {
            println!("{}", o.line());
        }
    }
    if timed_out {
        eprintln!(
            "sessions: timed out after {}",
            humantime::format_duration(args.timeout.unwrap_or_default())
        );
    }
    Ok(exit_code(&recs, args.any, timed_out))
}

/// 124 on timeout; else 0 when every ended run completed (with `any`: the ones that ended),
/// 1 otherwise.
pub fn exit_code(recs: &[RunRecord], any: bool, timed_out: bool) -> u8 {
    if timed_out {
        return TIMED_OUT;
    }
    let ended = recs.iter().filter(|r| !r.status.is_active());
    let mut ended = ended.peekable();
    if any && ended.peek().is_none() {
        return TIMED_OUT;
    }
    if ended.all(|r| r.status == RunStatus::Completed) {
        0
    } else {
        1
    }
}

/// The record paths the targets name: every running run of a target, or, when none of its
/// runs is running, its newest (so a finished run answers at once with its outcome).
fn select(ctx: &Ctx, targets: &[String]) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    if targets.is_empty() {
        let bound = super::conversation(ctx)
            .and_then(|c| crate::binding::lookup(&ctx.repo, &c.id))
            .is_some();
        let runs = if bound {
            let stem = crate::store::SessionId::of(&super::session_path(ctx, None)?);
            Runs::load_session(&ctx.repo, &stem)
        } else {
            Runs::load_live(&ctx.repo)
        };
        paths.extend(
            runs.records
                .iter()
                .filter(|(_, r)| r.status.is_active())
                .map(|(p, _)| p.clone()),
        );
        return Ok(paths);
    }
    for t in targets {
        let target = super::target(ctx, Some(t))?;
        let runs = Runs::load_session(&ctx.repo, &target.session);
        let chosen = target.select(&runs)?;
        let active: Vec<PathBuf> = chosen
            .iter()
            .filter(|(_, r)| r.status.is_active())
            .map(|(p, _)| p.clone())
            .collect();
        if !active.is_empty() {
            paths.extend(active);
        } else if let Some((p, _)) = chosen.last() {
            paths.push(p.clone());
        } else {
            return Err(Error::Check(format!(
                "{} has no agent runs; start one with `sessions spawn {} --agent NAME --task TEXT`",
                target.session, target.session
            )));
        }
    }
    paths.dedup();
    Ok(paths)
}

/// Waits until every run at `paths` has ended (with `any`: one of them), or `timeout`
/// passed. Returns the records as last seen and whether it timed out.
pub fn wait_for(paths: &[PathBuf], any: bool, timeout: Option<Duration>) -> (Vec<RunRecord>, bool) {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut pause = Duration::from_millis(50);
    let mut latest: Vec<Option<RunRecord>> = vec![None; paths.len()];
    loop {
        let mut ended = 0;
        for (i, path) in paths.iter().enumerate() {
            if latest[i]
                .as_ref()
                .is_some_and(|r| !r.status.is_active() && (r.written_back || r.needs_write_back()))
            {
                ended += 1;
                continue;
            }
            let Ok(rec) = crate::agents::reconcile::reconcile_at(path) else {
                continue;
            };
            // Ended means settled: its outcome is in the session file too (a supervisor that
            // has saved the final record may still be writing it back), so that a script
            // running `wait && cat SESSION` reads the outcome.
            let settled = !rec.status.is_active() && (rec.written_back || rec.needs_write_back());
            if !settled {
                latest[i] = Some(rec);
                continue;
            }
            ended += 1;
            // Written back (and notified, and queued messages delivered) like any reader.
            latest[i] = Some(sync::write_back_once(path).unwrap_or(rec));
        }
        let done = if any { ended > 0 } else { ended == paths.len() };
        if done {
            return (latest.into_iter().flatten().collect(), false);
        }
        let now = Instant::now();
        if let Some(d) = deadline {
            if now >= d {
                return (latest.into_iter().flatten().collect(), true);
            }
            pause = pause.min(d - now);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
