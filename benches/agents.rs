//! Background-agent latency (issue 5's speed targets), medians of 20 runs of the built binary:
//!
//! * `spawn` vs a bare detached start (`setsid true` via `Command::spawn`, not waited for):
//!   target ≤ baseline + 10 ms, lock and session-file edit included;
//! * `spawn` with 1,000 finished run records present: ≤ 2 × the latency at 0;
//! * `agents --all --json` with 1,000 finished records: ≤ 20 ms (and `list --json` for scale).
//!
//! Run with `cargo bench --bench agents`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const RUNS: usize = 20;
const RECORDS: usize = 1000;
const BIN: &str = env!("CARGO_BIN_EXE_sessions");

fn sessions(root: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .expect("run sessions");
    assert!(
        out.status.success(),
        "sessions {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    sessions(dir.path(), &["init"]);
    let config = dir.path().join(".agents/config.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replacen(
            "agents:\n",
            "agents:\n  noop:\n    command: [\"true\"]\n",
            1,
        ),
    )
    .unwrap();
    dir
}

/// A fresh session per spawn, so every sample edits a file of the same size.
fn new_session(root: &Path, n: usize) -> String {
    let out = sessions(root, &["new", &format!("bench {n}"), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn wait_written_back(root: &Path, stem: &str, run_id: &str) {
    let path = root.join(format!(".agents/state/runs/{stem}/{run_id}.json"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(bytes) = fs::read(&path)
            && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            && v["written_back"] == true
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("run {run_id} never finished");
}

fn spawn_latency(root: &Path) -> Duration {
    let mut samples = Vec::new();
    // Two warm-up spawns (page cache, dentries), not counted.
    for n in 0..RUNS + 2 {
        let stem = new_session(root, n);
        let t = Instant::now();
        let out = sessions(
            root,
            &["spawn", &stem, "--agent", "noop", "--task", "t", "--json"],
        );
        if n >= 2 {
            samples.push(t.elapsed());
        }
        let started: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        // Let the previous run's supervisor finish before the next sample.
        wait_written_back(root, &stem, started[0]["run_id"].as_str().unwrap());
    }
    median(samples)
}

fn baseline() -> Duration {
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut child = Command::new("setsid")
            .arg("true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        samples.push(t.elapsed());
        child.wait().unwrap();
    }
    median(samples)
}

/// `RECORDS` finished, written-back run records over 20 sessions whose files are gone.
fn add_finished_records(root: &Path) {
    let root_s = root.display().to_string();
    for i in 0..RECORDS {
        let session = format!("20250101-000000-old-{:02}", i % 20);
        let id = format!("{i:08x}");
        let rec = json!({
            "version": 1, "id": id, "session": session, "agent": "claude",
            "task": "an old task with a realistic length of some words", "conversation_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "argv": ["claude", "-p", "a prompt naming the session file and the task"],
            "env": [], "cwd": root_s, "root": root_s,
            "log": format!(".agents/logs/{session}/claude-{id}.log"),
            "log_cap": 52428800, "log_keep": 26214400, "runner": "process",
            "supervisor_argv": ["/usr/bin/sessions", "__supervise"],
            "supervisor_pid": 4_000_000, "supervisor_start": 1, "pid": 4_000_001,
            "pid_start": 2, "pgid": 4_000_001,
            "started_at": "2025-01-01T00:00:00.000Z", "ended_at": "2025-01-01T00:05:00.000Z",
            "exit_code": 0, "status": "completed", "summary": "did the thing, tests pass",
            "cancel_requested": false, "written_back": true
        });
        let path: PathBuf = root.join(format!(".agents/state/runs/{session}/{id}.json"));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    }
}

fn command_latency(root: &Path, args: &[&str]) -> Duration {
    sessions(root, args); // warm the page cache
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                sessions(root, args);
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks: there are none to list.
    }
    let base = baseline();
    let empty = repo();
    let at0 = spawn_latency(empty.path());
    let full = repo();
    add_finished_records(full.path());
    // Flush them now: ext4 would otherwise write them out inside the first timed fsync.
    Command::new("sync").status().unwrap();
    let at1000 = spawn_latency(full.path());
    let agents = command_latency(full.path(), &["agents", "--all", "--json"]);
    let list = command_latency(full.path(), &["list", "--json"]);

    println!("agents benchmarks (median of {RUNS})");
    println!(
        "  baseline  setsid true (spawn, no wait)        {}",
        ms(base)
    );
    println!(
        "  spawn     0 records                           {}   (target <= {})",
        ms(at0),
        ms(base + Duration::from_millis(10))
    );
    println!(
        "  spawn     {RECORDS} finished records              {}   (target <= {}, 2x at 0)",
        ms(at1000),
        ms(at0 * 2)
    );
    println!(
        "  agents --all --json, {RECORDS} records             {}   (target <= 20.00 ms)",
        ms(agents)
    );
    println!(
        "  list --json, {RECORDS} records + 22 sessions      {}",
        ms(list)
    );
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "  (load average {}: on a busy machine, rerun before trusting the numbers)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
