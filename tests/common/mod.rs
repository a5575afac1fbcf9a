//! A throwaway repository and a way to run the built `sessions` binary in it, in the spirit of
//! ripgrep's `tests/util.rs` and jj's `TestEnvironment`: every test gets its own temp dir with a
//! `.git/` marker, writes the files it needs, runs the binary and looks at what came out.

#![allow(dead_code)] // Each test crate uses a different part of this module.

#[path = "../outside/mod.rs"]
mod outside;
#[allow(unused_imports)]
pub use outside::{Sealed, shared_corpus, skip_note};

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

/// A session file that passes every rule, named [`VALID_NAME`]. Line numbers used by tests:
/// 3 title, 4 status, 5 created, 6 last_updated, 8 current_task, 12 `## Context`.
pub const VALID: &str = "\
---
session:
  title: \"Weather API fallback\"
  status: in_progress
  created: \"2025-12-04T14:30:00Z\"
  last_updated: \"2025-12-04T15:10:00Z\"
orchestration:
  current_task: \"Implement fallback chain\"
---
# Session: Weather API fallback

## Context

Providers time out.

## Current State

Two providers wired.

## Next Steps

- [x] add provider A
- [ ] add provider B
- [ ] document the chain
";

pub const VALID_NAME: &str = "20251204-143000-weather-api.md";

/// How long a command may run before the harness calls it hung and kills it. Not a speed
/// limit (speed is measured in `benches/`): only there so that a hang fails instead of
/// stalling the suite, generous enough for a debug build on two busy cores.
pub const HANG_GUARD: Duration = Duration::from_secs(300);

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Output {
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(self.code, expected, "unexpected exit code\n{self}");
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    /// Asserts no panic or Rust debug dump reached the person.
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        for bad in ["panicked", "RUST_BACKTRACE", "stack overflow"] {
            assert!(!self.stderr.contains(bad), "`{bad}` on stderr\n{self}");
        }
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub struct TestRepo {
    dir: TempDir,
}

impl TestRepo {
    /// An empty repository: a temp dir with a `.git/` directory and nothing else.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sessions-test-")
            .tempdir()
            .expect("temp dir");
        fs::create_dir(dir.path().join(".git")).expect("create .git");
        TestRepo { dir }
    }

    /// A repository after `sessions init`.
    pub fn init() -> Self {
        let repo = Self::new();
        repo.run(&["init"]).ok();
        repo
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.path(".agents/sessions")
    }

    /// Writes `contents` at `rel` (creating parent directories); returns the full path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("create parent dirs");
        fs::write(&path, contents).expect("write file");
        path
    }

    /// Writes a session file into `.agents/sessions/`.
    pub fn session(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        self.write(&format!(".agents/sessions/{name}"), contents)
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// `sessions` with its working directory set to the repository root.
    pub fn cmd(&self) -> assert_cmd::Command {
        self.cmd_in(self.root())
    }

    /// `sessions` started in `dir`, with a clean, colourless environment.
    pub fn cmd_in(&self, dir: &Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("sessions").expect("binary built");
        cmd.sealed();
        cmd.current_dir(dir)
            .env_remove("CLAUDE_ENV_FILE")
            // The test process would count as the agent that ran the hooks.
            .env("SESSIONS_PROCESS_TREE", "off")
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .timeout(HANG_GUARD);
        cmd
    }

    /// Runs `sessions ARGS` in the repository root.
    pub fn run(&self, args: &[&str]) -> Output {
        run(self.cmd().args(args))
    }

    /// Runs `sessions -C <root> ARGS` from somewhere else (the system temp dir).
    pub fn run_with_c(&self, args: &[&str]) -> Output {
        let elsewhere = std::env::temp_dir();
        let mut cmd = self.cmd_in(&elsewhere);
        cmd.arg("-C").arg(self.root()).args(args);
        run(&mut cmd)
    }

    /// Every file under the repository (relative paths, sorted), `.git/` excluded.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_files(self.root(), self.root(), &mut out);
        out.sort();
        out
    }

    /// The session files' names, sorted.
    pub fn session_names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.sessions_dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Default for TestRepo {
    fn default() -> Self {
        Self::new()
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_files(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .expect("below root")
                    .display()
                    .to_string(),
            );
        }
    }
}

/// Runs a prepared command and captures its output (a timeout counts as exit code -1).
pub fn run(cmd: &mut assert_cmd::Command) -> Output {
    let out = cmd.output().expect("run sessions");
    Output {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// An RFC 3339 UTC timestamp `ago` before now, to the second.
pub fn ago(ago: Duration) -> String {
    let t = chrono::Utc::now() - chrono::Duration::from_std(ago).expect("duration in range");
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A valid session body with the given frontmatter values (name rules aside).
pub fn session_text(title: &str, status: &str, created: &str, updated: &str, task: &str) -> String {
    format!(
        "---\nsession:\n  title: \"{title}\"\n  status: {status}\n  created: \"{created}\"\n  last_updated: \"{updated}\"\norchestration:\n  current_task: \"{task}\"\n---\n# Session: {title}\n\n## Context\n\nc\n\n## Current State\n\ns\n\n## Next Steps\n\n- [ ] n\n"
    )
}

/// The file name `new` would give a session created at the RFC 3339 time `created`.
pub fn name_for(created: &str, slug: &str) -> String {
    let digits: String = created.chars().filter(char::is_ascii_digit).collect();
    format!("{}-{}-{slug}.md", &digits[..8], &digits[8..14])
}
