//! Agents on another host over ssh, against a real sshd on 127.0.0.1 (see `hosts_support`):
//! spawn --host, outcomes written back here, logs, kill, agents --json, a host that goes away
//! mid-run and comes back, and `hosts check`.

use crate::hosts_support;

use std::fs;

use hosts_support::{World, available, show};

/// A fake agent: prints its task, a SUMMARY line, and exits with the code named after
/// `exit:` in the task (0 without one).
const FAKE: &str = "  fake:\n    command: [sh, \"{bin}/fake.sh\", \"{task}\"]\n";

fn fake_world(with_sessions: bool) -> World {
    let w = World::new(FAKE, with_sessions);
    w.script(
        "fake.sh",
        r#"echo "working on: $1 in $(pwd)"
case "$1" in *exit:*) code="${1##*exit:}" ;; *) code=0 ;; esac
case "$1" in *wait-for:*) f="${1##*wait-for:}"; f="${f%% *}"; i=0
  while [ ! -e "$f" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done ;; esac
case "$1" in *sleep*) i=0; while [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done ;; esac
echo "SUMMARY: did $1"
exit $code"#,
    );
    w
}

#[test]
fn a_run_on_another_host_completes_and_its_outcome_is_written_here() {
    if !available() {
        return;
    }
    let w = fake_world(true);
    let run = w.spawn("fake", "tidy up");
    let id = run["run_id"].as_str().unwrap().to_string();
    assert_eq!(run["runner"], "ssh", "{run:#}");
    let done = w.wait_agent(&id, "completed", |r| r["status"] == "completed");
    assert_eq!(done["exit_code"], 0, "{done:#}");
    assert_eq!(done["summary"], "did tidy up");
    assert_eq!(done["remote"]["host"], "build1");
    assert_eq!(done["remote"]["run_id"], id.as_str());
    assert!(done["remote"]["pid"].is_u64(), "{done:#}");
    assert!(done["remote"]["pid_start"].is_u64(), "{done:#}");
    // The local file has the entry, its host and the outcome.
    let text = w
        .local
        .wait_file("the outcome", |t| t.contains("status: completed"));
    assert!(text.contains("host: \"build1\""), "{text}");
    assert!(text.contains("did tidy up"), "{text}");
    // The agent ran in the remote checkout; its log was copied here.
    let log = fs::read_to_string(w.local.root().join(done["log"].as_str().unwrap())).unwrap();
    assert!(
        log.contains(&format!("in {}", w.remote_root().display())),
        "{log}"
    );
    // The remote side kept its own record and log, and left its copy of the file alone.
    let remote = w.remote(&["agents", "--all", "--json"]);
    let remote: Vec<serde_json::Value> = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(remote.len(), 1, "{remote:#?}");
    assert_eq!(remote[0]["status"], "completed");
    let remote_file = fs::read_to_string(
        w.remote_root()
            .join(w.local.path.strip_prefix(w.local.root()).unwrap()),
    )
    .unwrap();
    assert!(!remote_file.contains(&id), "{remote_file}");
}

#[test]
fn a_failing_remote_agent_is_failed_here_with_its_exit_code() {
    if !available() {
        return;
    }
    let w = fake_world(true);
    let run = w.spawn("fake", "break it exit:3");
    let id = run["run_id"].as_str().unwrap().to_string();
    let target = format!("{}:{id}", w.local.stem);
    let waited = w.run(&["wait", &target, "--timeout", "120s"]);
    assert_eq!(waited.status.code(), Some(1), "{}", show(&waited));
    let done = w.agent(&id);
    assert_eq!(done["status"], "failed", "{done:#}");
    assert_eq!(done["exit_code"], 3);
    assert_eq!(done["reason"], "exit code 3");
    let text = w.local.text();
    assert!(text.contains("status: failed"), "{text}");
    assert!(text.contains("exit_code: 3"), "{text}");
    // `logs` prints the copy of the remote log.
    let logs = w.ok(&["logs", &target]);
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(logs.contains("working on: break it exit:3"), "{logs}");
}

#[test]
fn logs_follow_a_remote_run_until_it_ends_and_kill_cancels_one() {
    if !available() {
        return;
    }
    let w = fake_world(true);
    let go = w.bin.path().join("go");
    let run = w.spawn("fake", &format!("talk wait-for:{} now", go.display()));
    let id = run["run_id"].as_str().unwrap().to_string();
    let target = format!("{}:{id}", w.local.stem);
    w.wait_agent(&id, "running", |r| {
        r["status"] == "running" && r["remote"]["pid"].is_u64()
    });
    let follow = w
        .cmd(&["logs", &target, "-f"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    fs::write(&go, "").unwrap();
    let out = follow.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("working on: talk"), "{text}");
    assert!(text.contains("SUMMARY: did talk"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("completed"));

    // A second run, killed from here: cancelled here and there.
    let run = w.spawn("fake", "sleep a while");
    let id = run["run_id"].as_str().unwrap().to_string();
    w.wait_agent(&id, "running", |r| r["remote"]["pid"].is_u64());
    let killed = w.run(&["kill", &format!("{}:{id}", w.local.stem), "--grace", "2s"]);
    assert_eq!(killed.status.code(), Some(0), "{}", show(&killed));
    let done = w.wait_agent(&id, "cancelled", |r| r["status"] == "cancelled");
    assert_eq!(done["remote"]["host"], "build1");
    w.local.wait_file("the cancel", |t| {
        t.matches("status: cancelled").count() == 1
    });
    let remote = w.remote(&["agents", "--all", "--json"]);
    let remote: Vec<serde_json::Value> = serde_json::from_slice(&remote.stdout).unwrap();
    let there = remote.iter().find(|r| r["run_id"] == id.as_str()).unwrap();
    assert_eq!(there["status"], "cancelled", "{there:#}");
}

#[test]
fn a_host_that_goes_away_mid_run_is_unknown_then_the_real_outcome_lands() {
    if !available() {
        return;
    }
    let mut w = fake_world(true);
    let go = w.bin.path().join("go");
    let run = w.spawn("fake", &format!("outlast wait-for:{} it", go.display()));
    let id = run["run_id"].as_str().unwrap().to_string();
    w.wait_agent(&id, "running", |r| {
        r["status"] == "running" && r["remote"]["pid"].is_u64()
    });
    assert!(w.sshd.master_pid().is_some(), "no master connection");
    w.sshd.down();
    let seen = w.wait_agent(&id, "unknown", |r| r["status"] == "unknown");
    let reason = seen["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("host build1 unreachable since 20"),
        "{seen:#}"
    );
    let table = w.ok(&["agents", &w.local.stem]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("unknown (host build1 unreachable since"),
        "{table}"
    );
    // Never lost, never settled while the host is away.
    let text = w.local.text();
    assert!(text.contains("status: in_progress"), "{text}");
    assert!(!text.contains("lost"), "{text}");

    // The agent finishes while we cannot see it; the host comes back.
    fs::write(&go, "").unwrap();
    w.sshd.up();
    let done = w.wait_agent(&id, "completed", |r| r["status"] == "completed");
    assert_eq!(
        done["summary"],
        "did outlast wait-for:{} it".replace("{}", &go.display().to_string())
    );
    assert!(done["remote"]["unreachable_since"].is_null(), "{done:#}");
    w.local
        .wait_file("the outcome", |t| t.contains("status: completed"));
    let log = fs::read_to_string(w.local.root().join(done["log"].as_str().unwrap())).unwrap();
    assert_eq!(
        log.matches("working on: outlast").count(),
        1,
        "copied once:\n{log}"
    );
    assert!(log.contains("SUMMARY: did outlast"), "{log}");
}

#[test]
fn hosts_check_names_what_is_missing_and_spawn_refuses_such_a_host() {
    if !available() {
        return;
    }
    let w = fake_world(false);
    let check = w.run(&["hosts", "check", "build1"]);
    assert_eq!(check.status.code(), Some(1), "{}", show(&check));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains("`sessions` is not on host build1's PATH") && err.contains("install sessions"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(out.contains("ok       reachable"), "{out}");
    assert!(out.contains("missing  sessions on the PATH"), "{out}");

    let spawn = w.run(&[
        "spawn",
        &w.local.stem,
        "--agent",
        "fake",
        "--host",
        "build1",
        "--task",
        "never",
    ]);
    assert_eq!(spawn.status.code(), Some(2), "{}", show(&spawn));
    let err = String::from_utf8_lossy(&spawn.stderr);
    assert!(err.contains("not on host build1's PATH"), "{err}");
    let text = w.local.text();
    assert!(text.contains("status: failed"), "{text}");

    let unknown = w.run(&["hosts", "check", "biuld1"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", show(&unknown));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("did you mean `build1`"));
    let unknown = w.run(&[
        "spawn",
        &w.local.stem,
        "--agent",
        "fake",
        "--host",
        "nope",
        "--task",
        "x",
    ]);
    assert_eq!(unknown.status.code(), Some(2), "{}", show(&unknown));
}

#[test]
fn hosts_check_passes_on_a_ready_host_and_list_shows_it() {
    if !available() {
        return;
    }
    let w = fake_world(true);
    let check = w.run(&["hosts", "check", "build1", "--json"]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    let v: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"), "{v:#}");
    assert_eq!(v["repository"], true);
    assert_eq!(v["agents_dir"], true);
    let list = w.ok(&["hosts", "list", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["name"], "build1");
    assert_eq!(list[0]["port"], w.sshd.port);
    let text = w.ok(&["hosts", "list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("build1"));

    // A checkout without the session file: the host says what to do.
    fs::remove_file(
        w.remote_root()
            .join(w.local.path.strip_prefix(w.local.root()).unwrap()),
    )
    .unwrap();
    let spawn = w.run(&[
        "spawn",
        &w.local.stem,
        "--agent",
        "fake",
        "--host",
        "build1",
        "--task",
        "x",
    ]);
    assert_eq!(spawn.status.code(), Some(2), "{}", show(&spawn));
    let err = String::from_utf8_lossy(&spawn.stderr);
    assert!(
        err.contains("on host build1") && err.contains("commit and push it"),
        "{err}"
    );
}

#[test]
fn a_remote_run_whose_local_supervisor_died_is_settled_from_the_hosts_record() {
    if !available() {
        return;
    }
    let mut w = fake_world(true);
    let go = w.bin.path().join("go");
    let run = w.spawn("fake", &format!("orphaned wait-for:{} x", go.display()));
    let id = run["run_id"].as_str().unwrap().to_string();
    w.wait_agent(&id, "running", |r| r["remote"]["pid"].is_u64());
    let sup = w.local.record(&id)["supervisor_pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    hosts_support::agents::eventually("the supervisor gone", || {
        !hosts_support::agents::alive(sup as u64)
    });
    // Still running there: the host says so.
    let r = w.wait_agent(&id, "unsupervised", |r| r["reason"] == "supervisor gone");
    assert_eq!(r["status"], "running", "{r:#}");
    // The host away: unknown, not lost.
    w.sshd.down();
    let r = w.wait_agent(&id, "unknown", |r| r["status"] == "unknown");
    assert!(
        r["reason"].as_str().unwrap().contains("unreachable since"),
        "{r:#}"
    );
    // Back, and the agent done: a reader settles it from the host's record.
    w.sshd.up();
    fs::write(&go, "").unwrap();
    let done = w.wait_agent(&id, "completed", |r| r["status"] == "completed");
    assert_eq!(done["exit_code"], 0, "{done:#}");
    w.local
        .wait_file("the outcome", |t| t.contains("status: completed"));
}
