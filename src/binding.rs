//! Which session file an agent conversation works in, and which conversation a command runs
//! in. A binding is a small file under `.agents/state/bindings/`, one per conversation, so
//! several conversations on one repository each write to their own session.
//!
//! The conversation is resolved the same way by every command ([`current`]): `--conversation`,
//! then `SESSIONS_CONVERSATION_ID` (exported through Claude's `CLAUDE_ENV_FILE`), then the
//! agents' own variables, then the process tree ([`proctree`]). The result says how it was
//! found, so `status` can tell the person. See `docs/bindings.md` for the rules.

pub mod proctree;
pub mod subagents;
pub mod transcript;

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::Repo;

/// Environment variables that carry the conversation id into agent-run commands, in the
/// order they are tried: ours (exported through `CLAUDE_ENV_FILE` at SessionStart), then the
/// ones Claude Code, Codex and Gemini set themselves.
pub const CONVERSATION_VARS: [&str; 4] = [
    "SESSIONS_CONVERSATION_ID",
    "CLAUDE_CODE_SESSION_ID",
    "CODEX_THREAD_ID",
    "GEMINI_SESSION_ID",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Binding {
    pub conversation: String,
    /// The session file, relative to the repository root.
    pub session: String,
    pub bound_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<BoundRun>,
    /// What made the binding (`new`, `resume`, `spawn`, `transcript`, `clear`); absent in
    /// bindings written by older versions, which were all explicit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// The background run a binding was made for (by `spawn`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BoundRun {
    pub agent: String,
    pub run_id: String,
    pub task: String,
}

impl Binding {
    /// A binding inferred rather than asked for (from the transcript, or carried over a
    /// `/clear`): fresh evidence from the transcript may replace it.
    pub fn is_inferred(&self) -> bool {
        matches!(self.via.as_deref(), Some("transcript" | "clear"))
    }
}

/// How the conversation of a command was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Found {
    /// `--conversation ID`.
    Flag,
    /// An environment variable (named).
    Env { var: String },
    /// A process among the command's ancestors that a hook recorded.
    ProcessTree { pid: u32, agent: String },
}

impl Found {
    /// For messages: "--conversation", "$CLAUDE_CODE_SESSION_ID", "the process tree (…)".
    pub fn describe(&self) -> String {
        match self {
            Found::Flag => "--conversation".into(),
            Found::Env { var } => format!("${var}"),
            Found::ProcessTree { pid, agent } => {
                format!("the process tree ({agent} process {pid}, recorded by its hooks)")
            }
        }
    }
}

/// The conversation a command runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conversation {
    pub id: String,
    pub found: Found,
}

fn clean(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The conversation this command runs in: `explicit` (`--conversation`), else the first of
/// [`CONVERSATION_VARS`] that is set, else the closest ancestor process a hook recorded.
pub fn current(repo: &Repo, explicit: Option<&str>) -> Option<Conversation> {
    if let Some(id) = explicit.and_then(clean) {
        return Some(Conversation {
            id,
            found: Found::Flag,
        });
    }
    for var in CONVERSATION_VARS {
        if let Some(id) = std::env::var(var).ok().as_deref().and_then(clean) {
            return Some(Conversation {
                id,
                found: Found::Env { var: var.into() },
            });
        }
    }
    let (proc, rec) = proctree::find(repo)?;
    Some(Conversation {
        id: rec.conversation,
        found: Found::ProcessTree {
            pid: proc.pid,
            agent: rec.agent,
        },
    })
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

/// Binds `conversation` to the session at `session`; `via` says what made the binding.
pub fn bind(repo: &Repo, conversation: &str, session: &Path, via: &str, now: &str) -> Result<()> {
    write_binding(repo, conversation, session, None, Some(via), now)
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
    write_binding(repo, conversation, session, Some(run), Some("spawn"), now)
}

/// Binds `conversation` to what `from` is bound to, run included (a `/clear` in the same
/// process).
pub fn carry(repo: &Repo, conversation: &str, from: &Binding, now: &str) -> Result<()> {
    write_binding(
        repo,
        conversation,
        &repo.root.join(&from.session),
        from.run.clone(),
        Some("clear"),
        now,
    )
}

fn write_binding(
    repo: &Repo,
    conversation: &str,
    session: &Path,
    run: Option<BoundRun>,
    via: Option<&str>,
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
        via: via.map(str::to_owned),
    };
    let text = serde_json::to_string_pretty(&b).unwrap_or_default();
    crate::write::write_atomic(&path, &text)
}

/// The binding of `conversation`, whether or not its file still exists.
pub fn read(repo: &Repo, conversation: &str) -> Option<Binding> {
    let text = fs::read_to_string(binding_path(repo, conversation)).ok()?;
    let b: Binding = serde_json::from_str(&text).ok()?;
    (b.conversation == conversation).then_some(b)
}

/// The session file `conversation` is bound to, if the binding and the file both exist.
pub fn lookup(repo: &Repo, conversation: &str) -> Option<PathBuf> {
    read(repo, conversation).and_then(|b| existing(repo, &b))
}

/// The binding's session file, if it still exists.
pub fn existing(repo: &Repo, b: &Binding) -> Option<PathBuf> {
    let path = repo.root.join(&b.session);
    path.is_file().then_some(path)
}
