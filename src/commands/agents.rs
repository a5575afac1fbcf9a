//! `sessions agents`: background runs with status, pid, runtime, exit code and log path (or
//! the SPEC §8 JSON), after reconciling them with the live processes.

use chrono::Utc;

use super::Ctx;
use crate::agents::record::RunRecord;
use crate::agents::sync::{self, Orphan, OrphanState, Runs};
use crate::cli::AgentsArgs;
use crate::error::Result;
use crate::runs::{RunView, runtime_label};
use crate::store::SessionId;
use crate::table::{Column, Table};

/// Without `--all` or a session, runs that ended longer ago than this are not listed.
const RECENT: chrono::Duration = chrono::Duration::hours(24);

/// `running`, `waiting (permission: Bash)`, `completed`, `failed (lost)`, …
pub fn status_text(r: &RunRecord) -> String {
    if r.status.is_active()
        && let Some(why) = r.runner.unreachable()
    {
        return format!("unknown ({why})");
    }
    match &r.turn {
        Some(t) if r.status.is_active() && t.is_waiting() => t.describe(),
        _ => r.status.display().to_string(),
    }
}

/// The unsettled orphans of the session files (all, or `session`'s); lost ones are
/// settled (and recorded) on the way, so the run records loaded afterwards include them.
fn orphans(ctx: &Ctx, session: Option<&SessionId>) -> Result<Vec<Orphan>> {
    let files = match session {
        Some(s) => vec![ctx.repo.session_file(s)],
        None => ctx.repo.session_files_if_any()?,
    };
    Ok(files
        .iter()
        .filter_map(|p| Some((p, crate::store::read_session(p).ok()?)))
        .flat_map(|(p, text)| sync::check_entries(&ctx.repo, p, text).1)
        .filter(|o| o.state != OrphanState::Lost)
        .collect())
}

/// `agents [--all] --json` over every session: the runs are streamed (see `Runs::stream`)
/// and written one by one, so memory stays flat however many are kept; a compacted run's
/// stored view is copied as it is. The same bytes as `to_string_pretty` of the whole list.
fn stream_json(ctx: &Ctx, all: bool, orphans: &[Orphan]) -> Result<u8> {
    use crate::agents::compact::Item;
    let (runs, mut stream) = Runs::stream(&ctx.repo);
    for p in &runs.problems {
        eprintln!("sessions: warning: {p}");
    }
    let now = Utc::now();
    let recent_ms = (now - RECENT).timestamp_millis();
    let views = crate::runs::settled_views();
    let state_dir = stream.state_dir().to_path_buf();
    let render = |r: &RunRecord| {
        crate::runs::array_element(&RunView {
            worktree: super::worktree::state_of(ctx, r),
            ..RunView::new(r, now)
        })
    };
    let io = serde_json::Error::io;
    // Only ever piped here (a terminal gets the collected, pretty path): compact.
    let mut out = crate::runs::ArrayWriter::new(std::io::BufWriter::with_capacity(
        64 << 10,
        std::io::stdout().lock(),
    ))
    .map_err(io)?;
    let mut errors = Vec::new();
    for item in stream.by_ref() {
        match item {
            Item::Loose(_, r) => {
                if all || r.status.is_active() || r.ended_at.is_none_or(|e| now - e < RECENT) {
                    out.element(&render(&r)).map_err(io)?;
                }
            }
            Item::Compacted(line) => {
                if !all && line.ended_ms.is_some_and(|e| e <= recent_ms) {
                    continue;
                }
                if let Some(v) = line.view(views).and_then(|v| std::str::from_utf8(v).ok()) {
                    out.element(v).map_err(io)?;
                    continue;
                }
                match line.record() {
                    Ok(r) => out.element(&render(&r)).map_err(io)?,
                    Err(e) => errors.push((state_dir.clone(), format!("invalid run record: {e}"))),
                }
            }
        }
    }
    for o in orphans {
        out.element(&crate::runs::array_element(&RunView::orphan(o)))
            .map_err(io)?;
    }
    out.finish().map_err(io)?;
    errors.extend(stream.errors().iter().cloned());
    for p in sync::problems(&errors) {
        eprintln!("sessions: warning: {p}");
    }
    Ok(0)
}

pub fn run(ctx: &Ctx, args: AgentsArgs) -> Result<u8> {
    // Without SESSION: the bound session's runs inside a bound conversation (unless --all),
    // every session's elsewhere.
    let bound = match &args.session {
        None if !args.all => super::conversation(ctx)
            .and_then(|c| crate::binding::lookup(&ctx.repo, &c.id))
            .is_some(),
        _ => false,
    };
    let target = match (&args.session, bound) {
        (Some(s), _) => Some(super::target(ctx, Some(s))?),
        (None, true) => Some(super::target(ctx, None)?),
        (None, false) => None,
    };
    if bound
        && let Some(t) = &target
        && !args.json.on()
    {
        eprintln!(
            "(runs of {}, the session this conversation is bound to; --all lists every session's)",
            t.session
        );
    }
    let orphans: Vec<Orphan> = orphans(ctx, target.as_ref().map(|t| &t.session))?
        .into_iter()
        .filter(|o| {
            target
                .as_ref()
                .and_then(|t| t.selector.as_deref())
                .is_none_or(|sel| o.agent == sel || o.run_id.starts_with(sel))
        })
        .collect();
    // The whole list, piped (compact): streamed, so memory stays flat in the number of runs.
    // Picked fields, --jq and the pretty terminal form take the collected path below.
    let whole = args.json.jq.is_none()
        && args
            .json
            .json
            .as_deref()
            .is_some_and(|f| f.trim().is_empty());
    if whole
        && !args.records
        && target.is_none()
        && !std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        return stream_json(ctx, args.all, &orphans);
    }
    let runs = match &target {
        Some(t) => Runs::load_session(&ctx.repo, &t.session),
        None => Runs::load(&ctx.repo),
    };
    for p in &runs.problems {
        eprintln!("sessions: warning: {p}");
    }
    let now = Utc::now();
    let shown: Vec<&RunRecord> = match &target {
        Some(t) => match t.select(&runs) {
            Ok(hit) => hit.into_iter().map(|(_, r)| r).collect(),
            Err(_) if !orphans.is_empty() => Vec::new(),
            Err(e) => return Err(e),
        },
        None => runs
            .records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| {
                args.all || r.status.is_active() || r.ended_at.is_none_or(|e| now - e < RECENT)
            })
            .collect(),
    };
    if args.records {
        // For the machine that started these runs over ssh (see `agents::runner::ssh`).
        println!("{}", serde_json::to_string(&shown)?);
        return Ok(0);
    }
    if args.json.on() {
        let views: Vec<RunView> = shown
            .iter()
            .map(|r| RunView {
                worktree: super::worktree::state_of(ctx, r),
                ..RunView::new(r, now)
            })
            .chain(orphans.iter().map(RunView::orphan))
            .collect();
        return crate::jsonout::print(&args.json, &views, &[RunView::FIELDS]);
    }
    if shown.is_empty() && orphans.is_empty() {
        let hint = if target.is_none() && !args.all && !runs.records.is_empty() {
            " in the last 24 hours (--all shows older ones)"
        } else {
            ""
        };
        println!(
            "No agent runs{hint}. Start one with: sessions spawn SESSION --agent NAME --task TEXT"
        );
        return Ok(0);
    }
    // Cut first: the log path and the session (widest first); left out first: the pid, the
    // log path (`sessions logs` finds it), then the exit code.
    let mut columns = vec![
        Column::keep("RUN"),
        Column::cut("AGENT", 12),
        Column::keep("STATUS").status(),
        Column::keep("PID").drop(0),
        Column::keep("RUNTIME"),
        Column::keep("EXIT").drop(2),
    ];
    if target.is_none() {
        columns.push(Column::cut("SESSION", 20));
    }
    columns.push(Column::cut("LOG", 16).path().drop(1));
    let mut t = Table::new(&columns);
    for r in &shown {
        let v = RunView::new(r, now);
        let mut row = vec![
            r.id.clone(),
            r.agent.clone(),
            status_text(r),
            r.pid.map_or_else(|| "-".into(), |p| p.to_string()),
            runtime_label(v.runtime_secs),
            match (&v.exit_code, &v.signal) {
                (Some(c), _) => c.to_string(),
                (None, Some(s)) => s.clone(),
                _ => "-".into(),
            },
        ];
        if target.is_none() {
            row.push(r.session.clone());
        }
        row.push(ctx.show_path(&r.log_path()));
        t.row(row);
    }
    for o in &orphans {
        let v = RunView::orphan(o);
        let mut row = vec![
            o.run_id.clone(),
            o.agent.clone(),
            v.status.to_string(),
            v.pid.map_or_else(|| "-".into(), |p| p.to_string()),
            "-".into(),
            "-".into(),
        ];
        if target.is_none() {
            row.push(o.session.clone());
        }
        row.push(
            o.log
                .as_ref()
                .map_or_else(|| "-".into(), |l| ctx.show_path(&ctx.repo.root.join(l))),
        );
        t.row(row);
    }
    print!("{}", t.render());
    for r in &shown {
        if let Some(w) = super::worktree::state_of(ctx, r) {
            println!(
                "  {} (run {}): worktree {}: {}",
                r.agent,
                r.id,
                ctx.show_path(&w.path),
                w.summary()
            );
        }
    }
    for o in &orphans {
        println!("  {} (run {}): {}", o.agent, o.run_id, o.describe());
    }
    for r in &shown {
        for f in &r.notify_failures {
            println!("  {} (run {}): notification failed: {f}", r.agent, r.id);
        }
    }
    Ok(0)
}
