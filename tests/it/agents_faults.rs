//! Background agents under faults: a `spawn` killed part-way, a supervisor killed alone, pid
//! reuse, detached helpers, a missing agent binary, a fresh clone without run records, an agent
//! writing fast. Real signals on real process trees; every wait is bounded.

use crate::agents_support;

use std::fs;
use std::os::unix::process::CommandExt;
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

/// Stops whatever a test left running when it ends, passed or failed (`kill --all`).
struct Cleanup<'a>(&'a Repo);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .run(&["kill", &self.0.stem, "--all", "--grace", "100ms"]);
    }
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
    let _cleanup = Cleanup(&repo);
    repo.script("quick.sh", "echo 'SUMMARY: quick done'\nexit 0");
    let mut rng = Lcg(0x5eed);
    let trials = 24;
    for _ in 0..trials {
        // A debug `spawn` takes some tens of milliseconds, more on a loaded machine (100-180
        // ms seen): kill it anywhere in that span, so that some kills land before the record,
        // some between the entry and the supervisor, and some after the agent started.
        let delay = Duration::from_micros(rng.next() % 150_000);
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
    let _cleanup = Cleanup(&repo);
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
    let _cleanup = Cleanup(&repo);
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
    let _cleanup = Cleanup(&repo);
    // The agent says when it ignores SIGTERM: a kill sent before the trap is set would end it
    // at once, and there would be no grace period to talk about.
    let trapped = repo.root().join("trapped");
    let script = format!(
        "trap '' TERM; : > '{}'; while :; do sleep 0.1; done",
        trapped.display()
    );
    let started = repo.spawn(&[
        "--agent", "stubborn", "--task", "t", "--", "sh", "-c", &script,
    ]);
    let id = started[0]["run_id"].as_str().unwrap();
    repo.wait_running(id);
    eventually("the agent ignores SIGTERM", || trapped.exists());
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
    let _cleanup = Cleanup(&repo);
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
    let _cleanup = Cleanup(&repo);
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

#[test]
fn supervisor_killed_alone_leaves_the_agent_found_then_lost_when_it_dies() {
    let repo = Repo::new();
    let _cleanup = Cleanup(&repo);
    // Quiet: an agent that writes nothing does not notice its log reader is gone.
    let started = repo.spawn(&["--agent", "quiet", "--task", "t", "--", "sleep", "300"]);
    let id = started[0]["run_id"].as_str().unwrap();
    let rec = repo.wait_running(id);
    let (sup, pid) = (
        rec["supervisor_pid"].as_u64().unwrap(),
        rec["pid"].as_u64().unwrap(),
    );
    Command::new("kill")
        .args(["-KILL", &sup.to_string()])
        .status()
        .unwrap();
    eventually("supervisor gone", || !alive(sup));
    // Still found, by its own pid and start time.
    let r = repo.agent(id);
    assert_eq!(r["status"], "running", "{r:#}");
    assert_eq!(r["reason"], "supervisor gone", "{r:#}");
    let listed: Vec<Value> = serde_json::from_slice(&repo.ok(&["list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["agents"], json!({"total": 1, "running": 1}));
    // Its death is noticed: lost, never running forever.
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    eventually("agent gone", || !alive(pid));
    let r = repo.agent(id);
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(r["reason"], "lost", "{r:#}");
    let text = repo.text();
    assert_eq!(entries(&text)[0].status, "failed", "{text}");
    assert_eq!(entries(&text)[0].reason.as_deref(), Some("lost"), "{text}");
}

#[test]
fn a_reused_pid_is_never_signalled_by_kill() {
    let repo = Repo::new();
    let _cleanup = Cleanup(&repo);
    // An unrelated process leading its own group, whose pid the record claims for a run whose
    // supervisor is gone; its start time differs from the recorded one.
    let mut other = Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = u64::from(other.id());
    let (_, _, start) = stat(pid).unwrap();
    let root = repo.root().display().to_string();
    let record = json!({
        "version": 1, "id": "cafef00d", "session": repo.stem, "agent": "ghost",
        "task": "haunt", "argv": ["sleep", "60"], "cwd": root, "root": root,
        "log": format!(".agents/logs/{}/ghost-cafef00d.log", repo.stem),
        "log_cap": 1000000, "log_keep": 500000, "supervisor_argv": ["x"],
        "supervisor_pid": pid, "supervisor_start": start + 777,
        "pid": pid, "pid_start": start + 777, "pgid": pid,
        "started_at": "2025-01-01T00:00:00.000Z", "status": "running"
    });
    let path = repo.record_path("cafef00d");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, record.to_string()).unwrap();
    let out = repo.run(&[
        "kill",
        &format!("{}:cafef00d", repo.stem),
        "--grace",
        "200ms",
    ]);
    assert_ne!(out.status.code(), Some(0), "nothing of this run is running");
    assert!(alive(pid), "the unrelated process must not be touched");
    let r = repo.agent("cafef00d");
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(r["reason"], "lost", "{r:#}");
    other.kill().unwrap();
    other.wait().unwrap();
}

#[test]
fn an_agent_writing_a_gigabyte_keeps_the_log_capped_and_logs_follow_keeps_up() {
    let repo = Repo::new();
    let _cleanup = Cleanup(&repo);
    repo.configure("", "log_cap: 4MB");
    // 1 GiB of 1 KiB lines as fast as `yes` writes, then a last line. (Long lines: the
    // debug build's per-line summary scan would make short ones a test of its speed.)
    repo.script(
        "flood.sh",
        "line=$(head -c 1023 /dev/zero | tr '\\0' x)\nyes \"$line\" | head -c 1073741824\necho 'SUMMARY: flood done'",
    );
    let started = repo.spawn(&["--agent", "flood", "--task", "t", "--", "./flood.sh"]);
    let id = started[0]["run_id"].as_str().unwrap();
    let mut follow = repo
        .cmd(&["logs", &format!("{}:{id}", repo.stem), "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Count what the follower prints while it runs (reading keeps its pipe from filling).
    let mut out = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let (mut total, mut tail) = (0u64, Vec::new());
        loop {
            match std::io::Read::read(&mut out, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n as u64;
                    tail.extend_from_slice(&buf[..n]);
                    let keep = tail.len().saturating_sub(256);
                    tail.drain(..keep);
                }
            }
        }
        (total, tail)
    });
    // Bounded: a gigabyte through a pipe takes seconds; give it minutes on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut biggest = 0;
    loop {
        let r = repo.agent(id);
        let size = fs::metadata(repo.root().join(r["log"].as_str().unwrap()))
            .map(|m| m.len())
            .unwrap_or(0);
        biggest = biggest.max(size);
        if r["status"] != "running" {
            assert_eq!(r["status"], "completed", "{r:#}");
            assert_eq!(r["summary"], "flood done", "{r:#}");
            break;
        }
        assert!(Instant::now() < deadline, "the flood never ended: {r:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = follow.wait().unwrap();
    let (printed, tail) = reader.join().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&tail).ends_with("SUMMARY: flood done\n"),
        "the follow reached the end"
    );
    assert!(printed > 0);
    let cap = 4 * 1024 * 1024;
    assert!(biggest <= cap + (1 << 16), "log grew to {biggest} bytes");
    let log = repo.log_of(&repo.agent(id));
    assert!(log.len() as u64 <= cap, "{} bytes", log.len());
    assert!(log.ends_with("SUMMARY: flood done\n"));
    eprintln!("1 GiB flood: log peaked at {biggest} bytes; logs -f printed {printed} bytes");
}

#[test]
fn in_progress_entries_without_a_run_record_are_settled_lost_or_shown_unknown() {
    let repo = Repo::new();
    let _cleanup = Cleanup(&repo);
    let mut ids = Vec::new();
    for name in ["here", "remote", "alive"] {
        let started = repo.spawn(&["--agent", name, "--task", "t", "--", "sleep", "300"]);
        ids.push(started[0]["run_id"].as_str().unwrap().to_string());
    }
    let recs: Vec<Value> = ids.iter().map(|id| repo.wait_running(id)).collect();
    // The first two stop for good; the third keeps running. Then the state goes, as in a
    // fresh clone.
    for r in &recs[..2] {
        for key in ["supervisor_pid", "pid"] {
            let pid = r[key].as_u64().unwrap();
            Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
            eventually("process gone", || !alive(pid));
        }
    }
    fs::remove_dir_all(repo.root().join(".agents/state")).unwrap();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let text = repo.text();
    assert!(
        text.contains(&format!("      host: \"{}\"\n", host.trim())),
        "{text}"
    );
    // The second run was launched on another machine.
    let marker = format!("      run_id: \"{}\"\n", ids[1]);
    let at = text.find(&marker).unwrap() + marker.len();
    let (head, tail) = text.split_at(at);
    let tail = tail.replacen(
        &format!("      host: \"{}\"\n", host.trim()),
        "      host: \"elsewhere.example\"\n",
        1,
    );
    fs::write(&repo.path, format!("{head}{tail}")).unwrap();

    let listed: Vec<Value> = serde_json::from_slice(&repo.ok(&["list", "--json"]).stdout).unwrap();
    assert_eq!(
        listed[0]["agents"],
        json!({"total": 3, "running": 1}),
        "only the run found alive here counts running"
    );
    let text = repo.text();
    let all = entries(&text);
    assert_eq!(all[0].status, "failed", "{text}");
    assert_eq!(all[0].reason.as_deref(), Some("lost"), "{text}");
    assert_eq!(
        all[1].status, "in_progress",
        "another machine's run is left alone"
    );
    assert_eq!(all[2].status, "in_progress", "{text}");
    assert_eq!(
        text.matches("no run record on this machine").count(),
        1,
        "{text}"
    );

    let runs = repo.agents();
    let by = |id: &str| runs.iter().find(|r| r["run_id"] == id).cloned().unwrap();
    assert_eq!(by(&ids[0])["status"], "failed");
    assert_eq!(by(&ids[0])["reason"], "lost");
    assert_eq!(by(&ids[1])["status"], "unknown");
    assert!(
        by(&ids[1])["reason"]
            .as_str()
            .unwrap()
            .contains("elsewhere.example"),
        "{runs:#?}"
    );
    assert_eq!(by(&ids[2])["status"], "running");
    assert_eq!(by(&ids[2])["pid"], recs[2]["pid"]);

    // `kill` explains what it sees.
    let out = repo.run(&["kill", &format!("{}:remote", repo.stem), "--all"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("stop it on the machine that runs it"),
        "{}",
        stderr(&out)
    );
    // The one found by its environment is stopped, and then settles as lost.
    let pid = recs[2]["pid"].as_u64().unwrap();
    let out = repo.run(&["kill", &format!("{}:alive", repo.stem), "--grace", "2s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("found by its environment"),
        "{}",
        stdout(&out)
    );
    assert!(!alive(pid));
    let text = repo.text();
    assert_eq!(entries(&text)[2].status, "failed", "{text}");
    assert_eq!(entries(&text)[2].reason.as_deref(), Some("lost"), "{text}");
    // `close --yes` says what it sees and goes ahead.
    let out = repo.run(&["close", &repo.stem, "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("elsewhere.example"),
        "{}",
        stderr(&out)
    );
}

/// A lost entry (launched here, no record, nothing runs) whose file cannot be written is not
/// dropped from `agents` without a word: it shows `unknown`, saying why it is not settled.
#[test]
fn a_lost_entry_that_cannot_be_written_back_is_shown_with_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let repo = Repo::new();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let text = repo.text().replacen(
        "orchestration:\n",
        &format!(
            "orchestration:\n  spawned_agents:\n    - agent: dev\n      task: x\n      status: in_progress\n      run_id: \"0badc0de\"\n      host: \"{}\"\n",
            host.trim()
        ),
        1,
    );
    fs::write(&repo.path, text).unwrap();
    fs::set_permissions(&repo.path, fs::Permissions::from_mode(0o444)).unwrap();
    let runs = repo.agents();
    fs::set_permissions(&repo.path, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["status"], "unknown", "{runs:#?}");
    let reason = runs[0]["reason"].as_str().unwrap();
    assert!(reason.contains("cannot be marked failed"), "{reason}");
    assert!(reason.contains("read-only"), "{reason}");
}

/// Holds the session file's edit lock, as another `sessions` editing it would, until dropped:
/// a `spawn` meanwhile has started its supervisor (and the agent) and waits to write its entry.
fn hold_session_lock(repo: &Repo) -> fs::File {
    let dir = repo.root().join(".agents/state/locks");
    fs::create_dir_all(&dir).unwrap();
    let file = fs::File::create(dir.join(format!("{}.md.lock", repo.stem))).unwrap();
    file.lock().unwrap();
    file
}

/// The run records of the session, as their files say.
fn records(repo: &Repo) -> Vec<Value> {
    let dir = repo
        .root()
        .join(format!(".agents/state/runs/{}", repo.stem));
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.ends_with(".json") && !name.starts_with('.')
                })
                .filter_map(|e| serde_json::from_slice(&fs::read(e.path()).ok()?).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn quick_spawn(repo: &Repo, extra_env: &[(&str, &str)], command: &[&str]) -> std::process::Child {
    let mut args = vec![
        "spawn", &repo.stem, "--agent", "quick", "--task", "be quick", "--",
    ];
    args.extend_from_slice(command);
    let mut cmd = repo.cmd(&args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The agent starts while `spawn` writes its entry, so an agent that ends at once ends before
/// the entry is in: its supervisor waits for `spawn`'s word before writing the outcome back,
/// into the entry `spawn` wrote — never a second entry of its own.
#[test]
fn an_agent_that_ends_before_its_entry_is_written_back_into_the_entry_spawn_writes() {
    let repo = Repo::new();
    let _cleanup = Cleanup(&repo);
    let lock = hold_session_lock(&repo);
    let child = quick_spawn(&repo, &[], &["true"]);
    eventually("the agent to end while spawn waits for the file", || {
        records(&repo).iter().any(|r| r["status"] == "completed")
    });
    let early = records(&repo);
    assert_eq!(early.len(), 1, "{early:#?}");
    assert_eq!(early[0]["written_back"], false, "{:#}", early[0]);
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id = early[0]["id"].as_str().unwrap().to_string();
    eventually("the write-back", || {
        records(&repo).iter().any(|r| r["written_back"] == true)
    });
    let text = repo.text();
    let all = entries(&text);
    assert_eq!(all.len(), 1, "one entry:\n{text}");
    assert_eq!(all[0].run_id.as_deref(), Some(id.as_str()), "{text}");
    assert_eq!(all[0].status, "completed", "{text}");
    // The entry is `spawn`'s (with its host and its Session Log line), the outcome after it.
    assert!(text.contains("      host: "), "{text}");
    assert_eq!(text.matches("Spawned agent quick").count(), 1, "{text}");
    let spawned = text.find("Spawned agent quick").unwrap();
    let ended = text
        .find("Agent quick completed")
        .expect("the outcome's log line");
    assert!(spawned < ended, "{text}");
    repo.ok(&["validate"]);
}

/// `spawn` killed after its supervisor started the agent and before its entry was written:
/// the supervisor sees it gone, and the outcome goes into the file with an entry of its own.
#[test]
fn spawn_killed_before_its_entry_leaves_the_run_written_back_with_its_real_outcome() {
    let repo = Repo::new();
    let _cleanup = Cleanup(&repo);
    let lock = hold_session_lock(&repo);
    let mut child = quick_spawn(&repo, &[], &["true"]);
    eventually("the agent to end while spawn waits for the file", || {
        records(&repo).iter().any(|r| r["status"] == "completed")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(entries(&repo.text()).is_empty(), "no entry yet");
    drop(lock);
    eventually("the write-back", || {
        records(&repo).iter().any(|r| r["written_back"] == true)
    });
    let rec = &records(&repo)[0];
    let text = repo.text();
    let all = entries(&text);
    assert_eq!(all.len(), 1, "one entry:\n{text}");
    assert_eq!(all[0].run_id.as_deref(), rec["id"].as_str(), "{text}");
    assert_eq!(all[0].status, "completed", "{text}");
    assert_eq!(rec["exit_code"], 0, "{rec:#}");
    repo.ok(&["validate"]);
}

/// A `spawn` that cannot write its entry (here: the file stays locked past the lock timeout)
/// gives the run up although its agent had started: the agent is stopped, and no record, log
/// or entry of it is left.
#[test]
fn spawn_that_cannot_write_its_entry_stops_its_agent_and_leaves_nothing() {
    let repo = Repo::new();
    let _cleanup = Cleanup(&repo);
    repo.script("slow.sh", "echo $$ > agent.pid\nexec sleep 60");
    let lock = hold_session_lock(&repo);
    let child = quick_spawn(
        &repo,
        &[("SESSIONS_TEST_LOCK_TIMEOUT_MS", "1500")],
        &["./slow.sh"],
    );
    let out = child.wait_with_output().unwrap();
    drop(lock);
    assert!(!out.status.success(), "{}", stdout(&out));
    if let Some(pid) = fs::read_to_string(repo.root().join("agent.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u64>().ok())
    {
        assert!(!alive(pid), "the agent {pid} was left running");
    }
    assert!(records(&repo).is_empty(), "{:#?}", records(&repo));
    let logs = repo.root().join(format!(".agents/logs/{}", repo.stem));
    let left: Vec<_> = fs::read_dir(&logs)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert!(entries(&repo.text()).is_empty(), "{}", repo.text());
    assert!(repo.agents().is_empty());
}
