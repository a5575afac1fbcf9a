//! The one event type of the live engine: what `watch --json` prints, one object per line,
//! and what `serve` pushes to open pages. Its JSON form is the wire format of both.

use std::sync::Arc;

use serde::Serialize;

use super::{SessionSnap, Snapshot};
use crate::diagnostic::Diagnostic;
use crate::overview::AgentCounts;
use crate::runs::RunView;

/// One change between two looks. `event` names the variant in kebab case (`session-created`,
/// `agent-finished`, …); `at` is when it was seen (RFC 3339, milliseconds, UTC).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The first look: how much there is.
    Watching {
        at: String,
        sessions: usize,
        agents: usize,
    },
    SessionCreated {
        at: String,
        #[serde(flatten)]
        session: SessionRef,
    },
    SessionUpdated {
        at: String,
        #[serde(flatten)]
        session: SessionRef,
        changes: Box<FieldChanges>,
    },
    /// The session has errors now, or different ones.
    SessionInvalid {
        at: String,
        #[serde(flatten)]
        session: SessionRef,
        diagnostics: Vec<Diagnostic>,
    },
    /// The session's errors are gone.
    SessionValid {
        at: String,
        #[serde(flatten)]
        session: SessionRef,
    },
    SessionDeleted {
        at: String,
        session: String,
        path: String,
    },
    AgentStarted {
        at: String,
        #[serde(flatten)]
        agent: AgentStarted,
    },
    AgentFinished {
        at: String,
        #[serde(flatten)]
        agent: AgentFinished,
    },
    /// The run's processes are gone without a final record.
    AgentLost {
        at: String,
        #[serde(flatten)]
        agent: AgentFinished,
    },
    /// An interactive run now waits for the person (its turn hooks say why).
    AgentWaiting {
        at: String,
        #[serde(flatten)]
        agent: AgentWaiting,
    },
}

impl Event {
    pub fn at(&self) -> &str {
        match self {
            Event::Watching { at, .. }
            | Event::SessionCreated { at, .. }
            | Event::SessionUpdated { at, .. }
            | Event::SessionInvalid { at, .. }
            | Event::SessionValid { at, .. }
            | Event::SessionDeleted { at, .. }
            | Event::AgentStarted { at, .. }
            | Event::AgentFinished { at, .. }
            | Event::AgentLost { at, .. }
            | Event::AgentWaiting { at, .. } => at,
        }
    }

    /// The session (file stem) the event is about, if any.
    pub fn session(&self) -> Option<&str> {
        match self {
            Event::Watching { .. } => None,
            Event::SessionCreated { session, .. }
            | Event::SessionUpdated { session, .. }
            | Event::SessionInvalid { session, .. }
            | Event::SessionValid { session, .. } => Some(&session.session),
            Event::SessionDeleted { session, .. } => Some(session),
            Event::AgentStarted { agent, .. } => Some(&agent.session),
            Event::AgentFinished { agent, .. } | Event::AgentLost { agent, .. } => {
                Some(&agent.session)
            }
            Event::AgentWaiting { agent, .. } => Some(&agent.session),
        }
    }

    /// The run the event is about, if any.
    pub fn run_id(&self) -> Option<&str> {
        match self {
            Event::AgentStarted { agent, .. } => Some(&agent.run_id),
            Event::AgentFinished { agent, .. } | Event::AgentLost { agent, .. } => {
                Some(&agent.run_id)
            }
            Event::AgentWaiting { agent, .. } => Some(&agent.run_id),
            _ => None,
        }
    }

    /// The `event` word of the JSON form.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Watching { .. } => "watching",
            Event::SessionCreated { .. } => "session-created",
            Event::SessionUpdated { .. } => "session-updated",
            Event::SessionInvalid { .. } => "session-invalid",
            Event::SessionValid { .. } => "session-valid",
            Event::SessionDeleted { .. } => "session-deleted",
            Event::AgentStarted { .. } => "agent-started",
            Event::AgentFinished { .. } => "agent-finished",
            Event::AgentLost { .. } => "agent-lost",
            Event::AgentWaiting { .. } => "agent-waiting",
        }
    }

    /// Worth a terminal bell: a run ended badly, was lost, or waits for the person.
    pub fn wants_attention(&self) -> bool {
        match self {
            Event::AgentFinished { agent, .. } => agent.status != "completed",
            Event::AgentLost { .. } | Event::AgentWaiting { .. } => true,
            _ => false,
        }
    }
}

/// Which session: its id (file stem), path as shown, title and status.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRef {
    pub session: String,
    pub path: String,
    pub title: String,
    pub status: String,
}

impl SessionRef {
    fn of(s: &SessionSnap) -> SessionRef {
        SessionRef {
            session: s.overview.id.clone(),
            path: s.overview.path.clone(),
            title: s.overview.title.clone(),
            status: s.overview.status.clone(),
        }
    }
}

/// A value before and after.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

/// The fields of a `session-updated` event that changed (only those are present), in this
/// order; `body` when none of them did (another part of the file changed).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FieldChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<Change<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Change<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_task: Option<Change<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Change<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear_issue: Option<Change<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<Change<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<Change<AgentCounts>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyChanged>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BodyChanged {
    pub changed: bool,
}

fn change<T: PartialEq + Clone>(from: &T, to: &T) -> Option<Change<T>> {
    (from != to).then(|| Change {
        from: from.clone(),
        to: to.clone(),
    })
}

/// A run that started.
#[derive(Debug, Clone, Serialize)]
pub struct AgentStarted {
    pub session: String,
    pub agent: String,
    pub run_id: String,
    pub pid: Option<u64>,
    pub log: Option<String>,
}

impl AgentStarted {
    pub fn of(r: &RunView) -> AgentStarted {
        AgentStarted {
            session: r.session.clone(),
            agent: r.agent.clone(),
            run_id: r.run_id.clone(),
            pid: r.pid.map(u64::from),
            log: Some(r.log.clone()),
        }
    }
}

/// A run that ended: `status` is the session-file word (a lost run is `failed` with
/// `reason: "lost"`).
#[derive(Debug, Clone, Serialize)]
pub struct AgentFinished {
    pub session: String,
    pub agent: String,
    pub run_id: String,
    pub status: String,
    pub reason: Option<&'static str>,
    pub exit_code: Option<i64>,
    pub summary: Option<String>,
    pub log: Option<String>,
}

impl AgentFinished {
    pub fn of(r: &RunView) -> AgentFinished {
        AgentFinished {
            session: r.session.clone(),
            agent: r.agent.clone(),
            run_id: r.run_id.clone(),
            status: if r.lost {
                "failed".into()
            } else {
                r.status.to_string()
            },
            reason: r.lost.then_some("lost"),
            exit_code: r.exit_code.map(i64::from),
            summary: r.summary.clone(),
            log: Some(r.log.clone()),
        }
    }
}

/// A run that waits for the person: `waiting` says why (`waiting (permission: Bash)`).
#[derive(Debug, Clone, Serialize)]
pub struct AgentWaiting {
    pub session: String,
    pub agent: String,
    pub run_id: String,
    pub waiting: String,
}

/// Now, as events say it.
pub fn at_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The events that lead from `old` to `new`: for sessions in id order, then the sessions
/// gone, then the runs. The two session maps are walked side by side, and a session both
/// looks share (the same `Arc`: the tracker did not change it) is passed over unread.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Event> {
    let at = at_now();
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    // Only pointers are compared until one differs.
    let mut olds = old.sessions.values().peekable();
    for s in new.sessions.values() {
        if olds.peek().is_some_and(|o| Arc::ptr_eq(o, s)) {
            olds.next();
            continue;
        }
        // Sessions before this one in the old look are gone.
        let id = s.overview.id.as_str();
        let mut before = None;
        while let Some(o) = olds.next_if(|o| o.overview.id.as_str() <= id) {
            if o.overview.id == id {
                before = Some(o);
                break;
            }
            deleted.push(deleted_event(&at, o));
        }
        match before {
            None => {
                out.push(Event::SessionCreated {
                    at: at.clone(),
                    session: SessionRef::of(s),
                });
                if !s.valid() {
                    out.push(invalid(&at, s));
                }
            }
            Some(o) => updated(&at, o, s, &mut out),
        }
    }
    deleted.extend(olds.map(|o| deleted_event(&at, o)));
    out.append(&mut deleted);
    for (id, r) in &new.runs {
        let before = old.runs.get(id);
        let was_active = before.is_some_and(|b| b.active);
        let started = || Event::AgentStarted {
            at: at.clone(),
            agent: AgentStarted::of(r),
        };
        if before.is_none() && r.active {
            out.push(started());
        }
        let waiting = |v: Option<&RunView>| {
            v.filter(|v| v.active)
                .and_then(|v| v.turn.as_ref())
                .filter(|t| t.is_waiting())
                .map(|t| t.describe())
        };
        if let Some(why) = waiting(Some(r))
            && waiting(before) != Some(why.clone())
        {
            out.push(Event::AgentWaiting {
                at: at.clone(),
                agent: AgentWaiting {
                    session: r.session.clone(),
                    agent: r.agent.clone(),
                    run_id: r.run_id.clone(),
                    waiting: why,
                },
            });
        }
        if (before.is_none() || was_active) && !r.active {
            if before.is_none() {
                // Started and finished between two looks: say both.
                out.push(started());
            }
            let agent = AgentFinished::of(r);
            out.push(if r.lost {
                Event::AgentLost {
                    at: at.clone(),
                    agent,
                }
            } else {
                Event::AgentFinished {
                    at: at.clone(),
                    agent,
                }
            });
        }
    }
    out
}

fn deleted_event(at: &str, o: &SessionSnap) -> Event {
    Event::SessionDeleted {
        at: at.to_string(),
        session: o.overview.id.clone(),
        path: o.overview.path.clone(),
    }
}

/// The events of a session in both looks: none unless its file, its staleness or its agent
/// counts changed.
fn updated(at: &str, o: &SessionSnap, s: &SessionSnap, out: &mut Vec<Event>) {
    if o.hash == s.hash
        && o.overview.stale == s.overview.stale
        && o.overview.agents == s.overview.agents
    {
        return;
    }
    let (a, b) = (&o.overview, &s.overview);
    let mut changes = FieldChanges {
        title: change(&a.title, &b.title),
        status: change(&a.status, &b.status),
        current_task: change(&a.current_task, &b.current_task),
        last_updated: change(&a.last_updated, &b.last_updated),
        linear_issue: change(&o.linear_issue, &s.linear_issue),
        stale: change(&a.stale, &b.stale),
        agents: change(&a.agents, &b.agents),
        body: None,
    };
    if changes.title.is_none()
        && changes.status.is_none()
        && changes.current_task.is_none()
        && changes.last_updated.is_none()
        && changes.linear_issue.is_none()
        && changes.stale.is_none()
        && changes.agents.is_none()
    {
        changes.body = Some(BodyChanged { changed: true });
    }
    out.push(Event::SessionUpdated {
        at: at.to_string(),
        session: SessionRef::of(s),
        changes: Box::new(changes),
    });
    let error_sig = |x: &SessionSnap| {
        x.errors()
            .map(|d| (d.rule, d.line, d.column))
            .collect::<Vec<_>>()
    };
    if o.valid() && !s.valid() || (!s.valid() && error_sig(o) != error_sig(s)) {
        out.push(invalid(at, s));
    } else if !o.valid() && s.valid() {
        out.push(Event::SessionValid {
            at: at.to_string(),
            session: SessionRef::of(s),
        });
    }
}

fn invalid(at: &str, s: &SessionSnap) -> Event {
    Event::SessionInvalid {
        at: at.to_string(),
        session: SessionRef::of(s),
        diagnostics: s.errors().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON form keeps the order and the nulls `watch --json` has always printed.
    #[test]
    fn json_form_is_the_watch_wire_format() {
        let e = Event::AgentFinished {
            at: "2025-12-04T14:30:00.000Z".into(),
            agent: AgentFinished {
                session: "s".into(),
                agent: "a".into(),
                run_id: "r".into(),
                status: "completed".into(),
                reason: None,
                exit_code: Some(0),
                summary: None,
                log: Some("l".into()),
            },
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"agent-finished","at":"2025-12-04T14:30:00.000Z","session":"s","agent":"a","run_id":"r","status":"completed","reason":null,"exit_code":0,"summary":null,"log":"l"}"#
        );
        let u = Event::SessionUpdated {
            at: "t".into(),
            session: SessionRef {
                session: "s".into(),
                path: "p".into(),
                title: "T".into(),
                status: "paused".into(),
            },
            changes: Box::new(FieldChanges {
                status: Some(Change {
                    from: "in_progress".into(),
                    to: "paused".into(),
                }),
                current_task: Some(Change {
                    from: None,
                    to: Some("x".into()),
                }),
                ..FieldChanges::default()
            }),
        };
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"event":"session-updated","at":"t","session":"s","path":"p","title":"T","status":"paused","changes":{"status":{"from":"in_progress","to":"paused"},"current_task":{"from":null,"to":"x"}}}"#
        );
    }
}
