//! Linked git worktrees for spawned agents (`spawn --worktree`): finding the main checkout from
//! a linked worktree's files, creating a worktree on a new branch, telling what is in it
//! (commits ahead, uncommitted files, merged or pushed), and removing it without ever losing a
//! commit or an edit. See `docs/worktrees.md` for the flow and each protection.
//!
//! Everything but [`main_checkout`] goes through the `git` command line: it is what the person
//! runs, it honours their hooks, config and credentials, and `git worktree add/remove` keep
//! their own safety checks. This module must never run `git worktree prune`, nor touch a
//! worktree, branch or ref it did not record creating.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::agents::record::Worktree;
use crate::error::{Error, Result};
use crate::store::{self, Repo};

/// Where trash refs go: `refs/sessions/trash/<run>` keeps a removed branch's tip,
/// `refs/sessions/trash/<run>-uncommitted` a snapshot of edits `--force` removed.
pub const TRASH: &str = "refs/sessions/trash";

/// Default place of the agents' worktrees, relative to the repository root: beside the
/// repository, not inside it, so tools that walk the tree never see the copies.
pub const DEFAULT_DIR: &str = "../{repo}.worktrees";

/// The main checkout of the linked worktree at `dir`, read from files: `dir/.git` is a file
/// `gitdir: <common>/worktrees/<id>` and that directory has a `commondir`. `None` for a main
/// checkout, a submodule (its git dir has no `commondir`), a bare repository's worktree, or
/// anything unreadable.
pub fn main_checkout(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    let meta = fs::symlink_metadata(&dot_git).ok()?;
    if !meta.is_file() || meta.len() > 4096 {
        return None;
    }
    let text = fs::read_to_string(&dot_git).ok()?;
    let gitdir = text.strip_prefix("gitdir:")?.trim();
    let gitdir = store::absolute(&dir.join(gitdir));
    let common = fs::read_to_string(gitdir.join("commondir")).ok()?;
    let common = store::absolute(&gitdir.join(common.trim()));
    if common.file_name()? != ".git" {
        return None;
    }
    common.parent().map(Path::to_path_buf)
}

/// Runs `git -C dir ARGS`; its trimmed stdout, or an error with git's own message.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        // Looking (`git status` refreshes the index) must never take `index.lock` from under
        // the agent working in the worktree: its own `git commit` would fail.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Usage(format!("cannot run git: {e}; worktrees need git on PATH")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        let msg = String::from_utf8_lossy(&out.stderr);
        let msg = msg.trim();
        Err(Error::Usage(format!(
            "git {} failed: {}",
            args.join(" "),
            if msg.is_empty() { "no message" } else { msg }
        )))
    }
}

/// `git … ` that only answers yes or no (exit status).
fn git_ok(dir: &Path, args: &[&str]) -> bool {
    git(dir, args).is_ok()
}

/// The commit `rev` names, if it names one.
fn commit_of(dir: &Path, rev: &str) -> Option<String> {
    git(
        dir,
        &["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")],
    )
    .ok()
}

fn branch_ref(branch: &str) -> String {
    format!("refs/heads/{branch}")
}

/// Characters a branch or directory name can take from an agent name or slug.
fn name_part(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let out = out.trim_matches(|c| c == '.' || c == '-').to_string();
    if out.is_empty() { "agent".into() } else { out }
}

/// What `spawn --worktree` asks for.
pub struct Request<'a> {
    /// The session's slug (its stem without the timestamp).
    pub slug: &'a str,
    pub agent: &'a str,
    pub run_id: &'a str,
    pub branch: Option<&'a str>,
    pub base: Option<&'a str>,
    /// `worktree_dir` from the config (relative to the repository root; `{repo}` is its name).
    pub dir: Option<&'a str>,
}

/// Decides the worktree's path, branch and base, checking that git can create them; creates
/// nothing (see [`create`]).
pub fn plan(repo: &Repo, req: &Request) -> Result<Worktree> {
    let here = &repo.worktree;
    if !git_ok(here, &["rev-parse", "--git-dir"]) {
        return Err(Error::Usage(format!(
            "--worktree needs a git repository, and {} is not in one",
            here.display()
        )));
    }
    let base = match req.base {
        Some(b) => b.to_string(),
        None => git(here, &["symbolic-ref", "-q", "--short", "HEAD"])
            .unwrap_or_else(|_| "HEAD".to_string()),
    };
    let Some(base_commit) = commit_of(here, &base) else {
        return Err(Error::Usage(if req.base.is_some() {
            format!("--base {base} does not name a commit")
        } else {
            "the repository has no commit yet; commit once before spawning into a worktree".into()
        }));
    };
    // A name is kept only when it names a ref (`main`, `v1.2`, `origin/main`); `HEAD~2` or a
    // commit would mean something else later, so the commit is the base then.
    let base = match git(here, &["rev-parse", "--symbolic-full-name", &base]) {
        Ok(full) if full.starts_with("refs/") => base,
        _ => base_commit.clone(),
    };
    let branch = match req.branch {
        Some(b) => b.to_string(),
        None => format!(
            "sessions/{}/{}-{}",
            name_part(req.slug),
            name_part(req.agent),
            req.run_id
        ),
    };
    if !git_ok(here, &["check-ref-format", "--branch", &branch]) {
        return Err(Error::Usage(format!(
            "`{branch}` is not a valid branch name"
        )));
    }
    if git_ok(here, &["show-ref", "--verify", "-q", &branch_ref(&branch)]) {
        return Err(Error::Usage(format!(
            "branch {branch} already exists; sessions only works on branches it creates (name a new one with --branch)"
        )));
    }
    let repo_name = repo
        .root
        .file_name()
        .map_or_else(|| "repo".into(), |n| n.to_string_lossy().into_owned());
    let dir = req.dir.unwrap_or(DEFAULT_DIR).replace("{repo}", &repo_name);
    let dir = store::absolute(&repo.root.join(dir));
    let path = dir.join(format!(
        "{}-{}-{}",
        name_part(req.slug),
        name_part(req.agent),
        req.run_id
    ));
    if fs::symlink_metadata(&path).is_ok() {
        return Err(Error::Usage(format!(
            "{} already exists; not putting a worktree there",
            path.display()
        )));
    }
    Ok(Worktree {
        path,
        branch,
        base,
        base_commit,
        created_branch: true,
        removed: false,
    })
}

/// `git worktree add -b BRANCH PATH BASE_COMMIT`.
pub fn create(repo: &Repo, wt: &Worktree) -> Result<()> {
    if let Some(parent) = wt.path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
    }
    let path = wt.path.to_string_lossy();
    git(
        &repo.root,
        &[
            "worktree",
            "add",
            "--quiet",
            "--no-track",
            "-b",
            &wt.branch,
            &path,
            &wt.base_commit,
        ],
    )
    .map(drop)
}

/// Undoes [`create`] for a spawn that gave up before its agent started: nothing can be in the
/// worktree yet, and git refuses anyway if something is.
pub fn undo_create(repo: &Repo, wt: &Worktree) {
    let path = wt.path.to_string_lossy();
    if git(&repo.root, &["worktree", "remove", &path]).is_ok()
        && commit_of(&repo.root, &branch_ref(&wt.branch)).as_deref() == Some(&wt.base_commit)
    {
        let _ = git(&repo.root, &["branch", "-D", &wt.branch]);
    }
}

/// A commit that exists only on the worktree's branch (or its detached HEAD).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commit {
    pub id: String,
    pub subject: String,
}

/// What a worktree holds now, as `agents` and `worktree list` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct State {
    pub path: PathBuf,
    pub branch: String,
    pub base: String,
    pub base_commit: String,
    /// The directory is there.
    pub exists: bool,
    /// git knows the worktree (`git worktree list`).
    pub registered: bool,
    pub branch_exists: bool,
    /// `false` when the base branch was deleted (commits ahead then count from `base_commit`).
    pub base_exists: bool,
    /// Commits on the branch since the base commit.
    pub ahead: Option<usize>,
    /// `git status --porcelain` lines: modified, staged, deleted and untracked files.
    pub uncommitted: Vec<String>,
    /// `merged`, `merged (rebase)`, `merged (squash)`, `not merged`, `no commits`, `unknown`.
    pub merged: &'static str,
    /// The branch it was found merged into (the base, else the default branch).
    pub merged_into: Option<String>,
    pub upstream: Option<String>,
    /// The branch has an upstream that has all its commits.
    pub pushed: bool,
    /// Commits reachable from no other branch, tag or remote-tracking branch: what deleting
    /// the branch would lose.
    pub only_here: Vec<Commit>,
    /// Orphans and other surprises, in words ("directory deleted by hand", …).
    pub problems: Vec<String>,
}

impl State {
    /// `sessions/x/claude-1a2b  +3 ahead of main, 2 uncommitted, merged (squash), pushed`.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.branch.clone()];
        if let Some(a) = self.ahead {
            let base = if self.base_exists {
                self.base.clone()
            } else {
                format!("{} (deleted)", self.base)
            };
            parts.push(format!("+{a} ahead of {base}"));
        }
        if !self.uncommitted.is_empty() {
            parts.push(format!("{} uncommitted", self.uncommitted.len()));
        }
        parts.push(self.merged.to_string());
        if self.pushed {
            parts.push("pushed".into());
        } else if self.upstream.is_some() {
            parts.push("not pushed".into());
        }
        parts.extend(self.problems.iter().cloned());
        parts.join(", ")
    }
}

/// The default branch: `origin/HEAD`'s target, else `init.defaultBranch`, else `main` or
/// `master` when it exists.
fn default_branch(root: &Path) -> Option<String> {
    if let Ok(r) = git(
        root,
        &["symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"],
    ) {
        return Some(r.strip_prefix("origin/").unwrap_or(&r).to_string());
    }
    if let Ok(b) = git(root, &["config", "init.defaultBranch"]) {
        return Some(b);
    }
    ["main", "master"]
        .into_iter()
        .find(|b| git_ok(root, &["show-ref", "--verify", "-q", &branch_ref(b)]))
        .map(str::to_owned)
}

/// Branches that are never deleted: the default branch and every checked-out branch (of the
/// main worktree and of any other worktree but `except`).
fn protected_branches(root: &Path, except: &Path) -> Vec<String> {
    let mut out: Vec<String> = default_branch(root).into_iter().collect();
    for w in worktrees(root) {
        if w.path != except
            && let Some(b) = w.branch
        {
            out.push(b);
        }
    }
    out
}

struct Listed {
    path: PathBuf,
    branch: Option<String>,
    head: Option<String>,
}

/// `git worktree list --porcelain`.
fn worktrees(root: &Path) -> Vec<Listed> {
    let Ok(text) = git(root, &["worktree", "list", "--porcelain"]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut w = Listed {
            path: PathBuf::new(),
            branch: None,
            head: None,
        };
        for line in block.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                w.path = PathBuf::from(p);
            } else if let Some(b) = line.strip_prefix("branch ") {
                w.branch = Some(b.strip_prefix("refs/heads/").unwrap_or(b).to_string());
            } else if let Some(h) = line.strip_prefix("HEAD ") {
                w.head = Some(h.to_string());
            }
        }
        if !w.path.as_os_str().is_empty() {
            out.push(w);
        }
    }
    out
}

/// Worktrees on a `sessions/…` branch that no run record names (its record was deleted by
/// hand, say): `(path, branch)`, reported, never touched.
pub fn unrecorded(repo: &Repo, known: &[&Path]) -> Vec<(PathBuf, String)> {
    worktrees(&repo.root)
        .into_iter()
        .filter_map(|w| Some((w.path, w.branch?)))
        .filter(|(p, b)| b.starts_with("sessions/") && !known.iter().any(|k| same_path(k, p)))
        .collect()
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

/// Looks at the worktree of a run: everything [`State`] says. Never changes anything.
pub fn inspect(repo: &Repo, wt: &Worktree) -> State {
    let root = &repo.root;
    let bref = branch_ref(&wt.branch);
    let listed = worktrees(root)
        .into_iter()
        .find(|w| same_path(&w.path, &wt.path));
    let exists = wt.path.is_dir();
    let tip = commit_of(root, &bref);
    let base_now = commit_of(root, &wt.base);
    let base_exists = base_now.is_some() && wt.base != wt.base_commit;
    let mut problems = Vec::new();
    if !exists {
        problems.push("worktree directory deleted by hand".to_string());
    } else if listed.is_none() {
        problems.push("git no longer knows this worktree".to_string());
    }
    if tip.is_none() {
        problems.push(format!("branch {} deleted", wt.branch));
    }
    if !base_exists && wt.base != wt.base_commit {
        problems.push(format!("base {} deleted", wt.base));
    }
    let ahead = tip.as_ref().and_then(|_| {
        git(
            root,
            &[
                "rev-list",
                "--count",
                &format!("{}..{bref}", wt.base_commit),
            ],
        )
        .ok()?
        .parse()
        .ok()
    });
    let uncommitted = if exists && listed.is_some() {
        git(
            &wt.path,
            &["status", "--porcelain=v1", "--untracked-files=all"],
        )
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_else(|e| {
            problems.push(format!("cannot read its status: {e}"));
            vec!["(status unknown)".to_string()]
        })
    } else {
        Vec::new()
    };
    let target = if base_exists {
        Some(wt.base.clone())
    } else {
        default_branch(root).filter(|b| *b != wt.branch)
    };
    let (merged, merged_into) = match (&tip, &target, ahead) {
        (None, _, _) => ("unknown", None),
        (_, _, Some(0)) => ("no commits", None),
        (_, None, _) => ("unknown", None),
        (Some(_), Some(t), _) => {
            let state = merge_state(root, t, &bref);
            (state, (state != "not merged").then(|| t.clone()))
        }
    };
    let (upstream, pushed) = if tip.is_some() {
        upstream(root, &wt.branch, &mut problems)
    } else {
        (None, false)
    };
    let head = listed.as_ref().and_then(|w| w.head.clone());
    State {
        path: wt.path.clone(),
        branch: wt.branch.clone(),
        base: wt.base.clone(),
        base_commit: wt.base_commit.clone(),
        exists,
        registered: listed.is_some(),
        branch_exists: tip.is_some(),
        base_exists,
        ahead,
        uncommitted,
        merged,
        merged_into,
        upstream,
        pushed,
        only_here: only_here(root, &wt.branch, tip.as_deref(), head.as_deref()),
        problems,
    }
}

/// Whether `branch` is in `target`: by ancestry, by the patch ids of each of its commits
/// (`git cherry`: a rebase or cherry-pick merge), or because merging it would change nothing
/// (`git merge-tree`: a squash merge).
fn merge_state(root: &Path, target: &str, branch: &str) -> &'static str {
    if git_ok(root, &["merge-base", "--is-ancestor", branch, target]) {
        return "merged";
    }
    if let Ok(lines) = git(root, &["cherry", target, branch])
        && !lines.is_empty()
        && lines.lines().all(|l| l.starts_with('-'))
    {
        return "merged (rebase)";
    }
    if let (Ok(merged), Some(tree)) = (
        git(root, &["merge-tree", "--write-tree", target, branch]),
        commit_of(root, target)
            .and_then(|c| git(root, &["rev-parse", &format!("{c}^{{tree}}")]).ok()),
    ) && merged.lines().next() == Some(tree.as_str())
    {
        return "merged (squash)";
    }
    "not merged"
}

/// The branch's upstream and whether it has every commit of the branch; a deleted upstream is
/// a problem.
fn upstream(root: &Path, branch: &str, problems: &mut Vec<String>) -> (Option<String>, bool) {
    let bref = branch_ref(branch);
    let track = git(
        root,
        &[
            "for-each-ref",
            "--format=%(upstream:short)\t%(upstream:track)",
            &bref,
        ],
    )
    .unwrap_or_default();
    let (name, track) = track.split_once('\t').unwrap_or((&track, ""));
    if name.is_empty() {
        return (None, false);
    }
    if track.contains("gone") {
        problems.push(format!("upstream {name} deleted on the remote"));
        return (Some(name.to_string()), false);
    }
    let pushed =
        git(root, &["rev-list", "--count", &format!("{name}..{bref}")]).is_ok_and(|n| n == "0");
    (Some(name.to_string()), pushed)
}

/// Commits reachable from the branch tip or the worktree's HEAD and from no other branch, tag
/// or remote-tracking branch.
fn only_here(root: &Path, branch: &str, tip: Option<&str>, head: Option<&str>) -> Vec<Commit> {
    let mut args = vec!["log", "--format=%h%x09%s"];
    args.extend(tip);
    args.extend(head.filter(|h| Some(*h) != tip));
    if args.len() == 2 {
        return Vec::new();
    }
    let exclude = format!("--exclude={branch}");
    args.extend(["--not", &exclude, "--branches", "--tags", "--remotes"]);
    let Ok(text) = git(root, &args) else {
        return vec![Commit {
            id: "?".into(),
            subject: "(cannot list the branch's commits)".into(),
        }];
    };
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(id, subject)| Commit {
            id: id.to_string(),
            subject: subject.to_string(),
        })
        .collect()
}

/// What a removal did.
#[derive(Debug, Default, Serialize)]
pub struct Removed {
    /// Lines for the person: what went, what was kept and how to get it back.
    pub notes: Vec<String>,
}

/// Removes the worktree of run `run_id` when nothing can be lost: no uncommitted or untracked
/// files, and every commit of its branch reachable from another branch, tag or remote (or, for
/// a branch merged by rebase or squash, kept under a trash ref). Otherwise a check error that
/// lists exactly what would be lost. With `force`, uncommitted files are saved as a commit
/// under a trash ref and the branch is kept; no commit is ever deleted.
///
/// The caller checks that the run is over.
pub fn remove(repo: &Repo, run_id: &str, wt: &Worktree, force: bool) -> Result<Removed> {
    let root = &repo.root;
    let st = inspect(repo, wt);
    let mut done = Removed::default();
    if st.exists && !st.registered {
        return Err(Error::Check(format!(
            "{} is not a git worktree any more (git lost track of it); look inside and delete it by hand if nothing there is needed",
            wt.path.display()
        )));
    }
    let merged = st.merged.starts_with("merged");
    let commits_at_risk = !st.only_here.is_empty() && !merged;
    if !force && (!st.uncommitted.is_empty() || commits_at_risk) {
        let mut lost = Vec::new();
        if !st.uncommitted.is_empty() {
            lost.push(format!(
                "uncommitted changes in {}:\n{}",
                wt.path.display(),
                indent(&st.uncommitted)
            ));
        }
        if commits_at_risk {
            let lines: Vec<String> = st
                .only_here
                .iter()
                .map(|c| format!("{} {}", c.id, c.subject))
                .collect();
            lost.push(format!(
                "commits on no other branch, tag or remote (push or merge them first):\n{}",
                indent(&lines)
            ));
        }
        return Err(Error::Check(format!(
            "not removing the worktree of run {run_id} ({}): it would lose\n{}\n`sessions worktree remove {run_id} --force` removes the worktree but keeps every commit and saves the uncommitted changes under {TRASH}/",
            wt.branch,
            lost.join("\n")
        )));
    }
    if !st.uncommitted.is_empty() {
        let trash = format!("{TRASH}/{run_id}-uncommitted");
        let commit = snapshot(&wt.path, run_id)?;
        git(root, &["update-ref", &trash, &commit])?;
        done.notes.push(format!(
            "saved {} uncommitted file(s) as commit {} under {trash}; get them back with `git checkout {trash} -- .` or `git cherry-pick {trash}`",
            st.uncommitted.len(),
            &commit[..commit.len().min(12)]
        ));
    }
    // A detached HEAD's own commits are on no branch: keep them too.
    let head_only = st.only_here.iter().any(|c| {
        !git_ok(
            root,
            &[
                "merge-base",
                "--is-ancestor",
                &c.id,
                &branch_ref(&wt.branch),
            ],
        )
    });
    if head_only
        && let Some(head) = worktrees(root)
            .into_iter()
            .find(|w| same_path(&w.path, &wt.path))
            .and_then(|w| w.head)
    {
        let trash = format!("{TRASH}/{run_id}-head");
        git(root, &["update-ref", &trash, &head])?;
        done.notes.push(format!(
            "kept the worktree's detached HEAD {} under {trash} (`git branch NAME {trash}` restores it)",
            &head[..head.len().min(12)]
        ));
    }
    if st.registered {
        let path = wt.path.to_string_lossy();
        let mut args = vec!["worktree", "remove"];
        if !st.uncommitted.is_empty() {
            // Only after the snapshot above: nothing in it is lost.
            args.push("--force");
        }
        args.push(&path);
        git(root, &args)?;
        done.notes
            .push(format!("removed worktree {}", wt.path.display()));
    }
    if !st.branch_exists {
        return Ok(done);
    }
    let protected = protected_branches(root, &wt.path);
    if !wt.created_branch || protected.contains(&wt.branch) {
        done.notes.push(format!(
            "kept branch {} (sessions did not create it, or it is the default or a checked-out branch)",
            wt.branch
        ));
        return Ok(done);
    }
    if commits_at_risk {
        done.notes.push(format!(
            "kept branch {} with {} commit(s) on no other branch; `git switch {}` to continue, `git branch -D {}` once they are not needed",
            wt.branch,
            st.only_here.len(),
            wt.branch,
            wt.branch
        ));
        return Ok(done);
    }
    if !st.only_here.is_empty() {
        // Merged by rebase or squash: the content is in, the commits themselves are not.
        let trash = format!("{TRASH}/{run_id}");
        git(root, &["update-ref", &trash, &branch_ref(&wt.branch)])?;
        done.notes.push(format!(
            "branch {} is {} into {}; its commits are kept under {trash} (`git branch {} {trash}` restores it)",
            wt.branch,
            st.merged,
            st.merged_into.as_deref().unwrap_or("?"),
            wt.branch
        ));
    }
    git(root, &["branch", "-D", "--quiet", &wt.branch])?;
    done.notes.push(format!("deleted branch {}", wt.branch));
    Ok(done)
}

/// A commit of everything in the worktree (tracked edits and untracked files), made through a
/// temporary index so the worktree's own index and HEAD are untouched.
fn snapshot(path: &Path, run_id: &str) -> Result<String> {
    let tmp = tempfile::tempdir().map_err(|e| Error::write(path, e))?;
    let index = tmp.path().join("index");
    let with_index = |args: &[&str]| -> Result<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(path)
            .args(args)
            .env("GIT_INDEX_FILE", &index)
            .env("GIT_OPTIONAL_LOCKS", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Error::Usage(format!("cannot run git: {e}")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(Error::Usage(format!(
                "git {} failed: {}; nothing was removed",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    with_index(&["read-tree", "HEAD"])?;
    with_index(&["add", "-A", "--", "."])?;
    let tree = with_index(&["write-tree"])?;
    let message = format!("sessions: uncommitted changes of run {run_id}, saved before removal");
    git(path, &["commit-tree", &tree, "-p", "HEAD", "-m", &message])
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn main_checkout_is_read_from_the_git_file_and_commondir() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("repo");
        let admin = main.join(".git/worktrees/wt");
        write(&admin.join("commondir"), "../..\n");
        let linked = tmp.path().join("wt");
        write(
            &linked.join(".git"),
            &format!("gitdir: {}\n", admin.display()),
        );
        assert_eq!(main_checkout(&linked), Some(main.clone()));
        // A relative gitdir (`git worktree add --relative-paths`) works too.
        let rel = tmp.path().join("rel");
        write(&rel.join(".git"), "gitdir: ../repo/.git/worktrees/wt\n");
        assert_eq!(main_checkout(&rel), Some(main.clone()));
        // The main checkout itself (a `.git` directory) is no linked worktree.
        assert_eq!(main_checkout(&main), None);
    }

    #[test]
    fn submodules_and_bare_repositories_keep_their_own_root() {
        let tmp = tempfile::tempdir().unwrap();
        // A submodule's git dir has no commondir.
        let sub = tmp.path().join("super/sub");
        fs::create_dir_all(tmp.path().join("super/.git/modules/sub")).unwrap();
        write(&sub.join(".git"), "gitdir: ../.git/modules/sub\n");
        assert_eq!(main_checkout(&sub), None);
        // A worktree of a bare repository has no main checkout.
        let admin = tmp.path().join("bare.git/worktrees/w");
        write(&admin.join("commondir"), "../..\n");
        let w = tmp.path().join("w");
        write(&w.join(".git"), &format!("gitdir: {}\n", admin.display()));
        assert_eq!(main_checkout(&w), None);
        // Garbage is ignored.
        let junk = tmp.path().join("junk");
        write(&junk.join(".git"), "not a gitdir line\n");
        assert_eq!(main_checkout(&junk), None);
    }

    #[test]
    fn generated_names_are_safe_for_refs_and_paths() {
        assert_eq!(name_part("back end/dev"), "back-end-dev");
        assert_eq!(name_part("..x.."), "x");
        assert_eq!(name_part("***"), "agent");
    }
}
