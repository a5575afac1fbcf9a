//! `sessions hook session-start|session-end|pre-compact`: the agent CLIs' hook entry points.
//!
//! These run on the agent's critical path, so they never fail it: every problem becomes one
//! line on stderr and exit 0 (exit 2 would block the agent). They read the hook JSON from
//! stdin and route writes to the session bound to *this* conversation, never to a guess.
//! Subagents share the parent's conversation id: they get at most the parent's file path.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Ctx;
use crate::binding;
use crate::cli::{HookArgs, HookEvent, HookFormat};
use crate::error::Result;
use crate::hooks::{Agent, HookInput, SessionStartOutput, StartSource, cap_context};
use crate::overview::{self, Overview};
use crate::session::Document;
use crate::session::edit::{Op, Scalar, key_path, section_has_content, timestamp};
use crate::store::{self, Repo};

/// Hook stdin larger than this is not hook JSON.
const MAX_STDIN: u64 = 4 * 1024 * 1024;
/// Sessions listed at start; the rest are counted.
const MAX_LISTED: usize = 15;
/// Session Log entries re-injected after compaction.
const RECENT_LOG_ENTRIES: usize = 3;

/// Runs a hook; always returns exit code 0.
pub fn run(ctx: &Ctx, event: HookEvent) -> u8 {
    // A hook must answer quickly: never wait long for another writer's lock.
    crate::write::set_lock_timeout(Duration::from_millis(800));
    let (name, args) = match &event {
        HookEvent::SessionStart(a) => ("session-start", a),
        HookEvent::SubagentStart(a) => ("subagent-start", a),
        HookEvent::SubagentStop(a) => ("subagent-stop", a),
        HookEvent::SessionEnd(a) => ("session-end", a),
        HookEvent::PreCompact(a) => ("pre-compact", a),
    };
    // Without the hook's JSON we cannot know the conversation or its directory: inject
    // nothing rather than guess.
    let input = match read_input() {
        Ok(input) => input,
        Err(why) => {
            eprintln!("sessions hook {name}: {why}");
            return 0;
        }
    };
    let ctx = Ctx {
        repo: Repo::discover(&root_dir(ctx, &input)),
        cwd: ctx.cwd.clone(),
        now: ctx.now,
        conversation: None,
    };
    let previous = match event {
        HookEvent::SessionEnd(_) => None,
        _ => record_process(&ctx, &input, args.agent),
    };
    let result = match event {
        HookEvent::SessionStart(_) => {
            start_bookkeeping(&ctx, &input, previous.as_ref());
            if input
                .start_source()
                .is_some_and(|s| s.reinjects_bound_session())
            {
                bind_from_transcript(&ctx, &input);
            }
            session_start(&ctx, &input, args)
        }
        HookEvent::SubagentStart(_) => {
            subagent_started(&ctx, &input);
            session_start(&ctx, &input, args)
        }
        HookEvent::SubagentStop(_) => {
            subagent_stopped(&ctx, &input);
            Ok(())
        }
        HookEvent::SessionEnd(_) => {
            bind_from_transcript(&ctx, &input);
            let r = session_end(&ctx, &input, args.agent);
            end_bookkeeping(&ctx, &input);
            r
        }
        HookEvent::PreCompact(_) => {
            bind_from_transcript(&ctx, &input);
            pre_compact(&ctx, &input, args.agent)
        }
    };
    if let Err(e) = result {
        eprintln!("sessions hook {name}: {e}");
    }
    0
}

fn read_input() -> std::result::Result<HookInput, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err("no hook JSON on stdin (it is a terminal)".into());
    }
    let mut buf = Vec::new();
    stdin
        .lock()
        .take(MAX_STDIN)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    HookInput::parse(&buf)
}

/// The hook's `cwd` (it follows `cd` and worktrees), else the agent's project dir, else ours.
fn root_dir(ctx: &Ctx, input: &HookInput) -> PathBuf {
    input
        .cwd
        .clone()
        .filter(|p| p.is_dir())
        .or_else(|| {
            ["CLAUDE_PROJECT_DIR", "GEMINI_PROJECT_DIR"]
                .iter()
                .find_map(|v| {
                    std::env::var_os(v)
                        .map(PathBuf::from)
                        .filter(|p| p.is_dir())
                })
        })
        .unwrap_or_else(|| ctx.cwd.clone())
}

fn bound(ctx: &Ctx, input: &HookInput) -> Option<PathBuf> {
    input
        .session_id
        .as_deref()
        .and_then(|id| binding::lookup(&ctx.repo, id))
}

fn session_start(ctx: &Ctx, input: &HookInput, args: &HookArgs) -> Result<()> {
    let binding = input
        .session_id
        .as_deref()
        .and_then(|id| binding::read(&ctx.repo, id));
    let bound = binding
        .as_ref()
        .and_then(|b| binding::existing(&ctx.repo, b));
    if input.is_subagent() {
        // Never list or hijack the parent's sessions from inside a subagent.
        if let Some(path) = &bound {
            let text = format!(
                "The parent conversation works in the session file {}; leave updating it to the parent. Your `sessions` commands act on that file as the parent's would; `sessions new` and `sessions resume` leave the parent's binding alone while you run.",
                ctx.repo.display(path)
            );
            emit(&text, input, args);
        }
        return Ok(());
    }
    if let (Some(id), Ok(env_file)) = (&input.session_id, std::env::var("CLAUDE_ENV_FILE")) {
        export_conversation(Path::new(&env_file), id);
    }
    // The bound session and the listing fail separately: a bad config must not cost the
    // re-injection after compaction, nor one unreadable file the whole listing.
    let mut text = String::new();
    let reinject = input
        .start_source()
        .is_some_and(|s| s.reinjects_bound_session());
    let run = binding.as_ref().and_then(|b| b.run.as_ref());
    if let (Some(path), Some(run)) = (&bound, run) {
        // A spawned agent: who it is and how to report, every time it starts.
        text.push_str(&run_context(ctx, path, run));
    }
    let guessed = match &bound {
        Some(_) => None,
        None if reinject => only_session_in_progress(ctx),
        None => None,
    };
    if let Some(path) = bound.as_ref().or(guessed.as_ref()) {
        match bound_context(ctx, path, reinject, input.start_source()) {
            Ok(t) => {
                if guessed.is_some() {
                    text.push_str(&not_bound_note(ctx, path));
                }
                text.push_str(&t);
            }
            Err(e) => eprintln!("sessions hook session-start: {e}"),
        }
    }
    // A spawned agent has its task; the other sessions would only distract it.
    if run.is_none() && ctx.repo.sessions_dir().is_dir() {
        match listing(ctx, bound.as_deref()) {
            Ok(t) => text.push_str(&t),
            Err(e) => eprintln!("sessions hook session-start: {e}"),
        }
    }
    if !text.is_empty() {
        emit(&text, input, args);
    }
    Ok(())
}

/// Prints the context; the JSON names the event that asked (SessionStart or SubagentStart),
/// since Claude Code drops output whose event name does not match.
fn emit(text: &str, input: &HookInput, args: &HookArgs) {
    let capped = cap_context(text, crate::hooks::CONTEXT_CAP);
    let event = match input.hook_event_name.as_deref() {
        Some("SubagentStart") => "SubagentStart",
        _ => "SessionStart",
    };
    let out = match args.format {
        HookFormat::Json => SessionStartOutput::for_event(event, &capped).to_json(),
        HookFormat::Text => capped,
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{out}");
}

/// Appends `export SESSIONS_CONVERSATION_ID=…` to Claude's env file (once), so later
/// `sessions` commands in this conversation know it without being told.
fn export_conversation(env_file: &Path, id: &str) {
    let line = format!(
        "export {}='{}'",
        binding::CONVERSATION_VARS[0],
        id.replace('\'', r"'\''")
    );
    let current = std::fs::read_to_string(env_file).unwrap_or_default();
    if current.lines().any(|l| l == line) {
        return;
    }
    // Never glue our line onto a last line that lacks its newline.
    let sep = if current.is_empty() || current.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    let write = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env_file)
        .and_then(|mut f| writeln!(f, "{sep}{line}"));
    if let Err(e) = write {
        eprintln!(
            "sessions hook session-start: cannot write {}: {e}",
            env_file.display()
        );
    }
}

fn bound_context(
    ctx: &Ctx,
    path: &Path,
    reinject: bool,
    source: Option<StartSource>,
) -> Result<String> {
    let text = store::read_session(path)?;
    let doc = Document::parse(&text);
    let title = doc.str_value(&["session", "title"]).unwrap_or("(untitled)");
    let mut out = format!(
        "This conversation works in the session \"{title}\" ({}).\n",
        ctx.repo.display(path)
    );
    if let Some(task) = doc.str_value(&["orchestration", "current_task"]) {
        out.push_str(&format!("Current task: {task}\n"));
    }
    if reinject {
        let why = match source {
            Some(StartSource::Compact) => "after context compaction",
            _ => "on resume",
        };
        out.push_str(&format!("\nRestored {why} from the session file:\n"));
        for name in ["Current State", "Next Steps"] {
            if let Some(s) = doc.section(name) {
                out.push_str(&format!("\n## {name}\n{}\n", doc.text(&s.body).trim_end()));
            }
        }
        if let Some(log) = doc.section("Session Log") {
            let entries: Vec<_> = doc
                .headings
                .iter()
                .filter(|h| h.level == 3 && log.body.contains(&h.line.start))
                .collect();
            if let Some(first) = entries.get(entries.len().saturating_sub(RECENT_LOG_ENTRIES)) {
                out.push_str(&format!(
                    "\n## Recent log\n{}\n",
                    text[first.line.start..log.body.end].trim_end()
                ));
            }
        }
    }
    out.push_str("\nKeep its Current State and Next Steps true as you work (`sessions update`, `sessions log`).\n\n");
    Ok(out)
}

fn listing(ctx: &Ctx, bound: Option<&Path>) -> Result<String> {
    let config = ctx.config()?;
    let mut active: Vec<Overview> = overview::load_all(&ctx.repo, ctx.now, config.stale_after)?
        .into_iter()
        .filter(Overview::is_active)
        .collect();
    if let Some(b) = bound {
        let shown = ctx.repo.display(b);
        active.retain(|o| o.path != shown);
    }
    super::list::sort(&mut active, crate::cli::SortKey::Status);
    let mut out = String::new();
    if active.is_empty() {
        if bound.is_none() {
            out.push_str("No active sessions in .agents/sessions/. To track this work: sessions new \"<what you are doing>\"\n");
        }
        return Ok(out);
    }
    out.push_str(&format!("Active sessions ({}):\n", active.len()));
    for o in active.iter().take(MAX_LISTED) {
        let mut facts = vec![
            o.status.replace('_', " "),
            format!("updated {} ago", o.age(ctx.now)),
        ];
        if o.stale {
            facts.push("STALE".into());
        }
        if o.agents.running > 0 {
            facts.push(format!("{} agent(s) running", o.agents.running));
        }
        out.push_str(&format!(
            "- \"{}\" ({}) — {}\n",
            o.title,
            o.id,
            facts.join(", ")
        ));
        if let Some(task) = &o.current_task {
            out.push_str(&format!("  task: {}\n", crate::table::truncate(task, 120)));
        }
    }
    if active.len() > MAX_LISTED {
        out.push_str(&format!(
            "… and {} more (`sessions list`).\n",
            active.len() - MAX_LISTED
        ));
    }
    out.push_str("Continue one with `sessions resume <id>`, or start one with `sessions new \"<description>\"`.\n");
    Ok(out)
}

fn pre_compact(ctx: &Ctx, input: &HookInput, agent: Agent) -> Result<()> {
    let Some(path) = bound(ctx, input) else {
        return Ok(());
    };
    let trigger = input.trigger.as_deref().unwrap_or("auto");
    let op = Op::Log {
        at: ctx.now,
        actor: agent.as_str().into(),
        message: format!("Context compacted ({trigger})."),
    };
    super::edit_session(ctx, &path, |_| Ok(vec![op.clone()]))?;
    Ok(())
}

fn session_end(ctx: &Ctx, input: &HookInput, agent: Agent) -> Result<()> {
    let Some(path) = bound(ctx, input) else {
        return Ok(());
    };
    let reason = input.reason.as_deref().unwrap_or("other");
    let ops = vec![
        Op::Set {
            path: key_path(&["session", "last_updated"]),
            value: Scalar::str(timestamp(ctx.now)),
        },
        Op::Log {
            at: ctx.now,
            actor: agent.as_str().into(),
            message: format!("Conversation ended ({reason})."),
        },
    ];
    super::edit_session(ctx, &path, |_| Ok(ops.clone()))?;
    // What is left in progress, for the person (SessionEnd output never reaches the model).
    let text = store::read_session(&path)?;
    let doc = Document::parse(&text);
    let mut left = Vec::new();
    if doc.str_value(&["session", "status"]) == Some("in_progress") {
        left.push(
            "the session is still in progress (`sessions pause` or `sessions close` when done)"
                .to_string(),
        );
    }
    let running = super::running_agents(ctx, &path)?;
    if running > 0 {
        left.push(format!(
            "{running} background agent(s) still running (`sessions agents`)"
        ));
    }
    if !section_has_content(&doc, "Next Steps") {
        left.push("Next Steps is empty: the next person will not know where to start".into());
    }
    if !left.is_empty() {
        eprintln!("sessions: {}: {}", ctx.repo.display(&path), left.join("; "));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Binding bookkeeping: the process tree, /clear, subagents, the transcript, spawned runs.

/// Records this conversation for the agent process above the hook, so commands the agent's
/// tools run find it without any variable (Gemini). Returns what the process was recorded
/// with before (another conversation of the same process: a `/clear`).
fn record_process(ctx: &Ctx, input: &HookInput, agent: Agent) -> Option<binding::proctree::Record> {
    let id = input.session_id.as_deref()?;
    // A subagent runs in its parent's process: the process stays the parent's.
    if input.is_subagent() || !ctx.repo.agents_dir().is_dir() || !binding::proctree::enabled() {
        return None;
    }
    let chain = binding::proctree::agent_chain(binding::proctree::ancestors());
    let previous = binding::proctree::recorded(&ctx.repo, &chain).map(|(_, r)| r);
    if let Err(e) = binding::proctree::record(&ctx.repo, &chain, id, agent.as_str()) {
        eprintln!("sessions hook: cannot record the agent process: {e}");
    }
    previous.filter(|r| r.conversation != id)
}

/// SessionStart of the main conversation: forget subagents of an earlier run of it, and
/// after `/clear` carry the binding over from the conversation this process had before.
fn start_bookkeeping(ctx: &Ctx, input: &HookInput, previous: Option<&binding::proctree::Record>) {
    let Some(id) = input.session_id.as_deref() else {
        return;
    };
    if input.is_subagent() {
        return;
    }
    let source = input.start_source();
    if source != Some(StartSource::Compact) {
        binding::subagents::clear(&ctx.repo, id);
    }
    if source != Some(StartSource::Clear) || binding::lookup(&ctx.repo, id).is_some() {
        return;
    }
    let Some(old) = previous.and_then(|r| binding::read(&ctx.repo, &r.conversation)) else {
        return;
    };
    if binding::existing(&ctx.repo, &old).is_none() {
        return;
    }
    if let Err(e) = binding::carry(&ctx.repo, id, &old, &timestamp(ctx.now)) {
        eprintln!("sessions hook session-start: {e}");
    }
}

fn subagent_started(ctx: &Ctx, input: &HookInput) {
    let (Some(id), Some(agent)) = (input.session_id.as_deref(), input.agent_id.as_deref()) else {
        return;
    };
    let kind = input.agent_type.as_deref().unwrap_or_default();
    if let Err(e) = binding::subagents::start(&ctx.repo, id, agent, kind, ctx.now) {
        eprintln!("sessions hook subagent-start: cannot record the subagent: {e}");
    }
}

fn subagent_stopped(ctx: &Ctx, input: &HookInput) {
    if let (Some(id), Some(agent)) = (input.session_id.as_deref(), input.agent_id.as_deref()) {
        binding::subagents::stop(&ctx.repo, id, agent);
    }
}

/// After SessionEnd: the conversation's subagents are over, and dead processes' records go.
fn end_bookkeeping(ctx: &Ctx, input: &HookInput) {
    if let Some(id) = input.session_id.as_deref() {
        binding::subagents::clear(&ctx.repo, id);
    }
    binding::proctree::prune(&ctx.repo);
}

/// A conversation that edits session files by hand (never running `sessions`) is bound to the
/// file its tool calls touched last. Never replaces a binding someone asked for (`new`,
/// `resume`, `spawn`), only an unbound or inferred one.
fn bind_from_transcript(ctx: &Ctx, input: &HookInput) {
    let (Some(id), Some(transcript)) = (input.session_id.as_deref(), &input.transcript_path) else {
        return;
    };
    if input.is_subagent() || !ctx.repo.sessions_dir().is_dir() {
        return;
    }
    let current = binding::read(&ctx.repo, id);
    if current
        .as_ref()
        .is_some_and(|b| !b.is_inferred() && binding::existing(&ctx.repo, b).is_some())
    {
        return;
    }
    let Some(path) = binding::transcript::last_touched(&ctx.repo, transcript) else {
        return;
    };
    let shown = ctx.repo.display(&path);
    if current.as_ref().is_some_and(|b| b.session == shown) {
        return;
    }
    if let Err(e) = binding::bind(&ctx.repo, id, &path, "transcript", &timestamp(ctx.now)) {
        eprintln!("sessions hook: {e}");
    }
}

/// With nothing bound, the one session in progress (if exactly one) is the likely work.
fn only_session_in_progress(ctx: &Ctx) -> Option<PathBuf> {
    let mut found = None;
    for path in ctx.repo.session_files().ok()? {
        let text = store::read_session(&path).ok()?;
        let doc = Document::parse_frontmatter(&text);
        if doc.str_value(&["session", "status"]) == Some("in_progress") {
            if found.is_some() {
                return None;
            }
            found = Some(path);
        }
    }
    found
}

fn not_bound_note(ctx: &Ctx, path: &Path) -> String {
    format!(
        "This conversation is not bound to a session file. The only session in progress is {}, so its state follows; if it is your work, bind it with `sessions resume {}`.\n",
        ctx.repo.display(path),
        super::stem(path)
    )
}

/// Tells a spawned agent who it is and how to report.
fn run_context(ctx: &Ctx, path: &Path, run: &binding::BoundRun) -> String {
    format!(
        "You are the background agent `{}` (run {}), spawned for the session file {}.\nYour task: {}\nReport progress as you go: `sessions log \"what you did\"` and `sessions update --state \"where things stand\"` (no SESSION needed: this conversation is bound to that file). End with a line `SUMMARY: …`.\n\n",
        run.agent,
        run.run_id,
        ctx.repo.display(path),
        run.task
    )
}
