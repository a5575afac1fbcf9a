//! `sessions watch` on a terminal: the redrawn table on the alternate screen, driven through
//! tmux (`capture-pane`, `send-keys`). Every test uses its own tmux server (a private
//! `TMUX_TMPDIR` and a unique `-L` socket) and kills it at the end. Without tmux on PATH the
//! tests print a note and pass.

use crate::watch_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use watch_support::{PATIENCE, Sealed, bin, break_context, new_session, repo, sessions, spawn_sh};

/// Printed on the normal screen before `watch` starts, so we can see that screen come back.
const BEFORE: &str = "before-watch-marker";
/// Printed by the shell after `watch` exits, with its exit status.
const AFTER: &str = "watch exited with";

/// A tmux server with one 200×50 pane running `sessions -C REPO watch`.
struct Tmux {
    socket: String,
    tmpdir: tempfile::TempDir,
    conf: PathBuf,
}

impl Tmux {
    /// `None` (after a note on stderr) when tmux is not installed.
    fn start(test: &str, repo: &Path) -> Option<Tmux> {
        if !Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            eprintln!("note: tmux is not on PATH; skipping the terminal view test `{test}`");
            return None;
        }
        // A short path: the socket path must fit in sun_path.
        let tmpdir = tempfile::Builder::new()
            .prefix("sw")
            .tempdir_in("/tmp")
            .unwrap();
        let conf = tmpdir.path().join("tmux.conf");
        // Keep the pane if its shell ends early, so the screen can still be inspected.
        std::fs::write(&conf, "set -g remain-on-exit on\n").unwrap();
        let tmux = Tmux {
            socket: format!("sessions-watch-{}-{test}", std::process::id()),
            tmpdir,
            conf,
        };
        // A shell around `watch`, like a person's: the markers show which screen is visible
        // and how `watch` ended. `trap : INT` keeps the shell alive through the Ctrl-C (the
        // trap is reset for `watch` itself, which gets the signal normally).
        let script = format!(
            "echo {BEFORE}; trap : INT; \"$0\" -C \"$1\" watch; echo \"{AFTER} $?\"; exec sleep 60"
        );
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "watch",
            "-x",
            "200",
            "-y",
            "50",
            "--",
            "sh",
            "-c",
            &script,
            bin().to_str().unwrap(),
            repo.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The raw bytes written to the pane, to check the escape sequences `watch` leaves with.
        let raw = tmux.raw_path();
        let pipe = format!("cat > '{}'", raw.display());
        assert!(
            tmux.run(&["pipe-pane", "-t", "watch", &pipe])
                .status
                .success()
        );
        Some(tmux)
    }

    fn raw_path(&self) -> PathBuf {
        self.tmpdir.path().join("pane.raw")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .sealed()
            .env("TMUX_TMPDIR", self.tmpdir.path())
            .env_remove("TMUX")
            .arg("-u")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.conf)
            .args(args)
            .output()
            .unwrap()
    }

    /// The visible pane, as text.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "watch"]).stdout)
            .into_owned()
    }

    /// A tmux format (`#{pane_dead}`…) evaluated for the pane.
    fn format(&self, f: &str) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["display-message", "-p", "-t", "watch", f])
                .stdout,
        )
        .trim()
        .to_string()
    }

    /// Polls the pane until `pred` holds for its text; fails with the last screen after
    /// [`PATIENCE`].
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("the pane did not show {what} within {PATIENCE:?}; it shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The table row of the session titled `title`, if shown.
fn row<'a>(screen: &'a str, title: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(&format!("  {title}  ")))
}

fn row_has(screen: &str, title: &str, parts: &[&str]) -> bool {
    row(screen, title).is_some_and(|r| parts.iter().all(|p| r.contains(p)))
}

#[test]
fn tty_view_redraws_on_changes_and_restores_the_screen_on_ctrl_c() {
    let dir = repo();
    let first = new_session(dir.path(), "Tty first work");
    let Some(tmux) = Tmux::start("redraw", dir.path()) else {
        return;
    };

    let screen = tmux.wait_for("the header and the session, valid", |s| {
        s.contains("sessions watch — 1 session(s), 0 agent run(s)")
            && s.contains("STATUS")
            && s.contains("VALID")
            && row_has(s, "Tty first work", &["in_progress", "✓"])
    });
    // The table is on the alternate screen: the normal one (with the marker) is hidden.
    assert!(!screen.contains(BEFORE), "{screen}");
    assert_eq!(tmux.format("#{alternate_on}"), "1");

    // A second session, made by another process, appears.
    new_session(dir.path(), "Tty second work");
    tmux.wait_for("the second session", |s| {
        s.contains("sessions watch — 2 session(s)")
            && row_has(s, "Tty second work", &["✓"])
            && row_has(s, "Tty first work", &["✓"])
    });

    // An editor breaks the first file: ✗ with the line of the broken heading.
    let line = break_context(&first);
    let expected = format!("✗ {line}:1 section-missing");
    tmux.wait_for(&expected, |s| {
        row_has(s, "Tty first work", &[&expected]) && row_has(s, "Tty second work", &["✓"])
    });

    // A fake agent: running, then done.
    spawn_sh(dir.path(), "tty-first", "fake", "sleep 1; echo SUMMARY: ok");
    tmux.wait_for("the agent running", |s| {
        s.contains("1 agent run(s)") && row_has(s, "Tty first work", &["1 run, 0 done, 0 fail"])
    });
    let screen = tmux.wait_for("the agent done", |s| {
        row_has(s, "Tty first work", &["0 run, 1 done, 0 fail"])
    });
    // Still invalid (spawn moved the heading down by adding spawned_agents).
    assert!(
        row_has(&screen, "Tty first work", &["✗", "section-missing"]),
        "{screen}"
    );

    // Ctrl-C: the process exits cleanly and the normal screen is back.
    let out = tmux.run(&["send-keys", "-t", "watch", "C-c"]);
    assert!(out.status.success());
    // `watch` exits with 0, the shell behind it says so, and the pane's foreground process is
    // the shell's `sleep` (tmux's own `#{pane_dead_status}` is not used: this tmux sometimes
    // never reaps a dead pane's process, even a plain `sleep`).
    let screen = tmux.wait_for("the shell after watch", |s| s.contains(AFTER));
    assert!(
        screen.contains(&format!("{AFTER} 0")),
        "watch did not exit with 0:\n{screen}"
    );
    assert!(
        watch_support::eventually(PATIENCE, || tmux.format("#{pane_current_command}")
            == "sleep"),
        "the pane still runs {}",
        tmux.format("#{pane_current_command}")
    );
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "alternate screen left on"
    );
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "cursor left hidden");
    // The last things watch wrote: show the cursor, leave the alternate screen.
    let restore = b"\x1b[?25h\x1b[?1049lwatch exited with";
    let mut raw = Vec::new();
    assert!(
        watch_support::eventually(PATIENCE, || {
            raw = std::fs::read(tmux.raw_path()).unwrap_or_default();
            raw.windows(restore.len()).any(|w| w == restore)
        }),
        "watch did not restore the terminal as it left: …{:?}",
        String::from_utf8_lossy(&raw[raw.len().saturating_sub(120)..])
    );
    // The normal screen is back: what was there before, no table.
    assert!(screen.contains(BEFORE), "normal screen not back:\n{screen}");
    for gone in [
        "sessions watch —",
        "STATUS",
        "Tty first work",
        "Tty second work",
    ] {
        assert!(
            !screen.contains(gone),
            "`{gone}` still on the screen:\n{screen}"
        );
    }
}

#[test]
fn tty_view_shows_the_runtime_of_a_running_agent() {
    let dir = repo();
    new_session(dir.path(), "Tty runtime work");
    let Some(tmux) = Tmux::start("runtime", dir.path()) else {
        return;
    };
    tmux.wait_for("the session", |s| row_has(s, "Tty runtime work", &["✓"]));
    spawn_sh(dir.path(), "tty-runtime", "slow", "sleep 4");
    let screen = tmux.wait_for("the agent running", |s| {
        row_has(s, "Tty runtime work", &["1 run, 0 done, 0 fail"])
    });
    let r = row(&screen, "Tty runtime work").unwrap();
    assert!(
        r.contains("1 run, 0 done, 0 fail (") && !r.contains('…'),
        "no runtime in the AGENTS cell: {r}"
    );
    sessions(dir.path(), &["kill", "tty-runtime", "--grace", "100ms"]);
}
