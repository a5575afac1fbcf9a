//! What people read, pinned whole: the human output of the everyday commands, at 80 columns,
//! with the clock pinned through `SESSIONS_NOW` and the temp directory's path written as
//! `[REPO]`, so a change to any word, column or hint shows as a snapshot diff (`cargo insta
//! review`, or `INSTA_UPDATE=always cargo test --test it snapshots::` and read the diff in git).
//! The `contains` asserts elsewhere check facts; these check the page.

use crate::common;

use common::{Output, TestRepo};

/// The pinned time every command here acts at: two hours after the sessions were made.
const NOW: &str = "2026-03-04T12:00:00Z";
const MADE: &str = "2026-03-04T10:00:00Z";

fn run_at(repo: &TestRepo, now: &str, args: &[&str]) -> Output {
    let mut cmd = repo.cmd();
    cmd.env("SESSIONS_NOW", now)
        .env("COLUMNS", "80")
        .env("SESSIONS_ACTOR", "tester")
        .args(args);
    common::run(&mut cmd)
}

/// stdout and stderr with the repository's path made stable.
fn page(repo: &TestRepo, out: &Output) -> String {
    let root = repo.root().display().to_string();
    let clean = |s: &str| s.replace(&root, "[REPO]");
    let mut text = format!("exit: {}\n", out.code);
    if !out.stdout.is_empty() {
        text.push_str("--- stdout\n");
        text.push_str(&clean(&out.stdout));
    }
    if !out.stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&clean(&out.stderr));
    }
    text
}

/// Three sessions made at [`MADE`]: one with progress and a log entry, one paused, and one
/// whose frontmatter is broken.
fn repo() -> TestRepo {
    let repo = TestRepo::init();
    run_at(
        &repo,
        MADE,
        &[
            "new",
            "Weather API fallback",
            "--task",
            "Wire the second provider",
        ],
    )
    .ok();
    run_at(
        &repo,
        "2026-03-04T10:00:01Z",
        &["new", "Docs tour", "--task", "Rewrite the tour"],
    )
    .ok();
    let weather = "20260304-100000-weather-api-fallback";
    let docs = "20260304-100001-docs-tour";
    run_at(
        &repo,
        "2026-03-04T11:00:00Z",
        &[
            "update",
            weather,
            "--state",
            "Provider A answers; B times out after 3 s.",
        ],
    )
    .ok();
    run_at(
        &repo,
        "2026-03-04T11:30:00Z",
        &["log", weather, "B needs a longer timeout"],
    )
    .ok();
    run_at(
        &repo,
        "2026-03-04T11:40:00Z",
        &["pause", docs, "--reason", "waiting for review"],
    )
    .ok();
    repo.session(
        "20260304-100002-broken.md",
        "---\nsession:\n  title: \"Broken\n  status: in_progress\n---\n# Session: Broken\n",
    );
    repo
}

#[test]
fn list_at_80_columns() {
    let repo = repo();
    let out = run_at(&repo, NOW, &["list"]);
    insta::assert_snapshot!(page(&repo, &out));
}

#[test]
fn status_of_the_repository() {
    let repo = repo();
    let out = run_at(&repo, NOW, &["status"]);
    insta::assert_snapshot!(page(&repo, &out));
}

#[test]
fn status_of_one_session() {
    let repo = repo();
    let out = run_at(&repo, NOW, &["status", "weather"]);
    insta::assert_snapshot!(page(&repo, &out));
}

#[test]
fn show_of_one_session() {
    let repo = repo();
    let out = run_at(&repo, NOW, &["show", "weather"]);
    insta::assert_snapshot!(page(&repo, &out));
}

#[test]
fn validate_reports_the_broken_file() {
    let repo = repo();
    let out = run_at(&repo, NOW, &["validate"]);
    insta::assert_snapshot!(page(&repo, &out));
}

#[test]
fn a_mistyped_session_gets_the_close_ones() {
    let repo = repo();
    let out = run_at(&repo, NOW, &["status", "wether"]);
    insta::assert_snapshot!(page(&repo, &out));
}

#[test]
fn agents_with_no_runs() {
    let repo = repo();
    let out = run_at(&repo, NOW, &["agents"]);
    insta::assert_snapshot!(page(&repo, &out));
}

#[test]
fn the_written_file_after_update_log_and_pause() {
    let repo = repo();
    let text = repo.read(".agents/sessions/20260304-100000-weather-api-fallback.md");
    insta::assert_snapshot!(text);
}
