//! The editing commands, driven through the binary: `update`, `log`, `pause`/`resume`,
//! `handoff`, `close`, `delete` and `validate --fix` (SPEC §3–§5).

use crate::edit_support;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use edit_support::*;
use predicates::prelude::*;

/// RICH with `from` replaced by `to`, asserting `from` occurs exactly once.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} is not unique");
    text.replacen(from, to, 1)
}

/// The `last_updated` value of a file, parsed.
fn last_updated(text: &str) -> DateTime<Utc> {
    str_at(text, &["session", "last_updated"])
        .expect("last_updated")
        .parse()
        .expect("an RFC 3339 timestamp")
}

/// `text` with its `last_updated` value replaced by the one in `after` (for exact comparisons).
fn with_stamp_of(text: &str, after: &str) -> String {
    let stamp = str_at(after, &["session", "last_updated"]).unwrap();
    replace_once(text, "\"2025-12-04T15:10:00Z\"", &format!("\"{stamp}\""))
}

fn assert_recent(t: DateTime<Utc>) {
    let age = Utc::now().signed_duration_since(t);
    assert!(
        age.num_seconds().abs() < 120,
        "last_updated {t} is not the time of the change"
    );
}

fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

fn set_old_mtime(p: &Path) -> SystemTime {
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(old)
        .unwrap();
    old
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn assert_valid(repo: &TestRepo, path: &Path) {
    repo.cmd()
        .arg("validate")
        .arg(path)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("0 errors"));
}

// ---------------------------------------------------------------------------------------------
// update
// ---------------------------------------------------------------------------------------------

#[test]
fn update_task_changes_only_its_value_keeping_comments_order_and_unknown_keys() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    repo.cmd()
        .args(["update", "weather", "--task", "Task: with colon"])
        .assert()
        .success()
        .stdout(predicate::str::contains("updated"));
    let after = repo.read(&path);
    // Exactly two values changed: the task (single quotes kept, comment kept) and the stamp.
    let expected = replace_once(
        RICH,
        "  current_task: 'Implement fallback chain'  # plain, single or double\n",
        "  current_task: 'Task: with colon'  # plain, single or double\n",
    );
    assert_eq!(after, with_stamp_of(&expected, &after));
    assert_eq!(
        str_at(&after, &["orchestration", "current_task"]).as_deref(),
        Some("Task: with colon")
    );
    assert_recent(last_updated(&after));
    assert!(after.contains("  last_updated: \"") && after.contains("\"  # bumped by tools\n"));
    assert_valid(&repo, &path);
}

#[test]
fn update_title_quotes_when_needed_and_keeps_trailing_comment() {
    let repo = TestRepo::new();
    let plain = RICH.replace(
        "  title: \"Weather API fallback\"   # required, non-empty",
        "  title: Weather API fallback   # required, non-empty",
    );
    let path = repo.write_session(RICH_NAME, &plain);
    for (title, line) in [
        // Plain stays plain while it can; then the value needs (and keeps) quotes.
        (
            "plain words",
            "  title: plain words   # required, non-empty\n",
        ),
        (
            "Task: with colon",
            "  title: \"Task: with colon\"   # required, non-empty\n",
        ),
        (
            "# hash and 'quotes' \"too\"",
            "  title: \"# hash and 'quotes' \\\"too\\\"\"   # required, non-empty\n",
        ),
        (
            "-leading dash",
            "  title: \"-leading dash\"   # required, non-empty\n",
        ),
        (
            "back to plain",
            "  title: \"back to plain\"   # required, non-empty\n",
        ),
    ] {
        repo.cmd()
            .args([
                "update",
                RICH_NAME.trim_end_matches(".md"),
                "--title",
                title,
            ])
            .assert()
            .success();
        let after = repo.read(&path);
        assert!(
            after.contains(line),
            "{title:?}: expected {line:?} in\n{after}"
        );
        assert_eq!(
            str_at(&after, &["session", "title"]).as_deref(),
            Some(title)
        );
        assert_valid(&repo, &path);
    }
    // Everything else is as it was (besides the stamp and the title line).
    let after = repo.read(&path);
    let before_lines: Vec<&str> = plain
        .lines()
        .filter(|l| !l.contains("title:") && !l.contains("last_updated:"))
        .collect();
    let after_lines: Vec<&str> = after
        .lines()
        .filter(|l| !l.contains("title:") && !l.contains("last_updated:"))
        .collect();
    assert_eq!(before_lines, after_lines);
}

#[test]
fn update_keeps_crlf_and_bom() {
    let repo = TestRepo::new();
    let src = format!("\u{feff}{}", RICH.replace('\n', "\r\n"));
    let path = repo.write_session(RICH_NAME, &src);
    repo.cmd()
        .args(["update", "weather", "--task", "Task: with colon"])
        .args(["--state", "Half done.\nSecond line."])
        .args(["--check", "add tests"])
        .assert()
        .success();
    let after = repo.read(&path);
    assert!(after.starts_with("\u{feff}---\r\n"), "BOM lost: {after:?}");
    line_endings_kept(&src, &after).unwrap();
    assert!(after.contains("  current_task: 'Task: with colon'  # plain, single or double\r\n"));
    assert!(
        after.contains(
            "## Current State\r\n\r\nHalf done.\r\nSecond line.\r\n\r\n## Next Steps\r\n"
        )
    );
    assert!(after.contains("- [x] add tests\r\n"));
    // The frontmatter's other lines, the Context and Notes sections are untouched.
    assert_eq!(
        section_body(&after, "Context"),
        section_body(&src, "Context")
    );
    assert_eq!(section_body(&after, "Notes"), section_body(&src, "Notes"));
    for comment in [
        "# Session for the weather work — ünïcödé\r\n",
        "# required, non-empty\r\n",
        "# a full-line comment inside the block\r\n",
        "spawned_agents: []  # none yet\r\n",
        "x-unknown:\r\n  nested: [1, 2]\r\n",
    ] {
        assert!(after.contains(comment), "{comment:?} lost");
    }
    assert_valid(&repo, &path);
}

#[test]
fn update_state_dash_reads_stdin() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    repo.cmd()
        .args(["update", "weather", "--state", "-"])
        .write_stdin("From stdin: line one\n- [ ] and a todo\n")
        .assert()
        .success();
    let after = repo.read(&path);
    assert_eq!(
        section_body(&after, "Current State").as_deref(),
        Some("\nFrom stdin: line one\n- [ ] and a todo\n\n")
    );
    // Two `-` TEXT arguments cannot both read stdin.
    repo.cmd()
        .args(["update", "weather", "--state", "-", "--next", "-"])
        .write_stdin("x")
        .assert()
        .code(2);
}

#[test]
fn noop_update_leaves_bytes_and_mtime_alone() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let old = set_old_mtime(&path);
    for args in [
        vec!["--status", "in_progress"],
        vec!["--title", "Weather API fallback"],
        vec!["--task", "Implement fallback chain"],
        vec!["--state", "Nothing done."],
        vec!["--check", "design it"],
        vec!["--uncheck", "write the fallback"],
        vec!["--issue", "back-123"],
    ] {
        repo.cmd()
            .args(["update", "weather"])
            .args(&args)
            .assert()
            .success()
            .stdout(predicate::str::contains("unchanged"));
        assert_eq!(repo.read(&path), RICH, "{args:?} rewrote the file");
        assert_eq!(mtime(&path), old, "{args:?} touched the file");
    }
    // No temp file or rewrite happened either.
    let leftovers: Vec<_> = fs::read_dir(repo.sessions_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn real_update_bumps_last_updated() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let old = set_old_mtime(&path);
    repo.cmd()
        .args(["update", "weather", "--status", "paused"])
        .assert()
        .success();
    let after = repo.read(&path);
    assert_eq!(
        str_at(&after, &["session", "status"]).as_deref(),
        Some("paused")
    );
    assert!(after.contains("  status: paused                # in_progress | paused | completed\n"));
    assert_recent(last_updated(&after));
    assert_ne!(mtime(&path), old);
}

#[test]
fn update_section_append_and_check() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    repo.cmd()
        .args([
            "update",
            "weather",
            "--section",
            "Notes",
            "--append",
            "- more",
        ])
        .args(["--check", "write the fallback"])
        .assert()
        .success();
    let after = repo.read(&path);
    assert!(
        after.ends_with("## Notes\n\nKeep me byte for byte.\n\n- more\n"),
        "{after}"
    );
    assert!(after.contains("- [x] write the fallback\n- [x] design it\n- [ ] add tests\n"));
    // An ambiguous or unknown item is refused and nothing is written.
    let before = repo.read(&path);
    repo.cmd()
        .args(["update", "weather", "--check", "zzz-no-such-item"])
        .assert()
        .code(1);
    assert_eq!(repo.read(&path), before);
}

// ---------------------------------------------------------------------------------------------
// log
// ---------------------------------------------------------------------------------------------

#[test]
fn log_creates_session_log_and_appends_entries() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    repo.cmd()
        .args(["log", "weather", "First entry"])
        .assert()
        .success();
    let after = repo.read(&path);
    let head = predicate::str::is_match(
        r"\n\n## Session Log\n\n### \d{4}-\d{2}-\d{2} \d{2}:\d{2} - \[tester\]\nFirst entry\n$",
    )
    .unwrap();
    assert!(head.eval(&after), "{after}");
    // Everything before the new section is unchanged apart from the stamp.
    let prefix = &after[..after.find("## Session Log").unwrap()];
    assert_eq!(prefix, with_stamp_of(RICH, &after) + "\n");

    repo.cmd()
        .args([
            "log",
            "weather",
            "Second\nwith two lines",
            "--actor",
            "claude",
        ])
        .assert()
        .success();
    let after = repo.read(&path);
    let two = predicate::str::is_match(
        r"\[tester\]\nFirst entry\n\n### \d{4}-\d{2}-\d{2} \d{2}:\d{2} - \[claude\]\nSecond\nwith two lines\n$",
    )
    .unwrap();
    assert!(two.eval(&after), "{after}");
    // $SESSIONS_ACTOR is the default actor when set.
    repo.cmd()
        .args(["log", "weather", "Third"])
        .env("SESSIONS_ACTOR", "ci-bot")
        .assert()
        .success();
    assert!(repo.read(&path).contains("- [ci-bot]\nThird\n"));
    assert_valid(&repo, &path);
}

#[test]
fn log_entry_heading_uses_the_current_utc_minute() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let before = Utc::now();
    repo.cmd()
        .args(["log", "weather", "now"])
        .assert()
        .success();
    let after_time = Utc::now();
    let text = repo.read(&path);
    let ok = [before, after_time]
        .iter()
        .any(|t| text.contains(&format!("### {} - [tester]", t.format("%Y-%m-%d %H:%M"))));
    assert!(ok, "{text}");
}

#[test]
fn log_refuses_a_level_two_heading_and_leaves_the_file_alone() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let old = set_old_mtime(&path);
    for message in ["ok line\n## Sneaky section\nmore", "# Title", "## x", "-"] {
        let a = repo
            .cmd()
            .args(["log", "weather", message])
            .write_stdin("text\n## from stdin\n")
            .assert()
            .code(1);
        assert!(
            stderr_of(&a).contains("heading"),
            "{message:?}: {}",
            stderr_of(&a)
        );
        assert_eq!(repo.read(&path), RICH);
        assert_eq!(mtime(&path), old);
    }
    // `### deeper` headings are fine.
    repo.cmd()
        .args(["log", "weather", "### sub heading\nbody"])
        .assert()
        .success();
}

#[test]
fn log_rejects_empty_message() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    repo.cmd().args(["log", "weather", "   "]).assert().code(2);
    assert_eq!(repo.read(&path), RICH);
}

// ---------------------------------------------------------------------------------------------
// pause / resume
// ---------------------------------------------------------------------------------------------

#[test]
fn pause_and_resume_change_status_and_log() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    repo.cmd()
        .args(["pause", "weather", "--reason", "waiting for API keys"])
        .assert()
        .success();
    let after = repo.read(&path);
    assert_eq!(
        str_at(&after, &["session", "status"]).as_deref(),
        Some("paused")
    );
    assert!(after.contains("# in_progress | paused | completed\n"));
    assert!(after.contains("- [tester]\nPaused: waiting for API keys\n"));
    // Pausing again changes nothing.
    let old = set_old_mtime(&path);
    repo.cmd()
        .args(["pause", "weather"])
        .assert()
        .success()
        .stdout(predicate::str::contains("already paused"));
    assert_eq!(repo.read(&path), after);
    assert_eq!(mtime(&path), old);

    repo.cmd().args(["resume", "weather"]).assert().success();
    let resumed = repo.read(&path);
    assert_eq!(
        str_at(&resumed, &["session", "status"]).as_deref(),
        Some("in_progress")
    );
    assert!(resumed.contains("Resumed (was paused)."));
    // Everything outside status, stamp and log is the original.
    let strip = |t: &str| -> Vec<String> {
        t[..t.find("\n## Session Log").unwrap_or(t.len())]
            .lines()
            .filter(|l| !l.contains("last_updated:") && !l.contains("status:"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(strip(&resumed), strip(RICH));
    assert_valid(&repo, &path);
}

// ---------------------------------------------------------------------------------------------
// handoff
// ---------------------------------------------------------------------------------------------

#[test]
fn handoff_not_ready_lists_what_is_missing() {
    let repo = TestRepo::new();
    let path = repo.new_session("weather api fallback");
    let before = repo.read(&path);
    let a = repo.cmd().args(["handoff", "weather"]).assert().code(1);
    let err = stderr_of(&a);
    assert!(err.contains("not ready"), "{err}");
    assert!(err.contains("## Current State"), "{err}");
    assert!(err.contains("## Next Steps"), "{err}");
    assert_eq!(repo.read(&path), before, "a failed handoff wrote the file");
}

#[test]
fn handoff_ready_prints_brief_and_logs() {
    let repo = TestRepo::new();
    let path = repo.new_session("weather api fallback");
    repo.cmd()
        .args(["update", "weather", "--state", "Provider A and B wired."])
        .args(["--next", "- [ ] wire provider C\n- [x] wire provider A"])
        .assert()
        .success();
    let a = repo
        .cmd()
        .args(["handoff", "weather", "--to", "backend-dev"])
        .assert()
        .success();
    let brief = stdout_of(&a);
    for want in [
        "# Handoff: weather api fallback",
        "For: backend-dev",
        "## Current State",
        "Provider A and B wired.",
        "## Next Steps",
        "- [ ] wire provider C",
        "Open items (1)",
    ] {
        assert!(
            brief.contains(want),
            "{want:?} missing from the brief:\n{brief}"
        );
    }
    let after = repo.read(&path);
    let log = section_body(&after, "Session Log").unwrap();
    assert!(
        log.contains("- [tester]\nHanded off to backend-dev.\n"),
        "{log}"
    );
    assert_valid(&repo, &path);
}

#[test]
fn handoff_of_completed_session_is_refused() {
    let repo = TestRepo::new();
    let text = RICH.replace("status: in_progress  ", "status: completed    ");
    let path = repo.write_session(RICH_NAME, &text);
    let a = repo.cmd().args(["handoff", "weather"]).assert().code(1);
    assert!(stderr_of(&a).contains("completed"));
    assert_eq!(repo.read(&path), text);
}

// ---------------------------------------------------------------------------------------------
// close / delete
// ---------------------------------------------------------------------------------------------

#[test]
fn close_without_yes_off_a_terminal_is_a_usage_error() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let a = repo
        .cmd()
        .args(["close", "weather"])
        .write_stdin("y\n")
        .assert()
        .code(2);
    assert!(stderr_of(&a).contains("--yes"), "{}", stderr_of(&a));
    assert!(path.exists());
    assert_eq!(repo.read(&path), RICH);
    repo.cmd()
        .args(["delete", "weather"])
        .write_stdin("y\n")
        .assert()
        .code(2);
    assert!(path.exists());
}

#[test]
fn close_yes_deletes_and_prints_checklist() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let a = repo
        .cmd()
        .args(["close", "weather", "--yes"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(out.contains("BACK-123"), "{out}");
    assert!(out.contains("open checklist items"), "{out}");
    assert!(!path.exists());
    assert!(!repo.sessions_dir().join("archive").exists());
}

#[test]
fn close_archive_moves_the_file() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    repo.cmd()
        .args(["close", "weather", "--archive", "--yes"])
        .assert()
        .success();
    assert!(!path.exists());
    let archived = repo.sessions_dir().join("archive").join(RICH_NAME);
    let text = repo.read(&archived);
    assert_eq!(
        str_at(&text, &["session", "status"]).as_deref(),
        Some("completed")
    );
    assert!(text.contains("Closed and archived."));
    assert!(text.contains("# a full-line comment inside the block\n"));
    // The archive is not listed as an active session.
    repo.cmd().args(["log", "weather", "x"]).assert().code(1);
}

#[test]
fn close_adr_writes_numbered_decision_record() {
    let repo = TestRepo::new();
    let text = RICH.replace(
        "## Notes\n",
        "## Decisions\n\n- Use X because Y.\n\n## Notes\n",
    );
    let path = repo.write_session(RICH_NAME, &text);
    repo.cmd()
        .args(["close", "weather", "--adr", "Use X", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("0001-use-x.md"));
    assert!(!path.exists());
    let adr = repo.read(&repo.root().join("docs/decisions/0001-use-x.md"));
    assert!(adr.starts_with("# 0001. Use X\n"), "{adr}");
    assert!(adr.contains("Use X because Y."), "{adr}");
    assert!(adr.contains("Providers fail; we need a chain."), "{adr}");
    // The next ADR gets the next number.
    let path = repo.write_session("20251205-100000-other-work.md", RICH);
    repo.cmd()
        .args(["close", "other-work", "--adr", "Use Y", "--yes"])
        .assert()
        .success();
    assert!(repo.root().join("docs/decisions/0002-use-y.md").exists());
    assert!(!path.exists());
}

#[test]
fn delete_yes_removes_the_file() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let other = repo.write_session("20251205-100000-keep-me.md", RICH);
    repo.cmd()
        .args(["delete", "weather-api", "--yes"])
        .assert()
        .success();
    assert!(!path.exists());
    assert!(other.exists());
}

// ---------------------------------------------------------------------------------------------
// validate --fix
// ---------------------------------------------------------------------------------------------

const BROKEN: &str = "---
# keep this comment
session:
  title: \"Fix me\"  # trailing comment
  status: done
  created: \"2025-12-04T14:30:00Z\"
  custom: keep
orchestration:
  current_task: \"Repair\"
  spawned_agents:
    - type: backend-dev   # was the old schema
      task: \"Add provider\"
      status: Done
      outcome: \"Fallback via 3 providers\"
---
# Session: Fix me

## Context

Why.

## Current State

Where.
";
const BROKEN_NAME: &str = "20251204-143000-fix-me.md";

#[test]
fn validate_fix_repairs_what_is_safe_and_says_so() {
    let repo = TestRepo::new();
    let path = repo.write_session(BROKEN_NAME, BROKEN);
    repo.cmd().arg("validate").assert().code(1);
    let a = repo.cmd().args(["validate", "--fix"]).assert().code(0);
    let err = stderr_of(&a);
    for want in [
        "session.status `done` → `completed`",
        "added session.last_updated",
        "`type:` → `agent:`",
        "`outcome:` → `summary:`",
        "spawned_agents[0].status `Done` → `completed`",
        "added empty `## Next Steps`",
        "fixed 1 file",
    ] {
        assert!(err.contains(want), "{want:?} not reported:\n{err}");
    }
    let after = repo.read(&path);
    assert_valid(&repo, &path);
    let doc = sessions::session::Document::parse(&after);
    assert_eq!(doc.str_value(&["session", "status"]), Some("completed"));
    assert!(doc.str_value(&["session", "last_updated"]).is_some());
    let agent = &doc
        .value(&["orchestration", "spawned_agents"])
        .unwrap()
        .items()[0];
    assert_eq!(
        agent.get("agent").and_then(|n| n.as_str()),
        Some("backend-dev")
    );
    assert_eq!(
        agent.get("summary").and_then(|n| n.as_str()),
        Some("Fallback via 3 providers")
    );
    for kept in [
        "# keep this comment\n",
        "  title: \"Fix me\"  # trailing comment\n",
        "  custom: keep\n",
        "    - agent: backend-dev   # was the old schema\n",
        "## Context\n\nWhy.\n\n## Current State\n\nWhere.\n",
    ] {
        assert!(after.contains(kept), "{kept:?} lost:\n{after}");
    }
    assert!(section_body(&after, "Next Steps").is_some());
    // A second run has nothing to fix and writes nothing.
    let old = set_old_mtime(&path);
    let a = repo.cmd().args(["validate", "--fix"]).assert().code(0);
    assert!(stderr_of(&a).contains("fixed 0 files"), "{}", stderr_of(&a));
    assert_eq!(repo.read(&path), after);
    assert_eq!(mtime(&path), old);
}

#[test]
fn validate_fix_dry_run_prints_a_diff_and_writes_nothing() {
    let repo = TestRepo::new();
    let path = repo.write_session(BROKEN_NAME, BROKEN);
    let old = set_old_mtime(&path);
    let a = repo
        .cmd()
        .args(["validate", "--fix", "--dry-run"])
        .assert()
        .code(1);
    // stdout is the patch alone; what would be fixed and the report are on stderr.
    let patch = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    let err = stderr_of(&a);
    assert!(
        patch.starts_with("diff --git a/.agents/sessions/"),
        "{patch}"
    );
    assert!(patch.contains("-  status: done"), "{patch}");
    assert!(patch.contains("+  status: completed"), "{patch}");
    assert!(patch.contains("+## Next Steps"), "{patch}");
    assert!(patch.ends_with('\n'));
    assert!(err.contains("would fix "), "{err}");
    assert!(err.contains("would fix 1 file"), "{err}");
    assert!(
        err.contains("error[status]"),
        "the report goes to stderr: {err}"
    );
    assert_eq!(repo.read(&path), BROKEN);
    assert_eq!(mtime(&path), old);
    // `git apply` takes it from the repository root and the file then validates.
    let root = repo.root().to_path_buf();
    let git = |args: &[&str], input: Option<&str>| {
        use std::io::Write;
        let mut c = std::process::Command::new("git");
        c.sealed()
            .args(args)
            .current_dir(&root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().expect("git runs");
        if let Some(i) = input {
            child.stdin.take().unwrap().write_all(i.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    let applied = git(&["apply", "-"], Some(&patch));
    assert!(
        applied.status.success(),
        "git apply refused the patch: {}\n{patch}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert!(repo.read(&path).contains("status: completed"));
    repo.cmd().args(["validate"]).assert().code(0);
    // --dry-run needs --fix.
    repo.cmd().args(["validate", "--dry-run"]).assert().code(2);
}

/// `validate --fix` over a copy of every real session file in the shared corpus: nothing
/// panics, no content line is lost other than the lines a fix rewrote, and we count how many
/// files become valid. The copies get valid `YYYYMMDD-HHMMSS-slug.md` names so that the count
/// measures the content (the original names all fail `name-format`).
#[test]
fn validate_fix_over_the_real_corpus() {
    let Some(dir) = shared_corpus("real-sessions") else {
        return;
    };
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| p.file_name().is_some_and(|n| n != "PROVENANCE.md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());

    let fixable =
        predicate::str::is_match(r"^\s*(- +)?(status|type|agent|outcome|summary|last_updated):")
            .unwrap();
    let repo = TestRepo::new();
    let (mut valid_before, mut valid_after) = (0, 0);
    for (i, src) in files.iter().enumerate() {
        let original = fs::read(src).unwrap();
        let name = format!("20250101-{i:06}-real-session-copy-{i}.md");
        let path = repo.sessions_dir().join(&name);
        fs::write(&path, &original).unwrap();
        let shown = src.file_name().unwrap().to_string_lossy();

        let before = repo.cmd().arg("validate").arg(&path).output().unwrap();
        let fix = repo
            .cmd()
            .args(["validate", "--fix"])
            .arg(&path)
            .output()
            .unwrap();
        let after = repo.cmd().arg("validate").arg(&path).output().unwrap();
        for (what, out) in [("validate", &before), ("--fix", &fix), ("validate", &after)] {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !err.contains("panicked") && out.status.code().is_some_and(|c| c <= 2),
                "{what} on {shown} crashed: {:?}\n{err}",
                out.status
            );
        }
        valid_before += usize::from(before.status.code() == Some(0));
        valid_after += usize::from(after.status.code() == Some(0));

        // No content line lost: every original line is still there, in order, unless it is a
        // line a fix rewrites (a status, a renamed agent key, last_updated).
        let fixed = fs::read(&path).unwrap();
        let (Ok(orig), Ok(new)) = (std::str::from_utf8(&original), std::str::from_utf8(&fixed))
        else {
            assert_eq!(fixed, original, "{shown}: a non-UTF-8 file was changed");
            continue;
        };
        let new_lines: Vec<&str> = new.split('\n').collect();
        let kept: Vec<&str> = orig
            .split('\n')
            .filter(|l| new_lines.contains(l) || !fixable.eval(l))
            .collect();
        assert!(
            is_subsequence(&kept, &new_lines),
            "{shown}: line {:?} was lost or moved by --fix",
            first_missing(&kept, &new_lines)
        );
        if new != orig {
            line_endings_kept(orig, new).unwrap();
        }
    }
    let leftovers: Vec<_> = fs::read_dir(repo.sessions_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    eprintln!(
        "corpus: {valid_after} of {} files are valid after `validate --fix` ({valid_before} before)",
        files.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input loses nothing
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_files_and_arguments_are_refused_without_writing() {
    let repo = TestRepo::new();
    let bad_yaml = RICH.replace("  priority: high\n", "  priority: [high\n");
    let yaml = repo.write_session("20251204-143000-bad-yaml.md", &bad_yaml);
    let a = repo
        .cmd()
        .args(["update", "bad-yaml", "--state", "x"])
        .assert()
        .failure();
    assert!(stderr_of(&a).contains("bad-yaml.md"), "{}", stderr_of(&a));
    assert!(!stderr_of(&a).contains("panicked"));
    assert_eq!(repo.read(&yaml), bad_yaml);
    // Section edits need the frontmatter only to stamp it; they are refused too, not half-done.
    repo.cmd()
        .args(["log", "bad-yaml", "hello"])
        .assert()
        .failure();
    assert_eq!(repo.read(&yaml), bad_yaml);

    let mut bytes = RICH.as_bytes().to_vec();
    bytes.extend_from_slice(b"\xff\xfe broken\n");
    let latin = repo.sessions_dir().join("20251204-143000-not-utf8.md");
    fs::write(&latin, &bytes).unwrap();
    let a = repo
        .cmd()
        .args(["update", "20251204-143000-not-utf8", "--state", "x"])
        .assert()
        .code(2);
    assert!(stderr_of(&a).contains("UTF-8"), "{}", stderr_of(&a));
    assert_eq!(fs::read(&latin).unwrap(), bytes);

    let path = repo.write_session(RICH_NAME, RICH);
    for args in [
        vec!["--title", "  "],
        vec!["--status", "done"],
        vec!["--issue-url", "ftp://x"],
        vec!["--section", "Notes"],
        vec![],
    ] {
        repo.cmd()
            .args(["update", "weather"])
            .args(&args)
            .assert()
            .code(2);
        assert_eq!(repo.read(&path), RICH, "{args:?}");
    }
}

#[test]
fn log_into_crlf_file_without_session_log_keeps_crlf() {
    let repo = TestRepo::new();
    let src = RICH.replace('\n', "\r\n");
    let path = repo.write_session(RICH_NAME, &src);
    repo.cmd()
        .args(["log", "weather", "one\ntwo\r\nthree"])
        .assert()
        .success();
    let after = repo.read(&path);
    line_endings_kept(&src, &after).unwrap();
    assert!(after.ends_with("]\r\none\r\ntwo\r\nthree\r\n"), "{after:?}");
    assert_valid(&repo, &path);
}

/// The CLI face of `edit_props::set_section_keeps_indentation_of_first_line`.
#[test]
fn update_state_with_indented_code_first_line_adds_no_section() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let _ = repo
        .cmd()
        .args(["update", "weather", "--state", "    ## indented code"])
        .assert();
    let names: Vec<String> = sections_of(&repo.read(&path))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["Context", "Current State", "Next Steps", "Notes"]);
}

/// The CLI face of `edit_props::append_keeps_trailing_spaces_of_last_line`.
#[test]
fn log_keeps_trailing_spaces_of_the_previous_line() {
    let repo = TestRepo::new();
    let src =
        format!("{RICH}\n## Session Log\n\n### 2025-12-04 15:00 - [bob]\nfirst line  \nsecond\t\n");
    let path = repo.write_session(RICH_NAME, &src);
    repo.cmd()
        .args(["log", "weather", "next"])
        .assert()
        .success();
    let after = repo.read(&path);
    assert!(
        after.contains("first line  \nsecond\t\n\n### "),
        "{after:?}"
    );
    assert!(after.ends_with("]\nnext\n"), "{after:?}");
}
