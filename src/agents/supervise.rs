//! Launching, supervising and killing agent runs — without a daemon.
//!
//! ```text
//! sessions spawn ──launch()──► record (starting) ──fork/setsid──► sessions <hidden> <record>
//!                 (returns)                                           │ supervisor_main()
//!                                                                     ├─ agent: own process group,
//!                                                                     │  stdin /dev/null,
//!                                                                     │  stdout+stderr → pipe
//!                                                                     ├─ pipe → LogWriter (cap,
//!                                                                     │  rotation) + Summarizer
//!                                                                     ├─ waitpid → record (final)
//!                                                                     └─ on_exit(&record) → write-back
//! ```
//!
//! The supervisor is the only writer of the log, so rotation is race-free (see `logfile`).
//! Consequence: if the supervisor is killed, the agent's next write gets `EPIPE`/`SIGPIPE`.
//!
//! `launch` does not wait for the supervisor: a short-lived CLI exits right away and the
//! supervisor is re-parented to init (or a subreaper), which reaps it. A long-lived caller of
//! `launch` would keep it as a zombie until it exits (harmless: liveness checks treat zombies as
//! dead).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::sleep;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::logfile::{self, LogWriter};
use super::process::{
    self, KillOutcome, KillReport, KillStep, is_alive_opt, proc_start_time, proc_stat,
};
use super::record::{self, RECORD_VERSION, RunRecord, RunStatus, Runner};
use super::summary::{self, RunOutput, Summarizer};
use super::{Error, IoContext, Result};

/// Socket name of the dedicated tmux server (`tmux -L sessions`).
pub const TMUX_SOCKET: &str = "sessions";
/// Supervisor argument selecting the tmux pane mode (internal).
pub const TMUX_PANE_FLAG: &str = "--tmux-pane";
/// Supervisor argument selecting the tmux log-sink mode (internal).
pub const TMUX_SINK_FLAG: &str = "--tmux-sink";
/// Default grace period between SIGTERM and SIGKILL.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);
/// After the agent exits, how long the supervisor waits for its output pipe to reach EOF
/// (grandchildren may hold it open).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How much of the log's end is used for the fallback summary.
pub const SUMMARY_TAIL_BYTES: u64 = 64 * 1024;

/// What `sessions spawn` asks for.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// Absolute `.agents/state` directory.
    pub state_dir: PathBuf,
    /// Absolute repository root.
    pub root: PathBuf,
    /// Log directory relative to `root` (default `.agents/logs`); the log goes to
    /// `<logs_dir>/<session>/<agent>-<run-id>.log`.
    pub logs_dir: PathBuf,
    /// Session file stem.
    pub session: String,
    /// Absolute path of the session file (for the write-back).
    pub session_file: Option<PathBuf>,
    pub agent: String,
    pub task: String,
    pub conversation_id: Option<String>,
    /// The agent's argv (already expanded from the config template; never run by a shell).
    pub argv: Vec<String>,
    /// Extra environment for the agent.
    pub env: Vec<(String, String)>,
    /// Absolute working directory of the agent.
    pub cwd: PathBuf,
    pub runner: Runner,
    /// Bytes; 0 disables rotation.
    pub log_cap: u64,
    /// Bytes kept at rotation.
    pub log_keep: u64,
    /// argv prefix re-entering this binary's hidden supervisor subcommand, e.g.
    /// `[current_exe, "__supervise"]`; the supervisor gets `<prefix…> [flag] <record path>`.
    pub supervisor_argv: Vec<String>,
    /// Use this run id instead of a fresh one.
    pub run_id: Option<String>,
    /// The run this one resumes (see `RunRecord::resumes`).
    pub resumes: Option<String>,
}

impl LaunchSpec {
    /// A spec with the defaults: state in `<root>/.agents/state`, logs in `.agents/logs`, cwd =
    /// root, process runner, 50 MB cap keeping 25 MB.
    pub fn new(
        root: impl Into<PathBuf>,
        session: impl Into<String>,
        agent: impl Into<String>,
        task: impl Into<String>,
        argv: Vec<String>,
        supervisor_argv: Vec<String>,
    ) -> Self {
        let root = root.into();
        Self {
            state_dir: root.join(".agents/state"),
            logs_dir: PathBuf::from(".agents/logs"),
            cwd: root.clone(),
            root,
            session: session.into(),
            session_file: None,
            agent: agent.into(),
            task: task.into(),
            conversation_id: None,
            argv,
            env: Vec::new(),
            runner: Runner::Process,
            log_cap: logfile::DEFAULT_LOG_CAP,
            log_keep: logfile::default_keep(logfile::DEFAULT_LOG_CAP),
            supervisor_argv,
            run_id: None,
            resumes: None,
        }
    }
}

impl LaunchSpec {
    /// The log path (relative to `root`) a run with this id gets:
    /// `<logs_dir>/<session>/<agent>-<id>.log`. Lets the caller link the log in the session
    /// file before calling [`launch`] with `run_id: Some(id)`.
    pub fn log_rel_path(&self, id: &str) -> PathBuf {
        self.logs_dir
            .join(&self.session)
            .join(format!("{}-{id}.log", sanitize(&self.agent)))
    }
}

/// Characters allowed in file and tmux session names we derive; others become `_`.
fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() { "_".into() } else { out }
}

fn validate_stem(session: &str) -> Result<()> {
    if session.is_empty() || session == "." || session == ".." || session.contains(['/', '\0']) {
        return Err(Error::Invalid(format!("invalid session stem {session:?}")));
    }
    Ok(())
}

/// Find an executable on `PATH` (or check a path containing `/`, relative to `cwd`).
pub fn find_program(name: &str, cwd: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = cwd.join(name);
        return is_exec(&p).then_some(p);
    }
    if name.is_empty() {
        return None;
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| is_exec(p))
    })
}

/// This machine's host name (recorded with every run: a run is only visible where it runs).
pub fn host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
}

/// Why the agent's program cannot be started, if it cannot: "`claude` not found on PATH".
pub fn missing_program(program: &str, cwd: &Path) -> Option<String> {
    if find_program(program, cwd).is_some() {
        return None;
    }
    Some(if program.contains('/') {
        format!("`{program}` is not an executable file")
    } else {
        format!("`{program}` not found on PATH")
    })
}

/// A run whose record (the intent) and empty log exist, but whose supervisor is not started
/// yet. See `docs/runs.md` for why the record comes first.
#[derive(Debug)]
pub struct Prepared {
    pub record: RunRecord,
    /// The record's path.
    pub path: PathBuf,
}

/// Start a run: [`prepare`] it, then [`Prepared::start`] it.
pub fn launch(spec: LaunchSpec) -> Result<Launched> {
    Ok(prepare(spec)?.start())
}

/// Write the run's record (`starting`, naming this process as its spawner) and create its
/// empty log, so that whatever happens next — this process killed, the supervisor killed,
/// the agent missing — there is a record to reconcile and the log a session file links
/// exists. Fails, writing nothing, on an invalid spec.
pub fn prepare(spec: LaunchSpec) -> Result<Prepared> {
    validate_stem(&spec.session)?;
    if spec.argv.is_empty() {
        return Err(Error::Invalid("empty agent command".into()));
    }
    if spec.supervisor_argv.is_empty() {
        return Err(Error::Invalid("empty supervisor command".into()));
    }
    let id = spec.run_id.clone().unwrap_or_else(record::new_run_id);
    if id.is_empty() || sanitize(&id) != id {
        return Err(Error::Invalid(format!("invalid run id {id:?}")));
    }
    let log = spec.log_rel_path(&id);
    let me = std::process::id();
    let rec = RunRecord {
        version: RECORD_VERSION,
        id: id.clone(),
        session: spec.session.clone(),
        session_file: spec.session_file,
        agent: spec.agent,
        task: spec.task,
        conversation_id: spec.conversation_id,
        argv: spec.argv,
        env: spec.env,
        cwd: spec.cwd,
        root: spec.root,
        log,
        log_cap: spec.log_cap,
        log_keep: spec.log_keep,
        runner: spec.runner,
        tmux_session: (spec.runner == Runner::Tmux)
            .then(|| format!("{}-{id}", sanitize(&spec.session))),
        supervisor_argv: spec.supervisor_argv,
        host: host_name(),
        spawner_pid: Some(me),
        spawner_start: proc_start_time(me),
        supervisor_pid: None,
        supervisor_start: None,
        pid: None,
        pid_start: None,
        pgid: None,
        started_at: Utc::now(),
        ended_at: None,
        exit_code: None,
        signal: None,
        status: RunStatus::Starting,
        reason: None,
        summary: None,
        cost_usd: None,
        tokens: None,
        turns: None,
        cancel_requested: false,
        written_back: false,
        resumes: spec.resumes.clone(),
        turn: None,
        notify_failures: Vec::new(),
    };
    let path = rec.path_in(&spec.state_dir);
    if path.exists() {
        return Err(Error::Invalid(format!("run {id} already exists")));
    }
    let log_path = rec.log_path();
    if let Some(dir) = log_path.parent() {
        fs::create_dir_all(dir).at(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .at(&log_path)?;
    record::mark_live(&path)?;
    record::save(&path, &rec)?;
    Ok(Prepared { record: rec, path })
}

impl Prepared {
    /// Remove the record, its marker and its (empty) log: for a spawn that gives up before
    /// anything about the run reached a session file.
    pub fn abandon(self) {
        let _ = record::update(&self.path, |r| {
            r.status = RunStatus::Cancelled;
            r.written_back = true;
        });
        let _ = record::remove(&self.path, &self.record);
        let _ = fs::remove_file(self.record.log_path());
    }

    /// Start the detached supervisor and return without waiting (the agent is started by the
    /// supervisor a moment later). [`Launched::wait_started`] waits for the agent, without
    /// polling: the supervisor reports on a pipe (fd named by [`READY_FD_ENV`]) once the
    /// agent's pid is recorded, and closes it unwritten when it could not start the agent.
    ///
    /// When the agent cannot be started at all (its program is not on `PATH`, tmux is missing
    /// for `--runner tmux`, the supervisor cannot be started), the record is settled `failed`
    /// with the reason, a `[sessions]` line says it in the log, and the returned run has no
    /// readiness pipe.
    pub fn start(self) -> Launched {
        let Prepared { record: rec, path } = self;
        let unstartable = missing_program(&rec.argv[0], &rec.cwd)
            .map(|why| format!("cannot start agent: {why}"))
            .or_else(|| {
                (rec.runner == Runner::Tmux && find_program("tmux", &rec.cwd).is_none())
                    .then(|| Error::TmuxMissing.to_string())
            });
        if let Some(why) = unstartable {
            return Launched::failed(&path, rec, why);
        }
        // Both ends are close-on-exec; only the supervisor's copy of the write end is kept
        // open across its exec (see pre_exec).
        let (ready_r, ready_w) = match std::io::pipe() {
            Ok(p) => p,
            Err(e) => return Launched::failed(&path, rec, format!("cannot start supervisor: {e}")),
        };
        let ready_fd = ready_w.as_raw_fd();
        let mut cmd = Command::new(&rec.supervisor_argv[0]);
        cmd.args(&rec.supervisor_argv[1..])
            .arg(&path)
            .current_dir(&rec.root)
            .env(READY_FD_ENV, ready_fd.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid and fcntl are async-signal-safe and touch no memory of the parent;
        // `ready_fd` is open in the child (forked with all our fds).
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                let fd = std::os::fd::BorrowedFd::borrow_raw(ready_fd);
                nix::fcntl::fcntl(
                    fd,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                )
                .map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let spawned = cmd.spawn();
        drop(cmd);
        drop(ready_w);
        match spawned {
            Ok(child) => {
                let (pid, start) = (child.id(), proc_start_time(child.id()));
                // Not waited for: see the module docs.
                drop(child);
                // Persist the supervisor's identity now, so a supervisor that dies before its
                // first save is seen as lost at once (it also records itself; same values).
                let saved = record::update(&path, |r| {
                    if r.supervisor_pid.is_none() && r.status.is_active() {
                        r.supervisor_pid = Some(pid);
                        r.supervisor_start = start;
                    }
                })
                .map(|(r, _)| r)
                .unwrap_or(rec);
                Launched {
                    record: saved,
                    path,
                    ready: Some(ready_r),
                }
            }
            Err(e) => Launched::failed(&path, rec, format!("cannot start supervisor: {e}")),
        }
    }
}

/// Names the fd on which a supervisor reports that the agent has started (internal).
pub const READY_FD_ENV: &str = "SESSIONS_SUPERVISOR_READY_FD";

/// A run just launched: its record (as of the launch) and the read end of the readiness pipe
/// (none when the run could not be started: its record is settled `failed` already).
#[derive(Debug)]
pub struct Launched {
    pub record: RunRecord,
    /// The record's path.
    pub path: PathBuf,
    ready: Option<std::io::PipeReader>,
}

impl Launched {
    /// Settle a run that cannot start: `failed` with `why`, said in its log too.
    fn failed(path: &Path, rec: RunRecord, why: String) -> Launched {
        append_note(&rec, &why);
        let record = record::update(path, |r| {
            r.status = if r.cancel_requested {
                RunStatus::Cancelled
            } else {
                RunStatus::Failed
            };
            r.reason = Some(why.clone());
            r.summary.get_or_insert_with(|| why.clone());
            r.ended_at = Some(Utc::now());
        })
        .map(|(r, _)| r)
        .unwrap_or(rec);
        Launched {
            record,
            path: path.to_path_buf(),
            ready: None,
        }
    }

    /// Waits, at most `timeout`, until the supervisor has started the agent and recorded its
    /// pid — or failed to, or died — and returns the record as it is then.
    pub fn wait_started(self, timeout: Duration) -> RunRecord {
        let Launched {
            record,
            path,
            ready,
        } = self;
        let Some(mut ready) = ready else {
            return record;
        };
        let (tx, rx) = mpsc::channel();
        // A blocking read in a thread: woken the moment the supervisor writes or exits.
        std::thread::spawn(move || {
            let mut byte = [0u8; 1];
            let _ = tx.send(ready.read(&mut byte));
        });
        let _ = rx.recv_timeout(timeout);
        record::load(&path).unwrap_or(record)
    }
}

/// The supervisor's end of the readiness pipe, taken from the environment. Made close-on-exec
/// at once so the agent never inherits it.
fn take_ready_fd() -> Option<File> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let fd: i32 = std::env::var(READY_FD_ENV).ok()?.parse().ok()?;
    if fd <= 2 {
        return None;
    }
    // SAFETY: only adopted after checking it is an open pipe; the launcher passed its number
    // for exactly this, and nothing else in this process owns it.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let st = nix::sys::stat::fstat(borrowed).ok()?;
    if st.st_mode & nix::libc::S_IFMT != nix::libc::S_IFIFO {
        return None;
    }
    nix::fcntl::fcntl(
        borrowed,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .ok()?;
    // SAFETY: see above.
    Some(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Closes every fd above stderr that the supervisor inherited (except `keep`): a pipe of the
/// terminal or CI job that ran `spawn`, held open for the agent's whole life, would keep
/// whoever reads it waiting. Called first thing, when nothing in this process owns an fd.
fn close_inherited_fds(keep: Option<i32>) {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own fd is in the list; it is closed by now, so closing it fails harmlessly.
    for fd in fds {
        if fd > 2 && Some(fd) != keep {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// Tells the launcher the agent has started (its pid is in the record).
fn signal_ready(ready: Option<File>) {
    if let Some(mut f) = ready {
        let _ = f.write_all(b"1");
    }
}

/// Entry point of the hidden supervisor subcommand. `args` are the arguments after the
/// subcommand: `<record>` (supervise and call `on_exit` with the final record), or the
/// internal tmux modes `--tmux-pane <record>` / `--tmux-sink <record>` (`on_exit` unused).
/// Returns the process exit code.
pub fn supervisor_main<F, E>(args: &[OsString], on_exit: F) -> i32
where
    F: FnOnce(&RunRecord) -> std::result::Result<(), E>,
    E: std::fmt::Display,
{
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    match args.as_slice() {
        [path] => match run_supervisor(Path::new(path), on_exit) {
            Ok(_) => 0,
            Err(_) => 1,
        },
        [flag, path] if *flag == TMUX_PANE_FLAG => tmux_pane(Path::new(path)),
        [flag, path] if *flag == TMUX_SINK_FLAG => tmux_sink(Path::new(path)),
        _ => 2,
    }
}

/// Supervise the run whose record is at `record_path` until the agent ends; save the final
/// record; call `on_exit` (the session-file write-back); then set `written_back` if it
/// succeeded (a failure is noted in the log, and `written_back` stays false so a later reader
/// can retry, see [`RunRecord::needs_write_back`]).
pub fn run_supervisor<F, E>(record_path: &Path, on_exit: F) -> Result<RunRecord>
where
    F: FnOnce(&RunRecord) -> std::result::Result<(), E>,
    E: std::fmt::Display,
{
    let ready = take_ready_fd();
    close_inherited_fds(ready.as_ref().map(|f| f.as_raw_fd()));
    // `main` restores SIGPIPE's default for `sessions list | head`; the supervisor must not
    // die writing the "ready" byte to a `spawn` that was killed meanwhile (or to anything
    // else): an ignored SIGPIPE turns that into an EPIPE error. The agent gets the default
    // back (std resets SIGPIPE in the children it spawns).
    // SAFETY: no other thread exists yet; setting a disposition touches no memory.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    // Take the run over from its spawner, under the record's lock: a run that a reader
    // settled meanwhile (its spawn was killed before we got here) is not started.
    let me = std::process::id();
    let my_start = proc_start_time(me);
    let (rec, claimed) = record::update_if(record_path, |r| {
        if r.status != RunStatus::Starting {
            return false;
        }
        r.supervisor_pid = Some(me);
        r.supervisor_start = my_start;
        true
    })?;
    if !claimed {
        return Ok(rec);
    }
    let fin = match rec.runner {
        Runner::Process => supervise_process(record_path, &rec, ready)?,
        Runner::Tmux => supervise_tmux(record_path, &rec, ready)?,
    };
    match on_exit(&fin) {
        Ok(()) => record::mark_written_back(record_path),
        Err(e) => {
            append_note(&fin, &format!("write-back to the session file failed: {e}"));
            Ok(fin)
        }
    }
}

/// How a run ended, as far as the supervisor knows.
enum Ending {
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    NotStarted(String),
    Unknown(String),
}

fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {n}"))
}

/// Save the final state.
fn finalize(path: &Path, ending: Ending, output: RunOutput) -> Result<RunRecord> {
    let me = std::process::id();
    let my_start = proc_start_time(me);
    Ok(record::update(path, |r| {
        r.supervisor_pid = Some(me);
        r.supervisor_start = my_start;
        r.ended_at = Some(Utc::now());
        r.summary = output.summary;
        r.cost_usd = output.cost_usd;
        r.tokens = output.tokens;
        r.turns = output.turns;
        if let Some(id) = output.conversation_id {
            r.conversation_id = Some(id);
        }
        let (ok, reason) = match ending {
            Ending::Exited { code, signal } => {
                r.exit_code = code;
                r.signal = signal;
                match (code, signal) {
                    (Some(0), _) => (true, None),
                    (Some(c), _) => (false, Some(format!("exit code {c}"))),
                    (None, Some(s)) => (false, Some(format!("killed by {}", signal_name(s)))),
                    (None, None) => (false, Some("exit status unknown".into())),
                }
            }
            Ending::NotStarted(why) | Ending::Unknown(why) => (false, Some(why)),
        };
        (r.status, r.reason) = if r.cancel_requested {
            (RunStatus::Cancelled, Some("cancelled".into()))
        } else if ok {
            (RunStatus::Completed, None)
        } else {
            (RunStatus::Failed, reason)
        };
        if r.summary.is_none() && r.status == RunStatus::Failed {
            r.summary = r.reason.clone();
        }
    })?
    .0)
}

/// A `[sessions] …` line in the run's log (best effort).
fn append_note(rec: &RunRecord, note: &str) {
    let path = rec.log_path();
    if let Ok(mut w) = LogWriter::open(&path, rec.log_cap, rec.log_keep) {
        let _ = w.write_all(format!("[sessions] {note}\n").as_bytes());
    }
}

fn tail_for_summary(rec: &RunRecord) -> String {
    logfile::read_tail(&rec.log_path(), SUMMARY_TAIL_BYTES).unwrap_or_default()
}

fn agent_env(rec: &RunRecord) -> Vec<(String, String)> {
    let mut env = vec![
        ("SESSIONS_RUN_ID".to_string(), rec.id.clone()),
        ("SESSIONS_SESSION".to_string(), rec.session.clone()),
        ("SESSIONS_AGENT".to_string(), rec.agent.clone()),
    ];
    env.extend(rec.env.iter().cloned());
    env
}

/// Log writer + summary scanner shared by the pipe reader and the supervisor.
struct Sink {
    log: LogWriter,
    summary: Summarizer,
    error: Option<std::io::Error>,
}

fn supervise_process(path: &Path, rec: &RunRecord, ready: Option<File>) -> Result<RunRecord> {
    let me = std::process::id();
    let my_start = proc_start_time(me);
    let log_path = rec.log_path();
    let log = match LogWriter::open(&log_path, rec.log_cap, rec.log_keep) {
        Ok(l) => l,
        Err(e) => {
            let why = format!("cannot open log {}: {e}", log_path.display());
            return finalize(path, Ending::NotStarted(why), RunOutput::default());
        }
    };
    let sink = Arc::new(Mutex::new(Sink {
        log,
        summary: Summarizer::new(),
        error: None,
    }));
    let note = |text: &str| {
        let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
        let _ = s.log.write_all(format!("[sessions] {text}\n").as_bytes());
    };

    // A kill that came before we started: do not start at all.
    if record::load(path)?.cancel_requested {
        return finalize(
            path,
            Ending::NotStarted("cancelled before start".into()),
            RunOutput::default(),
        );
    }

    // Orphaned descendants (a helper started with `setsid`, a daemonized server) are
    // re-parented to us instead of init, so `kill` finds them below us (see `kill_run`).
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        note(&format!(
            "cannot become a child subreaper ({e}); processes the agent detaches are not tracked"
        ));
    }
    let (mut reader, writer) = std::io::pipe().at(&log_path)?;
    let writer2 = writer.try_clone().at(&log_path)?;
    let mut cmd = Command::new(&rec.argv[0]);
    // The spawning conversation's ids must not leak into the agent: they would win over the
    // agent's own and route its `sessions` commands to the parent's session.
    for var in crate::binding::CONVERSATION_VARS {
        cmd.env_remove(var);
    }
    cmd.args(&rec.argv[1..])
        .current_dir(&rec.cwd)
        .envs(agent_env(rec))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .env_remove(READY_FD_ENV)
        .process_group(0);
    let spawned = cmd.spawn();
    // Close our copies of the pipe's write end, so EOF comes when the agent side closes.
    drop(cmd);
    let child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let why = format!("cannot start agent `{}`: {e}", rec.argv[0]);
            note(&why);
            let tail = tail_for_summary(rec);
            let summary = std::mem::take(&mut sink.lock().unwrap().summary).finish(&tail);
            return finalize(path, Ending::NotStarted(why), summary);
        }
    };
    let pid = child.id();
    let pid_start = proc_start_time(pid);
    // From here on one thread reaps every child: the agent (its status goes to `exited`) and
    // whatever the agent orphaned (we are a subreaper), so no zombie piles up. The `Child`
    // handle is never waited on, and nothing else may be spawned until the agent is reaped.
    drop(child);
    let exited = reap_children(pid);
    let (_, cancelled) = record::update(path, |r| {
        r.supervisor_pid = Some(me);
        r.supervisor_start = my_start;
        r.pid = Some(pid);
        r.pid_start = pid_start;
        r.pgid = Some(pid as i32);
        r.status = RunStatus::Running;
        r.cancel_requested
    })?;
    signal_ready(ready);

    let (done_tx, done_rx) = mpsc::channel();
    {
        let sink = Arc::clone(&sink);
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.summary.feed(&buf[..n]);
                if s.error.is_none()
                    && let Err(e) = s.log.write_all(&buf[..n])
                {
                    // Keep draining so the agent never blocks on a full pipe.
                    s.error = Some(e);
                }
                let found = s.summary.take_conversation_id();
                drop(s);
                if let Some(id) = found {
                    // A Codex thread id is known only now: record and bind it at once.
                    super::writeback::conversation_found(&path, &id);
                }
            }
            let _ = done_tx.send(());
        });
    }

    if cancelled {
        // `kill` raced with our start and saw no pgid yet: finish its job.
        process::kill_group(pid as i32, DEFAULT_KILL_GRACE);
    }
    let ending = exited
        .recv()
        .unwrap_or_else(|_| Ending::Unknown("the reaper thread died".into()));
    let drained = done_rx.recv_timeout(DRAIN_TIMEOUT).is_ok();
    if !drained {
        note(
            "output still open after the agent exited (left-over child processes?); stopped waiting for it",
        );
    }
    let left: Vec<String> = process::descendants(&process::snapshot(), me)
        .into_iter()
        .map(|p| format!("{p} ({})", process::comm(p)))
        .collect();
    if !left.is_empty() {
        note(&format!(
            "the agent left {} process(es) running: {}; they are no longer supervised",
            left.len(),
            left.join(", ")
        ));
    }
    let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = s.error.take() {
        // The log itself failed; the record still gets the outcome.
        let _ = s
            .log
            .write_all(format!("[sessions] log write error: {e}\n").as_bytes());
    }
    let tail = tail_for_summary(rec);
    let summary = std::mem::take(&mut s.summary).finish(&tail);
    drop(s);
    finalize(path, ending, summary)
}

/// Reap every child of this process in a thread (blocking `waitpid(-1)`, no polling) until
/// the agent `agent` is reaped; its ending is sent on the returned channel.
fn reap_children(agent: u32) -> mpsc::Receiver<Ending> {
    use nix::sys::wait::{WaitStatus, waitpid};
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let ending = match waitpid(None::<nix::unistd::Pid>, None) {
                Ok(WaitStatus::Exited(p, code)) if p.as_raw() as u32 == agent => Ending::Exited {
                    code: Some(code),
                    signal: None,
                },
                Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() as u32 == agent => {
                    Ending::Exited {
                        code: None,
                        signal: Some(sig as i32),
                    }
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => Ending::Unknown(format!("wait failed: {e}")),
            };
            let _ = tx.send(ending);
            return;
        }
    });
    rx
}

// ---------------------------------------------------------------------------------------------
// Killing

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

/// The run's processes outside its process group: descendants of its supervisor (a child
/// subreaper, so even `setsid` helpers stay below it) and any process started with the run's
/// environment (found even after the supervisor died).
fn detached_processes(rec: &RunRecord) -> Vec<u32> {
    let snap = process::snapshot();
    let mut pids = Vec::new();
    if rec.runner == Runner::Process
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

/// `sessions kill`: mark the run cancel-requested, SIGTERM its process group and its detached
/// processes (see [`detached_processes`]), SIGKILL after `grace`, then wait for the supervisor
/// to record the end (it reaps the agent). If the supervisor is gone, the record is marked
/// cancelled here. Finished runs are left alone. `progress` hears each step as it happens.
pub fn kill_run(
    record_path: &Path,
    grace: Duration,
    progress: &dyn Fn(KillStep),
) -> Result<(RunRecord, KillReport)> {
    let (mut rec, _) = record::update_if(record_path, |r| {
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
    let sup_alive = |r: &RunRecord| is_alive_opt(r.supervisor_pid, r.supervisor_start);
    // A run still starting has no pgid yet; its supervisor will see cancel_requested.
    let deadline = Instant::now() + Duration::from_secs(2);
    while rec.pgid.is_none()
        && rec.status.is_active()
        && Instant::now() < deadline
        && (sup_alive(&rec) || rec.supervisor_pid.is_none())
    {
        sleep(Duration::from_millis(20));
        rec = record::load(record_path)?;
    }
    let pgid = if group_is_ours(&rec) { rec.pgid } else { None };
    let target = rec.clone();
    let report = process::kill_processes(pgid, &|| detached_processes(&target), grace, progress);
    let deadline = Instant::now() + Duration::from_secs(5);
    rec = record::load(record_path)?;
    while rec.status.is_active() && sup_alive(&rec) && Instant::now() < deadline {
        sleep(Duration::from_millis(20));
        rec = record::load(record_path)?;
    }
    if rec.status.is_active() {
        rec = record::update_if(record_path, |r| {
            if !r.status.is_active() || sup_alive(r) {
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

// ---------------------------------------------------------------------------------------------
// tmux runner
//
// The detached supervisor creates `tmux -L sessions new-session -d` whose pane runs this binary
// in `--tmux-pane` mode. That process waits until the supervisor has set up the pane (output
// piped to the log through `--tmux-sink`, `remain-on-exit` on, pid recorded) and then execs the
// agent as its child, which so keeps a real terminal as a person can attach. The agent's argv
// travels in the record file, never through tmux's or a shell's parser. The pane process waits
// for the agent and writes its exit status to `<record>.exit` before it exits itself; the
// supervisor polls the pane process's liveness and reads that file. tmux's own
// `#{pane_dead_status}` is only a fallback (the pane process was SIGKILLed): a busy or older
// tmux server can show a pane dead for seconds before it has the status.

fn tmux_cmd(tmux: &Path) -> Command {
    let mut c = Command::new(tmux);
    c.arg("-L")
        .arg(TMUX_SOCKET)
        .env_remove("TMUX")
        .env_remove(READY_FD_ENV)
        .stdin(Stdio::null());
    c
}

fn tmux(tmux: &Path, args: &[&OsStr]) -> Result<String> {
    let out = tmux_cmd(tmux)
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            what: "tmux".into(),
            source,
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::Tmux(format!(
            "{}: {err}",
            args.first()
                .map(|a| a.to_string_lossy())
                .unwrap_or_default()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Single-quote for `sh` (used only for our own exe and record paths in `pipe-pane`).
fn sh_quote(s: &OsStr) -> String {
    let s = String::from_utf8_lossy(s.as_bytes());
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// argv to attach a terminal to a tmux run (`sessions attach`).
pub fn attach_argv(rec: &RunRecord) -> Option<Vec<String>> {
    let name = rec.tmux_session.as_ref()?;
    Some(vec![
        "tmux".into(),
        "-L".into(),
        TMUX_SOCKET.into(),
        "attach-session".into(),
        "-t".into(),
        format!("={name}"),
    ])
}

fn sink_lock_path(path: &Path) -> PathBuf {
    path.with_extension("sink")
}

fn supervise_tmux(path: &Path, rec: &RunRecord, ready: Option<File>) -> Result<RunRecord> {
    let me = std::process::id();
    let my_start = proc_start_time(me);
    let Some(tmux_bin) = find_program("tmux", &rec.cwd) else {
        return finalize(
            path,
            Ending::NotStarted(Error::TmuxMissing.to_string()),
            RunOutput::default(),
        );
    };
    let Some(name) = rec.tmux_session.clone() else {
        return finalize(
            path,
            Ending::NotStarted("no tmux session name".into()),
            RunOutput::default(),
        );
    };
    let target = format!("={name}:");
    let lock_path = sink_lock_path(path);
    let setup = || -> Result<(u32, Option<u64>)> {
        File::create(&lock_path).at(&lock_path)?;
        let fixed = [
            "new-session",
            "-d",
            "-s",
            name.as_str(),
            "-x",
            "200",
            "-y",
            "50",
            "-c",
        ];
        let mut args: Vec<&OsStr> = fixed.iter().map(OsStr::new).collect();
        args.push(rec.cwd.as_os_str());
        args.push(OsStr::new("--"));
        args.extend(rec.supervisor_argv.iter().map(OsStr::new));
        args.push(OsStr::new(TMUX_PANE_FLAG));
        args.push(path.as_os_str());
        tmux(&tmux_bin, &args)?;
        let os = |s: &'static str| OsStr::new(s);
        let t = OsStr::new(&target);
        tmux(
            &tmux_bin,
            &[
                os("set-option"),
                os("-w"),
                os("-t"),
                t,
                os("remain-on-exit"),
                os("on"),
            ],
        )?;
        let sink_cmd: Vec<String> = rec
            .supervisor_argv
            .iter()
            .map(|a| sh_quote(OsStr::new(a)))
            .chain([
                sh_quote(OsStr::new(TMUX_SINK_FLAG)),
                sh_quote(path.as_os_str()),
            ])
            .collect();
        let sink_cmd = format!("exec {}", sink_cmd.join(" "));
        tmux(
            &tmux_bin,
            &[os("pipe-pane"), os("-t"), t, OsStr::new(&sink_cmd)],
        )?;
        let pid: u32 = tmux(
            &tmux_bin,
            &[
                os("display-message"),
                os("-p"),
                os("-t"),
                t,
                os("#{pane_pid}"),
            ],
        )?
        .parse()
        .map_err(|_| Error::Tmux("cannot read the pane's pid".into()))?;
        Ok((pid, proc_start_time(pid)))
    };
    let (pid, pid_start) = match setup() {
        Ok(x) => x,
        Err(e) => {
            let _ = tmux(
                &tmux_bin,
                &[
                    OsStr::new("kill-session"),
                    OsStr::new("-t"),
                    OsStr::new(&format!("={name}")),
                ],
            );
            let _ = fs::remove_file(&lock_path);
            let why = e.to_string();
            append_note(rec, &why);
            return finalize(path, Ending::NotStarted(why), RunOutput::default());
        }
    };
    let pgid = proc_stat(pid).map_or(pid as i32, |s| s.pgrp);
    record::update(path, |r| {
        r.supervisor_pid = Some(me);
        r.supervisor_start = my_start;
        r.pid = Some(pid);
        r.pid_start = pid_start;
        r.pgid = Some(pgid);
        r.status = RunStatus::Running;
    })?;
    signal_ready(ready);

    // Wait for the agent to end.
    let mut interval = Duration::from_millis(20);
    while is_alive_opt(Some(pid), pid_start) {
        sleep(interval);
        interval = (interval * 2).min(Duration::from_millis(250));
    }
    let os = OsStr::new;
    let exit_path = exit_status_path(path);
    let mut ending = Ending::Unknown("tmux session ended before the exit status was known".into());
    let from_pane = read_exit_status(&exit_path);
    let _ = fs::remove_file(&exit_path);
    let tries = if let Some(e) = from_pane {
        ending = e;
        0
    } else {
        40
    };
    for _ in 0..tries {
        match tmux(
            &tmux_bin,
            &[
                os("display-message"),
                os("-p"),
                os("-t"),
                os(&target),
                os("#{pane_dead} #{pane_dead_status} #{pane_dead_signal}"),
            ],
        ) {
            Ok(s) => {
                let f: Vec<&str> = s.split(' ').collect();
                if f.first() == Some(&"1") {
                    let code = f.get(1).and_then(|x| x.parse().ok());
                    let signal = f.get(2).and_then(|x| x.parse().ok());
                    ending = Ending::Exited { code, signal };
                    // A busy tmux server can show the pane dead before it has reaped the
                    // process and filled in the status: ask again.
                    if code.is_some() || signal.is_some() {
                        break;
                    }
                }
                sleep(Duration::from_millis(50));
            }
            Err(_) => break,
        }
    }
    let _ = tmux(
        &tmux_bin,
        &[os("kill-session"), os("-t"), os(&format!("={name}"))],
    );
    wait_for_sink(&lock_path);
    let _ = fs::remove_file(&lock_path);
    let tail = tail_for_summary(rec);
    finalize(path, ending, summary::read_log(&rec.log_path(), &tail))
}

/// Wait (bounded) until the `--tmux-sink` process has written everything: it marks the lock
/// file once it holds the lock and releases it at exit.
fn wait_for_sink(lock_path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if fs::metadata(lock_path).map(|m| m.len() > 0).unwrap_or(true) {
            break;
        }
        sleep(Duration::from_millis(10));
    }
    let Ok(f) = File::open(lock_path) else { return };
    while Instant::now() < deadline {
        if f.try_lock().is_ok() {
            return;
        }
        sleep(Duration::from_millis(10));
    }
}

/// `--tmux-pane <record>`: wait until the supervisor has set up the pane, then exec the agent.
fn tmux_pane(path: &Path) -> i32 {
    let me = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(30);
    let rec = loop {
        match record::load(path) {
            Ok(r) if r.status == RunStatus::Running && r.pid == Some(me) => break r,
            Ok(r) if !r.status.is_active() || r.cancel_requested => return 1,
            _ if Instant::now() >= deadline => {
                eprintln!("[sessions] the supervisor did not start this run");
                return 1;
            }
            _ => sleep(Duration::from_millis(5)),
        }
    };
    let mut child = match Command::new(&rec.argv[0])
        .args(&rec.argv[1..])
        .current_dir(&rec.cwd)
        .envs(agent_env(&rec))
        .spawn()
    {
        Ok(c) => c,
        Err(err) => {
            eprintln!("[sessions] cannot start agent `{}`: {err}", rec.argv[0]);
            write_exit_status(
                path,
                &Ending::Exited {
                    code: Some(127),
                    signal: None,
                },
            );
            return 127;
        }
    };
    // The agent shares our process group and terminal: Ctrl-C from an attached person, the
    // SIGHUP of a killed tmux session and `sessions kill`'s SIGTERM reach it too. We stay to
    // tell its exit status (only SIGKILL, which ends both, leaves that to tmux).
    // SAFETY: single-threaded; setting dispositions touches no memory. The agent was started
    // before, so it keeps the default ones.
    unsafe {
        use nix::sys::signal::{SigHandler, Signal, signal};
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
        ] {
            let _ = signal(s, SigHandler::SigIgn);
        }
    }
    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return 1,
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let ending = Ending::Exited {
        code: status.code(),
        signal: status.signal(),
    };
    write_exit_status(path, &ending);
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Where the `--tmux-pane` process leaves the agent's exit status for the supervisor.
fn exit_status_path(path: &Path) -> PathBuf {
    path.with_extension("exit")
}

/// `exit <code>` or `signal <number>`, written atomically (temp file + rename).
fn write_exit_status(path: &Path, ending: &Ending) {
    let text = match ending {
        Ending::Exited { code: Some(c), .. } => format!("exit {c}\n"),
        Ending::Exited {
            signal: Some(s), ..
        } => format!("signal {s}\n"),
        _ => return,
    };
    let dest = exit_status_path(path);
    let tmp = path.with_extension("exit.tmp");
    if fs::write(&tmp, text).is_ok() && fs::rename(&tmp, &dest).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

fn read_exit_status(exit_path: &Path) -> Option<Ending> {
    let text = fs::read_to_string(exit_path).ok()?;
    let (kind, n) = text.trim().split_once(' ')?;
    let n: i32 = n.parse().ok()?;
    match kind {
        "exit" => Some(Ending::Exited {
            code: Some(n),
            signal: None,
        }),
        "signal" => Some(Ending::Exited {
            code: None,
            signal: Some(n),
        }),
        _ => None,
    }
}

/// `--tmux-sink <record>`: copy the pane's output (stdin) into the capped log.
fn tmux_sink(path: &Path) -> i32 {
    let Ok(rec) = record::load(path) else {
        return 1;
    };
    let lock_path = sink_lock_path(path);
    let lock = OpenOptions::new().write(true).open(&lock_path).ok();
    if let Some(f) = &lock
        && f.lock().is_ok()
    {
        let _ = (&*f).write_all(b"1");
    }
    let Ok(mut log) = LogWriter::open(&rec.log_path(), rec.log_cap, rec.log_keep) else {
        return 1;
    };
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if log.write_all(&buf[..n]).is_err() {
                    return 1;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(lock);
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_names() {
        assert_eq!(sh_quote(OsStr::new("a b'c")), r"'a b'\''c'");
        assert_eq!(sanitize("my.session:1/x"), "my_session_1_x");
        assert_eq!(sanitize(""), "_");
        assert!(validate_stem("..").is_err());
        assert!(validate_stem("a/b").is_err());
        assert!(validate_stem("2024-01-01-fix").is_ok());
    }
}
