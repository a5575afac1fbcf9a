//! The tmux runner: the agent in a pane of a detached tmux session, so a person can attach
//! to it and type into it.
//!
//! The detached supervisor creates `tmux -L sessions new-session -d` whose pane runs this
//! binary in `--tmux-pane` mode. That process waits until the supervisor has set up the pane
//! (output piped to the log through `--tmux-sink`, `remain-on-exit` on, pid recorded) and then
//! starts the agent as its child, which so keeps a real terminal a person can attach to. The
//! agent's argv travels in the record file, never through tmux's or a shell's parser. The pane
//! process waits for the agent and writes its exit status to `<record>.exit` before it exits
//! itself; the supervisor polls the pane process's liveness and reads that file. tmux's own
//! `#{pane_dead_status}` is only a fallback (the pane process was SIGKILLed): a busy or older
//! tmux server can show a pane dead for seconds before it has the status.
//!
//! Owns every tmux argument list and the pane and sink modes. It must never pass the agent's
//! argv or a message through a shell (`send-keys -l` types text literally), and never talk
//! to a tmux server other than the `sessions` socket.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::super::logfile::LogWriter;
use super::super::poll::{Backoff, FOREVER, wait_until};
use super::super::process::{KillReport, KillStep, is_alive_opt, proc_start_time, proc_stat};
use super::super::record::{self, RunRecord, RunStatus};
use super::super::summary::{self, RunOutput};
use super::super::{Error, IoContext, Result};
use super::launch::{READY_FD_ENV, find_program, sanitize};
use super::{
    Ending, Liveness, Ready, Runner, TmuxState, agent_env, append_note, kill, local_liveness,
    tail_for_summary,
};

/// Socket name of the dedicated tmux server (`tmux -L sessions`).
pub const SOCKET: &str = "sessions";
/// Supervisor argument selecting the tmux pane mode (internal).
pub const PANE_FLAG: &str = "--tmux-pane";
/// Supervisor argument selecting the tmux log-sink mode (internal).
pub const SINK_FLAG: &str = "--tmux-sink";
/// How often the supervisor looks whether the pane process still runs.
const PANE_POLL: Backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(250));
/// How long tmux is asked for a dead pane's status.
const DEAD_STATUS_WAIT: Duration = Duration::from_secs(2);
/// How long the supervisor waits for the log sink to finish writing.
const SINK_WAIT: Duration = Duration::from_secs(3);
/// How long the pane process waits for the supervisor to record it.
const PANE_START_WAIT: Duration = Duration::from_secs(30);

/// The tmux session of a new run: `<session stem>-<run id>`, in tmux-safe characters.
pub fn session_name(session: &str, id: &str) -> String {
    format!("{}-{id}", sanitize(session))
}

impl Runner for TmuxState {
    fn unavailable(&self, rec: &RunRecord) -> Option<String> {
        find_program("tmux", &rec.cwd)
            .is_none()
            .then(|| Error::TmuxMissing.to_string())
    }

    fn supervise(&self, path: &Path, rec: &RunRecord, ready: Ready) -> Result<(Ending, RunOutput)> {
        supervise_tmux(path, rec, &self.session, ready)
    }

    fn liveness(&self, rec: &RunRecord) -> Liveness {
        local_liveness(rec)
    }

    /// The pane's process group (the pane process and the agent) and every process with the
    /// run's environment. The supervisor is no subreaper here: what the agent detaches is
    /// found by its environment.
    fn kill(&self, rec: &RunRecord, grace: Duration, progress: &dyn Fn(KillStep)) -> KillReport {
        kill::local_kill(rec, false, grace, progress)
    }

    fn attach_argv(&self, _rec: &RunRecord) -> Option<Vec<String>> {
        Some(vec![
            "tmux".into(),
            "-L".into(),
            SOCKET.into(),
            "attach-session".into(),
            "-t".into(),
            format!("={}", self.session),
        ])
    }

    /// `send-keys -l` (the text literally, no key names), then `Enter` on its own.
    fn send(&self, rec: &RunRecord, text: &str) -> Result<()> {
        send_keys_to(rec, &self.session, &[Key::Text(text), Key::Named("Enter")])
    }
}

/// One step of typing into a pane: text typed literally (`send-keys -l`, so nothing in it is
/// read as a key name), or one of tmux's key names (`Enter`, `C-c`, `Escape`, `Up`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Text(&'a str),
    Named(&'static str),
}

/// Types `keys` into a tmux run's pane, in order. A run of another runner has no pane.
pub fn send_keys(rec: &RunRecord, keys: &[Key]) -> Result<()> {
    match &rec.runner {
        super::RunnerState::Tmux(t) => send_keys_to(rec, &t.session, keys),
        _ => Err(Error::Unsupported(format!(
            "run {} has no tmux pane to type into",
            rec.id
        ))),
    }
}

fn send_keys_to(rec: &RunRecord, session: &str, keys: &[Key]) -> Result<()> {
    let tmux_bin = find_program("tmux", &rec.cwd).ok_or(Error::TmuxMissing)?;
    let target = format!("={session}:");
    let os = OsStr::new;
    for key in keys {
        match key {
            Key::Text("") => {}
            Key::Text(text) => tmux(
                &tmux_bin,
                &[
                    os("send-keys"),
                    os("-t"),
                    os(&target),
                    os("-l"),
                    os("--"),
                    os(text),
                ],
            )
            .map(drop)?,
            Key::Named(name) => tmux(
                &tmux_bin,
                &[os("send-keys"), os("-t"), os(&target), os(name)],
            )
            .map(drop)?,
        }
    }
    Ok(())
}

/// The visible text of a tmux run's pane (`capture-pane -p`; with `escapes`, `-e` keeps the
/// colours as SGR sequences), or `None` when it has none (another runner, the session gone,
/// tmux missing).
pub fn capture_pane(rec: &RunRecord, escapes: bool) -> Option<String> {
    let super::RunnerState::Tmux(t) = &rec.runner else {
        return None;
    };
    let tmux_bin = find_program("tmux", &rec.cwd)?;
    let target = format!("={}:", t.session);
    let mut c = tmux_cmd(&tmux_bin);
    c.args(["capture-pane", "-p"]);
    if escapes {
        c.arg("-e");
    }
    let out = c
        .arg("-t")
        .arg(&target)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn tmux_cmd(tmux: &Path) -> Command {
    let mut c = Command::new(tmux);
    c.arg("-L")
        .arg(SOCKET)
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

fn sink_lock_path(path: &Path) -> PathBuf {
    path.with_extension("sink")
}

fn supervise_tmux(
    path: &Path,
    rec: &RunRecord,
    name: &str,
    ready: Ready,
) -> Result<(Ending, RunOutput)> {
    let me = std::process::id();
    let my_start = proc_start_time(me);
    let Some(tmux_bin) = find_program("tmux", &rec.cwd) else {
        return Ok((
            Ending::NotStarted(Error::TmuxMissing.to_string()),
            RunOutput::default(),
        ));
    };
    let target = format!("={name}:");
    let lock_path = sink_lock_path(path);
    let setup = || -> Result<(u32, Option<u64>)> {
        File::create(&lock_path).at(&lock_path)?;
        let fixed = [
            "new-session",
            "-d",
            "-s",
            name,
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
        args.push(OsStr::new(PANE_FLAG));
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
            .chain([sh_quote(OsStr::new(SINK_FLAG)), sh_quote(path.as_os_str())])
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
            return Ok((Ending::NotStarted(why), RunOutput::default()));
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
    ready.signal();

    wait_until(FOREVER, PANE_POLL, || {
        (!is_alive_opt(Some(pid), pid_start)).then_some(())
    });
    let os = OsStr::new;
    let exit_path = exit_status_path(path);
    let from_pane = read_exit_status(&exit_path);
    let _ = fs::remove_file(&exit_path);
    let ending = from_pane
        .or_else(|| dead_status(&tmux_bin, &target))
        .unwrap_or_else(|| {
            Ending::Unknown("tmux session ended before the exit status was known".into())
        });
    let _ = tmux(
        &tmux_bin,
        &[os("kill-session"), os("-t"), os(&format!("={name}"))],
    );
    wait_for_sink(&lock_path);
    let _ = fs::remove_file(&lock_path);
    let tail = tail_for_summary(rec);
    Ok((ending, summary::read_log(&rec.log_path(), &tail)))
}

/// tmux's own view of the dead pane: `#{pane_dead_status}`, only for a pane process that
/// was SIGKILLed before it could leave the exit status. A busy tmux server can show the pane
/// dead before it has reaped the process and filled in the status: ask again, a while.
fn dead_status(tmux_bin: &Path, target: &str) -> Option<Ending> {
    let os = OsStr::new;
    let mut seen = None;
    wait_until(
        DEAD_STATUS_WAIT,
        Backoff::every(Duration::from_millis(50)),
        || {
            let Ok(s) = tmux(
                tmux_bin,
                &[
                    os("display-message"),
                    os("-p"),
                    os("-t"),
                    os(target),
                    os("#{pane_dead} #{pane_dead_status} #{pane_dead_signal}"),
                ],
            ) else {
                return Some(());
            };
            let f: Vec<&str> = s.split(' ').collect();
            if f.first() == Some(&"1") {
                let code = f.get(1).and_then(|x| x.parse().ok());
                let signal = f.get(2).and_then(|x| x.parse().ok());
                seen = Some(Ending::Exited { code, signal });
                if code.is_some() || signal.is_some() {
                    return Some(());
                }
            }
            None
        },
    );
    seen
}

/// Waits (bounded) until the `--tmux-sink` process has written everything: it marks the lock
/// file once it holds the lock and releases it at exit.
fn wait_for_sink(lock_path: &Path) {
    let deadline = Instant::now() + SINK_WAIT;
    let left = || deadline.saturating_duration_since(Instant::now());
    let poll = Backoff::every(Duration::from_millis(10));
    wait_until(left(), poll, || {
        fs::metadata(lock_path)
            .map_or(true, |m| m.len() > 0)
            .then_some(())
    });
    let Ok(f) = File::open(lock_path) else { return };
    wait_until(left(), poll, || f.try_lock().ok());
}

/// `--tmux-pane <record>`: wait until the supervisor has set up the pane, then exec the agent.
pub(crate) fn pane_main(path: &Path) -> i32 {
    let me = std::process::id();
    let claimed = wait_until(
        PANE_START_WAIT,
        Backoff::every(Duration::from_millis(5)),
        || match record::load(path) {
            Ok(r) if r.status == RunStatus::Running && r.pid == Some(me) => Some(Some(r)),
            Ok(r) if !r.status.is_active() || r.cancel_requested => Some(None),
            _ => None,
        },
    );
    let rec = match claimed {
        Some(Some(r)) => r,
        Some(None) => return 1,
        None => {
            eprintln!("[sessions] the supervisor did not start this run");
            return 1;
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
pub(crate) fn sink_main(path: &Path) -> i32 {
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
        assert_eq!(
            session_name("my.session:1/x", "ab12"),
            "my_session_1_x-ab12"
        );
    }
}
