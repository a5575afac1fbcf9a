//! Conformance suite: the real Claude Code, Codex CLI and Gemini CLI, run headless against mock
//! model servers on 127.0.0.1 with a scratch HOME, and what they actually send. Each test
//! skips (with a note on stderr) when its client is not installed; `.ci/install-clients`
//! installs the pinned versions. Client quirks found on the way are in `docs/clients.md`.

mod real_clients_support;

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
    let Some(world) = World::new(
        Client::Claude,
        "claude_session_start_context",
        script.responder(),
    ) else {
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
        "claude_resume_reinjects",
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
        "claude_compact_reinjects",
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
#[ignore = "needs commands without SESSION (helper binding)"]
fn claude_tool_log_without_session_lands_in_the_bound_file() {
    let Some(world) = World::new(
        Client::Claude,
        "claude_tool_log_without_session",
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

/// A subagent's Bash has the parent's environment: its `sessions new "sub work"` must not
/// rebind the parent, so the parent's SessionEnd still logs into the parent's file.
#[test]
#[ignore = "needs subagent binding rules (helper binding)"]
fn claude_subagent_cannot_steal_the_binding() {
    let Some(world) = World::new(
        Client::Claude,
        "claude_subagent_cannot_steal_the_binding",
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
            && !system.contains(&format!("works in the session \"sub work\"")),
        "the parent is no longer bound to its own session:\n{system}"
    );
}

/// Claude fires PreCompact before it checks whether there is anything to compact; a refused
/// compaction ("Not enough messages to compact.") must not be logged as one.
#[test]
#[ignore = "needs truthful compaction logs (helper hooks)"]
fn claude_refused_compaction_is_not_logged() {
    let Some(world) = World::new(
        Client::Claude,
        "claude_refused_compaction_is_not_logged",
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

/// The `spawned_agents` entry of `session` for `agent` (the frontmatter, via `show --json`
/// is not a thing: read it from `agents --json`).
fn agent_record(world: &World, session: &str, agent: &str) -> Value {
    let out = world.sessions(&["agents", session, "--json"]).ok();
    let all: Value = serde_json::from_str(&out.stdout).expect("agents --json");
    all.as_array()
        .and_then(|a| a.iter().rev().find(|r| r["agent"] == agent).cloned())
        .unwrap_or_else(|| panic!("no {agent} run in agents --json:\n{}", out.stdout))
}

/// Spawns `agent` on `session` with the default template `init` wrote and waits for it.
fn spawn_and_wait(world: &World, session: &str, agent: &str, task: &str) -> Value {
    world
        .sessions(&["spawn", session, "--agent", agent, "--task", task])
        .ok();
    let wait = world.sessions(&["wait", session, "--timeout", "140s"]);
    let record = agent_record(world, session, agent);
    assert_eq!(
        wait.code,
        0,
        "the spawned {agent} run did not complete\n{wait}\nrecord: {record:#}\nlog:\n{}\nrequests:\n{}",
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
#[ignore = "needs default templates and output readers (helper agent-output), spawned agents born bound (helper binding)"]
fn claude_spawned_run_records_id_summary_cost_and_resumes_bound() {
    let Some(world) = World::new(
        Client::Claude,
        "claude_spawned_run",
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
