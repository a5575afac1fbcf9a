//! Launch: the run record as intent, its empty log, and the start of the detached
//! supervisor — the write order of `docs/runs.md`.
//!
//! Owns the spec of a run, the record's first version, the readiness pipe on which the
//! supervisor says the agent has started, and the gate on which `spawn` tells a supervisor
//! started before the run's entry was written that the entry is in. It must never start the
//! agent itself (the runner does, in the supervisor) and never leave the supervisor as the
//! caller's child: the process it starts forks the supervisor and exits at once, and is reaped
//! here (for a gated start, once the entry is written), so a long-lived caller (a server)
//! collects no zombies.
//!
//! The supervisor is started one of two ways, with the same result (a process in a session
//! of its own, no terminal, not our child, stdio on `/dev/null`, no fd of ours but the
//! readiness pipe): given [`LaunchSpec::on_exit`] and a single-threaded caller, by a double
//! fork of this process (no exec: the binary is already loaded, so the agent starts a process
//! start sooner); otherwise by running `supervisor_argv`, which forks (`supervisor::detach`).

use std::fs::{self, File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::super::logfile;
use super::super::process::proc_start_time;
use super::super::record::{self, RECORD_VERSION, RunRecord, RunStatus};
use super::super::{Error, IoContext, Result};
use super::{RunnerKind, RunnerState, append_note};

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
    pub runner: RunnerKind,
    /// Bytes; 0 disables rotation.
    pub log_cap: u64,
    /// Bytes kept at rotation.
    pub log_keep: u64,
    /// argv prefix re-entering this binary's hidden supervisor subcommand, e.g.
    /// `[current_exe, "__supervise"]`; the supervisor gets `<prefix…> [flag] <record path>`.
    pub supervisor_argv: Vec<String>,
    /// Use this run id instead of a fresh one.
    pub run_id: Option<String>,
    /// The linked worktree made for the run (it is the `cwd`).
    pub worktree: Option<record::Worktree>,
    /// The run this one resumes (see `RunRecord::resumes`).
    pub resumes: Option<String>,
    /// Run it on another host (`runner` is then `ssh`).
    pub ssh: Option<super::SshState>,
    /// The machine whose session file holds the entry, if not this one (see
    /// `RunRecord::owner`).
    pub owner: Option<String>,
    /// What the hidden supervisor subcommand calls with the final record (the binary's
    /// write-back). Given, the supervisor is forked from this process instead of started as
    /// `supervisor_argv` (see the module docs); `supervisor_argv` is still recorded (the tmux
    /// runner re-enters it).
    pub on_exit: Option<OnExit>,
}

/// The write-back a supervisor runs with the final record; an error is noted in the log.
pub type OnExit = fn(&RunRecord) -> std::result::Result<(), String>;

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
            runner: RunnerKind::Process,
            log_cap: logfile::DEFAULT_LOG_CAP,
            log_keep: logfile::default_keep(logfile::DEFAULT_LOG_CAP),
            supervisor_argv,
            run_id: None,
            worktree: None,
            resumes: None,
            ssh: None,
            owner: None,
            on_exit: None,
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
pub(crate) fn sanitize(s: &str) -> String {
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
    on_exit: Option<OnExit>,
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
    let on_exit = spec.on_exit;
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
        runner: match spec.ssh {
            Some(s) => RunnerState::Ssh(s),
            None => RunnerState::for_run(spec.runner, &spec.session, &id),
        },
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
        worktree: spec.worktree,
        resumes: spec.resumes.clone(),
        turn: None,
        notify_failures: Vec::new(),
        owner: spec.owner,
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
    Ok(Prepared {
        record: rec,
        path,
        on_exit,
    })
}

impl Prepared {
    /// Remove the record, its marker and its (empty) log: for a spawn that gives up before
    /// anything about the run reached a session file.
    pub fn abandon(self) {
        // Removed as the update left it (settled): `remove` refuses a record still active.
        let rec = record::update(&self.path, |r| {
            r.status = RunStatus::Cancelled;
            r.written_back = true;
        })
        .map_or(self.record, |(r, _)| r);
        let _ = record::remove(&self.path, &rec);
        let _ = fs::remove_file(rec.log_path());
    }

    /// Start the detached supervisor and return without waiting (the agent is started by the
    /// supervisor a moment later). [`Launched::wait_started`] waits for the agent, without
    /// polling: the supervisor reports on a pipe (handed over to a forked one, its fd named
    /// by [`READY_FD_ENV`] to one started as `supervisor_argv`) once the agent's pid is
    /// recorded, and closes it unwritten when it could not start the agent.
    ///
    /// When the agent cannot be started at all (its program is not on `PATH`, tmux is missing
    /// for `--runner tmux`, the supervisor cannot be started), the record is settled `failed`
    /// with the reason, a `[sessions]` line says it in the log, and the returned run has no
    /// readiness pipe.
    pub fn start(self) -> Launched {
        self.start_with(false)
    }

    /// [`Prepared::start`]; `gated`: a forked supervisor waits for [`Launched::entry_written`]
    /// before its write-back (see [`Prepared::start_gated`]).
    fn start_with(self, gated: bool) -> Launched {
        let Prepared {
            record: rec,
            path,
            on_exit,
        } = self;
        // A run on another host starts a program there, not here.
        let local = !matches!(rec.runner, RunnerState::Ssh(_));
        let unstartable = missing_program(&rec.argv[0], &rec.cwd)
            .filter(|_| local)
            .map(|why| format!("cannot start agent: {why}"))
            .or_else(|| rec.runner.runner().unavailable(&rec));
        if let Some(why) = unstartable {
            return Launched::failed(&path, rec, why);
        }
        if let Some(on_exit) = on_exit
            && (gated || single_threaded())
        {
            return start_forked(path, rec, on_exit, gated);
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
        // The child forks the real supervisor, records it and exits at once (see
        // `supervisor::detach`): reaping it here leaves a long-lived caller no zombie, and the
        // supervisor is never our child.
        let detached = spawned.and_then(|mut child| child.wait());
        match detached {
            Ok(status) if status.success() => Launched {
                record: record::load(&path).unwrap_or(rec),
                path,
                ready: Some(ready_r),
                gate: None,
                first_child: None,
            },
            Ok(status) => Launched::failed(
                &path,
                rec,
                format!("cannot start supervisor: it exited with {status}"),
            ),
            Err(e) => Launched::failed(&path, rec, format!("cannot start supervisor: {e}")),
        }
    }
}

impl Prepared {
    /// Starts the supervisor — and so the agent — *before* the caller writes the run's entry
    /// into the session file, so the agent's start overlaps that write (`spawn`). The
    /// supervisor does everything but the write-back at once, and waits for the caller's word
    /// before it writes back: [`Launched::entry_written`] (or the caller's death, seen as the
    /// gate's end; the write-back then copes with an entry that may or may not be there).
    /// Only a supervisor forked from this process can be handed that gate: otherwise (no
    /// `on_exit`, or other threads) the prepared run comes back unstarted, to be
    /// [`start`](Prepared::start)ed after the entry, in the old order.
    pub fn start_gated(self) -> std::result::Result<Launched, Box<Prepared>> {
        if self.on_exit.is_none() || !single_threaded() {
            return Err(Box::new(self));
        }
        Ok(self.start_with(true))
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
    /// Our end of the gate a supervisor started by [`Prepared::start_gated`] waits on before
    /// its write-back: a socket, not a pipe, so that telling a supervisor that is gone is an
    /// error here and not a SIGPIPE (`main` restores its default) that kills `spawn`.
    gate: Option<UnixStream>,
    /// The first child of a forked start not reaped yet (see [`Launched::reaped`]).
    first_child: Option<nix::unistd::Pid>,
}

/// What a gated supervisor is told about the run's entry (one byte on the gate).
pub(super) const ENTRY_WRITTEN: u8 = b'1';
pub(super) const ENTRY_ABANDONED: u8 = b'0';

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
            gate: None,
            first_child: None,
        }
    }

    /// Reaps the first child of a forked start, which forks the supervisor and exits at once;
    /// the run is settled `failed` if that went wrong.
    fn reaped(mut self) -> Launched {
        use nix::sys::wait::{WaitStatus, waitpid};
        let Some(child) = self.first_child.take() else {
            return self;
        };
        let why = match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => return self,
            Ok(status) => format!("cannot start supervisor: it ended with {status:?}"),
            Err(e) => format!("cannot start supervisor: {e}"),
        };
        Launched::failed(&self.path, self.record, why)
    }

    /// Tells a gated supervisor that the run's entry is in the session file: from now on it
    /// may write the outcome back. A no-op for a run started after its entry.
    pub fn entry_written(&mut self) {
        if let Some(gate) = self.gate.take() {
            tell(&gate, ENTRY_WRITTEN);
        }
    }

    /// Gives up a gated run whose entry could not be written: the agent (started already) is
    /// stopped, the supervisor writes nothing back, and once it has saved its final record the
    /// record, its marker and its log are removed, as [`Prepared::abandon`] does — nothing of
    /// the run reached a session file, so nothing of it is left.
    pub fn abandon(self, grace: Duration) {
        let mut this = self.reaped();
        if let Some(gate) = this.gate.take() {
            tell(&gate, ENTRY_ABANDONED);
        }
        if let Some(ready) = this.ready.take() {
            let _ = wait_readable(&ready, START_WAIT_ON_ABANDON);
            let _ = super::kill::kill_run(&this.path, grace, &|_| {});
            // The supervisor closes its end once its final record is saved.
            wait_closed(ready, START_WAIT_ON_ABANDON + grace);
        }
        Prepared {
            record: this.record,
            path: this.path,
            on_exit: None,
        }
        .abandon();
    }

    /// Waits, at most `timeout`, until the supervisor has started the agent and recorded its
    /// pid — or failed to, or died — and returns the record as it is then.
    pub fn wait_started(self, timeout: Duration) -> RunRecord {
        let Launched {
            record,
            path,
            ready,
            ..
        } = self.reaped();
        let Some(ready) = ready else {
            return record;
        };
        let _ = wait_readable(&ready, timeout);
        record::load(&path).unwrap_or(record)
    }
}

/// Whether this process has one thread, so a forked child may run anything (no lock of
/// another thread can be held in it).
fn single_threaded() -> bool {
    fs::read_dir("/proc/self/task").is_ok_and(|d| d.count() == 1)
}

/// Starts the supervisor by a double fork of this (single-threaded) process: the first child
/// starts a session, forks the supervisor and exits at once (reaped here, so the supervisor
/// is never our child); the supervisor starts a session of its own, as
/// `supervisor::detach`'s does, so it survives our death and our terminal's hangup.
fn start_forked(path: PathBuf, rec: RunRecord, on_exit: OnExit, gated: bool) -> Launched {
    use nix::unistd::{ForkResult, fork};
    let opened = std::io::pipe().and_then(|p| {
        let gate = if gated {
            Some(UnixStream::pair()?)
        } else {
            None
        };
        let null = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        Ok((p, gate, null))
    });
    let ((ready_r, ready_w), gate, null) = match opened {
        Ok(o) => o,
        Err(e) => return Launched::failed(&path, rec, format!("cannot start supervisor: {e}")),
    };
    // SAFETY: this process has one thread (checked by the caller), so the children inherit no
    // lock held by another thread; the first child only calls setsid, fork and _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let _ = nix::unistd::setsid();
            // SAFETY: as above; still one thread.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    // Our copy of the gate's write end goes: its end must come from the caller.
                    let gate = gate.map(|(r, w)| {
                        drop(w);
                        r
                    });
                    let run = std::panic::AssertUnwindSafe(|| {
                        be_supervisor(&path, &rec.root, null, ready_r, ready_w, gate, on_exit)
                    });
                    // Never unwind into the caller's frames: this process must not go on
                    // with the command that forked it.
                    let code = std::panic::catch_unwind(run).unwrap_or(101);
                    // SAFETY: ends this process without running the caller's exit handlers
                    // or flushing its buffers (they are the caller's, not ours).
                    unsafe { nix::libc::_exit(code) }
                }
                // SAFETY: as above.
                Ok(ForkResult::Parent { .. }) => unsafe { nix::libc::_exit(0) },
                // SAFETY: as above.
                Err(_) => unsafe { nix::libc::_exit(1) },
            }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(ready_w);
            drop(null);
            let gate = gate.map(|(r, w)| {
                drop(r);
                w
            });
            let launched = Launched {
                record: rec,
                path,
                ready: Some(ready_r),
                gate,
                first_child: Some(child),
            };
            // A gated run is reaped later, when its caller waits for it anyway: the caller
            // writes the entry meanwhile.
            if gated { launched } else { launched.reaped() }
        }
        Err(e) => Launched::failed(&path, rec, format!("cannot start supervisor: {e}")),
    }
}

/// The forked supervisor: a session of its own, stdio on `/dev/null`, the run's root as its
/// directory, then the supervisor proper (which closes every other inherited fd).
fn be_supervisor(
    path: &Path,
    root: &Path,
    null: File,
    ready_r: std::io::PipeReader,
    ready_w: std::io::PipeWriter,
    gate: Option<UnixStream>,
    on_exit: OnExit,
) -> i32 {
    // The first child's group is not ours to lead, so this cannot fail.
    let _ = nix::unistd::setsid();
    for fd in 0..=2 {
        // SAFETY: dup2 onto the standard fds; `null` stays open until after the loop.
        unsafe { nix::libc::dup2(null.as_raw_fd(), fd) };
    }
    drop(null);
    drop(ready_r);
    let _ = std::env::set_current_dir(root);
    super::supervisor::forked_supervisor_main(
        path,
        File::from(OwnedFd::from(ready_w)),
        gate.map(|g| File::from(OwnedFd::from(g))),
        on_exit,
    )
}

/// Waits, at most `timeout`, until `pipe` is readable or closed (the supervisor wrote its
/// byte or ended): a poll in this thread, woken the moment either happens. Whether it is.
fn wait_readable(pipe: &std::io::PipeReader, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fd = nix::libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: nix::libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd, borrowed for the call.
        let n = unsafe { nix::libc::poll(&mut fd, 1, ms) };
        let interrupted =
            n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted;
        if !interrupted || left.is_zero() {
            return n > 0;
        }
    }
}

/// Says `word` on a supervisor's gate; a supervisor gone already (it found its run settled,
/// or was killed) is no error of ours.
fn tell(gate: &UnixStream, word: u8) {
    // SAFETY: one byte of a live buffer, sent on an open socket; MSG_NOSIGNAL makes a closed
    // peer an EPIPE instead of a signal.
    let _ = unsafe {
        nix::libc::send(
            gate.as_raw_fd(),
            [word].as_ptr().cast(),
            1,
            nix::libc::MSG_NOSIGNAL,
        )
    };
}

/// How long an abandoning `spawn` waits for its supervisor at each step (it is running: it
/// answers within milliseconds).
const START_WAIT_ON_ABANDON: Duration = Duration::from_secs(3);

/// Waits, at most `timeout`, until the other end of `pipe` is closed (whatever is written
/// before is read and dropped).
fn wait_closed(mut pipe: std::io::PipeReader, timeout: Duration) {
    use std::io::Read;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 16];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !wait_readable(&pipe, left) {
            return;
        }
        match pipe.read(&mut buf) {
            Ok(0) => return,
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(sanitize("my.session:1/x"), "my_session_1_x");
        assert_eq!(sanitize(""), "_");
        assert!(validate_stem("..").is_err());
        assert!(validate_stem("a/b").is_err());
        assert!(validate_stem("2024-01-01-fix").is_ok());
    }
}
