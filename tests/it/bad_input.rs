//! Hostile and broken input (SPEC §5): each gets a clear diagnostic or error, exit 1 or 2, no
//! panic, nothing lost, and a directory full of it still validates quickly.

use crate::common;

use common::{Output, TestRepo, VALID, VALID_NAME};
use serde_json::Value;

/// A Billion-laughs frontmatter: nine levels of aliases, 10^9 strings if anything expanded them.
fn alias_bomb() -> String {
    let mut yaml = String::from(
        "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(",");
        yaml.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    yaml
}

fn deep_nesting() -> String {
    format!(
        "---\nsession: {}\n---\n## Context\n## Current State\n## Next Steps\n",
        "[".repeat(5000)
    )
}

/// Every bad file: (name, bytes, the rule its diagnostic must carry).
fn bad_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut not_utf8 = VALID.as_bytes().to_vec();
    not_utf8.splice(40..40, [0xff, 0xfe, 0xc3]);
    let ten_mb = {
        let mut t = VALID.to_string();
        while t.len() < 10_000_000 {
            t.push_str(
                "filler line of a pasted transcript that should never be in a session file\n",
            );
        }
        t.into_bytes()
    };
    vec![
        ("20251204-143000-not-utf8.md", not_utf8, "not-utf8"),
        ("20251204-143000-empty.md", Vec::new(), "empty-file"),
        (
            "20251204-143000-blank.md",
            b"\n  \n\t\n".to_vec(),
            "empty-file",
        ),
        (
            "20251204-143000-lone-dashes.md",
            b"---".to_vec(),
            "frontmatter-unclosed",
        ),
        (
            "20251204-143000-lone-dashes-nl.md",
            b"---\n".to_vec(),
            "frontmatter-unclosed",
        ),
        (
            "20251204-143000-bomb.md",
            format!(
                "---\n{}---\n## Context\n## Current State\n## Next Steps\n",
                alias_bomb()
            )
            .into_bytes(),
            "required-key",
        ),
        (
            "20251204-143000-deep.md",
            deep_nesting().into_bytes(),
            "yaml-syntax",
        ),
        (
            "20251204-143000-deep-block.md",
            format!("---\nsession:\n{}\n---\n## Context\n", "- ".repeat(5000)).into_bytes(),
            "yaml-syntax",
        ),
        ("20251204-143000-huge.md", ten_mb, "too-large"),
    ]
}

fn diagnostics(out: &Output) -> Vec<Value> {
    out.json()["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .clone()
}

#[track_caller]
fn validate_one(repo: &TestRepo, name: &str) -> (Output, Vec<Value>) {
    let out = repo.run(&[
        "validate",
        "--format",
        "json",
        &format!(".agents/sessions/{name}"),
    ]);
    out.no_panic();
    assert!(
        out.code == 1 || out.code == 2,
        "{name}: exit code must be 1 or 2\n{out}"
    );
    let diags = if out.code == 1 {
        diagnostics(&out)
    } else {
        Vec::new()
    };
    (out, diags)
}

#[test]
fn each_bad_file_gets_a_clear_diagnostic() {
    let repo = TestRepo::init();
    for (name, bytes, rule) in bad_files() {
        repo.session(name, &bytes);
        let (out, diags) = validate_one(&repo, name);
        out.code(1);
        let d = diags
            .iter()
            .find(|d| d["rule"] == rule)
            .unwrap_or_else(|| panic!("{name}: no `{rule}`\n{out}"));
        assert!(
            d["line"].as_u64().unwrap() >= 1 && d["column"].as_u64().unwrap() >= 1,
            "{d}"
        );
        assert!(
            d["message"].as_str().unwrap().len() > 15,
            "{name}: message too terse: {d}"
        );
        assert_eq!(
            std::fs::read(repo.sessions_dir().join(name)).unwrap(),
            bytes,
            "{name} was modified"
        );
    }
}

#[test]
fn not_utf8_diagnostic_points_at_the_bad_byte() {
    let repo = TestRepo::init();
    let mut bytes = VALID.as_bytes().to_vec();
    let at = VALID.find("Providers").unwrap();
    bytes.splice(at..at, [0xff]);
    repo.session(VALID_NAME, &bytes);
    let (_, diags) = validate_one(&repo, VALID_NAME);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0]["rule"], "not-utf8");
    assert_eq!(diags[0]["line"], 14, "{:?}", diags[0]);
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .contains(&at.to_string()),
        "{:?}",
        diags[0]
    );
}

#[test]
fn human_output_for_bad_files_has_no_debug_dump() {
    let repo = TestRepo::init();
    for (name, bytes, _) in bad_files() {
        repo.session(name, &bytes);
    }
    let out = repo.run(&["validate"]);
    out.code(1).no_panic();
    for junk in ["Error {", "Some(", "Os {", "kind:"] {
        assert!(
            !out.stdout.contains(junk) && !out.stderr.contains(junk),
            "`{junk}` in output\n{out}"
        );
    }
}

#[test]
fn bom_and_crlf_valid_file_is_valid() {
    let repo = TestRepo::init();
    let text = format!("\u{feff}{}", VALID.replace('\n', "\r\n"));
    repo.session(VALID_NAME, &text);
    let out = repo.run(&["validate", "--strict"]);
    out.ok();
    // And errors in it are located on the right line and column (the BOM is not a column).
    repo.session(
        VALID_NAME,
        text.replace("status: in_progress", "status: bogus"),
    );
    let (_, diags) = validate_one(&repo, VALID_NAME);
    assert_eq!(
        (diags[0]["line"].as_u64(), diags[0]["column"].as_u64()),
        (Some(4), Some(11)),
        "{diags:?}"
    );
    repo.session(
        VALID_NAME,
        text.replace("---\r\nsession", "---\r\nsession: [\r\n"),
    );
    let (_, diags) = validate_one(&repo, VALID_NAME);
    assert_eq!(diags[0]["rule"], "yaml-syntax");
}

#[test]
fn alias_bomb_in_an_otherwise_valid_file_is_harmless() {
    let repo = TestRepo::init();
    let text = VALID.replacen(
        "---\nsession:",
        &format!("---\nextra:\n{}session:", indent(&alias_bomb())),
        1,
    );
    repo.session(VALID_NAME, &text);
    let out = repo.run(&["validate"]);
    out.no_panic();
    out.ok();
    let out = repo.run(&["list", "--json"]);
    out.ok();
    assert_eq!(out.json()[0]["title"], "Weather API fallback");
}

fn indent(yaml: &str) -> String {
    yaml.lines().map(|l| format!("  {l}\n")).collect()
}

#[test]
fn deep_nesting_is_a_syntax_error_everywhere() {
    let repo = TestRepo::init();
    repo.session("20251204-143000-deep.md", deep_nesting());
    let (_, diags) = validate_one(&repo, "20251204-143000-deep.md");
    assert_eq!(diags[0]["rule"], "yaml-syntax");
    let msg = diags[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("nesting") || msg.contains("recursion"),
        "{diags:?}"
    );
    for args in [
        &["list", "--json"][..],
        &["status"],
        &["status", "deep"],
        &["show", "deep"],
    ] {
        repo.run(args).ok().no_panic();
    }
    for open in ["{", "{a: ", "- ", "[{"] {
        repo.session(
            "20251204-143000-deep.md",
            format!("---\nsession: {}\n---\n", open.repeat(5000)),
        );
        let (out, _) = validate_one(&repo, "20251204-143000-deep.md");
        out.code(1);
    }
}

#[test]
fn huge_file_is_refused_without_reading_it_and_other_commands_cope() {
    let repo = TestRepo::init();
    let mut big = VALID.to_string();
    big.push_str(&"x".repeat(10_000_000));
    repo.session(VALID_NAME, &big);
    let (_, diags) = validate_one(&repo, VALID_NAME);
    assert_eq!(diags.len(), 1);
    assert!(
        diags[0]["message"].as_str().unwrap().contains("10000"),
        "{diags:?}"
    );
    let out = repo.run(&["show", VALID_NAME]);
    out.code(2).no_panic();
    assert!(
        out.stderr.contains(VALID_NAME) && out.stderr.contains("limit"),
        "{out}"
    );
    assert!(out.stdout.is_empty());
    repo.run(&["list"]).ok();
}

#[test]
fn not_utf8_file_errors_in_show_and_is_listed_as_unreadable() {
    let repo = TestRepo::init();
    // The bad byte in the frontmatter: listings read only that far, and cannot list it.
    let (before, after) = VALID.split_once("Weather").unwrap();
    let bytes = [before.as_bytes(), b"\xff", after.as_bytes()].concat();
    repo.session(VALID_NAME, &bytes);
    let out = repo.run(&["show", VALID_NAME]);
    out.code(2).no_panic();
    assert!(
        out.stderr.contains(VALID_NAME) && out.stderr.contains("UTF-8"),
        "{out}"
    );
    let out = repo.run(&["list", "--json"]);
    out.ok();
    assert_eq!(out.json()[0]["status"], "unreadable");
    let out = repo.run(&["status", VALID_NAME]);
    out.code(2).no_panic();
}

#[test]
fn a_bad_byte_in_the_body_is_listed_from_the_frontmatter_and_refused_elsewhere() {
    // Listings and hooks read only the frontmatter (issue 14), so a body that is not UTF-8
    // is listed with its facts; every command that reads the body still refuses it.
    let repo = TestRepo::init();
    let mut bytes = VALID.as_bytes().to_vec();
    bytes.push(0xff);
    repo.session(VALID_NAME, &bytes);
    let out = repo.run(&["list", "--json"]);
    out.ok();
    assert_eq!(out.json()[0]["status"], "in_progress");
    assert_eq!(out.json()[0]["title"], "Weather API fallback");
    for args in [["show", VALID_NAME], ["status", VALID_NAME]] {
        let args = &args[..];
        let out = repo.run(args);
        out.code(2).no_panic();
        assert!(out.stderr.contains("UTF-8"), "{args:?}: {out}");
    }
}

#[test]
fn lone_dashes_and_empty_files_are_listed_not_fatal() {
    let repo = TestRepo::init();
    repo.session("20251204-143000-lone.md", "---");
    repo.session("20251204-143001-empty.md", "");
    let out = repo.run(&["list", "--json"]);
    out.ok();
    for item in out.json().as_array().unwrap() {
        assert_eq!(item["status"], "invalid", "{item}");
    }
    repo.run(&["status"]).ok();
    repo.run(&["show", "lone", "--section", "Context"])
        .code(1)
        .no_panic();
}

// ---------------------------------------------------------------------------------------------
// Symlinks out of the repository

#[test]
fn symlink_out_of_the_repository_is_reported_and_not_read() {
    let repo = TestRepo::init();
    let outside = tempfile::tempdir().unwrap();
    // A FIFO: opening it for reading would block forever, so a read shows up as a timeout.
    let fifo = outside.path().join("pipe.md");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    std::os::unix::fs::symlink(&fifo, repo.sessions_dir().join("20251204-143000-pipe.md")).unwrap();
    let secret = outside.path().join("secret.md");
    std::fs::write(&secret, VALID).unwrap();
    std::os::unix::fs::symlink(
        &secret,
        repo.sessions_dir().join("20251204-143000-secret.md"),
    )
    .unwrap();

    let out = common::run(
        repo.cmd()
            .args(["validate", "--format", "json"])
            .timeout(common::HANG_GUARD),
    );
    out.code(1).no_panic();
    let diags = diagnostics(&out);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    for d in &diags {
        assert_eq!(d["rule"], "outside-repository", "{d}");
        assert_eq!(d["line"], 1);
    }
    let out = common::run(
        repo.cmd()
            .args(["list", "--json"])
            .timeout(common::HANG_GUARD),
    );
    out.ok();
    for item in out.json().as_array().unwrap() {
        assert_ne!(
            item["title"], "Weather API fallback",
            "list read through the symlink: {item}"
        );
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), VALID);
}

#[test]
fn symlink_inside_the_repository_is_followed() {
    let repo = TestRepo::init();
    let target = repo.write("docs/real-session.md", VALID);
    std::os::unix::fs::symlink(&target, repo.sessions_dir().join(VALID_NAME)).unwrap();
    repo.run(&["validate"]).ok();
    let out = repo.run(&["show", "weather"]);
    out.ok();
    assert_eq!(out.stdout, VALID);
}

#[test]
fn show_refuses_a_symlink_out_of_the_repository() {
    let repo = TestRepo::init();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.md");
    std::fs::write(&secret, VALID.replace("Providers time out.", "TOP SECRET")).unwrap();
    std::os::unix::fs::symlink(
        &secret,
        repo.sessions_dir().join("20251204-143000-secret.md"),
    )
    .unwrap();
    for args in [
        &["show", "20251204-143000-secret"][..],
        &["status", "20251204-143000-secret"],
    ] {
        let out = repo.run(args);
        out.no_panic();
        assert!(
            !out.stdout.contains("TOP SECRET") && !out.stdout.contains("Weather API fallback"),
            "{args:?}\n{out}"
        );
        assert_eq!(out.code, 2, "{args:?}\n{out}");
        assert!(out.stderr.contains("outside the repository"), "{out}");
    }
}

#[test]
fn resolving_a_reference_does_not_read_through_outside_symlinks() {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, VALID);
    let outside = tempfile::tempdir().unwrap();
    let fifo = outside.path().join("pipe.md");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink(&fifo, repo.sessions_dir().join("20251204-143000-pipe.md")).unwrap();
    let out = common::run(
        repo.cmd()
            .args(["show", "weather"])
            .timeout(common::HANG_GUARD),
    );
    out.ok();
    assert_eq!(out.stdout, VALID);
}

// ---------------------------------------------------------------------------------------------
// `../` in a description

#[test]
fn description_with_dotdot_writes_only_inside_the_sessions_directory() {
    let repo = TestRepo::init();
    std::fs::create_dir_all(repo.path("sub/dir")).unwrap();
    let before = repo.files();
    let out = common::run(
        repo.cmd_in(&repo.path("sub/dir"))
            .args(["new", "../../../../../../tmp/escape"]),
    );
    out.ok().no_panic();
    let after = repo.files();
    let added: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(
        added[0].starts_with(".agents/sessions/") && added[0].ends_with("-tmp-escape.md"),
        "{added:?}"
    );
    assert!(!std::path::Path::new("/tmp/escape.md").exists());
}

// ---------------------------------------------------------------------------------------------
// All of it at once

#[test]
fn validating_a_directory_of_bad_files_is_complete() {
    let repo = TestRepo::init();
    let files = bad_files();
    for (name, bytes, _) in &files {
        repo.session(name, bytes);
    }
    repo.session(VALID_NAME, VALID);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.md"), VALID).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("x.md"),
        repo.sessions_dir().join("20251204-143000-link.md"),
    )
    .unwrap();
    let out = common::run(
        repo.cmd()
            .args(["validate", "--format", "json"])
            .timeout(common::HANG_GUARD),
    );
    out.code(1).no_panic();
    let v = out.json();
    assert_eq!(v["files"], files.len() as u64 + 2);
    let rules: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    for (name, _, rule) in &files {
        assert!(rules.contains(rule), "{name}: no `{rule}` in {rules:?}");
    }
    assert!(rules.contains(&"outside-repository"));
    assert!(
        !v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"].as_str().unwrap().ends_with(VALID_NAME))
    );
}

/// Many diagnostics in one file must not make validation quadratic: 50,000 repeated headings
/// (~600 KB) should take well under a second, not minutes.
#[test]
fn many_diagnostics_in_one_file_are_all_reported() {
    let repo = TestRepo::init();
    let (head, _) = VALID.split_once("## Context").unwrap();
    repo.session(
        VALID_NAME,
        format!("{head}{}", "## Context\n".repeat(50_000)),
    );
    let keys: String = (0..50_000).map(|i| format!("x: {i}\n")).collect();
    repo.session(
        "20251204-143000-keys.md",
        VALID.replacen("---\nsession:", &format!("---\n{keys}session:"), 1),
    );
    let out = common::run(
        repo.cmd()
            .args(["validate", "--format", "json"])
            .timeout(common::HANG_GUARD),
    );
    out.code(1).no_panic();
    // 50,000 duplicate `## Context` headings and 50,000 unknown keys: every duplicate is
    // reported. How fast is measured in `benches/` (`validate` of many diagnostics).
    let dups = out.json()["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["rule"] == "section-duplicate")
        .count();
    assert_eq!(
        dups,
        49_999,
        "{}",
        &out.stdout[..out.stdout.len().min(2000)]
    );
}
