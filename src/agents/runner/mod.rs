//! The runner seam: how an agent is started, found alive, stopped, attached to and typed to.
//!
//! ```text
//! sessions spawn ──launch()──► record (starting) ──double fork──► supervisor (or __supervise)
//!                 (returns)                                           │ supervisor::run
//!                                                                     ├─ Runner::supervise: start
//!                                                                     │  the agent, record its pid,
//!                                                                     │  stay until it ends
//!                                                                     ├─ finalize → record (final)
//!                                                                     └─ on_exit → write-back
//! readers ── reconcile ── Runner::liveness      kill ── Runner::kill      attach/send ── Runner
//! ```
//!
//! Every run has a local, detached supervisor (`launch.rs`, `supervisor.rs`), the only writer
//! of its log and of its outcome. What differs between runners is behind [`Runner`]: the
//! process runner (`process.rs`) runs the agent as the supervisor's child in its own process
//! group; the tmux runner (`tmux.rs`) runs it in a pane of a detached tmux session. Liveness
//! and kill are part of the interface because a run elsewhere (ssh, Kubernetes: see
//! `docs/runners.md`) is not in this machine's `/proc`.
//!
//! Dispatch is an enum, [`RunnerState`], stored in the record (its variants carry each runner's
//! own state), with one `match` in [`RunnerState::runner`] that hands out the [`Runner`] trait
//! object. The set of runners is closed (a record must name its runner to be read back), and
//! the trait keeps each runner's answers to the same six questions in one `impl`.
//!
//! This module must never write a session file (the supervisor's `on_exit` does) and never
//! decide a run's status from what it finds (that is `reconcile`'s verdict).

pub mod kill;
pub mod launch;
pub mod process;
pub mod ssh;
pub mod state;
pub mod supervisor;
pub mod tmux;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub use kill::{DEFAULT_KILL_GRACE, kill_run};
pub use launch::{LaunchSpec, Launched, Prepared, find_program, host_name, launch, prepare};
pub use state::{RemoteProcess, RunnerKind, RunnerState, SshState, TmuxState};
pub use supervisor::{run_supervisor, supervisor_main};

use super::Result;
use super::logfile::{self, LogWriter};
use super::process::{KillReport, KillStep, is_alive_opt};
use super::record::RunRecord;
use super::summary::RunOutput;

/// What a runner answers for one run. Every method but [`Runner::supervise`] may be called by
/// any process at any time (a reader reconciling, `kill`, a server), so none of them may
/// change the record; `supervise` runs once, in the run's supervisor.
pub trait Runner {
    /// Why a run with this runner cannot start on this machine (tmux not installed), asked by
    /// `launch` before it starts the supervisor; `None` if it can.
    fn unavailable(&self, rec: &RunRecord) -> Option<String>;

    /// Start: in the supervisor, start the agent; once its pid is recorded (`running`, with
    /// pid, start time and process group) call `ready.signal()`; stay until the agent has
    /// ended and say how, with what its output told (summary, cost, conversation id).
    fn supervise(&self, path: &Path, rec: &RunRecord, ready: Ready) -> Result<(Ending, RunOutput)>;

    /// Is the run's supervisor — or, without one, the agent — still alive? Asked by every
    /// reader; must be cheap for a local run (a `/proc` lookup or two).
    fn liveness(&self, rec: &RunRecord) -> Liveness;

    /// The outcome a run recorded elsewhere (another host) although its supervisor here is
    /// gone; `None` for a local run (a local run whose supervisor died without recording one
    /// is lost).
    fn outcome(&self, _rec: &RunRecord) -> Option<Outcome> {
        None
    }

    /// Stop the run's processes: SIGTERM, `grace`, SIGKILL (or the runner's equivalent),
    /// telling `progress` each step. Marking the run cancelled is `kill_run`'s job.
    fn kill(&self, rec: &RunRecord, grace: Duration, progress: &dyn Fn(KillStep)) -> KillReport;

    /// The command that puts a terminal on the run (`sessions attach`), if it has one.
    fn attach_argv(&self, rec: &RunRecord) -> Option<Vec<String>>;

    /// Type `text` into the running agent as if a person did, then Enter. A runner with no
    /// terminal answers [`Error::Unsupported`](super::Error::Unsupported).
    fn send(&self, rec: &RunRecord, text: &str) -> Result<()>;
}

impl RunnerState {
    /// The runner that answers for this state.
    pub fn runner(&self) -> &dyn Runner {
        match self {
            RunnerState::Process => &process::ProcessRunner,
            RunnerState::Tmux(t) => t,
            RunnerState::Ssh(s) => s,
        }
    }

    /// The state a new run of `kind` starts with (an ssh run's is made by `spawn --host`;
    /// without it, the run is a local process).
    pub fn for_run(kind: RunnerKind, session: &str, id: &str) -> RunnerState {
        match kind {
            RunnerKind::Process | RunnerKind::Ssh => RunnerState::Process,
            RunnerKind::Tmux => RunnerState::Tmux(TmuxState {
                session: tmux::session_name(session, id),
            }),
        }
    }

    /// The configured host an ssh run runs on.
    pub fn host(&self) -> Option<&str> {
        match self {
            RunnerState::Ssh(s) => Some(&s.host),
            _ => None,
        }
    }

    /// The kind to run it again with here (`None` for an ssh run: its host decides there).
    pub fn local_kind(&self) -> Option<RunnerKind> {
        match self {
            RunnerState::Ssh(_) => None,
            other => Some(other.kind()),
        }
    }

    /// Notes that the run's host did not answer (`why` from [`Runner::liveness`]), if it is
    /// a run elsewhere and that is news; whether anything changed.
    pub fn note_unreachable(&mut self, why: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
        match self {
            RunnerState::Ssh(s) if s.unreachable_since.is_none() && ssh::is_unreachable(why) => {
                s.unreachable_since = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                true
            }
            _ => false,
        }
    }

    /// Notes that the run's host answers again; whether anything changed.
    pub fn note_reachable(&mut self) -> bool {
        match self {
            RunnerState::Ssh(s) => s.unreachable_since.take().is_some(),
            _ => false,
        }
    }

    /// The host a run elsewhere runs on, and why it cannot be seen now (`host build1
    /// unreachable since …`) — `None` for a local run or a host that answers.
    pub fn unreachable(&self) -> Option<String> {
        match self {
            RunnerState::Ssh(s) => s
                .unreachable_since
                .as_deref()
                .map(|t| ssh::unreachable_text(&s.host, Some(t))),
            _ => None,
        }
    }
}

/// What a runner can tell of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Its supervisor runs: it will record the outcome.
    Supervised,
    /// The supervisor is gone, the agent still runs.
    Unsupervised,
    /// Neither runs.
    Gone,
    /// The runner cannot tell (e.g. "host unreachable since 10:02"): nothing may be concluded.
    Unknown(String),
}

/// The local runners' liveness: pid + start time in `/proc`, supervisor first.
pub(crate) fn local_liveness(rec: &RunRecord) -> Liveness {
    if is_alive_opt(rec.supervisor_pid, rec.supervisor_start) {
        Liveness::Supervised
    } else if is_alive_opt(rec.pid, rec.pid_start) {
        Liveness::Unsupervised
    } else {
        Liveness::Gone
    }
}

/// How a run ended elsewhere, as [`Runner::outcome`] tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ending: Ending,
    pub output: RunOutput,
    /// It was cancelled there.
    pub cancelled: bool,
}

/// How a run ended, as far as its supervisor knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    NotStarted(String),
    Unknown(String),
}

/// The supervisor's end of the readiness pipe: written once the agent's pid is recorded,
/// closed unwritten (dropped) when the agent could not start.
#[derive(Debug, Default)]
pub struct Ready(Option<File>);

impl Ready {
    pub(crate) fn new(pipe: Option<File>) -> Ready {
        Ready(pipe)
    }

    /// Tells the launcher the agent has started.
    pub fn signal(self) {
        if let Some(mut f) = self.0 {
            let _ = f.write_all(b"1");
        }
    }
}

/// How much of the log's end is used for the fallback summary.
pub const SUMMARY_TAIL_BYTES: u64 = 64 * 1024;

/// A `[sessions] …` line in the run's log (best effort).
pub(crate) fn append_note(rec: &RunRecord, note: &str) {
    let path = rec.log_path();
    if let Ok(mut w) = LogWriter::open(&path, rec.log_cap, rec.log_keep) {
        let _ = w.write_all(format!("[sessions] {note}\n").as_bytes());
    }
}

pub(crate) fn tail_for_summary(rec: &RunRecord) -> String {
    logfile::read_tail(&rec.log_path(), SUMMARY_TAIL_BYTES).unwrap_or_default()
}

/// The environment every agent gets: its run, session and agent name, then the configured
/// extras.
pub(crate) fn agent_env(rec: &RunRecord) -> Vec<(String, String)> {
    let mut env = vec![
        ("SESSIONS_RUN_ID".to_string(), rec.id.clone()),
        ("SESSIONS_SESSION".to_string(), rec.session.clone()),
        ("SESSIONS_AGENT".to_string(), rec.agent.clone()),
    ];
    env.extend(rec.env.iter().cloned());
    env
}
