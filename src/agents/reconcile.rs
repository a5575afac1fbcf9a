//! Truth about one record: bring a `starting`/`running` record in line with what its runner
//! says of the run (see the table in `docs/runs.md`).
//!
//! Owns the verdicts (interrupted, lost, cancelled, "supervisor gone"); the facts come from
//! `Runner::liveness`, never from `/proc` directly, so a runner whose runs live elsewhere (a
//! remote host) answers for them — including "cannot tell", which leaves the record alone.
//! The one local fact it reads itself is the `spawn` process that wrote a record, which is
//! always this machine's. It must never write a session file (that is `sync`'s job).

use std::path::Path;
use std::time::Duration;

use chrono::Utc;

use super::Result;
use super::process::is_alive_opt;
use super::record::{LoadReport, RunRecord, RunStatus, update_if};
use super::runner::Liveness;

/// A run with no supervisor pid yet is given this long before it is declared lost (the
/// supervisor records itself within milliseconds of `launch`).
pub const STARTING_GRACE: Duration = Duration::from_secs(30);

/// Reason of a run whose `spawn` was killed before a supervisor took it over.
pub const INTERRUPTED: &str = "spawn was interrupted before the agent started";

impl RunRecord {
    /// Finished, but nobody wrote the outcome into the session file, and no live supervisor
    /// is about to (a supervisor between its final save and `on_exit` is still alive, and
    /// one the runner cannot see may be). Readers write such runs back, then
    /// [`mark_written_back`](super::record::mark_written_back).
    pub fn needs_write_back(&self) -> bool {
        !self.status.is_active()
            && !self.written_back
            && !matches!(
                self.runner.runner().liveness(self),
                Liveness::Supervised | Liveness::Unknown(_)
            )
    }

    /// Does the run's supervisor still run, as far as its runner can tell?
    pub fn supervised(&self) -> bool {
        self.runner.runner().liveness(self) == Liveness::Supervised
    }
}

/// Bring an active record in line with reality. Returns whether it changed.
///
/// * supervisor alive → unchanged: it will record the outcome, even if the agent already
///   exited. The runner cannot tell → unchanged too.
/// * no supervisor recorded yet, and the `spawn` that wrote the record is gone → `Failed`
///   (interrupted before the agent started; a supervisor that turns up later sees the settled
///   record and does not start the agent).
/// * no supervisor recorded yet otherwise → unchanged during [`STARTING_GRACE`], then lost.
/// * supervisor gone, agent alive → still running (reason notes the missing supervisor).
/// * supervisor and agent gone → `Lost` (reason `lost`), or `Cancelled` if a kill was asked.
///
/// PID reuse cannot resurrect a run: a local runner counts a process only with its recorded
/// start time.
pub fn reconcile(rec: &mut RunRecord) -> bool {
    if !rec.status.is_active() {
        return false;
    }
    if rec.supervisor_pid.is_none() {
        if rec.spawner_pid.is_some() && !is_alive_opt(rec.spawner_pid, rec.spawner_start) {
            rec.status = if rec.cancel_requested {
                RunStatus::Cancelled
            } else {
                RunStatus::Failed
            };
            rec.reason = Some(INTERRUPTED.to_string());
            rec.summary.get_or_insert_with(|| INTERRUPTED.to_string());
            rec.ended_at = Some(Utc::now());
            return true;
        }
        let age = Utc::now().signed_duration_since(rec.started_at);
        if age.to_std().map(|a| a < STARTING_GRACE).unwrap_or(true) {
            return false;
        }
    }
    match rec.runner.runner().liveness(rec) {
        Liveness::Supervised => return false,
        // Nothing is concluded; a host out of reach is noted, so readers show the run
        // `unknown (host … unreachable since …)` rather than `running`.
        Liveness::Unknown(why) => return rec.runner.note_unreachable(&why, Utc::now()),
        Liveness::Unsupervised => {
            let noted = rec.runner.note_reachable();
            let reason = Some("supervisor gone".to_string());
            if rec.reason != reason {
                rec.reason = reason;
                return true;
            }
            return noted;
        }
        Liveness::Gone => {}
    }
    // A run elsewhere may have ended there with an outcome of its own.
    if let Some(o) = rec.runner.runner().outcome(rec) {
        rec.cancel_requested |= o.cancelled;
        super::runner::supervisor::settle(rec, o.ending, o.output);
        return true;
    }
    rec.status = if rec.cancel_requested {
        RunStatus::Cancelled
    } else {
        RunStatus::Lost
    };
    rec.reason = Some("lost".to_string());
    rec.ended_at = Some(Utc::now());
    true
}

/// Reconcile the record at `path` and persist the change (under the directory lock).
pub fn reconcile_at(path: &Path) -> Result<RunRecord> {
    Ok(update_if(path, reconcile)?.0)
}

/// Reconcile every active record of a report and persist changes. Returns how many changed.
/// Errors while saving are moved into `report.errors`.
pub fn reconcile_report(report: &mut LoadReport) -> usize {
    let mut changed = 0;
    let mut errors = Vec::new();
    for (path, rec) in report.records.iter_mut() {
        if !rec.status.is_active() {
            continue;
        }
        let mut probe = rec.clone();
        if !reconcile(&mut probe) {
            continue;
        }
        match reconcile_at(path) {
            Ok(fresh) => {
                *rec = fresh;
                changed += 1;
            }
            Err(e) => errors.push((path.clone(), e.to_string())),
        }
    }
    report.errors.extend(errors);
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::record::tests::sample;

    #[test]
    fn reconcile_rules() {
        let me = std::process::id();
        let my_start = super::super::process::proc_start_time(me).unwrap();

        // Supervisor alive (us): unchanged even though the agent is unknown.
        let mut r = sample("s");
        r.supervisor_pid = Some(me);
        r.supervisor_start = Some(my_start);
        assert!(!reconcile(&mut r));
        assert_eq!(r.status, RunStatus::Running);

        // Reused pids (right pid, wrong start) for both: lost.
        let mut r = sample("s");
        r.supervisor_pid = Some(me);
        r.supervisor_start = Some(my_start + 7);
        r.pid = Some(me);
        r.pid_start = Some(my_start + 9);
        assert!(reconcile(&mut r));
        assert_eq!(r.status, RunStatus::Lost);
        assert_eq!(r.status.display(), "failed (lost)");
        assert_eq!(r.reason.as_deref(), Some("lost"));
        assert!(r.ended_at.is_some());
        assert!(!reconcile(&mut r));

        // Agent alive, supervisor gone: still running.
        let mut r = sample("s");
        r.supervisor_pid = Some(me);
        r.supervisor_start = Some(my_start + 1);
        r.pid = Some(me);
        r.pid_start = Some(my_start);
        assert!(reconcile(&mut r));
        assert_eq!(r.status, RunStatus::Running);
        assert!(!reconcile(&mut r));

        // No supervisor yet: grace period, then lost.
        let mut r = sample("s");
        r.status = RunStatus::Starting;
        assert!(!reconcile(&mut r));
        r.started_at = Utc::now() - chrono::Duration::seconds(60);
        assert!(reconcile(&mut r));
        assert_eq!(r.status, RunStatus::Lost);

        // Cancel asked and everything gone: cancelled.
        let mut r = sample("s");
        r.supervisor_pid = Some(me);
        r.supervisor_start = Some(my_start + 1);
        r.cancel_requested = true;
        assert!(reconcile(&mut r));
        assert_eq!(r.status, RunStatus::Cancelled);
    }
}
