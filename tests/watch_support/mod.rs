//! Shared by the `sessions watch` tests that read its human output (`watch_tty.rs` through
//! tmux, `watch_output.rs` through a pipe): a throwaway repository, the built binary, fake
//! agents, and a reader of the watcher's stdout with timeouts.

#![allow(dead_code)] // Each test crate uses a different part of this module.

#[path = "../outside/mod.rs"]
mod outside;
#[allow(unused_imports)]
pub use outside::{Sealed, shared_corpus, skip_note};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a test waits for the watcher to show something. Generous: the suite runs in
/// parallel on small machines, and a fresh supervisor can be slow to be scheduled.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sessions"))
}

/// Runs `sessions -C dir ARGS…`, which must succeed, and returns its stdout.
pub fn sessions(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .sealed()
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A temp repository (`.git/` marker + `sessions init`), optionally with `log_cap` set.
pub fn repo_with(log_cap: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    sessions(dir.path(), &["init"]);
    if let Some(cap) = log_cap {
        let config = dir.path().join(".agents/config.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(
            text.contains("\nlog_cap: 50MB\n"),
            "config template changed"
        );
        std::fs::write(
            &config,
            text.replace("\nlog_cap: 50MB\n", &format!("\nlog_cap: {cap}\n")),
        )
        .unwrap();
    }
    dir
}

pub fn repo() -> tempfile::TempDir {
    repo_with(None)
}

/// `sessions new TITLE`; returns the file's absolute path.
pub fn new_session(dir: &Path, title: &str) -> PathBuf {
    dir.join(sessions(dir, &["new", title]).trim())
}

/// The stem (session id) of a session file.
pub fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Breaks a valid session file the way an editor might (`## Context` → `### Context`) and
/// returns the 1-based line of the broken heading, where `section-missing` points.
pub fn break_context(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let broken = text.replacen("\n## Context\n", "\n### Context\n", 1);
    assert_ne!(broken, text, "no `## Context` in {}", path.display());
    std::fs::write(path, &broken).unwrap();
    broken
        .lines()
        .position(|l| l == "### Context")
        .map(|i| i + 1)
        .unwrap()
}

/// `sessions spawn SESSION --agent AGENT --task … -- sh -c SCRIPT`; returns the run id.
pub fn spawn_sh(dir: &Path, session: &str, agent: &str, script: &str) -> String {
    let out = sessions(
        dir,
        &[
            "spawn", session, "--agent", agent, "--task", "fake", "--json", "--", "sh", "-c",
            script,
        ],
    );
    let runs: Value = serde_json::from_str(&out).expect("spawn --json prints JSON");
    runs[0]["run_id"].as_str().expect("a run id").to_string()
}

/// A running `sessions watch …` with stdout on a pipe (so not a terminal), read line by line
/// on a thread. Killed when dropped.
pub struct Watcher {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far, in order.
    pub seen: Vec<String>,
}

impl Watcher {
    pub fn start(dir: &Path, args: &[&str]) -> Watcher {
        let mut child = Command::new(bin())
            .sealed()
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Lines on stderr arrive marked, so tests can tell the two apart.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx2.send(format!("stderr: {line}")).is_err() {
                    break;
                }
            }
        });
        Watcher {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line for which `pred` holds, within `within`; `None` on timeout. Lines
    /// skipped on the way are kept in `seen` too.
    pub fn wait_within(&mut self, within: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return Some(l);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Like [`Watcher::wait_within`] with [`PATIENCE`], failing the test on timeout.
    pub fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        match self.wait_within(PATIENCE, pred) {
            Some(l) => l,
            None => panic!(
                "no line with {what} within {PATIENCE:?}; output so far:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    /// Sends SIGINT (what Ctrl-C sends) and waits up to `within` for the process to exit.
    pub fn interrupt(&mut self, within: Duration) -> Option<ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        self.wait_exit(within)
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reads into `seen` whatever arrives within `within`, or until stdout closes.
    pub fn drain(&mut self, within: Duration) {
        self.wait_within(within, |_| false);
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 20 ms for up to `within`.
pub fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until every run of `session` has ended (has `ended_at`), then half a second more
/// for the last writes (run record, session write-back) to be seen. `watch --logs` loses a
/// Ctrl-C that arrives while it is debouncing (see the ignored test in `watch_output.rs`), so
/// tests that interrupt it wait for quiet first.
pub fn wait_until_runs_end(dir: &Path, session: &str) {
    let ended = eventually(PATIENCE, || {
        let runs: Value = serde_json::from_str(&sessions(dir, &["agents", session, "--json"]))
            .expect("agents --json prints JSON");
        runs.as_array()
            .is_some_and(|a| a.iter().all(|r| !r["ended_at"].is_null()))
    });
    assert!(
        ended,
        "the runs of {session} did not end within {PATIENCE:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
}
