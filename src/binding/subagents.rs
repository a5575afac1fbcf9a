//! Subagents active in a conversation, from SubagentStart / SubagentStop. A Claude subagent's
//! Bash tool has exactly its parent's environment and process tree, so a `sessions` command it
//! runs cannot be told from the parent's. What we can know is that a subagent is running: while
//! one is, `new` and `resume` leave the conversation's binding alone unless `--bind` is given.
//!
//! Starts and stops are not paired up by counting (`/compact` sends a SubagentStop with no
//! start): each start is a file named by `agent_id`, each stop removes its file. A stop that
//! never comes (Esc, a crash) must not block rebinding forever, so entries expire after
//! [`EXPIRY`], and the parent's own SessionStart and SessionEnd clear them.

use std::fs;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::Repo;

/// A subagent whose stop we never saw is forgotten after this long.
pub const EXPIRY: chrono::Duration = chrono::Duration::hours(2);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Subagent {
    pub agent_id: String,
    #[serde(default)]
    pub agent_type: String,
    /// RFC 3339.
    pub started_at: String,
}

impl Subagent {
    fn age(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        DateTime::parse_from_rfc3339(&self.started_at)
            .ok()
            .map(|t| now - t.with_timezone(&Utc))
    }
}

fn dir(repo: &Repo, conversation: &str) -> PathBuf {
    let binding = super::binding_path(repo, conversation);
    let stem = binding
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    repo.state_dir().join("subagents").join(stem)
}

fn file_name(agent_id: &str) -> String {
    let safe: String = agent_id
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{safe}.json")
}

/// Records that subagent `agent_id` started in `conversation`.
pub fn start(
    repo: &Repo,
    conversation: &str,
    agent_id: &str,
    agent_type: &str,
    now: DateTime<Utc>,
) -> std::io::Result<()> {
    let dir = dir(repo, conversation);
    fs::create_dir_all(&dir)?;
    let s = Subagent {
        agent_id: agent_id.into(),
        agent_type: agent_type.into(),
        started_at: crate::session::edit::timestamp(now),
    };
    fs::write(
        dir.join(file_name(agent_id)),
        serde_json::to_string(&s).unwrap_or_default(),
    )
}

/// Forgets subagent `agent_id` (nothing happens when it was never recorded).
pub fn stop(repo: &Repo, conversation: &str, agent_id: &str) {
    let _ = fs::remove_file(dir(repo, conversation).join(file_name(agent_id)));
}

/// Forgets every subagent of `conversation`.
pub fn clear(repo: &Repo, conversation: &str) {
    let _ = fs::remove_dir_all(dir(repo, conversation));
}

/// The subagents running in `conversation` now (expired ones are removed).
pub fn active(repo: &Repo, conversation: &str, now: DateTime<Utc>) -> Vec<Subagent> {
    let Ok(entries) = fs::read_dir(dir(repo, conversation)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let parsed = fs::read_to_string(entry.path())
            .ok()
            .and_then(|t| serde_json::from_str::<Subagent>(&t).ok());
        match parsed {
            Some(s) if s.age(now).is_some_and(|a| a < EXPIRY) => out.push(s),
            _ => {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    out.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    out
}
