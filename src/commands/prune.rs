//! `sessions prune`: delete finished run records and their logs. Running agents are never
//! touched, and a run whose outcome is not yet in its session file is kept.

use chrono::Utc;

use super::Ctx;
use crate::agents::record::{self, RunStatus};
use crate::agents::sync::Runs;
use crate::agents::writeback::{self, PRUNED};
use crate::cli::PruneArgs;
use crate::error::{Error, Result};
use crate::session::edit::{Op, Scalar, Seg, key_path};

pub fn run(ctx: &Ctx, args: PruneArgs) -> Result<u8> {
    let older_than = args
        .older_than
        .map(chrono::Duration::from_std)
        .transpose()
        .map_err(|_| Error::Usage("--older-than is too large".into()))?;
    let runs = Runs::load(&ctx.repo);
    for p in &runs.problems {
        eprintln!("sessions: warning: {p}");
    }
    let now = Utc::now();
    let (mut count, mut bytes, mut kept, mut kept_worktrees) = (0usize, 0u64, 0usize, 0usize);
    // Removed runs whose record may be a line of the compacted file: dropped in one rewrite.
    let mut forget = std::collections::HashSet::new();
    for (path, rec) in &runs.records {
        if rec.status.is_active()
            || (args.completed && rec.status != RunStatus::Completed)
            || older_than.is_some_and(|d| rec.ended_at.is_none_or(|e| now - e < d))
        {
            continue;
        }
        if !rec.written_back {
            kept += 1;
            continue;
        }
        // The record is what knows the worktree: it goes only with the worktree.
        if !super::worktree::cleanup(ctx, path, rec, args.dry_run) {
            kept_worktrees += 1;
            continue;
        }
        let log = rec.log_path();
        let size = std::fs::metadata(&log).map_or(0, |m| m.len());
        let what = format!(
            "{} run {} of {} ({}), log {}",
            rec.agent,
            rec.id,
            rec.session,
            rec.status.display(),
            ctx.show_path(&log)
        );
        if args.dry_run {
            println!("would remove {what}");
        } else {
            // The file first: a run whose entry cannot say so is kept, so the file never
            // links a log that is gone.
            if let Err(e) = mark_pruned(ctx, rec) {
                eprintln!(
                    "sessions: kept {} run {}: its session file cannot be updated: {e}",
                    rec.agent, rec.id
                );
                continue;
            }
            record::remove(path, rec)?;
            forget.insert((rec.session.clone(), rec.id.clone()));
            if let Some(dir) = log.parent() {
                // The session's log directory goes once empty (fails harmlessly otherwise).
                let _ = std::fs::remove_dir(dir);
            }
            println!("removed {what}");
        }
        count += 1;
        bytes += size;
    }
    crate::agents::compact::forget(&ctx.repo.state_dir(), &forget)?;
    if kept > 0 {
        eprintln!(
            "kept {kept} finished run(s) whose outcome is not in their session file yet (`sessions agents` shows why)"
        );
    }
    if kept_worktrees > 0 {
        eprintln!(
            "kept {kept_worktrees} finished run(s) whose worktree holds work that is nowhere else (`sessions worktree list`; `sessions worktree remove RUN --force` keeps the commits)"
        );
    }
    let verb = if args.dry_run {
        "would prune"
    } else {
        "pruned"
    };
    println!(
        "{verb} {count} run{} ({} of logs)",
        if count == 1 { "" } else { "s" },
        human_bytes(bytes)
    );
    Ok(0)
}

/// Marks the run's log as pruned in its session file (or the archived one): `log: pruned` in
/// its `spawned_agents` entry, and its `[log](…)` links in the body replaced by `log pruned`.
/// Nothing to do when the file is gone.
fn mark_pruned(ctx: &Ctx, rec: &record::RunRecord) -> Result<()> {
    let Some(file) = writeback::session_file(rec) else {
        return Ok(());
    };
    let link = format!("[log]({})", writeback::link_target(&file, &rec.log_path()));
    let log = rec.log.to_string_lossy().into_owned();
    super::edit_session(ctx, &file, |text| {
        let mut ops = Vec::new();
        if let Some(i) = writeback::find_entry(text, &rec.id, &log) {
            let mut path = key_path(&["orchestration", "spawned_agents"]);
            path.extend([Seg::Index(i), Seg::Key("log".into())]);
            ops.push(Op::Set {
                path,
                value: Scalar::Plain(PRUNED.into()),
            });
        }
        ops.push(Op::ReplaceInBody {
            from: link.clone(),
            to: "log pruned".into(),
        });
        Ok(ops)
    })?;
    Ok(())
}

fn human_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KB", n as f64 / 1024.0),
        _ => format!("{:.1} MB", n as f64 / 1_048_576.0),
    }
}
