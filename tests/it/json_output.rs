//! `--json` at gh's level (issue 13): `--json=FIELD,…` selects fields on every view command,
//! a wrong name lists the valid ones, `--jq EXPR` filters through jaq, one output style, and
//! `status`/`show` JSON carry what their text views show, with labelled counts.

use crate::agents_support;

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

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// The valid field names a wrong one lists (`the fields are: a, b, c`).
fn valid_fields(repo: &Repo, args: &[&str]) -> Vec<String> {
    let mut args = args.to_vec();
    args.push("--json=no_such_field");
    let out = repo.run(&args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("`no_such_field`"), "{err}");
    let list = err
        .split("the fields are: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{args:?} lists no fields: {err}"));
    list.trim()
        .trim_end_matches('.')
        .split(", ")
        .map(str::to_string)
        .collect()
}

/// A repository with one finished agent run and a checklist, so every view has content.
fn busy_repo() -> Repo {
    let repo = Repo::new();
    repo.ok(&[
        "update",
        &repo.stem,
        "--next",
        "- [x] wire provider A\n- [ ] wire provider B\n- [ ] retries",
    ]);
    let started = repo.spawn(&["--agent", "quick", "--task", "t", "--", "true"]);
    let id = started[0]["run_id"].as_str().unwrap().to_string();
    repo.wait_status(&id, "completed");
    // The outcome is written back into the file just after the record says it.
    repo.wait_file("the outcome in the file", |t| t.contains("exit_code: 0"));
    repo
}

#[test]
fn json_fields_select_on_every_view_and_a_wrong_name_lists_the_valid_ones() {
    let repo = busy_repo();
    let stem = repo.stem.as_str();
    let views: [&[&str]; 6] = [
        &["list"],
        &["status"],
        &["status", stem],
        &["agents"],
        &["show", stem],
        &["worktree", "list"],
    ];
    for view in views {
        let valid = valid_fields(&repo, view);
        // Every key the full output has is a valid field (the list cannot go stale).
        let mut full = view.to_vec();
        full.push("--json");
        let whole = json(&repo.ok(&full));
        let items: Vec<&Value> = match &whole {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        for item in items {
            for k in keys(item) {
                assert!(valid.contains(&k), "{view:?}: `{k}` is not in {valid:?}");
            }
        }
        // Two fields: exactly those, in the order asked.
        let pick = format!("--json={},{}", valid[1], valid[0]);
        let mut args = view.to_vec();
        args.push(&pick);
        let picked = json(&repo.ok(&args));
        let first = match &picked {
            Value::Array(a) if a.is_empty() => continue,
            Value::Array(a) => a[0].clone(),
            v => v.clone(),
        };
        assert_eq!(
            keys(&first),
            [valid[1].clone(), valid[0].clone()],
            "{view:?}"
        );
    }
    // A near miss is named.
    let out = repo.run(&["list", "--json=titel"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `title`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plain_json_still_works_before_a_session_argument() {
    let repo = busy_repo();
    // `--json` takes its fields only with `=`: a SESSION after it stays the SESSION.
    let v = json(&repo.ok(&["status", "--json", &repo.stem]));
    assert_eq!(v["id"], repo.stem.as_str());
    let v = json(&repo.ok(&["agents", "--json", &repo.stem]));
    assert_eq!(v[0]["agent"], "quick");
    let v = json(&repo.ok(&["list", "--json"]));
    assert_eq!(
        v[0]["agents"],
        serde_json::json!({"total": 1, "running": 0})
    );
}

#[test]
fn piped_json_is_compact_one_document_per_line() {
    let repo = busy_repo();
    for args in [
        vec!["list", "--json"],
        vec!["agents", "--json"],
        vec!["status", "--json", &repo.stem],
    ] {
        let out = stdout(&repo.ok(&args));
        assert_eq!(out.lines().count(), 1, "{args:?}: {out}");
        assert!(out.ends_with('\n'));
    }
}

#[test]
fn jq_filters_the_json_and_prints_strings_raw() {
    let repo = busy_repo();
    let out = repo.ok(&["list", "--jq", ".[].id"]);
    assert_eq!(stdout(&out), format!("{}\n", repo.stem));
    let out = repo.ok(&["agents", "--jq", ".[] | {agent, exit_code}"]);
    assert_eq!(stdout(&out), "{\"agent\":\"quick\",\"exit_code\":0}\n");
    // With fields: jq sees only them.
    let out = repo.ok(&["status", &repo.stem, "--json=checklist", "--jq", "keys"]);
    assert_eq!(stdout(&out), "[\"checklist\"]\n");
    // The standard library is there.
    let out = repo.ok(&["list", "--jq", "map(.title | ascii_upcase) | join(\",\")"]);
    assert_eq!(stdout(&out), "WEATHER FALLBACK\n");
}

#[test]
fn a_bad_jq_expression_is_a_clear_usage_error() {
    let repo = busy_repo();
    let out = repo.run(&["list", "--jq", ".[0] | {id"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("sessions: --jq"), "{err}");
    assert!(err.contains("column"), "{err}");
    assert!(stdout(&out).is_empty());

    let out = repo.run(&["list", "--jq", "no_such_function(1)"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no_such_function"),
        "{}",
        stderr(&out)
    );

    // An error while running: what jaq says, exit 2.
    let out = repo.run(&["list", "--jq", ".[0].title | tonumber"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("sessions: --jq"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn status_json_labels_its_counts_as_the_text_view_does() {
    let repo = busy_repo();
    let text = stdout(&repo.ok(&["status", &repo.stem]));
    assert!(text.contains("1/3 checklist items done"), "{text}");
    let v = json(&repo.ok(&["status", &repo.stem, "--json"]));
    assert_eq!(v["checklist"], serde_json::json!({"done": 1, "total": 3}));
    let next = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Next Steps")
        .unwrap();
    assert_eq!(
        next["checklist"],
        serde_json::json!({"done": 1, "total": 3})
    );
    assert_eq!(v["agents"], serde_json::json!({"total": 1, "running": 0}));
    assert_eq!(v["spawned_agents"][0]["status"], "completed");
}

#[test]
fn show_json_carries_the_file_and_its_sections() {
    let repo = busy_repo();
    let text = stdout(&repo.ok(&["show", &repo.stem]));
    let v = json(&repo.ok(&["show", &repo.stem, "--json"]));
    assert_eq!(v["text"], text.as_str());
    assert_eq!(v["id"], repo.stem.as_str());
    let next = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Next Steps")
        .unwrap();
    assert!(next["body"].as_str().unwrap().contains("- [ ] retries"));

    let body = stdout(&repo.ok(&["show", &repo.stem, "--section", "next steps"]));
    let v = json(&repo.ok(&["show", &repo.stem, "--section", "next steps", "--json"]));
    assert_eq!(v["section"], "Next Steps");
    assert_eq!(v["body"], body.as_str());
}
