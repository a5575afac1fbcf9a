//! The process runner: the agent as the supervisor's child, in a process group of its own,
//! stdin `/dev/null`, stdout and stderr through a pipe into the capped log.
//!
//! Owns starting the agent, reading its output (log + summary), reaping (the supervisor is a
//! child subreaper, so whatever the agent detaches stays below it and is reaped here), and
//! which processes belong to a run when it is killed. It must never write the final record
//! (the supervisor does, from the [`Ending`] returned) and has no terminal: attach and send
//! are not supported.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::super::logfile::LogWriter;
use super::super::process::{self, KillReport, KillStep, proc_start_time};
use super::super::record::{self, RunRecord, RunStatus};
use super::super::summary::{RunOutput, Summarizer};
use super::super::{Error, IoContext, Result};
use super::launch::READY_FD_ENV;
use super::{Ending, Liveness, Ready, Runner, agent_env, kill, local_liveness, tail_for_summary};

/// After the agent exits, how long the supervisor waits for its output pipe to reach EOF
/// (grandchildren may hold it open).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The process runner; it keeps no state of its own in the record.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessRunner;

impl Runner for ProcessRunner {
    fn unavailable(&self, _rec: &RunRecord) -> Option<String> {
        None
    }

    fn supervise(&self, path: &Path, rec: &RunRecord, ready: Ready) -> Result<(Ending, RunOutput)> {
        supervise_process(path, rec, ready)
    }

    fn liveness(&self, rec: &RunRecord) -> Liveness {
        local_liveness(rec)
    }

    /// The process group, every descendant of the supervisor (a subreaper) and every process
    /// with the run's environment.
    fn kill(&self, rec: &RunRecord, grace: Duration, progress: &dyn Fn(KillStep)) -> KillReport {
        kill::local_kill(rec, true, grace, progress)
    }

    fn attach_argv(&self, _rec: &RunRecord) -> Option<Vec<String>> {
        None
    }

    fn send(&self, rec: &RunRecord, _text: &str) -> Result<()> {
        Err(Error::Unsupported(format!(
            "run {} uses the process runner, whose agent reads no input (its stdin is /dev/null); spawn it with --runner tmux to send it messages",
            rec.id
        )))
    }
}

/// Log writer + summary scanner shared by the pipe reader and the supervisor.
struct Sink {
    log: LogWriter,
    summary: Summarizer,
    error: Option<std::io::Error>,
}

fn supervise_process(path: &Path, rec: &RunRecord, ready: Ready) -> Result<(Ending, RunOutput)> {
    let me = std::process::id();
    let my_start = proc_start_time(me);
    let log_path = rec.log_path();
    let log = match LogWriter::open(&log_path, rec.log_cap, rec.log_keep) {
        Ok(l) => l,
        Err(e) => {
            let why = format!("cannot open log {}: {e}", log_path.display());
            return Ok((Ending::NotStarted(why), RunOutput::default()));
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

    // A kill that came before we claimed the run: do not start at all. (One that comes after
    // the claim finds no pgid yet and waits for it; the `running` update below tells us.)
    if rec.cancel_requested {
        return Ok((
            Ending::NotStarted("cancelled before start".into()),
            RunOutput::default(),
        ));
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
    // The program is looked up here, once, as `spawn` checked it, rather than by one exec
    // after another along PATH in the child — unless the agent's own environment sets PATH,
    // which the child's search would use.
    let agent_env = agent_env(rec);
    let program = match agent_env.iter().any(|(k, _)| k == "PATH") {
        false => super::find_program(&rec.argv[0], &rec.cwd),
        true => None,
    };
    let mut cmd = Command::new(program.as_deref().unwrap_or(Path::new(&rec.argv[0])));
    cmd.arg0(&rec.argv[0]);
    // The spawning conversation's ids must not leak into the agent: they would win over the
    // agent's own and route its `sessions` commands to the parent's session.
    for var in crate::binding::CONVERSATION_VARS {
        cmd.env_remove(var);
    }
    cmd.args(&rec.argv[1..])
        .current_dir(&rec.cwd)
        .envs(agent_env)
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
            let summary =
                std::mem::take(&mut sink.lock().unwrap_or_else(|e| e.into_inner()).summary)
                    .finish(&tail);
            return Ok((Ending::NotStarted(why), summary));
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
    ready.signal();

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
                    super::super::writeback::conversation_found(&path, &id);
                }
            }
            let _ = done_tx.send(());
        });
    }

    if cancelled {
        // `kill` raced with our start and saw no pgid yet: finish its job.
        process::kill_group(pid as i32, super::DEFAULT_KILL_GRACE);
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
    Ok((ending, summary))
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
