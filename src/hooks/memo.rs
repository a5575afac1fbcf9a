//! What the hooks remember about one conversation between events, under
//! `.agents/state/hooks/` (git-ignored machine bookkeeping, never session data):
//!
//! - the fingerprints of the session state and of the listing last injected, so a resume or
//!   compaction does not repeat a block the transcript already holds;
//! - a PreCompact that is not proof of a compaction (Gemini fires PreCompress on every turn),
//!   kept as a marker until a SessionStart with `source=compact` confirms it.
//!
//! Losing this file costs at most one repeated context or one unlogged compaction, so every
//! read failure reads as "nothing remembered" and writes are best effort.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::store::Repo;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memo {
    pub conversation: String,
    /// Fingerprint of the last re-injected session block, and the file it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected: Option<Injected>,
    /// Fingerprint of the last listing of other sessions shown to a bound conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<String>,
    /// A PreCompact/PreCompress not yet confirmed by a compaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_compaction: Option<PendingCompaction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    pub session: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCompaction {
    pub trigger: String,
    pub at: String,
}

/// `.agents/state/hooks/<name>.json`, the name derived from the id as bindings are.
pub fn memo_path(repo: &Repo, conversation: &str) -> PathBuf {
    let binding = crate::binding::binding_path(repo, conversation);
    let name = binding
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "conversation.json".into());
    repo.state_dir().join("hooks").join(name)
}

impl Memo {
    /// What is remembered for `conversation` (empty when nothing or unreadable).
    pub fn load(repo: &Repo, conversation: &str) -> Memo {
        let path = memo_path(repo, conversation);
        // Never open anything but a regular file: a FIFO would block the hook.
        let memo = fs::metadata(&path)
            .ok()
            .filter(|m| m.is_file() && m.len() < 64 * 1024)
            .and_then(|_| fs::read_to_string(&path).ok())
            .and_then(|t| serde_json::from_str::<Memo>(&t).ok())
            .filter(|m| m.conversation == conversation);
        memo.unwrap_or_else(|| Memo {
            conversation: conversation.to_string(),
            ..Memo::default()
        })
    }

    /// Writes the memo (or removes it when empty); failures are returned for one stderr line.
    pub fn save(&self, repo: &Repo) -> crate::error::Result<()> {
        let path = memo_path(repo, &self.conversation);
        if self.injected.is_none() && self.listed.is_none() && self.pending_compaction.is_none() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(crate::error::Error::write(&path, e))
                }
                _ => Ok(()),
            };
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| crate::error::Error::write(dir, e))?;
        }
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        crate::write::write_atomic(&path, &text)
    }
}
