//! The runner seam seen from outside: records of the old shape still read, and a long-lived
//! caller of `launch` is never left with zombie supervisors.

mod agents_support;

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use agents_support::{PATIENCE, Repo, eventually};
use serde_json::{Value, json};
use sessions::agents::record::{self, RunStatus};
use sessions::agents::runner::{LaunchSpec, launch};

/// The tests here look at this process's children: one at a time.
static CHILDREN: Mutex<()> = Mutex::new(());

/// A pid that was just used and is gone now (its start time cannot be ours anyway).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A record as version 1 wrote it: flat `runner`, `tmux_session` beside it.
fn v1_record(repo: &Repo, id: &str, runner: &str, status: &str) -> Value {
    let root = repo.root().to_str().unwrap();
    let log = format!(".agents/logs/{}/old-{id}.log", repo.stem);
    fs::create_dir_all(repo.root().join(&log).parent().unwrap()).unwrap();
    fs::write(repo.root().join(&log), "old output\n").unwrap();
    let finished = status != "running";
    json!({
        "version": 1,
        "id": id,
        "session": repo.stem,
        "session_file": repo.path,
        "agent": "old",
        "task": "from before the runner enum",
        "conversation_id": null,
        "argv": ["sh", "-c", "exit 0"],
        "env": [],
        "cwd": root,
        "root": root,
        "log": log,
        "log_cap": 52428800,
        "log_keep": 26214400,
        "runner": runner,
        "tmux_session": (runner == "tmux").then(|| format!("{}-{id}", repo.stem)),
        "supervisor_argv": ["/nonexistent/sessions", "__supervise"],
        "host": null,
        "spawner_pid": null,
        "spawner_start": null,
        "supervisor_pid": dead_pid(),
        "supervisor_start": 1,
        "pid": dead_pid(),
        "pid_start": 1,
        "pgid": null,
        "started_at": "2026-11-30T10:00:00.000Z",
        "ended_at": finished.then_some("2026-11-30T10:05:00.000Z"),
        "exit_code": finished.then_some(0),
        "signal": null,
        "status": status,
        "reason": null,
        "summary": null,
        "cancel_requested": false,
        "written_back": finished,
    })
}

#[test]
fn records_of_the_old_shape_still_read_and_settle() {
    let _one = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Repo::new();
    let runs = [
        ("0ld0001a", "tmux", "completed"),
        ("0ld0002b", "process", "completed"),
        ("0ld0003c", "tmux", "running"),
    ];
    for (id, runner, status) in runs {
        let path = repo.record_path(id);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut rec = v1_record(&repo, id, runner, status);
        if id == "0ld0002b" {
            // Older still: no runner field at all.
            rec.as_object_mut().unwrap().remove("runner");
            rec.as_object_mut().unwrap().remove("tmux_session");
        }
        fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    }
    let out = repo.ok(&["agents", &repo.stem, "--json"]);
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let by_id = |id: &str| {
        listed
            .iter()
            .find(|r| r["run_id"] == id)
            .unwrap_or_else(|| panic!("run {id} not listed: {listed:#?}"))
            .clone()
    };
    assert_eq!(by_id("0ld0001a")["runner"], "tmux");
    assert_eq!(by_id("0ld0001a")["status"], "completed");
    assert_eq!(by_id("0ld0002b")["runner"], "process");
    assert_eq!(by_id("0ld0002b")["status"], "completed");
    let lost = by_id("0ld0003c");
    assert_eq!(lost["runner"], "tmux");
    assert_eq!(lost["status"], "failed", "{lost:#}");
    assert_eq!(lost["reason"], "lost", "{lost:#}");
    // Settling saved it again, in the current shape.
    let saved = repo.record("0ld0003c");
    assert_eq!(
        saved["runner"],
        json!({"kind": "tmux", "session": format!("{}-0ld0003c", repo.stem)}),
        "{saved:#}"
    );
    assert!(saved.get("tmux_session").is_none(), "{saved:#}");
}

/// This process's children (of every thread), with their `/proc` state letter.
fn children() -> Vec<(u32, char)> {
    let mut out = Vec::new();
    for task in fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(list) = fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        for pid in list
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            let state = agents_support::stat(u64::from(pid)).map_or('?', |s| s.0);
            out.push((pid, state));
        }
    }
    out
}

#[test]
fn a_long_lived_caller_of_launch_keeps_no_zombie_supervisors() {
    let _one = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    fs::create_dir(root.join(".git")).unwrap();
    let supervisor = vec![
        env!("CARGO_BIN_EXE_sessions").to_string(),
        "__supervise".to_string(),
    ];
    let mut records = Vec::new();
    for i in 0..4 {
        let spec = LaunchSpec::new(
            &root,
            "2026-12-01-zombies",
            format!("a{i}"),
            "exit at once",
            vec!["sh".into(), "-c".into(), format!("echo run {i}")],
            supervisor.clone(),
        );
        let started = launch(spec).unwrap();
        let path = started.path.clone();
        let rec = started.wait_started(PATIENCE);
        assert!(rec.supervisor_pid.is_some(), "{rec:#?}");
        records.push(path);
    }
    let finished = |path: &Path| {
        record::load(path).is_ok_and(|r| !r.status.is_active() && r.status != RunStatus::Lost)
    };
    eventually("every run to finish", || {
        records.iter().all(|p| finished(p))
    });
    let supervisors: Vec<u32> = records
        .iter()
        .map(|p| record::load(p).unwrap().supervisor_pid.unwrap())
        .collect();
    // A supervisor exits right after its final save (a zombie, were it our child).
    eventually("the supervisors to exit", || {
        supervisors
            .iter()
            .all(|&pid| !agents_support::alive(u64::from(pid)))
    });
    let left = children();
    assert!(
        left.is_empty(),
        "children of the launching process left behind (state Z = zombie): {left:?}; supervisors were {supervisors:?}"
    );
    for p in &records {
        assert_eq!(record::load(p).unwrap().status, RunStatus::Completed);
    }
}

#[test]
fn send_types_into_a_tmux_agent_and_the_process_runner_says_it_cannot() {
    let _one = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("note: tmux is not installed; skipping the tmux send test");
        return;
    }
    let repo = Repo::new();
    let spawn = |args: &[&str]| {
        let mut all = vec!["--agent", "tm", "--task", "t"];
        all.extend_from_slice(args);
        repo.spawn(&all)[0]["run_id"].as_str().unwrap().to_string()
    };
    let id = spawn(&[
        "--runner",
        "tmux",
        "--",
        "sh",
        "-c",
        r#"read line; echo "got [$line]""#,
    ]);
    repo.wait_running(&id);
    let rec = record::load(&repo.record_path(&id)).unwrap();
    // The run's tmux server lives under the test's own TMUX_TMPDIR; this test holds the
    // lock every test of this file takes before it starts a process.
    unsafe { std::env::set_var("TMUX_TMPDIR", repo.tmux_dir.path()) };
    let sent = rec.runner.runner().send(&rec, "hello 'world' $HOME -x");
    unsafe { std::env::remove_var("TMUX_TMPDIR") };
    sent.unwrap();
    let done = repo.wait_status(&id, "completed");
    let log = repo.log_of(&done);
    assert!(log.contains("got [hello 'world' $HOME -x]"), "{log}");

    let id = spawn(&["--", "sleep", "30"]);
    repo.wait_running(&id);
    let rec = record::load(&repo.record_path(&id)).unwrap();
    let err = rec.runner.runner().send(&rec, "hello").unwrap_err();
    assert!(
        matches!(err, sessions::agents::Error::Unsupported(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("process runner"), "{err}");
    repo.ok(&["kill", &repo.stem, "--grace", "1s"]);
}
