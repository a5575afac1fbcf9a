//! `sessions kill`: SIGTERM to each matching run's whole process group, SIGKILL after the
//! grace period, confirm, and see the run recorded `cancelled` in its session file.

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::Ctx;
use super::agents::{Target, describe};
use crate::agents::process::{KillOutcome, is_alive_opt};
use crate::agents::record::{self, RunRecord};
use crate::agents::supervise::kill_run;
use crate::agents::sync;
use crate::cli::KillArgs;
use crate::error::{Error, Result};

/// How long `kill` waits for the supervisor to write the outcome into the session file.
const WRITE_BACK_WAIT: Duration = Duration::from_secs(10);

pub fn run(ctx: &Ctx, args: KillArgs) -> Result<u8> {
    let target = Target::parse(ctx, args.target.as_deref())?;
    let runs = sync::Runs::load_session(&ctx.repo, &target.stem);
    let matching = target.select(&runs)?;
    let active: Vec<&(PathBuf, RunRecord)> = matching
        .iter()
        .copied()
        .filter(|(_, r)| r.status.is_active())
        .collect();
    if active.is_empty() {
        return Err(Error::Check(format!(
            "no running agent matches `{}`{}",
            target.text,
            describe(&matching)
        )));
    }
    if active.len() > 1 && !args.all {
        return Err(Error::Check(format!(
            "`{}` matches {} running agents{}; name one ({}:AGENT or {}:RUN_ID) or pass --all",
            target.text,
            active.len(),
            describe(&active),
            target.stem,
            target.stem
        )));
    }
    // Every group gets its SIGTERM at once; the grace periods run in parallel.
    let results: Vec<(RunRecord, Result<KillOutcome>)> = std::thread::scope(|s| {
        let handles: Vec<_> = active
            .iter()
            .map(|(path, rec)| {
                let grace = args.grace;
                s.spawn(move || {
                    let outcome = kill_run(path, grace)
                        .map_err(Error::from)
                        .and_then(|(_, o)| settle(path).map(|_| o));
                    (rec.clone(), outcome)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut code = 0;
    for (rec, outcome) in results {
        let what = format!("{} (run {})", rec.agent, rec.id);
        match outcome {
            Ok(KillOutcome::Terminated) => println!("stopped {what} with SIGTERM"),
            Ok(KillOutcome::Killed) => println!(
                "killed {what} with SIGKILL after {}",
                humantime::format_duration(args.grace)
            ),
            Ok(KillOutcome::NotRunning) => println!("{what} had already ended"),
            Ok(KillOutcome::Survived(pids)) => {
                code = 1;
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                eprintln!(
                    "sessions: {what}: processes {} survived SIGKILL (stuck in the kernel?)",
                    pids.join(", ")
                );
            }
            Ok(KillOutcome::PermissionDenied) => {
                code = 1;
                eprintln!("sessions: {what}: not allowed to signal its processes");
            }
            Ok(KillOutcome::Refused) => {
                code = 1;
                eprintln!("sessions: {what}: its process group is not one we may signal");
            }
            Err(e) => {
                code = 1;
                eprintln!("sessions: {what}: {e}");
            }
        }
    }
    Ok(code)
}

/// Waits until the run's outcome is in the session file: the supervisor writes it; when the
/// supervisor is gone we do.
fn settle(path: &Path) -> Result<RunRecord> {
    let deadline = Instant::now() + WRITE_BACK_WAIT;
    loop {
        let rec = record::load(path)?;
        if rec.written_back {
            return Ok(rec);
        }
        if !is_alive_opt(rec.supervisor_pid, rec.supervisor_start) || Instant::now() >= deadline {
            return sync::write_back_once(path);
        }
        sleep(Duration::from_millis(10));
    }
}
