//! "Working" or "waiting for you": the turn state of an interactive run, as the agent's turn
//! hooks report it (`sessions hook turn`), kept in the run record (never in the session file:
//! it flips on every prompt), and corrected by a look at the tmux pane when the hooks have
//! been silent for a while (Esc in Claude Code fires no hook at all, and approving a
//! permission fires nothing until the tool ends). See `docs/talk.md`.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::record::{self, RunRecord};
use super::runner::RunnerState;

/// Without a hook for this long, a tmux run's pane is looked at to confirm the state.
pub const PANE_CHECK_AFTER: Duration = Duration::from_secs(5);

/// Working, or waiting for the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Turn {
    Working,
    Waiting,
}

/// Why a run waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Why {
    /// A permission dialog (for `tool`, when the hook named it).
    Permission,
    /// The turn ended with a question to the person.
    Question,
    /// The turn ended; the agent waits for the next prompt.
    Input,
    /// The agent said it has been idle at its prompt for a while.
    Idle,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Permission => "permission",
            Why::Question => "question",
            Why::Input => "input",
            Why::Idle => "idle",
        }
    }
}

/// The turn state of a run, as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnState {
    pub state: Turn,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
    /// The tool a permission is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// When the state last changed.
    #[serde(with = "super::record::ts_pub")]
    pub since: DateTime<Utc>,
    /// When a hook (or a pane check) last confirmed it.
    #[serde(with = "super::record::ts_pub")]
    pub seen: DateTime<Utc>,
    /// What said so last: a hook event name, or `pane`.
    pub by: String,
}

impl TurnState {
    /// `waiting (permission: Bash)`, `waiting (question)`, `working`.
    pub fn describe(&self) -> String {
        match (self.state, self.why, &self.tool) {
            (Turn::Working, ..) => "working".into(),
            (Turn::Waiting, Some(w), Some(t)) => format!("waiting ({}: {t})", w.as_str()),
            (Turn::Waiting, Some(w), None) => format!("waiting ({})", w.as_str()),
            (Turn::Waiting, None, _) => "waiting".into(),
        }
    }

    pub fn is_waiting(&self) -> bool {
        self.state == Turn::Waiting
    }
}

/// What one turn hook says, from its event name and payload; `None` for events that say
/// nothing about the turn.
pub fn from_hook(
    event: &str,
    notification_type: Option<&str>,
    tool: Option<&str>,
    last_message: Option<&str>,
) -> Option<(Turn, Option<Why>, Option<String>)> {
    let waiting =
        |w: Why, tool: Option<&str>| Some((Turn::Waiting, Some(w), tool.map(str::to_owned)));
    match event {
        "UserPromptSubmit" | "BeforeAgent" | "PreToolUse" | "PostToolUse" | "PostToolBatch"
        | "BeforeTool" | "AfterTool" | "PostToolUseFailure" => Some((Turn::Working, None, None)),
        "PermissionRequest" => waiting(Why::Permission, tool),
        "Notification" => match notification_type {
            Some("permission_prompt") | Some("ToolPermission") => waiting(Why::Permission, tool),
            Some("idle_prompt") => waiting(Why::Idle, None),
            // Other kinds (auth success, elicitation…) say nothing reliable about the turn.
            _ => None,
        },
        "Stop" | "AfterAgent" => {
            let asks = last_message.is_some_and(|m| m.trim_end().ends_with('?'));
            waiting(if asks { Why::Question } else { Why::Input }, None)
        }
        _ => None,
    }
}

/// Applies a reported state to the record; whether anything but `seen` changed. A permission
/// prompt without a tool (Claude's `Notification`, ~6 s after its `PermissionRequest`) keeps
/// the tool already known.
pub fn apply(
    rec: &mut RunRecord,
    (state, why, tool): (Turn, Option<Why>, Option<String>),
    by: &str,
    now: DateTime<Utc>,
) -> bool {
    let tool = match (&rec.turn, &tool) {
        (Some(t), None) if why == Some(Why::Permission) && t.why == Some(Why::Permission) => {
            t.tool.clone()
        }
        _ => tool,
    };
    let changed = rec
        .turn
        .as_ref()
        .is_none_or(|t| t.state != state || t.why != why || t.tool != tool);
    // An idle notice after a question keeps "question": it is still what the person owes.
    if let Some(t) = &mut rec.turn
        && t.state == Turn::Waiting
        && why == Some(Why::Idle)
        && t.why == Some(Why::Question)
    {
        t.seen = now;
        return false;
    }
    let since = match &rec.turn {
        Some(t) if !changed => t.since,
        _ => now,
    };
    rec.turn = Some(TurnState {
        state,
        why,
        tool,
        since,
        seen: now,
        by: by.to_string(),
    });
    changed
}

/// What the pane shows: Claude Code's footer says `esc to interrupt` while it works and
/// `Do you want to proceed?` in a permission dialog; anything else at a prompt is waiting.
pub fn classify_pane(text: &str) -> (Turn, Option<Why>) {
    let lower = text.to_ascii_lowercase();
    if lower.contains("do you want to proceed?") || lower.contains("do you want to allow") {
        (Turn::Waiting, Some(Why::Permission))
    } else if lower.contains("esc to interrupt") || lower.contains("esc to cancel") {
        (Turn::Working, None)
    } else {
        (Turn::Waiting, Some(Why::Input))
    }
}

/// Corrects a tmux run's turn state from its pane when no hook has confirmed it for
/// [`PANE_CHECK_AFTER`] and it says working or permission (the states Esc and an approved
/// permission leave stale). Saves the record when the state changed. Cheap when it does not
/// apply: no process is started.
pub fn check_pane(path: &Path, rec: &mut RunRecord, now: DateTime<Utc>) {
    let Some(turn) = &rec.turn else { return };
    if !matches!(rec.runner, RunnerState::Tmux(_)) || !rec.status.is_active() {
        return;
    }
    let stale = (now - turn.seen)
        .to_std()
        .is_ok_and(|age| age >= PANE_CHECK_AFTER);
    let suspect = turn.state == Turn::Working || turn.why == Some(Why::Permission);
    if !stale || !suspect {
        return;
    }
    let Some(text) = super::runner::tmux::capture_pane(rec, false) else {
        return;
    };
    let (state, why) = classify_pane(&text);
    let keep_tool = if why == Some(Why::Permission) {
        turn.tool.clone()
    } else {
        None
    };
    if let Ok((fresh, _)) = record::update_if(path, |r| {
        apply(r, (state, why, keep_tool), "pane", now);
        true
    }) {
        *rec = fresh;
    }
}

/// How many live runs of each session (by stem) wait for the person, from their records
/// (a few directory reads: only live runs are looked at).
pub fn waiting_by_session(state_dir: &Path) -> std::collections::HashMap<String, usize> {
    let mut out = std::collections::HashMap::new();
    for (_, r) in record::load_live(state_dir).records {
        if r.status.is_active() && r.turn.as_ref().is_some_and(TurnState::is_waiting) {
            *out.entry(r.session).or_insert(0) += 1;
        }
    }
    out
}

/// Types `message` into the run's pane as literal keys (`send-keys -l`, so nothing in it is
/// read as a key name), then Enter.
pub fn type_into_pane(rec: &RunRecord, message: &str) -> Result<(), String> {
    // Through the runner seam: literal keys, then Enter (see `runner::tmux`).
    let text = message.trim_end_matches(['\n', '\r']);
    rec.runner
        .runner()
        .send(rec, text)
        .map_err(|e| format!("{e} (is the run's tmux session still there?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_map_to_turn_states() {
        assert_eq!(
            from_hook("PermissionRequest", None, Some("Bash"), None),
            Some((Turn::Waiting, Some(Why::Permission), Some("Bash".into())))
        );
        assert_eq!(
            from_hook("Stop", None, None, Some("Which one do you want?\n")),
            Some((Turn::Waiting, Some(Why::Question), None))
        );
        assert_eq!(
            from_hook("AfterAgent", None, None, Some("done")),
            Some((Turn::Waiting, Some(Why::Input), None))
        );
        assert_eq!(
            from_hook("Notification", Some("idle_prompt"), None, None),
            Some((Turn::Waiting, Some(Why::Idle), None))
        );
        assert_eq!(
            from_hook("Notification", Some("auth_success"), None, None),
            None
        );
        assert_eq!(
            from_hook("PostToolUse", None, Some("Bash"), None),
            Some((Turn::Working, None, None))
        );
        assert_eq!(from_hook("SessionStart", None, None, None), None);
    }

    #[test]
    fn permission_notice_keeps_the_tool_and_idle_keeps_the_question() {
        let mut rec = record::tests::sample("s");
        let t0 = Utc::now();
        assert!(apply(
            &mut rec,
            (Turn::Waiting, Some(Why::Permission), Some("Bash".into())),
            "PermissionRequest",
            t0
        ));
        assert!(!apply(
            &mut rec,
            (Turn::Waiting, Some(Why::Permission), None),
            "Notification",
            t0
        ));
        assert_eq!(
            rec.turn.as_ref().unwrap().describe(),
            "waiting (permission: Bash)"
        );
        assert!(apply(
            &mut rec,
            (Turn::Waiting, Some(Why::Question), None),
            "Stop",
            t0
        ));
        assert!(!apply(
            &mut rec,
            (Turn::Waiting, Some(Why::Idle), None),
            "Notification",
            t0
        ));
        assert_eq!(rec.turn.as_ref().unwrap().describe(), "waiting (question)");
        assert!(apply(
            &mut rec,
            (Turn::Working, None, None),
            "UserPromptSubmit",
            t0
        ));
        assert_eq!(rec.turn.as_ref().unwrap().describe(), "working");
    }

    #[test]
    fn pane_text_is_classified() {
        assert_eq!(
            classify_pane("✻ Thinking… (esc to interrupt)").0,
            Turn::Working
        );
        assert_eq!(
            classify_pane(" Bash command\n Do you want to proceed?\n ❯ 1. Yes").1,
            Some(Why::Permission)
        );
        assert_eq!(classify_pane("> \n  ? for shortcuts").1, Some(Why::Input));
    }
}
