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
