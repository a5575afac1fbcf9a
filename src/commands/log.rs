//! `sessions log`: a timestamped entry at the end of `## Session Log`.

use super::{Ctx, edit_session, text_arg};
use crate::cli::LogArgs;
use crate::error::{Error, Result};
use crate::session::edit::Op;

pub fn run(ctx: &Ctx, args: LogArgs) -> Result<u8> {
    let path = ctx.repo.resolve(&args.session, &ctx.cwd)?;
    let message = text_arg(&args.message, &mut false)?;
    if message.trim().is_empty() {
        return Err(Error::Usage("the log message is empty".into()));
    }
    let actor = args.actor.unwrap_or_else(default_actor);
    let op = Op::Log {
        at: ctx.now,
        actor: actor.clone(),
        message,
    };
    edit_session(ctx, &path, |_| Ok(vec![op.clone()]))?;
    println!("logged to {} as [{actor}]", ctx.show_path(&path));
    Ok(0)
}

/// `$SESSIONS_ACTOR`, else `$USER`, else `user`.
pub fn default_actor() -> String {
    ["SESSIONS_ACTOR", "USER"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "user".into())
}
