//! `sessions spawn`: launch background agents on a session, and the hidden `__supervise`
//! entry point of their supervisors.
//!
//! Order matters (docs/runs.md): the run record (the intent, naming this process as its
//! spawner) and the empty log come first, then what the agent's first hook reads (its
//! binding); then the supervisor starts the agent while the session file gets the entry
//! (`status: in_progress`, `log`, `run_id`, `conversation_id`, `host`) and its Session Log
//! line, and the supervisor writes the outcome back only once `spawn` says the entry is in (or
//! is gone), so an agent that ends within milliseconds still finds its entry to write back
//! into. A run that cannot start is settled `failed` with the reason, in its record, its log
//! and its entry; a run whose entry cannot be written is stopped and removed.

use crate::store::SessionId;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use unicode_width::UnicodeWidthStr;

use super::{Ctx, edit_session, edit_session_with};
use crate::agents::record;
use crate::agents::runner::{LaunchSpec, Launched, Prepared, RunnerKind, SshState, prepare, ssh};
use crate::agents::template::{self, Vars};
use crate::agents::writeback::{self, NewEntry};
use crate::agents::{logfile, sync};
use crate::binding::BoundRun;
use crate::cli::SpawnArgs;
use crate::config::{AgentDef, Config};
use crate::error::{Error, Result};
use crate::runs::RunView;
use crate::store;
use crate::write::Durability::RenameMayBeLost;

/// How long `spawn` waits for the supervisor to report the agent's pid.
const START_WAIT: Duration = Duration::from_secs(3);
/// The same for a run on another host: a connection (ssh's ConnectTimeout is 10 s) and the
/// host's own spawn. The wait ends the moment the supervisor reports, so a fast host costs
/// nothing more.
const REMOTE_START_WAIT: Duration = Duration::from_secs(20);

struct Plan {
    spec: LaunchSpec,
    entry: NewEntry,
}

/// What `spawn --json`, `send` and `restart` report of a started run.
pub type Started = RunView;

/// A run that continues a recorded conversation (`send`, `restart`, a queued message): the
/// agent's `resume:` argv, the conversation, the run it continues, and the prompt as given
/// (a person's message: no placeholder in it is expanded).
pub struct Resume {
    pub argv: Vec<String>,
    pub conversation_id: String,
    pub resumes: String,
    pub prompt: String,
}

pub fn run(ctx: &Ctx, args: SpawnArgs) -> Result<u8> {
    if let Some(v) = &args.peer_version
        && v != env!("CARGO_PKG_VERSION")
    {
        return Err(Error::Usage(format!(
            "this host has sessions {}, the machine that asks has {v}; install the same version on both (`sessions hosts check` compares them)",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let path = match super::session_path(ctx, args.session.as_deref()) {
        Ok(p) => store::absolute(&p),
        Err(e) if args.owned_by.is_some() => {
            return Err(Error::Usage(format!(
                "{e}; this checkout ({}) must have the session file: commit and push it where you spawn, then pull it here",
                ctx.repo.root.display()
            )));
        }
        Err(e) => return Err(e),
    };
    if args.task.trim().is_empty() {
        return Err(Error::Usage(
            "--task is empty; say what the agent should do".into(),
        ));
    }
    if let Ok(text) = store::read_session(&path)
        && crate::session::Document::parse_frontmatter(&text).str_value(&["session", "status"])
            == Some("completed")
    {
        eprintln!(
            "warning: {} is completed; the agent's outcome will be written into a closed session (`sessions resume` it first if the work goes on)",
            ctx.show_path(&path)
        );
    }
    if let Some(owner) = &args.owned_by {
        return run_for(ctx, &args, owner, &path);
    }
    let config = ctx.config()?;
    let supervisor = supervisor_argv()?;
    let mut plans: Vec<Plan> = Vec::new();
    for name in &args.agent {
        plans.push(plan(ctx, &args, &config, name, &path, &supervisor, None)?);
    }
    let (out, failed, name) = launch(ctx, &path, plans, !args.json)?;
    print(ctx, &out, &failed, &path, args.json, name)?;
    launch_result(ctx, &path, &failed)
}

/// The arguments that start `rec`'s agent again, on the same runner and host, with `task`
/// (`restart`, and `send` resuming a finished run); `command` for a run given after `--`.
pub fn again(rec: &record::RunRecord, task: String, command: Vec<String>) -> SpawnArgs {
    SpawnArgs {
        session: None,
        agent: vec![rec.agent.clone()],
        task,
        prompt: None,
        runner: rec.runner.local_kind(),
        json: false,
        worktree: false,
        branch: None,
        base: None,
        host: rec.runner.host().map(str::to_owned),
        owned_by: None,
        run_id: None,
        conversation_id: None,
        peer_version: None,
        command,
    }
}

/// Starts one run of `args.agent[0]` on the session at `path`, continuing a conversation when
/// `resume` is given; with `run_id`, under that id (a queued message's claim).
pub fn start_one(
    ctx: &Ctx,
    path: &Path,
    args: &SpawnArgs,
    resume: Option<Resume>,
    run_id: Option<&str>,
) -> Result<Started> {
    let config = ctx.config()?;
    let supervisor = supervisor_argv()?;
    let name = args.agent.first().map(String::as_str).unwrap_or_default();
    let mut p = plan(ctx, args, &config, name, path, &supervisor, resume.as_ref())?;
    if let Some(id) = run_id {
        p.spec.run_id = Some(id.to_string());
        p.entry.log = p.spec.log_rel_path(id).display().to_string();
        p.entry.link = writeback::link_target(path, &ctx.repo.root.join(&p.entry.log));
        p.entry.run_id = id.to_string();
    }
    let (mut out, failed, _) = launch(ctx, path, vec![p], false)?;
    launch_result(ctx, path, &failed)?;
    out.pop()
        .ok_or_else(|| Error::Usage("no run was started".into()))
}

/// `spawn --owned-by HOST` (what an ssh run's supervisor asks this host for): start the run
/// here, in this checkout, with this host's config, but leave the session file alone — the
/// machine that asked owns the entry and writes the outcome. Prints the run records.
fn run_for(ctx: &Ctx, args: &SpawnArgs, owner: &str, path: &Path) -> Result<u8> {
    let config = ctx.config()?;
    let supervisor = supervisor_argv()?;
    let name = args.agent.first().map(String::as_str).unwrap_or_default();
    let mut p = plan(ctx, args, &config, name, path, &supervisor, None)?;
    p.spec.owner = Some(owner.to_string());
    let rec = prepare(p.spec)?.start().wait_started(START_WAIT);
    println!("{}", serde_json::to_string(&[rec])?);
    Ok(0)
}

fn supervisor_argv() -> Result<Vec<String>> {
    let exe = std::env::current_exe().map_err(|e| {
        Error::Usage(format!(
            "cannot find the sessions executable to supervise agents: {e}"
        ))
    })?;
    Ok(vec![
        exe.to_string_lossy().into_owned(),
        "__supervise".into(),
    ])
}

fn launch_result(ctx: &Ctx, path: &Path, failed: &[(NewEntry, String)]) -> Result<u8> {
    if failed.is_empty() {
        Ok(0)
    } else {
        let list: Vec<String> = failed
            .iter()
            .map(|(e, why)| format!("agent {} (run {}): {why}", e.agent, e.run_id))
            .collect();
        Err(Error::Usage(format!(
            "could not launch {}; its entry in {} is marked failed",
            list.join("; "),
            ctx.show_path(path)
        )))
    }
}

/// A run that could not be launched, and why.
type Failed = (NewEntry, String);

/// Records and bindings, then the supervisors, while the entries are written (see the module
/// docs). With `hint`, the session's short name for the hint lines is worked out meanwhile
/// too: it reads no file the edit changes.
fn launch(
    ctx: &Ctx,
    path: &Path,
    plans: Vec<Plan>,
    hint: bool,
) -> Result<(Vec<Started>, Vec<Failed>, Option<String>)> {
    // The intent first: every run's record exists before its entry reaches the file, so a
    // spawn killed anywhere from here on leaves nothing a reader cannot reconcile (see
    // docs/runs.md).
    let mut prepared = Vec::new();
    for p in plans {
        match prepare(p.spec) {
            Ok(r) => prepared.push((p.entry, r)),
            Err(e) => {
                prepared
                    .into_iter()
                    .for_each(|(_, r): (_, Prepared)| r.abandon());
                return Err(e.into());
            }
        }
    }
    // Each run's worktree after its record (which names it), before the file links it.
    if let Err(e) = super::worktree::create_all(ctx, prepared.iter().map(|(_, p)| &p.record)) {
        prepared.into_iter().for_each(|(_, r)| r.abandon());
        return Err(e);
    }
    let records: Vec<record::RunRecord> = prepared.iter().map(|(_, p)| p.record.clone()).collect();
    let entries: Vec<NewEntry> = prepared.iter().map(|(e, _)| e.clone()).collect();
    // What the agent's first hook reads must be there before the agent starts: its binding
    // (the record is there already).
    let previous = bind_conversations(ctx, &entries, path);
    // The supervisors start now, so the agents start while the entries are being written;
    // each waits for the word that its entry is in before it writes anything back (see
    // docs/runs.md). A supervisor that cannot be handed that word starts after the entry.
    let started: Vec<(NewEntry, std::result::Result<Launched, Box<Prepared>>)> = prepared
        .into_iter()
        .map(|(e, p)| (e, p.start_gated()))
        .collect();
    let actor = crate::actor::default_actor();
    // The entry's rename is not made durable: a crash that loses it leaves the record, which
    // reconciles to `interrupted` (see `write::Durability::RenameMayBeLost`).
    let stem = SessionId::of(path);
    let (edited, name) = std::thread::scope(|scope| {
        let name = hint
            .then(|| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, || short_name(ctx, &stem))
                    .ok()
            })
            .flatten();
        let edited = edit_session_with(ctx, path, RenameMayBeLost, |text| {
            // An entry already there was written back by a supervisor that found `spawn`
            // gone — never the case while this process lives, but no entry is pushed twice.
            let fresh: Vec<NewEntry> = entries
                .iter()
                .filter(|e| {
                    !text.contains(e.run_id.as_str())
                        || writeback::find_entry(text, &e.run_id, &e.log).is_none()
                })
                .cloned()
                .collect();
            Ok(writeback::spawn_ops(&fresh, &actor, ctx.now))
        });
        (edited, name.and_then(|h| h.join().ok()))
    });
    if let Err(e) = edited {
        for (_, s) in started {
            match s {
                Ok(l) => l.abandon(crate::agents::runner::DEFAULT_KILL_GRACE),
                Err(p) => (*p).abandon(),
            }
        }
        super::worktree::undo_all(ctx, records.iter());
        unbind_conversations(previous);
        return Err(e);
    }

    let launched: Vec<(NewEntry, Launched)> = started
        .into_iter()
        .map(|(e, s)| match s {
            Ok(mut l) => {
                l.entry_written();
                (e, l)
            }
            Err(p) => (e, (*p).start()),
        })
        .collect();
    let mut failed: Vec<(NewEntry, String)> = Vec::new();
    let mut out = Vec::new();
    for (entry, l) in launched {
        let rec_path = l.path.clone();
        let wait = if l.record.runner.host().is_some() {
            REMOTE_START_WAIT
        } else {
            START_WAIT
        };
        let rec = l.wait_started(wait);
        if !rec.status.is_active() && rec.pid.is_none() {
            // The agent could not be started: the record says why; the file gets it now.
            let reason = rec.reason.clone().unwrap_or_default();
            failed.push((entry.clone(), reason));
            let _ = sync::write_back_once(&rec_path);
        }
        out.push(RunView {
            worktree: super::worktree::state_of(ctx, &rec),
            ..RunView::new(&rec, chrono::Utc::now())
        });
    }
    if !failed.is_empty() {
        let reasons: Vec<(NewEntry, String)> = failed.clone();
        edit_session(ctx, path, |text| {
            Ok(reasons
                .iter()
                .flat_map(|(e, why)| writeback::launch_failed_ops(text, &e.run_id, &e.log, why))
                .collect())
        })?;
    }
    Ok((out, failed, name))
}

fn plan(
    ctx: &Ctx,
    args: &SpawnArgs,
    config: &Config,
    name: &str,
    session: &Path,
    supervisor: &[String],
    resume: Option<&Resume>,
) -> Result<Plan> {
    let root = &ctx.repo.root;
    let def: Option<&AgentDef> = config.agents.get(name);
    let command = if let Some(r) = resume {
        r.argv.clone()
    } else if !args.command.is_empty() {
        args.command.clone()
    } else if let Some(d) = def {
        d.command.clone()
    } else {
        return Err(unknown_agent(ctx, config, name));
    };
    let stem = SessionId::of(session);
    let run_id = args.run_id.clone().unwrap_or_else(record::new_run_id);
    // On another host: that host's sessions plans the run in its checkout; here it is the
    // record, the log copy and the entry.
    let host = match (&args.owned_by, &args.host) {
        (Some(_), _) => None,
        (None, Some(h)) => Some(h.clone()),
        (None, None) => def.and_then(|d| d.host.clone()),
    };
    let host_def = host
        .as_deref()
        .map(|h| config.host(h).map_err(Error::Usage))
        .transpose()?;
    let worktree = match host {
        Some(_) => None,
        None => super::worktree::plan_for(ctx, args, config, def, name, stem.as_str(), &run_id)?,
    };
    let cwd = def
        .and_then(|d| d.cwd.as_deref())
        .map_or_else(|| root.clone(), |c| store::absolute(&root.join(c)));
    if host.is_none() && !cwd.is_dir() {
        return Err(Error::Usage(format!(
            "agents.{name}.cwd is {}, which is not a directory; fix it in {}",
            ctx.show_path(&cwd),
            ctx.repo.display(&ctx.repo.config_path())
        )));
    }
    let runner = args
        .runner
        .or_else(|| def.and_then(|d| d.runner))
        .unwrap_or(RunnerKind::Process);
    if host.is_some() && resume.is_some() {
        return Err(Error::Usage(format!(
            "agent {name} runs on host {}; continuing its conversation from here is not supported yet: run `sessions send` or `restart` on that host",
            host.as_deref().unwrap_or_default()
        )));
    }
    // In a worktree the agent works in the same place of its own checkout.
    let cwd = match &worktree {
        Some(w) => match cwd.strip_prefix(root) {
            Ok(sub) if !sub.as_os_str().is_empty() => w.path.join(sub),
            _ => w.path.clone(),
        },
        None => cwd,
    };
    let conversation_id = match (resume, &args.conversation_id) {
        (Some(r), _) => r.conversation_id.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => uuid::Uuid::new_v4().to_string(),
    };
    // The id is the agent's only when the command hands it over (`--session-id
    // {conversation_id}`); otherwise the agent picks its own and its output names it. A
    // resumed conversation keeps its id.
    let preassigned = resume.is_some()
        || command
            .iter()
            .chain(def.iter().flat_map(|d| d.env.iter().map(|(_, v)| v)))
            .any(|a| a.contains("{conversation_id}"));
    let session_file = session.strip_prefix(&cwd).map_or_else(
        |_| session.display().to_string(),
        |p| p.display().to_string(),
    );
    let agents_dir = ctx.repo.agents_dir().display().to_string();
    let prompt = match &args.prompt {
        _ if resume.is_some() => resume.map(|r| r.prompt.clone()).unwrap_or_default(),
        Some(p) => template::expand(
            p,
            &Vars {
                prompt: "{prompt}",
                session_file: &session_file,
                task: &args.task,
                conversation_id: &conversation_id,
                agents_dir: &agents_dir,
            },
        ),
        None => template::default_prompt(&session_file, &args.task),
    };
    let vars = Vars {
        prompt: &prompt,
        session_file: &session_file,
        task: &args.task,
        conversation_id: &conversation_id,
        agents_dir: &agents_dir,
    };
    let mut spec = LaunchSpec::new(
        root.clone(),
        stem.clone(),
        name,
        args.task.clone(),
        template::expand_all(&command, &vars),
        supervisor.to_vec(),
    );
    spec.session_file = Some(session.to_path_buf());
    spec.on_exit = Some(write_back);
    spec.conversation_id = preassigned.then(|| conversation_id.clone());
    spec.env = def
        .map(|d| {
            d.env
                .iter()
                .map(|(k, v)| (k.clone(), template::expand(v, &vars)))
                .collect()
        })
        .unwrap_or_default();
    spec.cwd = cwd;
    spec.runner = runner;
    spec.log_cap = config.log_cap;
    spec.log_keep = logfile::default_keep(config.log_cap);
    spec.run_id = Some(run_id.clone());
    let extra = worktree
        .as_ref()
        .map(|w| super::worktree::entry_fields(&ctx.repo, w))
        .unwrap_or_default();
    spec.worktree = worktree;
    spec.resumes = resume.map(|r| r.resumes.clone());
    if let (Some(h), Some(d)) = (&host, host_def) {
        spec.runner = RunnerKind::Ssh;
        spec.ssh = Some(SshState {
            host: h.clone(),
            destination: d.ssh.clone(),
            ssh_args: ssh::host_options(d.port, d.identity.as_deref(), &d.ssh_options),
            root: d.root.clone(),
            remote_run_id: run_id.clone(),
            remote_spawn: remote_spawn(args, name, stem.as_str(), &run_id, &conversation_id),
            remote: None,
            unreachable_since: None,
        });
    }
    let log = spec.log_rel_path(&run_id);
    let entry = NewEntry {
        agent: name.to_string(),
        task: args.task.clone(),
        run_id,
        conversation_id: preassigned.then_some(conversation_id),
        log: log.display().to_string(),
        link: writeback::link_target(session, &root.join(&log)),
        host: host.clone().or_else(crate::agents::runner::host_name),
        extra,
        resumes: resume.map(|r| r.resumes.clone()),
    };
    Ok(Plan { spec, entry })
}

/// The `sessions spawn` arguments that start the run on its host: the same agent, task,
/// prompt, runner, worktree flags and command, under the same run and conversation ids, owned
/// by this machine.
fn remote_spawn(
    args: &SpawnArgs,
    agent: &str,
    stem: &str,
    run_id: &str,
    conversation_id: &str,
) -> Vec<String> {
    let mut a: Vec<String> = ["spawn", stem, "--agent", agent, "--task", &args.task]
        .map(String::from)
        .to_vec();
    if let Some(p) = &args.prompt {
        a.extend(["--prompt".into(), p.clone()]);
    }
    if let Some(r) = args.runner {
        a.extend(["--runner".into(), r.name().into()]);
    }
    if args.worktree {
        a.push("--worktree".into());
    }
    if let Some(b) = &args.branch {
        a.extend(["--branch".into(), b.clone()]);
    }
    if let Some(b) = &args.base {
        a.extend(["--base".into(), b.clone()]);
    }
    let owner = crate::agents::runner::host_name().unwrap_or_else(|| "another machine".into());
    a.extend(
        [
            "--owned-by",
            &owner,
            "--run-id",
            run_id,
            "--conversation-id",
            conversation_id,
            "--peer-version",
            env!("CARGO_PKG_VERSION"),
        ]
        .map(String::from),
    );
    if !args.command.is_empty() {
        a.push("--".into());
        a.extend(args.command.iter().cloned());
    }
    a
}

/// Spawned agents are born bound: each pre-assigned conversation is bound to the session
/// before its agent starts, so the agent's first hook already knows it (a Codex thread is
/// bound by the supervisor once its id appears in the output). Returns what each binding file
/// held before (`None`: there was none), for [`unbind_conversations`].
fn bind_conversations(
    ctx: &Ctx,
    entries: &[NewEntry],
    session: &Path,
) -> Vec<(std::path::PathBuf, Option<Vec<u8>>)> {
    let mut previous = Vec::new();
    for e in entries {
        let Some(id) = &e.conversation_id else {
            continue;
        };
        let run = BoundRun {
            agent: e.agent.clone(),
            run_id: e.run_id.clone(),
            task: e.task.clone(),
        };
        let file = crate::binding::binding_path(&ctx.repo, id);
        let before = std::fs::read(&file).ok();
        let now = crate::session::edit::timestamp(ctx.now);
        match crate::binding::bind_run(&ctx.repo, id, session, run, &now) {
            Ok(()) => previous.push((file, before)),
            Err(err) => eprintln!(
                "sessions: warning: run {}: cannot bind its conversation: {err}",
                e.run_id
            ),
        }
    }
    previous
}

/// Puts back the bindings [`bind_conversations`] replaced, for a spawn that gives up.
fn unbind_conversations(previous: Vec<(std::path::PathBuf, Option<Vec<u8>>)>) {
    for (file, before) in previous {
        let _ = match before {
            Some(bytes) => crate::write::write_atomic(&file, &String::from_utf8_lossy(&bytes)),
            None => std::fs::remove_file(&file).map_err(|e| Error::write(&file, e)),
        };
    }
}

fn unknown_agent(ctx: &Ctx, config: &Config, name: &str) -> Error {
    let config_path = ctx.repo.display(&ctx.repo.config_path());
    let names: Vec<&str> = config.agents.keys().map(String::as_str).collect();
    let known = if names.is_empty() {
        "no agents are configured".to_string()
    } else {
        format!("configured: {}", names.join(", "))
    };
    let hint = match crate::suggest::one(name, &names) {
        Some(close) => format!(
            "did you mean `{close}`? Otherwise define it under `agents:` in {config_path}, or give the command after `--`"
        ),
        None => {
            format!("define it under `agents:` in {config_path}, or give the command after `--`")
        }
    };
    Error::UnknownAgent {
        name: name.to_string(),
        known,
        hint,
    }
}

fn print(
    ctx: &Ctx,
    out: &[RunView],
    failed: &[(NewEntry, String)],
    path: &Path,
    json: bool,
    name: Option<String>,
) -> Result<()> {
    if json {
        crate::jsonout::emit(out)?;
        return Ok(());
    }
    let stem = SessionId::of(path);
    let mut last = None;
    for s in out {
        if failed.iter().any(|(e, _)| e.run_id == s.run_id) {
            continue;
        }
        last = Some(&s.run_id);
        let pid = s
            .pid
            .map_or_else(|| "starting".into(), |p| format!("pid {p}"));
        let log = ctx.show_path(&ctx.repo.root.join(&s.log));
        let head = format!(
            "started {}  run {}  {pid}  {}  log ",
            s.agent, s.run_id, s.status
        );
        // The log path is cut to fit the terminal (`--json` and `sessions logs` have it whole).
        let log = match crate::style::width() {
            Some(w) => crate::table::truncate_start(&log, w.saturating_sub(head.width()).max(16)),
            None => log,
        };
        println!(
            "{}",
            crate::style::statuses(&format!("{head}{log}"), crate::style::color())
        );
        if let Some(w) = &s.worktree {
            println!(
                "  in worktree {} on branch {} (from {})",
                ctx.show_path(&w.path),
                w.branch,
                w.base
            );
        }
    }
    if let Some(run) = last {
        let name = name.unwrap_or_else(|| short_name(ctx, &stem));
        println!("\nFollow: sessions logs {name}:{run} -f");
        println!("List:   sessions agents {name}");
        println!("Stop:   sessions kill {name}:{run}");
    }
    Ok(())
}

/// The shortest way to name the session `stem` in a hint: the first words of its slug that
/// name it alone (`fix-login` for `20251204-143000-fix-login-timeout`), else its stem.
fn short_name(ctx: &Ctx, stem: &str) -> String {
    let file = format!("{stem}.md");
    let Ok(name) = crate::session::name::parse(&file) else {
        return stem.to_string();
    };
    let words: Vec<&str> = name.slug.split('-').collect();
    let candidates: Vec<String> = (1..=words.len())
        .map(|k| words[..k].join("-"))
        .filter(|c| c.len() >= 4)
        .collect();
    ctx.repo
        .first_naming(&candidates, stem, &ctx.cwd)
        .map_or_else(|| stem.to_string(), |i| candidates[i].clone())
}

/// What a supervisor does with its run's final record: the outcome into the session file.
fn write_back(rec: &record::RunRecord) -> std::result::Result<(), String> {
    sync::on_exit(rec).map_err(|e| e.to_string())
}

/// The hidden `__supervise` subcommand: supervise one run, then write its outcome back.
pub fn supervise(args: &[OsString]) -> u8 {
    let code = crate::agents::supervisor_main(args, sync::on_exit);
    u8::try_from(code).unwrap_or(1)
}
