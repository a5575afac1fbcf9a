//! A temp repository with one session, the built `sessions` binary, fake agents (shell
//! scripts) and polling helpers for the background-agent tests.

#![allow(dead_code)]

#[path = "../outside/mod.rs"]
mod outside;
#[allow(unused_imports)]
pub use outside::{Sealed, shared_corpus, skip_note};

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a test waits for a background run to reach a state. Generous: a loaded 2-core
/// machine running the suite in parallel can be slow to schedule a fresh supervisor.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub struct Repo {
    pub dir: tempfile::TempDir,
    /// A private tmux server directory, so tests never touch a person's tmux.
    pub tmux_dir: tempfile::TempDir,
    pub stem: String,
    pub path: PathBuf,
}

impl Repo {
    /// A `.git/` marker, `sessions init` + `sessions new "weather fallback"`. The marker keeps
    /// the repository from being found further up (a stray `/tmp/.agents` would capture it).
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        let tmux_dir = tempfile::Builder::new()
            .prefix("tx")
            .tempdir_in("/tmp")
            .unwrap();
        let mut repo = Repo {
            dir,
            tmux_dir,
            stem: String::new(),
            path: PathBuf::new(),
        };
        repo.ok(&["init"]);
        let out = repo.ok(&["new", "weather fallback", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        repo.stem = v["id"].as_str().unwrap().to_string();
        repo.path = repo.root().join(v["path"].as_str().unwrap());
        repo
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sessions"));
        c.sealed();
        c.args(args)
            .current_dir(self.root())
            .env("SESSIONS_ACTOR", "tester")
            .env("TMUX_TMPDIR", self.tmux_dir.path())
            .env_remove("TMUX")
            .env_remove("CLAUDE_ENV_FILE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts exit code 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sessions {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Puts `agents` (YAML) under the config's `agents:` mapping in place of the agents `init`
    /// defined, and appends other top-level keys.
    pub fn configure(&self, agents: &str, extra: &str) {
        let path = self.root().join(".agents/config.yaml");
        let text = fs::read_to_string(&path).unwrap();
        let (head, rest) = text.split_once("\nagents:\n").unwrap();
        let after: String = rest
            .split_inclusive('\n')
            .skip_while(|l| l.starts_with(' '))
            .collect();
        let text = format!("{head}\nagents:\n{agents}{after}");
        fs::write(&path, format!("{text}\n{extra}\n")).unwrap();
    }

    /// An executable shell script in the repository.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.root().join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// `spawn … --json`, asserting success; the started runs.
    pub fn spawn(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["spawn", self.stem.as_str(), "--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    }

    pub fn agents(&self) -> Vec<Value> {
        let out = self.ok(&["agents", "--all", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn agent(&self, run_id: &str) -> Value {
        self.agents()
            .into_iter()
            .find(|r| r["run_id"] == run_id)
            .unwrap_or_else(|| panic!("run {run_id} not listed"))
    }

    /// Polls `agents --json` until the run's status is `status`.
    pub fn wait_status(&self, run_id: &str, status: &str) -> Value {
        let start = Instant::now();
        loop {
            let r = self.agent(run_id);
            if r["status"] == status {
                return r;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "run {run_id} never became {status}: {r:#}\nlog:\n{}",
                self.log_of(&r)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls the session file until `pred` holds.
    pub fn wait_file(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = self.text();
            if pred(&text) {
                return text;
            }
            assert!(start.elapsed() < PATIENCE, "file never had {what}:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn text(&self) -> String {
        fs::read_to_string(&self.path).unwrap()
    }

    pub fn log_of(&self, run: &Value) -> String {
        fs::read_to_string(self.root().join(run["log"].as_str().unwrap_or_default()))
            .unwrap_or_default()
    }

    /// The raw run record (bookkeeping under .agents/state/).
    pub fn record(&self, run_id: &str) -> Value {
        let path = self.record_path(run_id);
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
    }

    pub fn record_path(&self, run_id: &str) -> PathBuf {
        self.root()
            .join(".agents/state/runs")
            .join(&self.stem)
            .join(format!("{run_id}.json"))
    }

    /// Polls the record until the agent's pid is known.
    pub fn wait_running(&self, run_id: &str) -> Value {
        let start = Instant::now();
        loop {
            let r = self.record(run_id);
            if r["status"] == "running" && r["pid"].is_u64() {
                return r;
            }
            assert!(start.elapsed() < PATIENCE, "run never ran: {r:#}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `/proc/<pid>/stat` fields: (state, pgrp, start time).
pub fn stat(pid: u64) -> Option<(char, i64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f[0].chars().next()?,
        f[2].parse().ok()?,
        f[19].parse().ok()?,
    ))
}

/// Live (non-zombie) processes of a process group.
pub fn group_members(pgid: i64) -> Vec<u64> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .filter(|&pid| matches!(stat(pid), Some((s, g, _)) if g == pgid && s != 'Z' && s != 'X'))
        .collect()
}

pub fn alive(pid: u64) -> bool {
    matches!(stat(pid), Some((s, _, _)) if s != 'Z' && s != 'X')
}

/// Polls until `cond` holds.
pub fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
