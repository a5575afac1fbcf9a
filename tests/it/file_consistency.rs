//! The session file stays in step with what the commands did to runs and logs (issue 13):
//! `prune` marks the logs it deleted, `close --archive` keeps the log links resolving and
//! `list --archived` finds the file; `close --adr` writes what `## Decisions` says; `status`
//! of a file that does not parse says why.

use crate::agents_support;

use std::fs;
use std::path::Path;

use agents_support::Repo;
use serde_json::Value;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// The targets of the file's Markdown links that point at logs (`](… .log)`).
fn log_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|t| t.ends_with(".log"))
        .map(str::to_string)
        .collect()
}

fn assert_links_resolve(file: &Path) {
    let text = fs::read_to_string(file).unwrap();
    let dir = file.parent().unwrap();
    let links = log_links(&text);
    for l in &links {
        assert!(
            dir.join(l).is_file(),
            "{l} does not resolve from {}:\n{text}",
            dir.display()
        );
    }
}

fn run_of(repo: &Repo, agent: &str, cmd: &str, status: &str) -> String {
    let started = repo.spawn(&["--agent", agent, "--task", "t", "--", cmd]);
    let id = started[0]["run_id"].as_str().unwrap().to_string();
    repo.wait_status(&id, status);
    // `prune` keeps a run whose outcome is not in the file yet.
    agents_support::eventually("the outcome written back", || {
        repo.record(&id)["written_back"] == true
    });
    id
}

#[test]
fn prune_marks_the_logs_it_deleted_and_list_agrees_with_agents() {
    let repo = Repo::new();
    let done1 = run_of(&repo, "ok1", "true", "completed");
    let done2 = run_of(&repo, "ok2", "true", "completed");
    let failed = run_of(&repo, "bad", "false", "failed");
    assert_links_resolve(&repo.path);

    let out = repo.ok(&["prune", "--completed"]);
    assert!(stdout(&out).contains("pruned 2 runs"), "{}", stdout(&out));
    let text = repo.text();
    // No link to a deleted log: in the body the link is replaced, in the entry `log: pruned`.
    assert_links_resolve(&repo.path);
    for id in [&done1, &done2] {
        assert!(
            !text.contains(&format!("{id}.log")),
            "{id} still linked:\n{text}"
        );
    }
    assert_eq!(text.matches("log: pruned").count(), 2, "{text}");
    assert!(text.contains(&format!("{failed}.log")), "{text}");
    // The file still validates.
    repo.ok(&["validate", repo.path.to_str().unwrap()]);

    let listed = json(&repo.ok(&["list", "--json"]));
    let agents = json(&repo.ok(&["agents", "--json"]));
    assert_eq!(agents.as_array().unwrap().len(), 1);
    assert_eq!(
        listed[0]["agents"],
        serde_json::json!({"total": 1, "running": 0})
    );
    let table = stdout(&repo.ok(&["list"]));
    assert!(table.contains("0/1"), "{table}");
}

#[test]
fn close_archive_keeps_log_links_resolving_and_list_archived_finds_it() {
    let repo = Repo::new();
    run_of(&repo, "bad", "false", "failed");
    let name = repo.path.file_name().unwrap().to_owned();
    repo.ok(&["close", &repo.stem, "--archive", "--yes"]);
    let archived = repo.root().join(".agents/sessions/archive").join(&name);
    assert!(archived.is_file());
    let text = fs::read_to_string(&archived).unwrap();
    assert!(!log_links(&text).is_empty(), "{text}");
    assert_links_resolve(&archived);
    // The entry's `log:` is relative to the repository root: unchanged and still right.
    let entry_log = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("log: "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    assert!(repo.root().join(&entry_log).is_file(), "{entry_log}");

    // The default listing does not show it, and says how to see it.
    let out = stdout(&repo.ok(&["list", "--all"]));
    assert!(!out.contains(&repo.stem), "{out}");
    let v = json(&repo.ok(&["list", "--archived", "--json"]));
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["id"], repo.stem.as_str());
    assert_eq!(v[0]["status"], "completed");
    assert!(v[0]["path"].as_str().unwrap().contains("archive/"), "{v}");
    let out = stdout(&repo.ok(&["list", "--archived"]));
    assert!(out.contains("weather fallback"), "{out}");

    // Naming it finds where it went.
    let out = repo.run(&["status", &repo.stem]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("archived"), "{err}");
    assert!(err.contains("sessions list --archived"), "{err}");
}

#[test]
fn close_adr_writes_the_decisions_or_refuses_when_there_are_none() {
    let repo = Repo::new();
    // Only the template's placeholder: nothing to record, and the session is kept.
    let out = repo.run(&["close", &repo.stem, "--adr", "Provider fallback", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("nothing to record"), "{err}");
    assert!(err.contains("## Decisions"), "{err}");
    assert!(repo.path.is_file());
    assert!(!repo.root().join("docs/decisions").exists());

    repo.ok(&[
        "update",
        &repo.stem,
        "--section",
        "Decisions",
        "--set",
        "- Use three providers in a fixed order — because one outage took us down for 2 h\n- Retry each once",
    ]);
    repo.ok(&[
        "update",
        &repo.stem,
        "--section",
        "Context",
        "--set",
        "The weather API failed twice this month.",
    ]);
    let out = repo.ok(&["close", &repo.stem, "--adr", "Provider fallback", "--yes"]);
    assert!(
        stdout(&out).contains("wrote ADR docs/decisions/0001-provider-fallback.md"),
        "{}",
        stdout(&out)
    );
    let adr =
        fs::read_to_string(repo.root().join("docs/decisions/0001-provider-fallback.md")).unwrap();
    assert!(adr.starts_with("# 0001. Provider fallback\n"), "{adr}");
    assert!(
        adr.contains("## Context\n\nThe weather API failed twice this month.\n"),
        "{adr}"
    );
    assert!(
        adr.contains("## Decision\n\n- Use three providers in a fixed order\n- Retry each once\n"),
        "{adr}"
    );
    assert!(adr.contains("## Rationale\n\n- Use three providers in a fixed order: one outage took us down for 2 h\n"), "{adr}");
    for placeholder in ["<!--", "(not recorded)", "{{"] {
        assert!(!adr.contains(placeholder), "{placeholder} in\n{adr}");
    }
}

#[test]
fn status_of_an_unparseable_file_says_why() {
    let repo = Repo::new();
    let broken = repo
        .root()
        .join(".agents/sessions/20251204-143000-broken.md");
    fs::write(
        &broken,
        "---\nsession:\n  title: \"never closed\n  status: in_progress\n---\n# x\n",
    )
    .unwrap();
    let out = repo.ok(&["status"]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("20251204-143000-broken"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(!line.contains(" ? "), "{line}");
    assert!(text.contains("20251204-143000-broken: line 3"), "{text}");
    assert!(text.contains("quote"), "{text}");

    let out = repo.ok(&["status", "20251204-143000-broken"]);
    let text = stdout(&out);
    assert!(!text.contains("updated ? ago"), "{text}");
    assert!(text.contains("invalid: line 3"), "{text}");
}
