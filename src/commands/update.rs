//! `sessions update`: frontmatter values, sections and checklist items, as lossless edits.

use super::{Ctx, edit_session, text_arg};
use crate::cli::UpdateArgs;
use crate::error::{Error, Result};
use crate::session::edit::{Op, Scalar, key_path};
use crate::session::rules::{SESSION_STATUSES, canonical_session_status};
use crate::write::Outcome;

pub fn run(ctx: &Ctx, args: UpdateArgs) -> Result<u8> {
    let path = super::session_path(ctx, args.session.as_deref())?;
    let mut ops = Vec::new();
    let mut what = Vec::new();
    let mut set = |keys: &[&str], value: &Option<String>, what: &mut Vec<String>| {
        if let Some(v) = value {
            ops.push(Op::Set {
                path: key_path(keys),
                value: Scalar::str(v.trim()),
            });
            what.push(keys[1].to_string());
        }
    };
    if let Some(status) = &args.status
        && !SESSION_STATUSES.contains(&status.as_str())
    {
        let hint = canonical_session_status(status)
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        return Err(Error::Usage(format!(
            "--status `{status}` is not one of {}{hint}",
            SESSION_STATUSES.join(", ")
        )));
    }
    if let Some(url) = &args.issue_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(Error::Usage(format!(
            "--issue-url `{url}` is not an http(s) URL"
        )));
    }
    for (value, name) in [(&args.title, "--title"), (&args.task, "--task")] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(Error::Usage(format!("{name} is empty; give it a value")));
        }
    }
    set(&["session", "status"], &args.status, &mut what);
    set(&["session", "title"], &args.title, &mut what);
    set(&["orchestration", "current_task"], &args.task, &mut what);
    set(
        &["session", "linear_issue"],
        &args.issue.map(|k| k.to_ascii_uppercase()),
        &mut what,
    );
    set(&["session", "linear_url"], &args.issue_url, &mut what);
    let mut stdin_used = false;
    let mut text = |t: &str| text_arg(t, &mut stdin_used);
    if let Some(t) = &args.state {
        ops.push(Op::SetSection {
            name: "Current State".into(),
            text: text(t)?,
        });
        what.push("Current State".into());
    }
    if let Some(t) = &args.next {
        ops.push(Op::SetSection {
            name: "Next Steps".into(),
            text: text(t)?,
        });
        what.push("Next Steps".into());
    }
    if let Some(name) = &args.section {
        match (&args.set, &args.append) {
            (Some(t), _) => ops.push(Op::SetSection {
                name: name.clone(),
                text: text(t)?,
            }),
            (None, Some(t)) => ops.push(Op::AppendSection {
                name: name.clone(),
                text: text(t)?,
            }),
            (None, None) => {
                return Err(Error::Usage(format!(
                    "--section {name} needs --set TEXT or --append TEXT"
                )));
            }
        }
        what.push(name.clone());
    }
    for item in &args.check {
        ops.push(Op::Check {
            item: item.clone(),
            checked: true,
        });
        what.push(format!("[x] {item}"));
    }
    for item in &args.uncheck {
        ops.push(Op::Check {
            item: item.clone(),
            checked: false,
        });
        what.push(format!("[ ] {item}"));
    }
    if !args.file_modified.is_empty() {
        what.push("Files Modified".into());
    }
    if ops.is_empty() && args.file_modified.is_empty() {
        return Err(Error::Usage(
            "nothing to update: give at least one of --status, --task, --title, --issue, --issue-url, --state, --next, --section, --check, --uncheck, --file-modified".into(),
        ));
    }
    let files = args.file_modified.clone();
    let outcome = edit_session(ctx, &path, |text| {
        let mut all = ops.clone();
        if files.is_empty() {
            return Ok(all);
        }
        let doc = crate::session::Document::parse(text);
        let listed = doc
            .section("Files Modified")
            .map(|s| doc.text(&s.body))
            .unwrap_or("");
        for f in &files {
            if !listed
                .lines()
                .any(|l| l.trim_start_matches(['-', '*', ' ']).trim_matches('`') == f)
            {
                all.push(Op::AppendSection {
                    name: "Files Modified".into(),
                    text: format!("- `{f}`"),
                });
            }
        }
        Ok(all)
    })?;
    report(ctx, &path, &outcome, &what.join(", "));
    Ok(0)
}

pub fn report(ctx: &Ctx, path: &std::path::Path, outcome: &Outcome, what: &str) {
    match outcome {
        Outcome::Written { .. } => println!("updated {} ({what})", ctx.show_path(path)),
        Outcome::Unchanged => println!("unchanged {} (already as requested)", ctx.show_path(path)),
    }
}
