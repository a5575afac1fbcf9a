//! The session-file side of a run: the `orchestration.spawned_agents` entry written at spawn,
//! and the outcome written back when the run ends. Every change is an [`Op`] for the lossless
//! edit engine, applied under the session file's lock (`write::edit_file`), so comments, key
//! order and whatever a person wrote meanwhile survive.
//!
//! An entry is found by its `run_id` (entries written by hand or by older versions: by `log`).
//! Writing an outcome twice is harmless: an entry that already shows it is left alone, so a
//! supervisor and a reconciling reader that race produce one Session Log entry.

use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};

use super::output::usage_text;
use super::record::{RunRecord, RunStatus};
use crate::error::{Error, Result};
use crate::session::Document;
use crate::session::edit::{self, EditError, Op, Scalar, Seg, key_path};
use crate::session::yaml::{Kind, Node};
use crate::store::{Repo, SessionId};
use crate::write::{self, Outcome};

const AGENTS: [&str; 2] = ["orchestration", "spawned_agents"];

/// What a spawn writes: one entry per agent.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub agent: String,
    pub task: String,
    pub run_id: String,
    /// The conversation the agent is started with, when the command pre-assigns it
    /// (`--session-id {conversation_id}`); Codex's is only known once its output names it.
    pub conversation_id: Option<String>,
    /// Log path relative to the repository root, as shown in the frontmatter.
    pub log: String,
    /// Markdown link target from the session file to the log.
    pub link: String,
    /// The machine the run is launched on (see `docs/runs.md`: how a clone without the run
    /// record tells "lost" from "may be running elsewhere").
    pub host: Option<String>,
    /// More `key: value` fields for the entry, in order (`worktree`, `branch`, `base`).
    pub extra: Vec<(String, String)>,
    /// The run this one continues (`sessions send`, `restart`): `resumes: <run id>`.
    pub resumes: Option<String>,
}

/// The entries, each with a Session Log line linking its log.
pub fn spawn_ops(entries: &[NewEntry], actor: &str, at: DateTime<Utc>) -> Vec<Op> {
    let mut ops = Vec::new();
    for e in entries {
        let mut entry = vec![
            ("agent".into(), Scalar::str(&e.agent)),
            ("task".into(), Scalar::str(&e.task)),
            ("status".into(), Scalar::Plain("in_progress".into())),
            ("log".into(), Scalar::str(&e.log)),
            ("run_id".into(), Scalar::str(&e.run_id)),
        ];
        if let Some(c) = &e.conversation_id {
            entry.push(("conversation_id".into(), Scalar::str(c)));
        }
        if let Some(h) = &e.host {
            entry.push(("host".into(), Scalar::str(h)));
        }
        for (k, v) in &e.extra {
            entry.push((k.clone(), Scalar::str(v)));
        }
        if let Some(r) = &e.resumes {
            entry.push(("resumes".into(), Scalar::str(r)));
        }
        ops.push(Op::Push {
            path: key_path(&AGENTS),
            entry,
        });
        ops.push(Op::Log {
            at,
            actor: actor.to_string(),
            message: match &e.resumes {
                None => format!(
                    "Spawned agent {} (run {}): {} — [log]({})",
                    e.agent,
                    e.run_id,
                    one_line(&e.task),
                    e.link
                ),
                Some(prev) => format!(
                    "Resumed agent {} (run {}, continues run {prev}): {} — [log]({})",
                    e.agent,
                    e.run_id,
                    one_line(&e.task),
                    e.link
                ),
            },
        });
    }
    ops
}

/// Marks the entry of a run that could not be launched as failed, with the reason.
pub fn launch_failed_ops(text: &str, run_id: &str, log: &str, reason: &str) -> Vec<Op> {
    let Some(i) = find_entry(text, run_id, log) else {
        return Vec::new();
    };
    vec![
        Op::Set {
            path: field(i, "status"),
            value: Scalar::Plain("failed".into()),
        },
        Op::Set {
            path: field(i, "reason"),
            value: Scalar::str(one_line(reason)),
        },
    ]
}

/// The `log:` of an entry whose log `prune` deleted.
pub const PRUNED: &str = "pruned";

/// Index of the `spawned_agents` entry of this run: by `run_id`, else by `log`.
pub fn find_entry(text: &str, run_id: &str, log: &str) -> Option<usize> {
    let doc = Document::parse(text);
    let items = doc.value(&AGENTS).map(Node::items).unwrap_or_default();
    let by = |key: &str, want: &str| {
        items
            .iter()
            .position(|a| a.get(key).and_then(Node::as_str) == Some(want))
    };
    by("run_id", run_id).or_else(|| by("log", log))
}

fn field(index: usize, key: &str) -> Vec<Seg> {
    let mut p = key_path(&AGENTS);
    p.push(Seg::Index(index));
    p.push(Seg::Key(key.into()));
    p
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `exit 3`, `killed by SIGTERM`, `lost`, … for the Session Log line.
fn how(rec: &RunRecord) -> String {
    match (rec.status, rec.exit_code, rec.signal) {
        (RunStatus::Lost, _, _) => "lost".into(),
        (_, Some(code), _) => format!("exit {code}"),
        (_, None, Some(sig)) => nix::sys::signal::Signal::try_from(sig)
            .map_or_else(|_| format!("signal {sig}"), |s| format!("killed by {s}")),
        _ => rec
            .reason
            .clone()
            .unwrap_or_else(|| "no exit status".into()),
    }
}

/// The ops that record a finished run's outcome; empty when the entry already shows it.
pub fn finish_ops(text: &str, rec: &RunRecord, link: &str, at: DateTime<Utc>) -> Vec<Op> {
    let status = rec.status.session_status();
    let log = rec.log.to_string_lossy();
    let mut ops = Vec::new();
    match find_entry(text, &rec.id, &log) {
        Some(i) => {
            let doc = Document::parse(text);
            let entry = doc.value(&AGENTS).map(|n| &n.items()[i]);
            let current = entry.and_then(|e| e.get("status")).and_then(Node::as_str);
            if current == Some(status) {
                return ops;
            }
            ops.push(Op::Set {
                path: field(i, "status"),
                value: Scalar::Plain(status.into()),
            });
            if let Some(s) = &rec.summary {
                ops.push(Op::Set {
                    path: field(i, "summary"),
                    value: Scalar::str(s),
                });
            }
            if let Some(code) = rec.exit_code {
                ops.push(Op::Set {
                    path: field(i, "exit_code"),
                    value: Scalar::Plain(code.to_string()),
                });
            }
            if rec.status == RunStatus::Lost {
                ops.push(Op::Set {
                    path: field(i, "reason"),
                    value: Scalar::Plain("lost".into()),
                });
            }
            for (key, value) in usage_fields(rec) {
                // A value a person rewrote as a block is theirs: never fail the write-back on it.
                let scalar_or_missing = entry
                    .and_then(|e| e.get(&key))
                    .is_none_or(|v| !v.is_map() && !matches!(v.kind, Kind::Seq(_)));
                if scalar_or_missing {
                    ops.push(Op::Set {
                        path: field(i, &key),
                        value,
                    });
                }
            }
        }
        None => {
            // The entry was removed by hand: the file still gets the truth about the run.
            let mut entry = vec![
                ("agent".into(), Scalar::str(&rec.agent)),
                ("task".into(), Scalar::str(&rec.task)),
                ("status".into(), Scalar::Plain(status.into())),
                ("log".into(), Scalar::str(log.as_ref())),
                ("run_id".into(), Scalar::str(&rec.id)),
            ];
            if let Some(c) = &rec.conversation_id {
                entry.push(("conversation_id".into(), Scalar::str(c)));
            }
            if let Some(s) = &rec.summary {
                entry.push(("summary".into(), Scalar::str(s)));
            }
            if let Some(code) = rec.exit_code {
                entry.push(("exit_code".into(), Scalar::Plain(code.to_string())));
            }
            if rec.status == RunStatus::Lost {
                entry.push(("reason".into(), Scalar::Plain("lost".into())));
            }
            entry.extend(
                usage_fields(rec)
                    .into_iter()
                    .filter(|(k, _)| k != "conversation_id"),
            );
            ops.push(Op::Push {
                path: key_path(&AGENTS),
                entry,
            });
        }
    }
    let summary = rec
        .summary
        .as_deref()
        .map(|s| format!(": {}", one_line(s)))
        .unwrap_or_default();
    let usage = usage_text(rec.cost_usd, rec.tokens, rec.turns)
        .map(|u| format!("; {u}"))
        .unwrap_or_default();
    ops.push(Op::Log {
        at,
        actor: rec.agent.clone(),
        message: format!(
            "Agent {} {} ({}{usage}){summary} — [log]({link})",
            rec.agent,
            status,
            how(rec)
        ),
    });
    ops
}

/// The entry's `conversation_id`, `cost_usd`, `tokens` and `turns`, as far as the run knows
/// them. `tokens` is a flow mapping, `{input: N, output: N}`.
fn usage_fields(rec: &RunRecord) -> Vec<(String, Scalar)> {
    let mut out = Vec::new();
    if let Some(c) = &rec.conversation_id {
        out.push(("conversation_id".into(), Scalar::str(c)));
    }
    if let Some(c) = rec.cost_usd {
        out.push(("cost_usd".into(), Scalar::Plain(c.to_string())));
    }
    if let Some(t) = rec.tokens {
        out.push((
            "tokens".into(),
            Scalar::Plain(format!("{{input: {}, output: {}}}", t.input, t.output)),
        ));
    }
    if let Some(n) = rec.turns {
        out.push(("turns".into(), Scalar::Plain(n.to_string())));
    }
    out
}

/// A run's output named its conversation id while it runs (Codex's `thread.started`; Claude's
/// and Gemini's confirm the pre-assigned one): record it, put it in the session file's entry,
/// and bind the conversation to the session unless it is bound already. Best effort: the
/// run goes on whatever fails here (the write-back at exit records the id again).
pub fn conversation_found(record_path: &Path, id: &str) {
    let Ok((rec, changed)) = super::record::update_if(record_path, |r| {
        if r.conversation_id.as_deref() == Some(id) {
            return false;
        }
        r.conversation_id = Some(id.to_string());
        true
    }) else {
        return;
    };
    let now = Utc::now();
    if changed && let Some(path) = session_file(&rec) {
        let repo = Repo::at(rec.root.clone());
        let log = rec.log.to_string_lossy().into_owned();
        let _ = edit(&repo, &crate::store::absolute(&path), now, |text| {
            conversation_ops(text, &rec.id, &log, id)
        });
    }
    ensure_bound(&rec, now);
}

/// Sets the entry's `conversation_id` to `id` (nothing when the entry is gone or shows it).
pub fn conversation_ops(text: &str, run_id: &str, log: &str, id: &str) -> Vec<Op> {
    let Some(i) = find_entry(text, run_id, log) else {
        return Vec::new();
    };
    vec![Op::Set {
        path: field(i, "conversation_id"),
        value: Scalar::str(id),
    }]
}

/// Binds the run's conversation to its session file, unless the conversation is bound
/// already (a later `sessions resume` by the agent wins over the spawn).
pub fn ensure_bound(rec: &RunRecord, now: DateTime<Utc>) {
    let (Some(id), Some(path)) = (rec.conversation_id.as_deref(), session_file(rec)) else {
        return;
    };
    let repo = Repo::at(rec.root.clone());
    if crate::binding::lookup(&repo, id).is_some() {
        return;
    }
    let _ = crate::binding::bind_run(
        &repo,
        id,
        &crate::store::absolute(&path),
        bound_run(rec),
        &crate::session::edit::timestamp(now),
    );
}

/// What a binding remembers of the run it was made for.
pub fn bound_run(rec: &RunRecord) -> crate::binding::BoundRun {
    crate::binding::BoundRun {
        agent: rec.agent.clone(),
        run_id: rec.id.clone(),
        task: rec.task.clone(),
    }
}

/// The session file a run belongs to: where it was at spawn, else the sessions directory
/// (or its archive) by stem. `None` when it has been deleted, or is another machine's.
pub fn session_file(rec: &RunRecord) -> Option<PathBuf> {
    if rec.owner.is_some() {
        // Another machine's entry: that machine writes it (see `RunRecord::owner`).
        return None;
    }
    let repo = Repo::at(rec.root.clone());
    let name = SessionId::from_record(&rec.session).file_name();
    rec.session_file
        .clone()
        .into_iter()
        .chain([
            repo.sessions_dir().join(&name),
            repo.archive_dir().join(&name),
        ])
        .find(|p| p.is_file())
}

/// A Markdown link target from the file `from` to `to` (both absolute): `../logs/x/a.log`.
pub fn link_target(from: &Path, to: &Path) -> String {
    let base: Vec<Component> = from.parent().unwrap_or(from).components().collect();
    let target: Vec<Component> = to.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..base.len() {
        rel.push("..");
    }
    for c in &target[common..] {
        rel.push(c);
    }
    let s = rel.to_string_lossy().into_owned();
    if s.contains([' ', '(', ')', '<', '>']) {
        format!("<{}>", s.replace('<', "%3C").replace('>', "%3E"))
    } else {
        s
    }
}

/// What [`write_back`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteBack {
    Written,
    /// The file already showed the outcome.
    Unchanged,
    /// The session file is gone (closed or deleted): nothing to write.
    NoSessionFile,
}

/// Writes a finished run's outcome into its session file (status, summary, exit code, reason
/// for lost runs, and a Session Log line linking the log).
pub fn write_back(rec: &RunRecord, now: DateTime<Utc>) -> Result<WriteBack> {
    let repo = Repo::at(rec.root.clone());
    let Some(path) = session_file(rec) else {
        return Ok(WriteBack::NoSessionFile);
    };
    let path = crate::store::absolute(&path);
    let link = link_target(&path, &rec.log_path());
    let result = write::edit_file(&repo, &path, |text| {
        edit::apply(text, &finish_ops(text, rec, &link, now), now)
    });
    if result.is_ok() {
        ensure_bound(rec, now);
    }
    match result {
        Ok(Outcome::Written { .. }) => Ok(WriteBack::Written),
        Ok(Outcome::Unchanged) => Ok(WriteBack::Unchanged),
        Err(Error::Read { .. }) if !path.exists() => Ok(WriteBack::NoSessionFile),
        Err(e) => Err(e),
    }
}

/// Applies `ops_for(text)` to the session at `path` (for `spawn`, which has a `Ctx` but
/// shares these ops with the supervisor, which has none).
pub fn edit(
    repo: &Repo,
    path: &Path,
    now: DateTime<Utc>,
    ops_for: impl Fn(&str) -> Vec<Op>,
) -> Result<Outcome> {
    write::edit_file(repo, path, |text| -> Result<_, EditError> {
        edit::apply(text, &ops_for(text), now)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "---\nsession:\n  title: \"T\"\n  status: in_progress\n  created: \"2025-01-01T00:00:00Z\"\n  last_updated: \"2025-01-01T00:00:00Z\"\norchestration:\n  current_task: \"x\"  # keep\n---\n# T\n\n## Context\n\n## Current State\n\n## Next Steps\n";

    fn now() -> DateTime<Utc> {
        "2025-02-01T10:00:00Z".parse().unwrap()
    }

    fn entry() -> NewEntry {
        NewEntry {
            agent: "dev".into(),
            task: "line one\n## not a heading".into(),
            run_id: "0123abcd".into(),
            conversation_id: Some("c".into()),
            log: ".agents/logs/s/dev-0123abcd.log".into(),
            link: "../logs/s/dev-0123abcd.log".into(),
            host: None,
            extra: Vec::new(),
            resumes: None,
        }
    }

    #[test]
    fn spawn_then_finish_then_idempotent() {
        let text = edit::apply(SRC, &spawn_ops(&[entry()], "me", now()), now())
            .unwrap()
            .unwrap();
        assert!(text.contains("    - agent: \"dev\"\n"), "{text}");
        assert!(text.contains("      status: in_progress\n"));
        assert!(text.contains("      run_id: \"0123abcd\"\n"));
        assert!(text.contains("[log](../logs/s/dev-0123abcd.log)"));
        assert!(text.contains("  current_task: \"x\"  # keep\n"));
        assert_eq!(find_entry(&text, "0123abcd", ""), Some(0));
        assert_eq!(
            find_entry(&text, "", ".agents/logs/s/dev-0123abcd.log"),
            Some(0)
        );

        let mut rec = super::super::record::tests::sample("s");
        rec.id = "0123abcd".into();
        rec.agent = "dev".into();
        rec.status = RunStatus::Failed;
        rec.exit_code = Some(3);
        rec.summary = Some("broke: badly".into());
        let ops = finish_ops(&text, &rec, "../x.log", now());
        let done = edit::apply(&text, &ops, now()).unwrap().unwrap();
        assert!(done.contains("      status: failed\n"), "{done}");
        assert!(done.contains("      exit_code: 3\n"), "{done}");
        assert!(done.contains("      summary: \"broke: badly\"\n"), "{done}");
        assert!(done.contains("Agent dev failed (exit 3): broke: badly — [log](../x.log)"));
        assert!(finish_ops(&done, &rec, "../x.log", now()).is_empty());
    }

    #[test]
    fn usage_is_written_and_a_hand_written_block_is_left_alone() {
        let text = edit::apply(SRC, &spawn_ops(&[entry()], "me", now()), now())
            .unwrap()
            .unwrap();
        let mut rec = super::super::record::tests::sample("s");
        rec.id = "0123abcd".into();
        rec.status = RunStatus::Completed;
        rec.exit_code = Some(0);
        rec.conversation_id = Some("thread-1".into());
        rec.cost_usd = Some(0.25);
        rec.tokens = Some(super::super::output::Tokens {
            input: 10,
            output: 2,
        });
        rec.turns = Some(3);
        let done = edit::apply(&text, &finish_ops(&text, &rec, "x.log", now()), now())
            .unwrap()
            .unwrap();
        assert!(
            done.contains("      conversation_id: \"thread-1\"\n"),
            "{done}"
        );
        assert!(done.contains("      cost_usd: 0.25\n"), "{done}");
        assert!(
            done.contains("      tokens: {input: 10, output: 2}\n"),
            "{done}"
        );
        assert!(done.contains("      turns: 3\n"), "{done}");
        assert!(
            done.contains("(exit 0; 3 turns, 10 in / 2 out tokens, $0.2500)"),
            "{done}"
        );
        let parsed = Document::parse(&done);
        let e = &parsed.value(&AGENTS).unwrap().items()[0];
        assert_eq!(
            e.get("tokens")
                .and_then(|t| t.get("input"))
                .and_then(Node::as_str),
            Some("10")
        );

        // A person turned `tokens` into a block of their own: the write-back still succeeds.
        let by_hand = text.replace(
            "      run_id: \"0123abcd\"\n",
            "      run_id: \"0123abcd\"\n      tokens:\n        input: 1\n        output: 1\n",
        );
        let done = edit::apply(&by_hand, &finish_ops(&by_hand, &rec, "x.log", now()), now())
            .unwrap()
            .unwrap();
        assert!(done.contains("      tokens:\n        input: 1\n"), "{done}");
        assert!(done.contains("      status: completed\n"), "{done}");
    }

    #[test]
    fn lost_run_without_entry_is_added() {
        let mut rec = super::super::record::tests::sample("s");
        rec.status = RunStatus::Lost;
        let done = edit::apply(SRC, &finish_ops(SRC, &rec, "l.log", now()), now())
            .unwrap()
            .unwrap();
        assert!(done.contains("      reason: lost\n"), "{done}");
        assert!(done.contains("failed (lost)") || done.contains("failed (lost"));
    }

    #[test]
    fn links() {
        assert_eq!(
            link_target(
                Path::new("/r/.agents/sessions/a.md"),
                Path::new("/r/.agents/logs/a/x.log")
            ),
            "../logs/a/x.log"
        );
        assert_eq!(
            link_target(Path::new("/r/s/a b.md"), Path::new("/r/s/l (1).log")),
            "<l (1).log>"
        );
    }
}
