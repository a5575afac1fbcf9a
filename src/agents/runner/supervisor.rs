//! The supervisor: the hidden `__supervise <record>` process that owns one run from claim to
//! write-back.
//!
//! Owns the claim (only a record still `starting` is taken over), the readiness fd, the
//! final record (`finalize`: exit status → status and reason) and the call of `on_exit`.
//! How the agent is started and watched is the runner's
//! ([`Runner::supervise`](super::Runner::supervise)); the supervisor must never look at the
//! agent's processes itself, and never exit before the outcome is saved.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::Path;

use chrono::Utc;

use super::super::Result;
use super::super::process::proc_start_time;
use super::super::record::{self, RunRecord, RunStatus};
use super::super::summary::RunOutput;
use super::launch::{self, OnExit, READY_FD_ENV};
use super::{Ending, Ready, append_note, tmux};

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
fn close_inherited_fds(keep: &[i32]) {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own fd is in the list; it is closed by now, so closing it fails harmlessly.
    for fd in fds {
        if fd > 2 && !keep.contains(&fd) {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// Entry point of the hidden supervisor subcommand. `args` are the arguments after the
/// subcommand: `<record>` (detach, supervise and call `on_exit` with the final record), or the
/// internal tmux modes `--tmux-pane <record>` / `--tmux-sink <record>` (`on_exit` unused).
/// Returns the process exit code.
pub fn supervisor_main<F, E>(args: &[OsString], on_exit: F) -> i32
where
    F: FnOnce(&RunRecord) -> std::result::Result<(), E>,
    E: std::fmt::Display,
{
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    match args.as_slice() {
        [path] => {
            if let Some(code) = detach(Path::new(path)) {
                return code;
            }
            match run_supervisor(Path::new(path), on_exit) {
                Ok(_) => 0,
                Err(_) => 1,
            }
        }
        [flag, path] if *flag == tmux::PANE_FLAG => tmux::pane_main(Path::new(path)),
        [flag, path] if *flag == tmux::SINK_FLAG => tmux::sink_main(Path::new(path)),
        _ => 2,
    }
}

/// Leaves the process that `launch` spawned: forks the supervisor, records it in the run's
/// record (so a supervisor that dies before it claims the run is seen gone at once), and
/// returns the exit code for that process to exit with at once — `None` in the supervisor
/// itself, which starts a session of its own. `launch` reaps the exiting process, so neither
/// it nor whoever called it is ever the supervisor's parent.
fn detach(path: &Path) -> Option<i32> {
    use nix::unistd::{ForkResult, fork, setsid};
    // SAFETY: called first thing in the hidden subcommand, while this process has one thread.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            let pid = child.as_raw() as u32;
            let start = proc_start_time(pid);
            let _ = record::update_if(path, |r| {
                if r.supervisor_pid.is_some() || !r.status.is_active() {
                    return false;
                }
                r.supervisor_pid = Some(pid);
                r.supervisor_start = start;
                true
            });
            Some(0)
        }
        Ok(ForkResult::Child) => {
            // Not a group leader (the group is our parent's), so this cannot fail.
            let _ = setsid();
            None
        }
        Err(_) => Some(1),
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
    supervise_with(record_path, take_ready_fd(), None, on_exit)
}

/// The supervisor forked by `launch` without an exec (see `launch::Prepared::start`): the
/// same claim, supervision and write-back as [`run_supervisor`], with the readiness pipe
/// handed over directly, and the gate of a run started before its entry (see
/// `launch::Prepared::start_gated`). Returns the process exit code.
pub(super) fn forked_supervisor_main(
    record_path: &Path,
    ready: File,
    gate: Option<File>,
    on_exit: OnExit,
) -> i32 {
    match supervise_with(record_path, Some(ready), gate, on_exit) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}

fn supervise_with<F, E>(
    record_path: &Path,
    ready: Option<File>,
    gate: Option<File>,
    on_exit: F,
) -> Result<RunRecord>
where
    F: FnOnce(&RunRecord) -> std::result::Result<(), E>,
    E: std::fmt::Display,
{
    let keep: Vec<i32> = ready.iter().chain(&gate).map(AsRawFd::as_raw_fd).collect();
    close_inherited_fds(&keep);
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
    // A copy of the readiness pipe, closed only once the final record is saved: a runner
    // that could not start the agent drops its end before that, and the launcher must then
    // read the failure, not the record as it was still `starting`.
    let hold = ready.as_ref().and_then(|f| f.try_clone().ok());
    let (ending, output) = rec
        .runner
        .runner()
        .supervise(record_path, &rec, Ready::new(ready))?;
    let fin = finalize(record_path, ending, output)?;
    drop(hold);
    // Started before its entry: the outcome goes into the file only once the entry is there
    // (or `spawn` is gone, whichever way its edit went: the write-back adds a missing entry),
    // and not at all for a run `spawn` gave up (it removes the record).
    if let Some(gate) = gate
        && entry_word(gate) == Some(launch::ENTRY_ABANDONED)
    {
        return Ok(fin);
    }
    match on_exit(&fin) {
        Ok(()) => record::mark_written_back(record_path),
        Err(e) => {
            append_note(&fin, &format!("write-back to the session file failed: {e}"));
            Ok(fin)
        }
    }
}

/// Blocks until `spawn` says what became of the run's entry (one byte), or is gone (`None`).
fn entry_word(mut gate: File) -> Option<u8> {
    use std::io::Read;
    let mut b = [0u8; 1];
    loop {
        match gate.read(&mut b) {
            Ok(1) => return Some(b[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => return None,
        }
    }
}

fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {n}"))
}

fn finalize(path: &Path, ending: Ending, output: RunOutput) -> Result<RunRecord> {
    let me = std::process::id();
    let my_start = proc_start_time(me);
    Ok(record::update(path, |r| {
        r.supervisor_pid = Some(me);
        r.supervisor_start = my_start;
        settle(r, ending, output);
    })?
    .0)
}

/// Writes how a run ended into its record: end time, what its output told, status and reason
/// from the exit status (cancelled if a kill was asked). The supervisor's final record, and a
/// reader's when the run's outcome was recorded elsewhere ([`Runner::outcome`](super::Runner::outcome)).
pub fn settle(r: &mut RunRecord, ending: Ending, output: RunOutput) {
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
}
