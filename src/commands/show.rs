//! `sessions show`: print a session file, or one section's body.

use std::io::{IsTerminal, Write};

use super::Ctx;
use crate::cli::ShowArgs;
use crate::error::{Error, Result};
use crate::session::Document;
use crate::store::{self, SessionId};
use serde_json::json;

/// The fields of `show --json`, and of `show --section NAME --json`.
const FIELDS: &[&str] = &["path", "id", "text", "sections"];
const SECTION_FIELDS: &[&str] = &["path", "id", "section", "body"];

pub fn run(ctx: &Ctx, args: ShowArgs) -> Result<u8> {
    let path = super::session_path(ctx, args.session.as_deref())?;
    let text = store::read_session(&path)?;
    let doc = Document::parse(&text);
    let (shown, id) = (ctx.repo.display(&path), SessionId::of(&path).to_string());
    let out = match &args.section {
        None if args.json.on() => {
            let sections: Vec<_> = doc
                .sections
                .iter()
                .map(|s| {
                    json!({
                        "name": doc.text(&s.heading.text),
                        "line": doc.position(s.heading.line.start).0,
                        "body": doc.text(&s.body),
                    })
                })
                .collect();
            let v = json!({"path": shown, "id": id, "text": text, "sections": sections});
            return crate::jsonout::print(&args.json, &v, &[FIELDS]);
        }
        None => text.as_str(),
        Some(name) => match doc.section_loose(name) {
            Some(s) if args.json.on() => {
                let v = json!({
                    "path": shown,
                    "id": id,
                    "section": doc.text(&s.heading.text),
                    "body": doc.text(&s.body),
                });
                return crate::jsonout::print(&args.json, &v, &[SECTION_FIELDS]);
            }
            Some(s) => doc.text(&s.body),
            None => {
                let names: Vec<&str> = doc
                    .sections
                    .iter()
                    .map(|s| doc.text(&s.heading.text))
                    .collect();
                return Err(Error::Check(format!(
                    "{} has no `## {name}` section; it has: {}",
                    ctx.show_path(&path),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )));
            }
        },
    };
    let mut stdout = std::io::stdout().lock();
    // On a terminal, control characters are shown, not obeyed; piped, the bytes are exact
    // (`sessions show X > copy.md` copies the file).
    let out = if stdout.is_terminal() {
        crate::terminal::text(out)
    } else {
        std::borrow::Cow::Borrowed(out)
    };
    stdout
        .write_all(out.as_bytes())
        .map_err(|e| Error::write(std::path::Path::new("<stdout>"), e))?;
    Ok(0)
}
