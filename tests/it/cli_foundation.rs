//! The foundation commands driven like a user would: init, new, references, list, status, show,
//! validate and completions, each in its own throwaway repository.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Sealed, TestRepo, VALID, VALID_NAME, ago, name_for, session_text};
use serde_json::Value;
use sessions::session::{Document, name};

// ---------------------------------------------------------------------------------------------
// init

#[test]
fn init_creates_sessions_dir_config_and_gitignore_entries() {
    let repo = TestRepo::new();
    let out = repo.run(&["init"]);
    out.ok();
    assert!(repo.sessions_dir().is_dir(), "{out}");
    assert!(repo.path(".agents/config.yaml").is_file());
    sessions::config::Config::parse(&repo.read(".agents/config.yaml"))
        .expect("the written config parses");
    let gitignore = repo.read(".gitignore");
    let lines: Vec<&str> = gitignore.lines().collect();
    assert!(lines.contains(&".agents/state/"), "{gitignore}");
    assert!(lines.contains(&".agents/logs/"), "{gitignore}");
}

#[test]
fn init_twice_is_idempotent_and_does_not_duplicate_gitignore_entries() {
    let repo = TestRepo::new();
    repo.run(&["init"]).ok();
    let config = repo.read(".agents/config.yaml");
    let gitignore = repo.read(".gitignore");
    repo.write(".agents/config.yaml", "stale_after: 2h\n");
    let config_edited = repo.read(".agents/config.yaml");
    repo.run(&["init"]).ok();
    assert_eq!(
        repo.read(".gitignore"),
        gitignore,
        "a second init must not append again"
    );
    assert_eq!(
        repo.read(".agents/config.yaml"),
        config_edited,
        "init must not overwrite an existing config"
    );
    assert_ne!(config, config_edited);
    assert_eq!(repo.read(".gitignore").matches(".agents/state/").count(), 1);
}

#[test]
fn init_keeps_existing_gitignore_content() {
    let repo = TestRepo::new();
    repo.write(".gitignore", "target/\n*.swp");
    repo.run(&["init"]).ok();
    let gitignore = repo.read(".gitignore");
    assert!(gitignore.starts_with("target/\n*.swp\n"), "{gitignore:?}");
    let lines: Vec<&str> = gitignore.lines().collect();
    assert!(
        lines.contains(&"*.swp")
            && lines.contains(&".agents/state/")
            && lines.contains(&".agents/logs/")
    );
}

#[test]
fn init_recognises_existing_entries_written_differently() {
    let repo = TestRepo::new();
    repo.write(".gitignore", "/.agents/state\n.agents/logs/\n");
    repo.run(&["init"]).ok();
    assert_eq!(repo.read(".gitignore"), "/.agents/state\n.agents/logs/\n");
}

#[test]
fn init_with_dash_c_works_from_another_directory() {
    let repo = TestRepo::new();
    repo.run_with_c(&["init"]).ok();
    assert!(repo.sessions_dir().is_dir());
}

#[test]
fn init_in_a_subdirectory_sets_up_the_repository_root() {
    let repo = TestRepo::new();
    std::fs::create_dir_all(repo.path("crates/core")).unwrap();
    common::run(repo.cmd_in(&repo.path("crates/core")).arg("init")).ok();
    assert!(repo.sessions_dir().is_dir());
    assert!(repo.path(".gitignore").is_file());
    assert!(!repo.path("crates/core/.agents").exists());
}

#[test]
fn init_keeps_crlf_line_endings_of_an_existing_gitignore() {
    let repo = TestRepo::new();
    repo.write(".gitignore", "target/\r\n");
    repo.run(&["init"]).ok();
    let gitignore = repo.read(".gitignore");
    assert!(gitignore.starts_with("target/\r\n"), "{gitignore:?}");
    assert_eq!(
        gitignore.matches('\n').count(),
        gitignore.matches("\r\n").count(),
        "{gitignore:?}"
    );
}

#[test]
fn init_in_a_git_repository_below_another_agents_dir_stays_in_the_repository() {
    let outer = TestRepo::new();
    std::fs::create_dir_all(outer.path(".agents/sessions")).unwrap();
    std::fs::create_dir_all(outer.path("proj/.git")).unwrap();
    let out = common::run(outer.cmd_in(&outer.path("proj")).arg("init"));
    out.ok();
    assert!(outer.path("proj/.agents/sessions").is_dir(), "{out}");
    assert!(
        !outer.path(".gitignore").exists(),
        "init wrote outside the repository\n{out}"
    );
    assert!(
        !outer.path(".agents/config.yaml").exists(),
        "init wrote outside the repository\n{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// new

fn new_session(repo: &TestRepo, args: &[&str]) -> (String, String) {
    let mut all = vec!["new"];
    all.extend_from_slice(args);
    let out = repo.run(&all);
    out.ok();
    let printed = out.stdout.trim().to_string();
    let text = std::fs::read_to_string(repo.path(&printed))
        .unwrap_or_else(|e| panic!("{printed}: {e}\n{out}"));
    (printed, text)
}

#[test]
fn new_prints_the_path_of_the_created_file() {
    let repo = TestRepo::init();
    let (printed, _) = new_session(&repo, &["fix the login timeout"]);
    assert!(printed.starts_with(".agents/sessions/"), "{printed}");
    assert!(printed.ends_with("-fix-the-login-timeout.md"), "{printed}");
    assert_eq!(repo.session_names().len(), 1);
}

#[test]
fn new_file_name_is_utc_timestamp_and_kebab_slug() {
    let repo = TestRepo::init();
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (printed, _) = new_session(&repo, &["Fix the Login Timeout!"]);
    let after = chrono::Utc::now() + chrono::Duration::seconds(61);
    let file_name = printed.rsplit('/').next().unwrap();
    let parsed = name::parse(file_name).unwrap_or_else(|e| panic!("{file_name}: {e:?}"));
    assert_eq!(parsed.slug, "fix-the-login-timeout");
    assert!(
        parsed.time >= before && parsed.time <= after,
        "{} not near now",
        parsed.time
    );
}

#[test]
fn new_created_equals_last_updated_equals_name_time() {
    let repo = TestRepo::init();
    let (printed, text) = new_session(&repo, &["weather api"]);
    let doc = Document::parse(&text);
    let created = doc.str_value(&["session", "created"]).expect("created");
    assert_eq!(doc.str_value(&["session", "last_updated"]), Some(created));
    let file_name = printed.rsplit('/').next().unwrap();
    assert_eq!(file_name, name_for(created, "weather-api"));
    assert_eq!(doc.str_value(&["session", "status"]), Some("in_progress"));
    assert_eq!(doc.str_value(&["session", "title"]), Some("weather api"));
    assert_eq!(
        doc.str_value(&["orchestration", "current_task"]),
        Some("weather api")
    );
}

#[test]
fn new_file_passes_validation() {
    let repo = TestRepo::init();
    new_session(
        &repo,
        &["a: tricky # title \"quoted\"", "--task=- leading dash"],
    );
    repo.run(&["validate", "--strict"]).ok();
}

#[test]
fn new_with_title_task_issue_and_url_fills_frontmatter() {
    let repo = TestRepo::init();
    let (printed, text) = new_session(
        &repo,
        &[
            "weather fallback",
            "--title",
            "Weather: API fallback",
            "--task",
            "Implement the chain",
            "--issue",
            "back-123",
            "--issue-url",
            "https://linear.app/acme/issue/BACK-123",
        ],
    );
    assert!(printed.ends_with("-weather-fallback.md"), "{printed}");
    let doc = Document::parse(&text);
    assert_eq!(
        doc.str_value(&["session", "title"]),
        Some("Weather: API fallback")
    );
    assert_eq!(
        doc.str_value(&["orchestration", "current_task"]),
        Some("Implement the chain")
    );
    assert_eq!(
        doc.str_value(&["session", "linear_issue"]),
        Some("BACK-123")
    );
    assert_eq!(
        doc.str_value(&["session", "linear_url"]),
        Some("https://linear.app/acme/issue/BACK-123")
    );
    assert!(
        text.contains("# Session: Weather: API fallback\n"),
        "{text}"
    );
}

#[test]
fn new_without_issue_writes_no_empty_issue_keys() {
    let repo = TestRepo::init();
    let (_, text) = new_session(&repo, &["plain"]);
    assert!(
        !text.contains("linear_issue") && !text.contains("linear_url"),
        "{text}"
    );
}

#[test]
fn new_moves_leading_issue_key_to_linear_issue_and_out_of_slug() {
    let repo = TestRepo::init();
    let (printed, text) = new_session(&repo, &["PLT-123 Fix login"]);
    assert!(printed.ends_with("-fix-login.md"), "{printed}");
    let doc = Document::parse(&text);
    assert_eq!(doc.str_value(&["session", "linear_issue"]), Some("PLT-123"));
    assert_eq!(doc.str_value(&["session", "title"]), Some("Fix login"));
    let (printed, text) = new_session(&repo, &["plt-9: crash on start"]);
    assert!(printed.ends_with("-crash-on-start.md"), "{printed}");
    assert_eq!(
        Document::parse(&text).str_value(&["session", "linear_issue"]),
        Some("PLT-9")
    );
}

#[test]
fn new_keeps_issue_key_that_is_not_at_the_start_in_the_slug() {
    let repo = TestRepo::init();
    let (printed, text) = new_session(&repo, &["Fix PLT-123"]);
    assert!(printed.ends_with("-fix-plt-123.md"), "{printed}");
    assert!(
        Document::parse(&text)
            .value(&["session", "linear_issue"])
            .is_none()
    );
}

#[test]
fn new_with_dotdot_description_never_escapes_the_sessions_directory() {
    let repo = TestRepo::init();
    let before: BTreeSet<String> = repo.files().into_iter().collect();
    for description in [
        "../../../evil",
        "../x/../../y",
        "/etc/passwd",
        "..",
        "a/../../b\\..\\c",
    ] {
        let out = repo.run(&["new", description]);
        out.ok().no_panic();
        let printed = out.stdout.trim();
        assert!(
            printed.starts_with(".agents/sessions/") && !printed[17..].contains('/'),
            "{printed}"
        );
        assert!(!printed.contains(".."), "{printed}");
    }
    let after: BTreeSet<String> = repo.files().into_iter().collect();
    let added: Vec<&String> = after.difference(&before).collect();
    assert_eq!(added.len(), 5, "{added:?}");
    for f in added {
        assert!(
            f.starts_with(".agents/sessions/") && f.matches('/').count() == 2,
            "written outside: {f}"
        );
    }
    let parent = repo.root().parent().unwrap();
    assert!(!parent.join("evil.md").exists());
}

#[test]
fn new_never_overwrites_a_file_with_the_same_name() {
    let repo = TestRepo::init();
    // Occupy the names `new` would use for this second and the next few with sentinels.
    let now = chrono::Utc::now();
    let mut sentinels = Vec::new();
    for s in 0..4 {
        let t = (now + chrono::Duration::seconds(s))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let name = name_for(&t, "same-thing");
        let path = repo.session(&name, format!("sentinel {s}\n"));
        sentinels.push((path, format!("sentinel {s}\n")));
    }
    let out = repo.run(&["new", "same thing"]);
    out.ok();
    for (path, content) in &sentinels {
        assert_eq!(
            &std::fs::read_to_string(path).unwrap(),
            content,
            "{} was overwritten",
            path.display()
        );
    }
    assert_eq!(repo.session_names().len(), 5, "{out}");
    let created = repo.path(out.stdout.trim());
    assert!(!sentinels.iter().any(|(p, _)| *p == created), "{out}");
}

#[test]
fn new_twice_with_the_same_description_creates_two_distinct_files() {
    let repo = TestRepo::init();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("sessions"))
                .sealed()
                .current_dir(repo.root())
                .args(["new", "same description"])
                .output()
                .unwrap()
        })
        .collect();
    let a = String::from_utf8_lossy(&children[0].stdout)
        .trim()
        .to_string();
    let b = String::from_utf8_lossy(&children[1].stdout)
        .trim()
        .to_string();
    assert_ne!(a, b);
    assert_eq!(repo.session_names().len(), 2);
    // And run concurrently: still two files, both complete.
    let procs: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("sessions"))
                .sealed()
                .current_dir(repo.root())
                .args(["new", "racing"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for p in procs {
        assert!(p.wait_with_output().unwrap().status.success());
    }
    let racing: Vec<String> = repo
        .session_names()
        .into_iter()
        .filter(|n| n.ends_with("-racing.md"))
        .collect();
    assert_eq!(racing.len(), 4, "{racing:?}");
    for n in racing {
        let text = repo.read(&format!(".agents/sessions/{n}"));
        assert!(text.ends_with("## Session Log\n"), "{n} incomplete: {text}");
    }
}

#[test]
fn new_uses_repository_template_override() {
    let repo = TestRepo::init();
    repo.write(
        ".agents/templates/session.md",
        "---\nsession:\n  title: {{title}}\n  status: in_progress\n  created: {{created}}\n  last_updated: {{created}}\norchestration:\n  current_task: {{task}}\n  team: platform\n---\n# {{title_text}} (custom)\n\n## Context\n## Current State\n## Next Steps\n## House Rules\n",
    );
    let (_, text) = new_session(&repo, &["custom template"]);
    assert!(text.contains("# custom template (custom)\n"), "{text}");
    assert!(
        text.contains("  team: platform\n") && text.contains("## House Rules\n"),
        "{text}"
    );
    assert!(
        !text.contains("## Execution Progress"),
        "the built-in template was used: {text}"
    );
}

#[test]
fn new_refuses_template_override_without_title_placeholder() {
    let repo = TestRepo::init();
    repo.write(".agents/templates/session.md", "# nothing here\n");
    let out = repo.run(&["new", "x"]);
    out.code(2).no_panic();
    assert!(out.stderr.contains("templates/session.md"), "{out}");
    assert!(repo.session_names().is_empty());
}

#[test]
fn new_without_init_exits_2_and_says_to_run_init() {
    let repo = TestRepo::new();
    let out = repo.run(&["new", "anything"]);
    out.code(2).no_panic();
    assert!(out.stderr.contains("sessions init"), "{out}");
    assert!(
        !repo.path(".agents").exists(),
        "new must not create the directory itself"
    );
}

#[test]
fn new_rejects_empty_description_and_bad_issue_url() {
    let repo = TestRepo::init();
    repo.run(&["new", "   "]).code(2).no_panic();
    let out = repo.run(&["new", "x", "--issue-url", "linear.app/PLT-1"]);
    out.code(2).no_panic();
    assert!(out.stderr.contains("--issue-url"), "{out}");
    assert!(repo.session_names().is_empty());
}

#[test]
fn new_rejects_empty_title_and_task() {
    let repo = TestRepo::init();
    for args in [
        &["new", "x", "--title", ""][..],
        &["new", "x", "--title", "  "],
        &["new", "x", "--task", " "],
    ] {
        let out = repo.run(args);
        out.no_panic();
        if out.code == 0 {
            repo.run(&["validate"]).ok();
        } else {
            out.code(2);
        }
    }
}

#[test]
fn new_cuts_long_descriptions_to_a_short_slug_at_a_word_boundary() {
    let repo = TestRepo::init();
    let long = "refactor the provider fallback chain so that every weather provider is retried with backoff";
    let (printed, text) = new_session(&repo, &[long]);
    let file_name = printed.rsplit('/').next().unwrap();
    let slug = name::parse(file_name).unwrap().slug.to_string();
    assert!(
        slug.len() <= 60 && long.replace(' ', "-").starts_with(&slug),
        "{slug}"
    );
    assert!(!slug.ends_with('-'));
    assert_eq!(
        Document::parse(&text).str_value(&["session", "title"]),
        Some(long),
        "the title is not cut"
    );
    let (printed, _) = new_session(&repo, &["Façade für 日本!!"]);
    assert!(
        name::parse(printed.rsplit('/').next().unwrap()).is_ok(),
        "{printed}"
    );
    let (printed, _) = new_session(&repo, &["!!!"]);
    assert!(printed.ends_with("-session.md"), "{printed}");
}

#[test]
fn new_json_prints_path_id_and_title() {
    let repo = TestRepo::init();
    let out = repo.run(&["new", "json please", "--json"]);
    out.ok();
    let v = out.json();
    let id = v["id"].as_str().unwrap();
    assert_eq!(v["path"], format!(".agents/sessions/{id}.md"));
    assert_eq!(v["title"], "json please");
    assert!(repo.path(v["path"].as_str().unwrap()).is_file());
}

#[test]
fn new_from_a_subdirectory_prints_a_path_relative_to_it() {
    let repo = TestRepo::init();
    std::fs::create_dir_all(repo.path("src/deep")).unwrap();
    let out = common::run(
        repo.cmd_in(&repo.path("src/deep"))
            .args(["new", "from below"]),
    );
    out.ok();
    let printed = out.stdout.trim();
    assert!(repo.path("src/deep").join(printed).is_file(), "{out}");
}

// ---------------------------------------------------------------------------------------------
// SESSION references (exercised through `show`)

fn two_sessions() -> TestRepo {
    let repo = TestRepo::init();
    let a = session_text(
        "Weather API fallback",
        "in_progress",
        &ago(Duration::ZERO),
        &ago(Duration::ZERO),
        "t",
    );
    let b = session_text(
        "Login timeout",
        "paused",
        &ago(Duration::ZERO),
        &ago(Duration::ZERO),
        "t",
    );
    repo.session("20251204-143000-weather-api.md", a);
    repo.session("20251205-090000-login-timeout.md", b);
    repo
}

#[test]
fn reference_by_path_stem_substring_and_title() {
    let repo = two_sessions();
    let weather = repo.read(".agents/sessions/20251204-143000-weather-api.md");
    for reference in [
        ".agents/sessions/20251204-143000-weather-api.md",
        "20251204-143000-weather-api",
        "20251204-143000-weather-api.md",
        "weather",
        "WEATHER",
        "API fallback",
        "1204",
    ] {
        let out = repo.run(&["show", reference]);
        out.ok();
        assert_eq!(out.stdout, weather, "reference {reference:?}");
    }
    let abs = repo.path(".agents/sessions/20251205-090000-login-timeout.md");
    let out = repo.run_with_c(&["show", abs.to_str().unwrap()]);
    out.ok();
    assert!(out.stdout.contains("Login timeout"));
}

#[test]
fn reference_by_relative_path_with_dash_c() {
    let repo = two_sessions();
    let out = repo.run_with_c(&["show", ".agents/sessions/20251204-143000-weather-api.md"]);
    out.ok();
    assert!(out.stdout.contains("Weather API fallback"), "{out}");
}

#[test]
fn reference_by_path_relative_to_a_subdirectory() {
    let repo = two_sessions();
    std::fs::create_dir_all(repo.path("src")).unwrap();
    let out = common::run(
        repo.cmd_in(&repo.path("src"))
            .args(["show", "../.agents/sessions/20251204-143000-weather-api.md"]),
    );
    out.ok();
    assert!(out.stdout.contains("Weather API fallback"), "{out}");
}

#[test]
fn ambiguous_reference_exits_1_listing_candidates() {
    let repo = two_sessions();
    let out = repo.run(&["show", "2025120"]);
    out.code(1).no_panic();
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("20251204-143000-weather-api"), "{out}");
    assert!(
        out.stderr.contains("20251205-090000-login-timeout"),
        "{out}"
    );
}

#[test]
fn unknown_reference_exits_1() {
    let repo = two_sessions();
    let out = repo.run(&["show", "nothing-like-this"]);
    out.code(1).no_panic();
    assert!(out.stderr.contains("nothing-like-this"), "{out}");
    let out = repo.run(&["status", "nothing-like-this"]);
    out.code(1).no_panic();
}

#[test]
fn exact_stem_wins_over_substring_matches() {
    let repo = TestRepo::init();
    let t = ago(Duration::ZERO);
    repo.session(
        "20251204-143000-api.md",
        session_text("first", "in_progress", &t, &t, "t"),
    );
    repo.session(
        "20251204-143000-api-v2.md",
        session_text("second", "in_progress", &t, &t, "t"),
    );
    let out = repo.run(&["show", "20251204-143000-api"]);
    out.ok();
    assert!(out.stdout.contains("title: \"first\""));
}

// ---------------------------------------------------------------------------------------------
// list

const SPEC_LIST_KEYS: [&str; 9] = [
    "path",
    "id",
    "title",
    "status",
    "created",
    "last_updated",
    "current_task",
    "agents",
    "stale",
];

fn listing_repo() -> TestRepo {
    let repo = TestRepo::init();
    let fresh = ago(Duration::from_secs(60));
    let old = ago(Duration::from_secs(3 * 86_400));
    repo.session(
        &name_for(&fresh, "bravo"),
        session_text("Bravo work", "in_progress", &fresh, &fresh, "bravo task"),
    );
    repo.session(
        &name_for(&old, "alpha"),
        session_text("alpha work", "paused", &old, &old, "alpha task"),
    );
    repo.session(
        &name_for(&old, "charlie"),
        session_text("Charlie done", "completed", &old, &old, "c task"),
    );
    repo
}

fn list_json(repo: &TestRepo, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["list", "--json"];
    all.extend_from_slice(args);
    let out = repo.run(&all);
    out.ok();
    out.json()
        .as_array()
        .unwrap_or_else(|| panic!("not an array\n{out}"))
        .clone()
}

fn titles(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["title"].as_str().unwrap()).collect()
}

#[test]
fn list_prints_a_table_of_active_sessions() {
    let repo = listing_repo();
    let out = repo.run(&["list"]);
    out.ok();
    let header = out.stdout.lines().next().unwrap();
    for col in ["STATUS", "AGE", "TITLE", "TASK", "AGENTS", "ID"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        out.stdout.contains("Bravo work") && out.stdout.contains("alpha work"),
        "{out}"
    );
    assert!(
        !out.stdout.contains("Charlie done"),
        "completed sessions are hidden by default\n{out}"
    );
    assert!(out.stdout.contains("bravo task"));
}

#[test]
fn list_json_has_exactly_the_spec_keys() {
    let repo = listing_repo();
    let items = list_json(&repo, &["--all"]);
    assert_eq!(items.len(), 3);
    for item in &items {
        let keys: BTreeSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, SPEC_LIST_KEYS.into_iter().collect(), "{item}");
        let agents: BTreeSet<&str> = item["agents"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(agents, ["running", "total"].into_iter().collect());
        assert!(item["stale"].is_boolean());
        let id = item["id"].as_str().unwrap();
        assert_eq!(item["path"], format!(".agents/sessions/{id}.md"));
    }
    let bravo = items.iter().find(|i| i["title"] == "Bravo work").unwrap();
    assert_eq!(bravo["status"], "in_progress");
    assert_eq!(bravo["current_task"], "bravo task");
    assert_eq!(bravo["agents"]["total"], 0);
}

#[test]
fn list_json_on_empty_repository_is_an_empty_array() {
    let repo = TestRepo::init();
    assert!(list_json(&repo, &[]).is_empty());
    repo.run(&["list"]).ok();
}

#[test]
fn list_status_filters_by_status() {
    let repo = listing_repo();
    assert_eq!(
        titles(&list_json(&repo, &["--status", "paused"])),
        ["alpha work"]
    );
    assert_eq!(
        titles(&list_json(&repo, &["--status", "completed"])),
        ["Charlie done"]
    );
    let mut both = titles(&list_json(
        &repo,
        &["--status", "paused", "--status", "in_progress"],
    ))
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    both.sort();
    assert_eq!(both, ["Bravo work", "alpha work"]);
    let out = repo.run(&["list", "--status", "finished"]);
    out.code(2).no_panic();
}

#[test]
fn list_all_includes_completed() {
    let repo = listing_repo();
    assert_eq!(list_json(&repo, &[]).len(), 2);
    assert_eq!(list_json(&repo, &["--all"]).len(), 3);
    let out = repo.run(&["list", "-a"]);
    out.ok();
    assert!(out.stdout.contains("Charlie done"));
}

#[test]
fn list_sort_title_is_case_insensitive_alphabetical() {
    let repo = listing_repo();
    assert_eq!(
        titles(&list_json(&repo, &["--all", "--sort", "title"])),
        ["alpha work", "Bravo work", "Charlie done"]
    );
    assert_eq!(
        titles(&list_json(
            &repo,
            &["--all", "--sort", "title", "--reverse"]
        )),
        ["Charlie done", "Bravo work", "alpha work"]
    );
    repo.run(&["list", "--sort", "colour"]).code(2).no_panic();
}

#[test]
fn list_default_order_is_most_recently_updated_first() {
    let repo = listing_repo();
    assert_eq!(titles(&list_json(&repo, &[])), ["Bravo work", "alpha work"]);
}

#[test]
fn list_marks_sessions_stale_after_the_configured_age() {
    let repo = listing_repo();
    let items = list_json(&repo, &["--all"]);
    let stale =
        |items: &[Value], t: &str| items.iter().find(|i| i["title"] == t).unwrap()["stale"].clone();
    assert_eq!(stale(&items, "Bravo work"), false);
    assert_eq!(stale(&items, "alpha work"), true, "3 days > default 24h");
    assert_eq!(
        stale(&items, "Charlie done"),
        false,
        "completed sessions are never stale"
    );
    let out = repo.run(&["list"]);
    let alpha_line = out
        .stdout
        .lines()
        .find(|l| l.contains("alpha work"))
        .unwrap();
    assert!(alpha_line.contains("stale"), "{alpha_line}");
    let bravo_line = out
        .stdout
        .lines()
        .find(|l| l.contains("Bravo work"))
        .unwrap();
    assert!(!bravo_line.contains("stale"), "{bravo_line}");

    repo.write(".agents/config.yaml", "stale_after: 30s\n");
    assert_eq!(
        stale(&list_json(&repo, &[]), "Bravo work"),
        true,
        "60s > 30s"
    );
    repo.write(".agents/config.yaml", "stale_after: 7d\n");
    assert_eq!(
        stale(&list_json(&repo, &[]), "alpha work"),
        false,
        "3 days < 7d"
    );
}

#[test]
fn list_with_a_malformed_config_exits_2_naming_the_file() {
    let repo = listing_repo();
    repo.write(".agents/config.yaml", "stale_after: soon\n");
    let out = repo.run(&["list"]);
    out.code(2).no_panic();
    assert!(out.stderr.contains("config.yaml:1:"), "{out}");
}

#[test]
fn list_without_init_exits_2() {
    let repo = TestRepo::new();
    let out = repo.run(&["list"]);
    out.code(2).no_panic();
    assert!(out.stderr.contains("sessions init"), "{out}");
}

#[test]
fn list_counts_running_agents() {
    let repo = TestRepo::init();
    let t = ago(Duration::ZERO);
    let text = session_text("With agents", "in_progress", &t, &t, "t").replace(
        "  current_task: \"t\"\n",
        "  current_task: \"t\"\n  spawned_agents:\n    - agent: a\n      task: x\n      status: in_progress\n    - agent: b\n      task: y\n      status: completed\n",
    );
    repo.session(&name_for(&t, "agents"), text);
    let items = list_json(&repo, &[]);
    assert_eq!(
        items[0]["agents"],
        serde_json::json!({"total": 2, "running": 1})
    );
    let out = repo.run(&["list"]);
    assert!(out.stdout.contains("1/2"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// status

const DETAILED: &str = "\
---
session:
  title: \"Detailed session\"
  status: in_progress
  created: \"2025-12-04T14:30:00Z\"
  last_updated: \"2025-12-04T15:10:00Z\"
  linear_issue: \"BACK-7\"
orchestration:
  current_task: \"Wire the providers\"
  spawned_agents:
    - agent: backend-dev
      task: \"Add provider fallback\"
      status: completed
      summary: \"Fallback via 3 providers\"
    - agent: test-writer
      task: \"Cover the chain\"
      status: in_progress
---
# Session: Detailed session

## Context

Why.

## Current State

## Next Steps

- [x] one
- [ ] two
- [ ] three

```md
- [ ] not a real item
```
";

#[test]
fn status_summary_counts_active_sessions() {
    let repo = listing_repo();
    let out = repo.run(&["status"]);
    out.ok();
    let first = out.stdout.lines().next().unwrap();
    assert_eq!(first, "1 in progress, 1 paused, 1 stale, 0 agents running");
    assert!(
        out.stdout.contains("Bravo work") && !out.stdout.contains("Charlie done"),
        "{out}"
    );
}

#[test]
fn status_summary_json_lists_active_sessions() {
    let repo = listing_repo();
    let out = repo.run(&["status", "--json"]);
    out.ok();
    let items = out.json();
    let items = items.as_array().unwrap();
    assert_eq!(
        titles(items),
        ["Bravo work", "alpha work"],
        "in_progress first, then paused"
    );
}

#[test]
fn status_detail_shows_sections_checklist_agents_and_problems() {
    let repo = TestRepo::init();
    repo.session("20251204-143000-detailed.md", DETAILED);
    let out = repo.run(&["status", "detailed"]);
    out.ok();
    let s = &out.stdout;
    assert!(s.starts_with("Detailed session\n"), "{out}");
    assert!(
        s.contains("Wire the providers") && s.contains("BACK-7"),
        "{out}"
    );
    assert!(s.contains("1/3 checklist items done"), "{out}");
    let next = s
        .lines()
        .find(|l| l.trim_start().starts_with("Next Steps"))
        .expect("Next Steps row");
    assert!(next.contains("[1/3]"), "{next}");
    let current = s
        .lines()
        .find(|l| l.trim_start().starts_with("Current State"))
        .expect("Current State row");
    assert!(current.contains("empty"), "{current}");
    assert!(s.contains("Agents (2)"), "{out}");
    let backend = s.lines().find(|l| l.contains("backend-dev")).unwrap();
    assert!(
        backend.contains("completed") && backend.contains("Add provider fallback"),
        "{backend}"
    );
    assert!(s.contains("Fallback via 3 providers"));
    assert!(s.contains("test-writer"));
    assert!(s.contains("Valid."), "{out}");

    // A problem shows up with its line and rule.
    repo.session(
        "20251204-143000-detailed.md",
        DETAILED.replace("status: in_progress\n  created", "status: done\n  created"),
    );
    let out = repo.run(&["status", "detailed"]);
    out.ok();
    assert!(out.stdout.contains("Validation (1 problem):"), "{out}");
    assert!(out.stdout.contains("4:11 error[status]"), "{out}");
    assert!(out.stdout.contains("completed"), "{out}");
}

#[test]
fn status_detail_json() {
    let repo = TestRepo::init();
    repo.session("20251204-143000-detailed.md", DETAILED);
    let out = repo.run(&["status", "20251204-143000-detailed", "--json"]);
    out.ok();
    let v = out.json();
    assert_eq!(v["title"], "Detailed session");
    assert_eq!(v["linear_issue"], "BACK-7");
    assert_eq!(v["checklist"], serde_json::json!([1, 3]));
    assert_eq!(v["agents"], serde_json::json!({"total": 2, "running": 1}));
    let agents = v["spawned_agents"].as_array().unwrap();
    assert_eq!(agents[0]["agent"], "backend-dev");
    assert_eq!(agents[0]["summary"], "Fallback via 3 providers");
    let sections: Vec<&str> = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(sections, ["Context", "Current State", "Next Steps"]);
    let next = &v["sections"][2];
    assert_eq!(next["checklist"], serde_json::json!([1, 3]));
    assert_eq!(next["line"], 27);
    assert_eq!(v["diagnostics"], serde_json::json!([]));
}

#[test]
fn status_without_sessions_suggests_new() {
    let repo = TestRepo::init();
    let out = repo.run(&["status"]);
    out.ok();
    assert!(out.stdout.contains("0 in progress"), "{out}");
    assert!(out.stdout.contains("sessions new"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// show

#[test]
fn show_prints_the_whole_file_byte_identical() {
    let repo = TestRepo::init();
    let text =
        format!("\u{feff}{}", VALID.replace('\n', "\r\n")).replace("Providers", "Prövïders 日本 ");
    repo.session(VALID_NAME, &text);
    let out = repo.cmd().args(["show", "weather"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, text.as_bytes());
    // No trailing newline is added or removed either.
    repo.session(
        "20251204-143001-nonl.md",
        "---\nx: 1\n---\n## Context\nno newline at end",
    );
    let out = repo.cmd().args(["show", "nonl"]).output().unwrap();
    assert_eq!(out.stdout, b"---\nx: 1\n---\n## Context\nno newline at end");
}

#[test]
fn show_section_prints_only_that_section_case_insensitively() {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, VALID);
    let out = repo.run(&["show", "weather", "--section", "next steps"]);
    out.ok();
    assert_eq!(
        out.stdout,
        "\n- [x] add provider A\n- [ ] add provider B\n- [ ] document the chain\n"
    );
    let out = repo.run(&["show", "weather", "-s", "Current State"]);
    out.ok();
    assert_eq!(out.stdout, "\nTwo providers wired.\n\n");
}

#[test]
fn show_missing_section_exits_1_listing_the_sections() {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, VALID);
    let out = repo.run(&["show", "weather", "--section", "Blockers"]);
    out.code(1).no_panic();
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("Blockers"), "{out}");
    assert!(
        out.stderr.contains("Context, Current State, Next Steps"),
        "{out}"
    );
}

#[test]
fn show_section_ignores_headings_inside_code_fences() {
    let repo = TestRepo::init();
    let text = VALID.replace("Providers time out.\n", "```md\n## Next Steps\nfake\n```\n");
    repo.session(VALID_NAME, &text);
    let out = repo.run(&["show", "weather", "--section", "Context"]);
    out.ok();
    assert_eq!(out.stdout, "\n```md\n## Next Steps\nfake\n```\n\n");
    let out = repo.run(&["show", "weather", "--section", "Next Steps"]);
    assert!(
        out.stdout.contains("add provider A") && !out.stdout.contains("fake"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// validate

/// Diagnostics for one file named `name` holding `text`, and the exit code of `validate`.
fn diagnose(name: &str, text: impl AsRef<[u8]>) -> (Vec<Value>, i32) {
    let repo = TestRepo::init();
    repo.session(name, text);
    let out = repo.run(&["validate", "--format", "json"]);
    out.no_panic();
    let v = out.json();
    (v["diagnostics"].as_array().unwrap().clone(), out.code)
}

/// The single diagnostic for `rule`, asserting there is exactly one.
#[track_caller]
fn only(diags: &[Value], rule: &str) -> Value {
    let found: Vec<&Value> = diags.iter().filter(|d| d["rule"] == rule).collect();
    assert_eq!(found.len(), 1, "expected one `{rule}` in {diags:#?}");
    found[0].clone()
}

#[track_caller]
fn assert_at(d: &Value, line: u64, severity: &str) {
    assert_eq!(d["line"], line, "{d}");
    assert!(d["column"].as_u64().unwrap() >= 1, "{d}");
    assert_eq!(d["severity"], severity, "{d}");
}

#[test]
fn validate_clean_repository_exits_0() {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, VALID);
    let out = repo.run(&["validate"]);
    out.ok();
    assert!(
        out.stdout.contains("1 file checked, 0 errors, 0 warnings"),
        "{out}"
    );
    repo.run(&["validate", "--strict"]).ok();
    let (diags, code) = diagnose(VALID_NAME, VALID);
    assert!(diags.is_empty() && code == 0, "{diags:?}");
}

#[test]
fn validate_empty_sessions_directory_is_ok() {
    let repo = TestRepo::init();
    let out = repo.run(&["validate"]);
    out.ok();
    assert!(out.stdout.contains("0 files checked"), "{out}");
}

#[test]
fn validate_without_init_exits_2() {
    let repo = TestRepo::new();
    let out = repo.run(&["validate"]);
    out.code(2).no_panic();
    assert!(out.stderr.contains("sessions init"), "{out}");
}

#[test]
fn validate_name_format() {
    for bad in [
        "notes.md",
        "20251204-143000.md",
        "20251204-143000-Bad_Slug.md",
        "2025-12-04-weather.md",
    ] {
        let (diags, code) = diagnose(bad, VALID);
        let d = only(&diags, "name-format");
        assert_at(&d, 1, "error");
        assert!(d["message"].as_str().unwrap().contains(bad), "{d}");
        assert_eq!(code, 1);
    }
    let (diags, _) = diagnose("20250230-143000-weather-api.md", VALID);
    assert!(
        only(&diags, "name-format")["message"]
            .as_str()
            .unwrap()
            .contains("not a real date")
    );
}

#[test]
fn validate_name_issue_key() {
    let (diags, code) = diagnose("20251204-143000-plt-123-fix-login.md", VALID);
    let d = only(&diags, "name-issue-key");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("linear_issue: \"PLT-123\""),
        "{d}"
    );
    assert_eq!(code, 1);
}

#[test]
fn validate_frontmatter_missing() {
    let text = VALID
        .split_once("---\n#")
        .map(|(_, body)| format!("#{body}"))
        .unwrap();
    let (diags, code) = diagnose(VALID_NAME, text);
    assert_at(&only(&diags, "frontmatter-missing"), 1, "error");
    assert_eq!(code, 1);
}

#[test]
fn validate_frontmatter_unclosed() {
    let text = VALID.replacen("---\n#", "#", 1);
    let (diags, code) = diagnose(VALID_NAME, text);
    assert_at(&only(&diags, "frontmatter-unclosed"), 1, "error");
    assert_eq!(code, 1);
}

#[test]
fn validate_yaml_syntax_points_at_its_line() {
    let (diags, code) = diagnose(
        VALID_NAME,
        VALID.replace("\"Weather API fallback\"", "Weather: API"),
    );
    let d = only(&diags, "yaml-syntax");
    assert_at(&d, 3, "error");
    assert_eq!(d["column"], 17);
    assert_eq!(code, 1);
    let (diags, _) = diagnose(
        VALID_NAME,
        VALID.replace("  status: in_progress\n", "  status: [in_progress\n"),
    );
    let d = only(&diags, "yaml-syntax");
    let line = d["line"].as_u64().unwrap();
    assert!(
        (4..=5).contains(&line),
        "the error is near the unclosed `[` on line 4: {d}"
    );
    let (diags, _) = diagnose(
        VALID_NAME,
        VALID.replace("  status: in_progress\n", "\tstatus: in_progress\n"),
    );
    assert_eq!(
        only(&diags, "yaml-syntax")["line"].as_u64().unwrap(),
        4,
        "{diags:?}"
    );
}

#[test]
fn validate_required_key() {
    let (diags, code) = diagnose(
        VALID_NAME,
        VALID.replace("  title: \"Weather API fallback\"\n", ""),
    );
    let d = only(&diags, "required-key");
    assert!(
        d["message"].as_str().unwrap().contains("session.title"),
        "{d}"
    );
    assert_eq!(code, 1);
    let (diags, _) = diagnose(
        VALID_NAME,
        VALID.replace("\"Implement fallback chain\"", "\"  \""),
    );
    let d = only(&diags, "required-key");
    assert_at(&d, 8, "error");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("orchestration.current_task` is empty"),
        "{d}"
    );
    let (diags, _) = diagnose(
        VALID_NAME,
        VALID.replace(
            "orchestration:\n  current_task: \"Implement fallback chain\"\n",
            "",
        ),
    );
    assert!(
        only(&diags, "required-key")["message"]
            .as_str()
            .unwrap()
            .contains("current_task")
    );
    let moved = VALID
        .replace("  title: \"Weather API fallback\"\n", "")
        .replacen("session:", "title: x\nsession:", 1);
    let (diags, _) = diagnose(VALID_NAME, moved);
    assert!(
        only(&diags, "required-key")["message"]
            .as_str()
            .unwrap()
            .contains("move it under `session:`")
    );
}

#[test]
fn validate_status_enum_with_and_without_near_miss_hint() {
    let (diags, code) = diagnose(
        VALID_NAME,
        VALID.replace("status: in_progress", "status: bogus"),
    );
    let d = only(&diags, "status");
    assert_at(&d, 4, "error");
    assert_eq!(d["column"], 11);
    let msg = d["message"].as_str().unwrap();
    assert!(
        msg.contains("in_progress") && msg.contains("paused") && msg.contains("completed"),
        "{msg}"
    );
    assert_eq!(code, 1);
    for (near, canonical) in [
        ("done", "completed"),
        ("complete", "completed"),
        ("on hold", "paused"),
        ("WIP", "in_progress"),
    ] {
        let (diags, _) = diagnose(
            VALID_NAME,
            VALID.replace("status: in_progress", &format!("status: {near}")),
        );
        let msg = only(&diags, "status")["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.contains(&format!("did you mean `{canonical}`")),
            "{near}: {msg}"
        );
    }
}

const WITH_AGENT: &str = "  current_task: \"Implement fallback chain\"\n  spawned_agents:\n    - agent: backend-dev\n      task: \"Add provider fallback\"\n      status: completed\n";

fn with_agent(entry: &str) -> String {
    VALID.replace("  current_task: \"Implement fallback chain\"\n", &WITH_AGENT.replace(
        "    - agent: backend-dev\n      task: \"Add provider fallback\"\n      status: completed\n",
        entry,
    ))
}

#[test]
fn validate_agent_entry_that_is_valid_is_clean() {
    let (diags, code) = diagnose(
        VALID_NAME,
        VALID.replace("  current_task: \"Implement fallback chain\"\n", WITH_AGENT),
    );
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(code, 0);
}

#[test]
fn validate_agent_status() {
    let (diags, code) = diagnose(
        VALID_NAME,
        with_agent("    - agent: a\n      task: t\n      status: zombie\n"),
    );
    let d = only(&diags, "agent-status");
    assert_at(&d, 12, "error");
    assert!(d["message"].as_str().unwrap().contains("cancelled"), "{d}");
    assert_eq!(code, 1);
    let (diags, _) = diagnose(
        VALID_NAME,
        with_agent("    - agent: a\n      task: t\n      status: running\n"),
    );
    assert!(
        only(&diags, "agent-status")["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `in_progress`")
    );
    for ok in ["pending", "in_progress", "completed", "failed", "cancelled"] {
        let (diags, _) = diagnose(
            VALID_NAME,
            with_agent(&format!(
                "    - agent: a\n      task: t\n      status: {ok}\n"
            )),
        );
        assert!(diags.is_empty(), "{ok}: {diags:?}");
    }
}

#[test]
fn validate_agent_entry_with_type_hint() {
    let (diags, code) = diagnose(
        VALID_NAME,
        with_agent("    - type: backend-dev\n      task: t\n"),
    );
    let d = only(&diags, "agent-entry");
    assert_at(&d, 10, "error");
    let msg = d["message"].as_str().unwrap();
    assert!(msg.contains("`agent`") && msg.contains("type:"), "{msg}");
    assert_eq!(code, 1);
    let (diags, _) = diagnose(VALID_NAME, with_agent("    - agent: a\n"));
    assert!(
        only(&diags, "agent-entry")["message"]
            .as_str()
            .unwrap()
            .contains("`task`")
    );
    let (diags, _) = diagnose(VALID_NAME, with_agent("    - just a string\n"));
    only(&diags, "agent-entry");
    let (diags, _) = diagnose(
        VALID_NAME,
        VALID.replace(
            "  current_task: \"Implement fallback chain\"\n",
            "  current_task: x\n  spawned_agents: backend-dev\n",
        ),
    );
    only(&diags, "agent-entry");
}

#[test]
fn validate_timestamp() {
    let (diags, code) = diagnose(
        VALID_NAME,
        VALID.replace("2025-12-04T14:30:00Z", "2025-02-30T14:30:00Z"),
    );
    let d = only(&diags, "timestamp");
    assert_at(&d, 5, "error");
    assert!(d["message"].as_str().unwrap().contains("2025-02-30"), "{d}");
    assert_eq!(code, 1);
    for bad in [
        "yesterday",
        "2025-12-04",
        "2025-12-04T16:10:00+02:00",
        "2025-12-04 15:10",
    ] {
        let (diags, _) = diagnose(
            VALID_NAME,
            VALID.replace("\"2025-12-04T15:10:00Z\"", &format!("\"{bad}\"")),
        );
        let d = only(&diags, "timestamp");
        assert_at(&d, 6, "error");
    }
    // Unquoted timestamps and +00:00 are fine.
    let (diags, _) = diagnose(
        VALID_NAME,
        VALID.replace("\"2025-12-04T15:10:00Z\"", "2025-12-04T15:10:00+00:00"),
    );
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn validate_timestamp_order() {
    let (diags, code) = diagnose(
        VALID_NAME,
        VALID.replace("2025-12-04T15:10:00Z", "2025-12-04T13:00:00Z"),
    );
    let d = only(&diags, "timestamp-order");
    assert_at(&d, 6, "error");
    assert_eq!(code, 1);
}

#[test]
fn validate_future_timestamp_is_a_warning() {
    let future = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (diags, code) = diagnose(VALID_NAME, VALID.replace("2025-12-04T15:10:00Z", &future));
    assert_at(&only(&diags, "timestamp-future"), 6, "warning");
    assert_eq!(code, 0);
}

#[test]
fn validate_name_time_is_a_warning_that_fails_only_with_strict() {
    let name = "20251204-143001-weather-api.md";
    let (diags, code) = diagnose(name, VALID);
    let d = only(&diags, "name-time");
    assert_at(&d, 5, "warning");
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(code, 0, "warnings alone do not fail");

    let repo = TestRepo::init();
    repo.session(name, VALID);
    let out = repo.run(&["validate"]);
    out.ok();
    assert!(out.stdout.contains("0 errors, 1 warning"), "{out}");
    repo.run(&["validate", "--strict"]).code(1);
    let out = repo.run(&["validate", "--quiet", "--format", "json"]);
    out.ok();
    assert_eq!(out.json()["diagnostics"], serde_json::json!([]));
}

#[test]
fn validate_url() {
    let with_url = |url: &str| {
        VALID.replace(
            "  last_updated: \"2025-12-04T15:10:00Z\"\n",
            &format!("  last_updated: \"2025-12-04T15:10:00Z\"\n  linear_url: \"{url}\"\n"),
        )
    };
    let (diags, code) = diagnose(VALID_NAME, with_url("linear.app/acme/issue/PLT-1"));
    assert_at(&only(&diags, "url"), 7, "error");
    assert_eq!(code, 1);
    for bad in ["https://", "ftp://x.org/a", "https://has space.org"] {
        let (diags, _) = diagnose(VALID_NAME, with_url(bad));
        only(&diags, "url");
    }
    let (diags, _) = diagnose(VALID_NAME, with_url("https://linear.app/acme/issue/PLT-1"));
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn validate_section_missing() {
    let (diags, code) = diagnose(
        VALID_NAME,
        VALID.replace("## Current State\n\nTwo providers wired.\n\n", ""),
    );
    let d = only(&diags, "section-missing");
    assert!(
        d["message"].as_str().unwrap().contains("## Current State"),
        "{d}"
    );
    assert_eq!(d["severity"], "error");
    assert_eq!(code, 1);
}

#[test]
fn validate_section_missing_hints_at_wrong_level_heading() {
    let (diags, _) = diagnose(VALID_NAME, VALID.replace("## Context", "### Context"));
    let d = only(&diags, "section-missing");
    assert_at(&d, 12, "error");
    assert!(
        d["message"].as_str().unwrap().contains("`### Context`"),
        "{d}"
    );
    let (diags, _) = diagnose(VALID_NAME, VALID.replace("## Context", "## context"));
    assert!(
        only(&diags, "section-missing")["message"]
            .as_str()
            .unwrap()
            .contains("`## context`")
    );
}

#[test]
fn validate_heading_inside_code_fence_does_not_count() {
    let text = VALID.replace("## Context\n", "```markdown\n## Context\n```\n");
    let (diags, code) = diagnose(VALID_NAME, &text);
    let d = only(&diags, "section-missing");
    assert!(d["message"].as_str().unwrap().contains("## Context"), "{d}");
    assert_eq!(code, 1);
    let text = VALID.replace("## Context\n", "~~~~\n```\n## Context\n```\n~~~~\n");
    let (diags, _) = diagnose(VALID_NAME, &text);
    only(&diags, "section-missing");
    let text = VALID.replace("## Context\n", "<!--\n## Context\n-->\n");
    let (diags, _) = diagnose(VALID_NAME, &text);
    only(&diags, "section-missing");
    // A heading indented by up to three spaces still counts; four spaces is code.
    let (diags, _) = diagnose(VALID_NAME, VALID.replace("## Context\n", "   ## Context\n"));
    assert!(diags.is_empty(), "{diags:?}");
    let (diags, _) = diagnose(
        VALID_NAME,
        VALID.replace("\n## Context\n", "\n    ## Context\n"),
    );
    only(&diags, "section-missing");
}

#[test]
fn validate_section_duplicate() {
    let text = format!("{VALID}\n## Context\n\nagain\n");
    let (diags, code) = diagnose(VALID_NAME, &text);
    let d = only(&diags, "section-duplicate");
    assert_at(&d, 26, "error");
    assert_eq!(code, 1);
}

#[test]
fn validate_duplicate_key_and_frontmatter_shape() {
    let (diags, _) = diagnose(
        VALID_NAME,
        VALID.replace(
            "  status: in_progress\n",
            "  status: in_progress\n  status: paused\n",
        ),
    );
    assert_at(&only(&diags, "duplicate-key"), 5, "error");
    let (diags, _) = diagnose(
        VALID_NAME,
        "---\n- a\n- b\n---\n## Context\n## Current State\n## Next Steps\n",
    );
    only(&diags, "frontmatter-shape");
}

#[test]
fn validate_warnings_do_not_fail_unless_strict() {
    let repo = TestRepo::init();
    repo.session("20251204-143005-weather-api.md", VALID);
    repo.run(&["validate"]).ok();
    let out = repo.run(&["validate", "--strict", "--format", "json"]);
    out.code(1);
    assert_eq!(out.json()["warnings"], 1);
}

#[test]
fn validate_json_shape() {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, VALID);
    repo.session(
        "20251204-143000-broken.md",
        VALID.replace("in_progress", "bogus"),
    );
    let out = repo.run(&["validate", "--format", "json"]);
    out.code(1);
    let v = out.json();
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["diagnostics", "errors", "files", "warnings"]
            .into_iter()
            .collect()
    );
    assert_eq!(v["files"], 2);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    let d = &v["diagnostics"][0];
    let keys: BTreeSet<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["column", "line", "message", "path", "rule", "severity"]
            .into_iter()
            .collect()
    );
    assert_eq!(d["path"], ".agents/sessions/20251204-143000-broken.md");
    assert_eq!(d["line"], 4);
    assert_eq!(d["column"], 11);
    assert_eq!(d["severity"], "error");
    assert_eq!(d["rule"], "status");
}

#[test]
fn validate_json_with_no_files_is_well_formed() {
    let repo = TestRepo::init();
    let out = repo.run(&["validate", "--format", "json"]);
    out.ok();
    assert_eq!(
        out.json(),
        serde_json::json!({"diagnostics": [], "files": 0, "errors": 0, "warnings": 0})
    );
}

#[test]
fn validate_github_format() {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, VALID.replace("in_progress", "bogus"));
    repo.session("20251204-143001-weather-api.md", VALID);
    let out = repo.run(&["validate", "--format", "github"]);
    out.code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let error = lines
        .iter()
        .find(|l| l.starts_with("::error "))
        .expect("an ::error line");
    assert!(
        error.starts_with(
            "::error file=.agents/sessions/20251204-143000-weather-api.md,line=4,col=11"
        ),
        "{error}"
    );
    assert!(error.contains("::`session.status` is `bogus`"), "{error}");
    let warning = lines
        .iter()
        .find(|l| l.starts_with("::warning "))
        .expect("a ::warning line");
    assert!(
        warning.contains("file=.agents/sessions/20251204-143001-weather-api.md,line=5,"),
        "{warning}"
    );
}

#[test]
fn validate_sarif_format() {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, VALID.replace("in_progress", "bogus"));
    let out = repo.run(&["validate", "--format", "sarif"]);
    out.code(1);
    let v = out.json();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "sessions");
    let rule_ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        rule_ids.contains(&"status") && rule_ids.contains(&"section-missing"),
        "{rule_ids:?}"
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "status");
    assert_eq!(results[0]["level"], "error");
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        ".agents/sessions/20251204-143000-weather-api.md"
    );
    assert_eq!(
        loc["region"],
        serde_json::json!({"startLine": 4, "startColumn": 11})
    );
}

#[test]
fn validate_human_output_has_location_and_caret() {
    let repo = TestRepo::init();
    repo.session(
        VALID_NAME,
        VALID.replace("status: in_progress", "status: bogus"),
    );
    let out = repo.run(&["validate"]);
    out.code(1);
    let s = &out.stdout;
    assert!(
        !s.contains('\u{1b}'),
        "no colour when not a terminal: {s:?}"
    );
    assert!(
        s.contains("error[status]: `session.status` is `bogus`"),
        "{out}"
    );
    assert!(
        s.contains(".agents/sessions/20251204-143000-weather-api.md:4:11"),
        "{out}"
    );
    let lines: Vec<&str> = s.lines().collect();
    let src = lines
        .iter()
        .position(|l| l.ends_with("  status: bogus"))
        .expect("source line");
    assert!(lines[src].starts_with("4 |"), "{}", lines[src]);
    let caret = lines[src + 1];
    assert_eq!(
        caret.find('^'),
        lines[src].find("bogus"),
        "caret under the value:\n{}\n{caret}",
        lines[src]
    );
    assert!(caret.trim_end().ends_with("^^^^^"), "{caret}");
    assert!(
        s.contains("failed: 1 file checked, 1 error, 0 warnings"),
        "{out}"
    );
}

#[test]
fn validate_explicit_file_and_directory_arguments() {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, VALID);
    repo.write("elsewhere/20251204-143000-bad.md", "no frontmatter\n");
    repo.write("elsewhere/notes.txt", "ignored\n");
    let out = repo.run(&["validate", "--format", "json", "elsewhere"]);
    out.code(1);
    assert_eq!(out.json()["files"], 1);
    let out = repo.run(&[
        "validate",
        "--format",
        "json",
        "elsewhere/20251204-143000-bad.md",
        ".agents/sessions",
    ]);
    out.code(1);
    assert_eq!(out.json()["files"], 2);
    repo.run(&["validate", &format!(".agents/sessions/{VALID_NAME}")])
        .ok();
}

#[test]
fn validate_usage_errors_exit_2() {
    let repo = TestRepo::init();
    let out = repo.run(&["validate", "does/not/exist.md"]);
    out.code(2).no_panic();
    assert!(
        out.stderr.contains("does/not/exist.md") && out.stderr.contains("does not exist"),
        "{out}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing is reported when an argument is bad: {out}"
    );
    repo.run(&["validate", "--no-such-flag"]).code(2).no_panic();
    repo.run(&["validate", "--format", "xml"])
        .code(2)
        .no_panic();
    repo.run(&["frobnicate"]).code(2).no_panic();
    repo.run_with_c(&["-C", "/definitely/not/here", "list"])
        .code(2)
        .no_panic();
}

#[test]
fn validate_unreadable_file_exits_2_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let repo = TestRepo::init();
    let path = repo.session(VALID_NAME, VALID);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        return; // Running as root: permissions do not stop reads.
    }
    let out = repo.run(&["validate"]);
    out.code(2).no_panic();
    assert!(out.stderr.contains(VALID_NAME), "{out}");
}

// ---------------------------------------------------------------------------------------------
// completions and help

#[test]
fn completions_bash_prints_a_script() {
    let repo = TestRepo::new();
    let out = repo.run(&["completions", "bash"]);
    out.ok();
    // The dynamic script: it asks `sessions` for candidates on each TAB (tests/completion.rs).
    assert!(
        out.stdout.contains("-F _clap_complete_sessions sessions"),
        "{out}"
    );
    repo.run(&["completions", "zsh"]).ok();
    repo.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn help_and_version_exit_0() {
    let repo = TestRepo::new();
    let out = repo.run(&["--help"]);
    out.ok();
    assert!(out.stdout.contains("Exit codes"), "{out}");
    let out = repo.run(&["--version"]);
    out.ok();
    assert!(out.stdout.starts_with("sessions "), "{out}");
}
