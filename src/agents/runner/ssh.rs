//! The ssh runner: an agent on another host, started by that host's own `sessions` in its own
//! checkout, reached through the system OpenSSH client over one shared connection.
//!
//! Owns the `ssh` command lines (ControlMaster/ControlPath/ControlPersist, BatchMode,
//! ConnectTimeout), the remote calls (`spawn --owned-by`, `logs -f`, `agents --records`,
//! `kill`), and what the local supervisor does meanwhile: copy the remote log into the local
//! one, note when the host stops answering (`unreachable_since`) and go on asking, with a
//! backoff, until the host tells the run's outcome. It must never copy anything to the host,
//! never conclude that a run it cannot see ended (an unreachable host is `unknown`, never
//! `lost`), and never write the session file (the supervisor's `on_exit` does, on this side;
//! the remote side's record is marked `owner` so that host never writes its copy).
//!
//! Why the `ssh` binary and not a Rust SSH library: the user's `~/.ssh/config`, agents, keys,
//! known hosts, ProxyJump and ControlMaster all come for free and behave as in their shell,
//! and a connection multiplexed by ControlMaster makes each call a round trip, not a handshake.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use super::super::logfile::LogWriter;
use super::super::process::{KillOutcome, KillReport, KillStep, Killed};
use super::super::record::{self, RunRecord, RunStatus};
use super::super::summary::RunOutput;
use super::super::{Error, Result};
use super::state::{RemoteProcess, SshState};
use super::{Ending, Liveness, Outcome, Ready, Runner, append_note, find_program, local_liveness};

/// `ssh`'s own exit status for a connection or protocol error (the remote command's status
/// otherwise; `sessions` never exits 255).
const SSH_FAILED: i32 = 255;
/// The shell's status for a command not found.
const NOT_FOUND: i32 = 127;

/// How long a master connection stays after its last use.
const CONTROL_PERSIST: &str = "60";
/// Connection timeout of every call, in seconds.
pub const CONNECT_TIMEOUT: &str = "10";

/// How many answers in a row without the run's record end the wait (the host answers, but
/// has no such run any more).
const GIVE_UP_AFTER: u32 = 5;

/// The longest pause between two tries to reach a host that stopped answering.
const RETRY_MAX: Duration = Duration::from_secs(10);

impl Runner for SshState {
    fn unavailable(&self, _rec: &RunRecord) -> Option<String> {
        find_program("ssh", Path::new("/"))
            .is_none()
            .then(|| "`ssh` (the OpenSSH client) is not installed; install openssh-client".into())
    }

    fn supervise(&self, path: &Path, rec: &RunRecord, ready: Ready) -> Result<(Ending, RunOutput)> {
        supervise_remote(self, path, rec, ready)
    }

    /// The local supervisor, while it runs; else what the host says of the remote run (an
    /// unreachable host: `Unknown`).
    fn liveness(&self, rec: &RunRecord) -> Liveness {
        if local_liveness(rec) == Liveness::Supervised {
            return Liveness::Supervised;
        }
        if !rec.status.is_active() {
            // Settled here: nothing to ask the host.
            return Liveness::Gone;
        }
        match remote_record(self, &rec.session) {
            Err(Remote::Unreachable(_)) => Liveness::Unknown(unreachable_text(
                &self.host,
                self.unreachable_since.as_deref(),
            )),
            Err(Remote::Failed(why)) => Liveness::Unknown(format!("host {}: {why}", self.host)),
            Ok(r) if r.status.is_active() => Liveness::Unsupervised,
            Ok(_) => Liveness::Gone,
        }
    }

    /// `sessions kill` on the host (which stops the process group and whatever carries the
    /// run's environment there).
    /// The host's outcome of a run whose local supervisor is gone.
    fn outcome(&self, rec: &RunRecord) -> Option<Outcome> {
        let r = remote_record(self, &rec.session).ok()?;
        (!r.status.is_active()).then(|| outcome_of(self, &r))
    }

    fn kill(&self, rec: &RunRecord, grace: Duration, progress: &dyn Fn(KillStep)) -> KillReport {
        let pid = self.remote.as_ref().and_then(|r| r.pid);
        progress(KillStep::Terminating {
            pids: pid.into_iter().collect(),
            grace,
        });
        let grace_arg = format!("{}ms", grace.as_millis());
        let target = format!("{}:{}", rec.session, self.remote_run_id);
        let outcome = match call(self, &["kill", &target, "--grace", &grace_arg]) {
            Ok(_) => KillOutcome::Terminated,
            Err(Remote::Failed(why)) if why.contains("no running agent") => KillOutcome::NotRunning,
            Err(Remote::Unreachable(_)) | Err(Remote::Failed(_)) => {
                KillOutcome::Survived(pid.into_iter().collect())
            }
        };
        KillReport {
            processes: match outcome {
                KillOutcome::Terminated => pid
                    .map(|pid| Killed {
                        pid,
                        comm: format!("on {}", self.host),
                        detached: false,
                    })
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            },
            outcome,
        }
    }

    /// `ssh -t host sessions attach …` (the remote run must be a tmux one; the host says so
    /// otherwise).
    fn attach_argv(&self, rec: &RunRecord) -> Option<Vec<String>> {
        let mut argv = vec!["ssh".to_string(), "-t".to_string()];
        argv.extend(ssh_args(self));
        argv.push(remote_command(
            &self.root,
            &["attach", &format!("{}:{}", rec.session, self.remote_run_id)],
        ));
        Some(argv)
    }

    fn send(&self, rec: &RunRecord, _text: &str) -> Result<()> {
        Err(Error::Unsupported(format!(
            "run {} runs on host {}; typing into it from here is not supported yet (`sessions attach` it, or run `sessions send` on {})",
            rec.id, self.host, self.host
        )))
    }
}

/// Does a liveness answer say the host did not answer (rather than that it could not tell)?
pub fn is_unreachable(why: &str) -> bool {
    why.starts_with("host ") && why.contains(UNREACHABLE)
}

const UNREACHABLE: &str = " unreachable";

/// `host build1 unreachable since 2026-12-02T03:10:00Z`.
pub fn unreachable_text(host: &str, since: Option<&str>) -> String {
    match since {
        Some(t) => format!("host {host}{UNREACHABLE} since {t}"),
        None => format!("host {host}{UNREACHABLE}"),
    }
}

/// Where master connections' sockets live: `$XDG_RUNTIME_DIR/sessions-ssh`, else
/// `/tmp/sessions-ssh-<uid>`, both private. Short on purpose: a Unix socket path has at most
/// 104–108 bytes, and `%C` adds 40.
pub fn control_dir() -> PathBuf {
    let uid = nix::unistd::getuid().as_raw();
    let short = |d: PathBuf| d.as_os_str().len() <= 60;
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d.is_dir())
        .map(|d| d.join("sessions-ssh"))
        .filter(|d| short(d.clone()))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/sessions-ssh-{uid}")))
}

fn ensure_control_dir() -> PathBuf {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let dir = control_dir();
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    // A directory someone else made for us is not ours to put sockets in: ssh then runs
    // without a master (ControlMaster with a path it cannot use just connects directly).
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() && m.uid() == nix::unistd::getuid().as_raw() => dir,
        _ => PathBuf::from("none"),
    }
}

/// The options every call shares: one master connection per host, reused, never asking for
/// a password (BatchMode), bounded connection and liveness timeouts.
pub fn control_options() -> Vec<String> {
    let dir = ensure_control_dir();
    let path = if dir == Path::new("none") {
        "none".to_string()
    } else {
        dir.join("%C").display().to_string()
    };
    [
        "ControlMaster=auto".to_string(),
        format!("ControlPath={path}"),
        format!("ControlPersist={CONTROL_PERSIST}"),
        "BatchMode=yes".to_string(),
        format!("ConnectTimeout={CONNECT_TIMEOUT}"),
        "ServerAliveInterval=5".to_string(),
        "ServerAliveCountMax=3".to_string(),
    ]
    .into_iter()
    .flat_map(|o| ["-o".to_string(), o])
    .collect()
}

/// `ssh` arguments from a host's config: `-p`, `-i`, each `Key=value` of `ssh_options` as
/// `-o Key=value` (anything else as it is).
pub fn host_options(port: Option<u16>, identity: Option<&str>, extra: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = port {
        out.extend(["-p".to_string(), p.to_string()]);
    }
    if let Some(i) = identity {
        out.extend(["-i".to_string(), i.to_string()]);
    }
    for o in extra {
        if !o.starts_with('-') && o.contains('=') {
            out.push("-o".into());
        }
        out.push(o.clone());
    }
    out
}

/// Everything before the remote command: the host's options first (ssh keeps the first value
/// it sees, so the user's win), ours, then the destination.
fn ssh_args(s: &SshState) -> Vec<String> {
    let mut args = s.ssh_args.clone();
    args.extend(control_options());
    args.push("--".into());
    args.push(s.destination.clone());
    args
}

/// `cd '<root>' && exec sessions '<arg>' …`: the remote user's shell runs it.
pub fn remote_command(root: &str, args: &[&str]) -> String {
    let mut words = vec![quote(root)];
    words.insert(0, "cd".into());
    let mut cmd = words.join(" ");
    cmd.push_str(" && exec sessions");
    for a in args {
        cmd.push(' ');
        cmd.push_str(&quote(a));
    }
    cmd
}

fn quote(s: &str) -> String {
    shlex::try_quote(s).map_or_else(|_| "''".to_string(), |q| q.into_owned())
}

/// The `ssh` command running `sessions <args>` in the host's checkout.
pub fn command(s: &SshState, args: &[&str]) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(ssh_args(s))
        .arg(remote_command(&s.root, args))
        .stdin(Stdio::null())
        .env_remove(super::launch::READY_FD_ENV);
    cmd
}

/// Why a remote call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// ssh itself failed: no connection (its message).
    Unreachable(String),
    /// The host answered, but the command failed (its message, with the fix when known).
    Failed(String),
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remote::Unreachable(m) | Remote::Failed(m) => f.write_str(m),
        }
    }
}

/// What the remote `sessions` said on stderr, on one line (`error:` prefixes dropped).
fn message(bytes: &[u8]) -> String {
    let text: Vec<String> = String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).to_string())
        .collect();
    text.join(" ")
}

/// The last non-empty line of an ssh call's stderr (ssh's own error, after any warnings).
fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).to_string())
        .next_back()
        .unwrap_or_default()
}

/// Runs `sessions <args>` on the host; its stdout when it exits 0.
pub fn call(s: &SshState, args: &[&str]) -> std::result::Result<Vec<u8>, Remote> {
    let out = command(s, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Remote::Unreachable(format!("cannot run ssh: {e}")))?;
    match out.status.code() {
        Some(0) => Ok(out.stdout),
        Some(SSH_FAILED) | None => Err(Remote::Unreachable(last_line(&out.stderr))),
        Some(NOT_FOUND) => Err(Remote::Failed(not_installed(&s.host))),
        Some(_) => Err(Remote::Failed(message(&out.stderr))),
    }
}

/// Runs a shell script on the host (`hosts check`); its stdout when ssh reached the host.
pub fn shell(s: &SshState, script: &str) -> std::result::Result<Vec<u8>, Remote> {
    let out = Command::new("ssh")
        .args(ssh_args(s))
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Remote::Unreachable(format!("cannot run ssh: {e}")))?;
    match out.status.code() {
        Some(SSH_FAILED) | None => Err(Remote::Unreachable(last_line(&out.stderr))),
        Some(_) => Ok(out.stdout),
    }
}

/// The error for a host whose PATH has no `sessions`.
pub fn not_installed(host: &str) -> String {
    format!(
        "`sessions` is not on host {host}'s PATH (for commands run over ssh); install sessions {} there — nothing is copied to a remote host — and check with `sessions hosts check {host}`",
        env!("CARGO_PKG_VERSION")
    )
}

/// The host's record of the run, reconciled there (`agents <session>:<run> --json --records`).
pub fn remote_record(s: &SshState, session: &str) -> std::result::Result<RunRecord, Remote> {
    let target = format!("{session}:{}", s.remote_run_id);
    let out = call(s, &["agents", &target, "--json", "--records"])?;
    let recs: Vec<RunRecord> = serde_json::from_slice(&out).map_err(|e| {
        Remote::Failed(format!(
            "host {} answered something else than run records ({e}); is its sessions the same version? (`sessions hosts check {}`)",
            s.host, s.host
        ))
    })?;
    recs.into_iter()
        .find(|r| r.id == s.remote_run_id)
        .ok_or_else(|| Remote::Failed(format!("host {} has no run {target}", s.host)))
}

/// The local supervisor of an ssh run: start it on the host, then copy its log and wait for
/// its outcome, however long the host is out of reach.
fn supervise_remote(
    s: &SshState,
    path: &Path,
    rec: &RunRecord,
    ready: Ready,
) -> Result<(Ending, RunOutput)> {
    if record::load(path)?.cancel_requested {
        return Ok((
            Ending::NotStarted("cancelled before start".into()),
            RunOutput::default(),
        ));
    }
    let args: Vec<&str> = s.remote_spawn.iter().map(String::as_str).collect();
    let started = match call(s, &args) {
        Ok(out) => serde_json::from_slice::<Vec<RunRecord>>(&out)
            .ok()
            .and_then(|v| v.into_iter().find(|r| r.id == s.remote_run_id))
            .ok_or_else(|| {
                format!(
                    "host {} started something, but did not answer with its run record; is its sessions the same version? (`sessions hosts check {}`)",
                    s.host, s.host
                )
            }),
        Err(Remote::Unreachable(why)) => Err(format!("cannot reach host {}: {why}", s.host)),
        Err(Remote::Failed(why)) => Err(format!("on host {}: {why}", s.host)),
    };
    let remote = match started {
        Ok(r) => r,
        Err(why) => {
            append_note(rec, &why);
            return Ok((Ending::NotStarted(why), RunOutput::default()));
        }
    };
    if !remote.status.is_active() && remote.pid.is_none() {
        let why = format!(
            "on host {}: {}",
            s.host,
            remote
                .reason
                .clone()
                .unwrap_or_else(|| "the agent did not start".into())
        );
        append_note(rec, &why);
        return Ok((Ending::NotStarted(why), RunOutput::default()));
    }
    record::update(path, |r| {
        r.status = RunStatus::Running;
        if let Some(id) = &remote.conversation_id {
            r.conversation_id = Some(id.clone());
        }
        if let super::RunnerState::Ssh(st) = &mut r.runner {
            st.remote = Some(RemoteProcess {
                pid: remote.pid,
                pid_start: remote.pid_start,
                supervisor_pid: remote.supervisor_pid,
                supervisor_start: remote.supervisor_start,
            });
        }
    })?;
    ready.signal();
    follow(s, path, rec)
}

/// Copies the remote log into the local one (`logs -f` on the host; after a reconnect the
/// bytes already copied are skipped) until the run ended there, then takes its outcome from
/// the host's record.
fn follow(s: &SshState, path: &Path, rec: &RunRecord) -> Result<(Ending, RunOutput)> {
    let log_path = rec.log_path();
    let mut log = LogWriter::open(&log_path, rec.log_cap, rec.log_keep).ok();
    let target = format!("{}:{}", rec.session, s.remote_run_id);
    let mut copied: u64 = 0;
    let mut failures = 0;
    let mut pause = Duration::from_millis(200);
    loop {
        let status = command(s, &["logs", &target, "-f"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                let mut seen: u64 = 0;
                if let Some(mut out) = child.stdout.take() {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match out.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let chunk = &buf[..n];
                        let skip = copied.saturating_sub(seen).min(n as u64) as usize;
                        seen += n as u64;
                        if skip < n
                            && let Some(w) = log.as_mut()
                        {
                            let _ = w.write_all(&chunk[skip..]);
                        }
                        copied = copied.max(seen);
                    }
                }
                let mut err = Vec::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_end(&mut err);
                }
                child.wait().map(|st| (st.code(), err))
            });
        let reached = matches!(&status, Ok((Some(c), _)) if *c != SSH_FAILED);
        if reached {
            match remote_record(s, &rec.session) {
                Ok(r) if !r.status.is_active() => {
                    set_unreachable(path, None);
                    let o = outcome_of(s, &r);
                    if o.cancelled {
                        record::update(path, |l| l.cancel_requested = true)?;
                    }
                    return Ok((o.ending, o.output));
                }
                Ok(_) => {
                    failures = 0;
                    set_unreachable(path, None);
                }
                Err(Remote::Unreachable(_)) => set_unreachable(path, Some(now())),
                Err(Remote::Failed(why)) => {
                    // The host answers but cannot tell (its record pruned, sessions removed):
                    // asked again a few times, then the run ends here as unknown there.
                    set_unreachable(path, None);
                    failures += 1;
                    if failures >= GIVE_UP_AFTER {
                        let why = format!("host {} cannot tell how it ended: {why}", s.host);
                        append_note(rec, &why);
                        return Ok((Ending::Unknown(why), RunOutput::default()));
                    }
                }
            }
        } else {
            set_unreachable(path, Some(now()));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(RETRY_MAX);
        if reached {
            pause = Duration::from_millis(200).max(pause / 4);
        }
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Records when the host stopped answering (kept as first seen), or that it answers again.
fn set_unreachable(path: &Path, since: Option<String>) {
    let _ = record::update_if(path, |r| {
        let super::RunnerState::Ssh(st) = &mut r.runner else {
            return false;
        };
        match (&since, &st.unreachable_since) {
            (Some(_), Some(_)) | (None, None) => false,
            _ => {
                st.unreachable_since = since.clone();
                true
            }
        }
    });
}

/// The local outcome of a run the host recorded as ended (a run cancelled there is cancelled
/// here too).
fn outcome_of(s: &SshState, r: &RunRecord) -> Outcome {
    let output = RunOutput {
        summary: r.summary.clone(),
        conversation_id: r.conversation_id.clone(),
        cost_usd: r.cost_usd,
        tokens: r.tokens,
        turns: r.turns,
    };
    let ending = match r.status {
        RunStatus::Completed => Ending::Exited {
            code: Some(r.exit_code.unwrap_or(0)),
            signal: None,
        },
        _ if r.exit_code.is_some() || r.signal.is_some() => Ending::Exited {
            code: r.exit_code,
            signal: r.signal,
        },
        RunStatus::Lost => Ending::Unknown(format!("lost on host {}", s.host)),
        _ => Ending::Unknown(
            r.reason
                .clone()
                .map(|why| format!("on host {}: {why}", s.host))
                .unwrap_or_else(|| format!("ended on host {} without an exit status", s.host)),
        ),
    };
    Outcome {
        ending,
        output,
        cancelled: r.status == RunStatus::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_commands_are_quoted_for_the_remote_shell() {
        assert_eq!(
            remote_command("/srv/my repo", &["spawn", "it's", "--task", "a; rm -rf /"]),
            "cd '/srv/my repo' && exec sessions spawn \"it's\" --task 'a; rm -rf /'"
        );
        assert_eq!(
            host_options(
                Some(2222),
                Some("~/.ssh/k"),
                &["-F".into(), "/c".into(), "A=b".into()]
            ),
            ["-p", "2222", "-i", "~/.ssh/k", "-F", "/c", "-o", "A=b"]
        );
    }

    #[test]
    fn the_control_path_fits_a_socket_address() {
        // 40 hex digits of %C, and the longest prefix we accept.
        assert!(control_dir().as_os_str().len() + 1 + 40 < 104);
    }
}
