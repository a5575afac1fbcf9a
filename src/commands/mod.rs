//! One file per subcommand; each reads like the help text it implements.

mod init;
mod list;
mod new;
mod show;
mod status;
mod validate;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::error::Result;
use crate::store::Repo;

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
        abs.strip_prefix(&self.cwd).map_or_else(|_| abs.display().to_string(), |p| p.display().to_string())
    }
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let cwd = crate::store::absolute(&cli.directory.unwrap_or_else(|| PathBuf::from(".")));
    if !cwd.is_dir() {
        return Err(crate::error::Error::Usage(format!("{} is not a directory", cwd.display())));
    }
    let ctx = Ctx { repo: Repo::discover(&cwd), cwd, now: Utc::now() };
    match cli.command {
        Command::Init => init::run(&ctx),
        Command::New(args) => new::run(&ctx, args),
        Command::List(args) => list::run(&ctx, args),
        Command::Status(args) => status::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args),
        Command::Validate(args) => validate::run(&ctx, args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "sessions", &mut std::io::stdout());
            Ok(0)
        }
    }
}
