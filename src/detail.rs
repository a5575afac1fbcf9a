//! One session in detail (`status SESSION`, and its `--json`): the listing view plus its
//! sections, checklist progress, agent entries with their usage, and validation problems.
//! Built from the file and the reconciled runs; rendering is the caller's.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::agents::output::Tokens;
use crate::agents::sync::{Runs, check_entries};
use crate::diagnostic::Diagnostic;
use crate::error::Result;
use crate::overview::Overview;
use crate::session::Document;
use crate::session::document::{checklist, content_lines};
use crate::session::yaml::Node;
use crate::store::{self, Repo, SessionId};
use crate::validation::validate_file;

/// `- [x]` items against all task-list items, as `status` prints them (`1/3`).
#[derive(Serialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checklist {
    pub done: usize,
    pub total: usize,
}

impl From<(usize, usize)> for Checklist {
    fn from((done, total): (usize, usize)) -> Checklist {
        Checklist { done, total }
    }
}

#[derive(Serialize)]
pub struct SectionInfo {
    pub name: String,
    pub line: usize,
    pub lines: usize,
    pub bytes: usize,
    pub checklist: Checklist,
}

#[derive(Serialize)]
pub struct AgentInfo {
    pub agent: String,
    pub task: String,
    pub status: String,
    pub summary: Option<String>,
    pub log: Option<String>,
    pub run_id: Option<String>,
    pub conversation_id: Option<String>,
    pub cost_usd: Option<f64>,
    pub tokens: Option<Tokens>,
    pub turns: Option<u64>,
    /// `waiting (permission: Bash)` while an interactive run waits for the person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

/// What the session's agents used in all, as their entries say (`None` where none reported).
#[derive(Serialize, Default)]
pub struct AgentTotals {
    pub runs: usize,
    pub cost_usd: Option<f64>,
    pub tokens: Option<Tokens>,
    pub turns: Option<u64>,
}

impl AgentTotals {
    fn of(agents: &[AgentInfo]) -> AgentTotals {
        let mut t = AgentTotals {
            runs: agents.len(),
            ..AgentTotals::default()
        };
        for a in agents {
            if let Some(c) = a.cost_usd {
                *t.cost_usd.get_or_insert(0.0) += c;
            }
            if let Some(k) = a.tokens {
                t.tokens.get_or_insert_default().add(k);
            }
            if let Some(n) = a.turns {
                *t.turns.get_or_insert(0) += n;
            }
        }
        t
    }
}

#[derive(Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub overview: Overview,
    pub linear_issue: Option<String>,
    pub linear_url: Option<String>,
    pub sections: Vec<SectionInfo>,
    pub checklist: Checklist,
    pub spawned_agents: Vec<AgentInfo>,
    /// The session's agents' cost, tokens and turns added up.
    pub agent_totals: AgentTotals,
    pub diagnostics: Vec<Diagnostic>,
}

impl Detail {
    /// The fields of its JSON beside the overview's ([`Overview::FIELDS`]), for
    /// `--json=FIELD,…`; `conversation` is `status`'s, on the session this conversation is
    /// bound to.
    pub const OWN_FIELDS: &[&str] = &[
        "linear_issue",
        "linear_url",
        "sections",
        "checklist",
        "spawned_agents",
        "agent_totals",
        "diagnostics",
        "conversation",
    ];

    /// The detail of the session file at `path`; `shown` is its path as diagnostics name it.
    pub fn load(
        repo: &Repo,
        path: &Path,
        shown: &str,
        now: DateTime<Utc>,
        stale_after: Duration,
    ) -> Result<Detail> {
        let runs = Runs::load_session(repo, &SessionId::of(path));
        let text = store::read_session(path)?;
        let (text, orphans) = check_entries(repo, path, text);
        let doc = Document::parse(&text);
        let mut overview = Overview::new(path, repo.display(path), Some(&text), now, stale_after);
        overview.correct_with(&runs, &orphans);
        let sections: Vec<SectionInfo> = doc
            .sections
            .iter()
            .map(|s| SectionInfo {
                name: doc.text(&s.heading.text).to_string(),
                line: doc.position(s.heading.line.start).0,
                lines: content_lines(&text, s.body.clone()),
                bytes: doc.text(&s.body).trim_end().len(),
                checklist: checklist(&text, s.body.clone()).into(),
            })
            .collect();
        let field = |n: &Node, k: &str| {
            n.get(k)
                .filter(|v| !v.is_null())
                .and_then(Node::as_str)
                .map(str::to_owned)
        };
        let agents: Vec<AgentInfo> = doc
            .value(&["orchestration", "spawned_agents"])
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .map(|a| AgentInfo {
                agent: field(a, "agent")
                    .or_else(|| field(a, "type"))
                    .unwrap_or_else(|| "?".into()),
                task: field(a, "task").unwrap_or_default(),
                status: field(a, "status").unwrap_or_else(|| "pending".into()),
                summary: field(a, "summary").or_else(|| field(a, "outcome")),
                log: field(a, "log"),
                run_id: field(a, "run_id"),
                conversation_id: field(a, "conversation_id"),
                cost_usd: field(a, "cost_usd").and_then(|c| c.parse().ok()),
                tokens: a.get("tokens").and_then(|t| {
                    Some(Tokens {
                        input: field(t, "input")?.parse().ok()?,
                        output: field(t, "output")?.parse().ok()?,
                    })
                }),
                turns: field(a, "turns").and_then(|c| c.parse().ok()),
                waiting: None,
            })
            .map(|mut a| {
                a.waiting = runs
                    .records
                    .iter()
                    .find(|(_, r)| Some(&r.id) == a.run_id.as_ref() && r.status.is_active())
                    .and_then(|(_, r)| r.turn.as_ref().filter(|t| t.is_waiting()))
                    .map(|t| t.describe());
                a
            })
            .collect();
        let agent_totals = AgentTotals::of(&agents);
        let diagnostics = validate_file(Some(repo), path, shown, &mut Vec::new(), now)?;
        Ok(Detail {
            linear_issue: doc
                .str_value(&["session", "linear_issue"])
                .map(str::to_owned),
            linear_url: doc.str_value(&["session", "linear_url"]).map(str::to_owned),
            checklist: checklist(&text, doc.body_start..text.len()).into(),
            overview,
            sections,
            spawned_agents: agents,
            agent_totals,
            diagnostics,
        })
    }
}
