//! `sessions serve`: turns the flags into [`crate::serve::Options`] and runs the server; all
//! of the server lives in `src/serve/`, which never imports `commands`.

use super::Ctx;
use crate::cli::ServeArgs;
use crate::error::Result;
use crate::serve::Options;

pub fn run(ctx: &Ctx, args: ServeArgs) -> Result<u8> {
    ctx.repo.require_sessions_dir()?;
    crate::serve::run(Options {
        repo: ctx.repo.clone(),
        bind: args.bind,
        port: args.port,
        open: args.open,
        read_only: args.read_only,
        token: args.token,
        allow_hosts: args.allow_host,
    })
}
