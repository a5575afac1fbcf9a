//! The whole command surface, declared once with clap derive. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diagnostic::Format;

const AFTER_HELP: &str = "\
A SESSION is a path, a file stem, or any unique part of a stem or title.
Exit codes: 0 ok, 1 a check failed (validation, handoff readiness, ambiguous reference),
2 usage or environment error.

Start with:  sessions init && sessions new \"fix the login timeout\"";

/// Coordinate people and AI coding agents through Markdown session files.
///
/// Session files live in .agents/sessions/ as YAML frontmatter plus sections (Context, Current
/// State, Next Steps, …). `sessions` creates, validates and edits them without ever damaging
/// what a person wrote.
#[derive(Debug, Parser)]
#[command(name = "sessions", version, about, long_about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Run as if started in DIR.
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create .agents/sessions/, a commented .agents/config.yaml, and git-ignore state and logs.
    ///
    /// Safe to run again: existing files are left as they are.
    Init,

    /// Create a session file from the template and print its path.
    ///
    /// The file is .agents/sessions/YYYYMMDD-HHMMSS-<slug>.md (UTC). An issue key at the start
    /// of the description (`PLT-123 fix login`) goes into linear_issue, not the file name.
    New(NewArgs),

    /// Table of sessions: status, age, title, current task, agents, stale marker.
    #[command(visible_alias = "ls")]
    List(ListArgs),

    /// Summary of active sessions, or one session in detail.
    Status(StatusArgs),

    /// Print a session, or one of its sections.
    Show(ShowArgs),

    /// Check session files against the format rules.
    ///
    /// Every diagnostic has a rule id, a severity, file:line:column and a message saying how to
    /// fix it. Exits 1 when any error is found (or any warning, with --strict).
    Validate(ValidateArgs),

    /// Print a shell completion script (e.g. `sessions completions bash > ~/.local/share/bash-completion/completions/sessions`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// What the session is about; becomes the slug (and the title unless --title is given).
    pub description: String,
    /// Title (default: the description).
    #[arg(long)]
    pub title: Option<String>,
    /// Current task (default: the title).
    #[arg(long)]
    pub task: Option<String>,
    /// Issue key for linear_issue, e.g. PLT-123.
    #[arg(long, value_name = "KEY")]
    pub issue: Option<String>,
    /// Issue URL for linear_url.
    #[arg(long, value_name = "URL")]
    pub issue_url: Option<String>,
    /// Print the result as JSON ({path, id, title}).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    /// Most recently updated first
    Updated,
    /// Newest first
    Created,
    Title,
    /// in_progress, then paused, then completed
    Status,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only sessions with this status (repeatable): in_progress, paused, completed.
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<String>,
    /// Include completed sessions.
    #[arg(short, long)]
    pub all: bool,
    /// Sort order.
    #[arg(long, value_enum, default_value_t = SortKey::Updated)]
    pub sort: SortKey,
    /// Reverse the sort order.
    #[arg(short, long)]
    pub reverse: bool,
    /// Print a JSON array of {path, id, title, status, created, last_updated, current_task, agents, stale}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The session to show in detail; without it, a summary of active sessions.
    pub session: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub session: String,
    /// Print only this section's body (e.g. "Next Steps"; case-insensitive).
    #[arg(long, short, value_name = "NAME")]
    pub section: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or directories to check (default: the repository's sessions directory).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub strict: bool,
    /// Show only errors.
    #[arg(long, short)]
    pub quiet: bool,
}
