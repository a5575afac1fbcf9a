//! The library's error type. Every variant is a sentence a person can act on. The recurring
//! failures are named variants with typed fields (and the hint apart, so a web page can show
//! it on its own); one-off ones are `Usage`/`Check` with the sentence built where they happen.
//! Every error has a [`Kind`], which decides the exit code (SPEC §5: 1 when a check failed, 2
//! for usage and environment problems) and, for the coming web server, the HTTP status.
//! Errors of the agents engine and of the hooks installer stay typed (`Agents`, `Install`),
//! so their source chain survives.

use std::path::{Path, PathBuf};

use crate::agents;
use crate::hooks::InstallError;

/// What kind of failure an error is: one exit code for each, and one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A check failed (validation, not handoff-ready, a confirmation declined). Exit 1.
    Check,
    /// A reference names nothing. Exit 1.
    NotFound,
    /// A reference names more than one thing. Exit 1.
    Ambiguous,
    /// The state on disk forbids it now (the file changed underneath, agents still run). Exit 1.
    Conflict,
    /// Bad arguments. Exit 2.
    Usage,
    /// An environment we cannot work in (no sessions directory, unreadable files). Exit 2.
    Environment,
    /// Another process holds what we need (a lock). Exit 2.
    Busy,
}

impl Kind {
    /// The process exit code (SPEC §5).
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Check | Kind::NotFound | Kind::Ambiguous | Kind::Conflict => 1,
            Kind::Usage | Kind::Environment | Kind::Busy => 2,
        }
    }

    /// The HTTP status a web server answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Kind::Check => 422,
            Kind::NotFound => 404,
            Kind::Ambiguous | Kind::Conflict => 409,
            Kind::Usage => 400,
            Kind::Environment => 500,
            Kind::Busy => 503,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments or an environment we cannot work in.
    #[error("{0}")]
    Usage(String),
    /// A check failed: the message explains it. Exit code 1.
    #[error("{0}")]
    Check(String),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid UTF-8 (first bad byte at offset {offset}); fix its encoding in an editor", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{} is {kind}, not a regular file; sessions does not open it (remove it or replace it with a session file)", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is {size} bytes, over the {limit}-byte limit for session files; trim it", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// `.agents/sessions/` does not exist. `dir` as shown.
    #[error("no sessions directory at {dir}; {hint}")]
    NotInitialised { dir: String, hint: &'static str },
    /// A `SESSION` reference matches no session. `dir`: the sessions directory as shown;
    /// `close`: the sessions whose name or title is close to it (stem, title).
    #[error(
        "no session matches `{reference}` in {dir}; {}",
        did_you_mean(close, hint)
    )]
    NoSuchSession {
        reference: String,
        dir: String,
        hint: &'static str,
        close: Vec<(String, String)>,
    },
    /// A `SESSION` reference matches several sessions: their stems and titles.
    #[error("`{reference}` matches {} sessions; {hint}:\n{}", matches.len(), listing(matches))]
    Ambiguous {
        reference: String,
        matches: Vec<(String, String)>,
        hint: &'static str,
    },
    /// A `SESSION:AGENT|RUN` selector matches none of the session's runs. `runs` describes
    /// them (`; its runs: …`).
    #[error("no run of {session} matches `{selector}`{runs}")]
    NoSuchRun {
        session: String,
        selector: String,
        runs: String,
    },
    /// A symlink that leads out of the repository (`path` as shown); the hint says what is
    /// refused.
    #[error("{path} is a symlink leading outside the repository; {hint}")]
    SymlinkOutside { path: String, hint: &'static str },
    /// A file to write that is not under the repository's sessions directory.
    #[error("{} is outside this repository's {sessions_dir}; {hint}", path.display())]
    OutsideRepository {
        path: PathBuf,
        sessions_dir: String,
        hint: &'static str,
    },
    /// Another writer held the file's lock for the whole timeout; `holder` says who and what
    /// to do.
    #[error("another process has held the lock on {path} for {secs:.1}s{holder}")]
    LockBusy {
        path: String,
        secs: f64,
        holder: String,
    },
    /// The file changed while the command ran, and the edit no longer applies to it.
    #[error(
        "{path} changed while this command ran, and the edit no longer applies: {reason}\nWhat changed:\n{diff}"
    )]
    ChangedUnderneath {
        path: String,
        reason: String,
        diff: String,
    },
    /// Background agents of the session still run (close, delete).
    #[error("{path} has {running} background agent(s) running; {hint}")]
    AgentsRunning {
        path: String,
        running: usize,
        hint: String,
    },
    /// `spawn --agent NAME` with no such agent configured. `known` lists the configured ones.
    #[error("no agent named `{name}` ({known}); {hint}")]
    UnknownAgent {
        name: String,
        known: String,
        hint: String,
    },
    #[error(transparent)]
    Agents(#[from] agents::Error),
    #[error(transparent)]
    Install(#[from] InstallError),
    /// A view that cannot be serialised (a bug, never expected).
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

fn did_you_mean(close: &[(String, String)], hint: &str) -> String {
    if close.is_empty() {
        hint.to_string()
    } else {
        format!("did you mean:\n{}", listing(close))
    }
}

/// One `stem  title` line per session, the titles aligned.
fn listing(matches: &[(String, String)]) -> String {
    let width = matches
        .iter()
        .map(|(stem, _)| unicode_width::UnicodeWidthStr::width(stem.as_str()))
        .max()
        .unwrap_or(0);
    let lines: Vec<String> = matches
        .iter()
        .map(|(stem, title)| {
            let pad = width - unicode_width::UnicodeWidthStr::width(stem.as_str());
            format!("  {stem}{}  {title}", " ".repeat(pad))
                .trim_end()
                .to_string()
        })
        .collect();
    lines.join("\n")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::Check(_) => Kind::Check,
            Error::NoSuchSession { .. } | Error::NoSuchRun { .. } => Kind::NotFound,
            Error::Ambiguous { .. } => Kind::Ambiguous,
            Error::ChangedUnderneath { .. } | Error::AgentsRunning { .. } => Kind::Conflict,
            Error::LockBusy { .. } => Kind::Busy,
            Error::Usage(_)
            | Error::UnknownAgent { .. }
            | Error::SymlinkOutside { .. }
            | Error::OutsideRepository { .. }
            | Error::Install(InstallError::LocalUnsupported { .. })
            | Error::Agents(agents::Error::Invalid(_)) => Kind::Usage,
            Error::Read { .. }
            | Error::Write { .. }
            | Error::NotUtf8 { .. }
            | Error::NotRegular { .. }
            | Error::TooLarge { .. }
            | Error::NotInitialised { .. }
            | Error::Agents(_)
            | Error::Install(_)
            | Error::Json(_) => Kind::Environment,
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.kind().exit_code()
    }

    /// What to do about it, where the variant carries a hint apart from the sentence.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::NotInitialised { hint, .. }
            | Error::NoSuchSession { hint, .. }
            | Error::Ambiguous { hint, .. }
            | Error::SymlinkOutside { hint, .. }
            | Error::OutsideRepository { hint, .. } => Some(hint),
            Error::AgentsRunning { hint, .. } | Error::UnknownAgent { hint, .. } => Some(hint),
            _ => None,
        }
    }

    pub fn read(path: &Path, source: std::io::Error) -> Self {
        Error::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn write(path: &Path, source: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_the_exit_codes() {
        let not_found = Error::NoSuchSession {
            reference: "x".into(),
            dir: ".agents/sessions".into(),
            hint: "run `sessions list --all` to see them",
            close: Vec::new(),
        };
        assert_eq!(not_found.exit_code(), 1);
        assert_eq!(not_found.kind().http_status(), 404);
        let busy = Error::LockBusy {
            path: "a.md".into(),
            secs: 1.0,
            holder: String::new(),
        };
        assert_eq!(busy.exit_code(), 2);
        assert_eq!(
            Error::from(agents::Error::TmuxMissing).exit_code(),
            2,
            "agents errors exit 2 as before"
        );
    }

    #[test]
    fn ambiguous_lists_the_matches() {
        let e = Error::Ambiguous {
            reference: "fix".into(),
            matches: vec![("a-fix".into(), "A".into()), ("b-fix".into(), "B".into())],
            hint: "use more of the name",
        };
        assert_eq!(
            e.to_string(),
            "`fix` matches 2 sessions; use more of the name:\n  a-fix  A\n  b-fix  B"
        );
        assert_eq!(e.kind().http_status(), 409);
    }
}
