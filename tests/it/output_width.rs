//! Tables and hints fit the terminal, and status words are coloured only where they should be.
//!
//! The terminal views run in an 80×24 tmux pane (a private tmux server: its own `TMUX_TMPDIR`
//! and `-L` socket, killed at the end); `capture-pane -J` joins wrapped lines, so a line that
//! overflowed shows up wider than 80. Without tmux on PATH those tests print a note and pass.
//! `COLUMNS` and `--color` are checked on plain pipes.

use crate::agents_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use agents_support::{PATIENCE, Repo, Sealed, skip_note};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

const LONG_TITLE: &str = "Make the weather provider fallback chain resilient against slow upstream services and their retries";
const LONG_TASK: &str = "Describe, in far too many words to ever fit on one line of an eighty column terminal, what the agent does";
const DONE: &str = "command-finished-marker";

/// A repository with a long-titled session (a long task) and one finished fake-agent run on it
/// (so a long log path); returns the repository and that session's stem.
fn long_repo() -> (Repo, String) {
    let repo = Repo::new();
    repo.script(
        "fake.sh",
        "echo working; echo SUMMARY: a summary of what was done",
    );
    repo.configure("  fake:\n    command: [./fake.sh]\n", "");
    let out = repo.ok(&["new", LONG_TITLE, "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stem = v["id"].as_str().unwrap().to_string();
    repo.ok(&["update", &stem, "--task", LONG_TASK]);
    let out = repo.ok(&[
        "spawn", &stem, "--agent", "fake", "--task", LONG_TASK, "--json",
    ]);
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    repo.wait_status(runs[0]["run_id"].as_str().unwrap(), "completed");
    (repo, stem)
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn widest(s: &str) -> usize {
    s.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
}

/// A private tmux server with one 80×24 pane.
struct Tmux {
    socket: String,
    tmpdir: tempfile::TempDir,
    conf: PathBuf,
}

impl Tmux {
    fn start(test: &str) -> Option<Tmux> {
        if !Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            skip_note("tmux is not on PATH");
            return None;
        }
        let tmpdir = tempfile::Builder::new()
            .prefix("ow")
            .tempdir_in("/tmp")
            .unwrap();
        let conf = tmpdir.path().join("tmux.conf");
        std::fs::write(&conf, "set -g remain-on-exit on\n").unwrap();
        Some(Tmux {
            socket: format!("sessions-width-{}-{test}", std::process::id()),
            tmpdir,
            conf,
        })
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .sealed()
            .env("TMUX_TMPDIR", self.tmpdir.path())
            .env_remove("TMUX")
            .env_remove("COLUMNS")
            .env_remove("NO_COLOR")
            .arg("-u")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.conf)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `sessions ARGS` (with `env` before it) in a fresh 80×24 window inside `dir`, waits
    /// for it to end, and returns the pane: lines joined where the terminal wrapped them, with
    /// escape sequences when `escapes`.
    fn run(&self, dir: &Path, env: &str, args: &str, escapes: bool) -> String {
        let script = format!("{env} \"$0\" -C \"$1\" {args}; echo {DONE}; exec sleep 60");
        let bin = env!("CARGO_BIN_EXE_sessions");
        let root = dir.to_str().unwrap();
        let name = format!("w{}", args.len() + env.len());
        let _ = self.tmux(&["kill-session", "-t", &name]);
        let out = self.tmux(&[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "80",
            "-y",
            "24",
            "--",
            "sh",
            "-c",
            &script,
            bin,
            root,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut cap = vec!["capture-pane", "-p", "-J", "-t", &name];
            if escapes {
                cap.push("-e");
            }
            let screen = String::from_utf8_lossy(&self.tmux(&cap).stdout).into_owned();
            if screen.contains(DONE) {
                return screen;
            }
            assert!(Instant::now() < deadline, "`{args}` never ended:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

#[track_caller]
fn fits(what: &str, screen: &str) {
    for line in screen.lines() {
        assert!(
            line.width() <= 80,
            "{what}: a line of {} columns:\n{line}\n---\n{screen}",
            line.width()
        );
    }
}

#[test]
fn views_fit_an_80_column_terminal_with_json_keeping_full_values() {
    let (repo, stem) = long_repo();
    let Some(tmux) = Tmux::start("views") else {
        return;
    };
    let root = repo.root();

    let list = tmux.run(root, "", "list", false);
    fits("list", &list);
    assert!(list.contains("STATUS") && list.contains("TITLE"), "{list}");
    assert!(
        list.contains("Make the weather provider") && list.contains('…'),
        "{list}"
    );
    assert!(list.contains("weather fallback"), "{list}");

    let agents = tmux.run(root, "", "agents --all", false);
    fits("agents", &agents);
    assert!(
        agents.contains("completed") && agents.contains("fake"),
        "{agents}"
    );
    assert!(
        agents.contains('…'),
        "the long session or log is cut:\n{agents}"
    );

    let status = tmux.run(root, "", "status", false);
    fits("status", &status);
    assert!(status.contains('…'), "{status}");

    let detail = tmux.run(root, "", &format!("status {stem}"), false);
    fits("status SESSION", &detail);
    assert!(
        detail.contains("Agents (1)") && detail.contains('…'),
        "{detail}"
    );

    let spawn = tmux.run(
        root,
        "",
        &format!("spawn {stem} --agent fake --task 'another long task for the hint'"),
        false,
    );
    fits("spawn", &spawn);
    assert!(spawn.contains("Follow: sessions logs "), "{spawn}");

    // Full values where a program reads them.
    let json = text(&repo.ok(&["list", "--json"]));
    assert!(
        json.contains(LONG_TITLE) && json.contains(LONG_TASK),
        "{json}"
    );
    let json = text(&repo.ok(&["agents", "--all", "--json"]));
    let runs: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert!(runs.iter().any(|r| r["task"] == LONG_TASK), "{json}");
    assert!(
        runs.iter()
            .all(|r| r["log"].as_str().unwrap().contains(&stem)),
        "{json}"
    );
}

#[test]
fn the_spawn_hint_names_the_session_by_a_short_unique_part() {
    let (repo, stem) = long_repo();
    let out = text(&repo.ok(&["spawn", &stem, "--agent", "fake", "--task", "x"]));
    let follow = out
        .lines()
        .find(|l| l.starts_with("Follow: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(follow.width() <= 80, "{out}");
    assert!(!follow.contains(&stem), "{out}");
    // The printed commands work as printed.
    for line in out
        .lines()
        .filter(|l| l.starts_with("List: ") || l.starts_with("Follow: "))
    {
        let cmd = line.split_once("sessions ").unwrap().1;
        let args: Vec<&str> = cmd.split_whitespace().filter(|a| *a != "-f").collect();
        repo.ok(&args);
    }
}

/// The hint's short name is the first words of the slug that name the session alone: a part
/// another stem has, or another session's title has, is passed over.
#[test]
fn the_spawn_hint_passes_over_parts_another_stem_or_title_has() {
    let repo = Repo::new();
    let new = |title: &str| {
        let out = repo.ok(&["new", title, "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["id"].as_str().unwrap().to_string(),
            repo.root().join(v["path"].as_str().unwrap()),
        )
    };
    let (timeout, _) = new("fix login timeout");
    let (page, _) = new("fix login page");
    let (_, notes) = new("notes");
    let follow = |stem: &str| {
        let out = text(&repo.ok(&[
            "spawn", stem, "--agent", "noop", "--task", "x", "--", "true",
        ]));
        out.lines()
            .find_map(|l| l.strip_prefix("Follow: sessions logs "))
            .and_then(|l| l.split_once(':'))
            .map(|(name, _)| name.to_string())
            .unwrap_or_else(|| panic!("{out}"))
    };
    // `fix-login` is in two stems; `fix-login-page` is in one stem and no title.
    assert_eq!(follow(&page), "fix-login-page");
    assert_eq!(follow(&timeout), "fix-login-timeout");
    // Another session's title that has `fix-login-timeout` leaves only the whole stem.
    let text_of = fs::read_to_string(&notes).unwrap();
    fs::write(
        &notes,
        text_of.replacen("title: \"notes\"", "title: \"see Fix-Login-Timeout\"", 1),
    )
    .unwrap();
    assert_eq!(follow(&timeout), timeout);
}

#[test]
fn watch_rows_fit_an_80_column_terminal() {
    let (repo, _) = long_repo();
    let Some(tmux) = Tmux::start("watch") else {
        return;
    };
    let script = "\"$0\" -C \"$1\" watch; exec sleep 60";
    let out = tmux.tmux(&[
        "new-session",
        "-d",
        "-s",
        "watch",
        "-x",
        "80",
        "-y",
        "24",
        "--",
        "sh",
        "-c",
        script,
        env!("CARGO_BIN_EXE_sessions"),
        repo.root().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + PATIENCE;
    let screen = loop {
        let s = String::from_utf8_lossy(
            &tmux
                .tmux(&["capture-pane", "-p", "-J", "-t", "watch"])
                .stdout,
        )
        .into_owned();
        if s.contains("STATUS") && s.contains("Make the weather") && s.contains("weather fallback")
        {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "watch never drew its table:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    fits("watch", &screen);
    let row = screen
        .lines()
        .find(|l| l.contains("Make the weather"))
        .unwrap();
    assert!(row.contains('…'), "{screen}");
    let _ = tmux.tmux(&["send-keys", "-t", "watch", "C-c"]);
}

#[test]
fn columns_sets_the_width_and_a_pipe_has_none() {
    let (repo, stem) = long_repo();
    let wide = text(&repo.ok(&["agents", "--all"]));
    assert!(widest(&wide) > 80, "a pipe keeps full values:\n{wide}");
    assert!(!wide.contains('…'), "{wide}");
    assert!(text(&repo.ok(&["list"])).contains(LONG_TITLE));
    for args in [
        &["list"][..],
        &["agents", "--all"],
        &["status"],
        &["status", &stem],
    ] {
        let out = text(&repo.cmd(args).env("COLUMNS", "80").output().unwrap());
        assert!(widest(&out) <= 80 && out.contains('…'), "{args:?}:\n{out}");
        let narrow = text(&repo.cmd(args).env("COLUMNS", "50").output().unwrap());
        assert!(widest(&narrow) <= 50, "{args:?}:\n{narrow}");
    }
}

#[test]
fn colour_follows_the_flag_no_color_and_the_terminal() {
    let (repo, _) = long_repo();
    let has_ansi = |o: &Output| o.stdout.contains(&0x1b);
    let run = |args: &[&str], no_color: bool| {
        let mut c = repo.cmd(args);
        c.env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CLICOLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        c.output().unwrap()
    };
    for view in [&["list"][..], &["agents", "--all"], &["status"]] {
        let with = |flag: &[&str], no_color| {
            let mut a = view.to_vec();
            a.extend_from_slice(flag);
            run(&a, no_color)
        };
        let always = with(&["--color", "always"], false);
        assert!(
            has_ansi(&always),
            "{view:?} --color always:\n{}",
            text(&always)
        );
        assert!(text(&always).contains("\x1b[32m") || text(&always).contains("\x1b[34m"));
        assert!(
            !has_ansi(&with(&["--color", "never"], false)),
            "{view:?} never"
        );
        assert!(!has_ansi(&with(&[], false)), "{view:?} into a pipe");
        assert!(!has_ansi(&with(&[], true)), "{view:?} NO_COLOR");
        assert!(
            !has_ansi(&with(&["--json", "--color", "always"], false)),
            "{view:?} --json"
        );
    }
    let out = repo.run(&["list", "--color", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));

    let Some(tmux) = Tmux::start("colour") else {
        return;
    };
    let screen = tmux.run(repo.root(), "", "list", true);
    assert!(
        screen.contains("\x1b["),
        "a terminal is coloured:\n{screen}"
    );
    let screen = tmux.run(repo.root(), "NO_COLOR=1", "list", true);
    let table: String = screen
        .lines()
        .filter(|l| l.contains("in_progress"))
        .collect();
    assert!(
        !table.contains("\x1b["),
        "NO_COLOR on a terminal:\n{screen:?}"
    );
}
