//! `sessions list`: one line per session, or the SPEC §8 JSON array.

use super::Ctx;
use crate::cli::ListArgs;
use crate::error::{Error, Result};
use crate::overview::{self, Overview};
use crate::session::rules::SESSION_STATUSES;
use crate::table::{Column, Table};
use crate::terminal;

pub fn run(ctx: &Ctx, args: ListArgs) -> Result<u8> {
    for s in &args.status {
        if !SESSION_STATUSES.contains(&s.as_str()) && s != "invalid" {
            let known = ["in_progress", "paused", "completed", "invalid"];
            let hint = crate::suggest::one(s, &known)
                .map(|k| format!("did you mean `{k}`? The statuses are "))
                .unwrap_or_else(|| "use ".into());
            return Err(Error::Usage(format!(
                "--status `{s}`: {hint}in_progress, paused, completed or invalid"
            )));
        }
    }
    let config = ctx.config()?;
    for (path, kind) in ctx.repo.scan_sessions()?.skipped {
        eprintln!(
            "sessions: skipped {}: it is {kind}, not a regular file",
            terminal::line(&ctx.show_path(&path))
        );
    }
    let mut sessions = if args.archived {
        archived(ctx, config.stale_after)
    } else {
        overview::load_all(&ctx.repo, ctx.now, config.stale_after)?
    };
    sessions.retain(|o| {
        if !args.status.is_empty() {
            args.status.contains(&o.status)
        } else {
            args.all || args.archived || o.is_active()
        }
    });
    overview::sort(&mut sessions, args.sort);
    if args.reverse {
        sessions.reverse();
    }
    if args.json.on() {
        return crate::jsonout::print(&args.json, &sessions, &[Overview::FIELDS]);
    }
    if sessions.is_empty() && args.archived {
        println!("No archived sessions (`sessions close --archive` moves one there).");
        return Ok(0);
    }
    if sessions.is_empty() {
        let hint = if args.all {
            ""
        } else {
            " (completed ones are hidden: --all shows them)"
        };
        println!("No sessions{hint}. Create one with: sessions new \"what you are working on\"");
        return Ok(0);
    }
    print!("{}", table(ctx, &sessions));
    Ok(0)
}

/// The archived sessions' overviews (their runs have ended: `close` refuses running ones).
fn archived(ctx: &Ctx, stale_after: std::time::Duration) -> Vec<Overview> {
    ctx.repo
        .archived_files()
        .iter()
        .map(|p| {
            let text = crate::store::read_head(p).ok();
            Overview::new(
                p,
                ctx.repo.display(p),
                text.as_deref(),
                ctx.now,
                stale_after,
            )
        })
        .collect()
}

pub fn table(ctx: &Ctx, sessions: &[Overview]) -> String {
    // Cut first: the title and task (widest first); left out first: the task, then the id
    // (a part of the title names a session too).
    let mut t = Table::new(&[
        Column::keep("STATUS").status(),
        Column::keep("AGE").status(),
        Column::cut("TITLE", 16),
        Column::cut("TASK", 12).drop(0),
        Column::keep("AGENTS"),
        Column::keep("ID").drop(1),
    ]);
    let waiting = crate::agents::waiting::waiting_by_session(&ctx.repo.state_dir());
    for o in sessions {
        // A file that does not parse has no age (`status` says why).
        let age = if o.is_broken() && o.updated_at.is_none() {
            "-".into()
        } else {
            o.age_label(ctx.now)
        };
        let agents = match (o.agents.total, waiting.get(&o.id)) {
            (0, _) => "-".into(),
            (_, Some(w)) => format!("{}/{} ({w} waiting)", o.agents.running, o.agents.total),
            _ => format!("{}/{}", o.agents.running, o.agents.total),
        };
        let line = |s: &str| terminal::line(s).into_owned();
        t.row(vec![
            line(&o.status),
            age,
            line(&o.title),
            line(o.current_task.as_deref().unwrap_or_default()),
            agents,
            line(&o.id),
        ]);
    }
    t.render()
}
