//! Killing a run: the cancel request in the record, the runner's kill, and the wait for the
//! supervisor to record the end.
//!
//! Owns [`kill_run`] (the same for every runner) and the local runners' shared way of finding
//! and signalling a run's processes (`local_kill`). It must never signal a process that is
//! not provably the run's: a process group counts only while its leader's start time is the
//! recorded one, and `process::kill_processes` spares this process, its ancestors and pid 1.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;

use super::super::Result;
use super::super::poll::{Backoff, wait_until};
use super::super::process::{self, KillOutcome, KillReport, KillStep, is_alive_opt, proc_stat};
use super::super::record::{self, RunRecord, RunStatus};

/// Default grace period between SIGTERM and SIGKILL.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);
/// How long a kill waits for a run still starting to get its process group.
const START_WAIT: Duration = Duration::from_secs(2);
/// How long a kill waits for the supervisor to record the end after the processes are gone.
const END_WAIT: Duration = Duration::from_secs(5);

/// Does `rec.pgid` still denote this run's process group (and not a reused id)?
fn group_is_ours(rec: &RunRecord) -> bool {
    let Some(pgid) = rec.pgid else { return false };
    if is_alive_opt(rec.pid, rec.pid_start) {
        return true;
    }
    // The leader is gone or a zombie. If a process with the leader's pid exists but started at
    // another time, the id was reused: not ours. Otherwise any remaining members are the run's
    // (Linux never hands out a pid that is still some live process's group id).
    match proc_stat(pgid as u32) {
        Some(s) => Some(s.start) == rec.pid_start,
        None => true,
    }
}

/// The run's processes outside its process group: descendants of its supervisor when
/// `below_supervisor` (a child subreaper, so even `setsid` helpers stay below it) and any
/// process started with the run's environment (found even after the supervisor died).
fn detached_processes(rec: &RunRecord, below_supervisor: bool) -> Vec<u32> {
    let snap = process::snapshot();
    let mut pids = Vec::new();
    if below_supervisor
        && let Some(sup) = rec.supervisor_pid
        && is_alive_opt(rec.supervisor_pid, rec.supervisor_start)
    {
        pids.extend(process::descendants(&snap, sup));
    }
    for pid in process::with_env(
        &snap,
        &[
            ("SESSIONS_RUN_ID", &rec.id),
            ("SESSIONS_SESSION", &rec.session),
        ],
    ) {
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    pids
}

/// A local run's kill: SIGTERM its process group (if still provably its own) and its
/// detached processes (see [`detached_processes`]), SIGKILL after `grace`.
pub(crate) fn local_kill(
    rec: &RunRecord,
    below_supervisor: bool,
    grace: Duration,
    progress: &dyn Fn(KillStep),
) -> KillReport {
    let pgid = if group_is_ours(rec) { rec.pgid } else { None };
    process::kill_processes(
        pgid,
        &|| detached_processes(rec, below_supervisor),
        grace,
        progress,
    )
}

/// `sessions kill`: mark the run cancel-requested, let its runner stop it (see
/// [`Runner::kill`](super::Runner::kill)), then wait for the supervisor to record the end (it
/// reaps the agent). If the supervisor is gone, the record is marked cancelled here. Finished
/// runs are left alone. `progress` hears each step as it happens.
pub fn kill_run(
    record_path: &Path,
    grace: Duration,
    progress: &dyn Fn(KillStep),
) -> Result<(RunRecord, KillReport)> {
    let (rec, _) = record::update_if(record_path, |r| {
        if !r.status.is_active() || r.cancel_requested {
            return false;
        }
        r.cancel_requested = true;
        true
    })?;
    if !rec.status.is_active() {
        return Ok((
            rec,
            KillReport {
                outcome: KillOutcome::NotRunning,
                processes: Vec::new(),
            },
        ));
    }
    let supervised = RunRecord::supervised;
    // A run still starting has no pgid yet (a run elsewhere has none here: `running` is
    // enough); its supervisor will see cancel_requested.
    let rec = reload_until(record_path, START_WAIT, |r| {
        r.pgid.is_some()
            || r.status == RunStatus::Running
            || !r.status.is_active()
            || (r.supervisor_pid.is_some() && !supervised(r))
    })?;
    let report = rec.runner.runner().kill(&rec, grace, progress);
    let mut rec = reload_until(record_path, END_WAIT, |r| {
        !r.status.is_active() || !supervised(r)
    })?;
    if rec.status.is_active() {
        rec = record::update_if(record_path, |r| {
            if !r.status.is_active() || supervised(r) {
                return false;
            }
            r.status = RunStatus::Cancelled;
            r.reason = Some("cancelled (supervisor gone)".into());
            r.ended_at = Some(Utc::now());
            true
        })?
        .0;
    }
    Ok((rec, report))
}

/// Reloads the record until `done` holds of it or `within` has passed; the record as it is
/// then.
fn reload_until(
    path: &Path,
    within: Duration,
    done: impl Fn(&RunRecord) -> bool,
) -> Result<RunRecord> {
    let found = wait_until(
        within,
        Backoff::every(Duration::from_millis(20)),
        || match record::load(path) {
            Ok(r) if !done(&r) => None,
            other => Some(other),
        },
    );
    found.unwrap_or_else(|| record::load(path))
}
