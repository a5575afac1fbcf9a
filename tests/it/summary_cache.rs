//! The overview cache (`.agents/state/overview-cache.jsonl`) never shows a stale fact: files
//! are edited behind its back (same size, mtime put back, in place or replaced, removed,
//! added, at once and after they aged) and every listing must equal the one read without it.

use crate::common;

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use common::{Output, TestRepo, run};
use proptest::prelude::*;

/// A margin short enough that files age during a test, long enough for the file-system clock's
/// tick (a jiffy, ≤ 10 ms) to matter.
const MARGIN_MS: u64 = 30;

fn list(repo: &TestRepo, cache: bool) -> Output {
    list_with_margin(repo, cache, MARGIN_MS)
}

/// `list` with the racy-timestamp margin set to `margin_ms`.
fn list_with_margin(repo: &TestRepo, cache: bool, margin_ms: u64) -> Output {
    let mut c = repo.cmd();
    c.args(["list", "--all", "--json"])
        .env("SESSIONS_CACHE_MARGIN_MS", margin_ms.to_string());
    if !cache {
        c.env("SESSIONS_OVERVIEW_CACHE", "off");
    }
    let out = run(&mut c);
    out.ok();
    out
}

/// `show REFERENCE`: exit code, stdout and stderr.
fn show(repo: &TestRepo, reference: &str, cache: bool) -> (i32, String, String) {
    let mut c = repo.cmd();
    c.args(["show", reference])
        .env("SESSIONS_CACHE_MARGIN_MS", MARGIN_MS.to_string());
    if !cache {
        c.env("SESSIONS_OVERVIEW_CACHE", "off");
    }
    let out = run(&mut c);
    (out.code, out.stdout, out.stderr)
}

fn cache_text(repo: &TestRepo) -> String {
    fs::read_to_string(repo.path(".agents/state/overview-cache.jsonl")).unwrap_or_default()
}

/// A session whose frontmatter is exactly `width` bytes of title, so edits can keep the size.
fn text(title: &str, status: &str) -> String {
    format!(
        "---\nsession:\n  title: \"{title:<12}\"\n  status: {status:<11}\n  created: \"2025-12-04T14:30:00Z\"\n  last_updated: \"2025-12-04T15:10:00Z\"\norchestration:\n  current_task: \"t\"\n---\n# Session: x\n\n## Context\n\nc\n\n## Current State\n\ns\n\n## Next Steps\n\n- [ ] n\n"
    )
}

const STATUSES: [&str; 3] = ["in_progress", "paused", "completed"];

fn name(i: usize) -> String {
    format!("20251204-1430{i:02}-s{i}.md")
}

/// Rewrites a file in place (same inode) and puts its mtime back: only size, inode and mtime
/// would not tell the edit.
fn edit_in_place(path: &std::path::Path, contents: &str) {
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f.set_len(contents.len() as u64).unwrap();
    f.set_times(FileTimes::new().set_modified(mtime)).unwrap();
}

fn replace(path: &std::path::Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents).unwrap();
    if let Ok(m) = fs::metadata(path) {
        File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_times(FileTimes::new().set_modified(m.modified().unwrap()))
            .unwrap();
    }
    fs::rename(&tmp, path).unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    InPlace(usize, usize, usize),
    Replace(usize, usize, usize),
    Remove(usize),
    Sleep(u64),
    List,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..5usize, 0..4usize, 0..3usize).prop_map(|(f, t, s)| Op::InPlace(f, t, s)),
        2 => (0..5usize, 0..4usize, 0..3usize).prop_map(|(f, t, s)| Op::Replace(f, t, s)),
        1 => (0..5usize).prop_map(Op::Remove),
        2 => prop_oneof![Just(0u64), Just(5), Just(MARGIN_MS + 15)].prop_map(Op::Sleep),
        3 => Just(Op::List),
    ]
}

const TITLES: [&str; 4] = ["alpha", "bravo", "charlie", "delta"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn cached_listings_equal_fresh_ones(ops in proptest::collection::vec(op(), 1..14)) {
        let repo = TestRepo::init();
        for i in 0..5 {
            repo.session(&name(i), text(TITLES[i % 4], "in_progress"));
        }
        std::thread::sleep(Duration::from_millis(MARGIN_MS + 15));
        list(&repo, true);
        for op in ops.iter().chain([&Op::List]) {
            match *op {
                Op::InPlace(f, t, s) | Op::Replace(f, t, s) => {
                    let path = repo.sessions_dir().join(name(f));
                    let body = text(TITLES[t], STATUSES[s]);
                    if matches!(op, Op::InPlace(..)) && path.exists() {
                        edit_in_place(&path, &body);
                    } else {
                        replace(&path, &body);
                    }
                }
                Op::Remove(f) => {
                    let _ = fs::remove_file(repo.sessions_dir().join(name(f)));
                }
                Op::Sleep(ms) => std::thread::sleep(Duration::from_millis(ms)),
                Op::List => {
                    let cached = list(&repo, true).stdout;
                    let fresh = list(&repo, false).stdout;
                    prop_assert_eq!(cached, fresh, "after {:?}", ops);
                    // `show <part of a title>` finds the same file (or the same ambiguity).
                    for t in TITLES {
                        let (cached, fresh) = (show(&repo, &t[1..], true), show(&repo, &t[1..], false));
                        prop_assert_eq!(cached, fresh, "show {} after {:?}", &t[1..], ops);
                    }
                }
            }
        }
    }
}

/// Without this the property above could pass with a cache that is never used.
#[test]
fn aged_files_are_remembered_and_recent_ones_are_not() {
    // No sleeps: a margin of ten minutes makes the file young, a margin of zero makes it old,
    // however busy the machine is.
    const YOUNG: u64 = 600_000;
    let repo = TestRepo::init();
    repo.session(&name(1), text("alpha", "in_progress"));
    list_with_margin(&repo, true, YOUNG);
    assert!(
        !cache_text(&repo).contains(&name(1)),
        "a file younger than the margin was remembered:\n{}",
        cache_text(&repo)
    );
    list_with_margin(&repo, true, 0);
    assert!(
        cache_text(&repo).contains(&name(1)),
        "{}",
        cache_text(&repo)
    );
    assert!(cache_text(&repo).contains("alpha"));

    // The racy case: rewritten within the same moment, same size, mtime put back. With no
    // margin at all only the ctime in the key can tell.
    edit_in_place(&repo.sessions_dir().join(name(1)), &text("bravo", "paused"));
    let v = list_with_margin(&repo, true, 0).json();
    assert_eq!(v[0]["title"].as_str().map(str::trim), Some("bravo"), "{v}");
    assert_eq!(v[0]["status"], "paused");
}

#[test]
fn a_corrupt_or_foreign_cache_is_ignored_and_rewritten() {
    let repo = TestRepo::init();
    repo.session(&name(1), text("alpha", "in_progress"));
    std::thread::sleep(Duration::from_millis(MARGIN_MS + 15));
    let fresh = list(&repo, false).stdout;
    list(&repo, true);
    for junk in [
        "not a cache\n",
        "sessions overview cache 1 0.0.0-other\n[\"x\"]\n",
        "",
    ] {
        fs::write(repo.path(".agents/state/overview-cache.jsonl"), junk).unwrap();
        assert_eq!(list(&repo, true).stdout, fresh);
        assert!(
            cache_text(&repo).contains(&name(1)),
            "{}",
            cache_text(&repo)
        );
    }
    // A line that lies about a file's facts under a key that no longer matches is not used.
    let lying = cache_text(&repo).replace("alpha", "zulu ");
    fs::write(repo.path(".agents/state/overview-cache.jsonl"), lying).unwrap();
    edit_in_place(
        &repo.sessions_dir().join(name(1)),
        &text("alpha", "in_progress"),
    );
    assert_eq!(list(&repo, true).stdout, fresh);
}

#[test]
fn files_with_running_agents_are_always_read() {
    let repo = TestRepo::init();
    let body = text("alpha", "in_progress").replace(
        "  current_task: \"t\"\n",
        "  current_task: \"t\"\n  spawned_agents:\n    - agent: a\n      status: in_progress\n      run_id: r1\n",
    );
    repo.session(&name(1), body);
    std::thread::sleep(Duration::from_millis(MARGIN_MS + 15));
    list(&repo, true);
    assert!(
        !cache_text(&repo).contains(&name(1)),
        "{}",
        cache_text(&repo)
    );
}

/// An `in_progress` entry that no run of ours started (no `run_id`) has nothing to reconcile:
/// its file is remembered like any other.
#[test]
fn files_with_hand_written_agent_entries_are_remembered() {
    let repo = TestRepo::init();
    let body = text("alpha", "in_progress").replace(
        "  current_task: \"t\"\n",
        "  current_task: \"t\"\n  spawned_agents:\n    - agent: a\n      status: in_progress\n",
    );
    repo.session(&name(1), body);
    list_with_margin(&repo, true, 0);
    assert!(
        cache_text(&repo).contains(&name(1)),
        "{}",
        cache_text(&repo)
    );
    let v = list_with_margin(&repo, true, 0).json();
    assert_eq!(v[0]["agents"]["running"], 1, "{v}");
}

/// `show <substring>` skips files whose remembered title cannot match (they are not read),
/// and never goes by a stale title.
#[test]
fn show_by_title_uses_the_cache_and_sees_an_edit_behind_its_back() {
    let repo = TestRepo::init();
    repo.session(&name(1), text("alpha", "in_progress"));
    repo.session(&name(2), text("bravo", "in_progress"));
    list_with_margin(&repo, true, 0);
    // A cache line that lies under the file's true key shows the cache is what is read: the
    // file it calls "zulu" is not looked at for "ravo" (a fresh read finds it).
    let lying = cache_text(&repo).replace("bravo", "zulu ");
    fs::write(repo.path(".agents/state/overview-cache.jsonl"), lying).unwrap();
    assert_eq!(show(&repo, "ravo", true).0, 1);
    let (code, out, _) = show(&repo, "ravo", false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bravo"), "{out}");
    // A remembered title that matches is checked against the file: "zulu" is not there.
    assert_eq!(show(&repo, "zulu", true).0, 1);
    // Edited in place, same size, mtime put back: the key changes (ctime), the file is read.
    edit_in_place(
        &repo.sessions_dir().join(name(2)),
        &text("delta", "in_progress"),
    );
    let (code, out, _) = show(&repo, "elta", true);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("delta"), "{out}");
}
