//! The few facts about background-agent runs that `watch` compares between two looks.

use serde_json::{Value, json};

use crate::agents::record::RunStatus;
use crate::agents::sync::Runs;

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

/// The views of reconciled runs (see `agents::sync`, which also wrote dead runs back, so a
/// lost run shows as lost here too).
pub fn views(runs: &Runs) -> Vec<RunView> {
    let now = chrono::Utc::now();
    runs.records
        .iter()
        .map(|(_, r)| RunView {
            active: r.status.is_active(),
            lost: matches!(r.status, RunStatus::Lost),
            status: r.status.session_status().to_string(),
            exit_code: r.exit_code.map(i64::from),
            summary: r.summary.clone(),
            pid: r.pid.map(u64::from),
            log: Some(r.log.display().to_string()),
            runtime_secs: Some((r.ended_at.unwrap_or(now) - r.started_at).num_seconds()),
            run_id: r.id.clone(),
            session: r.session.clone(),
            agent: r.agent.clone(),
        })
        .collect()
}
