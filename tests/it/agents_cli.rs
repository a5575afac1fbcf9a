//! Background agents, end to end: the built binary spawns fake agents (shell scripts) in temp
//! repositories, and the tests watch the session file, `agents --json` and the processes.

use crate::agents_support;

use std::fs;
use std::process::Command;
use std::time::Duration;

use agents_support::{Repo, Sealed, alive, eventually, group_members, stat};
use serde_json::{Value, json};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn completion_writes_status_summary_and_log_link_back() {
    let repo = Repo::new();
    repo.script(
        "fake.sh",
        "echo \"working on: $1\"\necho \"env run id: $SESSIONS_RUN_ID\"\necho 'SUMMARY: fallback chain added'\necho trailing noise",
    );
    repo.configure(
        "  fake:\n    command: [./fake.sh, \"{task}\", \"{conversation_id}\"]\n",
        "",
    );
    let started = repo.spawn(&["--agent", "fake", "--task", "Add provider fallback"]);
    assert_eq!(started.len(), 1);
    let run = &started[0];
    let id = run["run_id"].as_str().unwrap();
    let conversation = run["conversation_id"].as_str().unwrap();
    assert_eq!(conversation.len(), 36, "a UUID: {conversation}");
    assert!(
        run["pid"].is_u64() || run["status"] == "completed",
        "{run:#}"
    );
    let log = format!(".agents/logs/{}/fake-{id}.log", repo.stem);
    assert_eq!(run["log"], log.as_str());

    let done = repo.wait_status(id, "completed");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["summary"], "fallback chain added");
    assert_eq!(done["conversation_id"], conversation);
    assert!(done["ended_at"].is_string() && done["runtime_secs"].is_number());

    let text = repo.wait_file("the outcome", |t| t.contains("status: completed"));
    assert!(text.contains("    - agent: \"fake\"\n"), "{text}");
    assert!(
        text.contains(&format!("      run_id: \"{id}\"\n")),
        "{text}"
    );
    assert!(text.contains(&format!("      conversation_id: \"{conversation}\"\n")));
    assert!(text.contains(&format!("      log: \"{log}\"\n")), "{text}");
    assert!(
        text.contains("      summary: \"fallback chain added\"\n"),
        "{text}"
    );
    assert!(text.contains("      exit_code: 0\n"), "{text}");
    let link = format!("[log](../logs/{}/fake-{id}.log)", repo.stem);
    assert!(
        text.contains(&format!(
            "Agent fake completed (exit 0): fallback chain added — {link}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Spawned agent fake (run {id}): Add provider fallback — {link}"
        )),
        "{text}"
    );
    // The link resolves from the session file's directory.
    assert!(
        repo.path
            .parent()
            .unwrap()
            .join(&link[6..link.len() - 1])
            .is_file()
    );

    let out = repo.ok(&["logs", &format!("{}:fake", repo.stem)]);
    let printed = stdout(&out);
    assert!(printed.contains("working on: Add provider fallback"));
    assert!(printed.contains(&format!("env run id: {id}")));
    let out = repo.ok(&["logs", &repo.stem, "-n", "1"]);
    assert_eq!(stdout(&out), "trailing noise\n");
    repo.ok(&["validate"]);
}

#[test]
fn failure_records_the_exit_code() {
    let repo = Repo::new();
    let started = repo.spawn(&[
        "--agent",
        "broken",
        "--task",
        "fail on purpose",
        "--",
        "sh",
        "-c",
        "echo 'compiling'; echo 'error: tests failed' >&2; exit 3",
    ]);
    let id = started[0]["run_id"].as_str().unwrap();
    let done = repo.wait_status(id, "failed");
    assert_eq!(done["exit_code"], 3);
    assert_eq!(done["reason"], "exit code 3");
    let text = repo.wait_file("failed", |t| t.contains("status: failed"));
    assert!(text.contains("      exit_code: 3\n"), "{text}");
    assert!(text.contains("Agent broken failed (exit 3)"), "{text}");
    assert!(text.contains("error: tests failed"), "{text}");
}

#[test]
fn kill_stops_the_whole_group_even_a_grandchild_ignoring_sigterm() {
    let repo = Repo::new();
    repo.script(
        "stubborn.sh",
        "trap '' TERM\n(trap '' TERM; exec sleep 300) &\necho \"child $!\"\nwhile :; do sleep 1; done",
    );
    repo.configure("  stubborn:\n    command: [./stubborn.sh]\n", "");
    let started = repo.spawn(&["--agent", "stubborn", "--task", "never ends"]);
    let id = started[0]["run_id"].as_str().unwrap();
    let rec = repo.wait_running(id);
    let pgid = rec["pgid"].as_i64().unwrap();
    eventually("the grandchild", || group_members(pgid).len() >= 3);

    // A running agent blocks delete.
    let out = repo.run(&["delete", &repo.stem, "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("running"), "{}", stderr(&out));
    let listed: Vec<Value> = serde_json::from_slice(&repo.ok(&["list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["agents"], json!({"total": 1, "running": 1}));

    let out = repo.ok(&[
        "kill",
        &format!("{}:stubborn", repo.stem),
        "--grace",
        "300ms",
    ]);
    assert!(stdout(&out).contains("SIGKILL"), "{}", stdout(&out));
    assert!(group_members(pgid).is_empty(), "{:?}", group_members(pgid));
    let done = repo.wait_status(id, "cancelled");
    assert_eq!(done["reason"], "cancelled");
    repo.wait_file("cancelled", |t| t.contains("status: cancelled"));
    let listed: Vec<Value> = serde_json::from_slice(&repo.ok(&["list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["agents"], json!({"total": 1, "running": 0}));
    // Nothing left to kill.
    assert_eq!(repo.run(&["kill", &repo.stem]).status.code(), Some(1));
}

#[test]
fn agent_survives_the_shell_that_spawned_it() {
    let repo = Repo::new();
    repo.script("slow.sh", "sleep 1\necho 'SUMMARY: still here'");
    repo.configure("  slow:\n    command: [./slow.sh]\n", "");
    // The spawning shell leads its own session, then hangs up its whole group and exits, as a
    // closing terminal would.
    let bin = env!("CARGO_BIN_EXE_sessions");
    let out = Command::new("setsid").sealed()
        .args([
            "sh",
            "-c",
            "\"$SESSIONS\" spawn \"$STEM\" --agent slow --task bye --json > spawned.json; kill -HUP 0; exit 0",
        ])
        .current_dir(repo.root())
        .env("SESSIONS", bin)
        .env("STEM", &repo.stem)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none() || out.status.success(),
        "{out:?}"
    );
    let started: Vec<Value> =
        serde_json::from_slice(&fs::read(repo.root().join("spawned.json")).unwrap()).unwrap();
    let id = started[0]["run_id"].as_str().unwrap();
    let done = repo.wait_status(id, "completed");
    assert_eq!(done["summary"], "still here");
}

#[test]
fn sigkill_of_agent_and_supervisor_shows_failed_lost_and_writes_it_back() {
    let repo = Repo::new();
    let started = repo.spawn(&[
        "--agent", "sleeper", "--task", "sleep", "--", "sleep", "300",
    ]);
    let id = started[0]["run_id"].as_str().unwrap();
    let rec = repo.wait_running(id);
    let (sup, pid) = (
        rec["supervisor_pid"].as_u64().unwrap(),
        rec["pid"].as_u64().unwrap(),
    );
    assert_eq!(repo.agent(id)["status"], "running");
    for p in [sup, pid] {
        Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status()
            .unwrap();
    }
    eventually("both processes gone", || !alive(sup) && !alive(pid));
    // `list` is enough to notice, and to write it back.
    let listed: Vec<Value> = serde_json::from_slice(&repo.ok(&["list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["agents"], json!({"total": 1, "running": 0}));
    assert!(
        repo.text().contains("      reason: lost\n"),
        "{}",
        repo.text()
    );
    let r = repo.agent(id);
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(r["reason"], "lost");
    let human = stdout(&repo.ok(&["agents", &repo.stem]));
    assert!(human.contains("failed (lost)"), "{human}");
    let text = repo.text();
    assert!(text.contains("      status: failed\n"), "{text}");
    assert!(text.contains("      reason: lost\n"), "{text}");
    assert!(text.contains("Agent sleeper failed (lost)"), "{text}");
    // Written once, not on every read.
    repo.ok(&["list"]);
    repo.ok(&["status", &repo.stem]);
    assert_eq!(repo.text().matches("failed (lost)").count(), 1);
}

#[test]
fn pid_reuse_does_not_resurrect_a_run() {
    let repo = Repo::new();
    // A live, unrelated process whose pid the record claims, with another start time.
    let mut other = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = u64::from(other.id());
    let (_, _, start) = stat(pid).unwrap();
    let root = repo.root().display().to_string();
    let record = json!({
        "version": 1, "id": "deadbeef", "session": repo.stem, "agent": "ghost",
        "task": "haunt", "argv": ["sleep", "60"], "cwd": root, "root": root,
        "log": format!(".agents/logs/{}/ghost-deadbeef.log", repo.stem),
        "log_cap": 1000000, "log_keep": 500000, "supervisor_argv": ["x"],
        "supervisor_pid": pid, "supervisor_start": start + 12345,
        "pid": pid, "pid_start": start + 12345, "pgid": pid,
        "started_at": "2025-01-01T00:00:00.000Z", "status": "running"
    });
    let path = repo.record_path("deadbeef");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, record.to_string()).unwrap();

    let r = repo.agent("deadbeef");
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(r["reason"], "lost");
    let text = repo.text();
    assert!(text.contains("      run_id: \"deadbeef\"\n"), "{text}");
    assert!(text.contains("      reason: lost\n"), "{text}");
    assert!(alive(pid), "the unrelated process must not be touched");
    other.kill().unwrap();
    other.wait().unwrap();
}

#[test]
fn metacharacters_in_task_and_prompt_are_never_run() {
    let repo = Repo::new();
    repo.configure(
        "  echoer:\n    command: [printf, \"%s|%s\\n\", \"{task}\", \"{prompt}\"]\n",
        "",
    );
    let task =
        "$(touch pwned1); touch pwned2 && echo `touch pwned3` | tee pwned4 > pwned5 {prompt}";
    let prompt = "'; touch pwned6; echo \"$HOME\" * {task}";
    let started = repo.spawn(&["--agent", "echoer", "--task", task, "--prompt", prompt]);
    let id = started[0]["run_id"].as_str().unwrap();
    let done = repo.wait_status(id, "completed");
    let expected_prompt = format!("'; touch pwned6; echo \"$HOME\" * {task}");
    assert_eq!(repo.log_of(&done), format!("{task}|{expected_prompt}\n"));
    let names: Vec<String> = fs::read_dir(repo.root())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("pwned")), "{names:?}");
    let text = repo.wait_file("completed", |t| t.contains("status: completed"));
    repo.ok(&["validate"]);
    assert!(text.contains("$(touch pwned1)"));
}

#[test]
fn prune_completed_removes_records_and_logs_and_keeps_failures() {
    let repo = Repo::new();
    let ok = repo.spawn(&["--agent", "good", "--task", "t", "--", "echo", "fine"]);
    let bad = repo.spawn(&["--agent", "bad", "--task", "t", "--", "false"]);
    let ok_id = ok[0]["run_id"].as_str().unwrap();
    let bad_id = bad[0]["run_id"].as_str().unwrap();
    let done = repo.wait_status(ok_id, "completed");
    repo.wait_status(bad_id, "failed");
    let ok_log = repo.root().join(done["log"].as_str().unwrap());
    assert!(ok_log.is_file());
    // Written back before pruning.
    eventually("write-back", || {
        repo.record(ok_id)["written_back"] == true && repo.record(bad_id)["written_back"] == true
    });

    let out = repo.ok(&["prune", "--completed", "--dry-run"]);
    assert!(
        stdout(&out).contains("would remove good run"),
        "{}",
        stdout(&out)
    );
    assert!(ok_log.is_file() && repo.record_path(ok_id).is_file());

    let out = repo.ok(&["prune", "--completed"]);
    assert!(stdout(&out).contains("pruned 1 run"), "{}", stdout(&out));
    assert!(!ok_log.exists() && !repo.record_path(ok_id).exists());
    let left: Vec<String> = repo
        .agents()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, [bad_id]);
    // --older-than keeps what is younger.
    let out = repo.ok(&["prune", "--older-than", "1h"]);
    assert!(stdout(&out).contains("pruned 0 runs"), "{}", stdout(&out));
    repo.ok(&["prune"]);
    assert!(repo.agents().is_empty());
}

#[test]
fn log_is_capped_by_rotation_keeping_the_tail() {
    let repo = Repo::new();
    repo.script(
        "chatty.sh",
        "i=0\nwhile [ $i -lt 3000 ]; do echo \"line $i of chatter\"; i=$((i+1)); done\necho 'SUMMARY: chatty done'",
    );
    repo.configure("  chatty:\n    command: [./chatty.sh]\n", "log_cap: 4KB");
    let started = repo.spawn(&["--agent", "chatty", "--task", "talk"]);
    let id = started[0]["run_id"].as_str().unwrap();
    let done = repo.wait_status(id, "completed");
    assert_eq!(done["summary"], "chatty done");
    let log = repo.log_of(&done);
    assert!(log.len() <= 4096, "{} bytes", log.len());
    assert!(log.starts_with("[… "), "{log}");
    assert!(
        log.ends_with("line 2999 of chatter\nSUMMARY: chatty done\n"),
        "{log}"
    );
}

#[test]
fn several_agents_at_once() {
    let repo = Repo::new();
    repo.script("a.sh", "sleep 0.3; echo \"SUMMARY: $1 done\"");
    repo.configure(
        "  alpha:\n    command: [./a.sh, alpha]\n  beta:\n    command: [./a.sh, beta]\n",
        "",
    );
    let started = repo.spawn(&["--agent", "alpha", "--agent", "beta", "--task", "split"]);
    assert_eq!(started.len(), 2);
    for (run, name) in started.iter().zip(["alpha", "beta"]) {
        assert_eq!(run["agent"], name);
        let done = repo.wait_status(run["run_id"].as_str().unwrap(), "completed");
        assert_eq!(done["summary"], format!("{name} done"));
    }
    let text = repo.wait_file("both outcomes", |t| {
        t.matches("status: completed").count() == 2
    });
    assert!(text.contains("summary: \"alpha done\"") && text.contains("summary: \"beta done\""));
}

#[test]
fn unknown_agent_is_a_usage_error_listing_the_configured_ones() {
    let repo = Repo::new();
    repo.configure(
        "  claude:\n    command: [claude, -p, \"{prompt}\"]\n  codex:\n    command: [codex, exec, \"{prompt}\"]\n",
        "",
    );
    let before = repo.text();
    let out = repo.run(&["spawn", &repo.stem, "--agent", "gpt", "--task", "t"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("`gpt`") && err.contains("claude, codex"),
        "{err}"
    );
    assert!(err.contains(".agents/config.yaml"), "{err}");
    assert_eq!(repo.text(), before, "nothing written");
}

#[test]
fn launch_failure_marks_the_entry_failed() {
    let repo = Repo::new();
    let out = repo.run(&[
        "spawn",
        &repo.stem,
        "--agent",
        "typo",
        "--task",
        "t",
        "--",
        "no-such-agent-binary",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no-such-agent-binary"),
        "{}",
        stderr(&out)
    );
    let text = repo.text();
    assert!(text.contains("      status: failed\n"), "{text}");
    assert!(
        text.contains("      reason: \"cannot start agent"),
        "{text}"
    );
}

#[test]
fn notify_command_gets_the_event_on_stdin() {
    let repo = Repo::new();
    repo.configure("", "notify: [sh, -c, 'cat > notified.json']");
    let started = repo.spawn(&[
        "--agent",
        "n",
        "--task",
        "t",
        "--",
        "sh",
        "-c",
        "echo 'SUMMARY: hi'",
    ]);
    let id = started[0]["run_id"].as_str().unwrap();
    repo.wait_status(id, "completed");
    let path = repo.root().join("notified.json");
    eventually("the notification", || {
        fs::read_to_string(&path).is_ok_and(|t| t.ends_with('\n'))
    });
    let event: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(event["event"], "agent-finished");
    assert_eq!(event["run_id"], id);
    assert_eq!(event["status"], "completed");
    assert_eq!(event["exit_code"], 0);
    assert_eq!(event["summary"], "hi");
    assert_eq!(event["session"], repo.stem.as_str());
}

#[test]
fn logs_follow_until_the_agent_exits() {
    let repo = Repo::new();
    let started = repo.spawn(&[
        "--agent",
        "ticker",
        "--task",
        "t",
        "--",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.3; done",
    ]);
    let id = started[0]["run_id"].as_str().unwrap();
    let out = repo.ok(&["logs", &format!("{}:{id}", repo.stem), "-f"]);
    assert_eq!(stdout(&out), "tick 1\ntick 2\ntick 3\n");
    assert_eq!(repo.agent(id)["status"], "completed");
}

#[test]
fn tmux_runner_has_an_attach_target() {
    let repo = Repo::new();
    let has_tmux = Command::new("tmux").arg("-V").output().is_ok();
    if !has_tmux {
        eprintln!("note: tmux is not installed; skipping the tmux runner test");
        return;
    }
    let started = repo.spawn(&[
        "--agent",
        "tm",
        "--task",
        "t",
        "--runner",
        "tmux",
        "--",
        "sh",
        "-c",
        "echo in tmux; sleep 30",
    ]);
    let id = started[0]["run_id"].as_str().unwrap();
    let rec = repo.wait_running(id);
    assert_eq!(rec["runner"]["kind"], "tmux", "{rec}");
    let name = rec["runner"]["session"].as_str().unwrap().to_string();
    let has = Command::new("tmux")
        .args(["-L", "sessions", "has-session", "-t", &format!("={name}")])
        .env("TMUX_TMPDIR", repo.tmux_dir.path())
        .status()
        .unwrap();
    assert!(has.success(), "tmux session {name} missing");
    eventually("output in the log", || {
        repo.log_of(&json!({"log": rec["log"]})).contains("in tmux")
    });
    // Without tmux on PATH, attach says so.
    let out = repo
        .cmd(&["attach", &repo.stem])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("tmux is not installed"),
        "{}",
        stderr(&out)
    );

    // With tmux, attach first says how to get the terminal back (here tmux itself then
    // refuses: the test has no terminal).
    let out = repo.cmd(&["attach", &repo.stem]).output().unwrap();
    assert!(
        stderr(&out).contains("detach with Ctrl-b d and the agent keeps running"),
        "{}",
        stderr(&out)
    );

    repo.ok(&["kill", &repo.stem, "--grace", "1s"]);
    repo.wait_status(id, "cancelled");
    std::thread::sleep(Duration::from_millis(100));
    let gone = Command::new("tmux")
        .args(["-L", "sessions", "has-session", "-t", &format!("={name}")])
        .env("TMUX_TMPDIR", repo.tmux_dir.path())
        .output()
        .unwrap();
    assert!(!gone.status.success(), "tmux session left behind");
}

/// The exit status comes from the pane process, which waits for the agent, not from tmux's
/// `#{pane_dead_status}` (a busy tmux can show a pane dead for seconds before it has it).
#[test]
fn tmux_runner_records_the_agents_exit_code_and_signal() {
    let repo = Repo::new();
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("note: tmux is not installed; skipping the tmux runner test");
        return;
    }
    let spawn = |script: &str| {
        let started = repo.spawn(&[
            "--agent", "tm", "--task", "t", "--runner", "tmux", "--", "sh", "-c", script,
        ]);
        started[0]["run_id"].as_str().unwrap().to_string()
    };
    let failed = spawn("echo bad; exit 7");
    let r = repo.wait_status(&failed, "failed");
    assert_eq!(r["exit_code"], 7, "{r:#}");
    assert_eq!(r["reason"], "exit code 7", "{r:#}");

    let killed = spawn("kill -9 $$");
    let r = repo.wait_status(&killed, "failed");
    assert_eq!(r["signal"], "SIGKILL", "{r:#}");
    assert_eq!(r["reason"], "killed by SIGKILL", "{r:#}");

    let ok = spawn("exit 0");
    assert_eq!(repo.wait_status(&ok, "completed")["exit_code"], 0);
}

#[test]
fn tmux_runner_without_tmux_is_a_clear_error() {
    let repo = Repo::new();
    let out = repo
        .cmd(&[
            "spawn",
            &repo.stem,
            "--agent",
            "tm",
            "--task",
            "t",
            "--runner",
            "tmux",
            "--",
            "/bin/sleep",
            "1",
        ])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("tmux is not installed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn spawn_does_not_hold_the_callers_pipes_open() {
    use std::os::unix::fs::MetadataExt;
    let repo = Repo::new();
    // fd 5 is a copy of the caller's stdout pipe without close-on-exec, as shells and CI
    // runners leave them. A supervisor or agent that kept it would make the caller wait for
    // the agent to end before it sees end-of-file.
    let mut sh = Command::new("sh")
        .sealed()
        .args([
            "-c",
            "exec 5>&1; \"$SESSIONS\" spawn \"$STEM\" --agent s --task t -- sleep 60",
        ])
        .current_dir(repo.root())
        .env("SESSIONS", env!("CARGO_BIN_EXE_sessions"))
        .env("STEM", &repo.stem)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = sh.stdout.take().unwrap();
    let ino = fs::metadata(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&pipe)
    ))
    .unwrap()
    .ino();
    assert!(sh.wait().unwrap().success(), "spawn failed");
    let run = repo.agents()[0].clone();
    assert_eq!(run["status"], "running", "{run:#}");
    let target = format!("pipe:[{ino}]");
    let me = std::process::id().to_string();
    let holders: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|p| {
            p.file_name()
                .to_str()
                .is_some_and(|n| n != me && n.parse::<u32>().is_ok())
        })
        .filter(|p| {
            fs::read_dir(p.path().join("fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.to_str() == Some(&target)))
            })
        })
        .map(|p| p.file_name().to_string_lossy().into_owned())
        .collect();
    repo.ok(&["kill", &repo.stem, "--grace", "1s"]);
    assert!(
        holders.is_empty(),
        "processes still holding the caller's pipe: {holders:?}"
    );
}

#[test]
fn a_deleted_session_file_is_skipped_at_write_back() {
    let repo = Repo::new();
    let started = repo.spawn(&["--agent", "late", "--task", "t", "--", "sleep", "0.5"]);
    let id = started[0]["run_id"].as_str().unwrap();
    repo.wait_running(id);
    repo.ok(&["delete", &repo.stem, "--yes", "--force"]);
    let done = repo.wait_status(id, "completed");
    assert_eq!(done["exit_code"], 0);
    eventually("the record settled", || {
        repo.record(id)["written_back"] == true
    });
    assert!(!repo.path.exists());
    // Its runs stay addressable by stem until pruned.
    let out = repo.ok(&["agents", &repo.stem, "--json"]);
    assert!(stdout(&out).contains(id));
}
