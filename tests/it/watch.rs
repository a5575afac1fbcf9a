//! `sessions watch --json`: the event stream for files changed by commands, editors and `rm`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::watch_support;
use watch_support::{Sealed, bin, repo, sessions};

struct Watch {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Watch {
    fn start(dir: &Path) -> Watch {
        let mut child = Command::new(bin())
            .sealed()
            .arg("-C")
            .arg(dir)
            .args(["watch", "--json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).expect("every line is JSON");
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut w = Watch { child, lines };
        w.expect("watching");
        w
    }

    /// Waits for `event`, returning it; fails on timeout. Other events are skipped.
    fn expect(&mut self, event: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if v["event"] == event => return v,
                Ok(_) => continue,
                Err(_) => panic!("no `{event}` event within 10 s"),
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_reports_create_update_invalid_valid_delete_in_order() {
    let dir = repo();
    let mut w = Watch::start(dir.path());
    let path = sessions(dir.path(), &["new", "Watched work"]);
    let file = dir.path().join(path.trim());
    let created = w.expect("session-created");
    assert_eq!(created["title"], "Watched work");

    sessions(dir.path(), &["update", "watched", "--status", "paused"]);
    let updated = w.expect("session-updated");
    assert_eq!(updated["changes"]["status"]["to"], "paused");

    // An editor breaks the file, then repairs it.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("## Next Steps", "### Next Steps")).unwrap();
    let invalid = w.expect("session-invalid");
    assert_eq!(invalid["diagnostics"][0]["rule"], "section-missing");
    assert!(invalid["diagnostics"][0]["line"].as_u64().unwrap() > 1);
    std::fs::write(&file, &text).unwrap();
    w.expect("session-valid");

    std::fs::remove_file(&file).unwrap();
    let deleted = w.expect("session-deleted");
    assert!(
        deleted["path"]
            .as_str()
            .unwrap()
            .ends_with("watched-work.md")
    );
}

#[test]
fn watch_follows_a_recreated_sessions_directory() {
    let dir = repo();
    let mut w = Watch::start(dir.path());
    let sessions_dir = dir.path().join(".agents/sessions");
    std::fs::remove_dir_all(&sessions_dir).unwrap();
    std::fs::create_dir(&sessions_dir).unwrap();
    // Give the watcher a moment to re-attach to the new directory before writing into it.
    std::thread::sleep(Duration::from_millis(300));
    sessions(dir.path(), &["new", "After recreate"]);
    let created = w.expect("session-created");
    assert_eq!(created["title"], "After recreate");
}

#[test]
fn watch_without_sessions_directory_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .sealed()
        .arg("-C")
        .arg(dir.path())
        .args(["watch", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sessions init"));
}

#[test]
fn watch_reports_agents_starting_finishing_and_failing() {
    let dir = repo();
    sessions(dir.path(), &["new", "Agent work"]);
    let mut w = Watch::start(dir.path());
    sessions(
        dir.path(),
        &[
            "spawn",
            "agent",
            "--agent",
            "good",
            "--task",
            "succeed",
            "--",
            "sh",
            "-c",
            "sleep 0.3; echo SUMMARY: all done",
        ],
    );
    let started = w.expect("agent-started");
    assert_eq!(started["agent"], "good");
    let finished = w.expect("agent-finished");
    assert_eq!(finished["status"], "completed");
    assert_eq!(finished["exit_code"], 0);
    assert_eq!(finished["summary"], "all done");

    sessions(
        dir.path(),
        &[
            "spawn",
            "agent",
            "--agent",
            "bad",
            "--task",
            "fail",
            "--",
            "sh",
            "-c",
            "sleep 0.3; exit 3",
        ],
    );
    let failed = w.expect("agent-finished");
    assert_eq!(failed["agent"], "bad");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["exit_code"], 3);
}

#[test]
fn watch_reports_an_agent_killed_from_outside_as_lost() {
    let dir = repo();
    sessions(dir.path(), &["new", "Lost work"]);
    sessions(
        dir.path(),
        &[
            "spawn", "lost", "--agent", "sleeper", "--task", "sleep", "--", "sleep", "30",
        ],
    );
    let mut w = Watch::start(dir.path());
    let record = std::fs::read_to_string(
        walk(&dir.path().join(".agents/state/runs"))
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("a run record"),
    )
    .unwrap();
    let rec: Value = serde_json::from_str(&record).unwrap();
    // Kill the supervisor first, then the agent: nobody is left to record the end.
    for key in ["supervisor_pid", "pid"] {
        if let Some(pid) = rec[key].as_i64() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
    // Any later change makes watch look again; a listing also reconciles and writes back.
    std::thread::sleep(Duration::from_millis(200));
    sessions(dir.path(), &["list"]);
    let lost = w.expect("agent-lost");
    assert_eq!(lost["agent"], "sleeper");
    assert_eq!(lost["reason"], "lost");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
