//! `sessions send`: continue an agent's conversation with a message.
//!
//! * A finished run: a new run of the same agent resumes the recorded conversation with the
//!   agent's `resume:` argv (`resumes: <run>` in its entry and record).
//! * A run still working: the message is queued durably (`agents::queue`) and delivered, as
//!   such a resumed run, by whoever settles the run when it ends.
//! * An interactive tmux run waiting for input: the message is typed into its pane.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

use super::Ctx;
use super::spawn::{self, Resume, Started};
use super::wait::{self, Outcome};
use crate::agents::record::{self, RunRecord};
use crate::agents::runner::RunnerState;
use crate::agents::sync::Runs;
use crate::agents::{queue, waiting};
use crate::cli::SendArgs;
use crate::config::{Config, default_resume};
use crate::error::{Error, Result};
use crate::store::Repo;

/// What `send --json` prints.
#[derive(Serialize)]
struct Sent {
    /// `resumed`, `queued` or `typed`.
    action: &'static str,
    /// The run the message went to.
    to_run: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<Started>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queued: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    #[serde(skip)]
    interactive: bool,
}

pub fn run(ctx: &Ctx, args: SendArgs) -> Result<u8> {
    let mut stdin_used = false;
    let message = super::text_arg(&args.message, &mut stdin_used)?;
    if message.trim().is_empty() {
        return Err(Error::Usage(
            "the message is empty; say what to tell the agent".into(),
        ));
    }
    let target = super::target(ctx, Some(args.target.as_str()))?;
    let runs = Runs::load_session(&ctx.repo, &target.session);
    let chosen = target.select(&runs)?;
    let Some((path, rec)) = chosen.last().copied() else {
        return Err(Error::Check(format!(
            "{} has no agent runs to send to; start one with `sessions spawn {} --agent NAME --task TEXT`",
            target.session, target.session
        )));
    };
    let (path, mut rec) = (path.clone(), rec.clone());
    if rec.status.is_active() && matches!(rec.runner, RunnerState::Tmux(_)) {
        waiting::check_pane(&path, &mut rec, Utc::now());
        // Never into a permission dialog: that message waits for the next prompt.
        if rec
            .turn
            .as_ref()
            .is_some_and(|t| t.is_waiting() && t.why != Some(waiting::Why::Permission))
        {
            return typed(ctx, &args, &path, &rec, &message);
        }
    }
    if rec.status.is_active() {
        return queued(ctx, &args, &path, &rec, &message);
    }
    let started = resume_run(ctx, &rec, &message, &message, None)?;
    let rec_path = record::record_path(&ctx.repo.state_dir(), &started.session, &started.run_id);
    let mut sent = Sent {
        action: "resumed",
        to_run: rec.id.clone(),
        run: Some(started),
        queued: None,
        outcome: None,
        interactive: false,
    };
    finish(ctx, &args, &mut sent, Some(rec_path))
}

/// Prints what happened; with `--wait`, waits for the reply's run first.
fn finish(ctx: &Ctx, args: &SendArgs, sent: &mut Sent, wait_on: Option<PathBuf>) -> Result<u8> {
    if !args.json {
        print_sent(ctx, sent);
    }
    let mut code = 0;
    if args.wait
        && let Some(p) = wait_on
    {
        let (recs, timed_out) = wait::wait_for(std::slice::from_ref(&p), false, args.timeout);
        code = wait::exit_code(&recs, false, timed_out);
        if let Some(r) = recs.first() {
            let o = Outcome::of(r);
            if !args.json {
                println!("{}", o.line());
            }
            sent.outcome = Some(o);
        }
        if timed_out {
            eprintln!("sessions: timed out waiting for the reply");
        }
    }
    if args.json {
        crate::jsonout::emit(&sent)?;
    }
    Ok(code)
}

fn print_sent(ctx: &Ctx, sent: &Sent) {
    match (&sent.run, sent.action) {
        (Some(s), _) => {
            let pid = s
                .pid
                .map_or_else(|| "starting".into(), |p| format!("pid {p}"));
            println!(
                "resumed {}  run {} (continues run {})  {pid}  log {}",
                s.agent,
                s.run_id,
                sent.to_run,
                ctx.show_path(&ctx.repo.root.join(&s.log))
            );
        }
        (None, "queued") => println!(
            "queued for run {} ({} message(s) waiting); it is busy: {}",
            sent.to_run,
            sent.queued.unwrap_or(1),
            if sent.interactive {
                "they are typed into its pane when it next waits for input (or continue the conversation when it ends)"
            } else {
                "the conversation continues with them when it ends"
            }
        ),
        (None, _) => println!("typed into the pane of run {}", sent.to_run),
    }
}

fn queued(ctx: &Ctx, args: &SendArgs, path: &Path, rec: &RunRecord, message: &str) -> Result<u8> {
    let n = queue::push(rec, message, Utc::now())?;
    // It may have ended while the message was written: then deliver it now.
    let fresh = crate::agents::reconcile::reconcile_at(path).unwrap_or_else(|_| rec.clone());
    if !fresh.status.is_active() {
        let _ = crate::agents::sync::write_back_once(path);
        deliver_queued(&fresh);
    }
    let mut sent = Sent {
        action: "queued",
        to_run: rec.id.clone(),
        run: None,
        queued: Some(n),
        outcome: None,
        interactive: matches!(rec.runner, RunnerState::Tmux(_)),
    };
    if !args.wait {
        return finish(ctx, args, &mut sent, None);
    }
    // The reply is the run that continues this one: wait for this one's end, then for it.
    if !args.json {
        print_sent(ctx, &sent);
    }
    let start = Instant::now();
    let (_, timed_out) = wait::wait_for(&[path.to_path_buf()], false, args.timeout);
    if timed_out {
        eprintln!("sessions: timed out waiting for run {} to end", rec.id);
        return Ok(wait::TIMED_OUT);
    }
    let left = args.timeout.map(|t| t.saturating_sub(start.elapsed()));
    let Some(reply) = find_reply(ctx, rec, left) else {
        return Err(Error::Check(format!(
            "run {} ended but no run continues it{}",
            rec.id,
            queue::failure(rec).map_or_else(String::new, |w| format!(": {w}"))
        )));
    };
    let (recs, timed_out) = wait::wait_for(
        &[reply],
        false,
        args.timeout.map(|t| t.saturating_sub(start.elapsed())),
    );
    if let Some(r) = recs.first() {
        let o = Outcome::of(r);
        if !args.json {
            println!("{}", o.line());
        }
        sent.outcome = Some(o);
    }
    if args.json {
        crate::jsonout::emit(&sent)?;
    }
    Ok(wait::exit_code(&recs, false, timed_out))
}

/// The record of the run that continues `rec` (a delivered queue), waiting a little for it.
fn find_reply(ctx: &Ctx, rec: &RunRecord, left: Option<Duration>) -> Option<PathBuf> {
    let deadline = Instant::now()
        + left
            .unwrap_or(Duration::from_secs(30))
            .min(Duration::from_secs(30));
    let mut pause = Duration::from_millis(50);
    loop {
        let found = record::load_for_session(&ctx.repo.state_dir(), &rec.session)
            .records
            .into_iter()
            .find(|(_, r)| r.resumes.as_deref() == Some(rec.id.as_str()))
            .map(|(p, _)| p);
        if found.is_some() || Instant::now() >= deadline {
            return found;
        }
        if !queue::pending(rec) && queue::failure(rec).is_some() {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

fn typed(ctx: &Ctx, args: &SendArgs, path: &Path, rec: &RunRecord, message: &str) -> Result<u8> {
    waiting::type_into_pane(rec, message).map_err(|why| {
        Error::Usage(format!(
            "cannot type into the pane of run {}: {why}",
            rec.id
        ))
    })?;
    let sent_at = Utc::now();
    let mut sent = Sent {
        action: "typed",
        to_run: rec.id.clone(),
        run: None,
        queued: None,
        outcome: None,
        interactive: false,
    };
    if !args.json {
        print_sent(ctx, &sent);
    }
    let mut code = 0;
    if args.wait {
        // The reply is the turn: wait until the agent waits again (or the run ends).
        let deadline = args.timeout.map(|t| Instant::now() + t);
        let mut pause = Duration::from_millis(100);
        code = wait::TIMED_OUT;
        while deadline.is_none_or(|d| Instant::now() < d) {
            let mut r =
                crate::agents::reconcile::reconcile_at(path).unwrap_or_else(|_| rec.clone());
            waiting::check_pane(path, &mut r, Utc::now());
            let turned = r
                .turn
                .as_ref()
                .is_some_and(|t| t.is_waiting() && t.since > sent_at);
            if turned || !r.status.is_active() {
                let state = r
                    .turn
                    .as_ref()
                    .map_or_else(|| r.status.display().to_string(), |t| t.describe());
                if !args.json {
                    println!("run {} is {state}", r.id);
                }
                code = if r.status.is_active() || r.status == record::RunStatus::Completed {
                    0
                } else {
                    1
                };
                sent.outcome = Some(Outcome::of(&r));
                break;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
    if args.json {
        crate::jsonout::emit(&sent)?;
    }
    Ok(code)
}

/// Starts a run that continues `rec`'s conversation with `prompt` (task `task` in its entry);
/// with `run_id`, under that id. The error says why it cannot, and what to do instead.
pub fn resume_run(
    ctx: &Ctx,
    rec: &RunRecord,
    task: &str,
    prompt: &str,
    run_id: Option<&str>,
) -> Result<Started> {
    let argv = resume_argv(ctx, rec)?;
    let Some(conversation_id) = rec.conversation_id.clone() else {
        return Err(Error::Check(format!(
            "run {} of {} recorded no conversation id (its command did not pre-assign one and its output never named one), so it cannot be resumed; start a new run with `sessions spawn {} --agent {} --task TEXT`",
            rec.id, rec.agent, rec.session, rec.agent
        )));
    };
    let path = session_file(&ctx.repo, rec)?;
    let args = spawn::again(rec, task.to_string(), Vec::new());
    let resume = Resume {
        argv,
        conversation_id,
        resumes: rec.id.clone(),
        prompt: prompt.to_string(),
    };
    spawn::start_one(ctx, &path, &args, Some(resume), run_id)
}

/// The agent's resume argv: its `resume:` in the config, else the built-in one for the client
/// its command (or, for a run given its command after `--`, its argv) runs.
pub fn resume_argv(ctx: &Ctx, rec: &RunRecord) -> Result<Vec<String>> {
    let config: Config = ctx.config()?;
    let found = match config.agents.get(&rec.agent) {
        Some(def) => def.resume_argv(),
        None => rec.argv.first().and_then(|p| default_resume(p)),
    };
    found.ok_or_else(|| {
        Error::Check(format!(
            "agent `{}` cannot be resumed: it has no `resume:` argv in {} and its command is not claude, codex or gemini; add one under agents.{}, e.g. resume: [prog, --resume, \"{{conversation_id}}\", \"{{prompt}}\"]",
            rec.agent,
            ctx.repo.display(&ctx.repo.config_path()),
            rec.agent
        ))
    })
}

/// The run's session file: where it was at spawn, else by its stem.
fn session_file(repo: &Repo, rec: &RunRecord) -> Result<PathBuf> {
    let by_stem = repo.sessions_dir().join(format!("{}.md", rec.session));
    match &rec.session_file {
        Some(p) if p.is_file() => Ok(p.clone()),
        _ if by_stem.is_file() => Ok(by_stem),
        _ => Err(Error::Check(format!(
            "the session file of run {} ({}) no longer exists, so there is nothing to continue it in",
            rec.id, rec.session
        ))),
    }
}

/// Delivers the messages queued for the ended run `rec` (see `agents::queue`): one resumed
/// run carrying them. Best effort: a failure is noted in the run's log and kept in the queue's
/// `failed.txt`.
pub fn deliver_queued(rec: &RunRecord) {
    let ctx = Ctx {
        repo: Repo::at(rec.root.clone()),
        cwd: rec.root.clone(),
        now: Utc::now(),
        conversation: None,
    };
    let result = queue::deliver(rec, |text, id| {
        resume_run(&ctx, rec, text, text, Some(id))
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .open(rec.log_path())
        {
            let _ = writeln!(f, "[sessions] queued message not delivered: {e}");
        }
    }
}
