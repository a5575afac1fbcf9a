//! Background agents: run records, supervision, liveness, logs and summaries.
//!
//! Everything here is daemon-less. `sessions spawn` calls [`supervise::launch`], which writes
//! a run record under `.agents/state/runs/<session-stem>/<run-id>.json` and starts a detached
//! supervisor (the same binary, hidden subcommand) in its own session. The supervisor starts
//! the agent in its own process group, streams its output into the log, reaps it and records
//! the outcome. Readers never trust a `running` status on its own: [`record::reconcile`]
//! checks pid + process start time of both the agent and the supervisor.
//!
//! Concurrency: a record is replaced atomically (temp file + fsync + rename), so readers
//! never see a torn record. Read-modify-write cycles ([`record::update`]) hold an exclusive
//! `flock` on the record's directory, so the supervisor, `kill` and reconciling readers never
//! lose each other's changes.
//!
//! The session-file side lives in [`writeback`] (entry at spawn, outcome at exit, through the
//! lossless edit engine) and [`sync`] (load + reconcile + write back, used by every reader).

pub mod logfile;
pub mod notify;
pub mod output;
pub mod process;
pub mod queue;
pub mod record;
pub mod summary;
pub mod supervise;
pub mod sync;
pub mod template;
pub mod waiting;
pub mod writeback;

pub use process::{KillOutcome, is_alive, kill_group, proc_start_time};
pub use record::{LoadReport, RunRecord, RunStatus, Runner, load_all, load_for_session, reconcile};
pub use supervise::{LaunchSpec, kill_run, launch, supervisor_main};

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

impl From<Error> for crate::error::Error {
    fn from(e: Error) -> Self {
        crate::error::Error::Usage(e.to_string())
    }
}
