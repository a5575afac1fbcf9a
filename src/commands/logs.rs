//! `sessions logs`: print an agent's log, or its last N lines, or follow it until the run ends
//! (surviving log rotation).

use std::io::{IsTerminal, Write};

use super::Ctx;
use super::agents::Target;
use crate::agents::record::{self, RunStatus};
use crate::agents::{logfile, sync};
use crate::cli::LogsArgs;
use crate::error::{Error, Result};

pub fn run(ctx: &Ctx, args: LogsArgs) -> Result<u8> {
    let target = Target::parse(ctx, args.target.as_deref())?;
    let runs = sync::Runs::load_session(&ctx.repo, &target.stem);
    let chosen = target.select(&runs)?;
    let Some((rec_path, rec)) = chosen.last().copied() else {
        return Err(Error::Check(format!(
            "{} has no agent runs; start one with `sessions spawn {} --agent NAME --task TEXT`",
            target.stem, target.stem
        )));
    };
    if chosen.len() > 1 && std::io::stderr().is_terminal() {
        eprintln!(
            "(run {} of {} {}, the newest of {}; pick another with {}:RUN_ID)",
            rec.id,
            rec.agent,
            rec.status.display(),
            chosen.len(),
            target.stem
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
    if !args.follow || !rec.status.is_active() {
        let mut f = std::fs::File::open(&log).map_err(missing)?;
        let _ = std::io::copy(&mut f, &mut out);
        return Ok(0);
    }
    let rec_path = rec_path.clone();
    let result = logfile::follow(&log, from, &mut out, || {
        record::reconcile_at(&rec_path).map_or(true, |r| !r.status.is_active())
    });
    drop(out);
    if let Err(e) = result
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(missing(e));
    }
    if let Ok(fin) = sync::write_back_once(&rec_path)
        && fin.status != RunStatus::Running
    {
        eprintln!(
            "[run {} {}{}]",
            fin.id,
            fin.status.display(),
            fin.exit_code
                .map(|c| format!(", exit {c}"))
                .unwrap_or_default()
        );
    }
    Ok(0)
}
