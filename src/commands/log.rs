//! `sessions log`: a timestamped entry at the end of `## Session Log`.

use super::{Ctx, edit_session, text_arg};
use crate::cli::LogArgs;
use crate::error::{Error, Result};
use crate::session::edit::Op;
use crate::store::SessionId;

pub fn run(ctx: &Ctx, args: LogArgs) -> Result<u8> {
    // Two arguments are SESSION MESSAGE and the SESSION must resolve; one is the MESSAGE.
    let (path, message) = match &args.second {
        Some(message) => (super::session_path(ctx, Some(&args.first))?, message),
        None => {
            refuse_bare_session_name(ctx, &args.first)?;
            (super::session_path(ctx, None)?, &args.first)
        }
    };
    let message = text_arg(message, &mut false)?;
    if message.trim().is_empty() {
        return Err(Error::Usage("the log message is empty".into()));
    }
    let actor = args.actor.unwrap_or_else(crate::actor::default_actor);
    let op = Op::Log {
        at: ctx.now,
        actor: actor.clone(),
        message,
    };
    edit_session(ctx, &path, |_| Ok(vec![op.clone()]))?;
    println!("logged to {} as [{actor}]", ctx.show_path(&path));
    Ok(0)
}

/// `sessions log weather` with the message forgotten: a lone argument that is exactly a
/// session's file stem (or file name) is not taken for the message.
fn refuse_bare_session_name(ctx: &Ctx, arg: &str) -> Result<()> {
    let name = arg.strip_suffix(".md").unwrap_or(arg);
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Ok(());
    }
    let files = ctx.repo.session_files_if_any()?;
    if files.iter().any(|p| SessionId::of(p) == name) {
        return Err(Error::Usage(format!(
            "`{arg}` is a session, not a message; give the message too: sessions log {arg} \"MESSAGE\""
        )));
    }
    Ok(())
}
