//! The small things a daily user trips over (issue 13): pausing with agents still running,
//! spawning into a completed session, durations without a unit, `init` outside git.

use crate::agents_support;

use agents_support::Repo;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn pause_names_the_agents_still_running_and_kill_stops_them() {
    let repo = Repo::new();
    let started = repo.spawn(&["--agent", "slow", "--task", "t", "--", "sleep", "60"]);
    let id = started[0]["run_id"].as_str().unwrap().to_string();
    repo.wait_running(&id);

    let out = repo.ok(&["pause", &repo.stem]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("1 agent is still running: slow ({id})")),
        "{err}"
    );
    assert!(
        err.contains(&format!("sessions kill {} --all", repo.stem)),
        "{err}"
    );
    assert_eq!(repo.agent(&id)["status"], "running");

    repo.ok(&["resume", &repo.stem]);
    let out = repo.ok(&["pause", &repo.stem, "--kill"]);
    assert!(!stderr(&out).contains("still running"), "{}", stderr(&out));
    repo.wait_status(&id, "cancelled");

    // Nothing running: nothing said.
    repo.ok(&["resume", &repo.stem]);
    let out = repo.ok(&["pause", &repo.stem]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn spawn_into_a_completed_session_warns() {
    let repo = Repo::new();
    repo.ok(&["update", &repo.stem, "--status", "completed"]);
    let out = repo.ok(&[
        "spawn", &repo.stem, "--agent", "a", "--task", "t", "--", "true",
    ]);
    assert!(
        stderr(&out)
            .contains("is completed; the agent's outcome will be written into a closed session"),
        "{}",
        stderr(&out)
    );
    let repo = Repo::new();
    let out = repo.ok(&[
        "spawn", &repo.stem, "--agent", "a", "--task", "t", "--", "true",
    ]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn durations_without_a_unit_get_a_suggestion() {
    let repo = Repo::new();
    for (args, want) in [
        (
            vec!["prune", "--older-than", "7"],
            "`7` has no unit: 7s, 7m, 7h or 7d?",
        ),
        (
            vec!["kill", "--grace", "soon"],
            "`soon` is not a duration: write it with a unit, e.g. 45s, 30m, 2h or 7d",
        ),
    ] {
        let out = repo.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    repo.ok(&["prune", "--older-than", "7d", "--dry-run"]);
    repo.ok(&["prune", "--older-than", "1h30m", "--dry-run"]);

    std::fs::write(repo.root().join(".agents/config.yaml"), "stale_after: 24\n").unwrap();
    let out = repo.run(&["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("stale_after: `24` has no unit: 24s, 24m, 24h or 24d?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_outside_a_git_repository_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // Only meaningful when nothing above the temp dir is a repository.
    if dir
        .path()
        .ancestors()
        .skip(1)
        .any(|d| d.join(".git").exists() || d.join(".agents").exists())
    {
        agents_support::skip_note("a directory above the temp dir is a repository");
        return;
    }
    let run = |d: &std::path::Path| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_sessions"));
        c.sealed();
        c.arg("init").current_dir(d).output().unwrap()
    };
    use agents_support::Sealed;
    let out = run(dir.path());
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("is not in a git repository") && stderr(&out).contains("git init"),
        "{}",
        stderr(&out)
    );
    let git = tempfile::tempdir().unwrap();
    std::fs::create_dir(git.path().join(".git")).unwrap();
    let out = run(git.path());
    assert!(!stderr(&out).contains("git repository"), "{}", stderr(&out));
}

fn validate(repo: &Repo, name: &str, text: &str) -> String {
    let path = repo.root().join(".agents/sessions").join(name);
    std::fs::write(&path, text).unwrap();
    let out = repo.run(&["validate", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_misnamed_file_is_told_its_exact_new_name() {
    let repo = Repo::new();
    let good = std::fs::read_to_string(&repo.path).unwrap();
    let created = good
        .lines()
        .find_map(|l| l.trim().strip_prefix("created: "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let time = chrono_like(&created);
    let out = validate(&repo, "2025-01-01 Fix Parser.md", &good);
    assert!(
        out.contains(&format!("rename it to `{time}-fix-parser.md`")),
        "{out}"
    );
    let out = validate(&repo, "20250101-000000-Bad_Slug.md", &good);
    assert!(
        out.contains("`20250101-000000-bad-slug.md` would do"),
        "{out}"
    );
}

/// `2026-12-02T00:55:25Z` → `20261202-005525`.
fn chrono_like(rfc3339: &str) -> String {
    let digits: String = rfc3339.chars().filter(char::is_ascii_digit).collect();
    format!("{}-{}", &digits[..8], &digits[8..14])
}

#[test]
fn yaml_errors_are_in_plain_words_with_the_caret_at_the_cause() {
    let repo = Repo::new();
    let name = "20250101-000000-yaml.md";
    for (line, words, caret_col) in [
        (
            "  title: \"Fix the parser",
            "this quote is never closed",
            10,
        ),
        (
            "  title: Fix: the parser",
            "a second `: ` on one line: quote the value",
            0,
        ),
        ("  title: [a, b", "this `[` list is not closed with `]`", 0),
        (
            "  title: \"a\\qb\"",
            "an unknown `\\` escape inside double quotes",
            0,
        ),
    ] {
        let out = validate(&repo, name, &format!("---\nsession:\n{line}\n---\n# x\n"));
        assert!(out.contains(words), "{line}: {out}");
        if caret_col > 0 {
            assert!(out.contains(&format!(":3:{caret_col}")), "{line}: {out}");
        }
    }
}

#[test]
fn a_mistyped_session_agent_or_status_gets_a_did_you_mean() {
    let repo = Repo::new();
    repo.ok(&["new", "parser fix"]);
    let err = |args: &[&str]| {
        let out = repo.run(args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        stderr(&out)
    };
    let e = err(&["status", "wether"]);
    assert!(e.contains("did you mean:\n  "), "{e}");
    assert!(
        e.contains(&format!("  {}  weather fallback", repo.stem)),
        "{e}"
    );
    assert!(!e.contains("parser"), "only close names: {e}");
    let e = err(&["show", "parsr-fix"]);
    assert!(e.contains("parser fix"), "{e}");
    // Nothing close: the plain hint.
    let e = err(&["show", "zzzz"]);
    assert!(e.contains("run `sessions list --all` to see them"), "{e}");

    let e = err(&["spawn", &repo.stem, "--agent", "claud", "--task", "t"]);
    assert!(e.contains("did you mean `claude`?"), "{e}");
    let e = err(&["list", "--status", "paussed"]);
    assert!(e.contains("did you mean `paused`?"), "{e}");
}
