//! Shell completion that knows the repository, and the man pages.
//!
//! Completion is clap_complete's dynamic engine: the script a shell sources
//! (`sessions completions bash`) only calls `COMPLETE=bash sessions -- <words>` back on each
//! TAB, and this module answers with the candidates of the repository the shell is in: session
//! stems (with their titles), `SESSION:AGENT` and `SESSION:RUN` targets, agent names from
//! `.agents/config.yaml`, status values. The candidates are attached to the clap tree by value
//! name (`SESSION`, `AGENT`, `STATUS`, …), so the CLI's declaration stays the single source and a
//! new command taking a `SESSION` completes without more code. Everything here only reads: a
//! TAB never settles a run or writes a file.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCandidates, ArgValueCompleter, CompletionCandidate};

use crate::cli::Cli;
use crate::store::Repo;

/// The variable the registration scripts set when they ask for candidates.
pub const VAR: &str = "COMPLETE";

/// Answers a completion request and exits, when the shell made one (`COMPLETE` is set);
/// otherwise returns at once.
pub fn answer_if_asked() {
    if std::env::var_os(VAR).is_none_or(|v| v.is_empty()) {
        return;
    }
    clap_complete::CompleteEnv::with_factory(command)
        .var(VAR)
        .complete();
}

/// The registration script for `shell`, calling `bin` back on each TAB.
pub fn write_registration(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let shells = clap_complete::env::Shells::builtins();
    let name = shell.to_string();
    let Some(completer) = shells.completer(&name) else {
        return Err(std::io::Error::other(format!(
            "no dynamic completion for {name}"
        )));
    };
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "sessions".into());
    completer.write_registration(VAR, "sessions", "sessions", &bin, out)
}

/// The CLI's clap tree with the repository-aware completers attached.
pub fn command() -> clap::Command {
    attach(Cli::command())
}

fn attach(cmd: clap::Command) -> clap::Command {
    // `mut_args` keeps the order (positional indices follow it); `mut_arg` would not.
    let mut cmd = cmd.mut_args(|a| {
        let value_name = a
            .get_value_names()
            .map(|v| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        if value_name.starts_with("SESSION") || value_name == "TARGET" {
            a.add(ArgValueCompleter::new(targets))
        } else if value_name == "AGENT" || (value_name == "NAME" && a.get_id() == "agent") {
            a.add(ArgValueCandidates::new(agents))
        } else if value_name == "STATUS" {
            a.add(ArgValueCandidates::new(statuses))
        } else {
            a
        }
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, attach);
    }
    cmd
}

fn repo() -> Repo {
    Repo::discover(&std::env::current_dir().unwrap_or_else(|_| ".".into()))
}

/// Session stems (help: the title), and once a stem and `:` are typed, its agents and runs.
fn targets(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let repo = repo();
    if let Some((stem, _)) = current.split_once(':') {
        return runs_of(&repo, stem);
    }
    let Ok(files) = repo.session_files() else {
        return Vec::new();
    };
    let now = chrono::Utc::now();
    let stale = crate::config::Config::load(&repo.config_path())
        .map(|c| c.stale_after)
        .unwrap_or(std::time::Duration::from_secs(86_400));
    // Read-only: the overview cache when it knows a file, its head otherwise (no write-back
    // of lost runs, no cache update, as `list` would do).
    let cache = crate::summary_cache::Cache::load(&repo.state_dir());
    let overviews: Vec<crate::overview::Overview> = files
        .iter()
        .map(|p| {
            let display = repo.display(p);
            let known = crate::summary_cache::Key::of(p)
                .and_then(|(k, _)| cache.as_ref()?.get(p, &k).cloned());
            match known {
                Some(f) => f.overview(p, display, now, stale),
                None => {
                    let head = crate::store::read_head(p).ok();
                    crate::overview::Overview::new(p, display, head.as_deref(), now, stale)
                }
            }
        })
        .collect();
    let mut out: Vec<CompletionCandidate> = overviews
        .iter()
        .filter(|o| o.id.starts_with(current.as_ref()) || current.is_empty())
        .map(|o| {
            CompletionCandidate::new(o.id.clone()).help(Some(
                format!("{} ({})", o.title, o.status.replace('_', " ")).into(),
            ))
        })
        .collect();
    if out.is_empty() {
        // A substring of the title or name, as the commands accept it.
        let needle = current.to_lowercase();
        out = overviews
            .iter()
            .filter(|o| {
                o.id.to_lowercase().contains(&needle) || o.title.to_lowercase().contains(&needle)
            })
            .map(|o| CompletionCandidate::new(o.id.clone()).help(Some(o.title.clone().into())))
            .collect();
    }
    out
}

fn runs_of(repo: &Repo, stem: &str) -> Vec<CompletionCandidate> {
    let mut out = Vec::new();
    let mut agents_seen = Vec::new();
    for (_, r) in crate::agents::record::load_all(&repo.state_dir()).records {
        if r.session != stem {
            continue;
        }
        if !agents_seen.contains(&r.agent) {
            agents_seen.push(r.agent.clone());
            out.push(
                CompletionCandidate::new(format!("{stem}:{}", r.agent))
                    .help(Some("the agent's latest run".into())),
            );
        }
        out.push(
            CompletionCandidate::new(format!("{stem}:{}", r.id)).help(Some(
                format!("{} {}: {}", r.agent, r.status.display(), one_line(&r.task)).into(),
            )),
        );
    }
    out
}

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    if line.chars().count() > 50 {
        format!("{}…", line.chars().take(49).collect::<String>())
    } else {
        line.to_string()
    }
}

fn agents() -> Vec<CompletionCandidate> {
    let repo = repo();
    let config = crate::config::Config::load(&repo.config_path()).unwrap_or_default();
    config
        .agents
        .keys()
        .map(|k| CompletionCandidate::new(k.clone()))
        .collect()
}

fn statuses() -> Vec<CompletionCandidate> {
    ["in_progress", "paused", "completed"]
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// Writes `sessions.1` and one page per subcommand (`sessions-list.1`, …) into `dir`, or the
/// main page to stdout when `dir` is `None`.
pub fn man_pages(dir: Option<&Path>) -> std::io::Result<Vec<std::path::PathBuf>> {
    let cmd = Cli::command();
    match dir {
        None => {
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock())?;
            Ok(Vec::new())
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(cmd, dir)?;
            let mut pages: Vec<_> = std::fs::read_dir(dir)?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "1"))
                .collect();
            pages.sort();
            Ok(pages)
        }
    }
}
