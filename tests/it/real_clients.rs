//! Conformance suite: the real Claude Code, Codex CLI and Gemini CLI, run headless against mock
//! model servers on 127.0.0.1 with a scratch HOME, and what they actually send. Each test
//! skips (with a note on stderr) when its client is not installed; `.ci/install-clients`
//! installs the pinned versions. Client quirks found on the way are in `docs/clients.md`.

use crate::real_clients_support;

use serde_json::{Value, json};

use real_clients_support::{Client, World, anthropic, gemini, openai};

/// The stem of a session path (`.agents/sessions/STEM.md`).
fn stem(path: &str) -> String {
    path.rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".md")
        .to_string()
}

// ---------------------------------------------------------------- Claude Code

/// Claude's headless flags: stream-json needs --verbose; Bash is allowed without a prompt
/// (bypassPermissions is refused as root).
fn claude_args<'a>(prompt: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "-p",
        prompt,
        "--output-format",
        "stream-json",
        "--verbose",
        "--allowedTools",
        "Bash",
    ];
    args.extend_from_slice(extra);
    args
}

/// The `session_id` of Claude's final stream-json `result`.
fn claude_session_id(run: &real_clients_support::Run) -> String {
    run.json_lines()
        .iter()
        .rev()
        .find(|l| l["type"] == "result")
        .and_then(|l| l["session_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no result line with a session_id\n{run}"))
}

/// The main-loop requests (those that offer tools).
fn claude_turns(world: &World) -> Vec<Value> {
    world
        .bodies("/v1/messages")
        .into_iter()
        .filter(anthropic::has_tools)
        .collect()
}

fn claude_system_text(world: &World) -> String {
    claude_turns(world)
        .iter()
        .flat_map(anthropic::system_messages)
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[test]
fn claude_session_start_context_reaches_the_model() {
    let script = anthropic::Script::text("t", "Nothing to do.");
    let Some(world) = World::new(Client::Claude, script.responder()) else {
        return;
    };
    let path = world.new_session("weather fallback");
    world.client(&claude_args("hello", &[])).ok();
    let system = claude_system_text(&world);
    assert!(
        system.contains("SessionStart hook additional context")
            && system.contains(&stem(&path))
            && system.contains("weather fallback"),
        "the listing did not reach the model as a system message:\n{system}\nrequests:\n{}",
        world.server.summary()
    );
}

/// Run 1 binds the conversation from inside (the agent runs `sessions resume STEM`); the
/// session's state changes; `claude -p --resume ID` must show the model the new state.
#[test]
fn claude_resume_reinjects_the_bound_session() {
    let Some(world) = World::new(
        Client::Claude,
        anthropic::Script::text("t", "ok").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    let id = stem(&path);
    world.server.set_responder(
        anthropic::Script::text("bind", "Bound.")
            .bash(&format!("sessions resume {id}"))
            .responder(),
    );
    let run = world
        .client(&claude_args("pick up the weather work", &[]))
        .ok();
    let conversation = claude_session_id(&run);
    world
        .sessions(&[
            "update",
            &id,
            "--state",
            "Provider B answers; retries still missing",
            "--next",
            "- [ ] add retries to provider B",
        ])
        .ok();

    world.server.clear();
    world
        .server
        .set_responder(anthropic::Script::text("r", "Continuing.").responder());
    world
        .client(&claude_args("continue", &["--resume", &conversation]))
        .ok();
    let system = claude_system_text(&world);
    assert!(
        system.contains("Provider B answers; retries still missing")
            && system.contains("add retries to provider B")
            && system.contains(&path),
        "the bound session's state was not re-injected on resume:\n{system}"
    );
}

/// `/compact` as the prompt of `claude -p --resume` compacts for real (PreCompact manual, then
/// SessionStart compact): the session log records it, and the next turn sees the state again.
#[test]
fn claude_compact_reinjects_the_bound_session() {
    let Some(world) = World::new(
        Client::Claude,
        anthropic::Script::text("t", "ok").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    let id = stem(&path);
    // Claude refuses to compact a transcript this short ("Not enough messages to compact"),
    // though PreCompact has already fired: give it a few turns.
    world.server.set_responder(
        anthropic::Script::text("bind", "Bound.")
            .bash(&format!("sessions resume {id}"))
            .bash("echo one")
            .bash("echo two")
            .responder(),
    );
    let run = world
        .client(&claude_args("pick up the weather work", &[]))
        .ok();
    let conversation = claude_session_id(&run);
    world
        .server
        .set_responder(anthropic::Script::text("t2", "Second turn.").responder());
    world
        .client(&claude_args(
            "and look around",
            &["--resume", &conversation],
        ))
        .ok();
    world
        .sessions(&["update", &id, "--state", "Cache layer designed, not built"])
        .ok();

    world.server.clear();
    world.server.set_responder(
        anthropic::Script::text("c", "Summary: weather fallback work in progress.").responder(),
    );
    let compact = world
        .client(&claude_args(
            "/compact keep the weather work",
            &["--resume", &conversation],
        ))
        .ok();
    let text = world.read(&path);
    assert!(
        text.contains("Context compacted (manual)"),
        "PreCompact did not log the compaction:\n{text}\n{compact}\nrequests:\n{}",
        world.server.summary()
    );

    world.server.clear();
    world
        .server
        .set_responder(anthropic::Script::text("n", "Next.").responder());
    world
        .client(&claude_args("go on", &["--resume", &conversation]))
        .ok();
    let system = claude_system_text(&world);
    assert!(
        system.contains("after context compaction")
            && system.contains("Cache layer designed, not built"),
        "the state was not re-injected after compaction:\n{system}"
    );
}

/// The text of the tool result for the `n`th call of the script with `prefix`, from the
/// last main-loop request that has it.
fn claude_tool_output(world: &World, prefix: &str, n: usize) -> String {
    let id = format!("{prefix}_{n}");
    claude_turns(world)
        .iter()
        .rev()
        .find_map(|b| anthropic::tool_result_text(b, &id))
        .unwrap_or_else(|| panic!("no result for tool call {id}\n{}", world.server.summary()))
}

/// `sessions log "…"` without a SESSION, run by the agent's Bash tool after it bound the
/// conversation, lands in the bound file and nowhere else.
#[test]
fn claude_tool_log_without_session_lands_in_the_bound_file() {
    let Some(world) = World::new(
        Client::Claude,
        anthropic::Script::text("t", "ok").responder(),
    ) else {
        return;
    };
    let weather = world.new_session("weather fallback");
    let billing = world.new_session("billing cleanup");
    world.server.set_responder(
        anthropic::Script::text("b", "Logged.")
            .bash(&format!("sessions resume {}", stem(&billing)))
            .bash("sessions log \"Dropped the legacy invoice table\"; echo exit=$?")
            .responder(),
    );
    world
        .client(&claude_args("log the billing progress", &[]))
        .ok();
    let out = claude_tool_output(&world, "b", 1);
    assert!(
        out.contains("exit=0"),
        "sessions log failed in the tool:\n{out}"
    );
    assert!(
        world
            .read(&billing)
            .contains("Dropped the legacy invoice table"),
        "the entry is not in the bound file:\n{}",
        world.read(&billing)
    );
    assert!(!world.read(&weather).contains("legacy invoice"));
}

/// `sessions new` run by the agent binds the (unbound) conversation to the new file, so the
/// agent's next `sessions log` without SESSION lands there.
#[test]
fn claude_tool_new_binds_and_log_follows() {
    let Some(world) = World::new(
        Client::Claude,
        anthropic::Script::text("t", "ok").responder(),
    ) else {
        return;
    };
    let weather = world.new_session("weather fallback");
    world.server.set_responder(
        anthropic::Script::text("n", "Started.")
            .bash("sessions new \"billing cleanup\"")
            .bash("sessions log \"Listed the invoice tables\"; echo exit=$?")
            .responder(),
    );
    world
        .client(&claude_args("start the billing work", &[]))
        .ok();
    let out = claude_tool_output(&world, "n", 1);
    assert!(
        out.contains("exit=0"),
        "sessions log failed in the tool:\n{out}"
    );
    let listed = world.sessions(&["list", "--json"]).ok();
    let billing = serde_json::from_str::<Value>(&listed.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "billing cleanup")
        .and_then(|s| s["path"].as_str().map(str::to_owned))
        .expect("the agent created its session");
    assert!(
        world.read(&billing).contains("Listed the invoice tables"),
        "{}",
        world.read(&billing)
    );
    assert!(!world.read(&weather).contains("invoice"));
}

/// A subagent's Bash has the parent's environment: its `sessions new "sub work"` must not
/// rebind the parent, so the parent's SessionEnd still logs into the parent's file.
#[test]
fn claude_subagent_cannot_steal_the_binding() {
    let Some(world) = World::new(
        Client::Claude,
        anthropic::Script::text("t", "ok").responder(),
    ) else {
        return;
    };
    let weather = world.new_session("weather fallback");
    let parent = anthropic::Script::text("p", "Parent done.")
        .bash(&format!("sessions resume {}", stem(&weather)))
        .tool(
            "Agent",
            json!({"description": "sub work", "subagent_type": "general-purpose",
                   "prompt": "SUBAGENT: start the sub work"}),
        );
    let sub = anthropic::Script::text("s", "Sub done.").bash("sessions new \"sub work\"");
    world
        .server
        .set_responder(anthropic::responder(move |_, body| {
            if anthropic::first_user_text(body).contains("SUBAGENT:") {
                sub.reply(body)
            } else if anthropic::has_tools(body) {
                parent.reply(body)
            } else {
                anthropic::text("ok")
            }
        }));
    let run = world
        .client(&claude_args(
            "delegate the sub work",
            &["--allowedTools", "Agent"],
        ))
        .ok();
    let conversation = claude_session_id(&run);
    let names = world.sessions(&["list", "--json"]).ok();
    let sub_path = serde_json::from_str::<Value>(&names.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "sub work")
        .and_then(|s| s["path"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            panic!(
                "the subagent did not create its session\n{run}\n{}",
                world.server.summary()
            )
        });
    assert!(
        world.read(&weather).contains("Conversation ended"),
        "the parent's SessionEnd did not log into the parent's file:\n{}",
        world.read(&weather)
    );
    assert!(
        !world.read(&sub_path).contains("Conversation ended"),
        "the parent's SessionEnd logged into the subagent's file:\n{}",
        world.read(&sub_path)
    );

    // And the parent's next start still names the parent's file.
    world.server.clear();
    world
        .server
        .set_responder(anthropic::Script::text("r", "Back.").responder());
    world
        .client(&claude_args("continue", &["--resume", &conversation]))
        .ok();
    let system = claude_system_text(&world);
    assert!(
        system.contains(&format!("({weather})"))
            && !system.contains("works in the session \"sub work\""),
        "the parent is no longer bound to its own session:\n{system}"
    );
}

/// Claude fires PreCompact before it checks whether there is anything to compact; a refused
/// compaction ("Not enough messages to compact.") must not be logged as one.
#[test]
#[ignore = "known: Claude's PreCompact is still taken as proof of a compaction; a refused /compact is logged (to confirm it at SessionStart(compact) instead)"]
fn claude_refused_compaction_is_not_logged() {
    let Some(world) = World::new(
        Client::Claude,
        anthropic::Script::text("t", "ok").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    // One model reply is one message group: too few for Claude to compact.
    let run = world.client(&claude_args("hello", &[])).ok();
    let conversation = claude_session_id(&run);
    world
        .sessions(&["resume", &stem(&path), "--conversation", &conversation])
        .ok();
    let compact = world
        .client(&claude_args("/compact", &["--resume", &conversation]))
        .ok();
    assert!(
        compact.stdout.contains("Not enough messages to compact"),
        "this client compacted a one-turn transcript after all; the test no longer tests the refusal\n{compact}"
    );
    let text = world.read(&path);
    assert!(
        !text.contains("Context compacted"),
        "a refused compaction was logged:\n{text}"
    );
}

/// The latest run of `agent` on `session`, as `agents --json` reports it.
fn agent_record(world: &World, session: &str, agent: &str) -> Value {
    let out = world.sessions(&["agents", session, "--json"]).ok();
    let all: Value = serde_json::from_str(&out.stdout).expect("agents --json");
    all.as_array()
        .and_then(|a| a.iter().rev().find(|r| r["agent"] == agent).cloned())
        .unwrap_or_else(|| panic!("no {agent} run in agents --json:\n{}", out.stdout))
}

/// Spawns `agent` on `session` with the default template `init` wrote and waits (polling
/// `agents --json`, bounded) until the run has ended; returns its record.
fn spawn_and_wait(world: &World, session: &str, agent: &str, task: &str) -> Value {
    world
        .sessions(&["spawn", session, "--agent", agent, "--task", task])
        .ok();
    let deadline = std::time::Instant::now() + real_clients_support::CLIENT_TIMEOUT;
    let record = loop {
        let record = agent_record(world, session, agent);
        if record["status"] != "running" || std::time::Instant::now() >= deadline {
            break record;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(
        record["status"],
        "completed",
        "the spawned {agent} run did not complete\nrecord: {record:#}\nlog:\n{}\nrequests:\n{}",
        record["log"]
            .as_str()
            .map(|l| world.read(l))
            .unwrap_or_default(),
        world.server.summary()
    );
    record
}

/// `spawn --agent claude` with the template `init` writes: the run records Claude's own
/// conversation id, the SUMMARY line, the cost; the conversation is bound to the session from
/// its first hook, and `claude --resume` of it re-injects the session.
#[test]
fn claude_spawned_run_records_id_summary_cost_and_resumes_bound() {
    let Some(world) = World::new(
        Client::Claude,
        anthropic::Script::text("t", "Wired provider C.\nSUMMARY: provider C wired").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    let id = stem(&path);
    let record = spawn_and_wait(&world, &id, "claude", "wire provider C");
    let sent = world
        .server
        .requests()
        .iter()
        .find_map(|r| r.header("X-Claude-Code-Session-Id").map(str::to_owned))
        .expect("Claude names its session in a header");
    assert_eq!(record["conversation_id"], json!(sent), "{record:#}");
    assert!(
        record["summary"]
            .as_str()
            .unwrap_or("")
            .contains("provider C wired"),
        "{record:#}"
    );
    assert!(
        record["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
        "{record:#}"
    );
    assert!(
        record["turns"].as_u64().is_some_and(|t| t >= 1),
        "{record:#}"
    );
    let text = world.read(&path);
    assert!(
        text.contains(&format!("conversation_id: \"{sent}\""))
            || text.contains(&format!("conversation_id: {sent}")),
        "{text}"
    );
    assert!(
        text.contains("cost_usd: "),
        "no cost in the spawned_agents entry:\n{text}"
    );

    // The spawned conversation's own SessionStart told it who it is.
    let first = claude_system_text(&world);
    assert!(
        first.contains(&path) && first.contains("wire provider C"),
        "{first}"
    );

    world.server.clear();
    world
        .server
        .set_responder(anthropic::Script::text("r", "Resumed.").responder());
    world
        .client(&claude_args("continue", &["--resume", &sent]))
        .ok();
    let system = claude_system_text(&world);
    assert!(
        system.contains("Restored on resume") && system.contains(&path),
        "resuming the spawned conversation did not re-inject its session:\n{system}"
    );
}

// ---------------------------------------------------------------- Codex CLI

/// `codex exec` headless: JSONL out, project hooks run without the `/hooks` approval (which
/// `codex exec` would otherwise skip silently), no git check (the repo has no commits).
fn codex_args<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["exec"];
    args.extend_from_slice(head);
    args.extend_from_slice(&[
        "--json",
        "--dangerously-bypass-hook-trust",
        "--skip-git-repo-check",
    ]);
    args.extend_from_slice(tail);
    args
}

fn codex_thread_id(run: &real_clients_support::Run) -> String {
    run.json_lines()
        .iter()
        .find(|l| l["type"] == "thread.started")
        .and_then(|l| l["thread_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no thread.started line\n{run}"))
}

fn codex_developer_text(world: &World) -> String {
    world
        .bodies("/v1/responses")
        .iter()
        .flat_map(openai::developer_texts)
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[test]
fn codex_session_start_context_is_a_developer_message() {
    let Some(world) = World::new(
        Client::Codex,
        openai::Script::text("t", "Nothing to do.").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    world.client(&codex_args(&[], &["hello"])).ok();
    let dev = codex_developer_text(&world);
    assert!(
        dev.contains("Active sessions (1)") && dev.contains(&stem(&path)),
        "the listing did not reach the model as a developer message:\n{dev}\nrequests:\n{}",
        world.server.summary()
    );
}

/// The quirk `hooks install --agent codex` warns about: without approval (Codex's `/hooks`
/// view) or `--dangerously-bypass-hook-trust`, `codex exec` skips the project hooks and says
/// nothing. If a new Codex version changes this, the install note and docs/clients.md must too.
#[test]
fn codex_exec_skips_unapproved_project_hooks_silently() {
    let Some(world) = World::new(Client::Codex, openai::Script::text("t", "ok").responder()) else {
        return;
    };
    world.new_session("weather fallback");
    let run = world
        .client(&["exec", "--json", "--skip-git-repo-check", "hello"])
        .ok();
    let dev = codex_developer_text(&world);
    assert!(
        !dev.contains("Active sessions"),
        "unapproved hooks ran:\n{dev}"
    );
    assert!(!dev.is_empty(), "no request reached the mock\n{run}");
    assert!(
        !format!("{}{}", run.stdout, run.stderr)
            .to_lowercase()
            .contains("hook"),
        "Codex now mentions the skipped hooks:\n{run}"
    );
}

/// Bound from outside (`sessions resume X --conversation THREAD`), `codex exec resume THREAD`
/// fires SessionStart(resume) and the bound session's state reaches the model.
#[test]
fn codex_resume_reinjects_the_bound_session() {
    let Some(world) = World::new(
        Client::Codex,
        openai::Script::text("t", "First turn.").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    let id = stem(&path);
    let thread = codex_thread_id(&world.client(&codex_args(&[], &["start"])).ok());
    world
        .sessions(&["resume", &id, "--conversation", &thread])
        .ok();
    world
        .sessions(&[
            "update",
            &id,
            "--state",
            "Provider B answers; retries still missing",
        ])
        .ok();
    world.server.clear();
    world
        .client(&codex_args(&["resume"], &[&thread, "continue"]))
        .ok();
    let dev = codex_developer_text(&world);
    assert!(
        dev.contains("Restored on resume")
            && dev.contains("Provider B answers; retries still missing"),
        "the bound session was not re-injected on resume:\n{dev}"
    );
}

/// Auto compaction (`model_auto_compact_token_limit` below what the mock reports): PreCompact
/// (auto) logs it, SessionStart(compact) puts the state back in front of the model.
#[test]
fn codex_auto_compaction_reinjects_the_bound_session() {
    let Some(world) = World::new(
        Client::Codex,
        openai::Script::text("t", "First turn.").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    let id = stem(&path);
    let thread = codex_thread_id(&world.client(&codex_args(&[], &["start"])).ok());
    world
        .sessions(&["resume", &id, "--conversation", &thread])
        .ok();
    world
        .sessions(&["update", &id, "--state", "Cache layer designed, not built"])
        .ok();
    world.server.clear();
    world.server.set_responder(
        openai::Script::text("c", "Summary: weather work.")
            .exec("echo one")
            .input_tokens(50_000)
            .responder(),
    );
    let run = world
        .client(&codex_args(
            &["resume"],
            &[
                "-c",
                "model_auto_compact_token_limit=2000",
                &thread,
                "keep going",
            ],
        ))
        .ok();
    let text = world.read(&path);
    assert!(
        text.contains("Context compacted (auto)"),
        "PreCompact did not log an auto compaction:\n{text}\n{run}\nrequests:\n{}",
        world.server.summary()
    );
    let dev = codex_developer_text(&world);
    assert!(
        dev.contains("after context compaction") && dev.contains("Cache layer designed, not built"),
        "the state was not re-injected after compaction:\n{dev}\nrequests:\n{}",
        world.server.summary()
    );
}

/// Codex's shell tool sees `CODEX_THREAD_ID`, not our variable: `sessions resume X` then
/// `sessions log "…"` from inside must bind and land in that file.
#[test]
fn codex_tool_log_without_session_lands_in_the_bound_file() {
    let Some(world) = World::new(Client::Codex, openai::Script::text("t", "ok").responder()) else {
        return;
    };
    let weather = world.new_session("weather fallback");
    let billing = world.new_session("billing cleanup");
    world.server.set_responder(
        openai::Script::text("b", "Logged.")
            .exec(&format!("sessions resume {}", stem(&billing)))
            .exec("sessions log \"Dropped the legacy invoice table\"; echo exit=$?")
            .responder(),
    );
    world
        .client(&codex_args(&[], &["log the billing progress"]))
        .ok();
    let out = world
        .bodies("/v1/responses")
        .iter()
        .rev()
        .find_map(|b| openai::call_output(b, "b_1"))
        .unwrap_or_else(|| panic!("no output for the log call\n{}", world.server.summary()));
    assert!(
        out.contains("exit=0"),
        "sessions log failed in the tool:\n{out}"
    );
    assert!(
        world
            .read(&billing)
            .contains("Dropped the legacy invoice table"),
        "the entry is not in the bound file:\n{}",
        world.read(&billing)
    );
    assert!(!world.read(&weather).contains("legacy invoice"));
}

/// `spawn --agent codex` with the template `init` writes: the run records the thread id from
/// `thread.started`, the summary from the final agent_message, the tokens from
/// `turn.completed`; the thread is bound, so `codex exec resume` re-injects the session.
#[test]
fn codex_spawned_run_records_id_summary_tokens_and_resumes_bound() {
    let Some(world) = World::new(
        Client::Codex,
        openai::Script::text("t", "Wired provider C.\nSUMMARY: provider C wired").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    let id = stem(&path);
    let record = spawn_and_wait(&world, &id, "codex", "wire provider C");
    let log = world.read(record["log"].as_str().expect("log path"));
    let thread = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["type"] == "thread.started")
        .and_then(|l| l["thread_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no thread.started in the log:\n{log}"));
    assert_eq!(record["conversation_id"], json!(thread), "{record:#}");
    assert_eq!(record["summary"], json!("provider C wired"), "{record:#}");
    assert!(
        record["tokens"]["input"].as_u64().is_some_and(|t| t > 0),
        "{record:#}"
    );

    world.server.clear();
    world
        .server
        .set_responder(openai::Script::text("r", "Resumed.").responder());
    world
        .client(&codex_args(&["resume"], &[&thread, "continue"]))
        .ok();
    let dev = codex_developer_text(&world);
    assert!(
        dev.contains("Restored on resume") && dev.contains(&path),
        "resuming the spawned thread did not re-inject its session:\n{dev}"
    );
}

// ---------------------------------------------------------------- Gemini CLI

/// Gemini headless: stream-json, a fixed model (the default `auto` first asks a router model
/// through `:generateContent`), shell tools approved.
fn gemini_args<'a>(prompt: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "-p",
        prompt,
        "-o",
        "stream-json",
        "-m",
        "gemini-2.5-flash",
        "--approval-mode",
        "yolo",
    ];
    args.extend_from_slice(extra);
    args
}

fn gemini_user_text(world: &World) -> String {
    world
        .bodies(":streamGenerateContent")
        .iter()
        .flat_map(gemini::user_texts)
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// Every string in every JSON body the mock received (decoded, so quotes and newlines read as
/// the model reads them), for checks over everything that was sent.
fn all_bodies(world: &World) -> String {
    fn strings(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    for r in world.server.requests() {
        match r.json() {
            Some(v) => strings(&v, &mut out),
            None => out.push_str(&r.body),
        }
    }
    out
}

#[test]
fn gemini_session_start_context_reaches_the_model_in_hook_context() {
    let Some(world) = World::new(
        Client::Gemini,
        gemini::Script::text("t", "Nothing to do.").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    world.client(&gemini_args("hello", &[])).ok();
    let user = gemini_user_text(&world);
    let context = user
        .split("<hook_context>")
        .nth(1)
        .and_then(|rest| rest.split("</hook_context>").next())
        .unwrap_or_else(|| {
            panic!(
                "no <hook_context> in the request:\n{user}\n{}",
                world.server.summary()
            )
        });
    assert!(
        context.contains("Active sessions (1)") && context.contains(&stem(&path)),
        "the listing is not in <hook_context>:\n{user}"
    );
}

/// Gemini HTML-escapes `<`/`>` inside `<hook_context>`: nothing we inject may contain them.
#[test]
fn gemini_gets_no_escaped_angle_brackets() {
    let Some(world) = World::new(
        Client::Gemini,
        gemini::Script::text("t", "Nothing to do.").responder(),
    ) else {
        return;
    };
    world.new_session("weather fallback");
    world.client(&gemini_args("hello", &[])).ok();
    let conversation = "7f0c9a52-3d2e-4c1b-9a7e-2b9d4f1e6a10";
    let path = world.new_session("billing cleanup");
    world
        .sessions(&["resume", &stem(&path), "--conversation", conversation])
        .ok();
    world
        .client(&gemini_args("again", &["--session-id", conversation]))
        .ok();
    let sent = all_bodies(&world);
    assert!(
        sent.contains("<hook_context>"),
        "{}",
        world.server.summary()
    );
    for escaped in ["&lt;", "&gt;"] {
        let at = sent.find(escaped);
        assert!(
            at.is_none(),
            "`{escaped}` reached Gemini: …{}…",
            &sent[at.unwrap().saturating_sub(200)..(at.unwrap() + 50).min(sent.len())]
        );
    }
}

/// Bound from outside, `gemini -r ID -p` fires SessionStart(resume) and the state reaches
/// the model inside `<hook_context>`.
#[test]
fn gemini_resume_reinjects_the_bound_session() {
    let Some(world) = World::new(
        Client::Gemini,
        gemini::Script::text("t", "First turn.").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    let id = stem(&path);
    let conversation = "3b8e1f6a-9c4d-4e2a-8f1b-5d7c9e0a2b4c";
    world
        .client(&gemini_args("start", &["--session-id", conversation]))
        .ok();
    world
        .sessions(&["resume", &id, "--conversation", conversation])
        .ok();
    world
        .sessions(&[
            "update",
            &id,
            "--state",
            "Provider B answers; retries still missing",
        ])
        .ok();
    world.server.clear();
    world
        .client(&gemini_args("continue", &["-r", conversation]))
        .ok();
    let user = gemini_user_text(&world);
    assert!(
        user.contains("Provider B answers; retries still missing") && user.contains(&path),
        "the bound session was not re-injected on resume:\n{user}"
    );
}

/// Gemini's shell tool sees no conversation id at all: the binding must come from the
/// process tree, so `sessions resume X` then `sessions log "…"` from the tool land in X.
#[test]
fn gemini_tool_log_without_session_lands_in_the_bound_file() {
    let Some(world) = World::new(Client::Gemini, gemini::Script::text("t", "ok").responder())
    else {
        return;
    };
    let weather = world.new_session("weather fallback");
    let billing = world.new_session("billing cleanup");
    world.server.set_responder(
        gemini::Script::text("b", "Logged.")
            .shell(&format!("sessions resume {}", stem(&billing)))
            .shell("sessions log \"Dropped the legacy invoice table\"; echo exit=$?")
            .responder(),
    );
    world
        .client(&gemini_args("log the billing progress", &[]))
        .ok();
    let out = world
        .bodies(":streamGenerateContent")
        .iter()
        .rev()
        .find_map(|b| gemini::function_response(b, "b_1"))
        .unwrap_or_else(|| panic!("no output for the log call\n{}", world.server.summary()));
    assert!(
        out.contains("exit=0"),
        "sessions log failed in the tool:\n{out}"
    );
    assert!(
        world
            .read(&billing)
            .contains("Dropped the legacy invoice table"),
        "the entry is not in the bound file:\n{}",
        world.read(&billing)
    );
    assert!(!world.read(&weather).contains("legacy invoice"));
}

/// `spawn --agent gemini` with the template `init` writes: `--session-id` pre-assigns the id
/// (the recorded one is Gemini's own), the summary comes from the assistant `message` events,
/// tokens from `result.stats`; `gemini -r ID` re-injects the session.
#[test]
fn gemini_spawned_run_records_id_summary_tokens_and_resumes_bound() {
    let Some(world) = World::new(
        Client::Gemini,
        gemini::Script::text("t", "Wired provider C.\nSUMMARY: provider C wired").responder(),
    ) else {
        return;
    };
    let path = world.new_session("weather fallback");
    let id = stem(&path);
    let record = spawn_and_wait(&world, &id, "gemini", "wire provider C");
    let log = world.read(record["log"].as_str().expect("log path"));
    let own = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["type"] == "init")
        .and_then(|l| l["session_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no init event in the log:\n{log}"));
    assert_eq!(record["conversation_id"], json!(own), "{record:#}");
    assert_eq!(record["summary"], json!("provider C wired"), "{record:#}");
    assert!(
        record["tokens"]["input"].as_u64().is_some_and(|t| t > 0),
        "{record:#}"
    );

    world.server.clear();
    world
        .server
        .set_responder(gemini::Script::text("r", "Resumed.").responder());
    world.client(&gemini_args("continue", &["-r", &own])).ok();
    let user = gemini_user_text(&world);
    assert!(
        user.contains("Restored on resume") && user.contains(&path),
        "resuming the spawned conversation did not re-inject its session:\n{user}"
    );
}

/// Gemini fires PreCompress (`trigger: auto`) before every turn, whether or not it then
/// compresses: a plain two-turn conversation must not be logged as compacted.
#[test]
fn gemini_turn_without_compression_logs_no_compaction() {
    let Some(world) = World::new(Client::Gemini, gemini::Script::text("t", "ok").responder())
    else {
        return;
    };
    let path = world.new_session("weather fallback");
    let conversation = "5c2d8e4f-1a3b-4c6d-9e8f-0a1b2c3d4e5f";
    world
        .sessions(&["resume", &stem(&path), "--conversation", conversation])
        .ok();
    world
        .client(&gemini_args("hello", &["--session-id", conversation]))
        .ok();
    world
        .client(&gemini_args("again", &["-r", conversation]))
        .ok();
    let text = world.read(&path);
    assert!(
        !text.contains("Context compacted"),
        "a turn without compression was logged as a compaction:\n{text}"
    );
}

// ---------------------------------------------------------------- all three

/// `hooks install --instructions` writes a block between marker lines into the client's
/// instructions file; returns a line of that block (markers aside) to look for.
fn install_instructions(world: &World) -> String {
    world
        .sessions(&[
            "hooks",
            "install",
            "--agent",
            world.client.name(),
            "--instructions",
        ])
        .ok();
    let file = ["CLAUDE.md", "AGENTS.md", "GEMINI.md"]
        .into_iter()
        .find(|f| world.repo.join(f).exists())
        .expect("an instructions file");
    let text = world.read(file);
    text.lines()
        .skip_while(|l| !l.contains("sessions:begin"))
        .skip(1)
        .take_while(|l| !l.contains("sessions:end"))
        .map(str::trim)
        .find(|l| l.len() > 20 && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no instructions block in {file}:\n{text}"))
        .to_string()
}

#[test]
fn claude_instructions_block_reaches_the_model() {
    let Some(world) = World::new(
        Client::Claude,
        anthropic::Script::text("t", "ok").responder(),
    ) else {
        return;
    };
    let line = install_instructions(&world);
    world.client(&claude_args("hello", &[])).ok();
    let sent = all_bodies(&world);
    assert!(
        sent.contains(&line),
        "`{line}` did not reach the model\n{}",
        world.server.summary()
    );
}

#[test]
fn codex_instructions_block_reaches_the_model() {
    let Some(world) = World::new(Client::Codex, openai::Script::text("t", "ok").responder()) else {
        return;
    };
    let line = install_instructions(&world);
    world.client(&codex_args(&[], &["hello"])).ok();
    let sent = all_bodies(&world);
    assert!(
        sent.contains(&line),
        "`{line}` did not reach the model\n{}",
        world.server.summary()
    );
}

#[test]
fn gemini_instructions_block_reaches_the_model() {
    let Some(world) = World::new(Client::Gemini, gemini::Script::text("t", "ok").responder())
    else {
        return;
    };
    let line = install_instructions(&world);
    world.client(&gemini_args("hello", &[])).ok();
    let sent = all_bodies(&world);
    assert!(
        sent.contains(&line),
        "`{line}` did not reach the model\n{}",
        world.server.summary()
    );
}

// ---------------------------------------------------------------- the harness itself
// These run without any client, so a fresh clone still checks the mocks the suite relies on.

/// A raw HTTP/1.1 POST to the mock, read to the end of the response.
fn post(url: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the mock");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read the response");
    out
}

#[test]
fn mock_server_records_requests_and_answers_with_sse() {
    let server = real_clients_support::MockServer::start(
        anthropic::Script::text("t", "hi there").responder(),
    );
    let answer = post(
        server.url(),
        "/v1/messages?beta=true",
        r#"{"messages":[],"tools":[{"name":"Bash"}]}"#,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("text/event-stream"), "{answer}");
    assert!(answer.contains("event: message_stop"), "{answer}");
    assert!(answer.contains(r#""text":"hi there""#), "{answer}");
    let missing = post(server.url(), "/v1/other", "{}");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let got = server.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path(), "/v1/messages");
    assert_eq!(got[0].json().unwrap()["tools"][0]["name"], "Bash");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
}

/// Each script calls its tools in turn, counting only results for its own ids, then answers.
#[test]
fn mock_scripts_step_through_their_tool_calls() {
    let reply_text = |r: real_clients_support::mock::Reply| match r {
        real_clients_support::mock::Reply::Sse(s) => s,
        _ => panic!("not SSE"),
    };
    let claude = anthropic::Script::text("a", "done").bash("sessions log x");
    let first = reply_text(claude.reply(&json!({"messages": [{"role": "user", "content": "go"}]})));
    assert!(
        first.contains(r#""id":"a_0""#) && first.contains("sessions log x"),
        "{first}"
    );
    let old = json!({"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "old_0", "content": "x"}]}]});
    assert!(reply_text(claude.reply(&old)).contains("tool_use"));
    let after = json!({"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "a_0", "content": "ok"}]}]});
    assert!(reply_text(claude.reply(&after)).contains(r#""text":"done""#));

    let codex = openai::Script::text("c", "done").exec("true");
    assert!(reply_text(codex.reply(&json!({"input": []}))).contains(r#""call_id":"c_0""#));
    let after =
        json!({"input": [{"type": "function_call_output", "call_id": "c_0", "output": "ok"}]});
    assert!(reply_text(codex.reply(&after)).contains(r#""text":"done""#));
    let compacted = json!({"input": [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": format!("{} …", openai::COMPACTED_HANDOFF)}]}]});
    assert!(reply_text(codex.reply(&compacted)).contains(r#""text":"done""#));

    let gem = gemini::Script::text("g", "done").shell("true");
    assert!(reply_text(gem.reply(&json!({"contents": []}))).contains("run_shell_command"));
    let after = json!({"contents": [{"role": "user", "parts": [
        {"functionResponse": {"id": "g_0", "name": "run_shell_command", "response": {}}}]}]});
    assert!(reply_text(gem.reply(&after)).contains(r#""text":"done""#));
}
