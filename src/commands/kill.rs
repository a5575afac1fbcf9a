//! `sessions kill`: SIGTERM to each matching run's whole process group, SIGKILL after the
//! grace period, confirm, and see the run recorded `cancelled` in its session file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Ctx;
use crate::agents::poll::{Backoff, wait_until};
use crate::agents::process::{self, KillOutcome, KillReport, KillStep, Killed};
use crate::agents::record::{self, RunRecord};
use crate::agents::runner::kill_run;
use crate::agents::sync::{self, Orphan, OrphanState};
use crate::cli::KillArgs;
use crate::error::{Error, Result};
use crate::target::{Target, describe};

/// How long `kill` waits for the supervisor to write the outcome into the session file.
const WRITE_BACK_WAIT: Duration = Duration::from_secs(10);

pub fn run(ctx: &Ctx, args: KillArgs) -> Result<u8> {
    let target = super::target(ctx, args.target.as_deref())?;
    let runs = sync::Runs::load_session(&ctx.repo, &target.session);
    let orphans = orphans_of(ctx, &target);
    let matching = match target.select(&runs) {
        Ok(m) => m,
        Err(_) if !orphans.is_empty() => Vec::new(),
        Err(e) => return Err(e),
    };
    let active: Vec<&(PathBuf, RunRecord)> = matching
        .iter()
        .copied()
        .filter(|(_, r)| r.status.is_active())
        .collect();
    let running: Vec<&Orphan> = orphans
        .iter()
        .filter(|o| matches!(o.state, OrphanState::Running(_)))
        .collect();
    if active.is_empty() && !running.is_empty() && (running.len() == 1 || args.all) {
        return Ok(kill_orphans(ctx, &target, &running, args.grace));
    }
    if active.is_empty() {
        let seen: String = orphans
            .iter()
            .map(|o| {
                let (agent, run) = (&o.agent, &o.run_id);
                match &o.state {
                    OrphanState::Lost => format!(
                        "; agent {agent} (run {run}) had no run record here and none of its processes runs: marked failed (lost)"
                    ),
                    OrphanState::Running(_) => format!(
                        "; agent {agent} (run {run}) is {} — name it, or pass --all",
                        o.describe()
                    ),
                    OrphanState::Unknown(_) => format!(
                        "; agent {agent} (run {run}) is in_progress in the file, state {} — stop it on the machine that runs it",
                        o.describe()
                    ),
                }
            })
            .collect();
        return Err(Error::Check(format!(
            "no running agent matches `{}`{}{seen}",
            target.text,
            if matching.is_empty() && !orphans.is_empty() {
                String::new()
            } else {
                describe(&matching)
            }
        )));
    }
    if active.len() > 1 && !args.all {
        return Err(Error::Check(format!(
            "`{}` matches {} running agents{}; name one ({}:AGENT or {}:RUN_ID) or pass --all",
            target.text,
            active.len(),
            describe(&active),
            target.session,
            target.session
        )));
    }
    // Every group gets its SIGTERM at once; the grace periods run in parallel.
    let results: Vec<(RunRecord, Result<KillReport>)> = std::thread::scope(|s| {
        let handles: Vec<_> = active
            .iter()
            .map(|(path, rec)| {
                let grace = args.grace;
                s.spawn(move || {
                    let what = format!("{} (run {})", rec.agent, rec.id);
                    let progress = |step: KillStep| eprintln!("{what}: {}", step_line(&step));
                    let outcome = kill_run(path, grace, &progress)
                        .map_err(Error::from)
                        .and_then(|(_, o)| settle(path).map(|_| o));
                    (rec.clone(), outcome)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut code = 0;
    for (rec, report) in results {
        let what = format!("{} (run {})", rec.agent, rec.id);
        match report {
            Ok(r) => code = code.max(print_report(&what, &r, args.grace, "")),
            Err(e) => {
                code = 1;
                eprintln!("sessions: {what}: {e}");
            }
        }
    }
    Ok(code)
}

/// Stops the runs this machine has no record of but whose processes it found by their
/// environment (a fresh clone of the state, a deleted record), then settles their entries.
fn kill_orphans(ctx: &Ctx, target: &Target, running: &[&Orphan], grace: Duration) -> u8 {
    let mut code = 0;
    for o in running {
        let what = format!("{} (run {})", o.agent, o.run_id);
        let progress = |step: KillStep| eprintln!("{what}: {}", step_line(&step));
        let find = || {
            process::with_env(
                &process::snapshot(),
                &[
                    ("SESSIONS_RUN_ID", &o.run_id),
                    ("SESSIONS_SESSION", &o.session),
                ],
            )
        };
        let report = process::kill_processes(None, &find, grace, &progress);
        code = code.max(print_report(
            &what,
            &report,
            grace,
            " (it had no run record here: found by its environment)",
        ));
    }
    // Nothing of them runs now: their entries settle as lost.
    orphans_of(ctx, target);
    code
}

/// Prints what a kill did; the exit code it means.
fn print_report(what: &str, report: &KillReport, grace: Duration, note: &str) -> u8 {
    let procs = processes(&report.processes);
    match &report.outcome {
        KillOutcome::Terminated => println!("stopped {what} with SIGTERM{note}{procs}"),
        KillOutcome::Killed => println!(
            "killed {what} with SIGKILL after {}{note}{procs}",
            humantime::format_duration(grace)
        ),
        KillOutcome::NotRunning => println!("{what} had already ended"),
        KillOutcome::Survived(pids) => {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            eprintln!(
                "sessions: {what}: processes {} survived SIGKILL (stuck in the kernel?)",
                pids.join(", ")
            );
            return 1;
        }
        KillOutcome::PermissionDenied => {
            eprintln!("sessions: {what}: not allowed to signal its processes{procs}");
            return 1;
        }
        KillOutcome::Refused => {
            eprintln!("sessions: {what}: its process group is not one we may signal");
            return 1;
        }
    }
    0
}

/// `sent SIGTERM to 3 processes (4711, 4712, 4713); waiting up to 10s for them to exit`.
fn step_line(step: &KillStep) -> String {
    let list = |pids: &[u32]| {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        format!(
            "{} process{} ({})",
            pids.len(),
            if pids.len() == 1 { "" } else { "es" },
            pids.join(", ")
        )
    };
    match step {
        KillStep::Terminating { pids, grace } => format!(
            "sent SIGTERM to {}; waiting up to {} for them to exit",
            list(pids),
            humantime::format_duration(*grace)
        ),
        KillStep::Killing { pids } => {
            format!("{} still running; sending SIGKILL", list(pids))
        }
    }
}

/// `: 3 processes: 4711 sh, 4712 sleep, 4713 sleep (detached)`.
fn processes(killed: &[Killed]) -> String {
    if killed.is_empty() {
        return String::new();
    }
    let list: Vec<String> = killed
        .iter()
        .map(|k| {
            let detached = if k.detached { " (detached)" } else { "" };
            format!("{} {}{detached}", k.pid, k.comm)
        })
        .collect();
    format!(
        ": {} process{}: {}",
        killed.len(),
        if killed.len() == 1 { "" } else { "es" },
        list.join(", ")
    )
}

/// The entries of the target's session file without a run record here (lost ones are settled
/// on the way), restricted to the target's agent or run when it names one.
fn orphans_of(ctx: &Ctx, target: &Target) -> Vec<Orphan> {
    let path = ctx.repo.session_file(&target.session);
    let Ok(text) = crate::store::read_session(&path) else {
        return Vec::new();
    };
    let (_, orphans) = sync::check_entries(&ctx.repo, &path, text);
    orphans
        .into_iter()
        .filter(|o| {
            target.selector.as_deref().is_none_or(|sel| {
                o.agent == sel || o.run_id == sel || (sel.len() >= 4 && o.run_id.starts_with(sel))
            })
        })
        .collect()
}

/// Waits until the run's outcome is in the session file: the supervisor writes it; when the
/// supervisor is gone we do.
fn settle(path: &Path) -> Result<RunRecord> {
    let seen = wait_until(
        WRITE_BACK_WAIT,
        Backoff::every(Duration::from_millis(10)),
        || match record::load(path) {
            Ok(rec) if rec.written_back => Some(Ok(Some(rec))),
            Ok(rec) if !rec.supervised() => Some(Ok(None)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        },
    );
    match seen {
        Some(Ok(Some(rec))) => Ok(rec),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(None)) | None => sync::write_back_once(path),
    }
}
