//! `sessions hooks install|uninstall`: merge our entries into an agent's hook settings.

use super::Ctx;
use crate::cli::{HooksAction, HooksInstallArgs};
use crate::error::{Error, Result};
use crate::hooks::{self, Plan};

pub fn run(ctx: &Ctx, action: HooksAction) -> Result<u8> {
    let (args, install) = match &action {
        HooksAction::Install(a) => (a, true),
        HooksAction::Uninstall(a) => (a, false),
    };
    let plan = plan(ctx, args, install).map_err(|e| Error::Usage(e.to_string()))?;
    let shown = ctx.show_path(&plan.path);
    if args.dry_run {
        if plan.changed {
            print!("{}", plan.diff());
        } else {
            println!("{shown} is already up to date; nothing would change");
        }
        return Ok(0);
    }
    if !plan.changed {
        println!("{shown} is already up to date");
    } else {
        plan.apply().map_err(|e| Error::Usage(e.to_string()))?;
        let verb = if install {
            "installed hooks in"
        } else {
            "removed our hooks from"
        };
        println!("{verb} {shown}");
    }
    if install {
        println!("\n{}", hooks::notes(args.agent));
        if !on_path("sessions") {
            eprintln!(
                "warning: `sessions` is not on PATH, so the agent cannot run these hooks; install it with `cargo install --path .`"
            );
        }
    }
    Ok(0)
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

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
