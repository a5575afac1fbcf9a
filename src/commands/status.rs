//! `sessions status`: a summary of active sessions, or one session in detail (frontmatter,
//! section sizes, checklist progress, agents, validation problems).

use super::Ctx;
use crate::agents::output::usage_text;
use crate::cli::{JsonArgs, SortKey, StatusArgs};
use crate::detail::Detail;
use crate::error::Result;
use crate::overview::{self, Overview};
use crate::session::rules::Severity;
use crate::terminal::line;
use crate::validation::validate_file;

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

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<u8> {
    match &args.session {
        Some(reference) => detail(ctx, reference, &args.json),
        None => summary(ctx, &args.json),
    }
}

/// The fields of the summary's JSON: the listing's, and `conversation` on the bound session.
const SUMMARY_FIELDS: &[&[&str]] = &[Overview::FIELDS, &["conversation"]];

fn summary(ctx: &Ctx, json: &JsonArgs) -> Result<u8> {
    let config = ctx.config()?;
    let mut active: Vec<Overview> = overview::load_all(&ctx.repo, ctx.now, config.stale_after)?
        .into_iter()
        .filter(Overview::is_active)
        .collect();
    crate::overview::sort(&mut active, SortKey::Status);
    let here = this_conversation(ctx);
    if json.on() {
        // The array of SPEC's listing; the session this conversation is bound to carries
        // `conversation`: {id, found, via, bound_at, run}.
        let items = active
            .iter()
            .map(|o| {
                let mut v = serde_json::to_value(o)?;
                if let (Some(h), Some(map)) = (&here, v.as_object_mut())
                    && h.session.as_deref() == Some(o.path.as_str())
                {
                    map.insert("conversation".into(), h.json());
                }
                Ok(v)
            })
            .collect::<Result<Vec<serde_json::Value>>>()?;
        return crate::jsonout::print(json, &items, SUMMARY_FIELDS);
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
        // A file that does not parse has no age to show: say why instead.
        let broken: Vec<&Overview> = active.iter().filter(|o| o.is_broken()).collect();
        if !broken.is_empty() {
            println!();
            for o in broken {
                let path = ctx.repo.root.join(&o.path);
                let why = format!("{}: {}", o.id, first_problem(ctx, &path, &o.path));
                let room = crate::style::width().unwrap_or(usize::MAX);
                println!("{}", crate::table::truncate(&line(&why), room));
            }
        }
        println!("\nDetail: sessions status SESSION");
    } else {
        println!("Create one with: sessions new \"what you are working on\"");
    }
    Ok(0)
}

/// A file's first error, short: `line 3:10: this quote is never closed`.
fn first_problem(ctx: &Ctx, path: &std::path::Path, shown: &str) -> String {
    match validate_file(Some(&ctx.repo), path, shown, &mut Vec::new(), ctx.now) {
        Ok(diags) => diags
            .iter()
            .find(|d| d.severity == Severity::Error)
            .map_or_else(|| "no error found: run `sessions validate`".into(), short),
        Err(e) => e.to_string(),
    }
}

/// One diagnostic on one short line: where, and its first sentence.
fn short(d: &crate::diagnostic::Diagnostic) -> String {
    let first = d.message.split(". ").next().unwrap_or(&d.message);
    let first = first
        .split(';')
        .next()
        .unwrap_or(first)
        .trim_end_matches('.');
    if d.line == 0 {
        first.to_string()
    } else {
        format!("line {}:{}: {first}", d.line, d.column)
    }
}

fn detail(ctx: &Ctx, reference: &str, json: &JsonArgs) -> Result<u8> {
    let config = ctx.config()?;
    let path = ctx.repo.resolve(reference, &ctx.cwd)?;
    let display = ctx.show_path(&path);
    let d = Detail::load(&ctx.repo, &path, &display, ctx.now, config.stale_after)?;
    if json.on() {
        // As the text view: `conversation` when this conversation is bound to it.
        let mut v = serde_json::to_value(&d)?;
        if let (Some(h), Some(map)) = (this_conversation(ctx), v.as_object_mut())
            && h.session.as_deref() == Some(d.overview.path.as_str())
        {
            map.insert("conversation".into(), h.json());
        }
        return crate::jsonout::print(json, &v, &[Overview::FIELDS, Detail::OWN_FIELDS]);
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
    let problem = d
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .map(short);
    match problem.filter(|_| o.is_broken() || o.updated_at.is_none()) {
        Some(why) => println!(
            "  status    {}: {}",
            crate::style::statuses(&line(&o.status), color),
            cut(&why, 12)
        ),
        None => println!(
            "  status    {}, updated {} ago{}",
            crate::style::statuses(&line(&o.status), color),
            o.age(ctx.now),
            crate::style::statuses(stale, color)
        ),
    }
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
    if d.checklist.total > 0 {
        println!(
            "  progress  {}/{} checklist items done",
            d.checklist.done, d.checklist.total
        );
    }
    println!("\nSections");
    for s in &d.sections {
        let check = if s.checklist.total > 0 {
            format!("  [{}/{}]", s.checklist.done, s.checklist.total)
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
