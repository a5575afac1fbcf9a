//! `sessions watch`: render the live engine's events ([`crate::live`]) as a redrawn table on a
//! terminal, as one human line per event, or as JSON lines; and `watch --logs`.
//!
//! The terminal view wakes once a minute when nothing changes, so ages and stale markers stay
//! true; otherwise the thread sleeps until the OS reports a change.

use std::collections::HashMap;
use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;

use super::Ctx;
use crate::cli::WatchArgs;
use crate::error::{Error, Result};
use crate::live::{
    Change, Changes, Event, Feed, Followed, Msg, SessionSnap, Snapshot, Tracker, settle,
};
use crate::runs::RunView;

/// How often the terminal view refreshes ages when nothing changes.
const TICK: Duration = Duration::from_secs(60);

pub fn run(ctx: &Ctx, args: WatchArgs) -> Result<u8> {
    ctx.repo.require_sessions_dir()?;
    let (tx, rx) = mpsc::channel();
    let quit = tx.clone();
    ctrlc::set_handler(move || {
        let _ = quit.send(Msg::Quit);
    })
    .map_err(|e| Error::Usage(format!("cannot handle Ctrl-C: {e}")))?;
    let mut feed = Feed::new(&ctx.repo.agents_dir(), tx)?;

    if let Some(reference) = &args.logs {
        let session = ctx.repo.resolve(reference, &ctx.cwd)?;
        let stem = session
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let dir = ctx.repo.logs_dir().join(&stem);
        return follow_logs(&mut feed, &rx, &dir);
    }

    let mode = if args.json {
        Mode::Json
    } else if std::io::stdout().is_terminal() {
        Mode::Table
    } else {
        Mode::Lines
    };
    feed.ensure();
    let mut tracker = Tracker::default();
    let mut snap = tracker.snapshot(&ctx.repo, ctx.now, &Changes::everything(), None)?;
    let bell = mode == Mode::Table && !args.no_bell;
    let mut out = std::io::stdout().lock();
    match mode {
        Mode::Json => {
            let ready = Event::Watching {
                at: crate::live::at_now(),
                sessions: snap.sessions.len(),
                agents: snap.runs.len(),
            };
            let _ = writeln!(out, "{}", json(&ready));
        }
        Mode::Table => {
            // The alternate screen keeps the person's scrollback clean; it is left on Ctrl-C.
            let _ = write!(out, "\x1b[?1049h\x1b[?25l");
            draw(ctx, &snap, &mut out);
        }
        Mode::Lines => {
            // For the person: a program reading the pipe gets only events.
            eprintln!(
                "watching {} session(s); Ctrl-C to stop",
                snap.sessions.len()
            );
        }
    }
    let _ = out.flush();
    loop {
        let msg = match mode {
            Mode::Table => rx.recv_timeout(TICK),
            _ => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        let msg = match msg {
            Ok(Msg::Quit) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let ctx = Ctx {
                    repo: ctx.repo.clone(),
                    cwd: ctx.cwd.clone(),
                    now: Utc::now(),
                    conversation: ctx.conversation.clone(),
                };
                let now =
                    tracker.snapshot(&ctx.repo, ctx.now, &Changes::everything(), Some(&snap))?;
                draw(&ctx, &now, &mut out);
                continue;
            }
            Ok(Msg::Changed(paths)) => paths,
        };
        let mut changes = Changes::default();
        changes.add(msg);
        if settle(&rx, &mut changes) {
            break;
        }
        if !feed.is_watching() {
            changes.all = true;
        }
        feed.ensure();
        let ctx = Ctx {
            repo: ctx.repo.clone(),
            cwd: ctx.cwd.clone(),
            now: Utc::now(),
            conversation: ctx.conversation.clone(),
        };
        let next = tracker.snapshot(&ctx.repo, ctx.now, &changes, Some(&snap))?;
        let events = crate::live::diff(&snap, &next);
        if !events.is_empty() {
            match mode {
                Mode::Json => events.iter().for_each(|e| {
                    drop(writeln!(out, "{}", crate::terminal::json(json(e))));
                }),
                Mode::Lines => events.iter().for_each(|e| {
                    drop(writeln!(out, "{}", crate::terminal::line(&line(e))));
                }),
                Mode::Table => draw(&ctx, &next, &mut out),
            }
            // On a terminal, a bell when a run failed, was lost or waits for the person.
            if bell && events.iter().any(Event::wants_attention) {
                let _ = out.write_all(b"\x07");
            }
            let _ = out.flush();
        }
        snap = next;
    }
    if mode == Mode::Table {
        let _ = write!(out, "\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
    }
    Ok(0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Json,
    Table,
    Lines,
}

fn json(e: &Event) -> String {
    serde_json::to_string(e).unwrap_or_default()
}

/// One human line per event, for non-terminal output.
fn line(e: &Event) -> String {
    let t = e.at().get(11..19).unwrap_or("");
    let event = e.name();
    let who = e.session().unwrap_or("");
    let detail = match e {
        Event::SessionUpdated { changes: c, .. } => {
            let mut parts = Vec::new();
            let mut field = |k: &str, ft: Option<(String, String)>| {
                if let Some((f, to)) = ft {
                    parts.push(format!("{k} {f} → {to}"));
                }
            };
            let s = |c: &Option<Change<String>>| c.as_ref().map(|c| (c.from.clone(), c.to.clone()));
            let o =
                |c: &Option<Change<Option<String>>>| c.as_ref().map(|c| (opt(&c.from), opt(&c.to)));
            field("title", s(&c.title));
            field("status", s(&c.status));
            field("current_task", o(&c.current_task));
            field("last_updated", o(&c.last_updated));
            field("linear_issue", o(&c.linear_issue));
            field(
                "stale",
                c.stale
                    .as_ref()
                    .map(|c| (c.from.to_string(), c.to.to_string())),
            );
            field(
                "agents",
                c.agents.as_ref().map(|c| {
                    let n = |a: &crate::overview::AgentCounts| {
                        format!("{} running of {}", a.running, a.total)
                    };
                    (n(&c.from), n(&c.to))
                }),
            );
            if c.body.is_some() {
                parts.push("body".into());
            }
            parts.join(", ")
        }
        Event::SessionInvalid { diagnostics, .. } => diagnostics
            .first()
            .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
            .unwrap_or_default(),
        Event::AgentStarted { agent: a, .. } => format!("{} ({})", a.agent, a.run_id),
        Event::AgentWaiting { agent: a, .. } => format!("{} ({}) {}", a.agent, a.run_id, a.waiting),
        Event::AgentFinished { agent: a, .. } | Event::AgentLost { agent: a, .. } => format!(
            "{} {} exit {}{}",
            a.agent,
            a.status,
            a.exit_code
                .map_or_else(|| "-".to_string(), |c| c.to_string()),
            a.summary
                .as_deref()
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        ),
        Event::SessionCreated { session, .. } | Event::SessionValid { session, .. } => {
            session.title.clone()
        }
        Event::SessionDeleted { .. } | Event::Watching { .. } => String::new(),
    };
    format!("{t} {event:<16} {who} {detail}")
        .trim_end()
        .to_string()
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn draw(ctx: &Ctx, snap: &Snapshot, out: &mut impl Write) {
    use crate::table::Column;
    // Cut first: the title, task, agents and validity (widest first); left out first: the
    // task, then the agents summary.
    let mut t = crate::table::Table::new(&[
        Column::keep("STATUS").status(),
        Column::keep("AGE").status(),
        Column::cut("TITLE", 16),
        Column::cut("TASK", 12).drop(0),
        Column::cut("AGENTS", 14).drop(1),
        Column::cut("VALID", 10),
    ]);
    let mut rows: Vec<&SessionSnap> = snap.sessions.values().map(|s| &**s).collect();
    rows.sort_by_key(|s| std::cmp::Reverse(s.overview.updated_at));
    // Each session's runs, in one pass over the runs rather than one per row.
    let mut runs_of: HashMap<&str, Vec<&RunView>> = HashMap::new();
    for r in snap.runs.values() {
        runs_of.entry(r.session.as_str()).or_default().push(r);
    }
    for s in rows {
        let o = &s.overview;
        let age = o.age_label(ctx.now);
        let runs = runs_of.get(o.id.as_str()).map_or(&[][..], Vec::as_slice);
        let agents = if runs.is_empty() {
            "-".to_string()
        } else {
            let running = runs.iter().filter(|r| r.active).count();
            let failed = runs.iter().filter(|r| !r.active && r.failed()).count();
            let longest = runs
                .iter()
                .filter(|r| r.active)
                .map(|r| r.runtime_whole_secs() as i64)
                .max();
            let mut s = format!(
                "{running} run, {} done, {failed} fail",
                runs.len() - running - failed
            );
            if let Some(secs) = longest {
                s.push_str(&format!(
                    " ({})",
                    crate::overview::format_age(chrono::Duration::seconds(secs))
                ));
            }
            s
        };
        let valid = match s.errors().next() {
            None => "✓".to_string(),
            Some(d) => format!("✗ {}:{} {}", d.line, d.column, d.rule),
        };
        let clean = |s: &str| crate::terminal::line(s).into_owned();
        t.row(vec![
            clean(&o.status),
            age,
            clean(&o.title),
            clean(o.current_task.as_deref().unwrap_or_default()),
            agents,
            valid,
        ]);
    }
    let _ = write!(out, "\x1b[H\x1b[2J");
    let _ = write!(
        out,
        "sessions watch — {} session(s), {} agent run(s)   (Ctrl-C to quit)\r\n\r\n",
        snap.sessions.len(),
        snap.runs.len()
    );
    for l in t.render().lines() {
        let _ = write!(out, "{l}\r\n");
    }
    let _ = out.flush();
}

/// `watch --logs`: print new lines of every log of one session as they arrive, prefixed with
/// the log's agent and run id.
fn follow_logs(feed: &mut Feed, rx: &mpsc::Receiver<Msg>, dir: &Path) -> Result<u8> {
    let mut followed: HashMap<PathBuf, Followed> = HashMap::new();
    let mut out = std::io::stdout().lock();
    // Each log is shown from its beginning: whoever asks wants the agents' output so far.
    loop {
        feed.ensure();
        let mut logs: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect()
            })
            .unwrap_or_default();
        logs.sort();
        for log in logs {
            let prefix = log
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let state = followed.entry(log.clone()).or_default();
            if let Ok(f) = fs::File::open(&log) {
                for l in state.new_lines(f) {
                    let _ = writeln!(out, "[{prefix}] {l}");
                }
            }
        }
        let _ = out.flush();
        match rx.recv() {
            Ok(Msg::Quit) | Err(_) => return Ok(0),
            Ok(Msg::Changed(_)) => {
                if settle(rx, &mut Changes::default()) {
                    return Ok(0);
                }
            }
        }
    }
}
