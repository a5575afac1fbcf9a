//! The whole command surface, declared once with clap derive. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diagnostic::Format;

mod agents;
mod talk;
pub use agents::*;
pub use talk::*;

const AFTER_HELP: &str = "\
A SESSION is a path, a file stem, or any unique part of a stem or title. Inside an agent
conversation bound to a session (`sessions status` says which), SESSION may be omitted.
Exit codes: 0 ok, 1 a check failed (validation, handoff readiness, ambiguous reference),
2 usage or environment error.

Start with:  sessions init && sessions new \"fix the login timeout\"";

const LOG_HELP: &str = "\
Examples:
  sessions log weather \"Provider B wired\"   into the session `weather` names
  sessions log \"Provider B wired\"           into the session this conversation is bound to
  make test 2>&1 | sessions log weather -     the entry from standard input

One argument is always the MESSAGE; two are SESSION and MESSAGE, and then SESSION must name a
session: a typo is an error, never a message. A single argument that is exactly a session's
file stem is refused too (the message is missing).";

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

    /// The agent conversation this command runs in (default: $SESSIONS_CONVERSATION_ID,
    /// $CLAUDE_CODE_SESSION_ID, $CODEX_THREAD_ID, $GEMINI_SESSION_ID, else the agent process
    /// a hook recorded among this command's ancestors).
    #[arg(long, global = true, value_name = "ID")]
    pub conversation: Option<String>,

    /// When to colour output: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: crate::style::ColorWhen,

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

    /// Change frontmatter values and sections with lossless edits; bumps last_updated.
    ///
    /// Only the edited bytes change: comments, key order, other sections and line endings
    /// are kept. An update that changes nothing writes nothing. TEXT `-` reads standard input.
    #[command(
        after_help = "Examples:\n  sessions update weather --status paused --state \"Fallback done; retries next\"\n  sessions update weather --check \"write tests\" --next - < next.md\n  sessions update weather --section Decisions --append \"- Use 3 providers\""
    )]
    Update(Box<UpdateArgs>),

    /// Append a timestamped entry to `## Session Log` (created if missing).
    #[command(override_usage = "sessions log [SESSION] <MESSAGE> [--actor NAME]", after_help = LOG_HELP)]
    Log(LogArgs),

    /// Set a session's status to paused.
    Pause(PauseArgs),

    /// Set a session's status back to in_progress (and bind this conversation to it).
    Resume(ResumeArgs),

    /// Check a session is ready to hand off and print a brief for the next agent.
    ///
    /// Ready means: Current State and Next Steps have real content (not template
    /// placeholders), the status is not completed, and title/task are filled in. Exits 1
    /// listing what is missing; otherwise logs the handoff and prints the brief.
    Handoff(HandoffArgs),

    /// Launch background agents on a session; print run id, pid and log path.
    ///
    /// Each agent runs detached (own session and process group, stdin closed, output to its
    /// log) under a small supervisor that records the outcome and writes status, exit code and
    /// a summary back into the session file. The spawned_agents entry (status in_progress,
    /// log, run_id, conversation_id) and a Session Log link are written before spawn returns,
    /// and before any outcome.
    #[command(after_help = SPAWN_HELP)]
    Spawn(SpawnArgs),

    /// Background agent runs: status, pid, runtime, exit code, log path.
    #[command(after_help = AGENTS_HELP)]
    Agents(AgentsArgs),

    /// Print or follow an agent's log.
    #[command(after_help = LOGS_HELP)]
    Logs(LogsArgs),

    /// Stop background agents: SIGTERM to the whole process group, then SIGKILL after --grace.
    #[command(after_help = KILL_HELP)]
    Kill(KillArgs),

    /// Delete finished run records and their logs.
    #[command(after_help = PRUNE_HELP)]
    Prune(PruneArgs),

    /// Attach this terminal to an agent started with --runner tmux.
    Attach(AttachArgs),

    /// The agents' git worktrees (spawn --worktree): list them, remove them safely.
    #[command(after_help = WORKTREE_HELP)]
    Worktree {
        #[command(subcommand)]
        action: WorktreeAction,
    },
    /// Other machines that run agents over ssh (`hosts:` in the config): list them, check one.
    #[command(after_help = HOSTS_HELP)]
    Hosts {
        #[command(subcommand)]
        action: HostsAction,
    },

    /// Continue an agent's conversation with a message.
    #[command(after_help = SEND_HELP)]
    Send(SendArgs),

    /// Block until agent runs end; exit 0 when all completed, 1 when one did not, 124 on
    /// timeout.
    #[command(after_help = WAIT_HELP)]
    Wait(WaitArgs),

    /// Run a failed, cancelled or lost run again with the same task (a new run), resuming its
    /// conversation when it can.
    Restart(RestartArgs),

    /// Internal: deliver one notification event.
    #[command(name = "__notify", hide = true)]
    Notify(SuperviseArgs),

    /// Internal: the detached supervisor of one run.
    #[command(name = "__supervise", hide = true)]
    Supervise(SuperviseArgs),

    /// Print the knowledge-extraction checklist, then delete the session file.
    ///
    /// Sessions are deleted, not archived: what matters must move to the issue tracker,
    /// ADRs (--adr) or the code first. --archive moves the file to .agents/sessions/archive/
    /// instead, for teams that keep them.
    Close(CloseArgs),

    /// Delete a session file.
    Delete(DeleteArgs),

    /// Hook entry points for agent CLIs (stdin: the hook's JSON; stdout: context).
    ///
    /// Installed by `sessions hooks install`. Hooks never fail the agent: bad input, a missing
    /// directory or an unreadable file give exit 0 and one line on stderr.
    Hook {
        #[command(subcommand)]
        event: HookEvent,
    },

    /// Install or remove our hook entries in an agent's settings.
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },

    /// Follow sessions and agents live: a redrawn table on a terminal, or an event stream.
    ///
    /// Watches .agents/sessions/ and .agents/state/ (no polling) and re-validates changed
    /// files. `--json` prints one event per line: session-created, session-updated (with the
    /// fields that changed), session-deleted, session-invalid, session-valid, agent-started,
    /// agent-finished, agent-lost. Without a terminal it prints one line per event.
    Watch(WatchArgs),

    /// Serve a live dashboard of sessions and agents in the browser (127.0.0.1 only by default).
    ///
    /// Prints a URL with a fresh random token; every request needs it (a cookie after the first
    /// visit). Actions on the pages run this same binary with the CLI's arguments, so they
    /// behave and log exactly as the commands do. Ctrl-C stops it.
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),

    /// Print the shell code that completes session names, `SESSION:AGENT`/`SESSION:RUN`
    /// targets, agent names and statuses from the repository you are in.
    ///
    /// It calls `sessions` back on each TAB, so completions stay right after an upgrade. Load
    /// it from your shell's start-up file:
    ///
    ///   bash: echo 'source <(sessions completions bash)' >> ~/.bashrc
    ///   zsh:  echo 'source <(sessions completions zsh)' >> ~/.zshrc
    ///   fish: echo 'sessions completions fish | source' >> ~/.config/fish/config.fish
    #[command(verbatim_doc_comment)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the man page (roff), or write one page per command into DIR.
    ///
    /// `sessions man | man -l -` reads it at once; `sessions man --out ~/.local/share/man/man1`
    /// installs sessions(1), sessions-list(1), … for `man sessions-list`.
    Man {
        /// Write sessions.1 and sessions-<command>.1 here (made if missing) instead of stdout.
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
}

const SERVE_HELP: &str = "\
Examples:
  sessions serve                          http://127.0.0.1:4777/?token=… (open it)
  sessions serve --port 0 --read-only     any free port, no actions
  SESSIONS_SERVE_TOKEN=… sessions serve --bind 0.0.0.0 --allow-host box.lan

Security: the Host header must be localhost, 127.0.0.1, [::1] or an --allow-host name (DNS
rebinding); POSTs and event streams must come from the page's own origin; a non-loopback
--bind needs a token set explicitly (--token or $SESSIONS_SERVE_TOKEN).";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The TCP port (0: any free port).
    #[arg(long, default_value_t = 4777)]
    pub port: u16,
    /// The address to listen on. Anything but a loopback address needs --token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Open the URL in the default browser.
    #[arg(long)]
    pub open: bool,
    /// Show everything, allow no action (spawn, kill, pause, resume, review, validate).
    #[arg(long)]
    pub read_only: bool,
    /// The access token (default: a fresh random one per start).
    #[arg(
        long,
        env = "SESSIONS_SERVE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Another name the server may be reached by (the Host header), besides localhost,
    /// 127.0.0.1 and [::1] (repeatable).
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// One JSON event per line, for tools and dashboards.
    #[arg(long)]
    pub json: bool,
    /// Interleave the output of all running agents of SESSION, prefixed per agent.
    #[arg(long, value_name = "SESSION", conflicts_with = "json")]
    pub logs: Option<String>,
    /// No terminal bell when a run fails, is lost or waits for you (the live table rings
    /// one).
    #[arg(long)]
    pub no_bell: bool,
}

#[derive(Debug, Subcommand)]
pub enum HookEvent {
    /// SessionStart: list active sessions; after compaction or resume, re-inject the bound
    /// session's Current State and Next Steps.
    SessionStart(HookArgs),
    /// SubagentStart: tell a subagent which session file its parent works in (no listing).
    SubagentStart(HookArgs),
    /// SubagentStop: the subagent is done; `new` and `resume` may rebind the parent again.
    SubagentStop(HookArgs),
    /// SessionEnd: stamp last_updated, log the end, report leftovers on stderr.
    SessionEnd(HookArgs),
    /// PreCompact (Gemini: PreCompress): log the compaction so SessionStart can re-inject.
    PreCompact(HookArgs),
    /// The turn hooks (UserPromptSubmit, PermissionRequest, PostToolUse, Notification, Stop;
    /// Gemini: BeforeAgent, AfterAgent, Notification): mark a spawned run working or waiting
    /// for the person, in its run record.
    Turn(HookArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookFormat {
    /// The agent's JSON (hookSpecificOutput.additionalContext)
    Json,
    /// Plain text, for other harnesses
    Text,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// Which agent CLI is calling (its output rules differ).
    #[arg(long, default_value = "claude")]
    pub agent: crate::hooks::Agent,
    /// Output format.
    #[arg(long, value_enum, default_value_t = HookFormat::Json)]
    pub format: HookFormat,
    /// Give up (exit 0, one stderr line) after this many milliseconds instead of the default.
    #[arg(long, hide = true, value_name = "MS")]
    pub budget_ms: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum HooksAction {
    /// Merge SessionStart, SessionEnd and PreCompact entries into the agent's settings.
    ///
    /// Claude: .claude/settings.json (or settings.local.json with --local); Codex:
    /// .codex/hooks.json; Gemini: .gemini/settings.json (timeouts in milliseconds). Every
    /// other key and user hook is kept; a second run changes nothing; a malformed file is
    /// refused and left untouched.
    Install(HooksInstallArgs),
    /// Remove only our entries from the agent's settings.
    Uninstall(HooksInstallArgs),
}

#[derive(Debug, Args)]
pub struct HooksInstallArgs {
    /// The agent CLI: claude, codex or gemini.
    #[arg(long, default_value = "claude")]
    pub agent: crate::hooks::Agent,
    /// Claude only: write .claude/settings.local.json (not committed).
    #[arg(long)]
    pub local: bool,
    /// Print the diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also add a short block telling the agent when to update its session (CLAUDE.md,
    /// AGENTS.md or GEMINI.md, between `sessions:begin`/`sessions:end` marker lines). Asked on
    /// a terminal when neither this nor --no-instructions is given.
    #[arg(long, conflicts_with = "no_instructions")]
    pub instructions: bool,
    /// Leave the agent's instructions file alone (uninstall: keep our block in it).
    #[arg(long)]
    pub no_instructions: bool,
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
    /// Bind this conversation to the new file even when it is already bound to another
    /// session or a subagent is running in it.
    #[arg(long)]
    pub bind: bool,
}

pub use crate::overview::SortKey;

/// `--json`, `--json=FIELD,…` and `--jq EXPR`, the same on every command that prints a view
/// (printed by `crate::jsonout`).
#[derive(Debug, Clone, Default, Args)]
pub struct JsonArgs {
    /// Print JSON; `--json=FIELD,…` only those fields (a wrong name lists them). The fields
    /// need the `=`: a word after a bare --json is an argument.
    #[arg(
        long,
        value_name = "FIELDS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub json: Option<String>,
    /// Filter the JSON with a jq expression (implies --json); strings print without quotes.
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    pub jq: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only sessions with this status (repeatable): in_progress, paused, completed.
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<String>,
    /// Include completed sessions.
    #[arg(short, long)]
    pub all: bool,
    /// List the archived sessions (`close --archive`, in .agents/sessions/archive/) instead.
    #[arg(long)]
    pub archived: bool,
    /// Sort order.
    #[arg(long, value_enum, default_value_t = SortKey::Updated)]
    pub sort: SortKey,
    /// Reverse the sort order.
    #[arg(short, long)]
    pub reverse: bool,
    #[command(flatten)]
    pub json: JsonArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The session to show in detail; without it, a summary of active sessions.
    pub session: Option<String>,
    #[command(flatten)]
    pub json: JsonArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The session: a path, a file stem, or a unique part of a stem or title (default: the
    /// one this conversation is bound to).
    pub session: Option<String>,
    /// Print only this section's body (e.g. "Next Steps"; case-insensitive).
    #[arg(long, short, value_name = "NAME")]
    pub section: Option<String>,
    /// With --json: {path, id, text, sections: [{name, line, body}]}; with --section too:
    /// {path, id, section, body}.
    #[command(flatten)]
    pub json: JsonArgs,
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
    /// Repair what is safe to repair (status spellings, missing last_updated, agent entries
    /// using type/outcome, missing required sections) with lossless edits.
    #[arg(long)]
    pub fix: bool,
    /// With --fix: show the changes as a diff and write nothing.
    #[arg(long, requires = "fix")]
    pub dry_run: bool,
}

/// TEXT arguments: `-` reads standard input.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The session: a path, a file stem, or a unique part of a stem or title (default: the
    /// one this conversation is bound to).
    pub session: Option<String>,
    /// New status: in_progress, paused or completed.
    #[arg(long)]
    pub status: Option<String>,
    /// New current task (orchestration.current_task).
    #[arg(long, allow_hyphen_values = true)]
    pub task: Option<String>,
    /// New title.
    #[arg(long, allow_hyphen_values = true)]
    pub title: Option<String>,
    /// Issue key (session.linear_issue).
    #[arg(long, value_name = "KEY")]
    pub issue: Option<String>,
    /// Issue URL (session.linear_url).
    #[arg(long, value_name = "URL")]
    pub issue_url: Option<String>,
    /// Replace the body of `## Current State`.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub state: Option<String>,
    /// Replace the body of `## Next Steps`.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub next: Option<String>,
    /// A section to edit with --set or --append (inserted if missing).
    #[arg(long, value_name = "NAME")]
    pub section: Option<String>,
    /// Replace the --section body with TEXT.
    #[arg(
        long,
        value_name = "TEXT",
        requires = "section",
        conflicts_with = "append",
        allow_hyphen_values = true
    )]
    pub set: Option<String>,
    /// Append TEXT to the --section.
    #[arg(
        long,
        value_name = "TEXT",
        requires = "section",
        allow_hyphen_values = true
    )]
    pub append: Option<String>,
    /// Tick the checklist item containing ITEM (repeatable).
    #[arg(long, value_name = "ITEM")]
    pub check: Vec<String>,
    /// Untick the checklist item containing ITEM (repeatable).
    #[arg(long, value_name = "ITEM")]
    pub uncheck: Vec<String>,
    /// Record a modified file under `## Files Modified` (repeatable).
    #[arg(long, value_name = "PATH")]
    pub file_modified: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// The MESSAGE, or with a second argument the SESSION.
    #[arg(value_name = "SESSION|MESSAGE", allow_hyphen_values = true)]
    pub first: String,
    /// The MESSAGE, when the first argument is the SESSION (`-` reads standard input).
    #[arg(value_name = "MESSAGE", allow_hyphen_values = true)]
    pub second: Option<String>,
    /// Who writes the entry (default: $SESSIONS_ACTOR, else $USER).
    #[arg(long)]
    pub actor: Option<String>,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The session: a path, a file stem, or a unique part of a stem or title (default: the
    /// one this conversation is bound to).
    pub session: Option<String>,
    /// Why it is paused (added to the Session Log).
    #[arg(long)]
    pub reason: Option<String>,
    /// Also stop the session's running agents (SIGTERM, SIGKILL after 10 s), as
    /// `sessions kill SESSION --all` does. Without it they keep running and are named.
    #[arg(long)]
    pub kill: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The session: a path, a file stem, or a unique part of a stem or title (default: the
    /// one this conversation is bound to).
    pub session: Option<String>,
    /// Rebind this conversation even while a subagent is running in it.
    #[arg(long)]
    pub bind: bool,
}

#[derive(Debug, Args)]
pub struct HandoffArgs {
    /// The session: a path, a file stem, or a unique part of a stem or title (default: the
    /// one this conversation is bound to).
    pub session: Option<String>,
    /// The agent or person taking over.
    #[arg(long, value_name = "AGENT")]
    pub to: Option<String>,
    /// Also require `## Files Modified` to list something.
    #[arg(long)]
    pub require_files: bool,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// The session: a path, a file stem, or a unique part of a stem or title (default: the
    /// one this conversation is bound to).
    pub session: Option<String>,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long, short)]
    pub yes: bool,
    /// Close even while its background agents run.
    #[arg(long)]
    pub force: bool,
    /// Write the `## Decisions` section as an ADR under docs/decisions/ with this title.
    #[arg(long, value_name = "TITLE")]
    pub adr: Option<String>,
    /// Move the file to .agents/sessions/archive/ instead of deleting it.
    #[arg(long)]
    pub archive: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The session: a path, a file stem, or a unique part of a stem or title.
    pub session: String,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long, short)]
    pub yes: bool,
    /// Delete even while its background agents run.
    #[arg(long)]
    pub force: bool,
}
