//! Arguments of the background-agent commands (`spawn`, `agents`, `logs`, `kill`, `prune`,
//! `attach` and the hidden supervisor). The variants themselves are in `cli.rs`'s `Command`.

use std::ffi::OsString;
use std::time::Duration;

use clap::Args;

pub const SPAWN_HELP: &str = "\
Examples:
  sessions spawn weather --agent claude --task \"Add the provider fallback\"
  sessions spawn weather --agent backend --agent tests --task \"Retry with backoff\"
  sessions spawn weather --agent fake --task \"smoke test\" -- ./fake-agent.sh {session_file}
  sessions spawn weather --agent claude --worktree --task \"Try the other approach\"

Agents are defined in .agents/config.yaml (name -> command argv list). In each argv element
{prompt}, {session_file}, {task}, {conversation_id} and {agents_dir} are replaced; nothing is
passed through a shell. The default prompt names the session file and the task and asks the agent for a
`SUMMARY:` line. The log goes to .agents/logs/<session>/<agent>-<run>.log.

--worktree runs each agent in its own linked git worktree (default beside the repository, in
../<repo>.worktrees/) on a new branch sessions/<slug>/<agent>-<run>; `sessions worktree` lists
and removes them without losing a commit.";

pub const AGENTS_HELP: &str = "\
Examples:
  sessions agents                  running agents and those that ended in the last 24 hours
  sessions agents weather          every run of one session
  sessions agents --all --json     everything, as JSON

A run whose supervisor and process are both gone without a final record is shown as
`failed (lost)` and written back into its session file.";

pub const LOGS_HELP: &str = "\
Examples:
  sessions logs weather              the newest run's log
  sessions logs weather:claude -f    follow claude's newest run until it ends
  sessions logs weather:3fa9c2d1 -n 50

With -f, the follow ends with the run's outcome on stderr ([run 3fa9c2d1 failed, exit 3])
and exits 0 if the run completed, 1 if it failed, was lost or was cancelled (2: usage or
environment error). Without -f, printing the log exits 0 whatever the run did.";

pub const KILL_HELP: &str = "\
Examples:
  sessions kill weather              the session's only running agent
  sessions kill weather:claude       claude's running runs
  sessions kill weather --all --grace 30s

Says on stderr what it is doing while it waits out the grace period, and on stdout
which processes it stopped ('(detached)': outside the agent's process group, e.g. a setsid
helper). Exit code 1 when nothing matched or a process survived SIGKILL.";

pub const PRUNE_HELP: &str = "\
Examples:
  sessions prune --dry-run                 what would go
  sessions prune --completed               only runs that completed
  sessions prune --older-than 7d           finished more than a week ago

Running agents are never touched.";

#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// The session: a path, a file stem, or a unique part of a stem or title (default: the
    /// one this conversation is bound to).
    pub session: Option<String>,
    /// The agent to launch, as named in .agents/config.yaml (repeatable: several at once).
    #[arg(long, short, value_name = "NAME", required = true)]
    pub agent: Vec<String>,
    /// What the agent should do (stored in the session file's spawned_agents entry).
    #[arg(long, short, value_name = "TEXT", allow_hyphen_values = true)]
    pub task: String,
    /// The prompt for {prompt} (default: one naming the session file and the task). It may use
    /// {session_file}, {task} and {conversation_id} too.
    #[arg(long, short, value_name = "TEXT", allow_hyphen_values = true)]
    pub prompt: Option<String>,
    /// How to run the agent (default: the agent's `runner:` in the config, else process).
    #[arg(long, value_enum)]
    pub runner: Option<crate::agents::RunnerKind>,
    /// Print a JSON array of {session, agent, run_id, conversation_id, status, pid,
    /// supervisor_pid, log}.
    #[arg(long)]
    pub json: bool,
    /// Run each agent in its own linked git worktree on a new branch (default: the agent's
    /// `worktree:` in the config). See `sessions worktree --help`.
    #[arg(long)]
    pub worktree: bool,
    /// The new branch's name (default sessions/<slug>/<agent>-<run>); implies --worktree.
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// What the branch starts from (default: the current HEAD); implies --worktree.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Run the agent on this host of the config's `hosts:`, over ssh, in that host's checkout
    /// (default: the agent's `host:` in the config). See `sessions hosts --help`.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Internal (ssh runs): the machine whose session file holds the entry; this side keeps the
    /// record and log only.
    #[arg(long, value_name = "HOST", hide = true, requires = "run_id")]
    pub owned_by: Option<String>,
    /// Internal (ssh runs): the run id to use.
    #[arg(long, value_name = "ID", hide = true)]
    pub run_id: Option<String>,
    /// Internal (ssh runs): the conversation id to pre-assign.
    #[arg(long, value_name = "ID", hide = true)]
    pub conversation_id: Option<String>,
    /// Internal (ssh runs): the version of the sessions that asks; refused when it is not ours.
    #[arg(long, value_name = "VERSION", hide = true)]
    pub peer_version: Option<String>,
    /// Run this command instead of the configured template (placeholders are replaced too).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// Only this session's runs (all of them). Default inside a bound conversation: its
    /// session's runs; elsewhere (or with --all) every session's.
    pub session: Option<String>,
    /// Also runs that ended more than 24 hours ago.
    #[arg(long, short)]
    pub all: bool,
    #[command(flatten)]
    pub json: crate::cli::JsonArgs,
    /// Internal (ssh runs): with --json, the reconciled run records themselves.
    #[arg(long, hide = true, requires = "json")]
    pub records: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// SESSION, SESSION:AGENT or SESSION:RUN_ID (default: the session's newest run). Inside a
    /// bound conversation SESSION may be left out: `:AGENT`, `:RUN_ID`, or nothing.
    #[arg(value_name = "SESSION[:AGENT|:RUN_ID]")]
    pub target: Option<String>,
    /// Keep printing new output until the agent exits.
    #[arg(long, short)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long = "lines", short = 'n', value_name = "N")]
    pub lines: Option<usize>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// SESSION, SESSION:AGENT or SESSION:RUN_ID. Inside a bound conversation SESSION may be
    /// left out: `:AGENT`, `:RUN_ID`, or nothing.
    #[arg(value_name = "SESSION[:AGENT|:RUN_ID]")]
    pub target: Option<String>,
    /// Stop every matching running agent (needed when several match).
    #[arg(long)]
    pub all: bool,
    /// How long to wait after SIGTERM before SIGKILL (e.g. 500ms, 10s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::config::parse_duration)]
    pub grace: Duration,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Only runs that completed (keep failed and cancelled ones for inspection).
    #[arg(long)]
    pub completed: bool,
    /// Only runs that ended longer ago than this (e.g. 12h, 7d).
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration)]
    pub older_than: Option<Duration>,
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// SESSION, SESSION:AGENT or SESSION:RUN_ID of a run started with --runner tmux (SESSION
    /// may be left out inside a bound conversation).
    #[arg(value_name = "SESSION[:AGENT|:RUN_ID]")]
    pub target: Option<String>,
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

pub const WORKTREE_HELP: &str = "\
Examples:
  sessions spawn weather --agent claude --worktree --task \"Add the fallback\"
  sessions worktree list
  sessions worktree remove 3fa9c2d1          only when nothing can be lost
  sessions worktree remove 3fa9c2d1 --force  keeps the branch and saves uncommitted files

A worktree is removed only when it has no uncommitted or untracked files and every commit of
its branch is on another branch, a tag or a remote (a branch merged by squash or rebase is
kept under refs/sessions/trash/<run>). Otherwise removal is refused with the list of what would
be lost. --force never deletes a commit. Only worktrees and branches sessions created are
touched; `git worktree prune` is never run.";

#[derive(Debug, clap::Subcommand)]
pub enum WorktreeAction {
    /// The agents' worktrees: branch, commits ahead, uncommitted files, merged, pushed.
    List {
        #[command(flatten)]
        json: crate::cli::JsonArgs,
    },
    /// Remove a finished run's worktree (and its branch, when every commit is elsewhere).
    Remove {
        /// The run id (or a unique prefix of at least 4 characters).
        run: String,
        /// Remove even with uncommitted files or unmerged commits: the files are saved as a
        /// commit under refs/sessions/trash/, the branch is kept.
        #[arg(long)]
        force: bool,
    },
}

pub const HOSTS_HELP: &str = "\
Examples:
  sessions hosts list                the configured hosts
  sessions hosts check build1        reach build1, compare its sessions with this one

A host is configured in .agents/config.yaml:

  hosts:
    build1: {ssh: me@build1.example.com, root: /srv/checkouts/repo}

and used with `sessions spawn SESSION --agent NAME --host build1 --task TEXT` (or `host:` in an
agent's definition). The agent runs there, in that checkout, under that host's own sessions;
nothing is copied to a host. `check` exits 1 when something is missing and says how to fix it.";

#[derive(Debug, clap::Subcommand)]
pub enum HostsAction {
    /// The configured hosts: name, ssh destination, checkout.
    List {
        /// Print a JSON array of {name, ssh, root, port, identity, ssh_options}.
        #[arg(long)]
        json: bool,
    },
    /// Connect to a host and check it can run agents: sessions on its PATH (the same version
    /// as this one), the checkout, its .agents/ directory.
    Check {
        /// The host's name under `hosts:`.
        name: String,
        /// Print {name, reachable, sessions, version, root, repository, agents_dir, problems}.
        #[arg(long)]
        json: bool,
    },
}
