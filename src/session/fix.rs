//! `validate --fix`: the repairs that are safe to make without a person, as edit ops with a
//! sentence each. Anything that needs judgement (a wrong date, a missing title) is left to
//! the person, and `validate` keeps reporting it.

use super::Document;
use super::edit::{Op, Scalar, Seg, key_path, timestamp};
use super::rules::{
    REQUIRED_SECTIONS, canonical_agent_status, canonical_session_status, parse_timestamp,
};
use super::yaml::Node;

pub struct Fix {
    pub op: Op,
    pub what: String,
}

/// The safe repairs for `doc`. `fallback_updated` is used for a missing `last_updated` when
/// `created` is unusable (the caller passes the file's modification time).
pub fn fixes(doc: &Document, fallback_updated: chrono::DateTime<chrono::Utc>) -> Vec<Fix> {
    let mut out = Vec::new();
    let Some(root) = doc.yaml().filter(|r| r.is_map()) else {
        return out;
    };
    if let Some(session) = root.get("session").filter(|s| s.is_map()) {
        if let Some(status) = session.get("status").and_then(Node::as_str)
            && let Some(c) = canonical_session_status(status).filter(|c| *c != status)
        {
            out.push(Fix {
                op: Op::Set {
                    path: key_path(&["session", "status"]),
                    value: Scalar::str(c),
                },
                what: format!("session.status `{status}` → `{c}`"),
            });
        }
        if session.get("last_updated").is_none_or(Node::is_null) {
            let created = session
                .get("created")
                .and_then(Node::as_str)
                .and_then(|c| parse_timestamp(c).ok());
            let at = created.map_or(fallback_updated, |c| c.max(fallback_updated));
            out.push(Fix {
                op: Op::Set {
                    path: key_path(&["session", "last_updated"]),
                    value: Scalar::str(timestamp(at)),
                },
                what: format!("added session.last_updated `{}`", timestamp(at)),
            });
        }
    }
    let agents = root
        .get("orchestration")
        .and_then(|o| o.get("spawned_agents"));
    for (i, item) in agents
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !item.is_map() {
            continue;
        }
        let path = || {
            let mut p = key_path(&["orchestration", "spawned_agents"]);
            p.push(Seg::Index(i));
            p
        };
        for (from, to) in [("type", "agent"), ("outcome", "summary")] {
            if item.get(from).is_some() && item.get(to).is_none() {
                out.push(Fix {
                    op: Op::RenameKey {
                        path: path(),
                        from: from.into(),
                        to: to.into(),
                    },
                    what: format!("spawned_agents[{i}]: `{from}:` → `{to}:`"),
                });
            }
        }
        if let Some(status) = item.get("status").and_then(Node::as_str)
            && let Some(c) = canonical_agent_status(status).filter(|c| *c != status)
        {
            let mut p = path();
            p.push(Seg::Key("status".into()));
            out.push(Fix {
                op: Op::Set {
                    path: p,
                    value: Scalar::str(c),
                },
                what: format!("spawned_agents[{i}].status `{status}` → `{c}`"),
            });
        }
    }
    for name in REQUIRED_SECTIONS {
        if doc.section(name).is_some() {
            continue;
        }
        // A heading with the right name at the wrong level or case is promoted, not duplicated.
        match doc
            .headings
            .iter()
            .find(|h| doc.text(&h.text).eq_ignore_ascii_case(name))
        {
            Some(h) => out.push(Fix {
                op: Op::PromoteHeading { name: name.into() },
                what: format!(
                    "`{} {}` → `## {name}`",
                    "#".repeat(h.level as usize),
                    doc.text(&h.text)
                ),
            }),
            None => out.push(Fix {
                op: Op::EnsureSection { name: name.into() },
                what: format!("added empty `## {name}`"),
            }),
        }
    }
    out
}
