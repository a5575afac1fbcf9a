//! Lossless edits. An [`Op`] becomes the smallest byte-range replacement on the current text:
//! a scalar's bytes, a section's body, one inserted line. Everything outside that range —
//! comments, key order, quoting of other values, unknown keys, blank lines, CRLF, a BOM — is
//! left exactly as it was. Each op re-parses the text it edits, so ops compose safely.

use std::ops::Range;

use chrono::{DateTime, Utc};

use super::document::Document;
use super::yaml::{Style, quote};

mod body;
mod frontmatter;

pub use body::section_has_content;
use body::{
    append_section, check, check_no_sections, check_section_name, guard_unclosed, insert_section,
    set_section, target,
};
use frontmatter::{SetEdit, node_at, not_found, push, root, set, set_edit};

/// Where the template puts sections; missing ones are inserted in this order.
pub const TEMPLATE_SECTIONS: [&str; 9] = [
    "Context",
    "Current State",
    "Next Steps",
    "Execution Progress",
    "Technical Context",
    "Acceptance Criteria",
    "Decisions",
    "Blockers",
    "Session Log",
];

/// Where the template puts keys in each block; missing keys are inserted in this order.
const SESSION_KEYS: [&str; 6] = [
    "title",
    "status",
    "created",
    "last_updated",
    "linear_issue",
    "linear_url",
];
const ORCHESTRATION_KEYS: [&str; 2] = ["current_task", "spawned_agents"];

/// A value written into YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// Text, quoted as needed (keeping the old value's quoting style where that is safe).
    Str(String),
    /// A number or other token written plain, e.g. an exit code.
    Plain(String),
}

impl Scalar {
    pub fn str(s: impl Into<String>) -> Self {
        Scalar::Str(s.into())
    }

    fn text(&self) -> &str {
        match self {
            Scalar::Str(s) | Scalar::Plain(s) => s,
        }
    }

    /// How the value is written, given the style of the value it replaces (if any).
    fn render(&self, old: Option<Style>) -> String {
        match self {
            Scalar::Plain(s) => s.clone(),
            Scalar::Str(s) => match old {
                Some(Style::Plain) if plain_safe(s) => s.clone(),
                Some(Style::SingleQuoted) if !s.chars().any(char::is_control) => {
                    format!("'{}'", s.replace('\'', "''"))
                }
                _ => quote(s),
            },
        }
    }
}

/// Whether `s` reads back as the same string when written as a plain YAML scalar.
fn plain_safe(s: &str) -> bool {
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '/');
    let body_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.:/+ ".contains(c));
    let no_tricks =
        !s.contains(": ") && !s.ends_with(':') && !s.ends_with(' ') && !s.contains(" #");
    let typed = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
    ) || s.parse::<f64>().is_ok();
    first_ok && body_ok && no_tricks && !typed
}

/// One step of a path into the frontmatter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub fn key_path(keys: &[&str]) -> Vec<Seg> {
    keys.iter().map(|k| Seg::Key((*k).to_string())).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set a frontmatter value; a missing key (and its block) is inserted where the template
    /// has it.
    Set { path: Vec<Seg>, value: Scalar },
    /// Rename a key in the mapping at `path` (used by `validate --fix`).
    RenameKey {
        path: Vec<Seg>,
        from: String,
        to: String,
    },
    /// Append a mapping to the list at `path`, creating the list if needed.
    Push {
        path: Vec<Seg>,
        entry: Vec<(String, Scalar)>,
    },
    /// Replace a section's body; the section is inserted if missing.
    SetSection { name: String, text: String },
    /// Append text at the end of a section's content; the section is inserted if missing.
    AppendSection { name: String, text: String },
    /// Insert an empty section if it is missing.
    EnsureSection { name: String },
    /// Make the first heading named `name` (any level, any case) a level-2 `## name`.
    PromoteHeading { name: String },
    /// Tick or untick the one checklist item whose text contains `item` (case-insensitive).
    Check { item: String, checked: bool },
    /// Append `### YYYY-MM-DD HH:MM - [actor]` and the message to `## Session Log`.
    Log {
        at: DateTime<Utc>,
        actor: String,
        message: String,
    },
    /// Replace every occurrence of `from` in the body (after the frontmatter) with `to`:
    /// the log links `prune` and `close --archive` rewrite.
    ReplaceInBody { from: String, to: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(
        "the frontmatter cannot be edited: {0}; fix it first (`sessions validate` shows where)"
    )]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadInput(String),
}

/// Applies `ops` to `src` and, when anything changed, bumps `session.last_updated` to `now`.
/// Returns `None` when nothing would change (the file must then not be written).
pub fn apply(src: &str, ops: &[Op], now: DateTime<Utc>) -> Result<Option<String>, EditError> {
    // YAML and CommonMark both take a lone `\r` as a line break; our spans do not. Rather
    // than edit such a file at the wrong place, refuse it.
    if let Some(at) = lone_cr(src) {
        let line = src[..at].matches('\n').count() + 1;
        return Err(EditError::Invalid(format!(
            "line {line} has a carriage return (\\r) that is not followed by a line feed; convert the file to LF or CRLF line endings"
        )));
    }
    // Every change stamps `last_updated`, so the frontmatter must be editable first (and an
    // op cannot make it so by accident, e.g. a `---` line closing an unclosed block).
    root(&Document::parse_frontmatter(src))?;
    // The body is scanned once; each op's result is rescanned only where it changed.
    let mut text: Option<String> = None;
    let mut parsed = Document::parse(src).rebind("");
    for op in ops {
        let doc = parsed.rebind(text.as_deref().unwrap_or(src));
        match apply_one(&doc, op)? {
            Some(next) => {
                let after = doc.reparse(&next);
                keeps_structure(&doc, &after)?;
                parsed = after.rebind("");
                text = Some(next);
            }
            None => parsed = doc.rebind(""),
        }
    }
    let Some(mut text) = text.filter(|t| t != src) else {
        return Ok(None);
    };
    let (path, value) = (
        key_path(&["session", "last_updated"]),
        Scalar::str(timestamp(now)),
    );
    let doc = parsed.rebind(&text);
    // Replacing the old stamp is done in place: the text is not copied again.
    match set_edit(&doc, &path, &value)? {
        SetEdit::Same => {}
        SetEdit::Replace(range, with) => {
            drop(doc);
            text.replace_range(range, &with);
        }
        SetEdit::Insert => {
            if let Some(next) = set(&doc, &path, &value)? {
                text = next;
            }
        }
    }
    Ok(Some(text))
}

/// `2025-12-04T14:30:00Z`: the form every timestamp we write takes.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn splice(src: &str, range: Range<usize>, with: &str) -> Option<String> {
    if &src[range.clone()] == with {
        return None;
    }
    let mut out = String::with_capacity(src.len() + with.len());
    out.push_str(&src[..range.start]);
    out.push_str(with);
    out.push_str(&src[range.end..]);
    Some(out)
}

fn apply_one(doc: &Document, op: &Op) -> Result<Option<String>, EditError> {
    if let Op::SetSection { name, .. }
    | Op::AppendSection { name, .. }
    | Op::EnsureSection { name }
    | Op::PromoteHeading { name } = op
    {
        check_section_name(name)?;
    }
    let src = doc.src;
    match op {
        Op::Set { path, value } => set(doc, path, value),
        Op::RenameKey { path, from, to } => {
            let map = node_at(doc, path)?.ok_or_else(|| not_found(path))?;
            let Some((k, _)) = map.entry(from) else {
                return Ok(None);
            };
            if map.entry(to).is_some() {
                return Err(EditError::Conflict(format!(
                    "cannot rename `{from}` to `{to}`: both exist"
                )));
            }
            Ok(splice(
                src,
                k.span.clone(),
                &Scalar::str(to.as_str()).render(k.style()),
            ))
        }
        Op::Push { path, entry } => push(doc, path, entry),
        Op::SetSection { name, text } => {
            guard_unclosed(doc, name, target(doc, name), false)?;
            set_section(doc, name, text)
        }
        Op::AppendSection { name, text } => {
            match guard_unclosed(doc, name, target(doc, name), true)? {
                Some(closed) => {
                    append_section(&doc.reparse(&closed), name, text).map(|r| r.or(Some(closed)))
                }
                None => append_section(doc, name, text),
            }
        }
        Op::EnsureSection { name } => match doc.section(name) {
            Some(_) => Ok(None),
            None => {
                guard_unclosed(doc, name, None, false)?;
                Ok(Some(insert_section(doc, name, "")))
            }
        },
        Op::Check { item, checked } => check(doc, item, *checked),
        Op::ReplaceInBody { from, to } => {
            let body = &src[doc.body_start..];
            if from.is_empty() || from == to || !body.contains(from.as_str()) {
                return Ok(None);
            }
            Ok(Some(format!(
                "{}{}",
                &src[..doc.body_start],
                body.replace(from.as_str(), to)
            )))
        }
        Op::PromoteHeading { name } => {
            if doc.section(name).is_some() {
                return Ok(None);
            }
            let Some(h) = doc
                .headings
                .iter()
                .find(|h| doc.text(&h.text).eq_ignore_ascii_case(name))
            else {
                return Err(EditError::NotFound(format!("no heading named `{name}`")));
            };
            Ok(splice(src, h.line.start..h.text.end, &format!("## {name}")))
        }
        Op::Log { at, actor, message } => {
            check_no_sections(message)?;
            let le = doc.line_ending.as_str();
            let entry = format!(
                "### {} - [{actor}]{le}{}",
                at.format("%Y-%m-%d %H:%M"),
                normalize(message.trim_end(), le)
            );
            match guard_unclosed(doc, "Session Log", target(doc, "Session Log"), true)? {
                Some(closed) => append_section(&doc.reparse(&closed), "Session Log", &entry)
                    .map(|r| r.or(Some(closed))),
                None => append_section(doc, "Session Log", &entry),
            }
        }
    }
}

/// What every edit must leave as it was: no code fence or HTML comment left open that was not
/// open before (it would hide the rest of the file), and no `#`/`##` heading hidden. Text can
/// do either depending on where it lands (an indented ```` ``` ```` continues a list item above it
/// and opens a fence there), so the result is checked, not only the text.
fn keeps_structure(a: &Document, b: &Document) -> Result<(), EditError> {
    if a.unclosed.is_none()
        && let Some(open) = &b.unclosed
    {
        return Err(EditError::BadInput(format!(
            "the text would open {} at line {} that nothing closes, hiding the rest of the file; close it in the text",
            open.what(),
            b.position(open.offset).0
        )));
    }
    let top = |d: &Document<'_>| -> Vec<String> {
        d.headings
            .iter()
            .filter(|h| h.level <= 2)
            .map(|h| d.text(&h.text).to_string())
            .collect()
    };
    let (was, now) = (top(a), top(b));
    let mut rest = now.iter();
    // (Ignoring case: `PromoteHeading` may fix a heading's case.)
    if !was.iter().all(|h| rest.any(|n| n.eq_ignore_ascii_case(h))) {
        return Err(EditError::BadInput(
            "the text would hide a heading after it (an HTML block left open?); close it in the text".into(),
        ));
    }
    Ok(())
}

/// The offset of the first `\r` not followed by `\n`.
fn lone_cr(s: &str) -> Option<usize> {
    memchr::memchr_iter(b'\r', s.as_bytes()).find(|&i| s.as_bytes().get(i + 1) != Some(&b'\n'))
}

/// Converts a text's line endings (LF, CRLF, or a lone CR) to the file's.
fn normalize(text: &str, le: &str) -> String {
    let lf = text.replace("\r\n", "\n").replace('\r', "\n");
    if le == "\n" { lf } else { lf.replace('\n', le) }
}

#[cfg(test)]
mod tests;
