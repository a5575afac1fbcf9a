//! The dashboard's actions, each as the CLI command that does it: this same binary
//! (`std::env::current_exe()`) run with an argv (never a shell) in the repository. Behaviour,
//! Session Log entries and errors are the command's own by construction; the server imports
//! no command code. The child's output goes to temp files, not pipes, so a detached agent that
//! inherits nothing still cannot hold the request open.

use std::io::{Read, Seek};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::store::Repo;

/// A form posted by a page.
#[derive(Debug, Deserialize)]
pub struct Form {
    pub session: String,
    #[serde(default)]
    pub run: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// `send`: the follow-up message.
    #[serde(default)]
    pub message: Option<String>,
}

/// What running the command gave.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub ok: bool,
    pub exit_code: Option<i32>,
    /// The command as a person would type it.
    pub command: String,
    pub stdout: String,
    pub stderr: String,
}

/// The CLI arguments for `action`, or why there are none.
pub fn argv(action: &str, f: &Form, file: &std::path::Path) -> Result<Vec<String>, String> {
    let session = f.session.trim();
    if session.is_empty() || session.starts_with('-') {
        return Err("no session named".into());
    }
    let s = session.to_string();
    let target = |f: &Form| match f.run.as_deref().filter(|r| !r.is_empty()) {
        Some(run) if !run.starts_with('-') && !run.contains(':') => Ok(format!("{s}:{run}")),
        Some(_) => Err("bad run id".to_string()),
        None => Ok(s.clone()),
    };
    Ok(match action {
        "spawn" => {
            let agent = f.agent.as_deref().map(str::trim).unwrap_or_default();
            let task = f.task.as_deref().map(str::trim).unwrap_or_default();
            if agent.is_empty() || task.is_empty() {
                return Err("spawn needs an agent and a task".into());
            }
            vec![
                "spawn".into(),
                s,
                "--agent".into(),
                agent.into(),
                "--task".into(),
                task.into(),
            ]
        }
        "kill" => vec!["kill".into(), target(f)?],
        "pause" => {
            let mut v = vec!["pause".into(), s];
            if let Some(r) = f.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                v.extend(["--reason".into(), r.into()]);
            }
            v
        }
        "resume" => vec!["resume".into(), s],
        "send" => {
            let message = f.message.as_deref().map(str::trim).unwrap_or_default();
            // `-` would make `send` read its (empty) standard input.
            if message.is_empty() || message == "-" {
                return Err("send needs a message".into());
            }
            vec!["send".into(), target(f)?, message.into()]
        }
        "validate" => vec!["validate".into(), file.display().to_string()],
        "review" => {
            let what = match f.run.as_deref().filter(|r| !r.is_empty()) {
                Some(run) => format!("Reviewed the output of run {run} on the dashboard"),
                None => "Reviewed the agents' output on the dashboard".to_string(),
            };
            vec!["log".into(), s, what]
        }
        other => return Err(format!("unknown action `{other}`")),
    })
}

/// Runs `sessions -C <root> <args…>` and waits for it. Blocking: call it off the runtime.
pub fn run(repo: &Repo, args: &[String]) -> Outcome {
    let command = format!("sessions {}", shown(args));
    let fail = |why: String| Outcome {
        ok: false,
        exit_code: None,
        command: command.clone(),
        stdout: String::new(),
        stderr: why,
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot find this program: {e}")),
    };
    let (Ok(mut out), Ok(mut err)) = (tempfile::tempfile(), tempfile::tempfile()) else {
        return fail("cannot create a temp file for the command's output".into());
    };
    let mut cmd = Command::new(exe);
    cmd.arg("-C")
        .arg(&repo.root)
        .arg("--color")
        .arg("never")
        .args(args)
        .current_dir(&repo.root)
        .stdin(Stdio::null());
    // A click in the browser is no agent conversation's command, whatever started the server.
    for var in crate::binding::CONVERSATION_VARS {
        cmd.env_remove(var);
    }
    let (Ok(o), Ok(e)) = (out.try_clone(), err.try_clone()) else {
        return fail("cannot share the output file".into());
    };
    let status = match cmd.stdout(o).stderr(e).status() {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot run the command: {e}")),
    };
    let read = |f: &mut std::fs::File| {
        let mut s = String::new();
        let _ = f.rewind();
        let _ = f.take(64 * 1024).read_to_string(&mut s);
        s
    };
    Outcome {
        ok: status.success(),
        exit_code: status.code(),
        command,
        stdout: read(&mut out),
        stderr: read(&mut err),
    }
}

/// Arguments as a person would paste them into a shell.
pub fn shown(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
