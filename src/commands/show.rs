//! `sessions show`: print a session file, or one section's body.

use std::io::Write;

use super::Ctx;
use crate::cli::ShowArgs;
use crate::error::{Error, Result};
use crate::session::Document;
use crate::store;

pub fn run(ctx: &Ctx, args: ShowArgs) -> Result<u8> {
    let path = super::session_path(ctx, args.session.as_deref())?;
    let text = store::read_session(&path)?;
    let out = match &args.section {
        None => text.as_str(),
        Some(name) => {
            let doc = Document::parse(&text);
            match doc.section_loose(name) {
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
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .map_err(|e| Error::write(std::path::Path::new("<stdout>"), e))?;
    Ok(0)
}
