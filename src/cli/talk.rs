//! Arguments of the commands that talk to agents (`send`, `wait`, `restart`).

use std::time::Duration;

use clap::Args;

pub const SEND_HELP: &str = "\
Examples:
  sessions send weather \"Also cover the timeout case\"          the newest run, resumed
  sessions send weather:claude \"Now write the tests\" --wait    and print the reply's summary
  sessions send :3fa9c2d1 \"Use provider B\"                     inside a bound conversation

A finished run is continued by a new run that resumes its conversation (the agent's `resume:`
argv in .agents/config.yaml; built in for claude, codex and gemini), linked to it with
`resumes: RUN` in the session file. A run still working gets the message queued under
.agents/state/queue/ and continued with it when it ends (also after a restart). An
interactive agent started with --runner tmux that waits for input gets it typed into its pane.";

pub const WAIT_HELP: &str = "\
Examples:
  sessions wait weather                   every running agent of the session
  sessions wait weather:claude other:3fa9c2d1 --timeout 10m
  sessions wait --any --json              the first of all running agents to end

Exit codes: 0 every run waited for completed; 1 one failed, was cancelled or lost; 124 the
timeout passed first; 2 usage or environment error. A target whose runs have all ended
reports the newest one's outcome at once.";

#[derive(Debug, Args)]
pub struct SendArgs {
    /// SESSION, SESSION:AGENT or SESSION:RUN_ID (default: the session's newest run). Inside a
    /// bound conversation SESSION may be left out: `:AGENT` or `:RUN_ID`.
    #[arg(value_name = "SESSION[:AGENT|:RUN_ID]")]
    pub target: String,
    /// The message (`-` reads standard input).
    #[arg(allow_hyphen_values = true)]
    pub message: String,
    /// Block until the reply's run ends and print its summary (exit codes as for `wait`).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (exit 124), e.g. 30s, 10m.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration, requires = "wait")]
    pub timeout: Option<Duration>,
    /// Print what happened as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// SESSION, SESSION:AGENT or SESSION:RUN_ID (several allowed). Default: the bound
    /// session's running agents inside a bound conversation, else every running agent.
    #[arg(value_name = "SESSION[:AGENT|:RUN_ID]")]
    pub targets: Vec<String>,
    /// Return when the first run ends.
    #[arg(long, conflicts_with = "all")]
    pub any: bool,
    /// Return when every run has ended (the default).
    #[arg(long)]
    pub all: bool,
    /// Give up after this long (exit 124), e.g. 30s, 10m.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration)]
    pub timeout: Option<Duration>,
    /// Print the outcomes as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// SESSION, SESSION:AGENT or SESSION:RUN_ID of a failed, cancelled or lost run (default:
    /// the newest matching one).
    #[arg(value_name = "SESSION[:AGENT|:RUN_ID]")]
    pub target: String,
    /// Print the new run as JSON.
    #[arg(long)]
    pub json: bool,
}
