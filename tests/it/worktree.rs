//! `spawn --worktree`, `sessions worktree list|remove` and the cleanup of `prune`/`close`, with
//! real git: a repository with a bare "remote" in a temp dir, fake `sh -c` agents that commit,
//! and git's configuration sealed off (GIT_CONFIG_GLOBAL, GIT_CONFIG_NOSYSTEM, HOME), so the
//! person's config never leaks in.

use crate::outside;
use outside::Sealed;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(120);

struct Env {
    tmp: tempfile::TempDir,
    root: PathBuf,
    stem: String,
}

impl Env {
    /// `repo/` with one commit pushed to `remote.git`, after `sessions init` and
    /// `sessions new "weather fallback"` (committed, so every worktree has its own copy).
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        fs::create_dir_all(tmp.path().join("home")).unwrap();
        let mut env = Env {
            tmp,
            root,
            stem: String::new(),
        };
        fs::write(
            env.tmp.path().join("gitconfig"),
            "[user]\n\tname = Tester\n\temail = tester@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        )
        .unwrap();
        env.git_in(env.tmp.path(), &["init", "-q", "--bare", "remote.git"]);
        env.git_in(env.tmp.path(), &["init", "-q", "repo"]);
        fs::write(env.root.join("README"), "hello\n").unwrap();
        env.ok(&env.root.clone(), &["init"]);
        let out = env.ok(&env.root.clone(), &["new", "weather fallback", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        env.stem = v["id"].as_str().unwrap().to_string();
        env.git(&["add", "-A"]);
        env.git(&["commit", "-qm", "init"]);
        env.git(&["remote", "add", "origin", "../remote.git"]);
        env.git(&["push", "-q", "-u", "origin", "main"]);
        env
    }

    /// git's configuration sealed off: only the temp dir's gitconfig is read.
    fn sealed_git(&self, c: &mut Command) {
        c.env("GIT_CONFIG_GLOBAL", self.tmp.path().join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.tmp.path().join("home"))
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE");
    }

    fn git_cmd(&self, dir: &Path) -> Command {
        let mut c = Command::new("git");
        c.current_dir(dir);
        self.sealed_git(&mut c);
        c
    }

    fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_cmd(dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.root, args)
    }

    fn git_succeeds(&self, args: &[&str]) -> bool {
        self.git_cmd(&self.root)
            .args(args)
            .output()
            .unwrap()
            .status
            .success()
    }

    /// `sessions ARGS` in `dir`, with the binary's directory on PATH (agents run it too).
    fn sessions(&self, dir: &Path, args: &[&str]) -> Output {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_sessions"));
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new(&bin);
        c.sealed();
        self.sealed_git(&mut c);
        c.current_dir(dir)
            .env("PATH", path)
            .env("SESSIONS_ACTOR", "tester")
            .env("SESSIONS_PROCESS_TREE", "off")
            .env("NO_COLOR", "1")
            .env_remove("CLAUDE_ENV_FILE")
            .args(args)
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.sessions(&self.root, args)
    }

    #[track_caller]
    fn ok(&self, dir: &Path, args: &[&str]) -> Output {
        let out = self.sessions(dir, args);
        assert!(out.status.success(), "sessions {args:?}:\n{}", show(&out));
        out
    }

    /// `spawn STEM --json ARGS`; the started runs.
    fn spawn(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["spawn", self.stem.as_str(), "--json"];
        all.extend_from_slice(args);
        let out = self.ok(&self.root, &all);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Spawns one agent in a worktree running `script` (sh) and waits for it to end.
    fn spawn_done(&self, script: &str, extra: &[&str]) -> Value {
        let mut args = vec!["--agent", "dev", "--worktree", "--task", "work"];
        args.extend_from_slice(extra);
        args.extend(["--", "sh", "-c", script]);
        let run = self.spawn(&args).remove(0);
        let id = run["run_id"].as_str().unwrap().to_string();
        self.wait_status(&id, "completed")
    }

    fn agents(&self) -> Vec<Value> {
        let out = self.ok(&self.root, &["agents", "--all", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn agent(&self, id: &str) -> Value {
        self.agents()
            .into_iter()
            .find(|r| r["run_id"] == id)
            .unwrap_or_else(|| panic!("run {id} not listed"))
    }

    fn wait_status(&self, id: &str, status: &str) -> Value {
        let start = Instant::now();
        loop {
            let r = self.agent(id);
            if r["status"] == status {
                return r;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "run {id} never became {status}: {r:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn session_text(&self) -> String {
        fs::read_to_string(self.root.join(format!(".agents/sessions/{}.md", self.stem))).unwrap()
    }

    fn remove(&self, id: &str, force: bool) -> Output {
        let mut args = vec!["worktree", "remove", id];
        if force {
            args.push("--force");
        }
        self.run(&args)
    }

    fn branch_exists(&self, branch: &str) -> bool {
        self.git_succeeds(&[
            "show-ref",
            "--verify",
            "-q",
            &format!("refs/heads/{branch}"),
        ])
    }

    fn listed_worktrees(&self) -> String {
        self.git(&["worktree", "list", "--porcelain"])
    }
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn wt_of(run: &Value) -> (PathBuf, String) {
    let w = &run["worktree"];
    (
        PathBuf::from(w["path"].as_str().unwrap()),
        w["branch"].as_str().unwrap().to_string(),
    )
}

fn id_of(run: &Value) -> String {
    run["run_id"].as_str().unwrap().to_string()
}

const COMMIT: &str = "echo work > agent.txt && git add agent.txt && git commit -qm 'agent work'";

#[test]
fn spawn_in_a_worktree_records_it_and_logs_land_in_the_main_checkout() {
    let env = Env::new();
    let stem = env.stem.clone();
    let script = format!(
        "{COMMIT} && sessions log {stem} 'by name from the worktree' && sessions log .agents/sessions/{stem}.md 'by path from the worktree'"
    );
    let run = env.spawn_done(&script, &[]);
    let (path, branch) = wt_of(&run);
    let id = id_of(&run);
    assert_eq!(branch, format!("sessions/weather-fallback/dev-{id}"));
    assert_eq!(
        path,
        env.tmp
            .path()
            .join(format!("repo.worktrees/weather-fallback-dev-{id}"))
    );
    assert!(path.join("agent.txt").is_file());
    let w = &run["worktree"];
    assert_eq!(w["base"], "main");
    assert_eq!(w["ahead"], 1);
    assert_eq!(w["merged"], "not merged");
    assert_eq!(w["uncommitted"], serde_json::json!([]));
    assert_eq!(w["pushed"], false);
    let text = env.session_text();
    assert!(
        text.contains(&format!(
            "      worktree: \"../repo.worktrees/weather-fallback-dev-{id}\"\n      branch: \"{branch}\"\n      base: \"main\"\n"
        )),
        "{text}"
    );
    assert!(text.contains("by name from the worktree"), "{text}");
    assert!(text.contains("by path from the worktree"), "{text}");
    let copy = fs::read_to_string(path.join(format!(".agents/sessions/{stem}.md"))).unwrap();
    assert!(
        !copy.contains("from the worktree"),
        "the worktree's copy was edited"
    );
    // The run record names the worktree too.
    let rec: Value = serde_json::from_slice(
        &fs::read(
            env.root
                .join(format!(".agents/state/runs/{stem}/{id}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(rec["worktree"]["branch"], branch.as_str());
    assert_eq!(rec["cwd"], path.display().to_string());
    let out = env.ok(&env.root, &["agents", "--all"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&format!("{branch}, +1 ahead of main, not merged")),
        "{shown}"
    );
    // Nothing of the session machinery was written into the worktree.
    assert!(!path.join(".agents/state").exists());
    assert!(!path.join(".agents/logs").exists());
}

#[test]
fn commands_and_hooks_in_a_linked_worktree_use_the_main_checkouts_sessions() {
    let env = Env::new();
    let other = env.tmp.path().join("by-hand");
    env.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "by-hand",
        other.to_str().unwrap(),
    ]);
    // The worktree has its own committed copy; a new session made in main is not in it.
    env.ok(&env.root, &["new", "second topic"]);
    let out = env.ok(&other, &["list", "--json"]);
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 2, "{}", show(&out));
    let hook = {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sessions"));
        c.sealed();
        env.sealed_git(&mut c);
        c.current_dir(&other)
            .env("SESSIONS_PROCESS_TREE", "off")
            .args(["hook", "session-start"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        let payload = format!(
            r#"{{"session_id":"c1","cwd":"{}","hook_event_name":"SessionStart","source":"startup"}}"#,
            other.display()
        );
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let text = String::from_utf8_lossy(&hook.stdout);
    assert!(text.contains("second topic"), "{}", show(&hook));
    assert!(!other.join(".agents/state").exists());
}

#[test]
fn remove_refuses_uncommitted_edits_and_force_saves_them() {
    let env = Env::new();
    let run = env.spawn_done("echo changed >> README", &[]);
    let (path, branch) = wt_of(&run);
    let id = id_of(&run);
    assert_eq!(
        run["worktree"]["uncommitted"],
        serde_json::json!([" M README"])
    );
    let out = env.remove(&id, false);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("uncommitted changes"), "{err}");
    assert!(err.contains(" M README"), "{err}");
    assert!(path.join("README").is_file(), "refused, yet removed");
    // --force: the worktree goes, the edit is kept as a commit on top of the branch; the
    // branch had no commit of its own, so it goes too.
    let out = env.remove(&id, true);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!path.exists());
    let trash = format!("refs/sessions/trash/{id}-uncommitted");
    assert_eq!(
        env.git(&["show", &format!("{trash}:README")]),
        "hello\nchanged"
    );
    assert_eq!(
        env.git(&["rev-parse", &format!("{trash}^")]),
        env.git(&["rev-parse", "main"])
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&trash));
    assert!(!env.branch_exists(&branch));
}

#[test]
fn remove_refuses_untracked_files() {
    let env = Env::new();
    let run = env.spawn_done("mkdir -p notes && echo idea > notes/new.txt", &[]);
    let (path, _) = wt_of(&run);
    let out = env.remove(&id_of(&run), false);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("?? notes/new.txt"), "{}", show(&out));
    assert!(path.join("notes/new.txt").is_file());
}

#[test]
fn unpushed_commits_block_removal_until_pushed() {
    let env = Env::new();
    let run = env.spawn_done(COMMIT, &[]);
    let (path, branch) = wt_of(&run);
    let id = id_of(&run);
    let out = env.remove(&id, false);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("agent work"), "{}", show(&out));
    assert!(path.is_dir() && env.branch_exists(&branch));
    env.git(&["push", "-q", "-u", "origin", &branch]);
    let w = &env.agent(&id)["worktree"];
    assert_eq!(w["pushed"], true, "{w:#}");
    assert_eq!(w["upstream"], format!("origin/{branch}"));
    let out = env.remove(&id, false);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!path.exists());
    assert!(!env.branch_exists(&branch), "every commit is on the remote");
    assert!(!env.listed_worktrees().contains(path.to_str().unwrap()));
}

#[test]
fn force_keeps_the_branch_with_unmerged_commits() {
    let env = Env::new();
    let run = env.spawn_done(COMMIT, &[]);
    let (path, branch) = wt_of(&run);
    let out = env.remove(&id_of(&run), true);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!path.exists());
    assert!(env.branch_exists(&branch));
    assert_eq!(
        env.git(&["log", "-1", "--format=%s", &branch]),
        "agent work"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("git switch {branch}")));
}

#[test]
fn a_squash_merged_branch_is_seen_merged_and_removed_with_its_commits_kept() {
    let env = Env::new();
    let run = env.spawn_done(
        &format!("{COMMIT} && echo more >> agent.txt && git commit -qam 'more work'"),
        &[],
    );
    let (path, branch) = wt_of(&run);
    let id = id_of(&run);
    let tip = env.git(&["rev-parse", &branch]);
    env.git(&["merge", "-q", "--squash", &branch]);
    env.git(&["commit", "-qm", "squashed agent work"]);
    let w = &env.agent(&id)["worktree"];
    assert_eq!(w["merged"], "merged (squash)", "{w:#}");
    assert_eq!(w["ahead"], 2);
    let out = env.remove(&id, false);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!path.exists());
    assert!(!env.branch_exists(&branch));
    assert_eq!(
        env.git(&["rev-parse", &format!("refs/sessions/trash/{id}")]),
        tip
    );
}

#[test]
fn a_rebase_merged_branch_is_seen_merged() {
    let env = Env::new();
    let run = env.spawn_done(COMMIT, &[]);
    let (_, branch) = wt_of(&run);
    let id = id_of(&run);
    fs::write(env.root.join("other.txt"), "x\n").unwrap();
    env.git(&["add", "other.txt"]);
    env.git(&["commit", "-qm", "main moved on"]);
    env.git(&["cherry-pick", &branch]);
    assert_eq!(env.agent(&id)["worktree"]["merged"], "merged (rebase)");
}

#[test]
fn a_deleted_base_branch_still_counts_commits_from_the_base_commit() {
    let env = Env::new();
    env.git(&["branch", "feature"]);
    let run = env.spawn_done(COMMIT, &["--base", "feature"]);
    let id = id_of(&run);
    assert_eq!(run["worktree"]["base"], "feature");
    env.git(&["branch", "-D", "feature"]);
    let w = &env.agent(&id)["worktree"];
    assert_eq!(w["base_exists"], false, "{w:#}");
    assert_eq!(w["ahead"], 1);
    assert!(
        w["problems"].to_string().contains("base feature deleted"),
        "{w:#}"
    );
    let out = env.remove(&id, false);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("agent work"));
}

#[test]
fn a_worktree_removed_by_hand_is_reported_and_cleaned_up_keeping_the_branch() {
    let env = Env::new();
    let run = env.spawn_done(COMMIT, &[]);
    let (path, branch) = wt_of(&run);
    let id = id_of(&run);
    fs::remove_dir_all(&path).unwrap();
    let out = env.ok(&env.root, &["worktree", "list", "--json"]);
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert!(
        list[0]["problems"].to_string().contains("deleted by hand"),
        "{list:#?}"
    );
    let text =
        String::from_utf8_lossy(&env.ok(&env.root, &["worktree", "list"]).stdout).into_owned();
    assert!(text.contains("deleted by hand"), "{text}");
    // Its commit is only on its branch: refused, then --force cleans git's entry, keeps it.
    assert_eq!(env.remove(&id, false).status.code(), Some(1));
    let out = env.remove(&id, true);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!env.listed_worktrees().contains(path.to_str().unwrap()));
    assert!(env.branch_exists(&branch));
}

#[test]
fn a_branch_deleted_on_the_remote_is_reported() {
    let env = Env::new();
    let run = env.spawn_done(COMMIT, &[]);
    let (_, branch) = wt_of(&run);
    env.git(&["push", "-q", "-u", "origin", &branch]);
    env.git(&["push", "-q", "origin", "--delete", &branch]);
    let w = &env.agent(&id_of(&run))["worktree"];
    assert!(
        w["problems"]
            .to_string()
            .contains(&format!("upstream origin/{branch} deleted on the remote")),
        "{w:#}"
    );
    assert_eq!(w["pushed"], false);
}

#[test]
fn two_agents_of_one_session_get_two_worktrees_and_branches() {
    let env = Env::new();
    let runs = env.spawn(&[
        "--agent",
        "a",
        "--agent",
        "b",
        "--worktree",
        "--task",
        "both",
        "--",
        "sh",
        "-c",
        "pwd > where.txt && git add where.txt && git commit -qm \"from $(basename $PWD)\"",
    ]);
    assert_eq!(runs.len(), 2);
    let done: Vec<Value> = runs
        .iter()
        .map(|r| env.wait_status(&id_of(r), "completed"))
        .collect();
    let (pa, ba) = wt_of(&done[0]);
    let (pb, bb) = wt_of(&done[1]);
    assert_ne!(pa, pb);
    assert_ne!(ba, bb);
    for (p, b) in [(&pa, &ba), (&pb, &bb)] {
        let subject = env.git(&["log", "-1", "--format=%s", b]);
        assert_eq!(
            subject,
            format!("from {}", p.file_name().unwrap().to_string_lossy())
        );
    }
    let text = env.session_text();
    assert!(
        text.contains(&format!("branch: \"{ba}\"")) && text.contains(&format!("branch: \"{bb}\""))
    );
    let out = env.ok(&env.root, &["worktree", "list"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&id_of(&done[0])) && shown.contains(&id_of(&done[1])),
        "{shown}"
    );
}

/// Stops the run's agent whatever the test does.
struct Stop<'a>(&'a Env, String);
impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let target = format!("{}:{}", self.0.stem, self.1);
        let _ = self.0.run(&["kill", &target, "--grace", "1s"]);
    }
}

#[test]
fn cleanup_is_refused_while_the_agent_runs() {
    let env = Env::new();
    let run = env
        .spawn(&[
            "--agent",
            "dev",
            "--worktree",
            "--task",
            "wait",
            "--",
            "sh",
            "-c",
            "i=0; while [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done",
        ])
        .remove(0);
    let id = id_of(&run);
    let _stop = Stop(&env, id.clone());
    let run = env.wait_status(&id, "running");
    let (path, branch) = wt_of(&run);
    let out = env.remove(&id, true);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("still running"), "{}", show(&out));
    env.ok(&env.root, &["prune"]);
    let out = env.ok(&env.root, &["close", &env.stem, "--yes", "--force"]);
    assert!(stderr(&out).contains("still running"), "{}", show(&out));
    assert!(path.is_dir(), "removed while running");
    let out = env.run(&["kill", &format!("{}:{id}", env.stem), "--grace", "1s"]);
    assert!(out.status.success(), "{}", show(&out));
    env.wait_status(&id, "cancelled");
    // Nothing was done in it: the worktree and its branch go.
    let out = env.remove(&id, false);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!path.exists() && !env.branch_exists(&branch));
}

#[test]
fn prune_removes_clean_worktrees_and_keeps_ones_with_work() {
    let env = Env::new();
    let idle = env.spawn_done("true", &[]);
    let busy = env.spawn_done(COMMIT, &[]);
    let (idle_path, idle_branch) = wt_of(&idle);
    let (busy_path, busy_branch) = wt_of(&busy);
    let out = env.ok(&env.root, &["prune", "--dry-run"]);
    assert!(idle_path.is_dir() && busy_path.is_dir());
    assert!(String::from_utf8_lossy(&out.stdout).contains("would keep worktree"));
    let out = env.ok(&env.root, &["prune"]);
    assert!(
        !idle_path.exists() && !env.branch_exists(&idle_branch),
        "{}",
        show(&out)
    );
    assert!(busy_path.is_dir() && env.branch_exists(&busy_branch));
    assert!(stderr(&out).contains("agent work"), "{}", show(&out));
    // The busy run's record is kept: it is what knows the worktree.
    let listed = env.ok(&env.root, &["worktree", "list", "--json"]);
    let list: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["run_id"], id_of(&busy).as_str());
}

#[test]
fn close_removes_the_sessions_clean_worktrees() {
    let env = Env::new();
    let run = env.spawn_done("true", &[]);
    let (path, branch) = wt_of(&run);
    env.ok(&env.root, &["close", &env.stem, "--yes"]);
    assert!(!path.exists() && !env.branch_exists(&branch));
}

#[test]
fn existing_branches_and_bad_bases_are_refused_before_anything_runs() {
    let env = Env::new();
    for args in [
        vec!["--branch", "main"],
        vec!["--base", "no-such-ref"],
        vec!["--branch", "bad..name"],
    ] {
        let mut all = vec!["spawn", env.stem.as_str(), "--agent", "dev", "--task", "x"];
        all.extend(args.iter().copied());
        all.extend(["--", "sh", "-c", "touch ran"]);
        let out = env.run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        assert!(!stderr(&out).contains("panicked"));
    }
    assert!(!env.session_text().contains("spawned_agents"));
    assert_eq!(env.listed_worktrees().matches("worktree ").count(), 1);
    assert_eq!(env.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "main");
}

#[test]
fn worktree_true_in_the_config_spawns_into_a_worktree_in_the_configured_place() {
    let env = Env::new();
    let config = env.root.join(".agents/config.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "{text}\nworktree_dir: ../trees\n",
        )
        .replace(
            "agents:\n",
            "agents:\n  dev:\n    command: [sh, -c, \"git commit -q --allow-empty -m from-config\"]\n    worktree: true\n",
        ),
    )
    .unwrap();
    let run = env.spawn(&["--agent", "dev", "--task", "x"]).remove(0);
    let run = env.wait_status(&id_of(&run), "completed");
    let (path, branch) = wt_of(&run);
    assert!(path.starts_with(env.tmp.path().join("trees")), "{path:?}");
    assert_eq!(
        env.git(&["log", "-1", "--format=%s", &branch]),
        "from-config"
    );
}

/// Rewrites the run record of `id` with `edit` (to stand in for a record naming a branch
/// sessions must not delete).
fn edit_record(env: &Env, id: &str, edit: impl FnOnce(&mut Value)) {
    let path = env
        .root
        .join(format!(".agents/state/runs/{}/{id}.json", env.stem));
    let mut rec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut rec);
    fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
}

#[test]
fn a_branch_sessions_did_not_create_is_never_deleted() {
    let env = Env::new();
    let run = env.spawn_done(COMMIT, &[]);
    let (path, branch) = wt_of(&run);
    let id = id_of(&run);
    env.git(&["push", "-q", "-u", "origin", &branch]);
    edit_record(&env, &id, |r| {
        r["worktree"]["created_branch"] = false.into()
    });
    let out = env.remove(&id, false);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!path.exists());
    assert!(
        env.branch_exists(&branch),
        "deleted a branch it did not create"
    );
}

#[test]
fn the_default_and_checked_out_branches_are_never_deleted() {
    let env = Env::new();
    let run = env.spawn_done("true", &[]);
    let (path, _) = wt_of(&run);
    let id = id_of(&run);
    // A record naming `main` (the default branch, checked out in the main worktree), whose
    // commits are all on the remote: everything but the guard says "delete it".
    edit_record(&env, &id, |r| r["worktree"]["branch"] = "main".into());
    let out = env.remove(&id, false);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!path.exists());
    assert!(env.branch_exists("main"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept branch main"));
}

#[test]
fn commits_on_a_detached_head_in_the_worktree_are_at_risk_and_kept_by_force() {
    let env = Env::new();
    let run = env.spawn_done(&format!("git checkout -q --detach && {COMMIT}"), &[]);
    let id = id_of(&run);
    let head = env.git_in(&wt_of(&run).0, &["rev-parse", "HEAD"]);
    let out = env.remove(&id, false);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("agent work"), "{}", show(&out));
    let out = env.remove(&id, true);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        env.git(&["rev-parse", &format!("refs/sessions/trash/{id}-head")]),
        head
    );
}

#[test]
fn a_sessions_worktree_without_a_run_record_is_reported_and_left_alone() {
    let env = Env::new();
    let run = env.spawn_done("true", &[]);
    let (path, _) = wt_of(&run);
    let rec = env.root.join(format!(
        ".agents/state/runs/{}/{}.json",
        env.stem,
        id_of(&run)
    ));
    fs::remove_file(rec).unwrap();
    let out = env.ok(&env.root, &["worktree", "list"]);
    assert!(stderr(&out).contains("has no run record"), "{}", show(&out));
    env.ok(&env.root, &["prune"]);
    assert!(path.is_dir());
}

#[test]
fn spawn_says_when_installed_hooks_are_not_in_the_worktree() {
    let env = Env::new();
    let quiet = env.ok(
        &env.root,
        &[
            "spawn",
            &env.stem,
            "--agent",
            "a",
            "--worktree",
            "--task",
            "x",
            "--",
            "true",
        ],
    );
    assert!(!stderr(&quiet).contains("hooks"), "{}", show(&quiet));
    env.ok(&env.root, &["hooks", "install", "--agent", "claude"]);
    let out = env.ok(
        &env.root,
        &[
            "spawn",
            &env.stem,
            "--agent",
            "b",
            "--worktree",
            "--task",
            "x",
            "--",
            "true",
        ],
    );
    assert!(
        stderr(&out).contains(".claude/settings.json differs in the worktree"),
        "{}",
        show(&out)
    );
}

#[test]
fn agents_dir_names_the_main_checkouts_agents_dir_from_a_worktree() {
    let env = Env::new();
    let run = env.spawn_done("echo AGENTS={agents_dir} CWD=$PWD", &[]);
    let log = fs::read_to_string(env.root.join(run["log"].as_str().unwrap())).unwrap();
    let (path, _) = wt_of(&run);
    assert!(
        log.contains(&format!(
            "AGENTS={} CWD={}",
            env.root.join(".agents").display(),
            path.display()
        )),
        "{log}"
    );
}

/// Looking at a worktree (`agents` runs `git status` there on every call) never takes the
/// index lock from under the agent: its own commits all succeed while `agents` polls.
#[test]
fn looking_at_a_worktree_never_breaks_the_agents_own_git() {
    let env = Env::new();
    let script = "for i in $(seq 1 30); do echo $i > n.txt && git add n.txt && git commit -qm \"n $i\" || exit 9; done";
    let run = env.spawn_done(script, &[]);
    assert_eq!(run["exit_code"], 0, "{run:#}");
    assert_eq!(run["worktree"]["ahead"], 30, "{run:#}");
}
