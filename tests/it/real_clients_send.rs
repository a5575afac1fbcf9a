//! `sessions send` against the real Claude Code, Codex CLI and Gemini CLI (mock model servers
//! on 127.0.0.1, scratch HOME; see `tests/real_clients_support/`): a finished spawned run is
//! continued by a new run that resumes the recorded conversation with the built-in `resume:`
//! argv, and the mock model sees the previous turn's context in the resumed request. Each test
//! skips with a note when its client is not installed (`.ci/install-clients`).

use crate::real_clients_support;

use serde_json::Value;

use real_clients_support::{Client, World, anthropic, gemini, mock::Responder, openai};

const FIRST: &str = "Provider C is wired behind MARKER-FIRST-ANSWER.\nSUMMARY: provider C wired";
const FOLLOW_UP: &str = "Now add the retry test MARKER-FOLLOW-UP";

fn stem(path: &str) -> String {
    path.rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".md")
        .to_string()
}

/// Every request body the mock got, as one string.
fn requests_text(world: &World) -> String {
    world
        .server
        .requests()
        .iter()
        .filter_map(|r| r.json())
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `sessions ARGS` that may wait for a client run (`wait`, `send --wait`): bounded by the
/// clients' deadline rather than that of a quick command.
fn sessions_long(world: &World, args: &[&str]) -> real_clients_support::Run {
    let mut cmd = world.command(&world.sessions_bin());
    cmd.args(args);
    let out = world.repo.parent().unwrap().join("out-long");
    real_clients_support::run_bounded(
        cmd,
        &out,
        "sessions",
        real_clients_support::CLIENT_TIMEOUT + std::time::Duration::from_secs(30),
    )
}

fn send_resumes(client: Client, first: Responder, second: Responder) {
    let Some(world) = World::new(client, first) else {
        return;
    };
    let agent = client.name();
    let path = world.new_session("weather fallback");
    let session = stem(&path);
    world
        .sessions(&[
            "spawn",
            &session,
            "--agent",
            agent,
            "--task",
            "wire provider C",
        ])
        .ok();
    let out = sessions_long(&world, &["wait", &session, "--timeout", "150s", "--json"]);
    let waited: Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    assert_eq!(
        waited[0]["status"],
        "completed",
        "the first {agent} run did not complete\n{out}\nrequests:\n{}",
        world.server.summary()
    );
    let first_run = waited[0]["run_id"].as_str().unwrap().to_string();
    assert!(
        requests_text(&world).contains("wire provider C"),
        "the first run's prompt reached the mock"
    );

    world.server.clear();
    world.server.set_responder(second);
    let out = sessions_long(
        &world,
        &[
            "send",
            &format!("{session}:{agent}"),
            FOLLOW_UP,
            "--wait",
            "--timeout",
            "150s",
            "--json",
        ],
    );
    let sent: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "send --json: {e}\n{out}\nrequests:\n{}",
            world.server.summary()
        )
    });
    assert_eq!(sent["action"], "resumed", "{sent:#}");
    assert_eq!(
        sent["outcome"]["status"],
        "completed",
        "the resumed {agent} run did not complete: {sent:#}\nlog:\n{}\nrequests:\n{}",
        sent["run"]["log"]
            .as_str()
            .map(|l| world.read(l))
            .unwrap_or_default(),
        world.server.summary()
    );
    assert_eq!(sent["outcome"]["summary"], "retry test added", "{sent:#}");
    assert_eq!(sent["run"]["resumes"], first_run.as_str());

    // What reached the model: the follow-up, with the previous turn's answer in context.
    let seen = requests_text(&world);
    assert!(
        seen.contains("MARKER-FOLLOW-UP"),
        "the message reached the mock:\n{seen}"
    );
    assert!(
        seen.contains("MARKER-FIRST-ANSWER"),
        "the resumed request carries the previous turn's answer:\n{seen}"
    );

    // One conversation, two runs, linked in the file.
    let out = world.sessions(&["agents", &session, "--json"]).ok();
    let runs: Value = serde_json::from_str(&out.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(runs[0]["conversation_id"], runs[1]["conversation_id"]);
    assert_eq!(runs[1]["resumes"], first_run.as_str());
    let text = world.read(&path);
    assert!(
        text.contains(&format!("resumes: \"{first_run}\"")),
        "no resumes link in the file:\n{text}"
    );
}

#[test]
fn claude_send_resumes_the_conversation() {
    send_resumes(
        Client::Claude,
        anthropic::Script::text("a", FIRST).responder(),
        anthropic::Script::text("b", "Done.\nSUMMARY: retry test added").responder(),
    );
}

#[test]
fn codex_send_resumes_the_thread() {
    send_resumes(
        Client::Codex,
        openai::Script::text("a", FIRST).responder(),
        openai::Script::text("b", "Done.\nSUMMARY: retry test added").responder(),
    );
}

#[test]
fn gemini_send_resumes_the_session() {
    send_resumes(
        Client::Gemini,
        gemini::Script::text("a", FIRST).responder(),
        gemini::Script::text("b", "Done.\nSUMMARY: retry test added").responder(),
    );
}
