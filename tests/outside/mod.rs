//! What the suite takes from outside itself, and how little.
//!
//! The environment is sealed off: the suite is often run inside an agent conversation (Claude
//! Code, Codex, Gemini) or a tmux pane, whose variables would otherwise bind the binary under
//! test to the outer conversation or session, so every harness passes its commands through
//! [`Sealed::sealed`]. The shared corpus of real files (`../shared/corpus/` on the team's
//! machines) is optional: a fresh clone has none, and the tests that read it skip with a note.

#![allow(dead_code)] // Each test crate uses a different part of this module.

use std::path::PathBuf;

/// A directory of the shared corpus (`real-sessions`, `real-hooks/payloads`), or `None` after
/// printing why the calling test skips. `SHARED_DIR` points elsewhere than `../shared`.
pub fn shared_corpus(sub: &str) -> Option<PathBuf> {
    let base = std::env::var_os("SHARED_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")),
        PathBuf::from,
    );
    let dir = base.join("corpus").join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        skip_note(&format!(
            "the shared corpus is not at {} (a fresh clone has none; set SHARED_DIR)",
            dir.display()
        ));
        None
    }
}

/// Tells the person running the suite that a test skipped, and why. Written to the real
/// standard error, past the test harness's capture, so the note shows even when the test passes.
pub fn skip_note(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "note: {} skipped: {why}", current_test());
}

fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string()
}

/// Prefixes of the variables `sessions`, git or the agent clients read.
const FOREIGN: [&str; 15] = [
    "SESSIONS_",
    // A suite run from a git hook would otherwise point every git call at the outer repository.
    "GIT_",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "COLUMNS",
    "CLICOLOR",
    "CLAUDE",
    "CODEX_",
    "GEMINI_",
    "ANTHROPIC_",
    "OPENAI_",
    "GOOGLE_",
    "TMUX",
];

/// The names of the inherited variables a test must not pass on.
pub fn foreign_vars() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| FOREIGN.iter().any(|p| k.starts_with(p)))
        .collect()
}

pub trait Sealed {
    /// Removes every inherited agent, tmux, git, `SESSIONS_*`, `COLUMNS` and `CLICOLOR*` variable
    /// and gives the binary an empty home.
    fn sealed(&mut self) -> &mut Self;
}

/// An empty home for the binary under test, so nothing of the person's (`~/.claude`,
/// `~/.gitconfig`, `~/.config`) reaches it. Shared by the suite; nothing writes there.
pub fn scratch_home() -> PathBuf {
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("home");
    let _ = std::fs::create_dir_all(&home);
    home
}

impl Sealed for std::process::Command {
    fn sealed(&mut self) -> &mut Self {
        for k in foreign_vars() {
            self.env_remove(k);
        }
        self.env("HOME", scratch_home())
    }
}

impl Sealed for assert_cmd::Command {
    fn sealed(&mut self) -> &mut Self {
        for k in foreign_vars() {
            self.env_remove(k);
        }
        self.env("HOME", scratch_home())
    }
}
