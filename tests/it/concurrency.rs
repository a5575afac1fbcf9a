//! Writers racing each other, an editor racing a writer, and writers killed mid-write
//! (SPEC §3: atomic writes, serialised by a lock, never overwriting someone else's change).

use crate::edit_support;

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edit_support::*;

const REQUIRED: [&str; 3] = ["Context", "Current State", "Next Steps"];

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

fn assert_intact(text: &str, original_sections: &[String]) {
    frontmatter_ok(text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    let names: Vec<String> = sections_of(text).into_iter().map(|(n, _)| n).collect();
    for want in original_sections {
        assert!(names.contains(want), "`## {want}` lost:\n{text}");
    }
    for want in REQUIRED {
        assert!(names.iter().any(|n| n == want), "`## {want}` missing");
    }
}

fn section_names(text: &str) -> Vec<String> {
    sections_of(text).into_iter().map(|(n, _)| n).collect()
}

/// 8 threads each run `sessions log` 25 times on the same file: every entry lands once.
#[test]
fn eight_writers_times_25_logs_lose_nothing() {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let repo = TestRepo::new();
    let path = repo.new_session("concurrent logging");
    let original = repo.read(&path);
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();

    let start = Instant::now();
    thread::scope(|s| {
        for w in 0..WRITERS {
            let repo = &repo;
            let stem = stem.as_str();
            s.spawn(move || {
                for i in 0..EACH {
                    let out = repo
                        .std_cmd()
                        .args(["log", stem, &format!("entry w{w}-i{i} end")])
                        .args(["--actor", &format!("writer-{w}")])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "writer {w} call {i}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            });
        }
    });
    eprintln!("{} log calls in {:?}", WRITERS * EACH, start.elapsed());

    let text = repo.read(&path);
    let log = section_body(&text, "Session Log").expect("a Session Log");
    let entries = log.lines().filter(|l| l.starts_with("### ")).count();
    assert_eq!(entries, WRITERS * EACH, "entries in the log:\n{log}");
    for w in 0..WRITERS {
        for i in 0..EACH {
            let msg = format!("\nentry w{w}-i{i} end\n");
            assert_eq!(text.matches(&msg).count(), 1, "{msg:?}");
        }
    }
    // Each writer's own entries are in the order it wrote them.
    for w in 0..WRITERS {
        let order: Vec<usize> = (0..EACH)
            .map(|i| text.find(&format!("entry w{w}-i{i} end")).unwrap())
            .collect();
        assert!(
            order.windows(2).all(|p| p[0] < p[1]),
            "writer {w} out of order"
        );
    }
    assert_intact(&text, &section_names(&original));
    // Everything before the log is the original apart from `last_updated`.
    let cut = |t: &str| {
        t[..t.find("## Session Log").unwrap()]
            .lines()
            .filter(|l| !l.contains("last_updated:"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(cut(&text), cut(&original));
    repo.cmd().arg("validate").assert().code(0);
    assert!(temp_files(&repo.sessions_dir()).is_empty());
}

/// Waits until the writer has prepared its temp file (it then sleeps for the test delay).
fn wait_for_temp(dir: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while temp_files(dir).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer finished before it paused"
        );
        assert!(Instant::now() < deadline, "no temp file appeared");
        thread::sleep(Duration::from_millis(2));
    }
}

fn editor_race(rename: bool) {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let mut child = repo
        .std_cmd()
        .args(["update", "weather", "--state", "Written by the command."])
        .env("SESSIONS_TEST_WRITE_DELAY_MS", "500")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_temp(&repo.sessions_dir(), &mut child);

    // The editor saves while the command is between preparing and renaming.
    let edited = RICH.replace(
        "Providers fail; we need a chain.\n",
        "Providers fail; we need a chain.\nAdded in the editor.\n",
    );
    if rename {
        let tmp = repo.root().join("editor-save.tmp");
        fs::write(&tmp, &edited).unwrap();
        fs::rename(&tmp, &path).unwrap();
    } else {
        fs::write(&path, &edited).unwrap();
    }

    let text = assert_both_kept(
        &repo,
        &path,
        child,
        "Providers fail; we need a chain.\nAdded in the editor.\n",
    );
    assert_intact(&text, &section_names(RICH));
}

/// The writer ended well, the editor's save is in the file beside the writer's `Current
/// State`, and no temp file is left. Returns the text.
fn assert_both_kept(repo: &TestRepo, path: &Path, child: Child, editor_text: &str) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = repo.read(path);
    assert!(
        text.contains(editor_text),
        "the editor's save was overwritten:\n{text}"
    );
    assert_eq!(
        section_body(&text, "Current State").as_deref(),
        Some("\nWritten by the command.\n\n"),
        "{text}"
    );
    assert!(temp_files(&repo.sessions_dir()).is_empty());
    text
}

#[test]
fn editor_saving_by_rename_during_the_write_is_not_overwritten() {
    editor_race(true);
}

#[test]
fn editor_saving_in_place_during_the_write_is_not_overwritten() {
    editor_race(false);
}

/// The writer does not read the file again under the lock when `stat` says it is the version
/// it first read. An editor's in-place save of the same size that even puts the old mtime back
/// (`cp -p`, `touch -r`) while the writer waits for the lock is still seen (ctime, and the
/// byte-for-byte check of what the swap replaced) and kept.
#[test]
fn a_same_size_save_with_the_old_mtime_put_back_while_the_writer_waits_is_kept() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let lock = repo
        .root()
        .join(format!(".agents/state/locks/{RICH_NAME}.lock"));
    let mut holder = crate::hooks_cli::hold_lock(&lock, 600);
    let mut child = repo
        .std_cmd()
        .args(["update", "weather", "--state", "Written by the command."])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The writer opens the lock file once it has read the file and made its edit (and gives up
    // on the held lock only after its own timeout, which ends this loop through `try_wait`).
    let fd_dir = format!("/proc/{}/fd", child.id());
    while !fs::read_dir(&fd_dir)
        .map(|fds| {
            fds.flatten()
                .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t == lock))
        })
        .unwrap_or(false)
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer did not wait for the lock"
        );
        thread::sleep(Duration::from_millis(2));
    }
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let edited = RICH.replace("Providers fail;", "Providers FAIL;");
    assert_eq!(edited.len(), RICH.len());
    fs::write(&path, &edited).unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_both_kept(&repo, &path, child, "Providers FAIL;");
}

/// A tiny xorshift generator, seeded from the clock (the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Writers killed at random moments never leave a torn file, and their temp files are
/// cleaned up by the next successful write.
#[test]
fn killed_writers_never_leave_a_torn_file() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed: CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let dir = repo.sessions_dir();
    let sections = section_names(RICH);
    let start = Instant::now();
    let (mut killed, mut finished, mut stranded) = (0, 0, 0);

    for round in 0..40 {
        let delay = rng.below(21).to_string();
        let mut cmd = repo.std_cmd();
        if rng.below(2) == 0 {
            cmd.args([
                "update",
                "weather",
                "--state",
                &format!("round {round}\nline two"),
            ]);
        } else {
            cmd.args(["log", "weather", &format!("round {round}")]);
        }
        let mut child = cmd
            .env("SESSIONS_TEST_WRITE_DELAY_MS", &delay)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        thread::sleep(Duration::from_millis(rng.below(31)));
        match child.try_wait().unwrap() {
            Some(_) => finished += 1,
            None => {
                child.kill().unwrap(); // SIGKILL
                killed += 1;
            }
        }
        child.wait().unwrap();

        let text = repo.read(&path);
        assert_intact(&text, &sections);
        assert!(
            text.contains("Keep me byte for byte."),
            "round {round}:\n{text}"
        );
        if !temp_files(&dir).is_empty() {
            stranded += 1;
        }

        // The next successful command removes any temp file left behind.
        repo.cmd()
            .args(["log", "weather", &format!("after round {round}")])
            .assert()
            .success();
        let left = temp_files(&dir);
        assert!(
            left.is_empty(),
            "round {round}: temp files survived: {left:?}"
        );
        let text = repo.read(&path);
        assert_intact(&text, &sections);
        assert!(text.contains(&format!("\nafter round {round}\n")));
    }
    eprintln!(
        "crash test: {killed} killed, {finished} finished first, {stranded} left a temp file, in {:?}",
        start.elapsed()
    );
    repo.cmd().arg("validate").arg(&path).assert().code(0);
}

/// When the editor's save makes the edit impossible (the item to tick is gone), the command
/// stops with a message and a diff, and the editor's version stays.
#[test]
fn edit_that_no_longer_applies_after_an_editor_save_stops_with_a_diff() {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let mut child = repo
        .std_cmd()
        .args(["update", "weather", "--check", "add tests"])
        .env("SESSIONS_TEST_WRITE_DELAY_MS", "400")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_temp(&repo.sessions_dir(), &mut child);
    let edited = RICH.replace("- [ ] add tests\n", "- [ ] write docs instead\n");
    fs::write(&path, &edited).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("changed while this command ran"), "{err}");
    assert!(
        err.contains("+- [ ] write docs instead"),
        "no diff in:\n{err}"
    );
    assert_eq!(repo.read(&path), edited);
    assert!(temp_files(&repo.sessions_dir()).is_empty());
}

/// Waits until the writer's temp file holds its whole text (it then re-reads the file and
/// sleeps for `SESSIONS_TEST_SWAP_DELAY_MS` before swapping), plus a margin for the re-read.
fn wait_for_full_temp(dir: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let full = temp_files(dir)
            .iter()
            .any(|n| fs::metadata(dir.join(n)).is_ok_and(|m| m.len() > 0));
        if full {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer finished before it paused"
        );
        assert!(Instant::now() < deadline, "no temp file appeared");
        thread::sleep(Duration::from_millis(2));
    }
    thread::sleep(Duration::from_millis(100));
}

/// The window the issue found: the editor saves after the writer's last re-read and before
/// its rename. The writer swaps its file in, sees what it displaced is not what it read, and
/// merges onto the editor's save.
fn editor_saves_in_the_swap_window(rename: bool) {
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let mut child = repo
        .std_cmd()
        .args(["update", "weather", "--state", "Written by the command."])
        .env("SESSIONS_TEST_SWAP_DELAY_MS", "600")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_full_temp(&repo.sessions_dir(), &mut child);
    let edited = RICH.replace(
        "Keep me byte for byte.\n",
        "Keep me byte for byte.\nSaved in the swap window.\n",
    );
    if rename {
        let tmp = repo.root().join("editor-save.tmp");
        fs::write(&tmp, &edited).unwrap();
        fs::rename(&tmp, &path).unwrap();
    } else {
        fs::write(&path, &edited).unwrap();
    }
    let text = assert_both_kept(
        &repo,
        &path,
        child,
        "Keep me byte for byte.\nSaved in the swap window.\n",
    );
    assert_intact(&text, &section_names(RICH));
}

#[test]
fn editor_saving_by_rename_between_the_last_check_and_the_rename_is_kept() {
    editor_saves_in_the_swap_window(true);
}

#[test]
fn editor_saving_in_place_between_the_last_check_and_the_rename_is_kept() {
    editor_saves_in_the_swap_window(false);
}

/// An in-place save whose `open(2)` found the file just before a writer's swap lands in the
/// file the swap displaced, after the writer checked it (the rename holds the file's inode
/// lock, so an editor's truncating open waits for it and then runs right after). Here the
/// editor holds the file open from before the swap and truncates and writes through its
/// descriptor while the writer pauses after its check (`SESSIONS_TEST_UNLINK_DELAY_MS`). The
/// save must end up at the path, merged with the command's edit.
#[test]
fn editor_writing_in_place_into_the_displaced_file_after_the_check_is_kept() {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let ino = fs::metadata(&path).unwrap().ino();
    let mut held = fs::OpenOptions::new().write(true).open(&path).unwrap();
    let mut child = repo
        .std_cmd()
        .args(["update", "weather", "--state", "Written by the command."])
        // Long enough that even a busy machine writes through the descriptor within it.
        .env("SESSIONS_TEST_UNLINK_DELAY_MS", "3000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until the writer swaps (it cannot finish before: it pauses after the swap).
    while fs::metadata(&path).unwrap().ino() == ino {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer finished without swapping"
        );
        thread::sleep(Duration::from_millis(1));
    }
    // The writer has swapped; let it check what it displaced (it then pauses).
    thread::sleep(Duration::from_millis(200));
    let edited = RICH.replace(
        "Keep me byte for byte.\n",
        "Keep me byte for byte.\nSaved through the open file.\n",
    );
    held.set_len(0).unwrap();
    held.write_all(edited.as_bytes()).unwrap();
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = repo.read(&path);
    assert!(
        text.contains("Keep me byte for byte.\nSaved through the open file.\n"),
        "the editor's save went into a deleted file:\n{text}"
    );
    assert_eq!(
        section_body(&text, "Current State").as_deref(),
        Some("\nWritten by the command.\n\n"),
        "{text}"
    );
    assert_intact(&text, &section_names(RICH));
    assert!(temp_files(&repo.sessions_dir()).is_empty());
}

/// 16 processes doing mixed `log`/`update`/`--check`/`pause`/`resume` while an editor saves
/// every 10 ms, each save adding one numbered line (by temp file + rename, or in place by
/// truncate-and-write). Every numbered line must be in the final file: none of the editor's
/// saves may be overwritten by a `sessions` write. Returns (saves, lost).
fn editor_stress(writer_rounds: usize, in_place: bool) -> (usize, Vec<usize>) {
    const WRITERS: usize = 16;
    let repo = TestRepo::new();
    let path = repo.write_session(RICH_NAME, RICH);
    let done = std::sync::atomic::AtomicBool::new(false);
    let saves = thread::scope(|s| {
        let editor = s.spawn(|| {
            let mut n = 0;
            let tmp = repo.root().join("editor-save.tmp");
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(10));
                let Ok(text) = fs::read_to_string(&path) else {
                    continue;
                };
                // An in-place save can be read half-written by the editor itself only if it
                // raced itself; skip a text that lost its anchor rather than guess.
                if !text.contains("Keep me byte for byte.\n") {
                    continue;
                }
                n += 1;
                let saved = text.replacen(
                    "Keep me byte for byte.\n",
                    &format!("Keep me byte for byte.\neditor save {n}\n"),
                    1,
                );
                if in_place {
                    fs::write(&path, saved).unwrap();
                } else {
                    fs::write(&tmp, saved).unwrap();
                    fs::rename(&tmp, &path).unwrap();
                }
            }
            n
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let repo = &repo;
                s.spawn(move || {
                    let mut failed = 0;
                    for i in 0..writer_rounds {
                        let msg = format!("w{w} i{i}");
                        let args: Vec<&str> = match (w + i) % 5 {
                            0 => vec!["log", "weather", &msg],
                            1 => vec!["update", "weather", "--state", &msg],
                            2 if i % 2 == 0 => vec!["update", "weather", "--check", "add tests"],
                            2 => vec!["update", "weather", "--uncheck", "add tests"],
                            3 => vec!["pause", "weather"],
                            _ => vec!["resume", "weather"],
                        };
                        let out = repo
                            .std_cmd()
                            .args(&args)
                            .stdout(Stdio::null())
                            .output()
                            .unwrap();
                        if !out.status.success() {
                            failed += 1;
                            eprintln!("{args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
                        }
                    }
                    failed
                })
            })
            .collect();
        let failed: usize = writers.into_iter().map(|h| h.join().unwrap()).sum();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        eprintln!("{failed} sessions commands failed");
        editor.join().unwrap()
    });
    let text = repo.read(&path);
    let lost: Vec<usize> = (1..=saves)
        .filter(|n| !text.contains(&format!("\neditor save {n}\n")))
        .collect();
    assert_intact(&text, &section_names(RICH));
    (saves, lost)
}

#[test]
fn an_editor_saving_every_10ms_loses_nothing_to_16_writers() {
    for in_place in [false, true] {
        let (saves, lost) = editor_stress(4, in_place);
        eprintln!("in place: {in_place}: {saves} editor saves, lost {lost:?}");
        assert!(saves > 0);
        assert!(lost.is_empty(), "lost editor saves {lost:?} of {saves}");
    }
}

/// The long variant (10 runs of 16 writers × 25 commands, both kinds of editor), for a
/// change to `write.rs`: `cargo test --test it concurrency::editor_stress_long -- --ignored`.
/// `SESSIONS_STRESS_RUNS` and `SESSIONS_STRESS_ROUNDS` scale it.
#[test]
#[ignore]
fn editor_stress_long() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (runs, rounds) = (
        env("SESSIONS_STRESS_RUNS", 10),
        env("SESSIONS_STRESS_ROUNDS", 25),
    );
    let mut total = (0, 0);
    for run in 0..runs {
        for in_place in [false, true] {
            let (saves, lost) = editor_stress(rounds, in_place);
            eprintln!("run {run} in place {in_place}: {saves} saves, lost {lost:?}");
            total.0 += saves;
            total.1 += lost.len();
        }
    }
    eprintln!("total: {} editor saves, {} lost", total.0, total.1);
    assert_eq!(total.1, 0);
}
