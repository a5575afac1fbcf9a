//! `sessions pause` / `sessions resume`: status changes, each with a Session Log entry.

use super::{Ctx, edit_session};
use crate::cli::{PauseArgs, ResumeArgs};
use crate::error::{Error, Result};
use crate::session::Document;
use crate::session::edit::{Op, Scalar, key_path};
use crate::store;

pub fn pause(ctx: &Ctx, args: PauseArgs) -> Result<u8> {
    let path = super::session_path(ctx, args.session.as_deref())?;
    let text = store::read_session(&path)?;
    match Document::parse(&text).str_value(&["session", "status"]) {
        Some("completed") => {
            return Err(Error::Check(format!(
                "{} is completed; resume it first if work continues",
                ctx.show_path(&path)
            )));
        }
        Some("paused") => {
            println!("{} is already paused", ctx.show_path(&path));
            return Ok(0);
        }
        _ => {}
    }
    let message = match &args.reason {
        Some(r) => format!("Paused: {r}"),
        None => "Paused.".into(),
    };
    let ops = vec![
        Op::Set {
            path: key_path(&["session", "status"]),
            value: Scalar::str("paused"),
        },
        Op::Log {
            at: ctx.now,
            actor: super::log::default_actor(),
            message,
        },
    ];
    edit_session(ctx, &path, |_| Ok(ops.clone()))?;
    println!("paused {}", ctx.show_path(&path));
    still_running(ctx, &path, args.kill)
}

/// After a pause: the session's agents that still run, stopped with `--kill`, else named with
/// the command that stops them.
fn still_running(ctx: &Ctx, path: &std::path::Path, kill: bool) -> Result<u8> {
    let stem = super::stem(path);
    let runs = crate::agents::sync::Runs::load_session(&ctx.repo, &stem);
    let active: Vec<_> = runs
        .records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.status.is_active())
        .collect();
    if active.is_empty() {
        return Ok(0);
    }
    if kill {
        return super::kill::run(
            ctx,
            crate::cli::KillArgs {
                target: Some(stem),
                all: true,
                grace: std::time::Duration::from_secs(10),
            },
        );
    }
    let names: Vec<String> = active
        .iter()
        .map(|r| format!("{} ({})", r.agent, r.id))
        .collect();
    eprintln!(
        "note: {} agent{} still running: {}. They keep working while the session is paused; stop them with `sessions kill {stem} --all` (or pause with --kill).",
        active.len(),
        if active.len() == 1 { " is" } else { "s are" },
        names.join(", ")
    );
    Ok(0)
}

pub fn resume(ctx: &Ctx, args: ResumeArgs) -> Result<u8> {
    let path = super::session_path(ctx, args.session.as_deref())?;
    let text = store::read_session(&path)?;
    let status = Document::parse(&text)
        .str_value(&["session", "status"])
        .map(str::to_owned);
    if status.as_deref() != Some("in_progress") {
        let was = status.unwrap_or_else(|| "unset".into());
        let ops = vec![
            Op::Set {
                path: key_path(&["session", "status"]),
                value: Scalar::str("in_progress"),
            },
            Op::Log {
                at: ctx.now,
                actor: super::log::default_actor(),
                message: format!("Resumed (was {was})."),
            },
        ];
        edit_session(ctx, &path, |_| Ok(ops.clone()))?;
    }
    super::bind_conversation(ctx, &path, super::BindAsk::Resume, args.bind)?;
    println!("resumed {}", ctx.show_path(&path));
    Ok(0)
}
