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
    let Some(world) = World::new(Client::Claude, "claude_session_start_context", script.responder())
    else {
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
