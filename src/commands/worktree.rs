//! `sessions worktree list|remove`, and the worktree side of `spawn --worktree`, `agents`,
//! `prune` and `close`: the shared command files only call in here. The git work itself is in
//! `crate::worktree`; this file picks the runs, refuses active ones and prints.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Ctx;
use crate::agents::record::{self, RunRecord, Worktree};
use crate::agents::sync::Runs;
use crate::cli::{SpawnArgs, WorktreeAction};
use crate::config::{AgentDef, Config};
use crate::error::{Error, Result};
use crate::store::Repo;
use crate::table::{Column, Table};
use crate::worktree::{self, Request, State};

/// The worktree a spawn of agent `name` gets, if it gets one (`--worktree`, `--branch`,
/// `--base`, or `worktree: true` in the agent's config).
pub fn plan_for(
    ctx: &Ctx,
    args: &SpawnArgs,
    config: &Config,
    def: Option<&AgentDef>,
    name: &str,
    stem: &str,
    run_id: &str,
) -> Result<Option<Worktree>> {
    let wanted = args.worktree
        || args.branch.is_some()
        || args.base.is_some()
        || def.is_some_and(|d| d.worktree);
    if !wanted {
        return Ok(None);
    }
    if args.branch.is_some() && args.agent.len() > 1 {
        return Err(Error::Usage(
            "--branch names one branch, but several agents were given; leave it out to get one branch per agent".into(),
        ));
    }
    let file = format!("{stem}.md");
    let slug = crate::session::name::parse(&file).map_or(stem, |n| n.slug);
    worktree::plan(
        &ctx.repo,
        &Request {
            slug,
            agent: name,
            run_id,
            branch: args.branch.as_deref(),
            base: args.base.as_deref(),
            dir: config.worktree_dir.as_deref(),
        },
    )
    .map(Some)
}

/// `worktree`, `branch`, `base` for the session file's `spawned_agents` entry. The path is
/// relative to the repository root when the worktree is beside it (`../repo.worktrees/…`).
pub fn entry_fields(repo: &Repo, w: &Worktree) -> Vec<(String, String)> {
    let shown = repo
        .root
        .parent()
        .and_then(|up| w.path.strip_prefix(up).ok())
        .map_or_else(
            || w.path.display().to_string(),
            |rel| Path::new("..").join(rel).display().to_string(),
        );
    vec![
        ("worktree".into(), shown),
        ("branch".into(), w.branch.clone()),
        ("base".into(), w.base.clone()),
    ]
}

/// Creates the worktrees of freshly prepared runs; on a failure, undoes the ones made so far.
pub fn create_all<'a>(ctx: &Ctx, records: impl Iterator<Item = &'a RunRecord>) -> Result<()> {
    let mut made: Vec<&Worktree> = Vec::new();
    for rec in records {
        let Some(w) = &rec.worktree else { continue };
        if let Err(e) = worktree::create(&ctx.repo, w) {
            made.iter()
                .for_each(|w| worktree::undo_create(&ctx.repo, w));
            return Err(e);
        }
        made.push(w);
    }
    if let Some(w) = made.first() {
        note_hooks_left_behind(ctx, w);
    }
    Ok(())
}

/// Agent clients read their hook settings from the checkout they run in, so hooks installed
/// but not committed in the main checkout are missing (or older) in a new worktree: say so.
fn note_hooks_left_behind(ctx: &Ctx, w: &Worktree) {
    const SETTINGS: [&str; 4] = [
        ".claude/settings.json",
        ".claude/settings.local.json",
        ".codex/hooks.json",
        ".gemini/settings.json",
    ];
    for rel in SETTINGS {
        let Ok(here) = std::fs::read(ctx.repo.root.join(rel)) else {
            continue;
        };
        if std::fs::read(w.path.join(rel)).ok().as_ref() != Some(&here) {
            eprintln!(
                "sessions: note: {rel} differs in the worktree (not committed?), so an agent there does not get the hooks of the main checkout; commit it to share them"
            );
        }
    }
}

/// Undoes [`create_all`] for a spawn that gave up before any agent started.
pub fn undo_all<'a>(ctx: &Ctx, records: impl Iterator<Item = &'a RunRecord>) {
    for w in records.filter_map(|r| r.worktree.as_ref()) {
        worktree::undo_create(&ctx.repo, w);
    }
}

/// One worktree as `worktree list --json` prints it.
#[derive(Serialize)]
struct Listed<'a> {
    run_id: &'a str,
    session: &'a str,
    agent: &'a str,
    status: &'static str,
    #[serde(flatten)]
    state: State,
}

pub fn run(ctx: &Ctx, action: WorktreeAction) -> Result<u8> {
    match action {
        WorktreeAction::List { json } => list(ctx, json),
        WorktreeAction::Remove { run, force } => remove(ctx, &run, force),
    }
}

/// Every run that has a worktree not yet removed.
fn with_worktrees(runs: &Runs) -> impl Iterator<Item = (&PathBuf, &RunRecord, &Worktree)> {
    runs.records.iter().filter_map(|(p, r)| {
        r.worktree
            .as_ref()
            .filter(|w| !w.removed)
            .map(|w| (p, r, w))
    })
}

/// The fields of [`Listed`]'s JSON, for `--json=FIELD,…`.
const LISTED_FIELDS: &[&str] = &[
    "run_id",
    "session",
    "agent",
    "status",
    "path",
    "branch",
    "base",
    "base_commit",
    "exists",
    "registered",
    "branch_exists",
    "base_exists",
    "ahead",
    "uncommitted",
    "merged",
    "merged_into",
    "upstream",
    "pushed",
    "only_here",
    "problems",
];

fn list(ctx: &Ctx, json: crate::cli::JsonArgs) -> Result<u8> {
    let runs = Runs::load(&ctx.repo);
    for p in &runs.problems {
        eprintln!("sessions: warning: {p}");
    }
    let listed: Vec<Listed> = with_worktrees(&runs)
        .map(|(_, r, w)| Listed {
            run_id: &r.id,
            session: &r.session,
            agent: &r.agent,
            status: r.status.session_status(),
            state: worktree::inspect(&ctx.repo, w),
        })
        .collect();
    let known: Vec<&Path> = runs
        .records
        .iter()
        .filter_map(|(_, r)| r.worktree.as_ref().map(|w| w.path.as_path()))
        .collect();
    for (path, branch) in worktree::unrecorded(&ctx.repo, &known) {
        eprintln!(
            "sessions: note: {} (branch {branch}) has no run record; sessions leaves it alone (`git worktree remove` it when it holds nothing you need)",
            ctx.show_path(&path)
        );
    }
    if json.on() {
        return crate::jsonout::print(&json, &listed, &[LISTED_FIELDS]);
    }
    if listed.is_empty() {
        println!(
            "No agent worktrees. Start an agent in one with: sessions spawn SESSION --agent NAME --worktree --task TEXT"
        );
        return Ok(0);
    }
    let mut t = Table::new(&[
        Column::keep("RUN"),
        Column::cut("AGENT", 12),
        Column::keep("STATUS").status(),
        Column::cut("BRANCH", 20),
        Column::keep("AHEAD"),
        Column::keep("CHANGES"),
        Column::keep("MERGED"),
        Column::cut("PATH", 16).path().drop(0),
    ]);
    for l in &listed {
        t.row(vec![
            l.run_id.to_string(),
            l.agent.to_string(),
            l.status.to_string(),
            l.state.branch.clone(),
            l.state.ahead.map_or_else(|| "-".into(), |a| a.to_string()),
            l.state.uncommitted.len().to_string(),
            l.state.merged.to_string(),
            ctx.show_path(&l.state.path),
        ]);
    }
    print!("{}", t.render());
    for l in &listed {
        for p in &l.state.problems {
            println!("  {} (run {}): {p}", l.agent, l.run_id);
        }
    }
    Ok(0)
}

fn remove(ctx: &Ctx, run: &str, force: bool) -> Result<u8> {
    let runs = Runs::load(&ctx.repo);
    let hits: Vec<_> = with_worktrees(&runs)
        .filter(|(_, r, _)| r.id == run || (run.len() >= 4 && r.id.starts_with(run)))
        .collect();
    let (path, rec, w) = match hits.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::Check(format!(
                "no run with a worktree matches `{run}`; `sessions worktree list` shows them"
            )));
        }
        _ => {
            let ids: Vec<&str> = hits.iter().map(|(_, r, _)| r.id.as_str()).collect();
            return Err(Error::Check(format!(
                "`{run}` matches runs {}; give more of the id",
                ids.join(", ")
            )));
        }
    };
    for note in remove_run(ctx, path, rec, w, force)? {
        println!("{note}");
    }
    Ok(0)
}

/// Removes the worktree of one run, refusing an active run, and marks it removed in the run
/// record. Returns what was done, in words.
fn remove_run(
    ctx: &Ctx,
    path: &Path,
    rec: &RunRecord,
    w: &Worktree,
    force: bool,
) -> Result<Vec<String>> {
    if rec.status.is_active() {
        return Err(Error::Check(format!(
            "run {} ({}) is still {}; its worktree stays until it ends (`sessions kill {}:{}` stops it)",
            rec.id,
            rec.agent,
            rec.status.display(),
            rec.session,
            rec.id
        )));
    }
    let done = worktree::remove(&ctx.repo, &rec.id, w, force)?;
    record::update(path, |r| {
        if let Some(w) = &mut r.worktree {
            w.removed = true;
        }
    })
    .map_err(|e| Error::Usage(e.to_string()))?;
    Ok(done.notes)
}

/// The cleanup `prune` and `close` do: removes the worktree of a finished run when nothing can
/// be lost. `Ok(true)` when the run has no worktree left (none, or removed now); `Ok(false)`
/// when it is kept (the reason is on stderr). With `dry_run`, only says what it would do.
pub fn cleanup(ctx: &Ctx, path: &Path, rec: &RunRecord, dry_run: bool) -> bool {
    let Some(w) = rec.worktree.as_ref().filter(|w| !w.removed) else {
        return true;
    };
    if dry_run {
        let st = worktree::inspect(&ctx.repo, w);
        let safe = st.uncommitted.is_empty()
            && (st.only_here.is_empty() || st.merged.starts_with("merged"));
        let verb = if safe { "would remove" } else { "would keep" };
        println!(
            "{verb} worktree {} ({})",
            ctx.show_path(&w.path),
            st.summary()
        );
        return safe;
    }
    match remove_run(ctx, path, rec, w, false) {
        Ok(notes) => {
            notes.iter().for_each(|n| println!("{n}"));
            true
        }
        Err(e) => {
            eprintln!("sessions: kept: {e}");
            false
        }
    }
}

/// What `agents` shows of a run's worktree: the branch, commits ahead, uncommitted files,
/// merged, pushed (`None` for a run without one).
pub fn state_of(ctx: &Ctx, rec: &RunRecord) -> Option<State> {
    rec.worktree
        .as_ref()
        .filter(|w| !w.removed)
        .map(|w| worktree::inspect(&ctx.repo, w))
}

/// `close`'s cleanup: the worktrees of the session's finished runs go when nothing can be lost;
/// the others stay (listed by `sessions worktree list`), and the reason is said.
pub fn cleanup_session(ctx: &Ctx, stem: &crate::store::SessionId) {
    let runs = Runs::load_session(&ctx.repo, stem);
    for (path, rec, w) in with_worktrees(&runs) {
        if rec.status.is_active() {
            eprintln!(
                "sessions: kept worktree {} of run {}: the agent is still {}",
                ctx.show_path(&w.path),
                rec.id,
                rec.status.display()
            );
        } else {
            cleanup(ctx, path, rec, false);
        }
    }
}
