//! The view of background-agent runs that listings and `watch` need, read from the run
//! records under `.agents/state/runs/`.

use serde_json::{Value, json};

use crate::overview::Overview;
use crate::store::Repo;

#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub run_id: String,
    pub session: String,
    pub agent: String,
    pub status: String,
    pub active: bool,
    pub lost: bool,
    pub exit_code: Option<i64>,
    pub summary: Option<String>,
    pub pid: Option<u64>,
    pub log: Option<String>,
    pub runtime_secs: Option<i64>,
}

impl RunView {
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "lost")
    }

    pub fn started_json(&self) -> Value {
        json!({"session": self.session, "agent": self.agent, "run_id": self.run_id, "pid": self.pid, "log": self.log})
    }

    pub fn finished_json(&self) -> Value {
        json!({
            "session": self.session, "agent": self.agent, "run_id": self.run_id,
            "status": if self.lost { "failed" } else { self.status.as_str() },
            "reason": if self.lost { Some("lost") } else { None },
            "exit_code": self.exit_code, "summary": self.summary, "log": self.log,
        })
    }
}

/// Every run record in the repository.
pub fn load(repo: &Repo) -> Vec<RunView> {
    let dir = repo.state_dir().join("runs");
    let mut out = Vec::new();
    for session_dir in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(session_dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(text) = std::fs::read_to_string(file.path()) else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let status = v["status"].as_str().unwrap_or("").to_string();
            let started = v["started_at"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
            let ended = v["ended_at"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
            let runtime = started.map(|s| {
                (ended.unwrap_or_else(|| chrono::Utc::now().fixed_offset()) - s).num_seconds()
            });
            out.push(RunView {
                run_id: v["id"].as_str().unwrap_or("").to_string(),
                session: v["session"].as_str().unwrap_or("").to_string(),
                agent: v["agent"].as_str().unwrap_or("").to_string(),
                active: matches!(status.as_str(), "starting" | "running"),
                lost: status == "lost",
                status,
                exit_code: v["exit_code"].as_i64(),
                summary: v["summary"].as_str().map(str::to_owned),
                pid: v["pid"].as_u64(),
                log: v["log"].as_str().map(str::to_owned),
                runtime_secs: runtime,
            });
        }
    }
    out
}

/// Running/total agent counts from the run records, when the session has any.
pub fn apply_counts(o: &mut Overview, runs: &[RunView]) {
    let mine: Vec<&RunView> = runs.iter().filter(|r| r.session == o.id).collect();
    if !mine.is_empty() {
        o.agents.running = mine.iter().filter(|r| r.active).count();
        o.agents.total = o.agents.total.max(mine.len());
    }
}
