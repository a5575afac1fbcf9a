//! `sessions close` and `sessions delete`. Closing prints the knowledge-extraction checklist
//! (issue tracker, ADRs, remaining work), optionally writes an ADR, then deletes the file —
//! sessions are deleted, not archived — or moves it to `archive/` with `--archive`.

use crate::store::SessionId;
use std::fs;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use super::Ctx;
use crate::agents::writeback::link_target;
use crate::cli::{CloseArgs, DeleteArgs};
use crate::error::{Error, Result};
use crate::session::Document;
use crate::session::document::{checklist, content_lines};
use crate::session::edit::{Op, Scalar, key_path};
use crate::session::name::slugify;
use crate::store;

pub fn close(ctx: &Ctx, args: CloseArgs) -> Result<u8> {
    let path = super::session_path(ctx, args.session.as_deref())?;
    crate::write::writable_target(&ctx.repo, &path)?;
    let text = store::read_session(&path)?;
    let doc = Document::parse(&text);
    let title = doc
        .str_value(&["session", "title"])
        .unwrap_or("(untitled)")
        .to_string();
    refuse_if_running(ctx, &path, args.force)?;
    let adr = match &args.adr {
        Some(adr_title) => Some(Adr::of(ctx, &doc, &path, adr_title)?),
        None => None,
    };

    println!("Before closing \"{title}\" ({}):", ctx.show_path(&path));
    let issue = doc.str_value(&["session", "linear_issue"]);
    match issue {
        Some(i) => println!(
            "  [ ] Issue tracker updated: {i}{}",
            doc.str_value(&["session", "linear_url"])
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        ),
        None => println!("  [ ] Issue tracker updated (no linear_issue set)"),
    }
    let decisions = doc
        .section("Decisions")
        .map_or(0, |s| content_lines(&text, s.body.clone()));
    if decisions > 0 {
        println!(
            "  [ ] Decisions recorded as ADRs under docs/decisions/ ({decisions} lines in ## Decisions; --adr \"TITLE\" writes one)"
        );
    } else {
        println!("  [x] No decisions to record");
    }
    let (done, total) = checklist(&text, doc.body_start..text.len());
    let next = doc
        .section("Next Steps")
        .map_or(0, |s| content_lines(&text, s.body.clone()));
    if total > done || next > 0 {
        println!(
            "  [ ] Remaining work captured elsewhere ({} open checklist items, {next} lines in ## Next Steps)",
            total - done
        );
    } else {
        println!("  [x] No remaining work recorded");
    }
    if let Some(adr) = adr {
        let written = adr.write(ctx)?;
        println!("\nwrote ADR {}", ctx.show_path(&written));
    }
    let verb = if args.archive { "Archive" } else { "Delete" };
    if !confirm(args.yes, &format!("{verb} {}?", ctx.show_path(&path)))? {
        println!("Kept {}.", ctx.show_path(&path));
        return Ok(1);
    }
    if args.archive {
        let dir = ctx.repo.archive_dir();
        let dest = dir.join(path.file_name().unwrap_or_default());
        if dest.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; not overwriting it",
                ctx.show_path(&dest)
            )));
        }
        // Links into .agents/logs/ are relative to the file: one more `..` in archive/.
        let logs = ctx.repo.logs_dir();
        let (from, to) = (
            format!("]({}/", link_target(&path, &logs)),
            format!("]({}/", link_target(&dest, &logs)),
        );
        let ops = vec![
            Op::Set {
                path: key_path(&["session", "status"]),
                value: Scalar::str("completed"),
            },
            Op::Log {
                at: ctx.now,
                actor: crate::actor::default_actor(),
                message: "Closed and archived.".into(),
            },
            Op::ReplaceInBody {
                from: from.clone(),
                to: to.clone(),
            },
        ];
        super::edit_session(ctx, &path, |_| Ok(ops.clone()))?;
        let moved = fs::create_dir_all(&dir)
            .map_err(|e| Error::write(&dir, e))
            .and_then(|()| fs::rename(&path, &dest).map_err(|e| Error::write(&dest, e)));
        if let Err(e) = moved {
            // Still in place: its links must resolve from here again.
            let back = [Op::ReplaceInBody { from: to, to: from }];
            let _ = super::edit_session(ctx, &path, |_| Ok(back.to_vec()));
            return Err(e);
        }
        println!("archived to {}", ctx.show_path(&dest));
    } else {
        fs::remove_file(&path).map_err(|e| Error::write(&path, e))?;
        println!("deleted {}", ctx.show_path(&path));
    }
    super::worktree::cleanup_session(ctx, &crate::store::SessionId::of(&path));
    Ok(0)
}

pub fn delete(ctx: &Ctx, args: DeleteArgs) -> Result<u8> {
    let path = ctx.repo.resolve(&args.session, &ctx.cwd)?;
    crate::write::writable_target(&ctx.repo, &path)?;
    refuse_if_running(ctx, &path, args.force)?;
    if !confirm(args.yes, &format!("Delete {}?", ctx.show_path(&path)))? {
        println!("Kept {}.", ctx.show_path(&path));
        return Ok(1);
    }
    fs::remove_file(&path).map_err(|e| Error::write(&path, e))?;
    println!("deleted {}", ctx.show_path(&path));
    Ok(0)
}

fn refuse_if_running(ctx: &Ctx, path: &Path, force: bool) -> Result<()> {
    let (running, orphans) = super::agents_of(ctx, path)?;
    // Entries this machine has no run record of: say what we see instead of guessing.
    for o in &orphans {
        eprintln!(
            "sessions: note: agent {} (run {}) shows in_progress in the file: {}",
            o.agent,
            o.run_id,
            o.describe()
        );
    }
    if running > 0 && !force {
        return Err(Error::AgentsRunning {
            path: ctx.show_path(path),
            running,
            hint: format!(
                "stop them with `sessions kill {} --all` or pass --force",
                SessionId::of(path)
            ),
        });
    }
    Ok(())
}

/// Asks on a terminal; elsewhere `--yes` is required (a script must say what it means).
fn confirm(yes: bool, question: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(format!(
            "{question} Not on a terminal: pass --yes to confirm"
        )));
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::read(Path::new("<stdin>"), e))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// An ADR drawn from a session: its title, the Context, and each item of `## Decisions`
/// split into the decision and the reason given for it (`… because …`, `… — …`, or a
/// `Why:`/`Rationale:` line under it).
struct Adr {
    title: String,
    session: String,
    context: String,
    decisions: Vec<(String, Option<String>)>,
}

impl Adr {
    /// Refuses (exit 1) when `## Decisions` holds nothing but the template's placeholder.
    fn of(ctx: &Ctx, doc: &Document, session: &Path, title: &str) -> Result<Adr> {
        let body = |name: &str| {
            doc.section(name)
                .map(|s| strip_comments(doc.text(&s.body)).trim().to_string())
                .unwrap_or_default()
        };
        let decisions = decisions(&body("Decisions"));
        if decisions.is_empty() {
            let id = SessionId::of(session);
            return Err(Error::Check(format!(
                "--adr: nothing to record: `## Decisions` of {} is empty (or only the template's placeholder). Write the decision and why there first, e.g. `sessions update {id} --section Decisions --append \"- Use … because …\"`, or close without --adr",
                ctx.show_path(session)
            )));
        }
        Ok(Adr {
            title: title.trim().to_string(),
            session: SessionId::of(session).to_string(),
            context: body("Context"),
            decisions,
        })
    }

    /// Writes `docs/decisions/NNNN-<slug>.md` (the next free number).
    fn write(&self, ctx: &Ctx) -> Result<std::path::PathBuf> {
        let dir = ctx.repo.root.join("docs/decisions");
        fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
        let next = fs::read_dir(&dir)
            .map_err(|e| Error::read(&dir, e))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.get(..4)?.parse::<u32>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let mut text = format!(
            "# {next:04}. {}\n\nDate: {}\nStatus: Accepted\nSource: session `{}`\n",
            self.title,
            ctx.now.format("%Y-%m-%d"),
            self.session,
        );
        if !self.context.is_empty() {
            text.push_str(&format!("\n## Context\n\n{}\n", self.context));
        }
        text.push_str("\n## Decision\n\n");
        for (d, _) in &self.decisions {
            text.push_str(&format!("- {d}\n"));
        }
        let reasons: Vec<String> = self
            .decisions
            .iter()
            .filter_map(|(d, why)| why.as_ref().map(|w| format!("- {d}: {w}\n")))
            .collect();
        if !reasons.is_empty() {
            text.push_str("\n## Rationale\n\n");
            text.push_str(&reasons.concat());
        }
        let path = dir.join(format!("{next:04}-{}.md", slugify(&self.title)));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::write(&path, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::write(&path, e))?;
        Ok(path)
    }
}

/// The text without its HTML comments (the template's placeholders).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// The decisions of a `## Decisions` body: each list item (or, without a list, each
/// paragraph), as (decision, reason).
fn decisions(body: &str) -> Vec<(String, Option<String>)> {
    let mut items: Vec<Vec<String>> = Vec::new();
    let has_list = body.lines().any(|l| list_item(l).is_some());
    for line in body.lines() {
        let t = line.trim();
        match list_item(line) {
            Some(first) if !line.starts_with([' ', '\t']) || items.is_empty() => {
                items.push(vec![first.to_string()])
            }
            _ if t.is_empty() => {
                if !has_list {
                    items.push(Vec::new());
                }
            }
            _ => match items.last_mut() {
                Some(item) => item.push(list_item(t).unwrap_or(t).to_string()),
                None => items.push(vec![t.to_string()]),
            },
        }
    }
    items
        .into_iter()
        .filter(|i| !i.is_empty())
        .map(|lines| {
            let mut reasons = Vec::new();
            let mut text = Vec::new();
            for l in lines {
                let lower = l.to_ascii_lowercase();
                match ["why:", "rationale:", "because:", "reason:"]
                    .iter()
                    .find(|p| lower.starts_with(*p))
                {
                    Some(p) => reasons.push(l[p.len()..].trim().to_string()),
                    None => text.push(l),
                }
            }
            let text = text.join(" ");
            let (decision, why) = split_reason(&text);
            if let Some(w) = why {
                reasons.insert(0, w);
            }
            (decision, (!reasons.is_empty()).then(|| reasons.join(" ")))
        })
        .filter(|(d, _)| !d.is_empty())
        .collect()
}

/// `- x`, `* x`, `+ x`, `1. x` -> `x`.
fn list_item(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if let Some(r) = t.strip_prefix(['-', '*', '+']) {
        return r.strip_prefix(' ').map(str::trim);
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0)
        .then(|| t[digits..].strip_prefix(['.', ')']))
        .flatten()
        .and_then(|r| r.strip_prefix(' '))
        .map(str::trim)
}

/// `Use X — because Y` -> (`Use X`, `Y`); also ` because `, ` — `, ` -- `, `; `.
fn split_reason(text: &str) -> (String, Option<String>) {
    let lower = text.to_lowercase();
    for sep in [
        " — because ",
        " -- because ",
        " - because ",
        "; because ",
        ", because ",
        " because ",
        " — ",
        " -- ",
    ] {
        if let Some(at) = lower.find(sep) {
            let why = text[at + sep.len()..].trim();
            let decision = text[..at].trim().trim_end_matches([',', ';']);
            if !why.is_empty() && !decision.is_empty() {
                return (decision.to_string(), Some(why.to_string()));
            }
        }
    }
    (text.trim().to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_split_into_what_and_why() {
        let body =
            "- Use X because Y.\n- Retry once\n  Why: providers flap\n- Keep Z — it is cheap\n";
        assert_eq!(
            decisions(body),
            [
                ("Use X".to_string(), Some("Y.".to_string())),
                ("Retry once".to_string(), Some("providers flap".to_string())),
                ("Keep Z".to_string(), Some("it is cheap".to_string())),
            ]
        );
        assert!(decisions(&strip_comments("<!-- placeholder -->\n")).is_empty());
        assert_eq!(
            decisions("We chose SQLite.\n\nNo server to run."),
            [
                ("We chose SQLite.".to_string(), None),
                ("No server to run.".to_string(), None)
            ]
        );
    }
}
