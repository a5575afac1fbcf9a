//! `sessions handoff`: is the file ready for someone else to continue? If so, log the handoff
//! and print a Markdown brief for the next agent.

use super::{Ctx, edit_session};
use crate::cli::HandoffArgs;
use crate::error::Result;
use crate::session::Document;
use crate::session::document::{checkbox, prose_lines};
use crate::session::edit::{Op, section_has_content};
use crate::store;
use crate::store::SessionId;

pub fn run(ctx: &Ctx, args: HandoffArgs) -> Result<u8> {
    let path = super::session_path(ctx, args.session.as_deref())?;
    let text = store::read_session(&path)?;
    let doc = Document::parse(&text);
    let missing = readiness(&doc, args.require_files);
    if !missing.is_empty() {
        eprintln!("{} is not ready to hand off:", ctx.show_path(&path));
        for m in &missing {
            eprintln!("  - {m}");
        }
        eprintln!(
            "Fix them with `sessions update {} …`, then run handoff again.",
            SessionId::of(&path)
        );
        return Ok(1);
    }
    let to = args.to.as_deref().unwrap_or("the next agent");
    let op = Op::Log {
        at: ctx.now,
        actor: crate::actor::default_actor(),
        message: format!("Handed off to {to}."),
    };
    edit_session(ctx, &path, |_| Ok(vec![op.clone()]))?;
    let text = store::read_session(&path)?;
    print!(
        "{}",
        brief(
            &Document::parse(&text),
            &ctx.repo.display(&path),
            args.to.as_deref()
        )
    );
    Ok(0)
}

/// What keeps the session from being handed off, as sentences.
pub fn readiness(doc: &Document, require_files: bool) -> Vec<String> {
    let mut missing = Vec::new();
    if doc.yaml().is_none() {
        missing.push("the frontmatter is missing or invalid (run `sessions validate`)".into());
        return missing;
    }
    for (keys, what) in [
        (["session", "title"], "a title"),
        (["orchestration", "current_task"], "a current task"),
    ] {
        if doc.str_value(&keys).is_none_or(|v| v.trim().is_empty()) {
            missing.push(format!("{what} (`{}`)", keys.join(".")));
        }
    }
    if doc.str_value(&["session", "status"]) == Some("completed") {
        missing
            .push("the status is completed: a finished session is closed, not handed off".into());
    }
    for name in ["Current State", "Next Steps"] {
        if doc.section(name).is_none() {
            missing.push(format!("a `## {name}` section"));
        } else if !section_has_content(doc, name) {
            missing.push(format!(
                "content in `## {name}` (it is empty or only the template placeholder)"
            ));
        }
    }
    if require_files && !section_has_content(doc, "Files Modified") {
        missing.push("files modified (`sessions update SESSION --file-modified PATH`)".into());
    }
    missing
}

fn body(doc: &Document, name: &str) -> Option<String> {
    let s = doc.section(name)?;
    let text = strip_comments(doc.text(&s.body));
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Drops HTML comments (template placeholders) from a section body.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("<!--") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find("-->").map_or("", |j| &rest[i + j + 3..]);
    }
    out.push_str(rest);
    out
}

/// The Markdown brief: title, task, Context, Current State, Next Steps, open items, blockers.
pub fn brief(doc: &Document, path: &str, to: Option<&str>) -> String {
    let title = doc.str_value(&["session", "title"]).unwrap_or("(untitled)");
    let task = doc
        .str_value(&["orchestration", "current_task"])
        .unwrap_or("(none)");
    let mut out = format!("# Handoff: {title}\n\n");
    if let Some(to) = to {
        out.push_str(&format!("For: {to}\n"));
    }
    out.push_str(&format!("Session file: `{path}`\nCurrent task: {task}\n"));
    if let Some(issue) = doc.str_value(&["session", "linear_issue"]) {
        out.push_str(&format!("Issue: {issue}\n"));
    }
    for name in ["Context", "Current State", "Next Steps"] {
        if let Some(b) = body(doc, name) {
            out.push_str(&format!("\n## {name}\n\n{b}\n"));
        }
    }
    let open: Vec<String> = prose_lines(doc.src, doc.body_start..doc.src.len())
        .map(|(s, e, _)| doc.src[s..e].trim())
        .filter(|l| checkbox(l) == Some(false))
        .map(str::to_owned)
        .collect();
    if !open.is_empty() {
        out.push_str(&format!(
            "\n## Open items ({})\n\n{}\n",
            open.len(),
            open.join("\n")
        ));
    }
    if let Some(b) = body(doc, "Blockers") {
        out.push_str(&format!("\n## Blockers\n\n{b}\n"));
    }
    out.push_str(&format!(
        "\nContinue with: `sessions resume {}` and keep `## Current State` true as you go.\n",
        crate::store::SessionId::of(std::path::Path::new(path))
    ));
    out
}
