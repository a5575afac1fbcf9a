//! `SESSION`, `SESSION:AGENT` or `SESSION:RUN_ID`: the run targets `agents`, `logs`, `kill` and
//! `attach` take, resolved against the repository and its run records.

use std::path::{Path, PathBuf};

use crate::agents::record::RunRecord;
use crate::agents::sync::Runs;
use crate::error::{Error, Result};
use crate::store::{Repo, SessionId};

/// A unique prefix of a run id names the run from this many characters on.
const MIN_RUN_PREFIX: usize = 4;

/// `SESSION`, `SESSION:AGENT` or `SESSION:RUN_ID` (a unique prefix of at least 4 characters
/// works too). A session whose file was deleted is still found by its exact stem while it has
/// run records. Inside a bound conversation the SESSION may be left out: nothing, `:AGENT` or
/// `:RUN_ID` mean the bound session (a bare word is always a SESSION).
#[derive(Debug)]
pub struct Target {
    pub session: SessionId,
    pub selector: Option<String>,
    /// As typed, for messages.
    pub text: String,
}

impl Target {
    /// Parses `text` (relative paths from `cwd`); `bound` gives the session a left-out SESSION
    /// means (the conversation's, or an error saying why there is none).
    pub fn parse(
        repo: &Repo,
        cwd: &Path,
        text: Option<&str>,
        bound: impl FnOnce() -> Result<PathBuf>,
    ) -> Result<Target> {
        let Some(text) = text else {
            let session = SessionId::of(&bound()?);
            return Ok(Target {
                text: session.to_string(),
                session,
                selector: None,
            });
        };
        if let Some(selector) = text.strip_prefix(':')
            && !selector.is_empty()
        {
            let session = SessionId::of(&bound()?);
            return Ok(Target {
                text: format!("{session}:{selector}"),
                session,
                selector: Some(selector.to_string()),
            });
        }
        let with = |session: SessionId, selector: Option<&str>| Target {
            session,
            selector: selector.map(str::to_owned),
            text: text.to_string(),
        };
        if let Some((session, selector)) = text.rsplit_once(':')
            && !session.is_empty()
            && !selector.is_empty()
            && !selector.contains('/')
        {
            return match session_of(repo, cwd, session) {
                Ok(id) => Ok(with(id, Some(selector))),
                Err(e) => session_of(repo, cwd, text)
                    .map(|id| with(id, None))
                    .map_err(|_| e),
            };
        }
        Ok(with(session_of(repo, cwd, text)?, None))
    }

    /// Whether a run of this session (by agent and id) is one this target names.
    pub fn names(&self, agent: &str, run_id: &str) -> bool {
        self.selector.as_deref().is_none_or(|sel| {
            agent == sel
                || run_id == sel
                || (sel.len() >= MIN_RUN_PREFIX && run_id.starts_with(sel))
        })
    }

    /// The session's runs this target names (all of them without a selector); an error when a
    /// selector matches none.
    pub fn select<'a>(&self, runs: &'a Runs) -> Result<Vec<&'a (PathBuf, RunRecord)>> {
        let all: Vec<&(PathBuf, RunRecord)> = runs.of(self.session.as_str()).collect();
        let hit: Vec<_> = all
            .iter()
            .copied()
            .filter(|(_, r)| self.names(&r.agent, &r.id))
            .collect();
        match &self.selector {
            Some(sel) if hit.is_empty() => Err(Error::NoSuchRun {
                session: self.session.to_string(),
                selector: sel.clone(),
                runs: describe(&all),
            }),
            _ => Ok(hit),
        }
    }
}

/// `; its runs: claude 3fa9c2d1 (running), …` for messages.
pub fn describe(runs: &[&(PathBuf, RunRecord)]) -> String {
    if runs.is_empty() {
        return "; it has no agent runs".into();
    }
    let list: Vec<String> = runs
        .iter()
        .map(|(_, r)| format!("{} {} ({})", r.agent, r.id, r.status.display()))
        .collect();
    format!("; its runs: {}", list.join(", "))
}

/// The session a reference names; a session whose file is gone still counts while it has
/// run records.
fn session_of(repo: &Repo, cwd: &Path, reference: &str) -> Result<SessionId> {
    match repo.resolve(reference, cwd) {
        Ok(path) => Ok(SessionId::of(&path)),
        Err(e) => {
            let stem = reference.strip_suffix(".md").unwrap_or(reference);
            match SessionId::parse(stem) {
                Some(id) if repo.runs_dir(&id).is_dir() => Ok(id),
                _ => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(selector: Option<&str>) -> Target {
        Target {
            session: SessionId::from_record("20250101-000000-a"),
            selector: selector.map(str::to_owned),
            text: String::new(),
        }
    }

    #[test]
    fn a_selector_names_an_agent_an_id_or_a_long_enough_prefix() {
        assert!(target(None).names("claude", "3fa9c2d1"));
        assert!(target(Some("claude")).names("claude", "3fa9c2d1"));
        assert!(target(Some("3fa9c2d1")).names("claude", "3fa9c2d1"));
        assert!(target(Some("3fa9")).names("claude", "3fa9c2d1"));
        assert!(!target(Some("3fa")).names("claude", "3fa9c2d1"));
        assert!(!target(Some("codex")).names("claude", "3fa9c2d1"));
    }
}
