//! Background agents under faults: a `spawn` killed part-way, a supervisor killed alone, pid
//! reuse, detached helpers, a missing agent binary, a fresh clone without run records, an agent
//! writing fast. Real signals on real process trees; every wait is bounded.

mod agents_support;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agents_support::{PATIENCE, Repo, alive, eventually, stat};
use serde_json::{Value, json};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One `spawned_agents` entry as the file shows it.
#[derive(Debug, Clone)]
struct Entry {
    run_id: Option<String>,
    status: String,
    reason: Option<String>,
}

/// The entries of `orchestration.spawned_agents`, read from the file's text (the layout the
/// tool writes: `    - agent: …` then `      key: value` lines).
fn entries(text: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for line in text.lines() {
        if line.starts_with("    - agent:") {
            out.push(Entry {
                run_id: None,
                status: String::new(),
                reason: None,
            });
            continue;
        }
        let Some(e) = out.last_mut() else { continue };
        let unquote = |v: &str| v.trim().trim_matches('"').to_string();
        if let Some(v) = line.strip_prefix("      run_id:") {
            e.run_id = Some(unquote(v));
        } else if let Some(v) = line.strip_prefix("      status:") {
            e.status = unquote(v);
        } else if let Some(v) = line.strip_prefix("      reason:") {
            e.reason = Some(unquote(v));
        }
    }
    out
}

/// A small deterministic generator, so a failing trial can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn spawn_killed_part_way_leaves_every_run_recorded_and_settled() {
    let repo = Repo::new();
    repo.script("quick.sh", "echo 'SUMMARY: quick done'\nexit 0");
    let mut rng = Lcg(0x5eed);
    let trials = 24;
    for _ in 0..trials {
        // A debug `spawn` takes some tens of milliseconds: kill it anywhere in that span.
        let delay = Duration::from_micros(rng.next() % 35_000);
        let mut child = repo
            .cmd(&[
                "spawn",
                &repo.stem,
                "--agent",
                "quick",
                "--task",
                "be quick",
                "--",
                "./quick.sh",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        drop(child.stdout.take());
        drop(child.stderr.take());
        child.wait().unwrap();
    }
    // Every entry settles to what really happened, and every run is recorded.
    let start = Instant::now();
    loop {
        let runs = repo.agents();
        let text = repo.text();
        let all = entries(&text);
        let settled = runs.iter().all(|r| r["status"] != "running")
            && all.iter().all(|e| e.status != "in_progress");
        if settled {
            for e in &all {
                let id = e.run_id.as_deref().expect("every entry has a run id");
                let r = runs
                    .iter()
                    .find(|r| r["run_id"] == id)
                    .unwrap_or_else(|| panic!("entry {id} has no run record:\n{text}"));
                assert_eq!(r["status"], e.status.as_str(), "{r:#}\n{text}");
                if r["pid"].is_u64() {
                    // The agent started: its real outcome is an exit 0.
                    assert_eq!(r["status"], "completed", "{r:#}");
                    assert_eq!(r["exit_code"], 0, "{r:#}");
                } else {
                    assert_eq!(r["status"], "failed", "{r:#}");
                    assert_ne!(r["reason"], "lost", "never started is not lost: {r:#}");
                }
            }
            for r in &runs {
                let id = r["run_id"].as_str().unwrap();
                assert!(
                    all.iter().any(|e| e.run_id.as_deref() == Some(id)),
                    "run {id} is not in the file:\n{text}"
                );
            }
            let ran = runs.iter().filter(|r| r["pid"].is_u64()).count();
            eprintln!(
                "{trials} spawns killed: {} runs recorded ({ran} ran the agent), {} entries",
                runs.len(),
                all.len()
            );
            assert!(!runs.is_empty());
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "never settled:\n{runs:#?}\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    repo.ok(&["validate"]);
}

#[test]
fn a_spawn_that_cannot_start_is_recorded_failed_with_the_reason() {
    let repo = Repo::new();
    let out = repo.run(&[
        "spawn",
        &repo.stem,
        "--agent",
        "claude",
        "--task",
        "t",
        "--",
        "no-such-agent-binary",
        "-p",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`no-such-agent-binary` not found on PATH"),
        "{err}"
    );
    // `agents` shows it, failed, with the reason.
    let runs = repo.agents();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let r = &runs[0];
    assert_eq!(r["status"], "failed", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("`no-such-agent-binary` not found on PATH"),
        "{r:#}"
    );
    // The entry says so, and the log it links exists and says so too.
    let text = repo.text();
    let e = &entries(&text)[0];
    assert_eq!(e.status, "failed", "{text}");
    assert!(
        e.reason.as_deref().unwrap().contains("not found on PATH"),
        "{text}"
    );
    let log = repo.log_of(r);
    assert!(log.contains("not found on PATH"), "{log:?}");
    for link in text.split("[log](").skip(1) {
        let target = &link[..link.find(')').unwrap()];
        assert!(
            repo.path.parent().unwrap().join(target).is_file(),
            "dangling link {target}:\n{text}"
        );
    }
    // `logs` prints it rather than failing.
    let out = repo.ok(&["logs", &repo.stem]);
    assert!(stdout(&out).contains("not found on PATH"));
}

#[test]
fn logs_follow_ends_with_the_outcome_and_its_exit_status() {
    let repo = Repo::new();
    let failing = repo.spawn(&[
        "--agent",
        "broken",
        "--task",
        "t",
        "--",
        "sh",
        "-c",
        "echo working; sleep 0.3; exit 3",
    ]);
    let id = failing[0]["run_id"].as_str().unwrap();
    let out = repo.run(&["logs", &format!("{}:{id}", repo.stem), "-f"]);
    assert_eq!(stdout(&out), "working\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("run {id} failed, exit 3")),
        "{}",
        stderr(&out)
    );
    // Following a run that already ended says the same.
    let out = repo.run(&["logs", &format!("{}:{id}", repo.stem), "-f"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("failed, exit 3"), "{}", stderr(&out));

    let fine = repo.spawn(&[
        "--agent",
        "fine",
        "--task",
        "t",
        "--",
        "sh",
        "-c",
        "sleep 0.3; echo ok",
    ]);
    let id = fine[0]["run_id"].as_str().unwrap();
    let out = repo.run(&["logs", &format!("{}:{id}", repo.stem), "-f"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("completed, exit 0"),
        "{}",
        stderr(&out)
    );
    // Plain `logs` (no follow) is a print: 0 whatever the run did.
    repo.ok(&["logs", &format!("{}:broken", repo.stem)]);
}

#[test]
fn kill_says_what_it_does_while_it_waits_out_the_grace_period() {
    let repo = Repo::new();
    let started = repo.spawn(&[
        "--agent",
        "stubborn",
        "--task",
        "t",
        "--",
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 0.1; done",
    ]);
    let id = started[0]["run_id"].as_str().unwrap();
    repo.wait_running(id);
    let out = repo.run(&["kill", &repo.stem, "--grace", "300ms"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("sent SIGTERM"), "{err}");
    assert!(err.contains("waiting up to 300ms"), "{err}");
    assert!(err.contains("sending SIGKILL"), "{err}");
    assert!(stdout(&out).contains("killed stubborn"), "{}", stdout(&out));
    assert_eq!(repo.agent(id)["status"], "cancelled");
}

fn read_pid(repo: &Repo, name: &str) -> u64 {
    let path = repo.root().join(name);
    eventually(&format!("{name} written"), || {
        fs::read_to_string(&path).is_ok_and(|t| t.trim().parse::<u64>().is_ok())
    });
    fs::read_to_string(&path).unwrap().trim().parse().unwrap()
}

#[test]
fn kill_stops_a_helper_the_agent_detached_with_setsid() {
    let repo = Repo::new();
    // The helper leaves the agent's process group and session, drops the run's environment,
    // and its parent exits at once: an orphan that only a child subreaper keeps below the
    // supervisor.
    repo.script(
        "detach.sh",
        "(setsid env -i sleep 300 & echo $! > helper.pid)\nwhile :; do sleep 0.1; done",
    );
    let started = repo.spawn(&["--agent", "detacher", "--task", "t", "--", "./detach.sh"]);
    let id = started[0]["run_id"].as_str().unwrap();
    let rec = repo.wait_running(id);
    let helper = read_pid(&repo, "helper.pid");
    let group = rec["pgid"].as_i64().unwrap();
    eventually("the helper left the group", || {
        stat(helper).is_some_and(|(_, g, _)| g != group)
    });
    eventually("the helper dropped the environment", || {
        fs::read(format!("/proc/{helper}/environ")).is_ok_and(|e| e.is_empty())
    });
    let out = repo.run(&["kill", &repo.stem, "--grace", "2s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!alive(helper), "the detached helper survived the kill");
    let said = stdout(&out);
    assert!(
        said.contains(&format!("{helper} sleep (detached)")),
        "the report names what was killed: {said}"
    );
    assert_eq!(repo.agent(id)["status"], "cancelled");
}

#[test]
fn kill_finds_detached_helpers_even_after_the_supervisor_died() {
    let repo = Repo::new();
    repo.script(
        "detach.sh",
        "(setsid sleep 300 & echo $! > helper.pid)\nwhile :; do sleep 0.1; done",
    );
    let started = repo.spawn(&["--agent", "detacher", "--task", "t", "--", "./detach.sh"]);
    let id = started[0]["run_id"].as_str().unwrap();
    let rec = repo.wait_running(id);
    let helper = read_pid(&repo, "helper.pid");
    let sup = rec["supervisor_pid"].as_u64().unwrap();
    Command::new("kill")
        .args(["-KILL", &sup.to_string()])
        .status()
        .unwrap();
    eventually("supervisor gone", || !alive(sup));
    let out = repo.run(&["kill", &repo.stem, "--grace", "2s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!alive(helper), "the detached helper survived the kill");
    assert!(!alive(rec["pid"].as_u64().unwrap()));
    assert_eq!(repo.agent(id)["status"], "cancelled");
}
