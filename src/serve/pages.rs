//! HTML for the three pages (board, session, agent) from a live [`Snapshot`]: whole pages for
//! the first visit and fragments the page's script swaps in when an event arrives. Every
//! value from a file is escaped; Markdown is rendered here (pulldown-cmark) with raw HTML
//! shown as text, so a session file can never run script in the dashboard.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::agents::record::RunRecord;
use crate::live::{SessionSnap, Snapshot};
use crate::overview::format_age;

/// What this browser user last saw: per session when, per run how many log bytes.
#[derive(Default)]
pub struct Viewed {
    pub sessions: HashMap<String, DateTime<Utc>>,
    pub logs: HashMap<String, u64>,
}

impl Viewed {
    /// Marks every run of the session (and the session) as seen now.
    pub fn review(&mut self, snap: &Snapshot, session: &str) {
        self.sessions.insert(session.to_string(), Utc::now());
        for r in snap.records.values().filter(|r| r.session == session) {
            self.logs.insert(r.id.clone(), log_size(r));
        }
    }

    fn unread(&self, r: &RunRecord) -> bool {
        log_size(r) > self.logs.get(&r.id).copied().unwrap_or(0)
    }
}

pub fn log_size(r: &RunRecord) -> u64 {
    std::fs::metadata(r.root.join(&r.log)).map_or(0, |m| m.len())
}

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body`; `kind` and `id` tell the script what to follow.
pub fn page(title: &str, kind: &str, id: &str, read_only: bool, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} · sessions</title><link rel=\"stylesheet\" href=\"/assets/app.css\">\
<script src=\"/assets/app.js\" defer></script></head>\
<body data-page=\"{kind}\" data-id=\"{id}\"><header class=\"top\"><a href=\"/\" class=\"brand\">sessions</a>\
<span class=\"live\" id=\"live\" title=\"live updates\">●</span>{ro}</header>\
<div id=\"flash\" role=\"status\"></div><main id=\"main\">{body}</main></body></html>\n",
        t = esc(title),
        id = esc(id),
        ro = if read_only {
            "<span class=\"ro\">read-only</span>"
        } else {
            ""
        },
    )
}

fn runtime(r: &RunRecord, now: DateTime<Utc>) -> String {
    format_age(r.ended_at.unwrap_or(now) - r.started_at)
}

fn cost(r: &RunRecord) -> String {
    r.cost_usd.map(|c| format!("${c:.2}")).unwrap_or_default()
}

/// `running`, `waiting (permission: Bash)`, `completed`, … (the turn hooks' word while an
/// interactive run waits for the person).
fn status_word(r: &RunRecord) -> String {
    match &r.turn {
        Some(t) if r.status.is_active() && t.is_waiting() => t.describe(),
        _ => r.status.display().to_string(),
    }
}

fn status_class(r: &RunRecord) -> &'static str {
    if r.status.is_active() && r.turn.as_ref().is_some_and(|t| t.is_waiting()) {
        return "waiting";
    }
    match r.status.display() {
        "running" | "starting" => "running",
        "completed" => "completed",
        "cancelled" => "cancelled",
        _ => "failed",
    }
}

/// A small POST form for one action.
fn action(name: &str, label: &str, session: &str, run: Option<&str>) -> String {
    format!(
        "<form class=\"act\" method=\"post\" action=\"/api/{name}\"><input type=\"hidden\" name=\"session\" value=\"{s}\">{r}<button type=\"submit\" data-action=\"{name}\">{label}</button></form>",
        s = esc(session),
        r = run.map_or(String::new(), |r| format!(
            "<input type=\"hidden\" name=\"run\" value=\"{}\">",
            esc(r)
        )),
    )
}

fn validity(s: &SessionSnap) -> String {
    match s.errors().next() {
        None => "<span class=\"ok\" title=\"valid\">✓</span>".into(),
        Some(d) => format!(
            "<span class=\"bad\" title=\"{}\">✗ {}:{} {}</span>",
            esc(&d.message),
            d.line,
            d.column,
            esc(d.rule)
        ),
    }
}

fn runs_of<'a>(snap: &'a Snapshot, session: &str) -> Vec<&'a RunRecord> {
    let mut v: Vec<&RunRecord> = snap
        .records
        .values()
        .filter(|r| r.session == session)
        .collect();
    v.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    v
}

fn agent_items(snap: &Snapshot, viewed: &Viewed, session: &str, read_only: bool) -> String {
    let mut out = String::new();
    for r in runs_of(snap, session) {
        let _ = write!(
            out,
            "<li class=\"agent st-{cls}\" data-run=\"{id}\"><a href=\"/a/{id}\">{agent}</a> <span class=\"status\">{st}</span> <span class=\"rt\">{rt}</span> <span class=\"cost\">{cost}</span>{unread}{kill}</li>",
            cls = status_class(r),
            id = esc(&r.id),
            agent = esc(&r.agent),
            st = status_word(r),
            rt = runtime(r, snap.at.max(Utc::now())),
            cost = cost(r),
            unread = if viewed.unread(r) {
                " <span class=\"unread\" title=\"output since you last looked\">● new output</span>"
            } else {
                ""
            },
            kill = if !read_only && r.status.is_active() {
                action("kill", "Kill", session, Some(&r.id))
            } else {
                String::new()
            },
        );
    }
    out
}

/// The board's columns: in progress, paused, completed (and anything else, when present).
pub fn board(snap: &Snapshot, viewed: &Viewed, read_only: bool) -> String {
    let now = Utc::now();
    let mut groups: [(&str, &str, Vec<&SessionSnap>); 4] = [
        ("in_progress", "In progress", Vec::new()),
        ("paused", "Paused", Vec::new()),
        ("completed", "Completed", Vec::new()),
        ("other", "Other", Vec::new()),
    ];
    for s in snap.sessions.values() {
        let i = match s.overview.status.as_str() {
            "in_progress" => 0,
            "paused" => 1,
            "completed" => 2,
            _ => 3,
        };
        groups[i].2.push(s);
    }
    let mut out = format!(
        "<p class=\"summary\">{} session(s), {} running agent(s)</p><div class=\"board\">",
        snap.sessions.len(),
        snap.runs.values().filter(|r| r.active).count()
    );
    for (key, label, mut list) in groups {
        if key == "other" && list.is_empty() {
            continue;
        }
        list.sort_by_key(|s| std::cmp::Reverse(s.overview.updated_at));
        let _ = write!(
            out,
            "<section class=\"col\" data-group=\"{key}\"><h2>{label} <span class=\"n\">{}</span></h2>",
            list.len()
        );
        for s in list {
            out.push_str(&card(snap, viewed, s, read_only, now));
        }
        out.push_str("</section>");
    }
    out.push_str("</div>");
    out
}

/// One session's card on the board.
pub fn card(
    snap: &Snapshot,
    viewed: &Viewed,
    s: &SessionSnap,
    read_only: bool,
    now: DateTime<Utc>,
) -> String {
    let o = &s.overview;
    let runs = runs_of(snap, &o.id);
    let unread = runs.iter().any(|r| viewed.unread(r));
    format!(
        "<article class=\"card{stale}\" data-session=\"{id}\"><h3><a href=\"/s/{id}\">{title}</a>{unread}</h3>\
<p class=\"task\">{task}</p><p class=\"meta\"><span class=\"age\">{age}</span> · <span class=\"check\">☑ {done}/{total}</span> · {valid}{seen}</p>\
<ul class=\"agents\">{agents}</ul></article>",
        stale = if o.stale { " stale" } else { "" },
        id = esc(&o.id),
        title = esc(&o.title),
        unread = if unread {
            " <span class=\"unread\" title=\"agent output since you last looked\">●</span>"
        } else {
            ""
        },
        task = esc(o.current_task.as_deref().unwrap_or("")),
        age = esc(&o.age_label(now)),
        done = s.checklist.done,
        total = s.checklist.total,
        valid = validity(s),
        seen = viewed
            .sessions
            .get(&o.id)
            .map_or(String::new(), |t| format!(
                " · <span class=\"seen\">viewed {} ago</span>",
                format_age(now - *t)
            )),
        agents = agent_items(snap, viewed, &o.id, read_only),
    )
}

/// Markdown to HTML, with raw HTML shown as text.
pub fn markdown(src: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let opts = Options::ENABLE_TASKLISTS
        | Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES;
    let events = Parser::new_ext(src, opts).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        e => e,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// The session page's live part: facts, diagnostics, agents, actions and the file.
pub fn session(
    snap: &Snapshot,
    viewed: &Viewed,
    id: &str,
    text: Option<&str>,
    read_only: bool,
) -> Option<String> {
    let s = snap.sessions.get(id)?;
    let o = &s.overview;
    let now = Utc::now();
    let mut out = format!(
        "<h1>{}</h1><table class=\"facts\"><tr><th>status</th><td class=\"st\">{}</td></tr><tr><th>task</th><td>{}</td></tr><tr><th>age</th><td>{}</td></tr><tr><th>created</th><td>{}</td></tr><tr><th>last updated</th><td>{}</td></tr><tr><th>issue</th><td>{}</td></tr><tr><th>checklist</th><td>{}/{}</td></tr><tr><th>file</th><td><code>{}</code></td></tr><tr><th>valid</th><td>{}</td></tr></table>",
        esc(&o.title),
        esc(&o.status),
        esc(o.current_task.as_deref().unwrap_or("")),
        esc(&o.age_label(now)),
        esc(o.created.as_deref().unwrap_or("")),
        esc(o.last_updated.as_deref().unwrap_or("")),
        esc(s.linear_issue.as_deref().unwrap_or("")),
        s.checklist.done,
        s.checklist.total,
        esc(&o.path),
        validity(s),
    );
    if s.diagnostics.len() > 1 || !s.valid() {
        out.push_str("<ul class=\"diags\">");
        for d in &s.diagnostics {
            let _ = write!(
                out,
                "<li class=\"{:?}\">{}:{} <code>{}</code> {}</li>",
                d.severity,
                d.line,
                d.column,
                esc(d.rule),
                esc(&d.message)
            );
        }
        out.push_str("</ul>");
    }
    if !read_only {
        out.push_str("<div class=\"actions\">");
        if o.status == "paused" {
            out.push_str(&action("resume", "Resume", id, None));
        } else if o.status == "in_progress" {
            out.push_str(&action("pause", "Pause", id, None));
        }
        out.push_str(&action("validate", "Validate", id, None));
        out.push_str(&action("review", "Mark reviewed", id, None));
        let _ = write!(
            out,
            "<form class=\"act spawn\" method=\"post\" action=\"/api/spawn\"><input type=\"hidden\" name=\"session\" value=\"{}\"><input name=\"agent\" placeholder=\"agent\" required size=\"10\"><input name=\"task\" placeholder=\"task\" required size=\"30\"><button type=\"submit\" data-action=\"spawn\">Spawn</button></form>",
            esc(id)
        );
        out.push_str("</div>");
    }
    let agents = agent_items(snap, viewed, id, read_only);
    if !agents.is_empty() {
        let _ = write!(out, "<h2>Agents</h2><ul class=\"agents\">{agents}</ul>");
    }
    if let Some(text) = text {
        let doc = crate::session::Document::parse_frontmatter(text);
        let body = text.get(doc.body_start..).unwrap_or(text);
        let front = text.get(..doc.body_start).unwrap_or("");
        let _ = write!(
            out,
            "<details class=\"front\"><summary>frontmatter</summary><pre>{}</pre></details><article class=\"md\">{}</article>",
            esc(front),
            markdown(body)
        );
    }
    Some(out)
}

/// The agent page's live header: status, runtime, cost, outcome, attach command, actions.
pub fn agent_head(snap: &Snapshot, run: &str, read_only: bool) -> Option<String> {
    let r = snap.records.get(run)?;
    let mut out = format!(
        "<h1><a href=\"/s/{sid}\">{session}</a> · {agent} <span class=\"st-{cls} status\">{st}</span></h1>\
<table class=\"facts\"><tr><th>run</th><td><code>{id}</code></td></tr><tr><th>task</th><td>{task}</td></tr><tr><th>runtime</th><td>{rt}</td></tr><tr><th>cost</th><td>{cost}</td></tr><tr><th>exit code</th><td>{exit}</td></tr><tr><th>summary</th><td>{summary}</td></tr><tr><th>log</th><td><code>{log}</code></td></tr>",
        sid = esc(&r.session),
        session = esc(&r.session),
        agent = esc(&r.agent),
        cls = status_class(r),
        st = status_word(r),
        id = esc(&r.id),
        task = esc(&r.task),
        rt = runtime(r, Utc::now()),
        cost = cost(r),
        exit = r.exit_code.map_or(String::new(), |c| c.to_string()),
        summary = esc(r.summary.as_deref().unwrap_or("")),
        log = esc(&r.log.display().to_string()),
    );
    if matches!(r.runner, crate::agents::runner::RunnerState::Tmux(_)) {
        let cmd = format!("sessions attach {}:{}", r.session, r.id);
        let _ = write!(
            out,
            "<tr><th>attach</th><td><code id=\"attach\">{}</code> <button type=\"button\" data-copy=\"attach\">Copy</button></td></tr>",
            esc(&cmd)
        );
    }
    out.push_str("</table>");
    if !read_only {
        out.push_str("<div class=\"actions\">");
        if r.status.is_active() {
            out.push_str(&action("kill", "Kill", &r.session, Some(&r.id)));
        }
        out.push_str(&action("review", "Mark reviewed", &r.session, Some(&r.id)));
        // A follow-up: `sessions send` resumes a finished run, queues for a working one, or
        // types into a waiting tmux pane.
        let _ = write!(
            out,
            "<form class=\"act send\" method=\"post\" action=\"/api/send\"><input type=\"hidden\" name=\"session\" value=\"{}\"><input type=\"hidden\" name=\"run\" value=\"{}\"><input name=\"message\" placeholder=\"follow-up message\" required size=\"40\"><button type=\"submit\" data-action=\"send\">Send</button></form>",
            esc(&r.session),
            esc(&r.id)
        );
        out.push_str("</div>");
    }
    Some(out)
}

/// The agent page around its live header: for a tmux run its pane (typing off until the
/// person turns it on; no toggle at all when read-only), then the search box and the log.
pub fn agent_page(head: &str, tmux: bool, read_only: bool) -> String {
    let pane = if tmux {
        let control = if read_only {
            "<span class=\"ro\">read-only: typing is off</span>"
        } else {
            "<label class=\"typing\"><input type=\"checkbox\" id=\"typing\" autocomplete=\"off\"> Enable typing</label>"
        };
        let keys = if read_only {
            ""
        } else {
            "<form id=\"keys\" class=\"keys\" hidden><input id=\"keys-text\" placeholder=\"a line to type; Enter sends it\" autocomplete=\"off\" size=\"40\"> <button type=\"submit\">Send line</button> <span class=\"named\"><button type=\"button\" data-key=\"enter\">Enter</button><button type=\"button\" data-key=\"ctrl-c\">Ctrl-C</button><button type=\"button\" data-key=\"esc\">Esc</button><button type=\"button\" data-key=\"tab\">Tab</button><button type=\"button\" data-key=\"up\" title=\"Up\">↑</button><button type=\"button\" data-key=\"down\" title=\"Down\">↓</button><button type=\"button\" data-key=\"left\" title=\"Left\">←</button><button type=\"button\" data-key=\"right\" title=\"Right\">→</button></span></form>"
        };
        format!(
            "<section class=\"pane-view\"><div class=\"panebar\"><strong>Pane</strong> <span id=\"pane-state\">connecting…</span> {control}</div><pre id=\"pane\" class=\"pane\"></pre>{keys}</section>"
        )
    } else {
        String::new()
    };
    format!(
        "<div id=\"live-part\">{head}</div>{pane}<div class=\"logbar\"><input id=\"search\" type=\"search\" placeholder=\"search the log\" autocomplete=\"off\"> <span id=\"matches\"></span></div><pre id=\"log\" class=\"log\"></pre>"
    )
}
