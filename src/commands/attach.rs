//! `sessions attach`: put this terminal on the tmux session of a run started with
//! `--runner tmux` (socket `tmux -L sessions`). Detach with the usual tmux keys; the agent
//! keeps running and its output keeps going to the log.

use std::os::unix::process::CommandExt;
use std::process::Command;

use super::Ctx;
use super::agents::{Target, describe};
use crate::agents::record::Runner;
use crate::agents::supervise::{attach_argv, find_program};
use crate::agents::sync;
use crate::cli::AttachArgs;
use crate::error::{Error, Result};

pub fn run(ctx: &Ctx, args: AttachArgs) -> Result<u8> {
    let target = Target::parse(ctx, args.target.as_deref())?;
    let runs = sync::Runs::load_session(&ctx.repo, &target.stem);
    let matching = target.select(&runs)?;
    let active: Vec<_> = matching
        .iter()
        .copied()
        .filter(|(_, r)| r.status.is_active())
        .collect();
    let Some((_, rec)) = active
        .iter()
        .rev()
        .find(|(_, r)| r.runner == Runner::Tmux)
        .copied()
    else {
        let why = if active.is_empty() {
            format!(
                "no running agent matches `{}`{}",
                target.text,
                describe(&matching)
            )
        } else {
            format!(
                "the running agents of `{}` use the process runner, which has no terminal to attach to; follow the output with `sessions logs {}:RUN_ID -f`, or spawn with --runner tmux",
                target.text, target.stem
            )
        };
        return Err(Error::Check(why));
    };
    let Some(tmux) = find_program("tmux", &ctx.cwd) else {
        return Err(Error::Usage(
            "tmux is not installed; install it to attach to agents started with --runner tmux (their output is also in the log: `sessions logs SESSION -f`)".into(),
        ));
    };
    let argv = attach_argv(rec).unwrap_or_default();
    // Said before tmux takes the screen: how to get it back without stopping the agent.
    eprintln!(
        "attaching to {} (run {}): detach with Ctrl-b d and the agent keeps running; Ctrl-c goes to the agent",
        rec.agent, rec.id
    );
    let err = Command::new(tmux)
        .args(argv.iter().skip(1))
        .env_remove("TMUX")
        .exec();
    Err(Error::Usage(format!("cannot run tmux: {err}")))
}
