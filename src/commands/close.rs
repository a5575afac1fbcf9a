//! `sessions close` and `sessions delete`. Closing prints the knowledge-extraction checklist
//! (issue tracker, ADRs, remaining work), optionally writes an ADR, then deletes the file —
//! sessions are deleted, not archived — or moves it to `archive/` with `--archive`.

use crate::store::SessionId;
use std::fs;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use super::Ctx;
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
    if let Some(adr_title) = &args.adr {
        let adr = write_adr(ctx, &doc, &path, adr_title)?;
        println!("\nwrote ADR {}", ctx.show_path(&adr));
    }
    let verb = if args.archive { "Archive" } else { "Delete" };
    if !confirm(args.yes, &format!("{verb} {}?", ctx.show_path(&path)))? {
        println!("Kept {}.", ctx.show_path(&path));
        return Ok(1);
    }
    if args.archive {
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
        ];
        super::edit_session(ctx, &path, |_| Ok(ops.clone()))?;
        let dir = ctx.repo.archive_dir();
        fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
        let dest = dir.join(path.file_name().unwrap_or_default());
        if dest.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; not overwriting it",
                ctx.show_path(&dest)
            )));
        }
        fs::rename(&path, &dest).map_err(|e| Error::write(&dest, e))?;
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

/// Writes `docs/decisions/NNNN-<slug>.md` from the session's Context and Decisions.
fn write_adr(ctx: &Ctx, doc: &Document, session: &Path, title: &str) -> Result<std::path::PathBuf> {
    let dir = ctx.repo.root.join("docs/decisions");
    fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
    let next = fs::read_dir(&dir)
        .map_err(|e| Error::read(&dir, e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.get(..4)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let body = |name: &str| {
        doc.section(name)
            .map(|s| doc.text(&s.body).trim().to_string())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "(not recorded)".into())
    };
    let text = format!(
        "# {next:04}. {title}\n\nDate: {}\nStatus: Accepted\nSource: session `{}`\n\n## Context\n\n{}\n\n## Decision\n\n{}\n",
        ctx.now.format("%Y-%m-%d"),
        SessionId::of(session),
        body("Context"),
        body("Decisions"),
    );
    let path = dir.join(format!("{next:04}-{}.md", slugify(title)));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::write(&path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::write(&path, e))?;
    Ok(path)
}
