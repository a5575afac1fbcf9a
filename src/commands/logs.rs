//! `sessions logs`: print an agent's log, or its last N lines, or follow it until the run ends
//! (surviving log rotation).

use std::io::{IsTerminal, Write};

use super::Ctx;
use crate::agents::record::{self, RunRecord, RunStatus};
use crate::agents::{logfile, sync};
use crate::cli::LogsArgs;
use crate::error::{Error, Result};

pub fn run(ctx: &Ctx, args: LogsArgs) -> Result<u8> {
    let target = super::target(ctx, args.target.as_deref())?;
    let runs = sync::Runs::load_session(&ctx.repo, &target.session);
    let chosen = target.select(&runs)?;
    let Some((rec_path, rec)) = chosen.last().copied() else {
        return Err(Error::Check(format!(
            "{} has no agent runs; start one with `sessions spawn {} --agent NAME --task TEXT`",
            target.session, target.session
        )));
    };
    if chosen.len() > 1 && std::io::stderr().is_terminal() {
        eprintln!(
            "(run {} of {} {}, the newest of {}; pick another with {}:RUN_ID)",
            rec.id,
            rec.agent,
            rec.status.display(),
            chosen.len(),
            target.session
        );
    }
    let log = rec.log_path();
    let shown = ctx.show_path(&log);
    let missing = |e: std::io::Error| {
        Error::Check(format!(
            "cannot read the log of run {} ({shown}): {e}; `sessions prune` may have removed it",
            rec.id
        ))
    };
    let mut out = std::io::stdout().lock();
    let mut from = 0;
    if let Some(n) = args.lines {
        for line in logfile::tail_lines(&log, n).map_err(missing)? {
            let _ = writeln!(out, "{line}");
        }
        from = std::fs::metadata(&log).map_err(missing)?.len();
        if !args.follow {
            return Ok(0);
        }
    }
    if !args.follow {
        let mut f = std::fs::File::open(&log).map_err(missing)?;
        let _ = std::io::copy(&mut f, &mut out);
        return Ok(0);
    }
    let rec_path = rec_path.clone();
    let result = if rec.status.is_active() {
        logfile::follow(&log, from, &mut out, || {
            crate::agents::reconcile::reconcile_at(&rec_path)
                .map_or(true, |r| !r.status.is_active())
        })
    } else if args.lines.is_none() {
        std::fs::File::open(&log)
            .and_then(|mut f| std::io::copy(&mut f, &mut out))
            .map(|_| ())
    } else {
        Ok(())
    };
    drop(out);
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
        Err(e) => return Err(missing(e)),
        Ok(()) => {}
    }
    let fin = sync::write_back_once(&rec_path)
        .or_else(|_| record::load(&rec_path))
        .map_err(|e| Error::Check(format!("run {}: {e}", rec.id)))?;
    eprintln!("{}", outcome_line(&fin));
    Ok(follow_exit_code(fin.status))
}

/// `[run 3fa9c2d1 failed, exit 3]`, the last line of a follow (on stderr, so stdout stays
/// the log).
fn outcome_line(rec: &RunRecord) -> String {
    let how = match (rec.exit_code, rec.signal, &rec.reason) {
        (Some(c), _, _) => format!(", exit {c}"),
        (None, Some(s), _) => nix::sys::signal::Signal::try_from(s)
            .map_or_else(|_| format!(", signal {s}"), |s| format!(", killed by {s}")),
        (None, None, Some(r)) if rec.status != RunStatus::Lost => format!(": {r}"),
        _ => String::new(),
    };
    format!("[run {} {}{how}]", rec.id, rec.status.display())
}

/// The exit status of `logs -f` (documented in `LOGS_HELP`): 0 the run completed, 1 it
/// failed, was lost or was cancelled.
fn follow_exit_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Completed => 0,
        _ => 1,
    }
}
