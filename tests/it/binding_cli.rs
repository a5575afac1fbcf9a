//! One binding, resolved the same way by every command: which conversation a command runs in
//! (`--conversation`, the variables, the process tree), SESSION left out inside a bound
//! conversation, the rules that keep `new`/`resume`/subagents from misrouting, `/clear`, agents
//! that edit session files by hand (the transcript), and spawned runs. Hooks are fed the
//! recorded payloads in `tests/fixtures/hooks/`; the process-tree tests start real process
//! trees (an "agent" process that runs the hook and then a tool that runs `sessions`).

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Output, Sealed, TestRepo, session_text};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hooks");
const BIN: &str = env!("CARGO_BIN_EXE_sessions");

/// A repository with two sessions in progress (`alpha`, `beta`) and a paused one (`gamma`).
fn new_repo() -> TestRepo {
    let repo = TestRepo::init();
    for (slug, title, status) in [
        ("alpha", "Alpha work", "in_progress"),
        ("beta", "Beta work", "in_progress"),
        ("gamma", "Gamma work", "paused"),
    ] {
        repo.session(
            &format!("20250101-00000{}-{slug}.md", title.len() % 10),
            session_text(
                title,
                status,
                "2025-01-01T00:00:00Z",
                "2025-01-01T00:00:00Z",
                &format!("{title} task"),
            ),
        );
    }
    repo
}

fn stem(repo: &TestRepo, slug: &str) -> String {
    repo.session_names()
        .into_iter()
        .find(|n| n.contains(slug) && !n.starts_with('.'))
        .unwrap_or_else(|| panic!("no session {slug}"))
        .trim_end_matches(".md")
        .to_string()
}

fn text_of(repo: &TestRepo, slug: &str) -> String {
    repo.read(&format!(".agents/sessions/{}.md", stem(repo, slug)))
}

/// `sessions ARGS` with `env` (and no other conversation variable).
fn run(repo: &TestRepo, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = repo.cmd();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run(&mut cmd)
}

/// A fixture with `cwd` (and `session_id`, `transcript_path` when given) rewritten.
fn payload(repo: &TestRepo, name: &str, id: Option<&str>, transcript: Option<&Path>) -> String {
    let path = Path::new(FIXTURES).join(name);
    let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.insert("cwd".into(), Value::from(repo.root().display().to_string()));
    if let Some(id) = id {
        o.insert("session_id".into(), Value::from(id));
    }
    if let Some(t) = transcript {
        o.insert(
            "transcript_path".into(),
            Value::from(t.display().to_string()),
        );
    }
    v.to_string()
}

fn hook(repo: &TestRepo, event: &str, agent: &str, stdin: String) -> Output {
    let mut cmd = repo.cmd();
    cmd.args(["hook", event, "--agent", agent])
        .write_stdin(stdin);
    let out = common::run(&mut cmd);
    out.ok().no_panic();
    out
}

fn context(out: &Output) -> String {
    if out.stdout.trim().is_empty() {
        return String::new();
    }
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    unframed(
        v["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap_or_default(),
    )
}

/// A context without the paragraph that frames it as repository data (see hooks_safety.rs).
fn unframed(text: &str) -> String {
    match text.strip_prefix("From `sessions`, the session files of this repository.") {
        Some(rest) => rest.split_once("\n\n").map_or("", |(_, r)| r).to_string(),
        None => text.to_string(),
    }
}

/// The binding file of `id`, parsed (None when unbound).
fn binding(repo: &TestRepo, id: &str) -> Option<Value> {
    let r = sessions::store::Repo::at(repo.root().to_path_buf());
    let path = sessions::binding::binding_path(&r, id);
    fs::read_to_string(path)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap())
}

fn bound_session(repo: &TestRepo, id: &str) -> Option<String> {
    binding(repo, id).map(|b| b["session"].as_str().unwrap().to_string())
}

fn session_rel(repo: &TestRepo, slug: &str) -> String {
    format!(".agents/sessions/{}.md", stem(repo, slug))
}

/// `status --json`'s `conversation` object, on whichever session carries it.
fn status_conversation(repo: &TestRepo, env: &[(&str, &str)]) -> Option<(String, Value)> {
    let out = run(repo, &["status", "--json"], env);
    out.ok();
    out.json().as_array().unwrap().iter().find_map(|s| {
        s.get("conversation")
            .map(|c| (s["path"].as_str().unwrap().to_string(), c.clone()))
    })
}

// ---------------------------------------------------------------------------------------------
// SESSION left out

#[test]
fn outside_a_bound_conversation_an_omitted_session_lists_the_candidates() {
    let repo = new_repo();
    let before = repo.files();
    for args in [
        &["log", "did a thing"][..],
        &["update", "--state", "x"],
        &["show"],
        &["pause"],
        &["handoff"],
        &["close", "--yes"],
        &["logs"],
        &["kill"],
        &["attach"],
        &["spawn", "--agent", "x", "--task", "t", "--", "true"],
        &["logs", ":claude"],
    ] {
        let out = run(&repo, args, &[]);
        out.code(2).no_panic();
        assert!(!out.stderr.contains("required"), "{args:?}: {out}");
        assert!(out.stderr.contains("no SESSION given"), "{args:?}: {out}");
        assert!(
            out.stderr.contains(&stem(&repo, "alpha")),
            "{args:?}: {out}"
        );
        assert!(out.stderr.contains(&stem(&repo, "beta")), "{args:?}: {out}");
        assert!(!out.stderr.contains(&stem(&repo, "gamma")), "paused: {out}");
        assert!(out.stderr.contains("sessions resume SESSION"), "{out}");
    }
    // A conversation that is known but unbound says so.
    let out = run(&repo, &["log", "x"], &[("CODEX_THREAD_ID", "thread-9")]);
    out.code(2);
    assert!(
        out.stderr
            .contains("conversation thread-9 (from $CODEX_THREAD_ID) is not bound"),
        "{out}"
    );
    assert_eq!(repo.files(), before, "nothing written");
}

#[test]
fn every_session_command_accepts_it_omitted_in_a_bound_conversation() {
    let repo = new_repo();
    let env = [("CLAUDE_CODE_SESSION_ID", "conv-1")];
    run(&repo, &["resume", "beta"], &env).ok();
    assert_eq!(
        bound_session(&repo, "conv-1"),
        Some(session_rel(&repo, "beta"))
    );

    run(&repo, &["log", "from the agent"], &env).ok();
    run(&repo, &["update", "--state", "Half done"], &env).ok();
    let beta = text_of(&repo, "beta");
    assert!(beta.contains("from the agent"), "{beta}");
    assert!(beta.contains("Half done"), "{beta}");
    assert!(!text_of(&repo, "alpha").contains("from the agent"));

    let show = run(&repo, &["show", "--section", "Current State"], &env);
    show.ok();
    assert_eq!(show.stdout.trim(), "Half done");
    run(&repo, &["handoff"], &env).ok();
    run(&repo, &["pause"], &env).ok();
    assert!(text_of(&repo, "beta").contains("status: paused"));
    run(&repo, &["resume"], &env).ok();
    assert!(text_of(&repo, "beta").contains("status: in_progress"));

    // The run commands find the bound session (and say it has no runs).
    for args in [
        &["logs"][..],
        &["logs", ":claude"],
        &["kill"],
        &["attach", ":claude"],
    ] {
        let out = run(&repo, args, &env);
        out.code(1).no_panic();
        assert!(out.stderr.contains(&stem(&repo, "beta")), "{args:?}: {out}");
        assert!(!out.stderr.contains("no SESSION given"), "{args:?}: {out}");
    }
    let agents = run(&repo, &["agents", "--json"], &env);
    agents.ok();
    assert_eq!(agents.json(), Value::Array(vec![]));

    let spawn = run(
        &repo,
        &[
            "spawn", "--agent", "fake", "--task", "echo", "--json", "--", "true",
        ],
        &env,
    );
    spawn.ok();
    assert_eq!(spawn.json()[0]["session"], stem(&repo, "beta"));
    // `agents` without SESSION lists the bound session's runs.
    let runs = run(&repo, &["agents", "--json"], &env).json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    // Wait for the run's write-back, so it cannot race the close below.
    for _ in 0..400 {
        if text_of(&repo, "beta").contains("status: completed") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }

    run(&repo, &["close", "--yes", "--force"], &env).ok();
    assert!(
        !repo
            .session_names()
            .iter()
            .any(|n| n.contains("beta") && !n.starts_with('.'))
    );
    // The binding now points at a file that is gone: a clear error, never another file.
    let out = run(&repo, &["log", "after close"], &env);
    out.code(2);
    assert!(out.stderr.contains("which no longer exists"), "{out}");
}

#[test]
fn log_with_two_arguments_needs_a_session_that_resolves() {
    let repo = new_repo();
    let env = [("CLAUDE_CODE_SESSION_ID", "conv-1")];
    run(&repo, &["resume", "beta"], &env).ok();
    let before = text_of(&repo, "beta");
    // A typo in SESSION is an error, never a message in the bound session.
    let out = run(&repo, &["log", "alpah", "did it"], &env);
    out.code(1);
    assert!(out.stderr.contains("no session matches `alpah`"), "{out}");
    assert_eq!(text_of(&repo, "beta"), before);
    // Two arguments name the session, even inside a bound conversation.
    run(&repo, &["log", "alpha", "into alpha"], &env).ok();
    assert!(text_of(&repo, "alpha").contains("into alpha"));
    assert_eq!(text_of(&repo, "beta"), before);
    // A lone argument that is exactly a session's stem: the message is missing.
    let alpha = stem(&repo, "alpha");
    let out = run(&repo, &["log", &alpha], &env);
    out.code(2);
    assert!(out.stderr.contains("is a session, not a message"), "{out}");
    assert_eq!(text_of(&repo, "beta"), before);
    // Three arguments are refused by the parser.
    run(&repo, &["log", "alpha", "two", "three"], &env).code(2);
    let help = run(&repo, &["log", "--help"], &[]);
    assert!(
        help.stdout.contains("sessions log [SESSION] <MESSAGE>"),
        "{help}"
    );
    assert!(
        help.stdout.contains("One argument is always the MESSAGE"),
        "{help}"
    );
}

// ---------------------------------------------------------------------------------------------
// Which conversation

#[test]
fn the_flag_wins_then_our_variable_then_the_agents_own() {
    let repo = new_repo();
    for (id, slug) in [
        ("c-flag", "alpha"),
        ("c-ours", "beta"),
        ("c-claude", "gamma"),
    ] {
        run(&repo, &["resume", slug, "--conversation", id], &[]).ok();
    }
    let all = [
        ("SESSIONS_CONVERSATION_ID", "c-ours"),
        ("CLAUDE_CODE_SESSION_ID", "c-claude"),
        ("CODEX_THREAD_ID", "c-codex"),
        ("GEMINI_SESSION_ID", "c-gemini"),
    ];
    let out = run(&repo, &["log", "--conversation", "c-flag", "m1"], &all);
    out.ok();
    assert!(text_of(&repo, "alpha").contains("m1"));
    run(&repo, &["log", "m2"], &all).ok();
    assert!(text_of(&repo, "beta").contains("m2"));
    run(&repo, &["log", "m3"], &all[1..]).ok();
    assert!(text_of(&repo, "gamma").contains("m3"));

    let (path, c) = status_conversation(&repo, &all[1..]).expect("bound");
    assert_eq!(path, session_rel(&repo, "gamma"));
    assert_eq!(c["id"], "c-claude");
    assert_eq!(c["found"]["kind"], "env");
    assert_eq!(c["found"]["var"], "CLAUDE_CODE_SESSION_ID");
    assert_eq!(c["via"], "resume");
    let (_, c) = status_conversation(
        &repo,
        &[
            ("GEMINI_SESSION_ID", "x"),
            ("SESSIONS_CONVERSATION_ID", "c-flag"),
        ],
    )
    .unwrap();
    assert_eq!(c["found"]["var"], "SESSIONS_CONVERSATION_ID");
    let detail = run(&repo, &["status", "gamma"], &all[1..]);
    assert!(
        detail.stdout.contains(
            "bound     to this conversation (c-claude, found from $CLAUDE_CODE_SESSION_ID)"
        ),
        "{detail}"
    );
    let human = run(&repo, &["status"], &all[2..]);
    assert!(
        human
            .stdout
            .contains("(c-codex, found from $CODEX_THREAD_ID) is not bound"),
        "{human}"
    );
}

/// Runs `script` as the only child of an "agent" process (`timeout`, which forks and waits,
/// like a node process running hooks and tools) under a shell, the way a person starts an
/// agent: `sh -c 'timeout 60 sh script; true'`. No conversation variable reaches it.
fn in_agent_tree(repo: &TestRepo, script: &str) -> Output {
    let path = repo.path("agent.sh");
    fs::write(&path, script).unwrap();
    let mut cmd = Command::new("sh");
    cmd.sealed()
        .args(["-c", "timeout 60 sh \"$1\"; exit $?", "sh"])
        .arg(&path)
        .current_dir(repo.root())
        .env("BIN", BIN)
        .env("NO_COLOR", "1")
        .env_remove("SESSIONS_PROCESS_TREE")
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    Output {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn write_payload(repo: &TestRepo, file: &str, text: String) -> PathBuf {
    repo.write(file, text)
}

#[test]
fn a_tool_with_no_variable_finds_its_conversation_through_the_process_tree() {
    // Gemini: the hook gets the id on stdin; the shell tool gets no variable at all.
    let repo = new_repo();
    run(&repo, &["resume", "beta", "--conversation", "gem-1"], &[]).ok();
    let p = write_payload(
        &repo,
        "start.json",
        payload(
            &repo,
            "gemini-session-start-startup.json",
            Some("gem-1"),
            None,
        ),
    );
    let out = in_agent_tree(
        &repo,
        &format!(
            "\"$BIN\" hook session-start --agent gemini < {} > /dev/null\nbash -c '\"$BIN\" log \"from the tool\" && \"$BIN\" status --json'\n",
            p.display()
        ),
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(text_of(&repo, "beta").contains("from the tool"), "{out}");
    let json: Value = serde_json::from_str(&out.stdout[out.stdout.find("\n[").unwrap()..]).unwrap();
    let c = json
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s.get("conversation"))
        .expect("bound");
    assert_eq!(c["id"], "gem-1");
    assert_eq!(c["found"]["kind"], "process_tree");
    assert_eq!(c["found"]["agent"], "gemini");

    // Another agent process (a sibling tree) does not share it, nor does the shell around it.
    let out = in_agent_tree(&repo, "\"$BIN\" log \"stray\"\n");
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("no SESSION given"), "{out}");
    assert!(!text_of(&repo, "beta").contains("stray"));
    // Only the agent process was recorded: not the `sh` around the hook, not the shell above.
    let procs: Vec<_> = fs::read_dir(repo.path(".agents/state/procs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(procs.len(), 1, "{procs:?}");
}

/// This process's start time, from /proc (field 22).
fn own_start() -> u64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    rest[19].parse().unwrap()
}

#[test]
fn a_recorded_process_matches_only_with_its_start_time_and_boot() {
    // The test process is the parent of the commands it runs: record it by hand.
    let repo = new_repo();
    run(&repo, &["resume", "alpha", "--conversation", "c-tree"], &[]).ok();
    let pid = std::process::id();
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let record = |name: String, boot: &str| {
        repo.write(
            &format!(".agents/state/procs/{name}.json"),
            format!(
                r#"{{"conversation":"c-tree","agent":"claude","boot":"{}"}}"#,
                boot.trim()
            ),
        );
    };
    let tree = |repo: &TestRepo| {
        let mut cmd = repo.cmd();
        cmd.args(["log", "via tree"])
            .env_remove("SESSIONS_PROCESS_TREE");
        common::run(&mut cmd)
    };
    // A reused pid: same pid, another start time.
    record(format!("{pid}-{}", own_start() + 1), &boot);
    tree(&repo).code(2);
    // The right pid and start time, but from an earlier boot.
    record(format!("{pid}-{}", own_start()), "another-boot");
    tree(&repo).code(2);
    assert!(!text_of(&repo, "alpha").contains("via tree"));
    record(format!("{pid}-{}", own_start()), &boot);
    tree(&repo).ok();
    assert!(text_of(&repo, "alpha").contains("via tree"));
}

// ---------------------------------------------------------------------------------------------
// Binding rules

#[test]
fn new_binds_an_unbound_conversation_and_leaves_a_bound_one_unless_bind() {
    let repo = new_repo();
    let env = [("CLAUDE_CODE_SESSION_ID", "conv-N")];
    let first = run(&repo, &["new", "first work"], &env);
    first.ok();
    assert_eq!(first.stderr, "");
    let first_path = first.stdout.trim().to_string();
    assert_eq!(
        bound_session(&repo, "conv-N").as_deref(),
        Some(first_path.as_str())
    );
    let second = run(&repo, &["new", "second work"], &env);
    second.ok();
    assert!(
        repo.path(second.stdout.trim()).is_file(),
        "the file is created"
    );
    assert!(second.stderr.contains("stays bound to"), "{second}");
    assert!(second.stderr.contains("--bind"), "{second}");
    assert_eq!(
        bound_session(&repo, "conv-N").as_deref(),
        Some(first_path.as_str())
    );
    let third = run(&repo, &["new", "third work", "--bind"], &env);
    third.ok();
    assert_eq!(
        bound_session(&repo, "conv-N").as_deref(),
        Some(third.stdout.trim())
    );
    assert!(third.stderr.contains("now works in"), "{third}");
    // `resume X` rebinds explicitly.
    run(&repo, &["resume", "alpha"], &env).ok();
    assert_eq!(
        bound_session(&repo, "conv-N"),
        Some(session_rel(&repo, "alpha"))
    );
}

#[test]
fn a_running_subagent_never_rebinds_its_parent() {
    let repo = new_repo();
    let parent = "212d425d-7120-4b51-bae7-a311ac68806c";
    let env = [("CLAUDE_CODE_SESSION_ID", parent)];
    run(&repo, &["resume", "alpha"], &env).ok();
    let start = hook(
        &repo,
        "subagent-start",
        "claude",
        payload(
            &repo,
            "claude-tui-subagent-start-general-purpose.json",
            None,
            None,
        ),
    );
    assert!(
        context(&start).contains(&session_rel(&repo, "alpha")),
        "{start}"
    );

    // The subagent's Bash has the parent's environment: its `new` creates the file but does
    // not take the parent's binding, and says why.
    let new = run(&repo, &["new", "sub work"], &env);
    new.ok();
    assert!(repo.path(new.stdout.trim()).is_file());
    assert!(new.stderr.contains("a subagent is running"), "{new}");
    assert!(new.stderr.contains("general-purpose"), "{new}");
    let resume = run(&repo, &["resume", "beta"], &env);
    resume.ok();
    assert!(resume.stderr.contains("a subagent is running"), "{resume}");
    assert_eq!(
        bound_session(&repo, parent),
        Some(session_rel(&repo, "alpha"))
    );
    // A stop without a start (`/compact`) changes nothing.
    hook(
        &repo,
        "subagent-stop",
        "claude",
        payload(
            &repo,
            "claude-tui-subagent-stop-no-agent-type.json",
            None,
            None,
        ),
    );
    run(&repo, &["resume", "beta"], &env).ok();
    assert_eq!(
        bound_session(&repo, parent),
        Some(session_rel(&repo, "alpha"))
    );
    // --bind overrides, knowingly.
    run(&repo, &["resume", "gamma", "--bind"], &env).ok();
    assert_eq!(
        bound_session(&repo, parent),
        Some(session_rel(&repo, "gamma"))
    );
    // After SubagentStop the parent rebinds as usual.
    let stop = hook(
        &repo,
        "subagent-stop",
        "claude",
        payload(
            &repo,
            "claude-tui-subagent-stop-general-purpose.json",
            None,
            None,
        ),
    );
    assert_eq!(stop.stdout, "");
    let resume = run(&repo, &["resume", "beta"], &env);
    resume.ok();
    assert!(!resume.stderr.contains("subagent"), "{resume}");
    assert_eq!(
        bound_session(&repo, parent),
        Some(session_rel(&repo, "beta"))
    );

    // A stop that never comes (Esc fires no hook) does not block past the parent's SessionEnd.
    hook(
        &repo,
        "subagent-start",
        "claude",
        payload(
            &repo,
            "claude-tui-subagent-start-general-purpose.json",
            None,
            None,
        ),
    );
    run(&repo, &["resume", "alpha"], &env).ok();
    assert_eq!(
        bound_session(&repo, parent),
        Some(session_rel(&repo, "beta"))
    );
    hook(
        &repo,
        "session-end",
        "claude",
        payload(&repo, "claude-tui-session-end-clear.json", None, None),
    );
    run(&repo, &["resume", "alpha"], &env).ok();
    assert_eq!(
        bound_session(&repo, parent),
        Some(session_rel(&repo, "alpha"))
    );
}

#[test]
fn clear_in_the_same_process_carries_the_binding_to_the_new_conversation() {
    let repo = new_repo();
    let old = "212d425d-7120-4b51-bae7-a311ac68806c";
    let new = "2b9d5382-e7fa-462a-8035-747e8359dc80";
    run(&repo, &["resume", "beta", "--conversation", old], &[]).ok();
    let files = [
        ("s1.json", "claude-tui-session-start-startup.json"),
        ("e.json", "claude-tui-session-end-clear.json"),
        ("s2.json", "claude-tui-session-start-clear.json"),
    ];
    let mut script = String::new();
    for (i, (file, fixture)) in files.iter().enumerate() {
        let p = write_payload(&repo, file, payload(&repo, fixture, None, None));
        let event = if fixture.contains("end") {
            "session-end"
        } else {
            "session-start"
        };
        script.push_str(&format!(
            "\"$BIN\" hook {event} < {} > out{i}.json\n",
            p.display()
        ));
    }
    // The agent's tool after /clear: found through the process, which now runs the new id.
    script.push_str("bash -c '\"$BIN\" log \"after clear\"'\n");
    let out = in_agent_tree(&repo, &script);
    assert_eq!(out.code, 0, "{out}");
    let b = binding(&repo, new).expect("the new conversation is bound");
    assert_eq!(b["session"], session_rel(&repo, "beta"));
    assert_eq!(b["via"], "clear");
    let ctx: Value = serde_json::from_str(&repo.read("out2.json")).unwrap();
    let ctx = unframed(
        ctx["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap(),
    );
    assert!(
        ctx.starts_with("This conversation works in the session \"Beta work\""),
        "{ctx}"
    );
    assert!(text_of(&repo, "beta").contains("after clear"));

    // A new conversation id in another process is not given someone else's binding.
    let other = new_repo();
    run(&other, &["resume", "beta", "--conversation", old], &[]).ok();
    let p = write_payload(
        &other,
        "s2.json",
        payload(&other, "claude-tui-session-start-clear.json", None, None),
    );
    let out = in_agent_tree(
        &other,
        &format!(
            "\"$BIN\" hook session-start < {} > /dev/null\n",
            p.display()
        ),
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(binding(&other, new).is_none());
}

// ---------------------------------------------------------------------------------------------
// Agents that edit the file by hand

fn transcript(repo: &TestRepo, lines: &[String]) -> PathBuf {
    repo.write("transcript.jsonl", lines.join("\n") + "\n")
}

#[test]
fn a_conversation_that_edits_a_session_by_hand_is_bound_at_pre_compact() {
    let repo = new_repo();
    let alpha = repo.path(&session_rel(&repo, "alpha"));
    let beta = session_rel(&repo, "beta");
    let t = transcript(
        &repo,
        &[
            format!(
                r#"{{"type":"assistant","message":{{"content":[{{"type":"tool_use","id":"t1","name":"Read","input":{{"file_path":"{}"}}}}]}}}}"#,
                alpha.display()
            ),
            // A tool result naming another file does not count.
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"see .agents/sessions/x.md"}]}}"#.to_string(),
            format!(
                r#"{{"type":"assistant","message":{{"content":[{{"type":"tool_use","id":"t2","name":"Edit","input":{{"file_path":"{}","old_string":"a","new_string":"b"}}}}]}}}}"#,
                repo.path(&beta).display()
            ),
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t2","content":"ok .agents/sessions/20250101-000009-alpha.md"}]}}"#.to_string(),
            "not json at all".to_string(),
        ],
    );
    hook(
        &repo,
        "pre-compact",
        "claude",
        payload(
            &repo,
            "claude-tui-pre-compact-manual.json",
            Some("hand-1"),
            Some(&t),
        ),
    );
    let b = binding(&repo, "hand-1").expect("bound from the transcript");
    assert_eq!(b["session"], beta);
    assert_eq!(b["via"], "transcript");
    assert!(
        text_of(&repo, "beta").contains("Context compacted"),
        "logged where it works"
    );
    assert!(!text_of(&repo, "alpha").contains("Context compacted"));
    // A later start after compaction re-injects it.
    let out = hook(
        &repo,
        "session-start",
        "claude",
        payload(
            &repo,
            "claude-tui-session-start-compact.json",
            Some("hand-1"),
            None,
        ),
    );
    assert!(context(&out).starts_with("This conversation works in the session \"Beta work\""));

    // `claude --resume` of a hand-editing conversation: bound from the transcript at start.
    let out = hook(
        &repo,
        "session-start",
        "claude",
        payload(
            &repo,
            "claude-session-start-resume.json",
            Some("hand-3"),
            Some(&t),
        ),
    );
    assert!(
        context(&out).starts_with("This conversation works in the session \"Beta work\""),
        "{out}"
    );
    assert_eq!(bound_session(&repo, "hand-3"), Some(beta.clone()));

    // An explicit binding is never replaced by what the transcript shows.
    run(&repo, &["resume", "gamma", "--conversation", "hand-2"], &[]).ok();
    hook(
        &repo,
        "session-end",
        "claude",
        payload(&repo, "claude-session-end.json", Some("hand-2"), Some(&t)),
    );
    assert_eq!(
        bound_session(&repo, "hand-2"),
        Some(session_rel(&repo, "gamma"))
    );
}

#[test]
fn codex_and_gemini_transcripts_bind_at_session_end() {
    let repo = new_repo();
    let alpha = session_rel(&repo, "alpha");
    let beta = session_rel(&repo, "beta");
    let codex = transcript(
        &repo,
        &[
            format!(
                r#"{{"type":"response_item","payload":{{"type":"function_call","name":"shell","arguments":"{{\"command\":[\"bash\",\"-lc\",\"cat {beta}\"]}}","call_id":"c1"}}}}"#
            ),
            format!(
                r#"{{"type":"response_item","payload":{{"type":"custom_tool_call","name":"apply_patch","input":"*** Begin Patch\n*** Update File: {alpha}\n@@\n-a\n+b\n*** End Patch"}}}}"#
            ),
            format!(
                r#"{{"type":"response_item","payload":{{"type":"function_call_output","call_id":"c1","output":"{beta}"}}}}"#
            ),
        ],
    );
    hook(
        &repo,
        "session-end",
        "codex",
        payload(&repo, "codex-session-end.json", Some("cx-1"), Some(&codex)),
    );
    assert_eq!(bound_session(&repo, "cx-1"), Some(alpha.clone()));
    assert!(text_of(&repo, "alpha").contains("Conversation ended"));

    let gemini = repo.write(
        "gemini.jsonl",
        format!(
            "{}\n",
            format_args!(
                r#"{{"id":"m1","type":"gemini","content":"","toolCalls":[{{"id":"r1","name":"replace","args":{{"file_path":"{}"}},"result":[{{"functionResponse":{{"response":{{"output":"{alpha}"}}}}}}]}}]}}"#,
                repo.path(&beta).display()
            )
        ),
    );
    hook(
        &repo,
        "session-end",
        "gemini",
        payload(
            &repo,
            "gemini-session-end.json",
            Some("gm-1"),
            Some(&gemini),
        ),
    );
    assert_eq!(bound_session(&repo, "gm-1"), Some(beta));
}

#[test]
fn with_one_session_in_progress_compact_and_resume_reinject_it_and_say_it_is_not_bound() {
    let repo = new_repo();
    run(&repo, &["pause", "beta"], &[]).ok();
    // Two conversations: one that already holds the restored state is not given it again.
    for (fixture, id) in [
        ("claude-tui-session-start-compact.json", "lost-1"),
        ("claude-session-start-resume.json", "lost-2"),
    ] {
        let out = hook(
            &repo,
            "session-start",
            "claude",
            payload(&repo, fixture, Some(id), None),
        );
        let text = context(&out);
        assert!(
            text.starts_with("This conversation is not bound to a session file."),
            "{text}"
        );
        assert!(
            text.contains(&format!("sessions resume {}", stem(&repo, "alpha"))),
            "{text}"
        );
        assert!(text.contains("## Current State"), "{text}");
    }
    assert!(
        binding(&repo, "lost-1").is_none() && binding(&repo, "lost-2").is_none(),
        "nothing is bound by guessing"
    );
    // With two in progress there is nothing to go on: only the listing.
    run(&repo, &["resume", "beta"], &[]).ok();
    let out = hook(
        &repo,
        "session-start",
        "claude",
        payload(
            &repo,
            "claude-tui-session-start-compact.json",
            Some("lost-1"),
            None,
        ),
    );
    let text = context(&out);
    assert!(!text.contains("not bound"), "{text}");
    assert!(!text.contains("## Current State"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Spawned runs

#[test]
fn a_spawned_agents_session_start_tells_it_who_it_is() {
    let repo = new_repo();
    let beta = session_rel(&repo, "beta");
    // What `spawn` writes through `binding::bind_run`.
    let r = sessions::store::Repo::at(repo.root().to_path_buf());
    sessions::binding::bind_run(
        &r,
        "spawned-1",
        &repo.path(&beta),
        sessions::binding::BoundRun {
            agent: "claude".into(),
            run_id: "3fa9c2d1".into(),
            task: "Add the provider fallback".into(),
        },
        "2025-01-01T00:00:00Z",
    )
    .unwrap();
    let out = hook(
        &repo,
        "session-start",
        "claude",
        payload(
            &repo,
            "claude-session-start-startup.json",
            Some("spawned-1"),
            None,
        ),
    );
    let text = context(&out);
    for want in [
        "background agent `claude`",
        "run 3fa9c2d1",
        beta.as_str(),
        "Your task: Add the provider fallback",
        "sessions log \"",
        "sessions update --state \"",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert!(
        !text.contains("Active sessions"),
        "no listing for a spawned agent: {text}"
    );
    assert!(!text.contains("## Current State"), "{text}");
    // `claude --resume <id>` of the run re-injects the session's state.
    let out = hook(
        &repo,
        "session-start",
        "claude",
        payload(
            &repo,
            "claude-session-start-resume.json",
            Some("spawned-1"),
            None,
        ),
    );
    let text = context(&out);
    assert!(text.contains("run 3fa9c2d1"), "{text}");
    assert!(text.contains("## Current State"), "{text}");
    // And its commands need no SESSION.
    run(
        &repo,
        &["log", "progress"],
        &[("CLAUDE_CODE_SESSION_ID", "spawned-1")],
    )
    .ok();
    assert!(text_of(&repo, "beta").contains("progress"));
    let (_, c) = status_conversation(&repo, &[("CLAUDE_CODE_SESSION_ID", "spawned-1")]).unwrap();
    assert_eq!(c["via"], "spawn");
    assert_eq!(c["run"]["run_id"], "3fa9c2d1");
}

#[test]
fn a_spawned_agent_does_not_inherit_the_spawning_conversations_ids() {
    let repo = new_repo();
    let env = [
        ("CLAUDE_CODE_SESSION_ID", "parent-1"),
        ("SESSIONS_CONVERSATION_ID", "parent-1"),
    ];
    run(&repo, &["resume", "beta"], &env).ok();
    run(
        &repo,
        &[
            "spawn",
            "--agent",
            "probe",
            "--task",
            "t",
            "--",
            "sh",
            "-c",
            "env > spawned-env.txt.tmp && mv spawned-env.txt.tmp spawned-env.txt",
        ],
        &env,
    )
    .ok();
    let path = repo.path("spawned-env.txt");
    for _ in 0..400 {
        if path.is_file() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let seen = fs::read_to_string(&path).expect("the agent ran");
    assert!(seen.contains("SESSIONS_RUN_ID="), "{seen}");
    for var in ["CLAUDE_CODE_SESSION_ID", "SESSIONS_CONVERSATION_ID"] {
        assert!(!seen.contains(&format!("{var}=")), "{var} leaked:\n{seen}");
    }
}
