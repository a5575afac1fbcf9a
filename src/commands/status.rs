//! `sessions status`: a summary of active sessions, or one session in detail (frontmatter,
//! section sizes, checklist progress, agents, validation problems).

use serde::Serialize;

use super::Ctx;
use crate::agents::output::{Tokens, usage_text};
use crate::cli::{SortKey, StatusArgs};
use crate::diagnostic::Diagnostic;
use crate::error::Result;
use crate::overview::{self, Overview};
use crate::session::Document;
use crate::session::document::{checklist, content_lines};
use crate::session::yaml::Node;
use crate::store;
use crate::terminal::{self, line};
use crate::validation::validate_file;

#[derive(Serialize)]
struct SectionInfo {
    name: String,
    line: usize,
    lines: usize,
    bytes: usize,
    checklist: (usize, usize),
}

#[derive(Serialize)]
struct AgentInfo {
    agent: String,
    task: String,
    status: String,
    summary: Option<String>,
    log: Option<String>,
    run_id: Option<String>,
    conversation_id: Option<String>,
    cost_usd: Option<f64>,
    tokens: Option<Tokens>,
    turns: Option<u64>,
    /// `waiting (permission: Bash)` while an interactive run waits for the person.
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<String>,
}

/// What the session's agents used in all, as their entries say (`None` where none reported).
#[derive(Serialize, Default)]
struct AgentTotals {
    runs: usize,
    cost_usd: Option<f64>,
    tokens: Option<Tokens>,
    turns: Option<u64>,
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

/// The conversation `status` runs in and what it is bound to, for the person and `--json`.
struct Here {
    conversation: crate::binding::Conversation,
    /// The bound session file (relative to the root), when it still exists.
    session: Option<String>,
    binding: Option<crate::binding::Binding>,
}

impl Here {
    fn json(&self) -> serde_json::Value {
        let b = self.binding.as_ref();
        serde_json::json!({
            "id": self.conversation.id,
            "found": self.conversation.found,
            "via": b.and_then(|b| b.via.clone()),
            "bound_at": b.map(|b| b.bound_at.clone()),
            "run": b.and_then(|b| b.run.clone()),
        })
    }
}

fn this_conversation(ctx: &Ctx) -> Option<Here> {
    let conversation = super::conversation(ctx)?;
    let binding = crate::binding::read(&ctx.repo, &conversation.id);
    let session = binding
        .as_ref()
        .and_then(|b| crate::binding::existing(&ctx.repo, b))
        .map(|p| ctx.repo.display(&p));
    Some(Here {
        conversation,
        session,
        binding,
    })
}

#[derive(Serialize)]
struct Detail {
    #[serde(flatten)]
    overview: Overview,
    linear_issue: Option<String>,
    linear_url: Option<String>,
    sections: Vec<SectionInfo>,
    checklist: (usize, usize),
    spawned_agents: Vec<AgentInfo>,
    /// The session's agents' cost, tokens and turns added up.
    agent_totals: AgentTotals,
    diagnostics: Vec<Diagnostic>,
}

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<u8> {
    match &args.session {
        Some(reference) => detail(ctx, reference, args.json),
        None => summary(ctx, args.json),
    }
}

fn summary(ctx: &Ctx, json: bool) -> Result<u8> {
    let config = ctx.config()?;
    let mut active: Vec<Overview> = overview::load_all(&ctx.repo, ctx.now, config.stale_after)?
        .into_iter()
        .filter(Overview::is_active)
        .collect();
    super::list::sort(&mut active, SortKey::Status);
    let here = this_conversation(ctx);
    if json {
        // The array of SPEC's listing; the session this conversation is bound to carries
        // `conversation`: {id, found, via, bound_at, run}.
        let items: Vec<serde_json::Value> = active
            .iter()
            .map(|o| {
                let mut v = serde_json::to_value(o).unwrap_or_default();
                if let (Some(h), Some(map)) = (&here, v.as_object_mut())
                    && h.session.as_deref() == Some(o.path.as_str())
                {
                    map.insert("conversation".into(), h.json());
                }
                v
            })
            .collect();
        println!(
            "{}",
            terminal::json(serde_json::to_string_pretty(&items).unwrap_or_default())
        );
        return Ok(0);
    }
    if let Some(h) = &here {
        let how = h.conversation.found.describe();
        match (&h.session, &h.binding) {
            (Some(shown), Some(b)) => {
                let path = ctx.repo.root.join(shown);
                let via = b
                    .via
                    .as_deref()
                    .map(|v| format!(", bound by {v}"))
                    .unwrap_or_default();
                match active.iter().position(|o| &o.path == shown) {
                    Some(pos) => {
                        let mine = active.remove(pos);
                        println!(
                            "This conversation: \"{}\" ({}), {}, updated {} ago",
                            line(&mine.title),
                            line(&ctx.show_path(&path)),
                            line(&mine.status),
                            mine.age(ctx.now)
                        );
                        active.insert(0, mine);
                    }
                    None => println!(
                        "This conversation: {} (not active)",
                        line(&ctx.show_path(&path))
                    ),
                }
                println!(
                    "  conversation {} (found from {how}{via})\n",
                    h.conversation.id
                );
            }
            (None, Some(b)) => println!(
                "This conversation ({}, found from {how}) was bound to {}, which no longer exists; bind it again with `sessions resume SESSION`.\n",
                h.conversation.id,
                line(&b.session)
            ),
            _ => println!(
                "This conversation ({}, found from {how}) is not bound to a session; bind it with `sessions resume SESSION` or `sessions new \"…\"`.\n",
                h.conversation.id
            ),
        }
    }
    let count = |s: &str| active.iter().filter(|o| o.status == s).count();
    let stale = active.iter().filter(|o| o.stale).count();
    let running: usize = active.iter().map(|o| o.agents.running).sum();
    let waiting: usize = crate::agents::waiting::waiting_by_session(&ctx.repo.state_dir())
        .values()
        .sum();
    println!(
        "{} in progress, {} paused, {} stale, {} agent{} running{}",
        count("in_progress"),
        count("paused"),
        stale,
        running,
        if running == 1 { "" } else { "s" },
        if waiting > 0 {
            format!(" ({waiting} waiting for you)")
        } else {
            String::new()
        }
    );
    let other = active.len() - count("in_progress") - count("paused");
    if other > 0 {
        println!("{other} file(s) with an unreadable or invalid status: run `sessions validate`");
    }
    if !active.is_empty() {
        println!();
        print!("{}", super::list::table(ctx, &active));
        println!("\nDetail: sessions status SESSION");
    } else {
        println!("Create one with: sessions new \"what you are working on\"");
    }
    Ok(0)
}

fn detail(ctx: &Ctx, reference: &str, json: bool) -> Result<u8> {
    let config = ctx.config()?;
    let path = ctx.repo.resolve(reference, &ctx.cwd)?;
    let runs = crate::agents::sync::Runs::load_session(&ctx.repo, &super::stem(&path));
    let text = store::read_session(&path)?;
    let (text, orphans) = crate::agents::sync::check_entries(&ctx.repo, &path, text);
    let doc = Document::parse(&text);
    let display = ctx.show_path(&path);
    let mut overview = Overview::new(
        &path,
        ctx.repo.display(&path),
        Some(&text),
        ctx.now,
        config.stale_after,
    );
    runs.correct_with(&mut overview, &orphans);
    let sections: Vec<SectionInfo> = doc
        .sections
        .iter()
        .map(|s| SectionInfo {
            name: doc.text(&s.heading.text).to_string(),
            line: doc.position(s.heading.line.start).0,
            lines: content_lines(&text, s.body.clone()),
            bytes: doc.text(&s.body).trim_end().len(),
            checklist: checklist(&text, s.body.clone()),
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
    let diagnostics = validate_file(Some(&ctx.repo), &path, &display, &mut Vec::new(), ctx.now)?;
    let d = Detail {
        linear_issue: doc
            .str_value(&["session", "linear_issue"])
            .map(str::to_owned),
        linear_url: doc.str_value(&["session", "linear_url"]).map(str::to_owned),
        checklist: checklist(&text, doc.body_start..text.len()),
        overview,
        sections,
        spawned_agents: agents,
        agent_totals,
        diagnostics,
    };
    if json {
        println!(
            "{}",
            terminal::json(serde_json::to_string_pretty(&d).unwrap_or_default())
        );
        return Ok(0);
    }
    let o = &d.overview;
    // The free text is cut to fit the terminal (whole in `--json`); control characters are
    // shown, not obeyed.
    let room =
        |used: usize| crate::style::width().map_or(usize::MAX, |w| w.saturating_sub(used).max(16));
    let cut = |s: &str, used: usize| crate::table::truncate(&line(s), room(used));
    println!("{}", cut(&o.title, 0));
    println!(
        "  file      {}",
        crate::table::truncate_start(&line(&display), room(12))
    );
    let color = crate::style::color();
    let stale = if o.stale { "  (stale)" } else { "" };
    println!(
        "  status    {}, updated {} ago{}",
        crate::style::statuses(&line(&o.status), color),
        o.age(ctx.now),
        crate::style::statuses(stale, color)
    );
    println!("  created   {}", line(o.created.as_deref().unwrap_or("?")));
    if let Some(h) = this_conversation(ctx)
        && h.session.as_deref() == Some(o.path.as_str())
    {
        println!(
            "  bound     to this conversation ({}, found from {})",
            h.conversation.id,
            h.conversation.found.describe()
        );
    }
    println!(
        "  task      {}",
        cut(o.current_task.as_deref().unwrap_or("(none)"), 12)
    );
    if let Some(issue) = &d.linear_issue {
        println!(
            "  issue     {}{}",
            line(issue),
            d.linear_url
                .as_ref()
                .map(|u| format!("  {}", line(u)))
                .unwrap_or_default()
        );
    }
    if d.checklist.1 > 0 {
        println!(
            "  progress  {}/{} checklist items done",
            d.checklist.0, d.checklist.1
        );
    }
    println!("\nSections");
    for s in &d.sections {
        let check = if s.checklist.1 > 0 {
            format!("  [{}/{}]", s.checklist.0, s.checklist.1)
        } else {
            String::new()
        };
        let size = match s.lines {
            0 => "empty".to_string(),
            1 => "1 line".to_string(),
            n => format!("{n} lines"),
        };
        println!("  {:<22} {size}{check}", line(&s.name));
    }
    if !d.spawned_agents.is_empty() {
        let t = &d.agent_totals;
        let total = usage_text(t.cost_usd, t.tokens, t.turns)
            .map(|u| format!(": {u} in all"))
            .unwrap_or_default();
        println!("\nAgents ({}){total}", d.spawned_agents.len());
        for a in &d.spawned_agents {
            let shown = a.waiting.as_deref().unwrap_or(&a.status);
            let status = crate::style::statuses(&format!("{:<12}", line(shown)), color);
            let task = cut(&a.task, 32);
            println!("  {:<16} {status} {task}", line(&a.agent));
            if let Some(s) = &a.summary {
                println!(
                    "  {:<16} {:<12} ↳ {}",
                    "",
                    "",
                    crate::table::truncate(&line(s), room(34).min(80))
                );
            }
            if let Some(u) = usage_text(a.cost_usd, a.tokens, a.turns) {
                println!("  {:<16} {:<12}   {u}", "", "");
            }
        }
    }
    println!();
    if d.diagnostics.is_empty() {
        println!("Valid.");
    } else {
        println!(
            "Validation ({} problem{}):",
            d.diagnostics.len(),
            if d.diagnostics.len() == 1 { "" } else { "s" }
        );
        for diag in &d.diagnostics {
            println!(
                "  {}:{} {}[{}] {}",
                diag.line,
                diag.column,
                diag.severity.as_str(),
                diag.rule,
                line(&diag.message)
            );
        }
    }
    Ok(0)
}
