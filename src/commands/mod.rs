//! One file per subcommand; each reads like the help text it implements.

mod agents;
mod attach;
mod close;
mod handoff;
mod hook;
mod hooks_install;
mod init;
mod kill;
mod lifecycle;
mod list;
mod log;
mod logs;
mod new;
mod prune;
mod show;
mod spawn;
mod status;
mod update;
mod validate;
mod watch;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::session::edit::{self, EditError, Op};
use crate::store::Repo;
use crate::write::{self, Outcome};

/// What every command gets: the repository it works in and one notion of "now".
pub struct Ctx {
    pub repo: Repo,
    pub cwd: PathBuf,
    pub now: DateTime<Utc>,
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
    mut ops_for: impl FnMut(&str) -> Result<Vec<Op>, EditError>,
) -> Result<Outcome> {
    let now = ctx.now;
    write::edit_file(&ctx.repo, path, |text| {
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

/// Binds the current agent conversation (explicit or from the environment) to `path`.
pub fn bind_conversation(ctx: &Ctx, path: &std::path::Path, explicit: Option<&str>) -> Result<()> {
    if let Some(id) = crate::binding::conversation_id(explicit) {
        crate::binding::bind(&ctx.repo, &id, path, &edit::timestamp(ctx.now))?;
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
    let runs = crate::agents::sync::Runs::load_session(&ctx.repo, &stem(path));
    let text = crate::store::read_session(path)?;
    let (text, orphans) = crate::agents::sync::check_entries(&ctx.repo, path, text);
    let mut o = crate::overview::Overview::new(
        path,
        String::new(),
        Some(&text),
        ctx.now,
        std::time::Duration::MAX,
    );
    runs.correct_with(&mut o, &orphans);
    Ok((o.agents.running, orphans))
}

/// A session file's stem, which names its runs and logs.
pub fn stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let cwd = crate::store::absolute(&cli.directory.unwrap_or_else(|| PathBuf::from(".")));
    if !cwd.is_dir() {
        return Err(crate::error::Error::Usage(format!(
            "{} is not a directory",
            cwd.display()
        )));
    }
    let ctx = Ctx {
        repo: Repo::discover(&cwd),
        cwd,
        now: Utc::now(),
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
        Command::Supervise(args) => Ok(spawn::supervise(&args.args)),
        Command::Close(args) => close::close(&ctx, args),
        Command::Delete(args) => close::delete(&ctx, args),
        Command::Hook { event } => Ok(hook::run(&ctx, event)),
        Command::Hooks { action } => hooks_install::run(&ctx, action),
        Command::Watch(args) => watch::run(&ctx, args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "sessions", &mut std::io::stdout());
            Ok(0)
        }
    }
}
