//! One file per subcommand; each reads like the help text it implements.

mod agents;
mod attach;
mod close;
mod handoff;
mod hook;
mod hooks_install;
mod hosts;
mod init;
mod kill;
mod lifecycle;
mod list;
mod log;
mod logs;
mod new;
mod prune;
mod restart;
mod send;
mod serve;
mod show;
mod spawn;
mod status;
mod update;
mod validate;
mod wait;
mod watch;
mod worktree;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::binding;
use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::session::edit::{self, EditError, Op};
use crate::store::{Repo, SessionId};
use crate::target::Target;
use crate::write::{self, Outcome};

/// What every command gets: the repository it works in and one notion of "now".
pub struct Ctx {
    pub repo: Repo,
    pub cwd: PathBuf,
    pub now: DateTime<Utc>,
    /// `--conversation ID`, the first place [`crate::binding::current`] looks.
    pub conversation: Option<String>,
}

impl Ctx {
    pub fn config(&self) -> Result<Config> {
        Config::load(&self.repo.config_path())
    }

    /// A path as printed for the person: relative to the current directory when below it.
    pub fn show_path(&self, path: &std::path::Path) -> String {
        let abs = crate::store::absolute(path);
        abs.strip_prefix(&self.cwd)
            .map_or_else(|_| abs.display().to_string(), |p| p.display().to_string())
    }
}

/// Applies the ops that `ops_for(current_text)` returns to the session at `path`, safely (see
/// `write.rs`), bumping `last_updated` when anything changed.
pub fn edit_session(
    ctx: &Ctx,
    path: &std::path::Path,
    ops_for: impl FnMut(&str) -> Result<Vec<Op>, EditError>,
) -> Result<Outcome> {
    edit_session_with(ctx, path, write::Durability::Durable, ops_for)
}

/// [`edit_session`] with the rename's durability chosen (see [`write::Durability`]).
pub fn edit_session_with(
    ctx: &Ctx,
    path: &std::path::Path,
    durability: write::Durability,
    mut ops_for: impl FnMut(&str) -> Result<Vec<Op>, EditError>,
) -> Result<Outcome> {
    let now = ctx.now;
    write::edit_file_with(&ctx.repo, path, durability, |text| {
        edit::apply(text, &ops_for(text)?, now)
    })
}

/// A TEXT argument: `-` reads standard input (once per command).
pub fn text_arg(value: &str, stdin_used: &mut bool) -> Result<String> {
    if value != "-" {
        return Ok(value.to_string());
    }
    if std::mem::replace(stdin_used, true) {
        return Err(Error::Usage(
            "only one TEXT argument can be `-` (standard input)".into(),
        ));
    }
    std::io::read_to_string(std::io::stdin())
        .map_err(|e| Error::read(std::path::Path::new("<stdin>"), e))
}

/// The agent conversation this command runs in (see [`crate::binding::current`]).
pub fn conversation(ctx: &Ctx) -> Option<binding::Conversation> {
    binding::current(&ctx.repo, ctx.conversation.as_deref())
}

/// The session a command works on: `reference` as given, else the session this conversation
/// is bound to. Without either, a usage error (exit 2) that lists the sessions in progress and
/// says how to bind.
pub fn session_path(ctx: &Ctx, reference: Option<&str>) -> Result<PathBuf> {
    if let Some(r) = reference {
        return ctx.repo.resolve(r, &ctx.cwd);
    }
    let conv = conversation(ctx);
    let why = match &conv {
        None => format!(
            "this command does not run in a known agent conversation (no --conversation, none of ${} set, and no ancestor process recorded by a hook)",
            binding::CONVERSATION_VARS.join(", $")
        ),
        Some(c) => match binding::read(&ctx.repo, &c.id) {
            None => format!(
                "conversation {} (from {}) is not bound to a session",
                c.id,
                c.found.describe()
            ),
            Some(b) => match binding::existing(&ctx.repo, &b) {
                Some(path) => return Ok(path),
                None => format!(
                    "conversation {} is bound to {}, which no longer exists",
                    c.id, b.session
                ),
            },
        },
    };
    Err(Error::Usage(format!(
        "no SESSION given, and {why}.\n{}",
        candidates(ctx, conv.is_some())
    )))
}

/// The in-progress sessions and how to name or bind one, for the "no SESSION" error.
fn candidates(ctx: &Ctx, in_conversation: bool) -> String {
    let files = match ctx.repo.session_files_if_any() {
        Ok(files) => files,
        Err(e) => return format!("The sessions cannot be listed: {e}."),
    };
    let mut found = Vec::new();
    for path in &files {
        let Ok(text) = crate::store::read_session(path) else {
            continue;
        };
        let doc = crate::session::Document::parse_frontmatter(&text);
        if doc.str_value(&["session", "status"]) == Some("in_progress") {
            let title = doc.str_value(&["session", "title"]).unwrap_or("(untitled)");
            found.push((SessionId::of(path).to_string(), title.to_string()));
        }
    }
    let width = found.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    let lines: Vec<String> = found
        .iter()
        .map(|(s, title)| format!("  {s:<width$}  {title}"))
        .collect();
    let bind = if in_conversation {
        "bind this conversation with `sessions resume SESSION`"
    } else {
        "run it inside an agent conversation bound with `sessions resume SESSION` (or pass --conversation ID)"
    };
    let mut out = if lines.is_empty() {
        "No session is in progress; start one with `sessions new \"what you are doing\"`."
            .to_string()
    } else {
        format!("In progress:\n{}\n", lines.join("\n"))
    };
    if !lines.is_empty() {
        out.push_str(&format!("Name one as SESSION, or {bind}."));
    }
    out
}

/// How a command asks to bind: `new` (only an unbound conversation, unless --bind) or
/// `resume` (always rebinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindAsk {
    New,
    Resume,
}

/// Binds this conversation to `path` by the rules in docs/bindings.md, saying on stderr
/// whenever it does not do what the command implies: `new` leaves an existing binding alone
/// unless `force`; nothing rebinds while a subagent runs in the conversation unless `force`.
pub fn bind_conversation(
    ctx: &Ctx,
    path: &std::path::Path,
    ask: BindAsk,
    force: bool,
) -> Result<()> {
    let Some(conv) = conversation(ctx) else {
        if force {
            eprintln!(
                "sessions: --bind: this command does not run in a known agent conversation, so nothing was bound (pass --conversation ID)."
            );
        }
        return Ok(());
    };
    let current =
        binding::read(&ctx.repo, &conv.id).filter(|b| binding::existing(&ctx.repo, b).is_some());
    let target = ctx.repo.display(path);
    if current.as_ref().is_some_and(|b| b.session == target) {
        return Ok(());
    }
    let stays = |why: &str| {
        let on = current.as_ref().map_or_else(
            || "unbound".to_string(),
            |b| format!("bound to {}", b.session),
        );
        eprintln!(
            "sessions: this conversation stays {on}: {why}; pass --bind to bind it to {target}."
        );
    };
    if !force {
        let subs = binding::subagents::active(&ctx.repo, &conv.id, ctx.now);
        if !subs.is_empty() {
            let who: Vec<String> = subs
                .iter()
                .map(|s| {
                    if s.agent_type.is_empty() {
                        s.agent_id.clone()
                    } else {
                        format!("{} {}", s.agent_type, s.agent_id)
                    }
                })
                .collect();
            stays(&format!(
                "a subagent is running in it ({}), and a subagent's commands cannot be told from its parent's",
                who.join(", ")
            ));
            return Ok(());
        }
        if ask == BindAsk::New
            && let Some(b) = &current
            && !b.is_inferred()
        {
            stays(
                "`new` does not move an existing binding (later commands without SESSION still go there)",
            );
            return Ok(());
        }
    }
    let via = match ask {
        BindAsk::New => "new",
        BindAsk::Resume => "resume",
    };
    binding::bind(&ctx.repo, &conv.id, path, via, &edit::timestamp(ctx.now))?;
    if let Some(b) = &current {
        eprintln!(
            "sessions: this conversation now works in {target} (was {}).",
            b.session
        );
    }
    Ok(())
}

/// How many of the session's background agents are running right now (run records
/// reconciled with the live processes; the file's statuses when there are none).
pub fn running_agents(ctx: &Ctx, path: &std::path::Path) -> Result<usize> {
    Ok(agents_of(ctx, path)?.0)
}

/// The running count of [`running_agents`] and the file's entries without a run record here
/// (see `agents::sync::check_entries`; lost ones are settled on the way).
pub fn agents_of(
    ctx: &Ctx,
    path: &std::path::Path,
) -> Result<(usize, Vec<crate::agents::sync::Orphan>)> {
    let runs = crate::agents::sync::Runs::load_session(&ctx.repo, &SessionId::of(path));
    let text = crate::store::read_session(path)?;
    let (text, orphans) = crate::agents::sync::check_entries(&ctx.repo, path, text);
    let mut o = crate::overview::Overview::new(
        path,
        String::new(),
        Some(&text),
        ctx.now,
        std::time::Duration::MAX,
    );
    o.correct_with(&runs, &orphans);
    Ok((o.agents.running, orphans))
}

/// Resolves a `SESSION[:AGENT|:RUN_ID]` target; a left-out SESSION is the one this
/// conversation is bound to.
pub fn target(ctx: &Ctx, text: Option<&str>) -> Result<Target> {
    Target::parse(&ctx.repo, &ctx.cwd, text, || session_path(ctx, None))
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    crate::style::init(cli.color);
    crate::agents::queue::set_deliverer(send::deliver_queued);
    crate::agents::compact::set_views(crate::runs::settled_views);
    let cwd = crate::store::absolute(&cli.directory.unwrap_or_else(|| PathBuf::from(".")));
    if !cwd.is_dir() {
        return Err(crate::error::Error::Usage(format!(
            "{} is not a directory",
            cwd.display()
        )));
    }
    // A hook never fails its agent, and a background process never dies of its starter's
    // environment: a bad pin falls back to the system clock there.
    let background = matches!(
        cli.command,
        Command::Hook { .. } | Command::Supervise(_) | Command::Notify(_)
    );
    let now = match crate::clock::now() {
        Err(_) if background => Utc::now(),
        other => other?,
    };
    let ctx = Ctx {
        repo: Repo::discover(&cwd),
        cwd,
        now,
        conversation: cli.conversation,
    };
    match cli.command {
        Command::Init => init::run(&ctx),
        Command::New(args) => new::run(&ctx, args),
        Command::List(args) => list::run(&ctx, args),
        Command::Status(args) => status::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args),
        Command::Validate(args) => validate::run(&ctx, args),
        Command::Update(args) => update::run(&ctx, *args),
        Command::Log(args) => log::run(&ctx, args),
        Command::Pause(args) => lifecycle::pause(&ctx, args),
        Command::Resume(args) => lifecycle::resume(&ctx, args),
        Command::Handoff(args) => handoff::run(&ctx, args),
        Command::Spawn(args) => spawn::run(&ctx, args),
        Command::Agents(args) => agents::run(&ctx, args),
        Command::Logs(args) => logs::run(&ctx, args),
        Command::Kill(args) => kill::run(&ctx, args),
        Command::Prune(args) => prune::run(&ctx, args),
        Command::Attach(args) => attach::run(&ctx, args),
        Command::Worktree { action } => worktree::run(&ctx, action),
        Command::Supervise(args) => Ok(spawn::supervise(&args.args)),
        Command::Hosts { action } => hosts::run(&ctx, action),
        Command::Send(args) => send::run(&ctx, args),
        Command::Wait(args) => wait::run(&ctx, args),
        Command::Restart(args) => restart::run(&ctx, args),
        Command::Notify(args) => Ok(crate::agents::notify::deliver_main(&args.args)),
        Command::Close(args) => close::close(&ctx, args),
        Command::Delete(args) => close::delete(&ctx, args),
        Command::Hook { event } => Ok(hook::run(&ctx, event)),
        Command::Hooks { action } => hooks_install::run(&ctx, action),
        Command::Watch(args) => watch::run(&ctx, args),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::Completions { shell } => {
            crate::completion::write_registration(shell, &mut std::io::stdout().lock())
                .map_err(|e| Error::Usage(format!("cannot write the completion script: {e}")))?;
            Ok(0)
        }
        Command::Man { out } => {
            let pages = crate::completion::man_pages(out.as_deref()).map_err(|e| {
                Error::Usage(format!(
                    "cannot write the man pages{}: {e}",
                    out.as_ref()
                        .map(|d| format!(" into {}", d.display()))
                        .unwrap_or_default()
                ))
            })?;
            for p in pages {
                println!("{}", p.display());
            }
            Ok(0)
        }
    }
}
