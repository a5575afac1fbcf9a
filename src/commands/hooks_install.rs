//! `sessions hooks install|uninstall`: merge our entries into an agent's hook settings, and
//! (on request) the short instruction block into the agent's instructions file.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Ctx;
use crate::cli::{HooksAction, HooksInstallArgs};
use crate::error::Result;
use crate::hooks::{self, Agent, Plan, instructions};

/// How long the login-shell PATH check may take (a slow profile must not hang install).
const LOGIN_SHELL_BUDGET: Duration = Duration::from_secs(3);

pub fn run(ctx: &Ctx, action: HooksAction) -> Result<u8> {
    let (args, install) = match &action {
        HooksAction::Install(a) => (a, true),
        HooksAction::Uninstall(a) => (a, false),
    };
    let settings = plan(ctx, args, install)?;
    let teach = if install {
        wants_instructions(ctx, args)
    } else {
        !args.no_instructions
    };
    let block = match (teach, install) {
        (false, _) => None,
        (true, true) => Some(instructions::plan_install(&ctx.repo.root, args.agent)?),
        (true, false) => Some(instructions::plan_uninstall(&ctx.repo.root, args.agent)?),
    };
    // Uninstalling from a file that never had the block is not worth a line.
    let block = block.filter(|b| install || b.changed);
    if args.dry_run {
        for plan in std::iter::once(&settings).chain(&block) {
            if plan.changed {
                print!("{}", plan.diff());
            } else {
                println!(
                    "{} is already up to date; nothing would change",
                    ctx.show_path(&plan.path)
                );
            }
        }
        return Ok(0);
    }
    let verb = if install {
        "installed hooks in"
    } else {
        "removed our hooks from"
    };
    apply(ctx, &settings, verb)?;
    if let Some(block) = &block {
        let verb = if install {
            "added the agent instructions to"
        } else {
            "removed the agent instructions from"
        };
        apply(ctx, block, verb)?;
    }
    if install {
        println!("\n{}", hooks::notes(args.agent));
        if block.is_none() && !args.no_instructions {
            println!(
                "\nTo tell the agent when to update its session, run `sessions hooks install --agent {} --instructions` (adds a short block to {}).",
                args.agent,
                ctx.show_path(&instructions::instructions_path(&ctx.repo.root, args.agent))
            );
        }
        warn_if_unreachable(args.agent);
    }
    Ok(0)
}

fn apply(ctx: &Ctx, plan: &Plan, verb: &str) -> std::result::Result<(), hooks::InstallError> {
    let shown = ctx.show_path(&plan.path);
    if plan.apply()? {
        println!("{verb} {shown}");
    } else {
        println!("{shown} is already up to date");
    }
    Ok(())
}

fn plan(
    ctx: &Ctx,
    args: &HooksInstallArgs,
    install: bool,
) -> std::result::Result<Plan, hooks::InstallError> {
    if install {
        hooks::plan_install(&ctx.repo.root, args.agent, args.local)
    } else {
        hooks::plan_uninstall(&ctx.repo.root, args.agent, args.local)
    }
}

/// `--instructions`, `--no-instructions`, or on a terminal the person's answer.
fn wants_instructions(ctx: &Ctx, args: &HooksInstallArgs) -> bool {
    if args.instructions || args.no_instructions {
        return args.instructions;
    }
    let stdin = std::io::stdin();
    if args.dry_run || !stdin.is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    let file = instructions::instructions_path(&ctx.repo.root, args.agent);
    eprint!(
        "Also add a short block to {} telling the agent when to update its session? [y/N] ",
        ctx.show_path(&file)
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if stdin.lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Warns loudly when the agent will not find `sessions`: not on our PATH, or (Codex, whose
/// tools run under `bash -lc`) not on the PATH a login shell builds from the profile.
fn warn_if_unreachable(agent: Agent) {
    let here = std::env::current_exe().ok();
    let dir = here
        .as_deref()
        .and_then(Path::parent)
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "the directory that holds sessions".into());
    let fix = format!(
        "put it on PATH, e.g. `ln -s {} ~/.local/bin/sessions` (with ~/.local/bin on PATH), or run `cargo install --path .` in the sessions repository",
        here.as_deref()
            .map_or_else(|| "/path/to/sessions".into(), |p| p.display().to_string())
    );
    if find_on_path("sessions").is_none() {
        eprintln!(
            "\nwarning: `sessions` is not on PATH, so {} cannot run these hooks: every one of them will fail with \"command not found\" and nothing is injected or logged.\n  fix: {fix}",
            agent.product_name()
        );
    }
    if agent == Agent::Codex && login_shell_finds("sessions") == Some(false) {
        eprintln!(
            "\nwarning: a login shell (`bash -lc`, which Codex runs its tools with) does not find `sessions`: its PATH comes from your login profile, so the agent's own `sessions log …` and `sessions update …` will fail.\n  fix: add `export PATH=\"{dir}:$PATH\"` to ~/.profile (or ~/.bash_profile), or install sessions into a directory the profile already puts on PATH"
        );
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether `bash -lc 'command -v PROGRAM'` succeeds; `None` when bash is missing or the
/// profile takes longer than [`LOGIN_SHELL_BUDGET`] (then nothing is claimed).
fn login_shell_finds(program: &str) -> Option<bool> {
    let mut child = Command::new("bash")
        .args(["-lc", &format!("command -v {program}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status.success()),
            Ok(None) if start.elapsed() < LOGIN_SHELL_BUDGET => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}
