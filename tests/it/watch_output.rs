//! `sessions watch` without a terminal: one human line per event, and `watch --logs`, which
//! interleaves the logs of a session's agents with an `[agent-runid]` prefix.

use crate::watch_support;

use std::time::{Duration, Instant};

use watch_support::{
    PATIENCE, Watcher, break_context, eventually, new_session, repo, repo_with, sessions, spawn_sh,
    stem, wait_until_runs_end,
};

/// `HH:MM:SS event…`: the shape of every event line.
fn is_event_line(l: &str) -> bool {
    let b = l.as_bytes();
    b.len() > 9
        && b[..8].iter().enumerate().all(|(i, c)| {
            if i == 2 || i == 5 {
                *c == b':'
            } else {
                c.is_ascii_digit()
            }
        })
        && b[8] == b' '
}

#[test]
fn piped_watch_prints_one_line_per_event() {
    let dir = repo();
    let mut w = Watcher::start(dir.path(), &["watch"]);
    // The banner is for the person, on stderr; stdout carries only events.
    w.expect("the ready line", |l| {
        l == "stderr: watching 0 session(s); Ctrl-C to stop"
    });

    let file = new_session(dir.path(), "Line work");
    let id = stem(&file);
    let created = w.expect("session-created", |l| l.contains(" session-created "));
    assert!(
        created.ends_with(&format!("session-created  {id} Line work")),
        "{created}"
    );

    sessions(dir.path(), &["update", "line-work", "--status", "paused"]);
    let updated = w.expect("session-updated", |l| l.contains(" session-updated "));
    assert!(updated.contains(&format!(" {id} ")), "{updated}");
    assert!(updated.contains("status in_progress → paused"), "{updated}");

    let line = break_context(&file);
    let invalid = w.expect("session-invalid", |l| l.contains(" session-invalid "));
    assert!(
        invalid.contains(&format!(
            "{id} {line}:1 the required section `## Context` is missing"
        )),
        "{invalid}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("\n### Context\n", "\n## Context\n")).unwrap();
    w.expect("session-valid", |l| {
        l.contains(" session-valid ") && l.contains(&id)
    });

    let run = spawn_sh(dir.path(), "line-work", "fake", "sleep 0.3; exit 3");
    let started = w.expect("agent-started", |l| l.contains(" agent-started "));
    assert!(
        started.ends_with(&format!("{id} fake ({run})")),
        "{started}"
    );
    let finished = w.expect("agent-finished", |l| l.contains(" agent-finished "));
    assert!(
        finished.contains(&format!("{id} fake failed exit 3")),
        "{finished}"
    );

    std::fs::remove_file(&file).unwrap();
    let deleted = w.expect("session-deleted", |l| l.contains(" session-deleted "));
    assert!(
        deleted.ends_with(&format!("session-deleted  {id}")),
        "{deleted}"
    );

    // Ctrl-C ends it cleanly.
    let status = w.interrupt(PATIENCE).expect("watch exits on SIGINT");
    assert!(status.success(), "{status}");
    w.drain(Duration::from_secs(1));
    for l in &w.seen[1..] {
        assert!(is_event_line(l), "not an event line: {l:?}");
        assert!(!l.starts_with('{') && !l.contains('\x1b'), "{l:?}");
    }
}

/// Lines of `seen` with the prefix `[agent-run] `, without the prefix.
fn of<'a>(seen: &'a [String], prefix: &str) -> Vec<&'a str> {
    seen.iter().filter_map(|l| l.strip_prefix(prefix)).collect()
}

#[test]
fn logs_interleaves_the_agents_of_a_session_each_with_its_prefix_and_in_order() {
    let dir = repo();
    new_session(dir.path(), "Logs work");
    new_session(dir.path(), "Other work");
    let mut w = Watcher::start(dir.path(), &["watch", "--logs", "logs-work"]);
    // An agent of another session is not shown.
    spawn_sh(dir.path(), "other-work", "stranger", "echo not this one");
    let script =
        |name: &str| format!("for i in 1 2 3 4 5 6 7 8; do echo \"{name} $i\"; sleep 0.2; done");
    let alpha = spawn_sh(dir.path(), "logs-work", "alpha", &script("alpha"));
    let beta = spawn_sh(dir.path(), "logs-work", "beta", &script("beta"));
    let (pa, pb) = (format!("[alpha-{alpha}] "), format!("[beta-{beta}] "));

    let deadline = Instant::now() + PATIENCE + PATIENCE;
    while !(w.seen.contains(&format!("{pa}alpha 8")) && w.seen.contains(&format!("{pb}beta 8"))) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            w.wait_within(left, |_| true).is_some(),
            "not both agents' last lines within {:?}:\n{}",
            PATIENCE + PATIENCE,
            w.seen.join("\n")
        );
    }
    for l in &w.seen {
        assert!(
            l.starts_with(&pa) || l.starts_with(&pb),
            "a line of neither agent: {l:?}"
        );
    }
    let numbered = |name: &str| (1..=8).map(|i| format!("{name} {i}")).collect::<Vec<_>>();
    assert_eq!(of(&w.seen, &pa), numbered("alpha"));
    assert_eq!(of(&w.seen, &pb), numbered("beta"));
    // Interleaved as they ran, not one log after the other.
    let first_beta = w.seen.iter().position(|l| l.starts_with(&pb)).unwrap();
    let last_alpha = w.seen.iter().rposition(|l| l.starts_with(&pa)).unwrap();
    assert!(
        first_beta < last_alpha,
        "not interleaved:\n{}",
        w.seen.join("\n")
    );

    wait_until_runs_end(dir.path(), "logs-work");
    let status = w.interrupt(PATIENCE).expect("watch --logs exits on SIGINT");
    assert!(status.success(), "{status}");
}

/// An agent printing `n` numbered lines of about 40 bytes, `pause` seconds apart.
fn numbered_lines(n: u32, pause: &str) -> String {
    format!(
        "i=1; while [ $i -le {n} ]; do echo \"rotating output, line number $i\"; i=$((i+1)); sleep {pause}; done"
    )
}

#[test]
fn logs_survives_a_rotated_log() {
    let dir = repo_with(Some("1KB"));
    let file = new_session(dir.path(), "Rotating work");
    let mut w = Watcher::start(dir.path(), &["watch", "--logs", "rotating"]);
    let run = spawn_sh(
        dir.path(),
        "rotating",
        "chatty",
        &numbered_lines(80, "0.05"),
    );
    let prefix = format!("[chatty-{run}] ");
    let last = format!("{prefix}rotating output, line number 80");
    w.expect("the last line", |l| l == last);
    // The log really was rotated: it starts with the marker and is under the cap.
    let log = dir
        .path()
        .join(".agents/logs")
        .join(stem(&file))
        .join(format!("chatty-{run}.log"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("[… ") && text.len() <= 1024, "{text}");
    // Either every line was shown (watch kept up, so the rotation cost the viewer nothing and
    // the marker is skipped with the tail it already printed), or the marker says what is gone.
    let complete = (1..=80).all(|i| {
        let want = format!("{prefix}rotating output, line number {i}");
        w.seen.iter().filter(|l| **l == want).count() == 1
    });
    assert!(
        complete
            || w.seen
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains("bytes rotated away by sessions")),
        "lines lost without the rotation marker:\n{}",
        w.seen.join("\n")
    );
    for l in &w.seen {
        assert!(l.starts_with(&prefix), "{l:?}");
    }
    // Still following after the rotations, and it stops on Ctrl-C.
    wait_until_runs_end(dir.path(), "rotating");
    assert!(w.child.try_wait().unwrap().is_none(), "watch --logs died");
    let status = w.interrupt(PATIENCE).expect("watch --logs exits on SIGINT");
    assert!(status.success(), "{status}");
}

#[test]
fn logs_prints_each_line_once_across_rotations() {
    let dir = repo_with(Some("1KB"));
    new_session(dir.path(), "Rotating work");
    let mut w = Watcher::start(dir.path(), &["watch", "--logs", "rotating"]);
    let run = spawn_sh(
        dir.path(),
        "rotating",
        "chatty",
        &numbered_lines(60, "0.08"),
    );
    let prefix = format!("[chatty-{run}] ");
    let last = format!("{prefix}rotating output, line number 60");
    w.expect("the last line", |l| l == last);
    let numbers: Vec<u32> = of(&w.seen, &prefix)
        .into_iter()
        .filter(|l| !l.contains("bytes rotated away by sessions"))
        .map(|l| {
            l.strip_prefix("rotating output, line number ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a cut line: {l:?}"))
        })
        .collect();
    let repeated: Vec<_> = numbers.windows(2).filter(|p| p[1] <= p[0]).collect();
    assert!(
        repeated.is_empty(),
        "lines repeated or out of order at {repeated:?}; numbers printed: {numbers:?}"
    );
}

/// An agent that writes a line to its log every ~10 ms until `stop` exists (or 300 s pass,
/// so that a failed test cannot leave it running).
fn chatty(stop: &std::path::Path) -> String {
    format!(
        "end=$(( $(date +%s) + 300 )); while [ ! -e '{}' ] && [ $(date +%s) -lt $end ]; do echo tick; sleep 0.01; done",
        stop.display()
    )
}

/// Waits until the run's log has some output (the agent is writing).
fn wait_for_output(dir: &std::path::Path, session: &std::path::Path, agent: &str, run: &str) {
    let log = dir
        .join(".agents/logs")
        .join(stem(session))
        .join(format!("{agent}-{run}.log"));
    assert!(
        eventually(PATIENCE, || std::fs::metadata(&log)
            .is_ok_and(|m| m.len() > 0)),
        "no output in {}",
        log.display()
    );
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn json_events_are_not_held_back_while_an_agent_writes_output() {
    let dir = repo();
    let busy = new_session(dir.path(), "Busy work");
    new_session(dir.path(), "Quiet work");
    let mut w = Watcher::start(dir.path(), &["watch", "--json"]);
    w.expect("watching", |l| l.contains(r#""event":"watching""#));
    let stop = dir.path().join("stop-chatty");
    let run = spawn_sh(dir.path(), "busy-work", "chatty", &chatty(&stop));
    wait_for_output(dir.path(), &busy, "chatty", &run);

    sessions(dir.path(), &["update", "quiet-work", "--status", "paused"]);
    // The agent keeps writing until the event has arrived: an event held back until the
    // output stops would never come.
    let got = w.wait_within(PATIENCE, |l| {
        l.contains(r#""event":"session-updated""#) && l.contains("quiet-work")
    });
    std::fs::write(&stop, "").unwrap();
    assert!(
        got.is_some(),
        "session-updated never arrived while the agent wrote; events seen:\n{}",
        w.seen.join("\n")
    );
}

#[test]
fn logs_exits_on_ctrl_c_while_an_agent_writes_output() {
    let dir = repo();
    let busy = new_session(dir.path(), "Busy work");
    let mut w = Watcher::start(dir.path(), &["watch", "--logs", "busy-work"]);
    let stop = dir.path().join("stop-chatty");
    let run = spawn_sh(dir.path(), "busy-work", "chatty", &chatty(&stop));
    wait_for_output(dir.path(), &busy, "chatty", &run);
    // Ctrl-C while the agent is still writing.
    let status = w.interrupt(PATIENCE);
    std::fs::write(&stop, "").unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "watch --logs did not exit on SIGINT while the agent wrote"
    );
}
