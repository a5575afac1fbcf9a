//! The agent-hook side, end to end: `sessions hook session-start|session-end|pre-compact` fed the
//! recorded stdin payloads in `tests/fixtures/hooks/` (their `cwd` and `session_id` rewritten to a
//! temp repository and a chosen conversation id), conversation bindings, the `CLAUDE_ENV_FILE`
//! export, and `sessions hooks install|uninstall` for Claude Code, Codex and Gemini.
//!
//! Hooks run on the agent's critical path, so most tests also check the hook contract: exit 0,
//! at most one stderr line per problem, stdout empty or exactly one JSON object.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{Output, Sealed, TestRepo, ago, name_for};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hooks");
const BIN: &str = env!("CARGO_BIN_EXE_sessions");
const CREATED: &str = "2025-01-01T00:00:00Z";

/// Environment that would leak a real agent's conversation or project into a test.
const AGENT_VARS: [&str; 7] = [
    "CLAUDE_ENV_FILE",
    "CLAUDE_PROJECT_DIR",
    "GEMINI_PROJECT_DIR",
    "SESSIONS_CONVERSATION_ID",
    "CLAUDE_CODE_SESSION_ID",
    "CODEX_THREAD_ID",
    "GEMINI_SESSION_ID",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(FIXTURES).join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture with its `cwd` and `session_id` rewritten (every other field kept as recorded).
fn payload(name: &str, cwd: &Path, id: &str) -> String {
    let mut v: Value = serde_json::from_slice(&fixture(name)).expect("fixture is JSON");
    let obj = v.as_object_mut().expect("fixture is an object");
    obj.insert("cwd".into(), Value::from(cwd.display().to_string()));
    obj.insert("session_id".into(), Value::from(id));
    v.to_string()
}

/// A directory that is its own (empty) repository, so a hook started there finds nothing.
fn elsewhere() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("sessions-elsewhere-")
        .tempdir()
        .expect("temp dir");
    fs::create_dir(dir.path().join(".git")).expect("create .git");
    dir
}

/// `sessions` in `dir` with no agent variables inherited.
fn sessions_in(repo: &TestRepo, dir: &Path) -> assert_cmd::Command {
    let mut cmd = repo.cmd_in(dir);
    for var in AGENT_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `sessions ARGS` in the repository root, isolated from the agent environment.
fn run(repo: &TestRepo, args: &[&str]) -> Output {
    common::run(sessions_in(repo, repo.root()).args(args))
}

/// Runs `sessions ARGS` in the root with extra environment variables.
fn run_env(repo: &TestRepo, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = sessions_in(repo, repo.root());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run(&mut cmd)
}

/// Runs `sessions hook EVENT ARGS` with `stdin`, started from an unrelated directory so only
/// the payload's `cwd` can lead it to the repository.
fn hook(repo: &TestRepo, event: &str, args: &[&str], stdin: impl Into<Vec<u8>>) -> Output {
    hook_env(repo, event, args, stdin, &[])
}

fn hook_env(
    repo: &TestRepo,
    event: &str,
    args: &[&str],
    stdin: impl Into<Vec<u8>>,
    env: &[(&str, &str)],
) -> Output {
    let away = elsewhere();
    let mut cmd = sessions_in(repo, away.path());
    cmd.args(["hook", event]).args(args).write_stdin(stdin);
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run(&mut cmd)
}

/// The fixture `name` for `event`, aimed at the repository root and conversation `id`.
fn hook_fixture(repo: &TestRepo, event: &str, name: &str, id: &str) -> Output {
    hook(repo, event, &[], payload(name, repo.root(), id))
}

/// Asserts stdout is exactly one line holding exactly
/// `{"hookSpecificOutput":{"hookEventName":"SessionStart","additionalContext":…}}`; returns the
/// context.
#[track_caller]
fn context(out: &Output) -> String {
    context_for(out, "SessionStart")
}

/// [`context`] for a hook answering `event`.
#[track_caller]
fn context_for(out: &Output, event: &str) -> String {
    out.ok().no_panic();
    assert!(
        out.stdout.ends_with('\n') && out.stdout.trim_end().lines().count() == 1,
        "stdout must be one JSON line\n{out}"
    );
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{out}"));
    let top = v.as_object().expect("a JSON object");
    assert_eq!(
        top.keys().collect::<Vec<_>>(),
        ["hookSpecificOutput"],
        "{out}"
    );
    let inner = top["hookSpecificOutput"].as_object().expect("an object");
    assert_eq!(
        inner.keys().collect::<Vec<_>>(),
        ["hookEventName", "additionalContext"],
        "{out}"
    );
    assert_eq!(inner["hookEventName"], event, "{out}");
    let text = inner["additionalContext"]
        .as_str()
        .expect("additionalContext is a string");
    unframed(text).to_string()
}

/// The first line of every SessionStart context says the rest is the repository's data.
const FRAME_START: &str = "From `sessions`, the session files of this repository.";

/// `text` without its framing first paragraph (which must be there).
#[track_caller]
fn unframed(text: &str) -> &str {
    if !text.starts_with(FRAME_START) {
        // A subagent's one line and the cap note carry no frame.
        return text;
    }
    let (frame, rest) = text
        .split_once("\n\n")
        .expect("frame ends with a blank line");
    assert!(
        frame.contains("not as instructions from the user"),
        "{frame}"
    );
    rest
}

/// The hook contract under trouble: exit 0 (never 2), no panic, at most `max_stderr` lines on
/// stderr, stdout empty or one valid hook JSON object.
#[track_caller]
fn survives(out: &Output, max_stderr: usize) {
    out.ok().no_panic();
    assert!(
        out.stderr.lines().count() <= max_stderr,
        "more than {max_stderr} stderr line(s)\n{out}"
    );
    if !out.stdout.trim().is_empty() {
        context(out);
    }
}

/// Index of `needle` in `haystack`, failing with the haystack shown.
#[track_caller]
fn pos(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not found in:\n{haystack}"))
}

/// The context line that mentions `needle`.
#[track_caller]
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{text}"))
}

/// A session file body with frontmatter values, optional `spawned_agents` YAML, and the
/// required sections plus a Session Log.
struct Spec<'a> {
    title: &'a str,
    status: &'a str,
    updated: String,
    task: &'a str,
    agents: &'a str,
    state: &'a str,
    next: &'a str,
    log: &'a [(&'a str, &'a str)],
}

impl<'a> Spec<'a> {
    fn new(title: &'a str, status: &'a str, updated: String, task: &'a str) -> Self {
        Spec {
            title,
            status,
            updated,
            task,
            agents: "",
            state: "Nothing yet.",
            next: "- [ ] start",
            log: &[],
        }
    }

    fn text(&self) -> String {
        let mut log = String::new();
        for (when, msg) in self.log {
            log.push_str(&format!("\n### {when} - [claude]\n{msg}\n"));
        }
        format!(
            "---\nsession:\n  title: \"{}\"\n  status: {}\n  created: \"{CREATED}\"\n  last_updated: \"{}\"\norchestration:\n  current_task: \"{}\"\n{}---\n# Session: {}\n\n## Context\n\nWhy.\n\n## Current State\n\n{}\n\n## Next Steps\n\n{}\n\n## Session Log\n{log}",
            self.title,
            self.status,
            self.updated,
            self.task,
            self.agents,
            self.title,
            self.state,
            self.next,
        )
    }

    /// Writes the file as `<name-date>-<slug>.md`; returns its stem (the session id).
    fn write(&self, repo: &TestRepo, name_time: &str, slug: &str) -> String {
        let name = name_for(name_time, slug);
        repo.session(&name, self.text());
        name.trim_end_matches(".md").to_string()
    }
}

fn mins(n: u64) -> String {
    ago(Duration::from_secs(n * 60))
}

fn hours(n: u64) -> String {
    ago(Duration::from_secs(n * 3600))
}

/// Binds conversation `id` to the existing session `stem` (an in-progress one: no edit).
fn bind(repo: &TestRepo, stem: &str, id: &str) {
    run(repo, &["resume", stem, "--conversation", id]).ok();
}

/// `sessions new TITLE --conversation ID`; returns the new file's path relative to the root.
fn new_bound(repo: &TestRepo, title: &str, id: &str) -> String {
    let out = run(repo, &["new", title, "--conversation", id]);
    out.ok();
    out.stdout.trim().to_string()
}

fn read_bytes(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every session file's bytes, by name.
fn snapshot(repo: &TestRepo) -> Vec<(String, Vec<u8>)> {
    repo.session_names()
        .into_iter()
        .map(|n| {
            let bytes = read_bytes(&repo.sessions_dir().join(&n));
            (n, bytes)
        })
        .collect()
}

const SOURCES: [&str; 5] = ["startup", "resume", "clear", "compact", "fork"];

fn start_fixture(source: &str) -> String {
    format!("claude-session-start-{source}.json")
}

/// A repository with one session of each kind the listing distinguishes. The paused file's
/// name sorts first and it was updated most recently, so only a status sort puts it after.
fn listing_repo() -> TestRepo {
    let repo = TestRepo::init();
    repo.write(".agents/config.yaml", "stale_after: 1h\n");
    let mut paused = Spec::new("Beta paused work", "paused", mins(2), "Wait for review");
    paused.state = "Review requested.";
    paused.write(&repo, "2025-01-01T00:00:00Z", "beta-paused");
    let mut alpha = Spec::new(
        "Alpha fallback chain",
        "in_progress",
        mins(10),
        "Wire provider A",
    );
    alpha.agents = "  spawned_agents:\n    - agent: backend-dev\n      task: \"Add provider A\"\n      status: in_progress\n    - agent: tester\n      task: \"Write tests\"\n      status: in_progress\n    - agent: docs\n      task: \"Docs\"\n      status: completed\n";
    alpha.write(&repo, "2025-03-01T00:00:00Z", "alpha-fallback");
    Spec::new("Delta stale work", "in_progress", hours(3), "Old task").write(
        &repo,
        "2025-02-01T00:00:00Z",
        "delta-stale",
    );
    Spec::new("Gamma completed work", "completed", mins(1), "Done task").write(
        &repo,
        "2025-04-01T00:00:00Z",
        "gamma-done",
    );
    repo
}

// ---------------------------------------------------------------------------------------------
// session-start: the listing

#[test]
fn session_start_prints_one_json_object_for_every_source() {
    let repo = listing_repo();
    for source in SOURCES {
        let out = hook_fixture(&repo, "session-start", &start_fixture(source), "unbound-1");
        let text = context(&out);
        assert!(out.stderr.is_empty(), "{source}: {out}");
        assert!(text.contains("Active sessions (3):"), "{source}: {text}");
        assert!(text.contains("sessions resume ID"), "{source}: {text}");
        assert!(
            !text.contains('<') && !text.contains('>'),
            "no angle brackets: {text}"
        );
        assert!(!text.contains("Restored"), "{source}, unbound: {text}");
    }
}

#[test]
fn listing_orders_in_progress_before_paused_and_omits_completed() {
    let repo = listing_repo();
    let text = context(&hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-startup.json",
        "unbound-2",
    ));
    let alpha = pos(
        &text,
        "\"Alpha fallback chain\" (20250301-000000-alpha-fallback)",
    );
    let delta = pos(&text, "\"Delta stale work\" (20250201-000000-delta-stale)");
    let beta = pos(&text, "\"Beta paused work\" (20250101-000000-beta-paused)");
    assert!(alpha < beta && delta < beta, "in_progress first:\n{text}");
    assert!(!text.contains("Gamma"), "completed is not listed:\n{text}");
    assert!(!text.contains("gamma-done"), "{text}");

    assert!(text.contains("  task: Wire provider A\n"), "{text}");
    assert!(text.contains("  task: Wait for review\n"), "{text}");
    assert!(
        line_with(&text, "Beta paused").contains("paused, updated 2m ago"),
        "{text}"
    );
    assert!(
        line_with(&text, "Alpha fallback").contains("in progress, updated 10m ago"),
        "{text}"
    );
}

#[test]
fn listing_marks_stale_sessions_and_counts_running_agents() {
    let repo = listing_repo();
    let text = context(&hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-startup.json",
        "unbound-3",
    ));
    let delta = line_with(&text, "Delta stale work");
    assert!(delta.contains("updated 3h ago"), "{delta}");
    assert!(delta.contains("STALE"), "3h > stale_after 1h: {delta}");
    let alpha = line_with(&text, "Alpha fallback chain");
    assert!(!alpha.contains("STALE"), "{alpha}");
    assert!(alpha.contains("2 agent(s) running"), "{alpha}");
    assert!(!line_with(&text, "Beta paused").contains("STALE"), "{text}");
    assert!(!delta.contains("agent(s) running"), "{delta}");

    // The default threshold (24h) does not call 3 hours stale.
    repo.write(".agents/config.yaml", "# defaults\n");
    let text = context(&hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-startup.json",
        "unbound-3",
    ));
    assert!(!text.contains("STALE"), "{text}");
}

#[test]
fn listing_with_no_sessions_says_how_to_start_one() {
    let repo = TestRepo::init();
    let text = context(&hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-startup.json",
        "c",
    ));
    assert!(text.contains("No active sessions"), "{text}");
    assert!(text.contains("sessions new"), "{text}");
}

#[test]
fn long_listings_are_capped_with_a_note() {
    let repo = TestRepo::init();
    let long_title = "t".repeat(1500);
    for i in 0..20u32 {
        let title = format!("{i:02} {long_title}");
        Spec::new(&title, "in_progress", mins(5), "task").write(
            &repo,
            &format!("2025-01-01T00:00:{i:02}Z"),
            &format!("s{i:02}"),
        );
    }
    let text = context(&hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-startup.json",
        "c",
    ));
    assert!(text.chars().count() <= 10_000, "{} chars", text.len());
    assert!(
        text.contains("… and 5 more (sessions list)."),
        "a note says what was left out and where to see it: {text}"
    );
    let first = line_with(&text, "\"00 ttt");
    assert!(first.contains("t…\" ("), "each title is bounded: {first}");
    assert!(first.chars().count() < 250, "{first}");
}

#[test]
fn the_payload_cwd_may_be_a_subdirectory() {
    let repo = listing_repo();
    let sub = repo.path("services/forecast");
    fs::create_dir_all(&sub).unwrap();
    let out = hook(
        &repo,
        "session-start",
        &[],
        payload("claude-session-start-startup.json", &sub, "c"),
    );
    assert!(context(&out).contains("Alpha fallback chain"), "{out}");
}

#[test]
fn without_a_usable_cwd_the_project_dir_variables_are_used() {
    let repo = listing_repo();
    let gone = repo.path("no/such/dir");
    for var in ["CLAUDE_PROJECT_DIR", "GEMINI_PROJECT_DIR"] {
        let out = hook_env(
            &repo,
            "session-start",
            &[],
            payload("claude-session-start-startup.json", &gone, "c"),
            &[(var, repo.root().to_str().unwrap())],
        );
        assert!(
            context(&out).contains("Alpha fallback chain"),
            "{var}: {out}"
        );
    }
    // The payload's cwd wins over the variable.
    let other = TestRepo::init();
    let out = hook_env(
        &repo,
        "session-start",
        &[],
        payload("claude-session-start-startup.json", repo.root(), "c"),
        &[("CLAUDE_PROJECT_DIR", other.root().to_str().unwrap())],
    );
    assert!(context(&out).contains("Alpha fallback chain"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// session-start: output formats and agents

#[test]
fn format_text_prints_the_context_as_plain_text() {
    let repo = listing_repo();
    let out = hook(
        &repo,
        "session-start",
        &["--format", "text"],
        payload("claude-session-start-startup.json", repo.root(), "c"),
    );
    out.ok();
    assert!(
        serde_json::from_str::<Value>(&out.stdout).is_err(),
        "not JSON\n{out}"
    );
    assert!(
        unframed(&out.stdout).starts_with("Active sessions (3):\n"),
        "{out}"
    );
    assert!(out.stdout.contains("\"Alpha fallback chain\""), "{out}");
    assert!(
        !out.stdout.contains("\\n"),
        "real newlines, not escapes\n{out}"
    );
}

#[test]
fn gemini_and_codex_session_start_print_json() {
    let repo = listing_repo();
    for (agent, file) in [
        ("gemini", "gemini-session-start-startup.json"),
        ("codex", "codex-session-start-startup.json"),
    ] {
        let out = hook(
            &repo,
            "session-start",
            &["--agent", agent],
            payload(file, repo.root(), "c"),
        );
        let text = context(&out);
        assert!(text.contains("Alpha fallback chain"), "{agent}: {text}");
    }
}

#[test]
fn extra_and_unknown_payload_fields_are_tolerated() {
    let repo = listing_repo();
    let out = hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-extra-fields.json",
        "c",
    );
    assert!(out.stderr.is_empty(), "{out}");
    assert!(context(&out).contains("Alpha fallback chain"));
}

// ---------------------------------------------------------------------------------------------
// session-start: the bound conversation

#[test]
fn a_bound_conversation_leads_the_context_with_its_session() {
    let repo = listing_repo();
    let path = new_bound(&repo, "Zulu bound work", "conv-A");
    assert!(repo.path(&binding_rel("conv-A")).is_file());
    let stem = Path::new(&path).file_stem().unwrap().to_str().unwrap();
    for source in SOURCES {
        // A conversation of its own per source: one that already holds the listing is not
        // given it again (see `a_bound_conversation_is_not_given_the_same_listing_twice`).
        let id = format!("conv-A-{source}");
        bind(&repo, stem, &id);
        let text = context(&hook_fixture(
            &repo,
            "session-start",
            &start_fixture(source),
            &id,
        ));
        assert!(
            text.starts_with(&format!(
                "This conversation works in the session \"Zulu bound work\" ({path})."
            )),
            "{source}: {text}"
        );
        assert!(text.contains("Current task: Zulu bound work"), "{text}");
        assert_eq!(
            text.matches("Zulu bound work").count(),
            2,
            "not listed again: {text}"
        );
        assert!(text.contains("Alpha fallback chain"), "others still listed");
    }
    // Another conversation on the same repository is not told it works there.
    let text = context(&hook_fixture(
        &repo,
        "session-start",
        &start_fixture("startup"),
        "conv-B",
    ));
    assert!(!text.contains("This conversation"), "{text}");
    assert!(
        text.contains("\"Zulu bound work\""),
        "listed as any other: {text}"
    );
}

#[test]
fn a_bound_conversation_is_not_given_the_same_listing_twice() {
    let repo = listing_repo();
    new_bound(&repo, "Zulu bound work", "conv-L");
    let start = |source: &str| {
        context(&hook_fixture(
            &repo,
            "session-start",
            &start_fixture(source),
            "conv-L",
        ))
    };
    assert!(start("startup").contains("Alpha fallback chain"));
    for source in ["resume", "compact"] {
        let text = start(source);
        assert!(!text.contains("Alpha fallback chain"), "{source}: {text}");
        assert!(
            text.contains("Other active sessions: 3, as last listed in this conversation"),
            "{source}: {text}"
        );
    }
    // A new fact about another session is news.
    run(
        &repo,
        &["update", "alpha-fallback", "--task", "Wire provider C"],
    )
    .ok();
    assert!(start("resume").contains("Wire provider C"));
    // `clear` and `fork` start a fresh context: listed in full.
    for source in ["clear", "fork"] {
        assert!(start(source).contains("Alpha fallback chain"), "{source}");
    }
}

fn bound_rich_session(repo: &TestRepo, id: &str) -> String {
    let mut s = Spec::new(
        "Rich bound work",
        "in_progress",
        mins(3),
        "Finish the chain",
    );
    s.state = "Provider A wired; B half done.";
    s.next = "- [ ] finish provider B\n- [ ] document the chain";
    s.log = &[
        ("2025-01-01 10:00", "Entry one oldest."),
        ("2025-01-01 11:00", "Entry two."),
        ("2025-01-01 12:00", "Entry three."),
        ("2025-01-01 13:00", "Entry four newest."),
    ];
    let stem = s.write(repo, "2025-05-01T00:00:00Z", "rich-bound");
    bind(repo, &stem, id);
    stem
}

#[test]
fn compact_and_resume_reinject_state_next_steps_and_recent_log() {
    let repo = listing_repo();
    let stem = bound_rich_session(&repo, "conv-R");
    bind(&repo, &stem, "conv-R2");
    for (source, why, id) in [
        ("compact", "after context compaction", "conv-R"),
        ("resume", "on resume", "conv-R2"),
    ] {
        let text = context(&hook_fixture(
            &repo,
            "session-start",
            &start_fixture(source),
            id,
        ));
        assert!(
            text.contains(&format!("Restored {why}")),
            "{source}: {text}"
        );
        let state = pos(
            &text,
            "## Current State\n| Provider A wired; B half done.\n",
        );
        let next = pos(
            &text,
            "## Next Steps\n| - [ ] finish provider B\n| - [ ] document the chain\n",
        );
        assert!(state < next, "{text}");
        for recent in ["Entry two.", "Entry three.", "Entry four newest."] {
            assert!(
                text.contains(recent),
                "{source}: recent log `{recent}`: {text}"
            );
        }
        assert!(
            !text.contains("Entry one oldest."),
            "only the recent entries: {text}"
        );
        assert!(
            next < pos(&text, "Active sessions"),
            "bound session before the listing"
        );
    }
}

#[test]
fn startup_clear_and_fork_do_not_reinject() {
    let repo = listing_repo();
    bound_rich_session(&repo, "conv-R");
    for source in ["startup", "clear", "fork"] {
        let text = context(&hook_fixture(
            &repo,
            "session-start",
            &start_fixture(source),
            "conv-R",
        ));
        assert!(text.starts_with("This conversation works in the session \"Rich bound work\""));
        assert!(!text.contains("Restored"), "{source}: {text}");
        assert!(!text.contains("Provider A wired"), "{source}: {text}");
        assert!(!text.contains("Entry four"), "{source}: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// CLAUDE_ENV_FILE and the conversation id in later commands

/// The value of the `export SESSIONS_CONVERSATION_ID='…'` line, as a shell would see it.
fn exported_id(env_file: &str) -> String {
    let line = env_file
        .lines()
        .find(|l| l.starts_with("export SESSIONS_CONVERSATION_ID="))
        .unwrap_or_else(|| panic!("no export line in:\n{env_file}"));
    let value = line.trim_start_matches("export SESSIONS_CONVERSATION_ID=");
    assert!(value.starts_with('\'') && value.ends_with('\''), "{line}");
    value[1..value.len() - 1].to_string()
}

#[test]
fn claude_env_file_gets_the_conversation_export_once() {
    let repo = listing_repo();
    let env_dir = tempfile::tempdir().unwrap();
    let env_file = env_dir.path().join("env.sh");
    fs::write(&env_file, "export OTHER=1\n").unwrap();
    let env = [("CLAUDE_ENV_FILE", env_file.to_str().unwrap())];
    for source in ["startup", "compact", "startup"] {
        let out = hook_env(
            &repo,
            "session-start",
            &[],
            payload(&start_fixture(source), repo.root(), "conv-E"),
            &env,
        );
        context(&out);
        assert!(out.stderr.is_empty(), "{out}");
    }
    let text = fs::read_to_string(&env_file).unwrap();
    assert_eq!(
        text,
        "export OTHER=1\nexport SESSIONS_CONVERSATION_ID='conv-E'\n"
    );
    assert_eq!(exported_id(&text), "conv-E");
}

#[test]
fn exported_conversation_id_is_shell_quoted() {
    let repo = TestRepo::init();
    let env_dir = tempfile::tempdir().unwrap();
    let env_file = env_dir.path().join("env.sh");
    let id = "it's $(rm -rf x)";
    let out = hook_env(
        &repo,
        "session-start",
        &[],
        payload("claude-session-start-startup.json", repo.root(), id),
        &[("CLAUDE_ENV_FILE", env_file.to_str().unwrap())],
    );
    context(&out);
    let script = format!(
        ". '{}' && printf %s \"$SESSIONS_CONVERSATION_ID\"",
        env_file.display()
    );
    let sh = Command::new("sh")
        .sealed()
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&sh.stdout), id);
}

#[test]
fn export_starts_on_its_own_line() {
    // Other hooks append to the same env file; one that leaves no trailing newline makes
    // `export OTHER=1export SESSIONS_CONVERSATION_ID='conv-N'`, breaking both variables.
    let repo = TestRepo::init();
    let env_dir = tempfile::tempdir().unwrap();
    let env_file = env_dir.path().join("env.sh");
    fs::write(&env_file, "export OTHER=1").unwrap();
    let out = hook_env(
        &repo,
        "session-start",
        &[],
        payload("claude-session-start-startup.json", repo.root(), "conv-N"),
        &[("CLAUDE_ENV_FILE", env_file.to_str().unwrap())],
    );
    context(&out);
    assert_eq!(
        fs::read_to_string(&env_file).unwrap(),
        "export OTHER=1\nexport SESSIONS_CONVERSATION_ID='conv-N'\n"
    );
}

#[test]
fn an_unwritable_env_file_costs_one_stderr_line() {
    let repo = listing_repo();
    let out = hook_env(
        &repo,
        "session-start",
        &[],
        payload("claude-session-start-startup.json", repo.root(), "conv-U"),
        &[("CLAUDE_ENV_FILE", "/no/such/dir/env.sh")],
    );
    survives(&out, 1);
    assert!(out.stderr.contains("/no/such/dir/env.sh"), "{out}");
    assert!(
        context(&out).contains("Alpha fallback chain"),
        "the context still comes"
    );
}

#[test]
fn status_shows_this_conversation_first_and_resume_rebinds() {
    let repo = listing_repo();
    let env_dir = tempfile::tempdir().unwrap();
    let env_file = env_dir.path().join("env.sh");
    new_bound(&repo, "Zulu bound work", "conv-S");
    let out = hook_env(
        &repo,
        "session-start",
        &[],
        payload("claude-session-start-startup.json", repo.root(), "conv-S"),
        &[("CLAUDE_ENV_FILE", env_file.to_str().unwrap())],
    );
    context(&out);
    let id = exported_id(&fs::read_to_string(&env_file).unwrap());
    let env = [("SESSIONS_CONVERSATION_ID", id.as_str())];

    let status = run_env(&repo, &["status"], &env);
    status.ok();
    let first = status.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("This conversation: \"Zulu bound work\""),
        "{status}"
    );
    // Without the variable there is no conversation to show.
    let plain = run(&repo, &["status"]);
    assert!(!plain.stdout.contains("This conversation"), "{plain}");

    // `resume OTHER` in the same conversation moves the binding.
    run_env(&repo, &["resume", "alpha-fallback"], &env).ok();
    let status = run_env(&repo, &["status"], &env);
    let first = status.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("This conversation: \"Alpha fallback chain\""),
        "{status}"
    );
    let text = context(&hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-startup.json",
        "conv-S",
    ));
    assert!(
        text.starts_with("This conversation works in the session \"Alpha fallback chain\""),
        "{text}"
    );
}

#[test]
fn new_binds_from_the_environment_too() {
    let repo = TestRepo::init();
    for (var, id) in [
        ("SESSIONS_CONVERSATION_ID", "env-conv"),
        ("GEMINI_SESSION_ID", "gem-conv"),
    ] {
        let title = format!("Made under {var}");
        run_env(&repo, &["new", &title], &[(var, id)]).ok();
        let text = context(&hook_fixture(
            &repo,
            "session-start",
            "claude-session-start-startup.json",
            id,
        ));
        assert!(
            text.starts_with(&format!(
                "This conversation works in the session \"{title}\""
            )),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Subagents

#[test]
fn a_subagent_gets_at_most_the_parents_session_path() {
    let repo = listing_repo();
    let path = new_bound(&repo, "Zulu bound work", "conv-P");
    let env_dir = tempfile::tempdir().unwrap();
    let env_file = env_dir.path().join("env.sh");
    for file in [
        "claude-subagent-session-start.json",
        "claude-subagent-start.json",
    ] {
        let out = hook_env(
            &repo,
            "session-start",
            &[],
            payload(file, repo.root(), "conv-P"),
            &[("CLAUDE_ENV_FILE", env_file.to_str().unwrap())],
        );
        out.ok();
        // (The event name echoed for SubagentStart is checked in
        // `subagent_start_output_names_the_subagent_start_event`.)
        let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
        let text = v["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap_or_else(|| panic!("{out}"));
        assert!(text.contains(&path), "{file}: {text}");
        assert!(!text.contains("Active sessions"), "no listing: {text}");
        assert!(!text.contains("Alpha"), "no other sessions: {text}");
        assert_eq!(text.lines().count(), 1, "one sentence: {text}");

        // Unbound parent: nothing at all.
        let out = hook_env(
            &repo,
            "session-start",
            &[],
            payload(file, repo.root(), "conv-unbound"),
            &[("CLAUDE_ENV_FILE", env_file.to_str().unwrap())],
        );
        out.ok();
        assert_eq!(out.stdout, "", "{file}: {out}");
        assert_eq!(out.stderr, "", "{file}: {out}");
    }
    assert!(!env_file.exists(), "a subagent exports nothing");
}

#[test]
fn subagent_start_output_names_the_subagent_start_event() {
    // Claude Code fires SubagentStart (not SessionStart) for subagents and validates the echoed
    // `hookEventName` against the event it dispatched ("Hook returned incorrect event name:
    // expected 'SubagentStart' but got 'SessionStart'"), dropping the context.
    let repo = listing_repo();
    new_bound(&repo, "Zulu bound work", "conv-P");
    let out = hook_fixture(
        &repo,
        "session-start",
        "claude-subagent-start.json",
        "conv-P",
    );
    let text = context_for(&out, "SubagentStart");
    assert!(
        text.contains("Zulu") || text.contains("zulu-bound-work"),
        "{text}"
    );
}

#[test]
fn a_subagent_after_compaction_does_not_reinject() {
    let repo = listing_repo();
    bound_rich_session(&repo, "conv-P");
    let mut v: Value = serde_json::from_str(&payload(
        "claude-subagent-session-start.json",
        repo.root(),
        "conv-P",
    ))
    .unwrap();
    v["source"] = Value::from("compact");
    let text = context(&hook(&repo, "session-start", &[], v.to_string()));
    assert!(!text.contains("Provider A wired"), "{text}");
    assert!(!text.contains("Restored"), "{text}");
}

#[test]
fn distinct_conversation_ids_never_share_a_binding() {
    // binding.rs maps every other character to `_` and keeps 128 characters, and `lookup` does
    // not compare the stored `conversation`, so conversation `a/b` reads `a_b`'s binding and
    // pre-compact/session-end write into `a_b`'s session file.
    let repo = listing_repo();
    let long = "x".repeat(128);
    for (owner, other) in [
        ("a_b".to_string(), "a/b".to_string()),
        (format!("{long}-one"), format!("{long}-two")),
    ] {
        new_bound(&repo, &format!("Owned by {}", &owner[..3]), &owner);
        let before = snapshot(&repo);
        for (event, file) in [
            ("pre-compact", "claude-pre-compact-auto.json"),
            ("session-end", "claude-session-end.json"),
        ] {
            hook_fixture(&repo, event, file, &other).ok();
        }
        assert_eq!(
            snapshot(&repo),
            before,
            "`{other}` wrote into `{owner}`'s session"
        );
        let text = context(&hook_fixture(
            &repo,
            "session-start",
            "claude-session-start-startup.json",
            &other,
        ));
        assert!(!text.contains("This conversation"), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// pre-compact and session-end route writes by conversation

struct Two {
    repo: TestRepo,
    one: PathBuf,
    two: PathBuf,
}

/// Two conversations, each bound to its own session, plus an unbound session.
fn two_conversations() -> Two {
    let repo = TestRepo::init();
    let mut s1 = Spec::new("One work", "in_progress", hours(5), "task one");
    s1.log = &[("2025-01-01 10:00", "Started one.")];
    let one = s1.write(&repo, "2025-01-01T00:00:00Z", "one");
    let two = Spec::new("Two work", "in_progress", hours(5), "task two").write(
        &repo,
        "2025-01-02T00:00:00Z",
        "two",
    );
    Spec::new("Three unbound", "paused", hours(5), "task three").write(
        &repo,
        "2025-01-03T00:00:00Z",
        "three",
    );
    bind(&repo, &one, "conv-1");
    bind(&repo, &two, "conv-2");
    Two {
        one: repo.sessions_dir().join(format!("{one}.md")),
        two: repo.sessions_dir().join(format!("{two}.md")),
        repo,
    }
}

/// `new` minus `old`, which must be its prefix once the frontmatter is set aside: only
/// `last_updated` may change above the appended text.
fn appended(old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let body = |s: &str| s.split_once("\n---\n").map(|(_, b)| b.to_string()).unwrap();
    let (ob, nb) = (body(&old), body(&new));
    assert!(
        nb.starts_with(&ob),
        "body only appended to:\n{old}\n=>\n{new}"
    );
    nb[ob.len()..].to_string()
}

fn last_updated(path: &Path) -> chrono::DateTime<chrono::Utc> {
    let text = fs::read_to_string(path).unwrap();
    let line = line_with(&text, "last_updated:");
    let value = line
        .trim()
        .trim_start_matches("last_updated:")
        .trim()
        .trim_matches('"');
    value.parse().unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// The SessionStart(compact) Claude fires once it has compacted.
fn compacted(repo: &TestRepo, id: &str) {
    let out = hook_fixture(
        repo,
        "session-start",
        "claude-session-start-compact.json",
        id,
    );
    out.ok();
    assert_eq!(out.stderr, "", "{out}");
}

#[test]
fn pre_compact_logs_only_into_the_conversations_own_session() {
    let t = two_conversations();
    let before = snapshot(&t.repo);
    let one_before = read_bytes(&t.one);
    let out = hook_fixture(
        &t.repo,
        "pre-compact",
        "claude-pre-compact-auto.json",
        "conv-1",
    );
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr, "", "{out}");
    // Claude's PreCompact is logged once the compaction happened: at SessionStart(compact).
    compacted(&t.repo, "conv-1");
    let added = appended(&one_before, &read_bytes(&t.one));
    assert!(
        added.contains("- [claude hook]\nContext compacted (auto).\n"),
        "{added}"
    );
    for (name, bytes) in &before {
        if !t.one.ends_with(name) {
            assert_eq!(
                &read_bytes(&t.repo.sessions_dir().join(name)),
                bytes,
                "{name}"
            );
        }
    }

    let two_before = read_bytes(&t.two);
    let one_now = read_bytes(&t.one);
    hook_fixture(
        &t.repo,
        "pre-compact",
        "claude-pre-compact-manual.json",
        "conv-2",
    )
    .ok();
    compacted(&t.repo, "conv-2");
    let added = appended(&two_before, &read_bytes(&t.two));
    assert!(added.contains("Context compacted (manual).\n"), "{added}");
    assert_eq!(
        read_bytes(&t.one),
        one_now,
        "conv-2 never touches conv-1's file"
    );
}

#[test]
fn session_end_stamps_and_logs_only_the_conversations_own_session() {
    let t = two_conversations();
    let old = last_updated(&t.one);
    let two_before = read_bytes(&t.two);
    let one_before = read_bytes(&t.one);
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let out = hook_fixture(&t.repo, "session-end", "claude-session-end.json", "conv-1");
    out.ok().no_panic();
    assert_eq!(out.stdout, "", "SessionEnd output is discarded\n{out}");
    let added = appended(&one_before, &read_bytes(&t.one));
    assert!(
        added.contains("Conversation ended (prompt_input_exit).\n"),
        "{added}"
    );
    let stamped = last_updated(&t.one);
    assert!(
        stamped > old && stamped >= started.with_nanosecond_zero(),
        "{stamped}"
    );
    assert_eq!(read_bytes(&t.two), two_before);

    let one_now = read_bytes(&t.one);
    hook_fixture(
        &t.repo,
        "session-end",
        "claude-session-end-clear.json",
        "conv-2",
    )
    .ok();
    let added = appended(&two_before, &read_bytes(&t.two));
    assert!(added.contains("Conversation ended (clear).\n"), "{added}");
    assert_eq!(read_bytes(&t.one), one_now);
}

trait ZeroNanos {
    fn with_nanosecond_zero(self) -> Self;
}

impl ZeroNanos for chrono::DateTime<chrono::Utc> {
    fn with_nanosecond_zero(self) -> Self {
        chrono::Timelike::with_nanosecond(&self, 0).unwrap()
    }
}

#[test]
fn an_unbound_conversation_writes_nothing() {
    let t = two_conversations();
    let before = snapshot(&t.repo);
    let files = t.repo.files();
    for (event, file) in [
        ("pre-compact", "claude-pre-compact-auto.json"),
        ("pre-compact", "codex-pre-compact.json"),
        ("pre-compact", "gemini-pre-compress.json"),
        ("session-end", "claude-session-end.json"),
        ("session-end", "codex-session-end.json"),
        ("session-end", "gemini-session-end.json"),
    ] {
        let out = hook_fixture(&t.repo, event, file, "conv-nobody");
        out.ok();
        assert_eq!(out.stdout, "", "{file}: {out}");
        assert_eq!(out.stderr, "", "{file}: {out}");
    }
    assert_eq!(
        snapshot(&t.repo),
        before,
        "every session file byte-identical"
    );
    assert_eq!(t.repo.files(), files, "no file created or removed");
}

#[test]
fn codex_and_gemini_payloads_route_by_their_session_id() {
    let t = two_conversations();
    for (event, file, want) in [
        (
            "pre-compact",
            "codex-pre-compact.json",
            "Context compacted (auto).",
        ),
        (
            "session-end",
            "codex-session-end.json",
            "Conversation ended (other).",
        ),
        (
            "session-end",
            "gemini-session-end.json",
            "Conversation ended (exit).",
        ),
    ] {
        let two_before = read_bytes(&t.two);
        let one_before = read_bytes(&t.one);
        // As installed: `--agent codex|gemini` (Codex's PreCompact is logged at once).
        let agent = &file[..file.find('-').unwrap()];
        hook(
            &t.repo,
            event,
            &["--agent", agent],
            payload(file, t.repo.root(), "conv-2"),
        )
        .ok();
        let added = appended(&two_before, &read_bytes(&t.two));
        assert!(added.contains(want), "{file}: {added}");
        assert_eq!(read_bytes(&t.one), one_before, "{file}");
    }
}

#[test]
fn hook_writes_keep_crlf_line_endings() {
    let repo = TestRepo::init();
    let text = Spec::new("Crlf work", "in_progress", mins(5), "t")
        .text()
        .replace('\n', "\r\n");
    repo.session("20250101-000000-crlf.md", &text);
    bind(&repo, "20250101-000000-crlf", "conv-CR");
    hook_fixture(
        &repo,
        "pre-compact",
        "claude-pre-compact-auto.json",
        "conv-CR",
    )
    .ok();
    compacted(&repo, "conv-CR");
    hook_fixture(&repo, "session-end", "claude-session-end.json", "conv-CR").ok();
    let after = repo.read(".agents/sessions/20250101-000000-crlf.md");
    assert!(after.contains("Context compacted (auto).\r\n"), "{after:?}");
    assert!(
        after.contains("Conversation ended (prompt_input_exit).\r\n"),
        "{after:?}"
    );
    assert_eq!(
        after.matches('\n').count(),
        after.matches("\r\n").count(),
        "no bare LF: {after:?}"
    );
}

#[test]
fn session_end_reports_leftovers_on_stderr() {
    let repo = TestRepo::init();
    new_bound(&repo, "Unfinished work", "conv-L");
    let out = hook_fixture(&repo, "session-end", "claude-session-end.json", "conv-L");
    out.ok().no_panic();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one line for the person\n{out}"
    );
    assert!(out.stderr.contains("still in progress"), "{out}");
    assert!(out.stderr.contains("Next Steps is empty"), "{out}");
    assert!(
        out.stderr.contains("unfinished-work.md"),
        "names the file\n{out}"
    );

    // A paused session with next steps leaves nothing to report.
    let mut done = Spec::new("Tidy work", "paused", mins(5), "t");
    done.next = "- [ ] pick up review comments";
    let stem = done.write(&repo, "2025-01-01T00:00:00Z", "tidy");
    run(&repo, &["resume", &stem, "--conversation", "conv-T"]).ok();
    run(&repo, &["pause", &stem]).ok();
    let out = hook_fixture(&repo, "session-end", "claude-session-end.json", "conv-T");
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr, "", "{out}");
}

#[test]
fn session_end_counts_running_agents_as_leftovers() {
    let repo = TestRepo::init();
    let mut s = Spec::new("Agents work", "in_progress", mins(5), "t");
    s.agents = "  spawned_agents:\n    - agent: backend-dev\n      task: \"x\"\n      status: in_progress\n";
    let stem = s.write(&repo, "2025-01-01T00:00:00Z", "agents");
    bind(&repo, &stem, "conv-G");
    let out = hook_fixture(&repo, "session-end", "claude-session-end.json", "conv-G");
    out.ok();
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    assert!(
        out.stderr.contains("1 background agent(s) still running"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Never break the agent

const EVENTS: [&str; 3] = ["session-start", "session-end", "pre-compact"];

#[test]
fn bad_stdin_never_breaks_the_agent() {
    let repo = listing_repo();
    let inputs: [(&str, Vec<u8>); 6] = [
        ("garbage", fixture("garbage.txt")),
        ("empty", fixture("empty.json")),
        ("array", b"[{\"session_id\":\"x\"}]".to_vec()),
        ("null", b"null".to_vec()),
        ("truncated", b"{\"session_id\":".to_vec()),
        ("binary", vec![0xff, 0xfe, 0x00, 0x01]),
    ];
    for event in EVENTS {
        for (what, bytes) in &inputs {
            // Started in the repository, as agents start hooks.
            let mut cmd = sessions_in(&repo, repo.root());
            cmd.args(["hook", event]).write_stdin(bytes.clone());
            let out = common::run(&mut cmd);
            survives(&out, 1);
            assert_eq!(
                out.stderr.lines().count(),
                1,
                "{event} {what}: says why\n{out}"
            );
            if event != "session-start" {
                assert_eq!(out.stdout, "", "{event} {what}");
            }
        }
    }
}

#[test]
fn bad_stdin_injects_nothing() {
    // SPEC §6: "Any bad stdin …: exit 0, nothing injected, one line on stderr". The hook says
    // "nothing to do" on stderr but then lists the sessions of whatever directory it runs in.
    let repo = listing_repo();
    for (what, bytes) in [
        ("garbage", fixture("garbage.txt")),
        ("empty", fixture("empty.json")),
        ("array", b"[1,2]".to_vec()),
    ] {
        let mut cmd = sessions_in(&repo, repo.root());
        cmd.args(["hook", "session-start"]).write_stdin(bytes);
        let out = common::run(&mut cmd);
        out.ok();
        assert_eq!(out.stdout, "", "{what}: nothing injected\n{out}");
    }
}

#[test]
fn unknown_hook_arguments_never_exit_2() {
    // `.claude/settings.json` is committed, so a teammate's older `sessions` meets the flags and
    // events a newer one installed. clap answers with exit 2 and a multi-line usage message;
    // for PreCompact exit 2 blocks compaction (HOOKS.md), which SPEC §6 forbids.
    let repo = listing_repo();
    for args in [
        &["hook", "pre-compact", "--agent", "cursor"][..],
        &["hook", "pre-compact", "--future-flag"],
        &["hook", "session-start", "--format", "markdown"],
        &["hook", "stop"],
        // Behind the global options, too.
        &["--color", "never", "hook", "pre-compact", "--future-flag"],
        &["--conversation=c", "hook", "stop"],
    ] {
        let mut cmd = sessions_in(&repo, repo.root());
        cmd.args(args)
            .write_stdin(payload("claude-pre-compact-auto.json", repo.root(), "c"));
        let out = common::run(&mut cmd);
        assert_ne!(out.code, 2, "{args:?}\n{out}");
        survives(&out, 1);
    }
}

#[test]
fn a_repository_without_agents_dir_is_silent() {
    let repo = TestRepo::new();
    let mut runs: Vec<(&str, String)> = SOURCES
        .iter()
        .map(|s| ("session-start", start_fixture(s)))
        .collect();
    runs.push(("session-end", "claude-session-end.json".into()));
    runs.push(("pre-compact", "claude-pre-compact-auto.json".into()));
    for (event, file) in &runs {
        let out = hook_fixture(&repo, event, file, "c");
        survives(&out, 1);
    }
    assert!(
        repo.files().is_empty(),
        "nothing created: {:?}",
        repo.files()
    );
}

#[test]
fn a_payload_cwd_that_does_not_exist_is_tolerated() {
    let repo = TestRepo::init();
    for event in EVENTS {
        let out = hook(
            &repo,
            event,
            &[],
            payload(
                "claude-session-start-startup.json",
                Path::new("/no/such/dir"),
                "c",
            ),
        );
        survives(&out, 1);
    }
}

#[test]
fn unreadable_and_invalid_session_files_do_not_break_the_listing() {
    let repo = listing_repo();
    repo.session("20240101-000000-not-utf8.md", b"\xff\xfe\x00 bad bytes");
    repo.session("20240102-000000-no-frontmatter.md", "just text\n");
    repo.session("20240103-000000-bad-yaml.md", "---\nsession: [oops\n---\n");
    std::os::unix::fs::symlink(
        "missing-target.md",
        repo.sessions_dir().join("20240104-000000-dangling.md"),
    )
    .unwrap();
    std::os::unix::fs::symlink(".", repo.sessions_dir().join("20240105-000000-dir.md")).unwrap();
    let out = hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-startup.json",
        "c",
    );
    survives(&out, 5);
    let text = context(&out);
    assert!(
        text.contains("Alpha fallback chain"),
        "the good ones still listed: {text}"
    );
}

#[test]
fn a_bound_session_that_cannot_be_read_gives_one_stderr_line() {
    let repo = listing_repo();
    let stem = "20240101-000000-not-utf8";
    repo.session(&format!("{stem}.md"), b"\xff\xfe\x00 bad bytes");
    repo.write(
        &binding_rel("conv-X"),
        format!(
            "{{\"conversation\":\"conv-X\",\"session\":\".agents/sessions/{stem}.md\",\"bound_at\":\"{CREATED}\"}}"
        ),
    );
    let before = snapshot(&repo);
    for (event, file) in [
        ("session-start", "claude-session-start-compact.json"),
        ("pre-compact", "claude-pre-compact-auto.json"),
        ("session-end", "claude-session-end.json"),
    ] {
        let out = hook_fixture(&repo, event, file, "conv-X");
        survives(&out, 1);
        // Claude's PreCompact only leaves a marker (logged at SessionStart(compact)).
        if event != "pre-compact" {
            assert!(out.stderr.contains("not-utf8.md"), "names the file\n{out}");
        }
    }
    assert_eq!(snapshot(&repo), before, "nothing rewritten");
}

#[test]
fn a_corrupt_binding_file_is_treated_as_unbound() {
    let repo = listing_repo();
    repo.write(&binding_rel("conv-Y"), "{not json");
    let before = snapshot(&repo);
    for (event, file) in [
        ("session-start", "claude-session-start-compact.json"),
        ("pre-compact", "claude-pre-compact-auto.json"),
        ("session-end", "claude-session-end.json"),
    ] {
        let out = hook_fixture(&repo, event, file, "conv-Y");
        survives(&out, 1);
    }
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn a_malformed_config_never_breaks_the_agent() {
    let repo = listing_repo();
    new_bound(&repo, "Zulu bound work", "conv-C");
    repo.write(".agents/config.yaml", "stale_after: [oops\n  x: :\n");
    let before = snapshot(&repo);
    for source in SOURCES {
        let out = hook_fixture(&repo, "session-start", &start_fixture(source), "conv-C");
        survives(&out, 1);
        if !out.stderr.is_empty() {
            assert!(out.stderr.contains("config.yaml"), "names the file\n{out}");
        }
    }
    repo.write(".agents/config.yaml", "stale_after: forever\n");
    let out = hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-startup.json",
        "c",
    );
    survives(&out, 1);
    for (event, file) in [
        ("pre-compact", "claude-pre-compact-auto.json"),
        ("session-end", "claude-session-end.json"),
    ] {
        survives(&hook_fixture(&repo, event, file, "conv-C"), 1);
    }
    assert_ne!(snapshot(&repo), before, "writes do not need the config");
}

#[test]
fn a_deleted_bound_session_is_treated_as_unbound() {
    let repo = listing_repo();
    let path = new_bound(&repo, "Zulu bound work", "conv-D");
    fs::remove_file(repo.path(&path)).unwrap();
    let before = snapshot(&repo);
    let files = repo.files();
    let out = hook_fixture(
        &repo,
        "session-start",
        "claude-session-start-compact.json",
        "conv-D",
    );
    survives(&out, 1);
    let text = context(&out);
    assert!(!text.contains("Zulu"), "{text}");
    assert!(text.contains("Alpha fallback chain"), "{text}");
    for (event, file) in [
        ("pre-compact", "claude-pre-compact-auto.json"),
        ("session-end", "claude-session-end.json"),
    ] {
        let out = hook_fixture(&repo, event, file, "conv-D");
        survives(&out, 1);
        assert_eq!(out.stdout, "");
    }
    assert_eq!(snapshot(&repo), before);
    assert_eq!(repo.files(), files, "the deleted file is not recreated");
}

/// Holds an exclusive `flock` on `lock` for `secs` seconds in a child process; returns once the
/// lock is held.
pub(crate) fn hold_lock(lock: &Path, secs: u32) -> std::process::Child {
    use std::io::BufRead;
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    // --no-fork: the holder is the one process the test kills, and nothing it started keeps
    // the lock (or the test's output pipe) open after that.
    let mut child = Command::new("flock")
        .args(["-x", "--no-fork"])
        .arg(lock)
        .args(["-c", &format!("echo locked; exec sleep {secs}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("flock(1) is installed");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "locked\n");
    child
}

#[test]
fn a_held_lock_does_not_hold_up_the_hook() {
    let repo = listing_repo();
    let path = new_bound(&repo, "Zulu bound work", "conv-K");
    let name = Path::new(&path)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // Held until the hooks are done: a hook that waited for the lock would hang (and fail at
    // the harness's hang guard) instead of giving up within its budget.
    let mut holder = hold_lock(&repo.path(&format!(".agents/state/locks/{name}.lock")), 600);
    let before = snapshot(&repo);
    for (event, file) in [
        ("pre-compact", "claude-pre-compact-auto.json"),
        ("session-end", "claude-session-end.json"),
        ("session-start", "claude-session-start-compact.json"),
    ] {
        let out = hook_fixture(&repo, event, file, "conv-K");
        survives(&out, 1);
        // Claude's PreCompact only leaves a marker (logged at SessionStart(compact)).
        if event == "session-end" {
            assert!(out.stderr.contains("lock"), "says why\n{out}");
        }
    }
    assert_eq!(snapshot(&repo), before, "nothing written without the lock");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Linked git worktrees

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .sealed()
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sessions ARGS` in `dir` (not a TestRepo).
fn sessions_at(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = assert_cmd::Command::new(BIN);
    cmd.sealed();
    cmd.current_dir(dir).args(args).env("NO_COLOR", "1");
    for var in AGENT_VARS {
        cmd.env_remove(var);
    }
    common::run(&mut cmd)
}

fn hook_at(event: &str, stdin: String) -> Output {
    let away = elsewhere();
    let mut cmd = assert_cmd::Command::new(BIN);
    cmd.sealed();
    cmd.current_dir(away.path())
        .args(["hook", event])
        .write_stdin(stdin)
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60));
    for var in AGENT_VARS {
        cmd.env_remove(var);
    }
    common::run(&mut cmd)
}

#[test]
fn a_linked_worktree_uses_the_main_checkouts_agents_dir() {
    let top = tempfile::tempdir().unwrap();
    let main = top.path().join("main");
    fs::create_dir(&main).unwrap();
    git(&main, &["init", "-q"]);
    sessions_at(&main, &["init"]).ok();
    let created = sessions_at(&main, &["new", "Committed work"]);
    created.ok();
    let rel = created.stdout.trim().to_string();
    git(&main, &["add", "-A"]);
    git(&main, &["commit", "-qm", "sessions"]);
    let wt = top.path().join("wt");
    git(
        &main,
        &[
            "worktree",
            "add",
            "-q",
            wt.to_str().unwrap(),
            "-b",
            "feature",
        ],
    );
    assert!(wt.join(".git").is_file(), "a linked worktree");
    assert!(wt.join(&rel).is_file(), "the committed session is there");

    // The main checkout moves on without committing; the worktree's copy is the branch's
    // snapshot, and the sessions are the main checkout's (issue 17, docs/worktrees.md).
    let main_file = main.join(&rel);
    let changed = fs::read_to_string(&main_file)
        .unwrap()
        .replace("title: \"Committed work\"", "title: \"Main only\"");
    fs::write(&main_file, &changed).unwrap();
    let copy = fs::read_to_string(wt.join(&rel)).unwrap();

    let sub = wt.join("src/deep");
    fs::create_dir_all(&sub).unwrap();
    for cwd in [&wt, &sub] {
        let text = context(&hook_at(
            "session-start",
            payload("claude-session-start-startup.json", cwd, "conv-W"),
        ));
        assert!(text.contains("\"Main only\""), "{}: {text}", cwd.display());
        assert!(!text.contains("\"Committed work\""), "{text}");
    }

    // A conversation bound inside the worktree is bound in, and writes to, the main checkout.
    let stem = Path::new(&rel)
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    sessions_at(&wt, &["resume", &stem, "--conversation", "conv-W"]).ok();
    assert!(main.join(binding_rel("conv-W")).is_file());
    assert!(!wt.join(binding_rel("conv-W")).exists());
    let out = hook_at(
        "pre-compact",
        payload("claude-pre-compact-auto.json", &wt, "conv-W"),
    );
    out.ok();
    assert_eq!(out.stderr, "", "{out}");
    hook_at(
        "session-start",
        payload("claude-session-start-compact.json", &wt, "conv-W"),
    )
    .ok();
    assert!(
        fs::read_to_string(&main_file)
            .unwrap()
            .contains("Context compacted (auto).")
    );
    assert_eq!(
        fs::read_to_string(wt.join(&rel)).unwrap(),
        copy,
        "the worktree's copy untouched"
    );
    let text = context(&hook_at(
        "session-start",
        payload("claude-session-start-compact.json", &wt, "conv-W"),
    ));
    assert!(text.starts_with("This conversation works in the session \"Main only\""));
}

#[test]
fn a_linked_worktree_without_agents_dir_does_not_crash() {
    let top = tempfile::tempdir().unwrap();
    let main = top.path().join("main");
    fs::create_dir(&main).unwrap();
    git(&main, &["init", "-q"]);
    fs::write(main.join("README.md"), "hi\n").unwrap();
    git(&main, &["add", "-A"]);
    git(&main, &["commit", "-qm", "first"]);
    git(&main, &["tag", "before-sessions"]);
    sessions_at(&main, &["init"]).ok();
    sessions_at(&main, &["new", "Main work", "--conversation", "conv-M"]).ok();
    git(&main, &["add", "-A"]);
    git(&main, &["commit", "-qm", "sessions"]);
    let wt = top.path().join("wt");
    git(
        &main,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            wt.to_str().unwrap(),
            "before-sessions",
        ],
    );
    assert!(!wt.join(".agents").exists());

    for (event, file) in [
        ("session-start", "claude-session-start-startup.json"),
        ("session-start", "claude-session-start-compact.json"),
        ("pre-compact", "claude-pre-compact-auto.json"),
        ("session-end", "claude-session-end.json"),
    ] {
        let out = hook_at(event, payload(file, &wt, "conv-M"));
        survives(&out, 1);
    }
    assert!(
        !wt.join(".agents").exists(),
        "nothing created in the worktree"
    );
}

// ---------------------------------------------------------------------------------------------
// hooks install / uninstall

fn settings(repo: &TestRepo, rel: &str) -> Value {
    serde_json::from_str(&repo.read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Our entries as (event, command, timeout), in file order.
fn ours(v: &Value) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for (event, groups) in v["hooks"].as_object().expect("hooks object") {
        for group in groups.as_array().expect("array") {
            for h in group["hooks"].as_array().expect("hooks array") {
                let cmd = h["command"].as_str().unwrap_or_default();
                if cmd.starts_with("sessions hook ") {
                    assert_eq!(h["type"], "command", "{h}");
                    out.push((
                        event.clone(),
                        cmd.to_string(),
                        h["timeout"].as_u64().unwrap(),
                    ));
                }
            }
        }
    }
    out
}

fn triples(rows: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
    rows.iter()
        .map(|(e, c, t)| (e.to_string(), c.to_string(), *t))
        .collect()
}

#[test]
fn install_creates_missing_claude_settings_with_second_timeouts() {
    let repo = TestRepo::init();
    let out = run(&repo, &["hooks", "install"]);
    out.ok().no_panic();
    assert!(out.stdout.contains("installed hooks in"), "{out}");
    assert!(out.stdout.contains(".claude/settings.json"), "{out}");
    let v = settings(&repo, ".claude/settings.json");
    assert_eq!(
        ours(&v),
        triples(&[
            ("SessionStart", "sessions hook session-start", 10),
            ("SubagentStart", "sessions hook subagent-start", 10),
            ("SubagentStop", "sessions hook subagent-stop", 10),
            ("SessionEnd", "sessions hook session-end", 5),
            ("PreCompact", "sessions hook pre-compact", 10),
            ("UserPromptSubmit", "sessions hook turn", 5),
            ("PermissionRequest", "sessions hook turn", 5),
            ("PostToolUse", "sessions hook turn", 5),
            ("Notification", "sessions hook turn", 5),
            ("Stop", "sessions hook turn", 5),
        ])
    );
    assert_eq!(v.as_object().unwrap().len(), 1, "only `hooks`: {v:#}");
    assert!(!repo.path(".claude/settings.local.json").exists());
}

const USER_SETTINGS: &str = r#"{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "permissions": {
    "allow": [
      "Bash(cargo test:*)"
    ],
    "deny": []
  },
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          {
            "type": "command",
            "command": "./scripts/guard.sh",
            "timeout": 20,
            "statusMessage": "Checking"
          }
        ]
      }
    ],
    "SessionStart": [
      {
        "matcher": "startup|resume",
        "hooks": [
          {
            "type": "command",
            "command": "echo hello",
            "timeout": 3
          }
        ]
      }
    ]
  },
  "env": {
    "RUST_LOG": "info"
  },
  "model": "opus",
  "zzz_custom": {
    "b": 1,
    "a": [
      true,
      null
    ]
  }
}
"#;

#[test]
fn install_keeps_user_hooks_and_custom_keys_in_order() {
    let repo = TestRepo::init();
    repo.write(".claude/settings.json", USER_SETTINGS);
    run(&repo, &["hooks", "install"]).ok();
    let text = repo.read(".claude/settings.json");
    let v: Value = serde_json::from_str(&text).unwrap();
    let user: Value = serde_json::from_str(USER_SETTINGS).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "$schema",
            "permissions",
            "hooks",
            "env",
            "model",
            "zzz_custom"
        ],
        "top-level order kept"
    );
    for key in ["$schema", "permissions", "env", "model", "zzz_custom"] {
        assert_eq!(v[key], user[key], "{key} kept");
    }
    let zzz: Vec<_> = v["zzz_custom"].as_object().unwrap().keys().collect();
    assert_eq!(zzz, ["b", "a"], "nested order kept");
    assert_eq!(v["hooks"]["PreToolUse"], user["hooks"]["PreToolUse"]);
    let events: Vec<_> = v["hooks"].as_object().unwrap().keys().collect();
    assert_eq!(events[..2], ["PreToolUse", "SessionStart"], "{events:?}");
    let start = v["hooks"]["SessionStart"].as_array().unwrap();
    assert_eq!(
        start[0], user["hooks"]["SessionStart"][0],
        "user group first, intact"
    );
    assert_eq!(ours(&v).len(), 10, "{v:#}");
}

/// Sets `path`'s mtime well in the past so a rewrite would show.
fn age_mtime(path: &Path) -> SystemTime {
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn install_is_idempotent_for_every_agent() {
    for (agent, rel) in [
        ("claude", ".claude/settings.json"),
        ("codex", ".codex/hooks.json"),
        ("gemini", ".gemini/settings.json"),
    ] {
        let repo = TestRepo::init();
        if agent == "claude" {
            repo.write(rel, USER_SETTINGS);
        }
        run(&repo, &["hooks", "install", "--agent", agent]).ok();
        let path = repo.path(rel);
        let bytes = read_bytes(&path);
        let mtime = age_mtime(&path);
        let out = run(&repo, &["hooks", "install", "--agent", agent]);
        out.ok();
        assert!(out.stdout.contains("already up to date"), "{agent}: {out}");
        assert_eq!(read_bytes(&path), bytes, "{agent}");
        assert_eq!(
            fs::metadata(&path).unwrap().modified().unwrap(),
            mtime,
            "{agent}"
        );
        let dry = run(&repo, &["hooks", "install", "--agent", agent, "--dry-run"]);
        dry.ok();
        assert!(dry.stdout.contains("already up to date"), "{agent}: {dry}");
    }
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let repo = TestRepo::init();
    let out = run(&repo, &["hooks", "install", "--dry-run"]);
    out.ok();
    assert!(out.stdout.contains("--- /dev/null"), "{out}");
    assert!(out.stdout.contains("+++ "), "{out}");
    assert!(
        out.stdout
            .contains("+            \"command\": \"sessions hook session-start\""),
        "{out}"
    );
    assert!(!repo.path(".claude").exists(), "nothing written");

    let path = repo.write(".claude/settings.json", USER_SETTINGS);
    let mtime = age_mtime(&path);
    let out = run(&repo, &["hooks", "install", "--dry-run"]);
    out.ok();
    assert!(out.stdout.contains("settings.json"), "{out}");
    assert!(out.stdout.contains("@@"), "{out}");
    assert!(
        out.stdout.contains("+") && out.stdout.contains("sessions hook pre-compact"),
        "{out}"
    );
    assert_eq!(repo.read(".claude/settings.json"), USER_SETTINGS);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
}

#[test]
fn local_writes_settings_local_json_only() {
    let repo = TestRepo::init();
    repo.write(".claude/settings.json", USER_SETTINGS);
    let out = run(&repo, &["hooks", "install", "--local"]);
    out.ok();
    assert!(out.stdout.contains("settings.local.json"), "{out}");
    assert_eq!(repo.read(".claude/settings.json"), USER_SETTINGS);
    assert_eq!(
        ours(&settings(&repo, ".claude/settings.local.json")).len(),
        10
    );

    for agent in ["codex", "gemini"] {
        let out = run(&repo, &["hooks", "install", "--agent", agent, "--local"]);
        out.code(2).no_panic();
        assert!(out.stderr.contains("--local"), "{out}");
    }
    assert!(!repo.path(".codex").exists() && !repo.path(".gemini").exists());
}

#[test]
fn a_malformed_settings_file_is_refused_and_left_untouched() {
    let repo = TestRepo::init();
    for (rel, args) in [
        (".claude/settings.json", vec!["hooks", "install"]),
        (".claude/settings.json", vec!["hooks", "uninstall"]),
        (
            ".claude/settings.local.json",
            vec!["hooks", "install", "--local"],
        ),
        (
            ".gemini/settings.json",
            vec!["hooks", "install", "--agent", "gemini"],
        ),
        (
            ".codex/hooks.json",
            vec!["hooks", "install", "--agent", "codex"],
        ),
    ] {
        let bad = "{\n  \"model\": \"opus\",\n  \"hooks\": {\n}\n";
        let path = repo.write(rel, bad);
        let mtime = age_mtime(&path);
        let out = run(&repo, &args);
        out.code(2).no_panic();
        assert!(out.stderr.contains(rel), "names the file\n{out}");
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out}");
        assert_eq!(repo.read(rel), bad, "{rel}");
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    }
    // Valid JSON of the wrong shape is refused too.
    for bad in [
        "[1, 2]\n",
        "{\"hooks\": []}\n",
        "{\"hooks\": {\"SessionStart\": {}}}\n",
    ] {
        repo.write(".claude/settings.json", bad);
        let out = run(&repo, &["hooks", "install"]);
        out.code(2).no_panic();
        assert!(out.stderr.contains(".claude/settings.json"), "{out}");
        assert_eq!(repo.read(".claude/settings.json"), bad);
    }
}

#[test]
fn install_keeps_the_files_indentation_and_line_endings() {
    let repo = TestRepo::init();
    let user = "{\r\n\t\"model\": \"opus\"\r\n}\r\n";
    repo.write(".claude/settings.json", user);
    run(&repo, &["hooks", "install"]).ok();
    let text = repo.read(".claude/settings.json");
    assert!(
        text.starts_with("{\r\n\t\"model\": \"opus\",\r\n\t\"hooks\": {\r\n\t\t"),
        "{text:?}"
    );
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "{text:?}"
    );
    run(&repo, &["hooks", "uninstall"]).ok();
    assert_eq!(repo.read(".claude/settings.json"), user);
}

#[test]
fn gemini_gets_precompress_and_millisecond_timeouts() {
    let repo = TestRepo::init();
    let out = run(&repo, &["hooks", "install", "--agent", "gemini"]);
    out.ok();
    assert!(out.stdout.contains(".gemini/settings.json"), "{out}");
    assert!(out.stdout.contains("milliseconds"), "{out}");
    let v = settings(&repo, ".gemini/settings.json");
    assert_eq!(
        ours(&v),
        triples(&[
            (
                "SessionStart",
                "sessions hook session-start --agent gemini",
                10000
            ),
            (
                "SessionEnd",
                "sessions hook session-end --agent gemini",
                5000
            ),
            (
                "PreCompress",
                "sessions hook pre-compact --agent gemini",
                10000
            ),
            ("BeforeAgent", "sessions hook turn --agent gemini", 5000),
            ("Notification", "sessions hook turn --agent gemini", 5000),
            ("AfterAgent", "sessions hook turn --agent gemini", 5000),
        ])
    );
    assert!(v["hooks"].get("PreCompact").is_none(), "{v:#}");
    assert!(!repo.path(".claude").exists());
}

#[test]
fn codex_gets_hooks_json_and_the_trust_gate_note() {
    let repo = TestRepo::init();
    let out = run(&repo, &["hooks", "install", "--agent", "codex"]);
    out.ok();
    assert!(out.stdout.contains(".codex/hooks.json"), "{out}");
    assert!(out.stdout.contains("`/hooks`"), "the trust gate: {out}");
    assert!(out.stdout.contains("approve"), "{out}");
    let v = settings(&repo, ".codex/hooks.json");
    assert_eq!(
        ours(&v),
        triples(&[
            (
                "SessionStart",
                "sessions hook session-start --agent codex",
                10
            ),
            (
                "SubagentStart",
                "sessions hook subagent-start --agent codex",
                10
            ),
            (
                "SubagentStop",
                "sessions hook subagent-stop --agent codex",
                10
            ),
            ("SessionEnd", "sessions hook session-end --agent codex", 3),
            ("PreCompact", "sessions hook pre-compact --agent codex", 10),
            ("Stop", "sessions hook turn --agent codex", 5),
        ])
    );
    assert!(!repo.path(".claude").exists());
}

#[test]
fn uninstall_removes_only_ours() {
    let repo = TestRepo::init();
    let path = repo.write(".claude/settings.json", USER_SETTINGS);
    run(&repo, &["hooks", "install"]).ok();
    assert_ne!(repo.read(".claude/settings.json"), USER_SETTINGS);
    let out = run(&repo, &["hooks", "uninstall"]);
    out.ok();
    assert!(out.stdout.contains("removed our hooks from"), "{out}");
    assert_eq!(
        repo.read(".claude/settings.json"),
        USER_SETTINGS,
        "back to the user's bytes"
    );
    let mtime = age_mtime(&path);
    let out = run(&repo, &["hooks", "uninstall"]);
    assert!(out.stdout.contains("already up to date"), "{out}");
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);

    // Our hooks alone: uninstall leaves no empty `hooks` behind and creates nothing new.
    let fresh = TestRepo::init();
    run(&fresh, &["hooks", "install", "--agent", "gemini"]).ok();
    run(&fresh, &["hooks", "uninstall", "--agent", "gemini"]).ok();
    assert_eq!(
        settings(&fresh, ".gemini/settings.json"),
        serde_json::json!({})
    );
    run(&fresh, &["hooks", "uninstall"]).ok();
    assert!(!fresh.path(".claude").exists(), "uninstall creates no file");
}

#[test]
fn reinstall_updates_our_entry_in_place_keeping_extra_fields() {
    let repo = TestRepo::init();
    repo.write(
        ".claude/settings.json",
        r#"{
  "hooks": {
    "SessionStart": [
      {
        "matcher": "startup",
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook session-start",
            "timeout": 99,
            "statusMessage": "Listing sessions"
          }
        ]
      }
    ]
  }
}
"#,
    );
    run(&repo, &["hooks", "install"]).ok();
    let v = settings(&repo, ".claude/settings.json");
    let groups = v["hooks"]["SessionStart"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "updated in place, not duplicated: {v:#}");
    assert_eq!(
        groups[0]["matcher"], "startup",
        "the user's matcher is kept"
    );
    let entry = &groups[0]["hooks"][0];
    assert_eq!(entry["timeout"], 10);
    assert_eq!(entry["statusMessage"], "Listing sessions");
}

// ---------------------------------------------------------------------------------------------
// An installed command string actually works

/// The installed command for `event`, with its leading `sessions` replaced by the built binary.
fn installed_command(v: &Value, event: &str) -> Command {
    let cmd = v["hooks"][event]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["hooks"].as_array().into_iter().flatten())
        .filter_map(|h| h["command"].as_str())
        .find(|c| c.starts_with("sessions hook "))
        .unwrap_or_else(|| panic!("no {event} command in {v:#}"));
    let mut words = cmd.split_whitespace();
    assert_eq!(words.next(), Some("sessions"));
    let mut c = Command::new(BIN);
    c.sealed();
    c.args(words);
    for var in AGENT_VARS {
        c.env_remove(var);
    }
    c
}

fn run_installed(mut c: Command, dir: &Path, stdin: String) -> Output {
    use std::io::Write;
    let mut child = c
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Output {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

#[test]
fn installed_commands_run_end_to_end() {
    for (agent, rel, start, compact, end, compact_event) in [
        (
            "claude",
            ".claude/settings.json",
            "claude-session-start-compact.json",
            "claude-pre-compact-auto.json",
            "claude-session-end.json",
            "PreCompact",
        ),
        (
            "codex",
            ".codex/hooks.json",
            "codex-session-start-startup.json",
            "codex-pre-compact.json",
            "codex-session-end.json",
            "PreCompact",
        ),
        (
            "gemini",
            ".gemini/settings.json",
            "gemini-session-start-startup.json",
            "gemini-pre-compress.json",
            "gemini-session-end.json",
            "PreCompress",
        ),
    ] {
        let repo = listing_repo();
        let bound = new_bound(&repo, "Zulu bound work", "conv-I");
        run(&repo, &["hooks", "install", "--agent", agent]).ok();
        let v = settings(&repo, rel);

        let out = run_installed(
            installed_command(&v, "SessionStart"),
            repo.root(),
            payload(start, repo.root(), "conv-I"),
        );
        let text = context(&out);
        assert!(text.starts_with("This conversation works in the session \"Zulu bound work\""));
        assert!(text.contains("Alpha fallback chain"), "{agent}: {text}");

        let out = run_installed(
            installed_command(&v, compact_event),
            repo.root(),
            payload(compact, repo.root(), "conv-I"),
        );
        out.ok();
        assert_eq!(out.stdout, "", "{agent}: {out}");
        // Claude's PreCompact is confirmed by the SessionStart(compact) that follows it.
        run_installed(
            installed_command(&v, "SessionStart"),
            repo.root(),
            payload(start, repo.root(), "conv-I"),
        )
        .ok();
        let out = run_installed(
            installed_command(&v, "SessionEnd"),
            repo.root(),
            payload(end, repo.root(), "conv-I"),
        );
        out.ok();
        assert_eq!(out.stdout, "", "{agent}: {out}");
        let text = repo.read(&bound);
        // Gemini fires PreCompress before every turn: it proves no compaction.
        assert_eq!(
            text.contains("Context compacted (auto)."),
            agent != "gemini",
            "{agent}: {text}"
        );
        assert!(text.contains("Conversation ended ("), "{agent}: {text}");
    }
}

#[test]
fn installed_hooks_log_under_the_calling_agents_name() {
    // `hooks install --agent gemini|codex` writes `sessions hook session-end` and
    // `sessions hook pre-compact` without `--agent`, so their Session Log entries are
    // attributed to `[claude]` although Gemini or Codex ended or compacted the conversation.
    for (agent, rel, compact, end, compact_event) in [
        (
            "codex",
            ".codex/hooks.json",
            "codex-pre-compact.json",
            "codex-session-end.json",
            "PreCompact",
        ),
        (
            "gemini",
            ".gemini/settings.json",
            "gemini-pre-compress.json",
            "gemini-session-end.json",
            "PreCompress",
        ),
    ] {
        let repo = TestRepo::init();
        let bound = new_bound(&repo, "Zulu bound work", "conv-I");
        run(&repo, &["hooks", "install", "--agent", agent]).ok();
        let v = settings(&repo, rel);
        for (event, file) in [(compact_event, compact), ("SessionEnd", end)] {
            run_installed(
                installed_command(&v, event),
                repo.root(),
                payload(file, repo.root(), "conv-I"),
            )
            .ok();
        }
        let text = repo.read(&bound);
        assert!(
            !text.contains("- [claude"),
            "{agent}: entries attributed to claude:\n{text}"
        );
        // Gemini's PreCompress is no proof of a compaction, so it logs nothing.
        let want = if agent == "gemini" { 1 } else { 2 };
        assert_eq!(
            text.matches(&format!("- [{agent} hook]")).count(),
            want,
            "{text}"
        );
    }
}

/// Where the binding of conversation `id` lives, relative to the repository root.
fn binding_rel(id: &str) -> String {
    let repo = sessions::store::Repo::at(PathBuf::new());
    sessions::binding::binding_path(&repo, id)
        .display()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// hooks install --instructions: teaching the agent when to write

const BEGIN: &str = "<!-- sessions:begin -->";
const END: &str = "<!-- sessions:end -->";

#[test]
fn instructions_block_is_added_once_and_removed_to_the_byte() {
    for (agent, file) in [
        ("claude", "CLAUDE.md"),
        ("codex", "AGENTS.md"),
        ("gemini", "GEMINI.md"),
    ] {
        let repo = TestRepo::init();
        // The person's own file: a BOM, CRLF endings and no final line break.
        let original = "\u{feff}# Project notes\r\n\r\nUse tabs.\r\nNo final newline".as_bytes();
        repo.write(file, original);
        let out = run(
            &repo,
            &["hooks", "install", "--agent", agent, "--instructions"],
        );
        out.ok();
        assert!(
            out.stdout
                .contains(&format!("added the agent instructions to {file}")),
            "{out}"
        );
        let installed = read_bytes(&repo.path(file));
        assert!(
            installed.starts_with(original),
            "{agent}: the person's bytes come first"
        );
        let text = String::from_utf8(installed.clone()).unwrap();
        let block = &text[pos(&text, BEGIN)..];
        assert!(block.trim_end().ends_with(END), "{text}");
        assert!(
            !block.replace("\r\n", "").contains('\n'),
            "CRLF kept: {block:?}"
        );
        for command in [
            "`sessions log \"",
            "`sessions update --state \"",
            "--next \"",
            "`sessions new \"",
            "`sessions resume ID`",
        ] {
            assert!(block.contains(command), "{agent}: `{command}` in\n{block}");
        }
        assert!(block.contains("After each significant step"), "{block}");
        assert!(block.contains("before you stop or hand off"), "{block}");

        // A second run changes no byte (and does not rewrite the file).
        let mtime = age_mtime(&repo.path(file));
        let again = run(
            &repo,
            &["hooks", "install", "--agent", agent, "--instructions"],
        );
        again.ok();
        assert!(
            again
                .stdout
                .contains(&format!("{file} is already up to date")),
            "{again}"
        );
        assert_eq!(read_bytes(&repo.path(file)), installed);
        assert_eq!(
            fs::metadata(repo.path(file)).unwrap().modified().unwrap(),
            mtime
        );

        // Uninstall gives back exactly the person's file.
        let out = run(&repo, &["hooks", "uninstall", "--agent", agent]);
        out.ok();
        assert!(
            out.stdout
                .contains(&format!("removed the agent instructions from {file}")),
            "{out}"
        );
        assert_eq!(read_bytes(&repo.path(file)), original, "{agent}");
    }
}

#[test]
fn instructions_in_a_new_file_and_text_after_the_block_survive() {
    let repo = TestRepo::init();
    run(&repo, &["hooks", "install", "--instructions"]).ok();
    let text = repo.read("CLAUDE.md");
    assert!(
        text.starts_with(BEGIN) && text.ends_with(&format!("{END}\n")),
        "{text}"
    );
    // The person writes after the block; an update leaves that alone.
    repo.write("CLAUDE.md", format!("{text}\n## Mine\nkeep me\n"));
    run(&repo, &["hooks", "install", "--instructions"]).ok();
    assert!(repo.read("CLAUDE.md").ends_with("\n## Mine\nkeep me\n"));
    run(&repo, &["hooks", "uninstall"]).ok();
    assert_eq!(repo.read("CLAUDE.md"), "\n## Mine\nkeep me\n");
    // A file that held only our block is removed with it.
    let repo = TestRepo::init();
    run(
        &repo,
        &["hooks", "install", "--agent", "gemini", "--instructions"],
    )
    .ok();
    run(&repo, &["hooks", "uninstall", "--agent", "gemini"]).ok();
    assert!(!repo.path("GEMINI.md").exists());
}

#[test]
fn instructions_dry_run_shows_the_diff_and_writes_nothing() {
    let repo = TestRepo::init();
    repo.write("AGENTS.md", "# Agents\n");
    let out = run(
        &repo,
        &[
            "hooks",
            "install",
            "--agent",
            "codex",
            "--instructions",
            "--dry-run",
        ],
    );
    out.ok();
    assert!(
        out.stdout.contains("+++ AGENTS.md") || out.stdout.contains("AGENTS.md"),
        "{out}"
    );
    assert!(out.stdout.contains(&format!("+{BEGIN}")), "{out}");
    assert!(
        out.stdout.contains("+- After each significant step"),
        "{out}"
    );
    assert_eq!(repo.read("AGENTS.md"), "# Agents\n");
    assert!(!repo.path(".codex").exists());
}

#[test]
fn without_instructions_the_file_is_untouched_and_the_flag_is_named() {
    let repo = TestRepo::init();
    let out = run(&repo, &["hooks", "install"]);
    out.ok();
    assert!(!repo.path("CLAUDE.md").exists());
    assert!(out.stdout.contains("--instructions"), "{out}");
    let out = run(&repo, &["hooks", "install", "--no-instructions"]);
    assert!(!out.stdout.contains("--instructions`"), "{out}");
    // An unclosed block is refused, the file untouched.
    repo.write("CLAUDE.md", format!("mine\n{BEGIN}\nhalf\n"));
    let out = run(&repo, &["hooks", "install", "--instructions"]);
    out.code(2);
    assert!(out.stderr.contains("sessions:end"), "{out}");
    assert_eq!(repo.read("CLAUDE.md"), format!("mine\n{BEGIN}\nhalf\n"));
}

// ---------------------------------------------------------------------------------------------
// hooks install: will the agent find `sessions`?

/// `sessions hooks install ARGS` with PATH and HOME under the test's control.
fn install_with_path(repo: &TestRepo, args: &[&str], path: &str, home: &Path) -> Output {
    let mut cmd = sessions_in(repo, repo.root());
    cmd.args(["hooks", "install"])
        .args(args)
        .env("PATH", path)
        .env("HOME", home)
        .env_remove("BASH_ENV")
        .env_remove("ENV");
    common::run(&mut cmd)
}

fn bin_dir() -> String {
    Path::new(BIN).parent().unwrap().display().to_string()
}

fn have_bash() -> bool {
    Command::new("bash")
        .args(["-c", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn install_warns_loudly_when_sessions_is_not_on_path() {
    let repo = TestRepo::init();
    let home = tempfile::tempdir().unwrap();
    for agent in ["claude", "codex", "gemini"] {
        let out = install_with_path(&repo, &["--agent", agent], "/usr/bin:/bin", home.path());
        out.ok();
        assert!(
            out.stderr.contains("warning: `sessions` is not on PATH"),
            "{agent}: {out}"
        );
        assert!(out.stderr.contains("command not found"), "{out}");
        assert!(out.stderr.contains(BIN), "the fix names this binary: {out}");
        let on_path = format!("{}:/usr/bin:/bin", bin_dir());
        let out = install_with_path(&repo, &["--agent", agent], &on_path, home.path());
        assert!(!out.stderr.contains("is not on PATH"), "{agent}: {out}");
    }
}

#[test]
fn codex_install_checks_the_login_shell_path() {
    if !have_bash() {
        eprintln!("skipped: no bash on this machine");
        return;
    }
    let repo = TestRepo::init();
    let home = tempfile::tempdir().unwrap();
    // On our PATH, but a login shell's profile does not put it there.
    fs::write(home.path().join(".profile"), "PATH=/usr/bin:/bin\n").unwrap();
    fs::write(home.path().join(".bash_profile"), ". \"$HOME/.profile\"\n").unwrap();
    let on_path = format!("{}:/usr/bin:/bin", bin_dir());
    let out = install_with_path(&repo, &["--agent", "codex"], &on_path, home.path());
    out.ok();
    assert!(!out.stderr.contains("is not on PATH,"), "{out}");
    assert!(out.stderr.contains("bash -lc"), "{out}");
    assert!(out.stderr.contains("~/.profile"), "{out}");
    assert!(
        out.stderr.contains(&bin_dir()),
        "the fix names the directory: {out}"
    );
    // The profile puts it on PATH: no warning.
    fs::write(
        home.path().join(".profile"),
        format!("PATH={}:/usr/bin:/bin\n", bin_dir()),
    )
    .unwrap();
    let out = install_with_path(&repo, &["--agent", "codex"], &on_path, home.path());
    assert!(!out.stderr.contains("bash -lc"), "{out}");
    // Claude's tools do not run under a login shell: no such check.
    fs::write(home.path().join(".profile"), "PATH=/usr/bin:/bin\n").unwrap();
    let out = install_with_path(&repo, &["--agent", "claude"], &on_path, home.path());
    assert!(!out.stderr.contains("bash -lc"), "{out}");
}

#[test]
fn codex_install_says_headless_exec_skips_unapproved_hooks() {
    let repo = TestRepo::init();
    let out = run(&repo, &["hooks", "install", "--agent", "codex"]);
    out.ok();
    let said = out.stdout.replace('\n', " ");
    assert!(
        said.contains("`codex exec` skips unapproved hooks without a word"),
        "{out}"
    );
    assert!(said.contains("`/hooks` view"), "{out}");
    assert!(
        said.contains("codex exec --dangerously-bypass-hook-trust"),
        "{out}"
    );
}

/// Runs `sessions hooks install` on a pseudo-terminal (util-linux `script`) answering `answer`.
fn install_on_a_terminal(repo: &TestRepo, answer: &str) -> Option<String> {
    use std::io::Write;
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("{BIN} hooks install"), "/dev/null"])
        .current_dir(repo.root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .sealed();
    let mut child = cmd.spawn().ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    // Bounded: 3,000 polls of 20 ms.
    let mut polls = 0;
    while child.try_wait().unwrap().is_none() {
        polls += 1;
        if polls > 3_000 {
            let _ = child.kill();
            panic!("install on a terminal hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    Some(out)
}

#[test]
fn on_a_terminal_install_asks_before_adding_instructions() {
    let have_script = Command::new("script")
        .args(["-qec", "true", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_script {
        eprintln!("skipped: no util-linux `script` to make a terminal");
        return;
    }
    let repo = TestRepo::init();
    let out = install_on_a_terminal(&repo, "n\n").unwrap();
    assert!(
        out.contains("telling the agent when to update its session? [y/N]"),
        "{out}"
    );
    assert!(!repo.path("CLAUDE.md").exists(), "{out}");
    let out = install_on_a_terminal(&repo, "y\n").unwrap();
    assert!(
        out.contains("added the agent instructions to CLAUDE.md"),
        "{out}"
    );
    assert!(repo.read("CLAUDE.md").starts_with(BEGIN));
}
