//! Faults and hostile input (issue 11): files that are links, read-only, outside the
//! repository, FIFOs; text that smuggles in structure; escape sequences meant for the
//! person's terminal; a full disk; odd clocks; Git conflict markers.

// Both helpers include `tests/outside/`; the two copies are harmless here.
#![allow(clippy::duplicate_mod)]

use crate::common;
use crate::watch_support;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use common::*;

fn init_with_session() -> (TestRepo, std::path::PathBuf) {
    let repo = TestRepo::init();
    let path = repo.session(VALID_NAME, VALID);
    (repo, path)
}

// --- 11.1 symlinked session files -------------------------------------------------------

#[test]
fn a_symlinked_session_is_written_through_to_its_target_and_stays_a_link() {
    let repo = TestRepo::init();
    let target = repo.write("notes/current-session.md", VALID);
    let link = repo.sessions_dir().join(VALID_NAME);
    symlink("../../notes/current-session.md", &link).unwrap();
    repo.run(&["log", "weather", "through the link"]).ok();
    repo.run(&["update", "weather", "--task", "linked task"])
        .ok();
    assert!(link.is_symlink(), "the link was replaced by a copy");
    let text = fs::read_to_string(&target).unwrap();
    assert!(text.contains("\nthrough the link\n"), "{text}");
    assert!(text.contains("current_task: \"linked task\""), "{text}");
    // No temp file left in either directory.
    for dir in [repo.sessions_dir(), repo.path("notes")] {
        let left: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

// --- 11.7 paths outside the repository's sessions directory ------------------------------

#[test]
fn writing_commands_refuse_a_path_outside_the_sessions_directory() {
    let repo = TestRepo::init();
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join(VALID_NAME);
    fs::write(&outside, VALID).unwrap();
    let inside_repo = repo.write("docs/20251204-143000-weather-api.md", VALID);
    let rel = format!(
        "../{}/{VALID_NAME}",
        elsewhere.path().file_name().unwrap().to_string_lossy()
    );
    // The repository's parent is the temp dir, so `rel` from a sibling works from the root.
    let tmp_root = repo.root().parent().unwrap();
    assert_eq!(elsewhere.path().parent().unwrap(), tmp_root);
    for reference in [
        rel.as_str(),
        outside.to_str().unwrap(),
        inside_repo.to_str().unwrap(),
    ] {
        let out = repo.run(&["log", reference, "should not land"]);
        out.code(2).no_panic();
        assert!(out.stderr.contains("outside this repository's"), "{out}");
        assert!(out.stderr.contains("sessions -C"), "{out}");
        let out = repo.run(&["update", reference, "--state", "nope"]);
        out.code(2);
    }
    for args in [&["delete", "--yes"][..], &["close", "--yes"]] {
        let mut argv = args.to_vec();
        argv.insert(1, outside.to_str().unwrap());
        repo.run(&argv).code(2);
    }
    assert_eq!(fs::read_to_string(&outside).unwrap(), VALID);
    assert_eq!(fs::read_to_string(&inside_repo).unwrap(), VALID);
    // Read-only commands still take any path (CI validates files wherever they are).
    repo.run(&["validate", outside.to_str().unwrap()]).ok();
    let out = repo.run(&["show", outside.to_str().unwrap()]);
    out.ok();
    assert_eq!(out.stdout, VALID);
}

// --- 11.8 read-only files ----------------------------------------------------------------

#[test]
fn a_read_only_session_is_refused_not_rewritten() {
    let (repo, path) = init_with_session();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    for args in [
        &["log", "weather", "x"][..],
        &["update", "weather", "--task", "t"],
        &["pause", "weather"],
    ] {
        let out = repo.run(args);
        out.code(2).no_panic();
        assert!(
            out.stderr.contains("is read-only; make it writable"),
            "{out}"
        );
    }
    assert_eq!(fs::read_to_string(&path).unwrap(), VALID);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o444
    );
    // A no-op needs no write and still succeeds.
    repo.run(&["update", "weather", "--status", "in_progress"])
        .ok();
}

// --- 11.5 text that smuggles in a heading ------------------------------------------------

#[test]
fn a_heading_exposed_by_trimming_is_refused() {
    let (repo, path) = init_with_session();
    for args in [
        &["update", "weather", "--state", "ok\n##\u{a0}"][..],
        &["update", "weather", "--next", "ok\n#\u{a0}\u{a0}"],
        &[
            "update",
            "weather",
            "--section",
            "Notes",
            "--append",
            "x\n##\u{3000}",
        ],
        &["log", "weather", "entry\n##\u{a0}"],
    ] {
        let out = repo.run(args);
        out.code(1).no_panic();
        assert!(out.stderr.contains("heading"), "{out}");
    }
    assert_eq!(fs::read_to_string(&path).unwrap(), VALID);
}

// --- 11.6 an unclosed code fence ---------------------------------------------------------

fn with_open_fence() -> String {
    format!(
        "{VALID}\n## Session Log\n\n### 2025-12-04 15:00 - [agent]\nOutput:\n\n```sh\n$ cargo test\nok\n"
    )
}

#[test]
fn validate_reports_an_unclosed_fence_where_it_opens() {
    let repo = TestRepo::init();
    repo.session(VALID_NAME, with_open_fence());
    let out = repo.run(&["validate", "--format", "json"]);
    out.code(1);
    let d = &out.json()["diagnostics"][0];
    assert_eq!(d["rule"], "unclosed-fence", "{out}");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(31), Some(1))
    );
    let human = repo.run(&["validate"]);
    assert!(human.stdout.contains("error[unclosed-fence]"), "{human}");
    assert!(human.stdout.contains(":31:1"), "{human}");
}

#[test]
fn log_closes_an_open_fence_visibly_before_its_entry() {
    let repo = TestRepo::init();
    let path = repo.session(VALID_NAME, with_open_fence());
    repo.run(&["log", "weather", "after the fence"]).ok();
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.ends_with("$ cargo test\nok\n```\n\n### ")
            || text.contains("$ cargo test\nok\n```\n\n### "),
        "{text}"
    );
    assert!(text.ends_with("\nafter the fence\n"), "{text}");
    // Markdown now sees the entry: the file validates.
    repo.run(&["validate"]).ok();
}

#[test]
fn replacing_a_section_that_an_open_fence_runs_through_is_refused() {
    let repo = TestRepo::init();
    let src = VALID.replace(
        "Two providers wired.\n",
        "Two providers wired.\n\n~~~\nraw\n",
    );
    let path = repo.session(VALID_NAME, &src);
    let out = repo.run(&["update", "weather", "--state", "new state"]);
    out.code(1).no_panic();
    assert!(out.stderr.contains("never closed"), "{out}");
    let out = repo.run(&["log", "weather", "hidden?"]);
    out.code(1);
    assert!(out.stderr.contains("line 20 opens a code fence"), "{out}");
    assert_eq!(fs::read_to_string(&path).unwrap(), src);
}

// --- 13.11 Git conflict markers ----------------------------------------------------------

#[test]
fn validate_reports_git_conflict_markers_with_their_position() {
    let repo = TestRepo::init();
    let src = VALID.replace(
        "Two providers wired.\n",
        "<<<<<<< HEAD\nTwo providers wired.\n=======\nThree providers wired.\n>>>>>>> agent/backend\n",
    );
    repo.session(VALID_NAME, &src);
    let out = repo.run(&["validate", "--format", "json"]);
    out.code(1);
    let d = &out.json()["diagnostics"][0];
    assert_eq!(d["rule"], "conflict-marker", "{out}");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(18), Some(1))
    );
    assert!(
        d["message"].as_str().unwrap().contains("lines 18–22"),
        "{out}"
    );
    // In the frontmatter too (where YAML also fails).
    let src = VALID.replace(
        "  status: in_progress\n",
        "<<<<<<< ours\n  status: in_progress\n=======\n  status: paused\n>>>>>>> theirs\n",
    );
    repo.session(VALID_NAME, &src);
    let out = repo.run(&["validate", "--format", "json"]);
    let rules: Vec<_> = out.json()["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(rules.contains(&"conflict-marker".to_string()), "{out}");
}

// --- 11.9 FIFOs and other non-regular files ----------------------------------------------

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
}

#[test]
fn a_fifo_in_the_sessions_directory_hangs_nothing() {
    let (repo, _) = init_with_session();
    let fifo = repo.sessions_dir().join("20251204-150000-pipe.md");
    mkfifo(&fifo);
    // A symlink to a FIFO outside the directory: its type is only seen through the link.
    let other = repo.path("elsewhere.fifo");
    mkfifo(&other);
    symlink(
        &other,
        repo.sessions_dir().join("20251204-160000-linked-pipe.md"),
    )
    .unwrap();
    let quick = |args: &[&str]| {
        let mut cmd = repo.cmd();
        cmd.args(args).timeout(Duration::from_secs(20));
        run(&mut cmd)
    };
    let out = quick(&["list"]);
    out.ok().no_panic();
    assert!(out.stdout.contains("Weather API fallback"), "{out}");
    assert!(out.stderr.contains("it is a FIFO"), "{out}");
    let out = quick(&["validate", "--format", "json"]);
    out.code(1);
    let diags = out.json()["diagnostics"].as_array().unwrap().clone();
    assert_eq!(diags.len(), 2, "{out}");
    assert!(
        diags.iter().all(|d| d["rule"] == "not-regular-file"),
        "{out}"
    );
    // A FIFO named explicitly.
    let out = quick(&["validate", fifo.to_str().unwrap()]);
    out.code(1);
    assert!(out.stdout.contains("not-regular-file"), "{out}");
    quick(&["status"]).ok();
    let out = quick(&["show", ".agents/sessions/20251204-160000-linked-pipe.md"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("not a regular file"), "{out}");
    // The hook path: it answers and lists the real session.
    let mut cmd = repo.cmd();
    cmd.args(["hook", "session-start"])
        .write_stdin(format!(
            "{{\"session_id\":\"c1\",\"cwd\":\"{}\",\"source\":\"startup\",\"hook_event_name\":\"SessionStart\"}}",
            repo.root().display()
        ))
        .timeout(Duration::from_secs(20));
    let out = run(&mut cmd);
    out.ok();
    assert!(out.stdout.contains("Weather API fallback"), "{out}");
}

// --- 11.12 lock timeouts -----------------------------------------------------------------

#[test]
fn a_lock_timeout_names_the_live_holder_and_says_not_to_delete_the_lock() {
    let (repo, _) = init_with_session();
    let locks = repo.path(".agents/state/locks");
    fs::create_dir_all(&locks).unwrap();
    let lock_path = locks.join(format!("{VALID_NAME}.lock"));
    let file = fs::File::create(&lock_path).unwrap();
    file.lock().unwrap();
    fs::write(&lock_path, format!("{}\n", std::process::id())).unwrap();
    let mut cmd = repo.cmd();
    cmd.args(["log", "weather", "waits"])
        .env("SESSIONS_TEST_LOCK_TIMEOUT_MS", "300");
    let out = run(&mut cmd);
    out.code(2).no_panic();
    let pid = std::process::id().to_string();
    assert!(
        out.stderr.contains(&format!("pid {pid}, still running")),
        "{out}"
    );
    assert!(out.stderr.contains("Do not delete"), "{out}");
    assert!(!out.stderr.contains("if none is running, delete"), "{out}");
    // A pid that is gone: said so, and still no advice to delete.
    fs::write(&lock_path, "999999999\n").unwrap();
    let out = run(&mut cmd);
    out.code(2);
    assert!(out.stderr.contains("no longer running"), "{out}");
    drop(file);
    // Once released, the writer records its own pid (and the write goes through).
    repo.run(&["log", "weather", "now"]).ok();
    let holder = fs::read_to_string(&lock_path).unwrap();
    assert!(holder.trim().parse::<u32>().is_ok(), "{holder:?}");
}

// --- 11.13 terminal escape injection -----------------------------------------------------

const EVIL_TITLE: &str = "Evil\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J";
const EVIL_TASK: &str = "task \u{1b}]8;;https://evil.example\u{7}docs\u{1b}]8;;\u{7} \u{9b}31m";

fn evil_session(repo: &TestRepo) -> std::path::PathBuf {
    let text = VALID
        .replace(
            "title: \"Weather API fallback\"",
            "title: \"Evil\\e]52;c;cm0gLXJmIH4=\\a\\e[2J\"",
        )
        .replace(
            "current_task: \"Implement fallback chain\"",
            "current_task: \"task \\e]8;;https://evil.example\\adocs\\e]8;;\\a \\u009b31m\"",
        )
        .replace("Two providers wired.", "state \u{1b}[31mred\u{7}");
    repo.session(VALID_NAME, text)
}

fn assert_no_raw_controls(out: &Output) {
    for c in out.stdout.chars() {
        assert!(
            c == '\n' || !(c.is_control() || ('\u{80}'..='\u{9f}').contains(&c)),
            "raw control {c:?} in\n{out}"
        );
    }
}

#[test]
fn human_output_shows_escape_sequences_instead_of_obeying_them() {
    let repo = TestRepo::init();
    evil_session(&repo);
    let out = repo.run(&["list"]);
    out.ok();
    assert_no_raw_controls(&out);
    assert!(out.stdout.contains("Evil\\e]52;c;"), "{out}");
    let out = repo.run(&["status", "weather"]);
    out.ok();
    assert_no_raw_controls(&out);
    assert!(out.stdout.contains("^G"), "{out}");
    assert!(out.stdout.contains("<U+009B>31m"), "{out}");
    let out = repo.run(&["status"]);
    assert_no_raw_controls(&out);
    let out = repo.run(&["validate", "--format", "human"]);
    assert_no_raw_controls(&out);
}

#[test]
fn json_keeps_the_exact_text_escaped() {
    let repo = TestRepo::init();
    evil_session(&repo);
    for args in [&["list", "--json"][..], &["status", "--json"]] {
        let out = repo.run(args);
        out.ok();
        assert!(
            out.stdout.is_ascii() || !out.stdout.contains('\u{9b}'),
            "{out}"
        );
        assert_no_raw_controls(&out);
        let v = out.json();
        assert_eq!(v[0]["title"], EVIL_TITLE, "{out}");
        assert_eq!(v[0]["current_task"], EVIL_TASK, "{out}");
    }
    let v = repo.run(&["status", "weather", "--json"]).json();
    assert_eq!(v["title"], EVIL_TITLE);
}

#[test]
fn watch_lines_show_escapes_and_watch_json_keeps_them_exact() {
    let repo = TestRepo::init();
    let mut lines = watch_support::Watcher::start(repo.root(), &["watch"]);
    lines.expect("the ready line", |l| l.starts_with("stderr: watching "));
    let mut json = watch_support::Watcher::start(repo.root(), &["watch", "--json"]);
    json.expect("the ready event", |l| l.contains("\"watching\""));
    evil_session(&repo);
    let line = lines.expect("session-created", |l| l.contains(" session-created "));
    assert!(line.contains("Evil\\e]52;c;cm0gLXJmIH4=^G\\e[2J"), "{line}");
    assert!(!line.chars().any(char::is_control), "{line:?}");
    let event = json.expect("session-created", |l| l.contains("session-created"));
    assert!(
        !event.chars().any(|c| c.is_control() || c == '\u{9b}'),
        "{event:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(v["title"], EVIL_TITLE);
}

/// `show` on a terminal (a pty from util-linux `script`): the sections' escapes are shown.
#[test]
fn show_on_a_terminal_shows_escapes_visibly() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: `script` is not installed; the pty test of `show` did not run");
        return;
    }
    let repo = TestRepo::init();
    evil_session(&repo);
    let bin = assert_cmd::cargo::cargo_bin("sessions");
    let out = std::process::Command::new("script")
        .sealed()
        .args([
            "-qec",
            &format!("{} show weather", bin.display()),
            "/dev/null",
        ])
        .current_dir(repo.root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("state \\e[31mred^G"), "{text:?}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

#[test]
fn show_piped_prints_the_exact_bytes() {
    let repo = TestRepo::init();
    let path = evil_session(&repo);
    let out = repo.run(&["show", "weather"]);
    out.ok();
    assert_eq!(out.stdout, fs::read_to_string(path).unwrap());
}

// --- faults: a full disk -----------------------------------------------------------------

/// A tmpfs of 512 KiB holding the repository, filled up to leave no room for the new text.
/// Needs root and a kernel that lets this process mount; otherwise the test says so and
/// passes without checking (there is no other honest way to make a disk full).
#[test]
fn a_full_disk_leaves_the_file_intact_and_says_so() {
    let mnt = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(mnt.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: cannot mount a tmpfs here (not root?); the ENOSPC test did not run");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(mnt.path());
    let root = mnt.path().join("repo");
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::create_dir_all(root.join(".agents/sessions")).unwrap();
    fs::create_dir_all(root.join(".agents/state/locks")).unwrap();
    let path = root.join(".agents/sessions").join(VALID_NAME);
    fs::write(&path, VALID).unwrap();
    // Fill the rest of the disk.
    let filler = root.join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let chunk = vec![b'x'; 4096];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let big = "y".repeat(64 * 1024);
    let mut cmd = assert_cmd::Command::cargo_bin("sessions").unwrap();
    cmd.sealed()
        .current_dir(&root)
        .env("NO_COLOR", "1")
        .args(["log", "weather", &big]);
    let out = run(&mut cmd);
    out.code(2).no_panic();
    assert!(out.stderr.contains("no space left"), "{out}");
    assert!(out.stderr.contains("the file is unchanged"), "{out}");
    assert_eq!(fs::read_to_string(&path).unwrap(), VALID);
    let left: Vec<_> = fs::read_dir(root.join(".agents/sessions"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [VALID_NAME], "temp files left behind");
}

// --- faults: clocks ----------------------------------------------------------------------

#[test]
fn future_and_far_dates_are_handled() {
    let repo = TestRepo::init();
    // Past 2038 (32-bit time_t) and near the end of what RFC 3339 can say.
    let text = session_text(
        "Far future",
        "in_progress",
        "2039-01-19T03:14:08Z",
        "9999-12-31T23:59:59Z",
        "t",
    );
    repo.session(&name_for("2039-01-19T03:14:08Z", "far-future"), &text);
    let out = repo.run(&["validate", "--format", "json"]);
    out.ok().no_panic();
    let rules: Vec<_> = out.json()["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(rules.iter().all(|r| r == "timestamp-future"), "{out}");
    assert!(!rules.is_empty());
    let out = repo.run(&["list", "--json"]);
    out.ok().no_panic();
    assert_eq!(out.json()[0]["stale"], false, "{out}");
    repo.run(&["list"]).ok().no_panic();
    repo.run(&["status", "far"]).ok().no_panic();
    // An edit stamps the real time, earlier than `created`: reported, not a crash.
    repo.run(&["log", "far", "now"]).ok();
    let out = repo.run(&["validate", "--format", "json"]);
    assert!(out.stdout.contains("timestamp-order"), "{out}");
}

#[test]
fn odd_tz_values_change_nothing_written() {
    let (repo, path) = init_with_session();
    for tz in [
        "",
        ":/nonexistent/zone",
        "Asia/Kathmandu",
        "EST+5EDT,M3.2.0/2,M11.1.0/2",
        "UTC-14",
    ] {
        let mut cmd = repo.cmd();
        cmd.env("TZ", tz)
            .args(["log", "weather", &format!("tz {tz}")]);
        run(&mut cmd).ok().no_panic();
    }
    let text = fs::read_to_string(&path).unwrap();
    let now = chrono::Utc::now();
    // Every entry heading and last_updated are UTC: within a few minutes of now, in UTC.
    let heads: Vec<&str> = text.lines().filter(|l| l.starts_with("### ")).collect();
    assert_eq!(heads.len(), 5, "{text}");
    for h in heads {
        let stamp = &h[4..20];
        let t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc();
        assert!((now - t).num_minutes().abs() <= 2, "{h} vs {now}");
    }
    repo.run(&["validate"]).ok();
}
