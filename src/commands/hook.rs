//! `sessions hook session-start|session-end|pre-compact`: the agent CLIs' hook entry points.
//!
//! These run on the agent's critical path, so they never fail it: every problem becomes one
//! line on stderr and exit 0 (exit 2 would block the agent). They read the hook JSON from
//! stdin and route writes to the session bound to *this* conversation, never to a guess.
//! Subagents share the parent's conversation id: they get at most the parent's file path.
//!
//! Whatever the harness or the repository does, a hook answers within its budget: stdin is
//! read with deadlines (`hooks::stdin`), a watchdog ends a hook that something else blocks,
//! and only regular files are opened. Repository text reaches the model cleaned, bounded and
//! framed as data (`hooks::context`); what the conversation already holds is not repeated, and
//! a compaction is logged only when one happened (`hooks::memo`). See `docs/hooks.md`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Ctx;
use crate::binding;
use crate::cli::{HookArgs, HookEvent};
use crate::error::Result;
use crate::hooks::context::{clean_line, hook_actor};
use crate::hooks::memo::{Memo, PendingCompaction};
use crate::hooks::stdin::{StdinLimits, Stop, read_with_deadline};
use crate::hooks::{Agent, HookInput, StartSource};
use crate::session::Document;
use crate::session::edit::{Op, Scalar, key_path, section_has_content, timestamp};
use crate::store::{self, Repo};

mod context;

use context::session_start;

/// Runs a hook; always returns exit code 0.
pub fn run(ctx: &Ctx, event: HookEvent) -> u8 {
    if let HookEvent::Turn(args) = &event {
        return turn(ctx, args);
    }
    let (name, args) = match &event {
        HookEvent::SessionStart(a) => ("session-start", a),
        HookEvent::SubagentStart(a) => ("subagent-start", a),
        HookEvent::SubagentStop(a) => ("subagent-stop", a),
        HookEvent::SessionEnd(a) => ("session-end", a),
        HookEvent::PreCompact(a) => ("pre-compact", a),
        HookEvent::Turn(a) => ("turn", a),
    };
    start_watchdog(name, budget(&event, args));
    crate::write::set_lock_timeout(lock_wait(&event));
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
        HookEvent::Turn(_) => Ok(()),
    };
    if let Err(e) = result {
        eprintln!("sessions hook {name}: {e}");
    }
    0
}

/// The turn hooks: on every prompt, tool use and turn end, so they do the least — read the
/// JSON, look up the conversation's binding, and, for a spawned run, update its record's turn
/// state (one small locked read-modify-write). Subagents' hooks (`agent_id`) are ignored: the
/// parent's state is the parent's. A run that starts waiting notifies the targets that want
/// `waiting`.
fn turn(ctx: &Ctx, args: &HookArgs) -> u8 {
    start_watchdog(
        "turn",
        Duration::from_millis(args.budget_ms.unwrap_or(4_000)),
    );
    let input = match read_input() {
        Ok(input) => input,
        Err(why) => {
            eprintln!("sessions hook turn: {why}");
            return 0;
        }
    };
    if input.is_subagent() {
        return 0;
    }
    let (Some(event), Some(id)) = (
        input.hook_event_name.as_deref(),
        input.session_id.as_deref(),
    ) else {
        return 0;
    };
    let last = input
        .last_assistant_message
        .as_deref()
        .or(input.prompt_response.as_deref());
    let Some(report) = crate::agents::waiting::from_hook(
        event,
        input.notification_type.as_deref(),
        input.tool_name.as_deref(),
        last,
    ) else {
        return 0;
    };
    let repo = Repo::discover(&root_dir(ctx, &input));
    let Some(b) = binding::read(&repo, id) else {
        return 0;
    };
    let Some(run) = &b.run else { return 0 };
    let stem = Path::new(&b.session)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = crate::agents::record::record_path(&repo.state_dir(), &stem, &run.run_id);
    if !path.is_file() {
        return 0;
    }
    let mut started_waiting = false;
    let updated = crate::agents::record::update_if(&path, |r| {
        if !r.status.is_active() {
            return false;
        }
        let was_waiting = r.turn.as_ref().is_some_and(|t| t.is_waiting());
        crate::agents::waiting::apply(r, report.clone(), event, ctx.now);
        started_waiting = !was_waiting && r.turn.as_ref().is_some_and(|t| t.is_waiting());
        true
    });
    match updated {
        Ok((rec, _)) if started_waiting => {
            let key = rec
                .turn
                .as_ref()
                .map(|t| t.since.timestamp_millis().to_string())
                .unwrap_or_default();
            crate::agents::notify::on_waiting(&rec, &key);
            type_queued(&rec);
        }
        Ok(_) => {}
        Err(e) => eprintln!("sessions hook turn: {e}"),
    }
    0
}

/// An interactive run that now waits for input (not for a permission) gets the messages
/// queued for it typed into its pane. One `stat` when there are none.
fn type_queued(rec: &crate::agents::RunRecord) {
    use crate::agents::{queue, waiting};
    let for_input = rec
        .turn
        .as_ref()
        .is_some_and(|t| t.why != Some(waiting::Why::Permission));
    if !matches!(rec.runner, crate::agents::runner::RunnerState::Tmux(_))
        || !for_input
        || !queue::pending(rec)
    {
        return;
    }
    let messages = queue::take(rec);
    if messages.is_empty() {
        return;
    }
    if let Err(why) = waiting::type_into_pane(rec, &messages.join("\n\n")) {
        eprintln!("sessions hook turn: cannot type the queued message(s): {why}; kept queued");
        for m in &messages {
            let _ = queue::push(rec, m, chrono::Utc::now());
        }
    }
}

/// How long a hook may run before it gives up: a little under the timeout `hooks install`
/// writes (10 s for start and compaction, 5 s for SessionEnd), so a hook answers even under
/// a harness with no timeout of its own, yet a busy machine does not cut a normal run short.
fn budget(event: &HookEvent, args: &HookArgs) -> Duration {
    if let Some(ms) = args.budget_ms {
        return Duration::from_millis(ms);
    }
    match event {
        HookEvent::SessionEnd(_) | HookEvent::Turn(_) => Duration::from_millis(4_500),
        _ => Duration::from_secs(9),
    }
}

/// How long a hook waits for another writer's lock before it gives up its edit (one stderr
/// line). Only PreCompact and SessionEnd write as a rule; their budgets leave room for a queue
/// of writers on a busy machine (many conversations ending at once) without losing an entry,
/// and the wait stays well inside the timeouts `hooks install` writes.
fn lock_wait(event: &HookEvent) -> Duration {
    match event {
        HookEvent::PreCompact(_) | HookEvent::SessionEnd(_) => Duration::from_secs(3),
        _ => Duration::from_millis(800),
    }
}

/// Whatever blocks the hook (a FIFO where a file should be, a hung network mount), it answers
/// within its budget: exit 0 with one stderr line, before the agent kills it.
fn start_watchdog(name: &'static str, budget: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(budget);
        // An answer being written is finished first: never leave half a JSON object.
        let _stdout = std::io::stdout().lock();
        eprintln!(
            "sessions hook {name}: gave up after {} ms (something in the repository blocked it); nothing injected",
            budget.as_millis()
        );
        std::process::exit(0);
    });
}

/// Reads the hook JSON without waiting for the harness to close stdin (see `hooks::stdin`).
fn read_input() -> std::result::Result<HookInput, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err("no hook JSON on stdin (it is a terminal)".into());
    }
    let limits = StdinLimits::default();
    let (buf, stop) = read_with_deadline(stdin, limits);
    match stop {
        Stop::NothingArrived => Err(format!(
            "no hook JSON arrived on stdin within {} ms; nothing to do",
            limits.first_byte.as_millis()
        )),
        Stop::Incomplete => Err(format!(
            "hook stdin stayed open without a complete JSON object after {} ms; nothing to do",
            limits.after_first_byte.as_millis()
        )),
        Stop::TooLarge => Err(format!(
            "hook stdin is larger than {} MiB, so it is not hook JSON; nothing to do",
            limits.max_bytes / (1024 * 1024)
        )),
        Stop::Eof | Stop::Complete => HookInput::parse(&buf),
    }
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
        .filter(|p| is_regular_file(p))
}

/// Only regular files (or links to one) are opened: reading a FIFO would block the hook.
fn is_regular_file(path: &Path) -> bool {
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    if !regular && std::fs::symlink_metadata(path).is_ok() {
        eprintln!(
            "sessions hook: {} is not a regular file; skipped",
            clean_line(&path.display().to_string(), 200)
        );
    }
    regular
}

/// Whether this PreCompact proves a compaction. Only Codex's does. Gemini fires PreCompress
/// (`trigger: auto`) before every turn, before it even decides whether to compress; Claude
/// fires PreCompact before it checks whether there is enough to compact, and a refused
/// `/compact` ("Not enough messages to compact.") is followed by no SessionStart(compact).
/// Both are kept as a marker that SessionStart(compact) confirms.
fn compaction_is_certain(input: &HookInput, agent: Agent) -> bool {
    agent == Agent::Codex && input.hook_event_name.as_deref() != Some("PreCompress")
}

fn pre_compact(ctx: &Ctx, input: &HookInput, agent: Agent) -> Result<()> {
    let Some(path) = bound(ctx, input) else {
        return Ok(());
    };
    let trigger = input.trigger.as_deref().unwrap_or("auto");
    if !compaction_is_certain(input, agent) {
        return remember_compaction(ctx, input, trigger);
    }
    log_compaction(ctx, &path, agent, trigger)
}

fn log_compaction(ctx: &Ctx, path: &Path, agent: Agent, trigger: &str) -> Result<()> {
    let op = Op::Log {
        at: ctx.now,
        actor: hook_actor(agent.as_str()),
        message: format!("Context compacted ({}).", clean_line(trigger, 40)),
    };
    super::edit_session(ctx, path, |_| Ok(vec![op.clone()]))?;
    Ok(())
}

/// Keeps an unproven PreCompact as a marker (written once, not every turn) for the next
/// SessionStart with `source=compact` to confirm.
fn remember_compaction(ctx: &Ctx, input: &HookInput, trigger: &str) -> Result<()> {
    let Some(id) = input.session_id.as_deref() else {
        return Ok(());
    };
    let mut memo = Memo::load(&ctx.repo, id);
    let trigger = clean_line(trigger, 40);
    // The latest trigger wins (a refused manual `/compact`, then an automatic one that happens).
    if memo
        .pending_compaction
        .as_ref()
        .is_some_and(|p| p.trigger == trigger)
    {
        return Ok(());
    }
    memo.pending_compaction = Some(PendingCompaction {
        trigger,
        at: timestamp(ctx.now),
    });
    memo.save(&ctx.repo)
}

/// A SessionStart after compaction confirms a marked PreCompact: log it now.
fn confirm_compaction(ctx: &Ctx, input: &HookInput, agent: Agent, path: &Path) {
    let (Some(id), Some(StartSource::Compact)) =
        (input.session_id.as_deref(), input.start_source())
    else {
        return;
    };
    let mut memo = Memo::load(&ctx.repo, id);
    let Some(pending) = memo.pending_compaction.take() else {
        return;
    };
    let logged =
        log_compaction(ctx, path, agent, &pending.trigger).and_then(|()| memo.save(&ctx.repo));
    if let Err(e) = logged {
        eprintln!("sessions hook session-start: {e}");
    }
}

/// Drops an unconfirmed compaction marker when the conversation ends.
fn forget_compaction(ctx: &Ctx, input: &HookInput) {
    let Some(id) = input.session_id.as_deref() else {
        return;
    };
    let mut memo = Memo::load(&ctx.repo, id);
    if memo.pending_compaction.take().is_some()
        && let Err(e) = memo.save(&ctx.repo)
    {
        eprintln!("sessions hook session-end: {e}");
    }
}

fn session_end(ctx: &Ctx, input: &HookInput, agent: Agent) -> Result<()> {
    let Some(path) = bound(ctx, input) else {
        return Ok(());
    };
    forget_compaction(ctx, input);
    let reason = input.reason.as_deref().unwrap_or("other");
    let ops = vec![
        Op::Set {
            path: key_path(&["session", "last_updated"]),
            value: Scalar::str(timestamp(ctx.now)),
        },
        Op::Log {
            at: ctx.now,
            actor: hook_actor(agent.as_str()),
            message: format!("Conversation ended ({}).", clean_line(reason, 40)),
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
