//! The `notify:` targets of `.agents/config.yaml`: when a run finishes, fails, is lost or
//! cancelled (after its outcome is written back), or starts waiting for the person, each target
//! that wants the event gets it — a command (event JSON on stdin), a webhook (HTTP POST of the
//! JSON, with a timeout and retries) or a desktop notification (`notify-send`).
//!
//! Once per event, however many processes observe it: the first to create the event's marker
//! under `.agents/state/notify/` (`O_EXCL`) delivers it. Never in the way: the observer (a
//! supervisor, a hook, a reconciling reader) only starts a detached `sessions __notify`
//! process (own session, no terminal, not waited for) and goes on; that process delivers and
//! records every failing target in the run record (`notify_failures`, shown by `agents`).
//!
//! Event JSON: `{"event": "agent-finished" | "agent-waiting", "kind": "finished" | "failed" |
//! "lost" | "cancelled" | "waiting", "session", "agent", "run_id", "status", "exit_code",
//! "summary", "reason", "log", "waiting"?: {"why", "tool"}}`.

use std::fs::{self, OpenOptions};
use std::io::{Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::record::{self, RunRecord, RunStatus};
use crate::config::{Config, NotifyKind, NotifyTarget};
use crate::store::Repo;

/// Hidden subcommand that delivers one event.
pub const DELIVER_SUBCOMMAND: &str = "__notify";
/// A notify command still running after this long is left to itself (not reported).
const COMMAND_WAIT: Duration = Duration::from_secs(60);
/// Failures kept per run.
const MAX_FAILURES: usize = 10;

/// The event kind of a finished run.
pub fn end_kind(rec: &RunRecord) -> &'static str {
    match rec.status {
        RunStatus::Completed => "finished",
        RunStatus::Lost => "lost",
        RunStatus::Cancelled => "cancelled",
        _ => "failed",
    }
}

/// The event sent to the targets.
pub fn event(rec: &RunRecord, kind: &str) -> serde_json::Value {
    let mut v = serde_json::json!({
        "event": if kind == "waiting" { "agent-waiting" } else { "agent-finished" },
        "kind": kind,
        "session": rec.session,
        "agent": rec.agent,
        "run_id": rec.id,
        "status": if kind == "waiting" { "waiting" } else { rec.status.session_status() },
        "exit_code": rec.exit_code,
        "summary": rec.summary,
        "reason": rec.reason,
        "log": rec.log,
    });
    if kind == "waiting"
        && let Some(t) = &rec.turn
    {
        v["waiting"] = serde_json::json!({
            "why": t.why.map(|w| w.as_str()),
            "tool": t.tool,
        });
    }
    v
}

/// A run's outcome has been written back: notify `finished`/`failed`/`lost`/`cancelled`.
pub fn on_finished(rec: &RunRecord) {
    if rec.owner.is_some() {
        // The owner (which ran `spawn --host`) tells its own targets.
        return;
    }
    emit(rec, end_kind(rec), "end");
}

/// A run started waiting for the person (`key` tells one waiting spell from the next).
pub fn on_waiting(rec: &RunRecord, key: &str) {
    emit(rec, "waiting", key);
}

fn targets_for(rec: &RunRecord, kind: &str) -> Vec<NotifyTarget> {
    let repo = Repo::at(rec.root.clone());
    match Config::load(&repo.config_path()) {
        Ok(c) => c.notify.into_iter().filter(|t| t.wants(kind)).collect(),
        Err(_) => Vec::new(),
    }
}

/// `.agents/state/notify/<session>/<run>.<kind>.<key>`.
fn marker(rec: &RunRecord, kind: &str, key: &str) -> PathBuf {
    let key: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    rec.root
        .join(".agents/state/notify")
        .join(&rec.session)
        .join(format!("{}.{kind}.{key}", rec.id))
}

/// Claims the event and starts the detached deliverer. Best effort: trouble is noted in the
/// run's log, never returned.
fn emit(rec: &RunRecord, kind: &str, key: &str) {
    if targets_for(rec, kind).is_empty() {
        return;
    }
    let marker = marker(rec, kind, key);
    if let Some(dir) = marker.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
    {
        Ok(f) => f,
        // Someone else delivers it (or did).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return,
        Err(e) => {
            return note(
                rec,
                &format!("notify: cannot create {}: {e}", marker.display()),
            );
        }
    };
    // The marker holds the event: the deliverer reads it from there.
    let body = event(rec, kind).to_string();
    if let Err(e) = writeln!(file, "{body}") {
        return note(rec, &format!("notify: cannot write the event: {e}"));
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return note(
                rec,
                &format!("notify: cannot find the sessions executable: {e}"),
            );
        }
    };
    let path = record::record_path(&rec.root.join(".agents/state"), &rec.session, &rec.id);
    let mut cmd = Command::new(exe);
    cmd.arg(DELIVER_SUBCOMMAND)
        .arg(&marker)
        .arg(&path)
        .current_dir(&rec.root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    detach(&mut cmd);
    if let Err(e) = cmd.spawn() {
        note(rec, &format!("notify: cannot start the deliverer: {e}"));
    }
}

fn detach(cmd: &mut Command) {
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
}

/// The hidden `__notify <event file> <record>` subcommand: deliver the event to every target
/// that wants it, record the failures. Always exits 0.
pub fn deliver_main(args: &[std::ffi::OsString]) -> u8 {
    let [event_path, rec_path] = args else {
        return 2;
    };
    let (event_path, rec_path) = (Path::new(event_path), Path::new(rec_path));
    let Ok(body) = fs::read_to_string(event_path) else {
        return 0;
    };
    let Ok(event) = serde_json::from_str::<serde_json::Value>(&body) else {
        return 0;
    };
    let kind = event["kind"].as_str().unwrap_or("finished").to_string();
    let Ok(rec) = record::load(rec_path) else {
        return 0;
    };
    let mut failures = Vec::new();
    for t in targets_for(&rec, &kind) {
        if let Err(why) = deliver(&t, &rec.root, body.trim_end(), &event) {
            failures.push(format!("{kind} → {}: {why}", t.name()));
        }
    }
    if !failures.is_empty() {
        let _ = record::update(rec_path, |r| {
            r.notify_failures.extend(failures.iter().cloned());
            let over = r.notify_failures.len().saturating_sub(MAX_FAILURES);
            r.notify_failures.drain(..over);
        });
        for f in &failures {
            note(&rec, &format!("notify failed: {f}"));
        }
    }
    0
}

/// Delivers `body` to one target.
pub fn deliver(
    target: &NotifyTarget,
    root: &Path,
    body: &str,
    event: &serde_json::Value,
) -> Result<(), String> {
    match &target.kind {
        NotifyKind::Command(argv) => run_command(argv, root, body),
        NotifyKind::Webhook {
            url,
            timeout,
            retries,
        } => post(url, body, *timeout, *retries),
        NotifyKind::Desktop => desktop(root, event),
    }
}

fn run_command(argv: &[String], root: &Path, body: &str) -> Result<(), String> {
    // stdin is a file already holding the JSON: a pipe could block, or raise SIGPIPE when the
    // command exits without reading.
    let stdin = tempfile::tempfile()
        .and_then(|mut f| {
            writeln!(f, "{body}")?;
            f.rewind()?;
            Ok(f)
        })
        .map_err(|e| format!("cannot write the event: {e}"))?;
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(root)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", argv[0]))?;
    let deadline = Instant::now() + COMMAND_WAIT;
    let mut pause = Duration::from_millis(10);
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(format!("`{}` exited with {s}", argv[0])),
            Ok(None) if Instant::now() >= deadline => return Ok(()),
            Ok(None) => std::thread::sleep(pause),
            Err(e) => return Err(e.to_string()),
        }
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// POST with a timeout per attempt; retried (after 0.5 s, 1 s, 2 s, …) on a network error or
/// a 5xx answer, not on a 4xx (the request itself is wrong).
fn post(url: &str, body: &str, timeout: Duration, retries: u32) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("sessions/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut pause = Duration::from_millis(500);
    let mut last = String::new();
    for attempt in 0..=retries {
        if attempt > 0 {
            std::thread::sleep(pause);
            pause *= 2;
        }
        match agent
            .post(url)
            .header("content-type", "application/json")
            .send(body)
        {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if r.status().is_client_error() => {
                return Err(format!("HTTP {}", r.status()));
            }
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("{last} (after {} attempts)", retries + 1))
}

fn desktop(root: &Path, event: &serde_json::Value) -> Result<(), String> {
    let Some(bin) = super::runner::find_program("notify-send", root) else {
        return Err("notify-send is not installed".into());
    };
    let s = |k: &str| event[k].as_str().unwrap_or("").to_string();
    let title = format!("sessions: {} {}", s("agent"), s("kind"));
    let mut text = format!("{} (run {})", s("session"), s("run_id"));
    if let Some(why) = event["waiting"]["why"].as_str() {
        text.push_str(&format!(": {why}"));
        if let Some(tool) = event["waiting"]["tool"].as_str() {
            text.push_str(&format!(" for {tool}"));
        }
    } else if let Some(sum) = event["summary"].as_str() {
        text.push_str(&format!(": {sum}"));
    }
    let argv = vec![
        bin.display().to_string(),
        "--app-name=sessions".into(),
        title,
        text,
    ];
    run_command(&argv, root, "")
}

fn note(rec: &RunRecord, text: &str) {
    if let Ok(mut f) = OpenOptions::new().append(true).open(rec.log_path()) {
        let _ = writeln!(f, "[sessions] {text}");
    }
}
