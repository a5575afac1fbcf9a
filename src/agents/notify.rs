//! The `notify:` hook of `.agents/config.yaml`: when a run's outcome has been written back, its
//! argv runs detached (own session, no terminal) with the event JSON on stdin:
//! `{"event":"agent-finished","session","agent","run_id","status","exit_code","summary",…}`.
//! It never blocks the supervisor: stdin is a temp file already holding the JSON (a pipe could
//! block, or raise SIGPIPE when the command exits without reading), and nobody waits for the
//! command; it is re-parented to init when we exit.

use std::io::{Seek, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::record::RunRecord;
use crate::config::Config;
use crate::store::Repo;

/// The event sent to the notify command.
pub fn event(rec: &RunRecord) -> serde_json::Value {
    serde_json::json!({
        "event": "agent-finished",
        "session": rec.session,
        "agent": rec.agent,
        "run_id": rec.id,
        "status": rec.status.session_status(),
        "exit_code": rec.exit_code,
        "summary": rec.summary,
        "reason": rec.reason,
        "log": rec.log,
    })
}

/// Runs the configured `notify` argv for a finished run (if any). Best effort: a missing
/// config, a bad one or a command that cannot start is noted in the run's log, never fatal.
pub fn on_finished(rec: &RunRecord) {
    let repo = Repo::at(rec.root.clone());
    let Ok(config) = Config::load(&repo.config_path()) else {
        return;
    };
    let Some(argv) = config.notify.filter(|a| !a.is_empty()) else {
        return;
    };
    let stdin = tempfile::tempfile().and_then(|mut f| {
        writeln!(f, "{}", event(rec))?;
        f.rewind()?;
        Ok(f)
    });
    let stdin = match stdin {
        Ok(f) => Stdio::from(f),
        Err(e) => return note(rec, &format!("notify: cannot write the event: {e}")),
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(&rec.root)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    match cmd.spawn() {
        // Not waited for: see the module docs.
        Ok(_child) => {}
        Err(e) => note(rec, &format!("notify command `{}` failed: {e}", argv[0])),
    }
}

fn note(rec: &RunRecord, text: &str) {
    use std::fs::OpenOptions;
    if let Ok(mut f) = OpenOptions::new().append(true).open(rec.log_path()) {
        let _ = writeln!(f, "[sessions] {text}");
    }
}
