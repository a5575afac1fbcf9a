//! Talking to agents, end to end with fake agents (`sh -c` scripts): `wait` and its exit
//! codes, `send` (resume a finished run, queue for a running one, exactly once, after the
//! supervisor died too), `restart`, the turn hooks' waiting state, and notification targets
//! (a webhook received by a test server on 127.0.0.1).

use crate::agents_support;

use std::fs;
use std::io::Write;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};

use agents_support::{Repo, eventually};
use serde_json::Value;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Agents of the tests. `{conversation_id}` in `command` pre-assigns the id (as Claude's and
/// Gemini's templates do); `resume:` continues it, echoing the message back as the summary.
const AGENTS: &str = r#"  ok:
    command: [sh, -c, 'echo "SUMMARY: done $0"', "{conversation_id}"]
    resume: [sh, -c, 'echo "resumed $0"; echo "SUMMARY: got $1"', "{conversation_id}", "{prompt}"]
  bad:
    command: [sh, -c, 'echo "SUMMARY: broke"; exit 3', "{conversation_id}"]
    resume: [sh, -c, 'echo "SUMMARY: fixed after $1"', "{conversation_id}", "{prompt}"]
  gate:
    command: [sh, -c, 'i=0; while [ ! -f "$1" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; echo "SUMMARY: gate $0"', "{conversation_id}", "{task}"]
    resume: [sh, -c, 'echo "SUMMARY: got $1"', "{conversation_id}", "{prompt}"]
  plain:
    command: [sh, -c, 'echo "SUMMARY: plain"']
"#;

fn repo() -> Repo {
    let repo = Repo::new();
    repo.configure(AGENTS, "");
    repo
}

fn spawn(repo: &Repo, agent: &str, task: &str) -> String {
    let started = repo.spawn(&["--agent", agent, "--task", task]);
    started[0]["run_id"].as_str().unwrap().to_string()
}

fn target(repo: &Repo, sel: &str) -> String {
    format!("{}:{sel}", repo.stem)
}

fn records(repo: &Repo) -> Vec<Value> {
    repo.agents()
}

fn continuing(repo: &Repo, run: &str) -> Vec<Value> {
    records(repo)
        .into_iter()
        .filter(|r| r["resumes"] == run)
        .collect()
}

#[test]
fn wait_exit_codes() {
    let repo = repo();
    let gate = repo.root().join("open");
    let gate = gate.to_str().unwrap();
    let ok = spawn(&repo, "ok", "t");
    let bad = spawn(&repo, "bad", "t");
    let slow = spawn(&repo, "gate", gate);

    // One completed: 0, with its outcome.
    let out = repo.run(&["wait", &target(&repo, &ok)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("completed"), "{}", stdout(&out));
    // Ended means written back: the file has the outcome when wait returns.
    assert!(
        repo.text().contains("Agent ok completed"),
        "{}",
        repo.text()
    );
    // One failed: 1.
    let out = repo.run(&["wait", &target(&repo, &bad), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["status"], "failed");
    assert_eq!(v[0]["exit_code"], 3);
    // Still running when the timeout passes: 124, and --json says running.
    let out = repo.run(&[
        "wait",
        &target(&repo, &slow),
        "--timeout",
        "300ms",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["status"], "running");
    // --any returns with the one that ended (completed) while the other still runs.
    let out = repo.run(&[
        "wait",
        "--any",
        &target(&repo, &ok),
        &target(&repo, &slow),
        "--timeout",
        "60s",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // --all over a completed and a failed one: 1.
    let out = repo.run(&["wait", &target(&repo, &ok), &target(&repo, &bad)]);
    assert_eq!(out.status.code(), Some(1));
    // Let the slow one finish: waiting for the whole session then gives 0.
    fs::write(gate, "").unwrap();
    let out = repo.run(&["wait", &target(&repo, &slow), "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Cancelled: 1.
    let gate2 = repo.root().join("never");
    let c = spawn(&repo, "gate", gate2.to_str().unwrap());
    repo.wait_running(&c);
    repo.ok(&["kill", &target(&repo, &c), "--grace", "2s"]);
    let out = repo.run(&["wait", &target(&repo, &c), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["status"], "cancelled");
    // A target with no runs is a check failure that says so.
    let out = repo.run(&["wait", &target(&repo, "nobody")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no run of"), "{}", stderr(&out));
}

/// Kills a run's supervisor and agent with SIGKILL, as a crash or a reboot would.
fn crash(repo: &Repo, run: &str) {
    let rec = repo.wait_running(run);
    let sup = rec["supervisor_pid"].as_i64().unwrap();
    let pgid = rec["pgid"].as_i64().unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    eventually("the run's processes to die", || {
        !agents_support::alive(sup as u64) && agents_support::group_members(pgid).is_empty()
    });
}

#[test]
fn wait_reports_a_lost_run() {
    let repo = repo();
    let never = repo.root().join("never");
    let run = spawn(&repo, "gate", never.to_str().unwrap());
    crash(&repo, &run);
    let out = repo.run(&["wait", &target(&repo, &run), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["status"], "lost");
}

#[test]
fn send_resumes_a_finished_run_and_links_it() {
    let repo = repo();
    let first = spawn(&repo, "ok", "wire provider C");
    repo.ok(&["wait", &target(&repo, &first)]);
    let conv = repo.agent(&first)["conversation_id"].clone();
    let out = repo.ok(&[
        "send",
        &target(&repo, "ok"),
        "now the tests; use {task} literally",
        "--wait",
    ]);
    let text = stdout(&out);
    assert!(text.contains(&format!("continues run {first}")), "{text}");
    assert!(
        text.contains("got now the tests; use {task} literally"),
        "the message reaches the resumed agent as typed:\n{text}"
    );
    let next = continuing(&repo, &first);
    assert_eq!(next.len(), 1, "{next:#?}");
    assert_eq!(next[0]["conversation_id"], conv, "the same conversation");
    assert_eq!(next[0]["status"], "completed");
    let log = repo.log_of(&next[0]);
    assert!(
        log.contains(&format!("resumed {}", conv.as_str().unwrap())),
        "{log}"
    );
    // The session file links the new entry to the run it continues.
    let file = repo.text();
    assert!(
        file.contains(&format!("resumes: \"{first}\"")),
        "no resumes link in the entry:\n{file}"
    );
    assert!(file.contains(&format!("continues run {first}")), "{file}");
}

#[test]
fn send_explains_what_cannot_be_resumed() {
    let repo = repo();
    // No conversation id recorded, and not a client we know how to resume.
    let run = spawn(&repo, "plain", "t");
    repo.ok(&["wait", &target(&repo, &run)]);
    let out = repo.run(&["send", &target(&repo, &run), "hello"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot be resumed"), "{err}");
    assert!(err.contains("resume:"), "says what to add: {err}");
    // A run given its command after `--` (no config entry, no id) says why too.
    let started = repo.spawn(&["--agent", "adhoc", "--task", "t", "--", "true"]);
    let id = started[0]["run_id"].as_str().unwrap();
    repo.ok(&["wait", &target(&repo, id)]);
    let out = repo.run(&["send", &target(&repo, id), "hello"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot be resumed"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"));
    // An empty message is a usage error.
    let out = repo.run(&["send", &target(&repo, id), "  "]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn send_to_a_running_run_queues_and_delivers_once_when_it_ends() {
    let repo = repo();
    let gate = repo.root().join("open");
    let run = spawn(&repo, "gate", gate.to_str().unwrap());
    repo.wait_running(&run);
    let out = repo.ok(&["send", &target(&repo, &run), "first"]);
    assert!(stdout(&out).contains("queued"), "{}", stdout(&out));
    repo.ok(&["send", &target(&repo, &run), "second"]);
    assert!(continuing(&repo, &run).is_empty(), "nothing before it ends");
    fs::write(&gate, "").unwrap();
    // Several readers race the supervisor to settle it: one continuation, both messages.
    let children: Vec<_> = (0..4)
        .map(|_| {
            repo.cmd(&["agents", "--all", "--json"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        c.wait().unwrap();
    }
    repo.ok(&["wait", &target(&repo, &run)]);
    eventually("the continuation", || continuing(&repo, &run).len() == 1);
    let next = continuing(&repo, &run).remove(0);
    let id = next["run_id"].as_str().unwrap().to_string();
    repo.ok(&["wait", &target(&repo, &id)]);
    let next = repo.agent(&id);
    assert_eq!(next["summary"], "got first", "{next:#}");
    assert_eq!(next["task"], "first\n\nsecond");
    for _ in 0..3 {
        repo.ok(&["agents", "--all"]);
    }
    assert_eq!(continuing(&repo, &run).len(), 1, "delivered exactly once");
    assert!(
        !repo
            .root()
            .join(".agents/state/queue")
            .join(&repo.stem)
            .exists(),
        "the queue is cleaned up"
    );
}

#[test]
fn a_queued_message_survives_the_death_of_its_supervisor() {
    let repo = repo();
    let never = repo.root().join("never");
    let run = spawn(&repo, "gate", never.to_str().unwrap());
    repo.wait_running(&run);
    repo.ok(&["send", &target(&repo, &run), "after the crash"]);
    crash(&repo, &run);
    // Whoever reconciles the lost run delivers the message.
    repo.ok(&["agents"]);
    let next = continuing(&repo, &run);
    assert_eq!(next.len(), 1, "{next:#?}");
    let id = next[0]["run_id"].as_str().unwrap().to_string();
    let out = repo.ok(&["wait", &target(&repo, &id), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["summary"], "got after the crash");
    assert_eq!(repo.agent(&run)["reason"], "lost");
}

#[test]
fn send_wait_on_a_running_run_prints_the_reply() {
    let repo = repo();
    let gate = repo.root().join("open");
    let run = spawn(&repo, "gate", gate.to_str().unwrap());
    repo.wait_running(&run);
    let child = repo
        .cmd(&[
            "send",
            &target(&repo, &run),
            "ping",
            "--wait",
            "--timeout",
            "120s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the message to be queued", || {
        repo.root()
            .join(".agents/state/queue")
            .join(&repo.stem)
            .exists()
    });
    fs::write(&gate, "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("got ping"), "{}", stdout(&out));
}

#[test]
fn restart_reruns_a_failed_run_resuming_its_conversation() {
    let repo = repo();
    let bad = spawn(&repo, "bad", "fix the build");
    repo.run(&["wait", &target(&repo, &bad)]);
    let out = repo.ok(&["restart", &target(&repo, &bad), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["restarts"], bad.as_str());
    assert_eq!(v["resumed"], true);
    let id = v["run"]["run_id"].as_str().unwrap().to_string();
    assert_ne!(id, bad);
    let out = repo.ok(&["wait", &target(&repo, &id), "--json"]);
    let w: Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary = w[0]["summary"].as_str().unwrap();
    assert!(
        summary.contains("fix the build"),
        "told the task again: {summary}"
    );
    assert!(summary.contains("failed"), "told why: {summary}");
    let rec = repo.agent(&id);
    assert_eq!(rec["task"], "fix the build");
    assert_eq!(rec["resumes"], bad.as_str());
    // A completed run is continued with send, not restarted; a running one is refused.
    let out = repo.run(&["restart", &target(&repo, &id)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("sessions send"), "{}", stderr(&out));
    let never = repo.root().join("never");
    let running = spawn(&repo, "gate", never.to_str().unwrap());
    let out = repo.run(&["restart", &target(&repo, &running)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("sessions kill"), "{}", stderr(&out));
    repo.ok(&["kill", &target(&repo, &running), "--grace", "2s"]);
}

#[test]
fn restart_without_a_conversation_starts_afresh() {
    let repo = repo();
    repo.configure(
        "  flaky:\n    command: [sh, -c, 'if [ -f ran ]; then echo \"SUMMARY: second try\"; else touch ran; exit 1; fi']\n",
        "",
    );
    let run = spawn(&repo, "flaky", "try twice");
    repo.run(&["wait", &target(&repo, &run)]);
    let out = repo.ok(&["restart", &target(&repo, &run)]);
    assert!(stdout(&out).contains("afresh"), "{}", stdout(&out));
    let agents = records(&repo);
    let second = agents.iter().find(|r| r["run_id"] != run.as_str()).unwrap();
    let id = second["run_id"].as_str().unwrap();
    let out = repo.ok(&["wait", &target(&repo, id), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["summary"], "second try");
}

// ---------------------------------------------------------------------------------------------
// The waiting state, from the turn hooks.

/// A recorded Claude TUI payload with its conversation and directory replaced.
fn payload(name: &str, conv: &str, repo: &Repo) -> String {
    let path = format!("{}/tests/fixtures/hooks/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    v["session_id"] = conv.into();
    v["cwd"] = repo.root().display().to_string().into();
    v.to_string()
}

fn hook(repo: &Repo, name: &str, conv: &str) -> Output {
    let mut child = repo
        .cmd(&["hook", "turn"])
        .env("SESSIONS_PROCESS_TREE", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload(name, conv, repo).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "turn hooks print nothing");
    out
}

fn turn(repo: &Repo, run: &str) -> Value {
    repo.agent(run)["turn"].clone()
}

#[test]
fn turn_hooks_flip_a_run_between_working_and_waiting() {
    let repo = repo();
    let never = repo.root().join("never");
    let run = spawn(&repo, "gate", never.to_str().unwrap());
    repo.wait_running(&run);
    let conv = repo.agent(&run)["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = |repo: &Repo| {
        let out = repo.ok(&["agents", &repo.stem]);
        stdout(&out)
    };
    hook(&repo, "claude-tui-user-prompt-submit.json", &conv);
    assert_eq!(turn(&repo, &run)["state"], "working");
    hook(&repo, "claude-tui-permission-request-Bash.json", &conv);
    let t = turn(&repo, &run);
    assert_eq!(t["state"], "waiting");
    assert_eq!(t["why"], "permission");
    assert_eq!(t["tool"], "Bash");
    assert!(status(&repo).contains("waiting (permission: Bash)"));
    let detail = stdout(&repo.ok(&["status", &repo.stem]));
    assert!(detail.contains("waiting (permission: Bash)"), "{detail}");
    let summary = stdout(&repo.ok(&["status"]));
    assert!(summary.contains("1 waiting for you"), "{summary}");
    let list = stdout(&repo.ok(&["list"]));
    assert!(list.contains("(1 waiting)"), "{list}");
    // The later Notification names no tool: the tool stays known.
    hook(
        &repo,
        "claude-tui-notification-permission_prompt.json",
        &conv,
    );
    assert_eq!(turn(&repo, &run)["tool"], "Bash");
    hook(&repo, "claude-tui-post-tool-use-Bash.json", &conv);
    assert_eq!(turn(&repo, &run)["state"], "working");
    // A subagent's hooks never flip the parent.
    hook(
        &repo,
        "claude-tui-permission-request-Bash-in-subagent.json",
        &conv,
    );
    assert_eq!(turn(&repo, &run)["state"], "working");
    hook(&repo, "claude-tui-stop.json", &conv);
    let t = turn(&repo, &run);
    assert_eq!(t["state"], "waiting");
    assert_eq!(t["why"], "input");
    hook(&repo, "claude-tui-notification-idle_prompt.json", &conv);
    assert_eq!(turn(&repo, &run)["why"], "idle");
    hook(&repo, "claude-tui-user-prompt-submit.json", &conv);
    assert_eq!(turn(&repo, &run)["state"], "working");
    // Nothing of it reached the session file.
    assert!(!repo.text().contains("waiting"), "{}", repo.text());
    // Unbound conversations and garbage are ignored quietly.
    hook(&repo, "claude-tui-stop.json", "someone-else");
    repo.ok(&["kill", &target(&repo, &run), "--grace", "2s"]);
    hook(&repo, "claude-tui-stop.json", &conv);
    assert!(
        repo.agent(&run)["turn"].is_null(),
        "an ended run shows no turn"
    );
}

// ---------------------------------------------------------------------------------------------
// Notifications.

/// A webhook receiver on 127.0.0.1: answers `status` to every request and keeps the bodies.
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hook {
    fn start(status: u16) -> Hook {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}/hook", server.server_addr().to_ip().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (s, b) = (server.clone(), bodies.clone());
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                if let Ok(v) = serde_json::from_str(&body) {
                    b.lock().unwrap().push(v);
                }
                let _ = req.respond(tiny_http::Response::empty(status));
            }
        });
        Hook {
            url,
            bodies,
            server,
            thread: Some(thread),
        }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_webhook_gets_each_wanted_event_once() {
    let server = Hook::start(200);
    let repo = repo();
    repo.configure(
        AGENTS,
        &format!(
            "notify:\n  - webhook: {}\n    events: [finished, waiting]\n    timeout: 5s\n",
            server.url
        ),
    );
    let ok = spawn(&repo, "ok", "t");
    let bad = spawn(&repo, "bad", "t");
    repo.run(&["wait", &target(&repo, &ok), &target(&repo, &bad)]);
    eventually("the finished event", || {
        server.bodies().iter().any(|b| b["run_id"] == ok.as_str())
    });
    let never = repo.root().join("never");
    let gated = spawn(&repo, "gate", never.to_str().unwrap());
    repo.wait_running(&gated);
    let conv = repo.agent(&gated)["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    hook(&repo, "claude-tui-permission-request-Bash.json", &conv);
    // Seen again by a second hook: still one event for this spell of waiting.
    hook(
        &repo,
        "claude-tui-notification-permission_prompt.json",
        &conv,
    );
    eventually("the waiting event", || {
        server.bodies().iter().any(|b| b["kind"] == "waiting")
    });
    // More readers, more hooks of the same spell: nothing more arrives.
    for _ in 0..3 {
        repo.ok(&["agents", "--all"]);
    }
    repo.ok(&["kill", &target(&repo, &gated), "--grace", "2s"]);
    repo.run(&["wait", &target(&repo, &gated)]);
    let all = server.bodies();
    let finished: Vec<_> = all.iter().filter(|b| b["run_id"] == ok.as_str()).collect();
    assert_eq!(finished.len(), 1, "{all:#?}");
    assert_eq!(finished[0]["event"], "agent-finished");
    assert_eq!(finished[0]["kind"], "finished");
    assert_eq!(
        finished[0]["summary"],
        format!(
            "done {}",
            repo.agent(&ok)["conversation_id"].as_str().unwrap()
        )
    );
    assert!(
        !all.iter().any(|b| b["run_id"] == bad.as_str()),
        "failed is not among the events wanted: {all:#?}"
    );
    let waiting: Vec<_> = all.iter().filter(|b| b["kind"] == "waiting").collect();
    assert_eq!(waiting.len(), 1, "{all:#?}");
    assert_eq!(waiting[0]["waiting"]["why"], "permission");
    assert_eq!(waiting[0]["waiting"]["tool"], "Bash");
    assert!(!all.iter().any(|b| b["kind"] == "cancelled"), "{all:#?}");
}

#[test]
fn a_failing_target_is_reported_in_agents_and_blocks_nothing() {
    let server = Hook::start(500);
    let repo = repo();
    repo.configure(
        AGENTS,
        &format!(
            "notify:\n  - webhook: {}\n    retries: 1\n    timeout: 2s\n  - command: [sh, -c, 'cat > notified.json']\n    events: [failed]\n",
            server.url
        ),
    );
    let bad = spawn(&repo, "bad", "t");
    let out = repo.run(&["wait", &target(&repo, &bad)]);
    assert_eq!(out.status.code(), Some(1));
    // The command target got the event anyway.
    let notified = repo.root().join("notified.json");
    eventually("the command's event", || {
        fs::read_to_string(&notified).is_ok_and(|t| t.ends_with('\n'))
    });
    let v: Value = serde_json::from_str(&fs::read_to_string(&notified).unwrap()).unwrap();
    assert_eq!(v["kind"], "failed");
    eventually("the failure in the record", || {
        repo.agent(&bad)["notify_failures"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let failures = repo.agent(&bad)["notify_failures"].clone();
    let f = failures[0].as_str().unwrap();
    assert!(f.contains("webhook") && f.contains("500"), "{f}");
    assert_eq!(server.bodies().len(), 2, "one try and one retry");
    let out = repo.ok(&["agents", &repo.stem]);
    assert!(
        stdout(&out).contains("notification failed"),
        "{}",
        stdout(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// Interactive (tmux) runs.

fn has_tmux() -> bool {
    let ok = std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: tmux is not installed; skipping");
    }
    ok
}

const TMUX_AGENTS: &str = r#"  chat:
    command: [sh, -c, 'echo "> ready"; read line; echo "SUMMARY: got $line"', "{conversation_id}"]
    runner: tmux
"#;

#[test]
fn send_types_into_a_waiting_tmux_pane() {
    if !has_tmux() {
        return;
    }
    let repo = Repo::new();
    repo.configure(TMUX_AGENTS, "");
    let run = spawn(&repo, "chat", "talk");
    repo.wait_running(&run);
    let conv = repo.agent(&run)["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    hook(&repo, "claude-tui-stop.json", &conv);
    let out = repo.ok(&["send", &target(&repo, &run), "hello; $(not run) `x`"]);
    assert!(
        stdout(&out).contains("typed into the pane"),
        "{}",
        stdout(&out)
    );
    let out = repo.ok(&["wait", &target(&repo, &run), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v[0]["summary"], "got hello; $(not run) `x`",
        "typed literally, then Enter"
    );
    assert!(
        continuing(&repo, &run).is_empty(),
        "no new run for a typed message"
    );
}

/// Esc fires no hook: a run that hooks last said was working, silent for a while, is checked
/// against its pane, which shows a prompt.
#[test]
fn a_silent_working_state_is_corrected_from_the_pane() {
    if !has_tmux() {
        return;
    }
    let repo = Repo::new();
    repo.configure(TMUX_AGENTS, "");
    let run = spawn(&repo, "chat", "talk");
    repo.wait_running(&run);
    let conv = repo.agent(&run)["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    hook(&repo, "claude-tui-user-prompt-submit.json", &conv);
    assert_eq!(turn(&repo, &run)["state"], "working", "fresh: not checked");
    // Age the last hook (as if nothing came for a minute).
    let path = repo.record_path(&run);
    let mut rec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    rec["turn"]["seen"] = "2020-01-01T00:00:00.000Z".into();
    fs::write(&path, rec.to_string()).unwrap();
    let t = turn(&repo, &run);
    assert_eq!(t["state"], "waiting", "{t:#}");
    assert_eq!(t["why"], "input");
    assert_eq!(t["by"], "pane");
    repo.ok(&["kill", &target(&repo, &run), "--grace", "2s"]);
}

#[test]
fn a_message_queued_for_a_busy_tmux_run_is_typed_when_it_next_waits() {
    if !has_tmux() {
        return;
    }
    let repo = Repo::new();
    repo.configure(TMUX_AGENTS, "");
    let run = spawn(&repo, "chat", "talk");
    repo.wait_running(&run);
    let conv = repo.agent(&run)["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    hook(&repo, "claude-tui-user-prompt-submit.json", &conv);
    let out = repo.ok(&["send", &target(&repo, &run), "later please"]);
    assert!(stdout(&out).contains("queued"), "{}", stdout(&out));
    // A permission dialog is no place for it.
    hook(&repo, "claude-tui-permission-request-Bash.json", &conv);
    assert!(repo.agent(&run)["status"] == "running");
    hook(&repo, "claude-tui-post-tool-use-Bash.json", &conv);
    hook(&repo, "claude-tui-stop.json", &conv);
    let out = repo.ok(&["wait", &target(&repo, &run), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["summary"], "got later please");
    assert!(continuing(&repo, &run).is_empty());
}

/// `watch --json` says when a run starts waiting for the person (and the live table rings the
/// bell for it).
#[test]
fn watch_reports_a_run_that_starts_waiting() {
    use std::io::{BufRead, BufReader};
    let repo = repo();
    let never = repo.root().join("never");
    let run = spawn(&repo, "gate", never.to_str().unwrap());
    repo.wait_running(&run);
    let conv = repo.agent(&run)["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut watch = repo
        .cmd(&["watch", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let next = |pred: &dyn Fn(&str) -> bool| loop {
        let l = rx
            .recv_timeout(agents_support::PATIENCE)
            .expect("a watch event in time");
        if pred(&l) {
            break l;
        }
    };
    next(&|l| l.contains("\"watching\""));
    hook(&repo, "claude-tui-permission-request-Bash.json", &conv);
    let e = next(&|l| l.contains("agent-waiting"));
    let v: Value = serde_json::from_str(&e).unwrap();
    assert_eq!(v["run_id"], run.as_str(), "{e}");
    assert_eq!(v["waiting"], "waiting (permission: Bash)", "{e}");
    let _ = watch.kill();
    let _ = watch.wait();
    repo.ok(&["kill", &repo.stem, "--grace", "1s"]);
}
