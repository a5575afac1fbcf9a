//! What each agent's own output says, end to end: fake `claude`, `codex` and `gemini`
//! executables (first on PATH, run by the templates `init` writes) check the argv they get
//! and print output recorded from the real clients (`tests/fixtures/agent-output/`), with the
//! conversation id they were given. The tests read the outcome back through `agents --json`,
//! the session file's `spawned_agents` entry, the conversation binding and `status`.

use crate::agents_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use agents_support::{Repo, eventually};
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/agent-output");

/// The ids in the recorded output, replaced by the ones of the run under test.
const CLAUDE_ID: &str = "46ea8f5d-aafc-4dae-ae5e-e2ab7e2c7db4";
const GEMINI_ID: &str = "db1f6777-99a0-4645-8e78-c001bc66a594";
const CODEX_THREAD: &str = "01a2337d-864d-74d2-ad8e-b45eee7d125a";

/// Checks the argv like the real client would (exit 2 with a message otherwise), then prints
/// the recorded stderr and stdout of `$FIXTURE`, with the recorded id replaced by the one given
/// after `--session-id`.
const PREASSIGNED_FAKE: &str = r#"
id=""; prompt=""; fmt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --session-id) id="$2"; shift ;;
    --output-format) fmt="$2"; shift ;;
    --prompt=*) prompt="${1#--prompt=}" ;;
    --) prompt="$2"; shift ;;
  esac
  shift
done
case "$id" in
  ????????-????-4???-????-????????????) ;;
  *) echo "error: --session-id must be a UUID, got '$id'" >&2; exit 2 ;;
esac
[ "$fmt" = stream-json ] || { echo "error: expected --output-format stream-json" >&2; exit 2; }
case "$prompt" in
  *"Your task: "*) ;;
  *) echo "error: no prompt naming the task: '$prompt'" >&2; exit 2 ;;
esac
cat "$FIXTURE.stderr" >&2 2>/dev/null
sed "s/$RECORDED/$id/g" "$FIXTURE.stdout"
"#;

struct Env {
    repo: Repo,
    bin: tempfile::TempDir,
}

impl Env {
    /// `init`, one session, and the fake clients first on PATH.
    fn new() -> Env {
        let env = Env {
            repo: Repo::new(),
            bin: tempfile::tempdir().unwrap(),
        };
        env.fake("claude", "claude-ok", CLAUDE_ID, PREASSIGNED_FAKE);
        env.fake("gemini", "gemini-ok", GEMINI_ID, PREASSIGNED_FAKE);
        env
    }

    fn fake(&self, name: &str, fixture: &str, recorded: &str, body: &str) -> PathBuf {
        let path = self.bin.path().join(name);
        fs::write(
            &path,
            format!("#!/bin/sh\nFIXTURE='{FIXTURES}/{fixture}'\nRECORDED='{recorded}'\n{body}"),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A `sessions` command with the fakes on PATH (sealed from the agents' variables by `Repo`).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.repo.cmd(args);
        let path = std::env::var("PATH").unwrap_or_default();
        c.env("PATH", format!("{}:{path}", self.bin.path().display()));
        c
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "sessions {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_slice(&self.ok(args).stdout).unwrap()
    }

    /// `spawn SESSION --agent NAME --task TASK --json` → the started run.
    fn spawn(&self, agent: &str, task: &str) -> Value {
        let stem = self.repo.stem.clone();
        let v = self.json(&["spawn", &stem, "--agent", agent, "--task", task, "--json"]);
        v[0].clone()
    }

    fn run(&self, run_id: &str) -> Value {
        let all = self.json(&["agents", "--all", "--json"]);
        all.as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == run_id)
            .cloned()
            .unwrap_or_else(|| panic!("run {run_id} not listed: {all:#}"))
    }

    /// Polls (bounded) until the run has ended, and returns it.
    fn finished(&self, run_id: &str) -> Value {
        eventually("the run to end", || self.run(run_id)["status"] != "running");
        let r = self.run(run_id);
        eventually("the outcome in the session file", || {
            self.repo.text().contains(&format!(
                "Agent {} {}",
                r["agent"].as_str().unwrap(),
                r["status"].as_str().unwrap()
            ))
        });
        r
    }

    /// The binding file of `conversation`, if any.
    fn binding(&self, conversation: &str) -> Option<Value> {
        let dir = self.repo.root().join(".agents/state/bindings");
        fs::read_dir(dir).ok()?.flatten().find_map(|e| {
            let v: Value = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
            (v["conversation"] == conversation).then_some(v)
        })
    }

    fn session_rel(&self) -> String {
        self.repo
            .path
            .strip_prefix(self.repo.root())
            .unwrap()
            .display()
            .to_string()
    }
}

/// The lines of the session file's entry for `run_id` (from `- agent:` to the next entry).
fn entry<'a>(text: &'a str, run_id: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(&format!("run_id: \"{run_id}\"")))
        .unwrap_or_else(|| panic!("no entry for {run_id}:\n{text}"));
    let start = (0..=at)
        .rev()
        .find(|&i| lines[i].trim_start().starts_with("- "))
        .unwrap();
    let end = (at + 1..lines.len())
        .find(|&i| lines[i].trim_start().starts_with("- ") || !lines[i].starts_with("      "))
        .unwrap_or(lines.len());
    lines[start..end].to_vec()
}

#[test]
fn claude_run_after_init_records_summary_cost_tokens_turns_and_its_own_id() {
    let env = Env::new();
    let started = env.spawn("claude", "Fix the parser");
    let id = started["run_id"].as_str().unwrap();
    let conversation = started["conversation_id"].as_str().unwrap().to_string();
    assert_eq!(conversation.len(), 36, "{started:#}");

    let done = env.finished(id);
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["summary"], "fixed the parser off-by-one");
    assert_eq!(done["conversation_id"], conversation.as_str());
    assert_eq!(done["cost_usd"], 0.01514);
    assert_eq!(done["tokens"], json!({"input": 2468, "output": 112}));
    assert_eq!(done["turns"], 1);

    let text = env.repo.text();
    let e = entry(&text, id).join("\n");
    assert!(
        e.contains(&format!("conversation_id: \"{conversation}\"")),
        "{e}"
    );
    assert!(e.contains("cost_usd: 0.01514"), "{e}");
    assert!(e.contains("tokens: {input: 2468, output: 112}"), "{e}");
    assert!(e.contains("turns: 1"), "{e}");
    assert!(
        e.contains("summary: \"fixed the parser off-by-one\""),
        "{e}"
    );
    assert!(
        text.contains(
            "Agent claude completed (exit 0; 1 turn, 2468 in / 112 out tokens, $0.0151): fixed the parser off-by-one"
        ),
        "{text}"
    );

    // Born bound: the conversation the spawn pre-assigned points at the session and the run.
    let b = env
        .binding(&conversation)
        .expect("the spawned conversation is bound");
    assert_eq!(b["session"], env.session_rel().as_str());
    assert_eq!(
        b["run"],
        json!({"agent": "claude", "run_id": id, "task": "Fix the parser"})
    );
}

#[test]
fn codex_thread_id_is_recorded_and_bound_while_the_run_is_going() {
    let env = Env::new();
    // Prints `thread.started` at once, then waits for the test before the rest.
    let go = env.repo.root().join("go");
    env.fake(
        "codex",
        "codex-ok",
        CODEX_THREAD,
        &format!(
            r#"[ "$1 $2" = "exec --json" ] || {{ echo "error: expected exec --json" >&2; exit 2; }}
cat "$FIXTURE.stderr" >&2
head -n 1 "$FIXTURE.stdout"
i=0; while [ ! -e '{go}' ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
tail -n +2 "$FIXTURE.stdout"
"#,
            go = go.display()
        ),
    );
    let started = env.spawn("codex", "Fix the parser");
    let id = started["run_id"].as_str().unwrap();
    // Codex picks its own id: nothing made up at spawn.
    let text = env.repo.text();
    assert!(
        started["conversation_id"].is_null() || started["conversation_id"] == CODEX_THREAD,
        "{started:#}"
    );
    assert!(
        !entry(&text, id).join("\n").contains("conversation_id: \"") || text.contains(CODEX_THREAD),
        "{text}"
    );

    eventually("the thread id in the run record", || {
        env.run(id)["conversation_id"] == CODEX_THREAD
    });
    assert_eq!(env.run(id)["status"], "running", "still going");
    eventually("the thread id in the session file", || {
        env.repo
            .text()
            .contains(&format!("conversation_id: \"{CODEX_THREAD}\""))
    });
    eventually("the thread's binding", || {
        env.binding(CODEX_THREAD).is_some()
    });
    let b = env.binding(CODEX_THREAD).unwrap();
    assert_eq!(b["session"], env.session_rel().as_str());
    assert_eq!(b["run"]["run_id"], id);
    assert_eq!(env.run(id)["status"], "running", "bound before the end");

    fs::write(&go, "").unwrap();
    let done = env.finished(id);
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["summary"], "fixed the parser off-by-one");
    assert_eq!(done["tokens"], json!({"input": 2345, "output": 67}));
    assert_eq!(done["turns"], 1);
    assert_eq!(done["cost_usd"], Value::Null, "Codex reports no cost");
    let e = entry(&env.repo.text(), id).join("\n");
    assert!(e.contains("tokens: {input: 2345, output: 67}"), "{e}");
    assert!(!e.contains("cost_usd"), "{e}");
    assert_eq!(
        e.matches("conversation_id:").count(),
        1,
        "one id, never a made-up one: {e}"
    );
}

#[test]
fn gemini_answer_comes_from_its_message_events_and_its_id_from_session_id() {
    let env = Env::new();
    let started = env.spawn("gemini", "Fix the parser");
    let id = started["run_id"].as_str().unwrap();
    let conversation = started["conversation_id"].as_str().unwrap().to_string();
    let done = env.finished(id);
    assert_eq!(done["status"], "completed", "{done:#}");
    // Not the terminal-colour warning Gemini prints on stderr.
    assert_eq!(done["summary"], "fixed the parser off-by-one");
    assert_eq!(done["conversation_id"], conversation.as_str());
    assert_eq!(done["tokens"], json!({"input": 3466, "output": 83}));
    assert_eq!(done["turns"], Value::Null);
    assert!(env.binding(&conversation).is_some());
}

#[test]
fn failed_runs_say_why_in_the_agents_own_words() {
    let env = Env::new();
    env.fake(
        "claude",
        "claude-error",
        "48a1e775-045b-422c-b0f1-53b8da58a8a4",
        &format!("{PREASSIGNED_FAKE}exit 1\n"),
    );
    env.fake(
        "codex",
        "codex-error",
        CODEX_THREAD,
        "cat \"$FIXTURE.stderr\" >&2; cat \"$FIXTURE.stdout\"; exit 1\n",
    );
    env.fake(
        "gemini",
        "gemini-error",
        "3cc37eb0-8d18-4ccb-bf9a-b9a4e0f2af14",
        &format!("{PREASSIGNED_FAKE}exit 144\n"),
    );
    let runs: Vec<String> = ["claude", "codex", "gemini"]
        .iter()
        .map(|a| {
            env.spawn(a, "Fix the parser")["run_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let claude = env.finished(&runs[0]);
    assert_eq!(claude["status"], "failed");
    assert!(
        claude["summary"]
            .as_str()
            .unwrap()
            .starts_with("Prompt is too long"),
        "{claude:#}"
    );
    let codex = env.finished(&runs[1]);
    assert_eq!(codex["summary"], "prompt is too long", "{codex:#}");
    let gemini = env.finished(&runs[2]);
    assert_eq!(gemini["summary"], "prompt is too long", "{gemini:#}");
    assert_eq!(gemini["exit_code"], 144);
}

#[test]
fn status_adds_up_the_sessions_agents() {
    let env = Env::new();
    let a = env.spawn("claude", "one")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = env.spawn("gemini", "two")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    env.finished(&a);
    env.finished(&b);
    let stem = env.repo.stem.clone();
    let detail = env.json(&["status", &stem, "--json"]);
    assert_eq!(
        detail["agent_totals"],
        json!({"runs": 2, "cost_usd": 0.01514, "tokens": {"input": 2468 + 3466, "output": 112 + 83}, "turns": 1}),
        "{detail:#}"
    );
    let agents = detail["spawned_agents"].as_array().unwrap();
    assert_eq!(agents[0]["cost_usd"], 0.01514);
    assert_eq!(agents[1]["tokens"], json!({"input": 3466, "output": 83}));
    assert_eq!(agents[1]["run_id"], b.as_str());
    let text = String::from_utf8(env.ok(&["status", &stem]).stdout).unwrap();
    assert!(
        text.contains("Agents (2): 1 turn, 5934 in / 195 out tokens, $0.0151 in all"),
        "{text}"
    );
    assert!(text.contains("3466 in / 83 out tokens"), "{text}");
}

#[test]
fn records_written_before_these_fields_still_read() {
    let env = Env::new();
    let id = env.spawn("claude", "old")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    env.finished(&id);
    // The supervisor's last save is done once the record says it was written back.
    eventually("the supervisor's last save", || {
        env.repo.record(&id)["written_back"] == true
    });
    let path = env.repo.record_path(&id);
    let mut rec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for k in ["cost_usd", "tokens", "turns", "conversation_id"] {
        rec.as_object_mut().unwrap().remove(k);
    }
    fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let old = env.run(&id);
    assert_eq!(old["status"], "completed");
    assert_eq!(old["cost_usd"], Value::Null);
    assert_eq!(old["tokens"], Value::Null);
    let stem = env.repo.stem.clone();
    env.ok(&["status", &stem]);
}

#[test]
fn a_plain_agent_still_gets_its_summary_line_and_no_made_up_numbers() {
    let env = Env::new();
    env.repo.script(
        "plain.sh",
        "echo 'Reading additional input from stdin...' >&2\necho 'SUMMARY: plain work'\necho 'Reading additional input from stdin...' >&2",
    );
    env.repo
        .configure("  plain:\n    command: [./plain.sh]\n", "");
    let id = env.spawn("plain", "t")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = env.finished(&id);
    assert_eq!(done["summary"], "plain work");
    assert_eq!(done["conversation_id"], Value::Null, "no id is made up");
    assert_eq!(done["cost_usd"], Value::Null);
    let e = entry(&env.repo.text(), &id).join("\n");
    assert!(
        !e.contains("conversation_id") && !e.contains("tokens"),
        "{e}"
    );
}

#[test]
fn tmux_runner_reads_the_same_from_the_finished_log() {
    let env = Env::new();
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("note: tmux is not installed; skipping the tmux runner test");
        return;
    }
    let stem = env.repo.stem.clone();
    let v = env.json(&[
        "spawn", &stem, "--agent", "claude", "--task", "Fix it", "--runner", "tmux", "--json",
    ]);
    let id = v[0]["run_id"].as_str().unwrap().to_string();
    let done = env.finished(&id);
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["summary"], "fixed the parser off-by-one");
    assert_eq!(done["cost_usd"], 0.01514);
    assert_eq!(done["tokens"], json!({"input": 2468, "output": 112}));
    assert_eq!(done["conversation_id"], v[0]["conversation_id"]);
}

#[test]
fn a_spawned_claude_is_told_who_it_is_by_its_first_hook() {
    let env = Env::new();
    let started = env.spawn("claude", "Fix the parser");
    let id = started["run_id"].as_str().unwrap();
    let conversation = started["conversation_id"].as_str().unwrap();
    // What Claude Code sends its SessionStart hook when started with `--session-id`.
    let payload = json!({
        "session_id": conversation,
        "transcript_path": env.repo.root().join("t.jsonl"),
        "cwd": env.repo.root(),
        "hook_event_name": "SessionStart",
        "source": "startup",
    });
    let mut cmd = env.cmd(&["hook", "session-start", "--agent", "claude"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let context = v["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap_or_default();
    assert!(
        context.contains(&format!("background agent `claude` (run {id})")),
        "{context}"
    );
    assert!(context.contains("Your task: Fix the parser"), "{context}");
    env.finished(id);
}
