//! `sessions hosts list|check`: the machines of the config's `hosts:` that run agents over
//! ssh, and whether one can (reachable, `sessions` on its PATH in our version, the checkout
//! with its `.agents/`). It only looks: nothing is ever copied to a host.

use std::time::Instant;

use serde::Serialize;

use super::Ctx;
use crate::agents::runner::{SshState, ssh};
use crate::cli::HostsAction;
use crate::config::HostDef;
use crate::error::{Error, Result};
use crate::table::{Column, Table};

pub fn run(ctx: &Ctx, action: HostsAction) -> Result<u8> {
    match action {
        HostsAction::List { json } => list(ctx, json),
        HostsAction::Check { name, json } => check(ctx, &name, json),
    }
}

#[derive(Serialize)]
struct HostView<'a> {
    name: &'a str,
    ssh: &'a str,
    root: &'a str,
    port: Option<u16>,
    identity: Option<&'a str>,
    ssh_options: &'a [String],
}

fn list(ctx: &Ctx, json: bool) -> Result<u8> {
    let config = ctx.config()?;
    let views: Vec<HostView> = config
        .hosts
        .iter()
        .map(|(name, h)| HostView {
            name,
            ssh: &h.ssh,
            root: &h.root,
            port: h.port,
            identity: h.identity.as_deref(),
            ssh_options: &h.ssh_options,
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(0);
    }
    if views.is_empty() {
        println!(
            "No hosts configured. Add one to {}:\n\n  hosts:\n    build1: {{ssh: me@build1, root: /srv/checkouts/repo}}",
            ctx.repo.display(&ctx.repo.config_path())
        );
        return Ok(0);
    }
    let mut t = Table::new(&[
        Column::keep("HOST"),
        Column::cut("SSH", 30),
        Column::keep("PORT").drop(0),
        Column::cut("ROOT", 16).path(),
    ]);
    for v in &views {
        t.row(vec![
            v.name.to_string(),
            v.ssh.to_string(),
            v.port.map_or_else(|| "-".into(), |p| p.to_string()),
            v.root.to_string(),
        ]);
    }
    print!("{}", t.render());
    Ok(0)
}

/// What `hosts check` found.
#[derive(Debug, Default, Serialize)]
struct Report {
    name: String,
    reachable: bool,
    /// Milliseconds of the check's one ssh call (a warm master connection: a round trip).
    round_trip_ms: Option<u64>,
    /// Where `sessions` is on the host's PATH.
    sessions: Option<String>,
    version: Option<String>,
    root: String,
    root_exists: bool,
    repository: bool,
    agents_dir: bool,
    /// What is missing, each with its fix.
    problems: Vec<String>,
}

/// One shell script, run in one ssh call, that says what is there: `key=value` lines.
fn script(root: &str) -> String {
    let r = shlex::try_quote(root).map_or_else(|_| "''".into(), |q| q.into_owned());
    format!(
        "if cd {r} 2>/dev/null; then echo root=yes; else echo root=no; fi; \
         if p=$(command -v sessions 2>/dev/null); then echo \"sessions=$p\"; echo \"version=$(sessions --version 2>&1 | head -n 1)\"; fi; \
         if [ -d {r}/.agents ]; then echo agents=yes; fi; \
         if git -C {r} rev-parse --git-dir >/dev/null 2>&1; then echo git=yes; fi"
    )
}

fn check(ctx: &Ctx, name: &str, json: bool) -> Result<u8> {
    let config = ctx.config()?;
    let h = config.host(name).map_err(Error::Usage)?;
    if crate::agents::runner::find_program("ssh", std::path::Path::new("/")).is_none() {
        return Err(Error::Usage(
            "`ssh` (the OpenSSH client) is not installed here; install openssh-client".into(),
        ));
    }
    let state = state_of(name, h);
    let started = Instant::now();
    let out = ssh::shell(&state, &script(&h.root));
    let mut rep = Report {
        name: name.to_string(),
        root: h.root.clone(),
        ..Report::default()
    };
    let ours = env!("CARGO_PKG_VERSION");
    match out {
        Err(why) => rep.problems.push(format!(
            "cannot reach {name} (ssh {}): {why}; try `ssh {}` by hand — it must log in without a password prompt (BatchMode)",
            h.ssh, h.ssh
        )),
        Ok(text) => {
            rep.reachable = true;
            rep.round_trip_ms = Some(started.elapsed().as_millis() as u64);
            for line in String::from_utf8_lossy(&text).lines() {
                match line.split_once('=') {
                    Some(("root", v)) => rep.root_exists = v == "yes",
                    Some(("sessions", v)) => rep.sessions = Some(v.to_string()),
                    Some(("version", v)) => {
                        rep.version = Some(v.trim_start_matches("sessions ").trim().to_string())
                    }
                    Some(("agents", _)) => rep.agents_dir = true,
                    Some(("git", _)) => rep.repository = true,
                    _ => {}
                }
            }
            if rep.sessions.is_none() {
                rep.problems.push(ssh::not_installed(name));
            } else if rep.version.as_deref() != Some(ours) {
                rep.problems.push(format!(
                    "{name} has sessions {}, this machine {ours}; install sessions {ours} on {name} (the same version on both)",
                    rep.version.as_deref().unwrap_or("of unknown version")
                ));
            }
            if !rep.root_exists {
                rep.problems.push(format!(
                    "{} does not exist on {name}; clone the repository there (`git clone … {}`) or fix hosts.{name}.root",
                    h.root, h.root
                ));
            } else if !rep.repository {
                rep.problems.push(format!(
                    "{} on {name} is not a git repository; clone the repository there",
                    h.root
                ));
            } else if !rep.agents_dir {
                rep.problems.push(format!(
                    "{} on {name} has no .agents/ directory; pull the branch that has it, or run `sessions init` there",
                    h.root
                ));
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print_report(&rep, h);
    }
    if rep.problems.is_empty() {
        Ok(0)
    } else {
        Err(Error::Check(format!(
            "host {name} cannot run agents yet: {}",
            rep.problems.join("; ")
        )))
    }
}

fn print_report(rep: &Report, h: &HostDef) {
    let mark = |ok: bool| if ok { "ok     " } else { "missing" };
    println!("host {} ({}, checkout {})", rep.name, h.ssh, h.root);
    match rep.round_trip_ms {
        Some(ms) => println!("  ok       reachable ({ms} ms)"),
        None => println!("  failed   not reachable"),
    }
    if !rep.reachable {
        return;
    }
    match (&rep.sessions, &rep.version) {
        (Some(p), Some(v)) => println!(
            "  {}  sessions {v} ({p}){}",
            mark(v == env!("CARGO_PKG_VERSION")),
            if v == env!("CARGO_PKG_VERSION") {
                String::new()
            } else {
                format!(", this machine has {}", env!("CARGO_PKG_VERSION"))
            }
        ),
        _ => println!("  missing  sessions on the PATH"),
    }
    println!("  {}  checkout {}", mark(rep.root_exists), rep.root);
    if rep.root_exists {
        println!("  {}  git repository", mark(rep.repository));
        println!("  {}  .agents/", mark(rep.agents_dir));
    }
}

/// The connection of a configured host (no run).
pub fn state_of(name: &str, h: &HostDef) -> SshState {
    SshState {
        host: name.to_string(),
        destination: h.ssh.clone(),
        ssh_args: ssh::host_options(h.port, h.identity.as_deref(), &h.ssh_options),
        root: h.root.clone(),
        remote_run_id: String::new(),
        remote_spawn: Vec::new(),
        remote: None,
        unreachable_since: None,
    }
}
