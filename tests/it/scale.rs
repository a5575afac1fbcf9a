//! Many finished runs (issue 14): settled run records are compacted into
//! `.agents/state/runs/finished.jsonl` by the readers that list them, and every command reads
//! them the same as before. A compaction killed at any moment loses no run and shows none
//! twice. Speed is measured in `benches/`, not here.

use crate::agents_support;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use agents_support::Repo;
use serde_json::{Value, json};

/// A finished, written-back run record of `session` that ended long ago, as `spawn` would
/// have left it. `version: 1` with a flat runner: the old layout must still read.
fn settled(root: &Path, session: &str, i: usize) -> (String, Value) {
    let id = format!("{:08x}", 0x1000_0000 + i);
    let root_s = root.display().to_string();
    let rec = json!({
        "version": if i.is_multiple_of(7) { 1 } else { 2 },
        "id": id, "session": session, "agent": if i.is_multiple_of(2) { "claude" } else { "codex" },
        "task": format!("task number {i}"),
        "argv": ["claude", "-p", "a prompt"], "env": [], "cwd": root_s, "root": root_s,
        "log": format!(".agents/logs/{session}/claude-{id}.log"),
        "log_cap": 52428800, "log_keep": 26214400,
        "runner": if i.is_multiple_of(7) { json!("process") } else { json!({"kind": "process"}) },
        "supervisor_argv": ["/usr/bin/sessions", "__supervise"],
        "supervisor_pid": 4_000_000, "supervisor_start": 1, "pid": 4_000_001,
        "pid_start": 2, "pgid": 4_000_001,
        // Starts out of order with the ids, some equal: the listing sorts by start then id.
        "started_at": format!("2025-01-01T00:{:02}:{:02}.000Z", (i * 7) % 60, i % 3),
        "ended_at": "2025-01-01T02:00:00.000Z",
        "exit_code": if i.is_multiple_of(5) { 1 } else { 0 },
        "status": if i.is_multiple_of(5) { "failed" } else { "completed" },
        "summary": format!("did thing {i}"),
        "cancel_requested": false, "written_back": true
    });
    (id, rec)
}

fn runs_dir(repo: &Repo) -> PathBuf {
    repo.root().join(".agents/state/runs")
}

/// Writes `n` settled records over `sessions` sessions; their `(session, id)`.
fn write_settled(repo: &Repo, n: usize, sessions: usize) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for i in 0..n {
        let session = format!("20250101-000000-old-{}", i % sessions);
        let (id, rec) = settled(repo.root(), &session, i);
        let path = runs_dir(repo).join(&session).join(format!("{id}.json"));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
        all.insert((session, id));
    }
    all
}

fn loose(repo: &Repo) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for s in fs::read_dir(runs_dir(repo)).unwrap().flatten() {
        if !s.path().is_dir() {
            continue;
        }
        for f in fs::read_dir(s.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json")
                && !name.starts_with('.')
            {
                v.push((s.file_name().to_string_lossy().into_owned(), id.to_string()));
            }
        }
    }
    v
}

/// `(session, id)` of every complete line of the compacted file.
fn compacted(repo: &Repo) -> Vec<(String, String)> {
    let Ok(text) = fs::read_to_string(runs_dir(repo).join("finished.jsonl")) else {
        return Vec::new();
    };
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            // `{"k": head, "v": the run's view, "r": its record}`, one JSON value a line.
            let v: Value = serde_json::from_str(l).expect("a complete line is JSON");
            (
                v["r"]["session"].as_str().unwrap().to_string(),
                v["r"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn listed(out: &std::process::Output) -> Vec<(String, String)> {
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    v.iter()
        .map(|r| {
            (
                r["session"].as_str().unwrap().to_string(),
                r["run_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn settled_runs_are_compacted_and_every_reader_sees_them_the_same() {
    let repo = Repo::new();
    let all = write_settled(&repo, 60, 3);
    // Per-session listings before any compaction (they never compact).
    let per_session: HashMap<String, Vec<u8>> = (0..3)
        .map(|s| {
            let session = format!("20250101-000000-old-{s}");
            let out = repo.ok(&["agents", &session, "--json"]);
            (session, out.stdout)
        })
        .collect();
    let table_before = String::from_utf8(repo.ok(&["agents", "--all"]).stdout).unwrap();

    let first = repo.ok(&["agents", "--all", "--json"]);
    let ids = listed(&first);
    assert_eq!(ids.len(), 60, "each run once");
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), all);
    let starts: Vec<String> = serde_json::from_slice::<Vec<Value>>(&first.stdout)
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["started_at"], r["run_id"]))
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "oldest first, then by id");
    assert!(loose(&repo).is_empty(), "all settled: compacted");
    assert_eq!(compacted(&repo).len(), 60);

    // Read again from the compacted file: the same bytes, whichever command reads.
    let second = repo.ok(&["agents", "--all", "--json"]);
    assert_eq!(second.stdout, first.stdout);
    for (session, before) in &per_session {
        let out = repo.ok(&["agents", session, "--json"]);
        assert_eq!(&out.stdout, before, "agents {session} --json");
    }
    let table_after = String::from_utf8(repo.ok(&["agents", "--all"]).stdout).unwrap();
    // Runtimes of finished runs do not move; the table is the same.
    assert_eq!(table_after, table_before);
    // A run is still found by its id.
    let (session, id) = all.iter().next().unwrap();
    let out = repo.ok(&["agents", &format!("{session}:{id}"), "--json"]);
    assert_eq!(listed(&out), vec![(session.clone(), id.clone())]);

    // prune drops compacted runs too, failed ones kept by --completed.
    let out = repo.ok(&["prune", "--completed"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pruned 48 runs"), "{stdout}");
    let left = listed(&repo.ok(&["agents", "--all", "--json"]));
    assert_eq!(left.len(), 12);
    assert_eq!(compacted(&repo).len(), 12);
    repo.ok(&["prune"]);
    assert!(listed(&repo.ok(&["agents", "--all", "--json"])).is_empty());
    assert!(compacted(&repo).is_empty());
}

#[test]
fn a_partial_last_line_is_not_a_run_and_is_cut_by_the_next_compaction() {
    let repo = Repo::new();
    let all = write_settled(&repo, 40, 2);
    repo.ok(&["agents", "--all", "--json"]);
    assert_eq!(compacted(&repo).len(), 40);
    // A crash in the middle of the next append: half a line, its loose files still there.
    let more = (40..80)
        .map(|i| {
            let session = format!("20250101-000000-old-{}", i % 2);
            let (id, rec) = settled(repo.root(), &session, i);
            let path = runs_dir(&repo).join(&session).join(format!("{id}.json"));
            fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
            (session, id, rec)
        })
        .collect::<Vec<_>>();
    let file = runs_dir(&repo).join("finished.jsonl");
    let mut text = fs::read(&file).unwrap();
    let whole = fs::read(&file).unwrap();
    let line = &whole[..whole.iter().position(|&b| b == b'\n').unwrap()];
    text.extend_from_slice(&line[..line.len() / 2]);
    fs::write(&file, &text).unwrap();
    let mut every = all.clone();
    every.extend(more.iter().map(|(s, i, _)| (s.clone(), i.clone())));

    let out = repo.ok(&["agents", "--all", "--json"]);
    let ids = listed(&out);
    assert_eq!(ids.len(), 80);
    assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), every);
    let lines = compacted(&repo);
    assert_eq!(lines.len(), 80, "the torn line was cut, each run once");
    assert!(fs::read(&file).unwrap().ends_with(b"\n"));
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// SIGKILL at spread-out moments of `agents --all --json` while it compacts 300 runs: on disk
/// every run is a loose file or a line (or both, until the next compaction), and the next
/// listing shows each exactly once.
#[test]
fn a_killed_compaction_loses_nothing_and_duplicates_nothing() {
    for round in 0..10u64 {
        let repo = Repo::new();
        let all = write_settled(&repo, 300, 5);
        let mut child = repo
            .cmd(&["agents", "--all", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(round * round * 3));
        let _ = child.kill();
        let _ = child.wait();

        let lines = compacted(&repo);
        let unique: BTreeSet<_> = lines.iter().cloned().collect();
        assert_eq!(unique.len(), lines.len(), "round {round}: a line twice");
        let mut on_disk: BTreeSet<_> = loose(&repo).into_iter().collect();
        on_disk.extend(unique);
        assert_eq!(on_disk, all, "round {round}: a run lost");

        let ids = listed(&repo.ok(&["agents", "--all", "--json"]));
        assert_eq!(ids.len(), 300, "round {round}: shown once each");
        assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), all);
        assert_eq!(compacted(&repo).len(), 300, "round {round}");
        // Loose files a kill left beside their lines go with the next compaction, which waits
        // for enough of them; the listing above showed each run once meanwhile.
        let left = loose(&repo).len();
        assert!(
            left == 0 || left < sessions::agents::compact::COMPACT_AT,
            "round {round}: {left} loose files left"
        );
    }
}
