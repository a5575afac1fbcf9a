//! `sessions restart`: run a failed, cancelled or lost run again with the same task, as a new
//! run. When the run recorded a conversation the agent had started (and the agent has a
//! `resume:` argv), the new run resumes it, told why; otherwise it starts afresh from the
//! agent's template.

use serde::Serialize;

use super::Ctx;
use super::spawn::{self, Started};
use crate::agents::record::{RunRecord, RunStatus};
use crate::agents::sync::Runs;
use crate::cli::RestartArgs;
use crate::error::{Error, Result};

#[derive(Serialize)]
struct Restarted {
    restarts: String,
    /// Whether the new run resumes the old conversation.
    resumed: bool,
    run: Started,
}

pub fn run(ctx: &Ctx, args: RestartArgs) -> Result<u8> {
    let target = super::target(ctx, Some(args.target.as_str()))?;
    let runs = Runs::load_session(&ctx.repo, &target.session);
    let chosen = target.select(&runs)?;
    let Some((_, rec)) = chosen.last().copied() else {
        return Err(Error::Check(format!(
            "{} has no agent runs to restart",
            target.session
        )));
    };
    match rec.status {
        s if s.is_active() => {
            return Err(Error::Check(format!(
                "run {} of {} is still {}; stop it first with `sessions kill {}:{}`, or wait for it with `sessions wait`",
                rec.id,
                rec.agent,
                s.display(),
                target.session,
                rec.id
            )));
        }
        RunStatus::Completed => {
            return Err(Error::Check(format!(
                "run {} of {} completed; continue its conversation with `sessions send {}:{} MESSAGE`",
                rec.id, rec.agent, target.session, rec.id
            )));
        }
        _ => {}
    }
    let (started, resumed) = if can_resume(ctx, rec) {
        let prompt = format!(
            "Your previous run ({}) ended {}{}. Continue the task where it stopped: {}",
            rec.id,
            rec.status.display(),
            rec.reason
                .as_deref()
                .map_or_else(String::new, |r| format!(" ({r})")),
            rec.task
        );
        (
            super::send::resume_run(ctx, rec, &rec.task, &prompt, None)?,
            true,
        )
    } else {
        (fresh(ctx, rec)?, false)
    };
    if args.json {
        let out = Restarted {
            restarts: rec.id.clone(),
            resumed,
            run: started,
        };
        crate::jsonout::emit(&out)?;
    } else {
        let how = if resumed {
            "resuming its conversation"
        } else {
            "afresh"
        };
        println!(
            "restarted {} run {} as run {} ({how})  log {}",
            rec.agent,
            rec.id,
            started.run_id,
            ctx.show_path(&ctx.repo.root.join(&started.log))
        );
    }
    Ok(0)
}

/// A conversation exists to resume: an id was recorded, the agent ran (it had a pid and its
/// log is not empty), and the agent has a resume argv.
fn can_resume(ctx: &Ctx, rec: &RunRecord) -> bool {
    rec.conversation_id.is_some()
        && rec.pid.is_some()
        && rec.exit_code != Some(127)
        && std::fs::metadata(rec.log_path()).is_ok_and(|m| m.len() > 0)
        && super::send::resume_argv(ctx, rec).is_ok()
}

/// The same agent and task from its template (or, for a run given its command after `--`,
/// that command again).
fn fresh(ctx: &Ctx, rec: &RunRecord) -> Result<Started> {
    let config = ctx.config()?;
    let command = if config.agents.contains_key(&rec.agent) {
        Vec::new()
    } else {
        rec.argv.clone()
    };
    let path = rec
        .session_file
        .clone()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| ctx.repo.sessions_dir().join(format!("{}.md", rec.session)));
    let args = spawn::again(rec, rec.task.clone(), command);
    spawn::start_one(ctx, &path, &args, None, None)
}
