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

use super::record::{RunRecord, RunStatus};
use crate::error::{Error, Result};
use crate::session::Document;
use crate::session::edit::{self, EditError, Op, Scalar, Seg, key_path};
use crate::session::yaml::Node;
use crate::store::Repo;
use crate::write::{self, Outcome};

const AGENTS: [&str; 2] = ["orchestration", "spawned_agents"];

/// What a spawn writes: one entry per agent.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub agent: String,
    pub task: String,
    pub run_id: String,
    pub conversation_id: String,
    /// Log path relative to the repository root, as shown in the frontmatter.
    pub log: String,
    /// Markdown link target from the session file to the log.
    pub link: String,
    /// The machine the run is launched on (see `docs/runs.md`: how a clone without the run
    /// record tells "lost" from "may be running elsewhere").
    pub host: Option<String>,
}

/// The entries, each with a Session Log line linking its log.
pub fn spawn_ops(entries: &[NewEntry], actor: &str, at: DateTime<Utc>) -> Vec<Op> {
    let mut ops = Vec::new();
    for e in entries {
        ops.push(Op::Push {
            path: key_path(&AGENTS),
            entry: vec![
                ("agent".into(), Scalar::str(&e.agent)),
                ("task".into(), Scalar::str(&e.task)),
                ("status".into(), Scalar::Plain("in_progress".into())),
                ("log".into(), Scalar::str(&e.log)),
                ("run_id".into(), Scalar::str(&e.run_id)),
                ("conversation_id".into(), Scalar::str(&e.conversation_id)),
            ]
            .into_iter()
            .chain(e.host.iter().map(|h| ("host".into(), Scalar::str(h))))
            .collect(),
        });
        ops.push(Op::Log {
            at,
            actor: actor.to_string(),
            message: format!(
                "Spawned agent {} (run {}): {} — [log]({})",
                e.agent,
                e.run_id,
                one_line(&e.task),
                e.link
            ),
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
    ops.push(Op::Log {
        at,
        actor: rec.agent.clone(),
        message: format!(
            "Agent {} {} ({}){summary} — [log]({link})",
            rec.agent,
            status,
            how(rec)
        ),
    });
    ops
}

/// The session file a run belongs to: where it was at spawn, else the sessions directory
/// (or its archive) by stem. `None` when it has been deleted.
pub fn session_file(rec: &RunRecord) -> Option<PathBuf> {
    let repo = Repo {
        root: rec.root.clone(),
    };
    let name = format!("{}.md", rec.session);
    rec.session_file
        .clone()
        .into_iter()
        .chain([
            repo.sessions_dir().join(&name),
            repo.sessions_dir().join("archive").join(&name),
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
    let repo = Repo {
        root: rec.root.clone(),
    };
    let Some(path) = session_file(rec) else {
        return Ok(WriteBack::NoSessionFile);
    };
    let path = crate::store::absolute(&path);
    let link = link_target(&path, &rec.log_path());
    let result = write::edit_file(&repo, &path, |text| {
        edit::apply(text, &finish_ops(text, rec, &link, now), now)
    });
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
            conversation_id: "c".into(),
            log: ".agents/logs/s/dev-0123abcd.log".into(),
            link: "../logs/s/dev-0123abcd.log".into(),
            host: None,
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
