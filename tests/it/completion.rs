//! Completions that know the repository (clap_complete's dynamic protocol, asked the way the
//! fish script asks: `COMPLETE=fish sessions -- sessions <words>`), and the man pages.

use crate::common;

use common::{TestRepo, VALID, VALID_NAME, run};

fn complete(repo: &TestRepo, words: &[&str]) -> Vec<String> {
    let mut cmd = repo.cmd();
    cmd.env("COMPLETE", "fish")
        .arg("--")
        .arg("sessions")
        .args(words);
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{out}");
    out.stdout.lines().map(str::to_owned).collect()
}

fn repo_with_two_sessions() -> TestRepo {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, VALID);
    repo.session(
        "20251205-090000-parser-fix.md",
        VALID
            .replace("Weather API fallback", "Parser fix")
            .replace("in_progress", "paused"),
    );
    repo
}

#[test]
fn session_arguments_complete_stems_with_their_titles() {
    let repo = repo_with_two_sessions();
    let got = complete(&repo, &["show", "2025"]);
    assert_eq!(
        got,
        [
            "20251204-143000-weather-api\tWeather API fallback (in progress)",
            "20251205-090000-parser-fix\tParser fix (paused)",
        ],
        "{got:?}"
    );
    // Every command taking a SESSION completes it, `log`'s SESSION|MESSAGE too.
    for cmd in ["status", "update", "log", "close", "handoff", "resume"] {
        let got = complete(&repo, &[cmd, "20251205"]);
        assert_eq!(
            got,
            ["20251205-090000-parser-fix\tParser fix (paused)"],
            "{cmd}: {got:?}"
        );
    }
    // A word that starts no stem matches titles and names, as the commands accept it.
    let got = complete(&repo, &["show", "parser"]);
    assert_eq!(got, ["20251205-090000-parser-fix\tParser fix"], "{got:?}");
}

#[test]
fn a_completion_writes_nothing() {
    let repo = repo_with_two_sessions();
    let before = repo.files();
    complete(&repo, &["show", ""]);
    assert_eq!(repo.files(), before);
}

#[test]
fn session_colon_completes_its_agents_and_runs() {
    let repo = repo_with_two_sessions();
    let stem = "20251204-143000-weather-api";
    let out = repo.run(&[
        "spawn", stem, "--agent", "tm", "--task", "Fix it", "--json", "--", "sh", "-c", "exit 0",
    ]);
    out.ok();
    let id = out.json()[0]["run_id"].as_str().unwrap().to_string();
    let got = complete(&repo, &["logs", &format!("{stem}:")]);
    assert!(
        got.contains(&format!("{stem}:tm\tthe agent's latest run")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|c| c.starts_with(&format!("{stem}:{id}\ttm ")) && c.ends_with("Fix it")),
        "{got:?}"
    );
}

#[test]
fn agent_names_come_from_the_config_and_statuses_are_listed() {
    let repo = repo_with_two_sessions();
    repo.write(
        ".agents/config.yaml",
        "agents:\n  reviewer:\n    command: [sh, -c, \"true\"]\n  fixer:\n    command: [sh, -c, \"true\"]\n",
    );
    let got = complete(&repo, &["spawn", "20251204", "--agent", ""]);
    assert_eq!(got, ["fixer", "reviewer"], "{got:?}");
    let got = complete(&repo, &["list", "--status", ""]);
    assert_eq!(got, ["in_progress", "paused", "completed"], "{got:?}");
}

#[test]
fn completions_prints_a_script_that_calls_sessions_back() {
    let repo = TestRepo::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = repo.run(&["completions", shell]);
        out.ok();
        assert!(out.stdout.contains("COMPLETE"), "{shell}: {}", out.stdout);
        assert!(out.stdout.contains("sessions"), "{shell}: {}", out.stdout);
    }
    repo.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn man_prints_roff_and_writes_one_page_per_command() {
    let repo = TestRepo::new();
    let out = repo.run(&["man"]);
    out.ok();
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.contains(".TH sessions"),
        "{}",
        &out.stdout[..200.min(out.stdout.len())]
    );
    assert!(
        out.stdout.contains("validate"),
        "the page lists the commands"
    );

    let dir = repo.path("man");
    let out = repo.run(&["man", "--out", dir.to_str().unwrap()]);
    out.ok();
    for page in ["sessions.1", "sessions-list.1", "sessions-spawn.1"] {
        assert!(dir.join(page).is_file(), "{page} missing: {}", out.stdout);
        assert!(out.stdout.contains(page), "{}", out.stdout);
    }
    // An unwritable place is a clear error, not a panic.
    repo.write("file", "x");
    let out = repo.run(&["man", "--out", repo.path("file/man").to_str().unwrap()]);
    out.code(2);
    assert!(
        out.stderr.contains("cannot write the man pages into"),
        "{out}"
    );
}
