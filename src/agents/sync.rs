//! Truth on every read: load run records once, reconcile them against the live processes
//! (pid + start time), and write every finished-but-unrecorded outcome back into its session
//! file. `agents`, `list`, `status`, `close`/`delete`, `logs`, `kill` and `prune` all start
//! here, so a run whose supervisor died is shown — and written — as `failed (lost)`, never
//! left `running`.
//!
//! Cheap by design: with no `.agents/state/runs/` it is one failed `read_dir`; a finished,
//! written-back record costs one small JSON parse and no `/proc` lookup.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::record::{self, LoadReport, RunRecord};
use super::{notify, writeback};
use crate::error::Result;
use crate::overview::Overview;
use crate::store::Repo;

/// Reconciled run records, oldest first.
#[derive(Debug, Default)]
pub struct Runs {
    pub records: Vec<(PathBuf, RunRecord)>,
    /// Corrupt records and failed write-backs, as `path: message` lines (for `agents` to warn).
    pub problems: Vec<String>,
}

impl Runs {
    /// Every run of the repository.
    pub fn load(repo: &Repo) -> Runs {
        Runs::settle(record::load_all(&repo.state_dir()))
    }

    /// Only the runs not yet settled (running, or finished but not written back): all that
    /// running counts need, at the cost of a few directory reads however many runs are kept.
    pub fn load_live(repo: &Repo) -> Runs {
        Runs::settle(record::load_live(&repo.state_dir()))
    }

    /// The runs of one session (by file stem).
    pub fn load_session(repo: &Repo, stem: &str) -> Runs {
        Runs::settle(record::load_for_session(&repo.state_dir(), stem))
    }

    fn settle(mut report: LoadReport) -> Runs {
        record::reconcile_report(&mut report);
        let mut problems: Vec<String> = report
            .errors
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display()))
            .collect();
        for (path, rec) in report.records.iter_mut() {
            if rec.needs_write_back() {
                match write_back_once(path) {
                    Ok(fresh) => *rec = fresh,
                    Err(e) => problems.push(format!(
                        "run {} ({}): cannot write its outcome into the session file: {e}",
                        rec.id, rec.agent
                    )),
                }
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

    /// Replaces an overview's running count with the reconciled one.
    pub fn correct(&self, o: &mut Overview) {
        if let Some(n) = self.running(&o.id) {
            o.agents.running = n;
            o.agents.total = o.agents.total.max(n);
        }
    }
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
    Ok(rec)
}

/// The supervisor's `on_exit`: write the outcome back and notify.
pub fn on_exit(rec: &RunRecord) -> Result<()> {
    writeback::write_back(rec, Utc::now())?;
    notify::on_finished(rec);
    Ok(())
}
