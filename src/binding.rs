//! Which session file an agent conversation works in. A binding is a small file under
//! `.agents/state/bindings/`, one per conversation, so several conversations on one repository
//! each write to their own session. The conversation id comes from the hook input, from
//! `--conversation`, or from the environment the SessionStart hook exported.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::Repo;

/// Environment variables that carry the conversation id into agent-run commands:
/// ours (exported through `CLAUDE_ENV_FILE` at SessionStart), then Gemini's own.
pub const CONVERSATION_VARS: [&str; 2] = ["SESSIONS_CONVERSATION_ID", "GEMINI_SESSION_ID"];

#[derive(Debug, Serialize, Deserialize)]
pub struct Binding {
    pub conversation: String,
    /// The session file, relative to the repository root.
    pub session: String,
    pub bound_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<BoundRun>,
}

/// The background run a binding was made for (by `spawn`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BoundRun {
    pub agent: String,
    pub run_id: String,
    pub task: String,
}

/// The conversation id from `explicit`, else from the environment.
pub fn conversation_id(explicit: Option<&str>) -> Option<String> {
    explicit
        .map(str::to_owned)
        .or_else(|| CONVERSATION_VARS.iter().find_map(|v| std::env::var(v).ok()))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `<readable part>-<hash>.json`: the readable part helps a person find a binding; the hash
/// (FNV-1a of the whole id, stable across versions) keeps ids that differ only in characters
/// the file name cannot hold apart. `lookup` also compares the stored id.
pub fn binding_path(repo: &Repo, conversation: &str) -> PathBuf {
    let safe: String = conversation
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = conversation
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    repo.state_dir()
        .join("bindings")
        .join(format!("{safe}-{hash:016x}.json"))
}

/// Binds `conversation` to the session at `session`.
pub fn bind(repo: &Repo, conversation: &str, session: &Path, now: &str) -> Result<()> {
    write_binding(repo, conversation, session, None, now)
}

/// Binds the conversation `spawn` starts to the session it was spawned for, remembering the
/// run so the agent's SessionStart can tell it who it is.
pub fn bind_run(
    repo: &Repo,
    conversation: &str,
    session: &Path,
    run: BoundRun,
    now: &str,
) -> Result<()> {
    write_binding(repo, conversation, session, Some(run), now)
}

fn write_binding(
    repo: &Repo,
    conversation: &str,
    session: &Path,
    run: Option<BoundRun>,
    now: &str,
) -> Result<()> {
    let path = binding_path(repo, conversation);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| crate::error::Error::write(dir, e))?;
    }
    let b = Binding {
        conversation: conversation.into(),
        session: repo.display(session),
        bound_at: now.into(),
        run,
    };
    let text = serde_json::to_string_pretty(&b).unwrap_or_default();
    crate::write::write_atomic(&path, &text)
}

/// The session file `conversation` is bound to, if the binding and the file both exist.
pub fn lookup(repo: &Repo, conversation: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(binding_path(repo, conversation)).ok()?;
    let b: Binding = serde_json::from_str(&text).ok()?;
    if b.conversation != conversation {
        return None;
    }
    let path = repo.root.join(&b.session);
    path.is_file().then_some(path)
}
