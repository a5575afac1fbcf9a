//! Background agents: run records, supervision, liveness, logs and summaries.
//!
//! Everything here is daemon-less. `sessions spawn` calls [`runner::launch()`], which writes
//! a run record under `.agents/state/runs/<session-stem>/<run-id>.json` and starts a detached
//! supervisor (the same binary, hidden subcommand) in its own session. The supervisor has the
//! run's [`runner::Runner`] start the agent, stream its output into the log and see it end, and
//! records the outcome. Readers never trust a `running` status on its own:
//! [`reconcile::reconcile`] asks the runner whether the supervisor or the agent still lives
//! (pid + process start time for the local runners).
//!
//! Concurrency: a record is replaced atomically (temp file + fsync + rename), so readers
//! never see a torn record. Read-modify-write cycles ([`record::update`]) hold an exclusive
//! `flock` on the record's directory, so the supervisor, `kill` and reconciling readers never
//! lose each other's changes.
//!
//! The session-file side lives in [`writeback`] (entry at spawn, outcome at exit, through the
//! lossless edit engine) and [`sync`] (load + reconcile + write back, used by every reader).

pub mod compact;
pub mod logfile;
pub mod notify;
pub mod output;
pub mod poll;
pub mod process;
pub mod queue;
pub mod reconcile;
pub mod record;
pub mod runner;
pub mod summary;
pub mod sync;
pub mod template;
pub mod waiting;
pub mod writeback;

pub use poll::wait_until;
pub use process::{KillOutcome, is_alive, kill_group, proc_start_time};
pub use reconcile::reconcile;
pub use record::{LoadReport, RunRecord, RunStatus, load_all, load_for_session};
pub use runner::{
    LaunchSpec, Liveness, Runner, RunnerKind, RunnerState, kill_run, launch, supervisor_main,
};

use std::path::PathBuf;

/// Errors of the agents module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid run record: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "tmux is not installed (needed for --runner tmux); install tmux or use --runner process"
    )]
    TmuxMissing,
    /// The run's runner cannot do this (send to a process-runner agent).
    #[error("{0}")]
    Unsupported(String),
    #[error("tmux failed: {0}")]
    Tmux(String),
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
