//! README's tour is what the binary prints. Every `console` block between "A tour" and
//! "Commands" is run in a fresh repository, command by command through `sh` (as a person would
//! type it), with the clock pinned (`SESSIONS_NOW`) to the README's time, and each output must
//! equal the block's text line for line; a `…` line in the README stands for any number of
//! lines. Blocks that start background agents or follow live events (`spawn`, `agents`,
//! `watch`, `tail` of a file they wrote) print pids, run ids and clock times, so they are
//! skipped here; their commands are covered by the agents and watch suites.

use crate::common;

use common::TestRepo;

/// The time of the tour: every command runs in this second.
const NOW: &str = "2026-11-23T14:19:52Z";

/// One command of a block and the lines the README says it prints.
struct Step {
    command: String,
    expected: Vec<String>,
}

fn tour_blocks(readme: &str) -> Vec<Vec<Step>> {
    let start = readme.find("## A tour").expect("README has a tour");
    let end = readme[start..]
        .find("\n## Commands")
        .map_or(readme.len(), |e| start + e);
    let tour = &readme[start..end];
    let mut blocks = Vec::new();
    let mut lines = tour.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```console" {
            continue;
        }
        let mut steps: Vec<Step> = Vec::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            if let Some(cmd) = line.strip_prefix("$ ") {
                steps.push(Step {
                    command: cmd.to_string(),
                    expected: Vec::new(),
                });
            } else if let Some(step) = steps.last_mut() {
                step.expected.push(line.to_string());
            }
        }
        for step in &mut steps {
            while step.expected.last().is_some_and(|l| l.trim().is_empty()) {
                step.expected.pop();
            }
        }
        blocks.push(steps);
    }
    blocks
}

/// Whether `actual` is `expected`, where a `…` line in `expected` matches any run of lines.
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "…" => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| a == first && matches(rest, more)),
    }
}

fn skipped(block: &[Step]) -> bool {
    block.iter().any(|s| {
        [
            "sessions spawn",
            "sessions agents",
            "sessions watch",
            "tail ",
        ]
        .iter()
        .any(|p| s.command.starts_with(p))
    })
}

/// The hand edit the tour describes before it validates: `status: done` and a `### Next Steps`.
fn edit_by_hand(repo: &TestRepo) {
    let rel = ".agents/sessions/20261123-141952-flaky-login-test.md";
    let text = repo.read(rel);
    let text = text
        .replace("status: in_progress", "status: done")
        .replace("\n## Next Steps", "\n### Next Steps");
    repo.write(rel, text);
}

#[test]
fn the_readme_tour_is_what_the_binary_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let blocks = tour_blocks(&readme);
    assert!(blocks.len() >= 5, "the tour has its blocks");
    let repo = TestRepo::new();
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_sessions"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!("{}:/usr/bin:/bin", bin_dir.display());
    let mut ran = 0;
    let mut edited = false;
    for block in &blocks {
        if skipped(block) {
            continue;
        }
        for step in block {
            if step.command.starts_with("sessions validate") && !edited {
                edit_by_hand(&repo);
                edited = true;
            }
            let mut cmd = assert_cmd::Command::new("sh");
            cmd.current_dir(repo.root())
                .env_clear()
                .env("PATH", &path)
                .env("HOME", repo.root().join(".git"))
                .env("SESSIONS_NOW", NOW)
                .env("SESSIONS_ACTOR", "tester")
                .env("SESSIONS_PROCESS_TREE", "off")
                .env("NO_COLOR", "1")
                .env("TZ", "UTC")
                .args(["-c", &format!("{} 2>&1", step.command)]);
            let out = common::run(&mut cmd);
            let actual: Vec<&str> = out.stdout.trim_end().lines().collect();
            assert!(
                matches(&step.expected, &actual),
                "README's tour says `{}` prints\n{}\n\nbut it printed\n{}",
                step.command,
                step.expected.join("\n"),
                out.stdout
            );
            ran += 1;
        }
    }
    assert!(ran >= 8, "only {ran} tour commands ran");
    assert!(edited, "the tour validates after the hand edit");
}

#[test]
fn an_ellipsis_stands_for_any_lines_and_nothing_else() {
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches(&e(&["a", "…", "d"]), &["a", "b", "c", "d"]));
    assert!(matches(&e(&["a", "…", "d"]), &["a", "d"]));
    assert!(matches(&e(&["a", "…"]), &["a", "b"]));
    assert!(!matches(&e(&["a", "…", "d"]), &["a", "b"]));
    assert!(!matches(&e(&["a", "b"]), &["a", "b", "c"]));
    assert!(!matches(&e(&["a", "x"]), &["a", "b"]));
}
