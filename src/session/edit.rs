//! Lossless edits. An [`Op`] becomes the smallest byte-range replacement on the current text:
//! a scalar's bytes, a section's body, one inserted line. Everything outside that range —
//! comments, key order, quoting of other values, unknown keys, blank lines, CRLF, a BOM — is
//! left exactly as it was. Each op re-parses the text it edits, so ops compose safely.

use std::ops::Range;

use chrono::{DateTime, Utc};

use super::document::{Document, FrontmatterState, checkbox, content_lines, prose_lines};
use super::yaml::{Kind, Node, Style, quote};

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
    let mut text = src.to_string();
    for op in ops {
        if let Some(next) = apply_one(&text, op)? {
            keeps_structure(&text, &next)?;
            text = next;
        }
    }
    if text == src {
        return Ok(None);
    }
    let stamp = Op::Set {
        path: key_path(&["session", "last_updated"]),
        value: Scalar::str(timestamp(now)),
    };
    if let Some(next) = apply_one(&text, &stamp)? {
        text = next;
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

fn apply_one(src: &str, op: &Op) -> Result<Option<String>, EditError> {
    if let Op::SetSection { name, .. }
    | Op::AppendSection { name, .. }
    | Op::EnsureSection { name }
    | Op::PromoteHeading { name } = op
    {
        check_section_name(name)?;
    }
    let doc = Document::parse(src);
    match op {
        Op::Set { path, value } => set(&doc, path, value),
        Op::RenameKey { path, from, to } => {
            let map = node_at(&doc, path)?.ok_or_else(|| not_found(path))?;
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
        Op::Push { path, entry } => push(&doc, path, entry),
        Op::SetSection { name, text } => {
            guard_unclosed(&doc, name, target(&doc, name), false)?;
            set_section(&doc, name, text)
        }
        Op::AppendSection { name, text } => {
            match guard_unclosed(&doc, name, target(&doc, name), true)? {
                Some(closed) => append_section(&Document::parse(&closed), name, text)
                    .map(|r| r.or(Some(closed))),
                None => append_section(&doc, name, text),
            }
        }
        Op::EnsureSection { name } => match doc.section(name) {
            Some(_) => Ok(None),
            None => {
                guard_unclosed(&doc, name, None, false)?;
                Ok(Some(insert_section(&doc, name, "")))
            }
        },
        Op::Check { item, checked } => check(&doc, item, *checked),
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
            match guard_unclosed(&doc, "Session Log", target(&doc, "Session Log"), true)? {
                Some(closed) => append_section(&Document::parse(&closed), "Session Log", &entry)
                    .map(|r| r.or(Some(closed))),
                None => append_section(&doc, "Session Log", &entry),
            }
        }
    }
}

/// A section name must read back as itself from its `## name` heading (not blank, no line
/// breaks, no edge spaces, no closing `#`s), or every later lookup would miss it and add it
/// again.
fn check_section_name(name: &str) -> Result<(), EditError> {
    let heading = format!("## {name}\n");
    let heads = super::document::scan_headings(&heading, 0);
    let round_trips =
        matches!(heads.as_slice(), [h] if h.level == 2 && &heading[h.text.clone()] == name);
    if round_trips && !name.chars().any(char::is_control) {
        return Ok(());
    }
    Err(EditError::BadInput(format!(
        "`{}` cannot be a section name: use words without line breaks, edge spaces or trailing `#`",
        name.escape_debug()
    )))
}

/// The existing section an op on `name` edits, as `set_section` and `append_section` find it.
fn target<'d>(doc: &'d Document, name: &str) -> Option<&'d super::document::Section> {
    doc.section(name).or_else(|| doc.section_loose(name))
}

/// A code fence (or HTML comment) left open at the end of the file hides everything after it,
/// so text written there would be invisible. When the open fence is in the section being
/// appended to (`append`: the usual case, a log entry that pasted output without closing it),
/// it is closed visibly with a fence line at the end of the section's content, and the new
/// text goes after it; the text with the fence closed is returned. When the section is before
/// the opening, nothing needs doing. Anything else is refused with where the block opens —
/// replacing such a section's body would delete everything the block hides.
fn guard_unclosed(
    doc: &Document,
    name: &str,
    section: Option<&super::document::Section>,
    append: bool,
) -> Result<Option<String>, EditError> {
    let Some(open) = super::document::unclosed_at(doc.src, doc.body_start) else {
        return Ok(None);
    };
    // `section`: the one the op edits, `None` when it inserts a new one (which would land
    // after the opening, or at least cannot be shown not to).
    let line = doc.position(open.offset).0;
    match section {
        Some(s) if s.body.end <= open.line_start => Ok(None),
        // Replacing the body would delete everything the open block hides: refused below.
        Some(s) if s.body.contains(&open.line_start) && append && open.closer.is_some() => {
            let le = doc.line_ending.as_str();
            let end = content_end(doc, &s.body);
            let closer = open.closer.as_deref().unwrap_or("```");
            let mut with = format!("{le}{closer}");
            if end == doc.src.len() {
                with.push_str(le);
            }
            Ok(splice(doc.src, end..end, &with))
        }
        _ => Err(EditError::BadInput(format!(
            "line {line} opens {} that is never closed, so everything after it (`## {name}` included) is hidden from Markdown readers; close it first (`sessions validate` points at it)",
            open.what()
        ))),
    }
}

fn not_found(path: &[Seg]) -> EditError {
    EditError::NotFound(format!("`{}` is not in the frontmatter", show_path(path)))
}

fn show_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn root<'d>(doc: &'d Document) -> Result<&'d Node, EditError> {
    match &doc.frontmatter {
        FrontmatterState::Missing => Err(EditError::Invalid("the file has no frontmatter".into())),
        FrontmatterState::Unclosed(_) => Err(EditError::Invalid(
            "the frontmatter has no closing `---`".into(),
        )),
        FrontmatterState::Present(fm) => match &fm.yaml {
            Err(e) => {
                let (l, c) = doc.position(e.offset);
                Err(EditError::Invalid(format!(
                    "invalid YAML at line {l}, column {c}: {}",
                    e.message
                )))
            }
            Ok(Some(n)) if n.is_map() => Ok(n),
            Ok(_) => Err(EditError::Invalid(
                "the frontmatter is not a mapping of keys".into(),
            )),
        },
    }
}

fn node_at<'d>(doc: &'d Document, path: &[Seg]) -> Result<Option<&'d Node>, EditError> {
    let mut node = root(doc)?;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => node.get(k),
            Seg::Index(i) => node.items().get(*i),
        };
        match next {
            Some(n) => node = n,
            None => return Ok(None),
        }
    }
    Ok(Some(node))
}

fn set(doc: &Document, path: &[Seg], value: &Scalar) -> Result<Option<String>, EditError> {
    let src = doc.src;
    if let Some(node) = node_at(doc, path)? {
        return match &node.kind {
            Kind::Scalar { value: old, style } => {
                if !node.is_null() && old == value.text() {
                    return Ok(None);
                }
                if node.span.is_empty() {
                    // `key:` with nothing after it: the value goes after the colon.
                    let at = colon_after(src, node.span.start);
                    return Ok(splice(src, at..at, &format!(" {}", value.render(None))));
                }
                let keep = if node.is_null() { None } else { Some(*style) };
                Ok(splice(src, node.span.clone(), &value.render(keep)))
            }
            _ => Err(EditError::Conflict(format!(
                "`{}` is {}; edit it by hand or replace it with a single value",
                show_path(path),
                node.kind_name()
            ))),
        };
    }
    let (last, parent_path) = path.split_last().ok_or_else(|| not_found(path))?;
    let Seg::Key(key) = last else {
        return Err(not_found(path));
    };
    insert_key(doc, parent_path, key, &format!(" {}", value.render(None)))
}

/// The position just after the `:` that follows `from` on its line (or `from`).
fn colon_after(src: &str, from: usize) -> usize {
    let line_end = src[from..].find('\n').map_or(src.len(), |i| from + i);
    src[from..line_end].find(':').map_or(from, |i| from + i + 1)
}

fn line_start(src: &str, at: usize) -> usize {
    src[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// End of the line containing `at`, after its line ending.
fn line_end_after(src: &str, at: usize) -> usize {
    src[at..].find('\n').map_or(src.len(), |i| at + i + 1)
}

fn column(src: &str, at: usize) -> usize {
    at - line_start(src, at)
}

/// Inserts `key:<rest>` into the mapping at `parent_path` (creating the parent block when
/// missing), after the nearest preceding key in template order. `rest` starts with the text
/// after the colon: ` value`, or a line ending and indented block lines using [`INDENT`] for the
/// indentation of the key's children.
fn insert_key(
    doc: &Document,
    parent_path: &[Seg],
    key: &str,
    rest: &str,
) -> Result<Option<String>, EditError> {
    let src = doc.src;
    let le = doc.line_ending.as_str();
    let root = root(doc)?;
    let parent = node_at(doc, parent_path)?;
    let order: &[&str] = match parent_path {
        [Seg::Key(k)] if k == "session" => &SESSION_KEYS,
        [Seg::Key(k)] if k == "orchestration" => &ORCHESTRATION_KEYS,
        _ => &[],
    };
    let unit = detect_indent(root, src);
    match parent {
        Some(map) if map.is_map() && !map.flow => {
            let entries = map.entries();
            let indent = entries
                .first()
                .map_or(0, |(k, _)| column(src, k.span.start));
            let pos = order.iter().position(|k| *k == key);
            let after = entries
                .iter()
                .rev()
                .find(|(k, _)| {
                    let at = k.as_str().and_then(|k| order.iter().position(|o| *o == k));
                    matches!((pos, at), (Some(p), Some(a)) if a < p)
                })
                .or(
                    if pos.is_some()
                        && entries
                            .iter()
                            .any(|(k, _)| k.as_str().is_some_and(|k| order.contains(&k)))
                    {
                        None
                    } else {
                        entries.last()
                    },
                );
            let line = render_key(key, rest, indent, unit, le);
            let at = match after {
                Some((_, v)) => line_end_after(src, v.span.end.max(v.span.start)),
                None => line_start(
                    src,
                    entries
                        .first()
                        .map_or(map.span.start, |(k, _)| k.span.start),
                ),
            };
            Ok(Some(insert_line(src, at, &line, le)))
        }
        Some(node) if node.is_null() => {
            // `orchestration:` with nothing under it: the key goes on the next line.
            let (parent_key, _) =
                parent_entry(root, parent_path).ok_or_else(|| not_found(parent_path))?;
            let indent = column(src, parent_key.span.start) + unit;
            let line = render_key(key, rest, indent, unit, le);
            let at = line_end_after(src, node.span.start.max(parent_key.span.end));
            Ok(Some(insert_line(src, at, &line, le)))
        }
        Some(node) => Err(EditError::Conflict(format!(
            "`{}` is {}, so `{key}` cannot be added to it; edit the file by hand",
            show_path(parent_path),
            if node.flow {
                "written in flow style ({…})"
            } else {
                node.kind_name()
            }
        ))),
        None => {
            let [Seg::Key(block)] = parent_path else {
                return Err(not_found(parent_path));
            };
            let child = render_key(key, rest, unit, unit, le);
            let text = format!("{block}:{le}{child}");
            let FrontmatterState::Present(fm) = &doc.frontmatter else {
                unreachable!("root() checked it")
            };
            // The template puts `session` first and everything else after it.
            let at = if block == "session" {
                fm.content.start
            } else {
                fm.content.end
            };
            Ok(Some(insert_line(src, at, &text, le)))
        }
    }
}

fn parent_entry<'d>(root: &'d Node, path: &[Seg]) -> Option<&'d (Node, Node)> {
    let (last, init) = path.split_last()?;
    let mut node = root;
    for seg in init {
        node = match seg {
            Seg::Key(k) => node.get(k)?,
            Seg::Index(i) => node.items().get(*i)?,
        };
    }
    match last {
        Seg::Key(k) => node.entry(k),
        Seg::Index(_) => None,
    }
}

fn render_key(key: &str, rest: &str, indent: usize, unit: usize, le: &str) -> String {
    let pad = " ".repeat(indent);
    let child = " ".repeat(indent + unit);
    let rest = rest.replace(INDENT, &child).replace('\n', le);
    let rest = rest.replace(&format!("\r{le}"), le);
    format!(
        "{pad}{}:{rest}{le}",
        Scalar::str(key).render(Some(Style::Plain))
    )
}

/// Inserts a whole line at a line start, adding a line ending first if `at` ends a last line
/// that has none.
fn insert_line(src: &str, at: usize, line: &str, le: &str) -> String {
    let needs_break = at > 0 && !src[..at].ends_with('\n');
    let mut out = String::with_capacity(src.len() + line.len() + 2);
    out.push_str(&src[..at]);
    if needs_break {
        out.push_str(le);
    }
    out.push_str(line);
    out.push_str(&src[at..]);
    out
}

/// The indentation step the file uses (2 unless its first nested mapping says otherwise).
fn detect_indent(root: &Node, src: &str) -> usize {
    root.entries()
        .iter()
        .find_map(|(_, v)| v.entries().first().map(|(k, _)| column(src, k.span.start)))
        .filter(|&n| n > 0 && n <= 8)
        .unwrap_or(2)
}

fn push(
    doc: &Document,
    path: &[Seg],
    entry: &[(String, Scalar)],
) -> Result<Option<String>, EditError> {
    let src = doc.src;
    let le = doc.line_ending.as_str();
    let lines = |dash_indent: usize| -> String {
        let mut s = String::new();
        for (i, (k, v)) in entry.iter().enumerate() {
            let lead = if i == 0 {
                format!("{}- ", " ".repeat(dash_indent))
            } else {
                " ".repeat(dash_indent + 2)
            };
            s.push_str(&format!("{lead}{k}: {}{le}", v.render(None)));
        }
        s
    };
    match node_at(doc, path)? {
        Some(list) if matches!(list.kind, Kind::Seq(_)) && !list.flow => {
            let items = list.items();
            let dash = items
                .first()
                .map_or(0, |i| column(src, i.span.start).saturating_sub(2));
            let last = items.last().map_or(list.span.end, |i| i.span.end);
            let at = line_end_after(src, last);
            Ok(Some(insert_line(src, at, &lines(dash), le)))
        }
        Some(list) if list.is_null() || (list.flow && list.items().is_empty()) => {
            let (key, _) = parent_entry(root(doc)?, path).ok_or_else(|| not_found(path))?;
            let dash = column(src, key.span.start) + 2;
            let value_range = if list.span.is_empty() {
                let at = colon_after(src, key.span.end);
                at..at
            } else {
                list.span.clone()
            };
            // Replace `[]` (or nothing) with the block list on the following lines.
            let end = line_end_after(src, value_range.end);
            let trailing = &src[value_range.end..end];
            let text = format!(
                "{}{le}{}",
                trailing.trim_end_matches(['\r', '\n']),
                lines(dash)
            );
            let start = value_range.start - usize::from(src[..value_range.start].ends_with(' '));
            Ok(splice(src, start..end, &text))
        }
        Some(other) => Err(EditError::Conflict(format!(
            "`{}` is {}; expected a list of entries",
            show_path(path),
            other.kind_name()
        ))),
        None => {
            let (last, parent) = path.split_last().ok_or_else(|| not_found(path))?;
            let Seg::Key(key) = last else {
                return Err(not_found(path));
            };
            let mut rest = String::from("\n");
            for (i, (k, v)) in entry.iter().enumerate() {
                let lead = if i == 0 {
                    format!("{INDENT}- ")
                } else {
                    format!("{INDENT}  ")
                };
                rest.push_str(&format!("{lead}{k}: {}", v.render(None)));
                if i + 1 < entry.len() {
                    rest.push('\n');
                }
            }
            insert_key(doc, parent, key, &rest)
        }
    }
}

/// What every edit must leave as it was: no code fence or HTML comment left open that was not
/// open before (it would hide the rest of the file), and no `#`/`##` heading hidden. Text can
/// do either depending on where it lands (an indented ```` ``` ```` continues a list item above it
/// and opens a fence there), so the result is checked, not only the text.
fn keeps_structure(before: &str, after: &str) -> Result<(), EditError> {
    let (a, b) = (Document::parse(before), Document::parse(after));
    if super::document::unclosed_at(before, a.body_start).is_none()
        && let Some(open) = super::document::unclosed_at(after, b.body_start)
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
    let (was, now) = (top(&a), top(&b));
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

/// Refuses text that would start a new level-1 or level-2 section in the file.
/// Marks where the child indentation goes in block lines built for [`insert_key`]. A NUL
/// cannot occur in rendered values (quoting escapes it), so user text is never mistaken for it.
const INDENT: &str = "\u{0}";

/// Refuses text that would change the file's structure: a level-1 or level-2 heading, or a
/// code fence or HTML comment left open (it would swallow the sections after it).
fn check_no_sections(text: &str) -> Result<(), EditError> {
    if let Some((line, what)) = super::document::unclosed_block(text) {
        return Err(EditError::BadInput(format!(
            "line {line} of the text opens {what} that the text does not close, which would swallow the rest of the file; close it"
        )));
    }
    let heads = super::document::scan_headings(text, 0);
    if let Some(h) = heads.iter().find(|h| h.level <= 2) {
        let line = text[..h.line.start].matches('\n').count() + 1;
        return Err(EditError::BadInput(format!(
            "line {line} of the text is a level-{} heading (`{}`), which would split the file into a new section; use `###` or deeper",
            h.level,
            text[h.line.clone()].trim_end()
        )));
    }
    Ok(())
}

/// The end of a section's content: the end of its last non-blank line (before the line
/// ending; the line's own trailing spaces, a Markdown hard break, stay on it).
fn content_end(doc: &Document, body: &Range<usize>) -> usize {
    super::document::lines(doc.src, body.start)
        .take_while(|l| l.0 < body.end)
        .filter(|&(s, e, _)| !doc.src[s..e].trim_matches([' ', '\t']).is_empty())
        .last()
        .map_or(body.start, |(_, e, _)| e)
}

/// Text as it goes into a section: leading and trailing blank lines dropped, but the first
/// line's indentation kept (it can make the line code rather than a heading).
fn section_text(text: &str) -> &str {
    let start = text
        .split_inclusive('\n')
        .take_while(|l| l.trim_matches([' ', '\t', '\r', '\n']).is_empty())
        .map(str::len)
        .sum::<usize>();
    text[start..].trim_end()
}

/// A section body holding `content`: a blank line after the heading, the content, and a
/// blank line before the next heading (none at the end of the file).
fn section_body(content: &str, at_eof: bool, le: &str) -> String {
    let gap = if at_eof { "" } else { le };
    if content.is_empty() {
        gap.to_string()
    } else {
        format!("{le}{content}{le}{gap}")
    }
}

fn set_section(doc: &Document, name: &str, text: &str) -> Result<Option<String>, EditError> {
    let le = doc.line_ending.as_str();
    let normalized = normalize(text, le);
    let content = section_text(&normalized).to_string();
    let section = doc.section(name).or_else(|| doc.section_loose(name));
    if section.is_some_and(|s| section_text(doc.text(&s.body)) == content) {
        return Ok(None);
    }
    // The text as given, for line numbers, and as it will stand in the file: trimming can
    // expose a heading (`##\u{a0}` is text, `##` after the trim is a heading).
    check_no_sections(text)?;
    check_no_sections(&content)?;
    let Some(section) = section else {
        return Ok(Some(insert_section(doc, name, &content)));
    };
    let body = &section.body;
    let at_eof = body.end == doc.src.len();
    Ok(splice(
        doc.src,
        body.clone(),
        &section_body(&content, at_eof, le),
    ))
}

fn append_section(doc: &Document, name: &str, text: &str) -> Result<Option<String>, EditError> {
    check_no_sections(text)?;
    let le = doc.line_ending.as_str();
    let normalized = normalize(text, le);
    let content = section_text(&normalized).to_string();
    check_no_sections(&content)?;
    if content.trim().is_empty() {
        return Ok(None);
    }
    let Some(section) = doc.section(name).or_else(|| doc.section_loose(name)) else {
        return Ok(Some(insert_section(doc, name, &content)));
    };
    let body = &section.body;
    let at_eof = body.end == doc.src.len();
    let end = content_end(doc, body);
    if end == body.start {
        // Only blank lines so far: lay the body out afresh.
        return Ok(splice(
            doc.src,
            body.clone(),
            &section_body(&content, at_eof, le),
        ));
    }
    // List items join the list above them; anything else gets a blank line before it.
    let last_line = doc.text(&(body.start..end)).lines().last().unwrap_or("");
    let is_item = |l: &str| l.trim_start().starts_with(['-', '*', '+']);
    let sep = if is_item(&content) && is_item(last_line) {
        le.to_string()
    } else {
        format!("{le}{le}")
    };
    let mut with = format!("{sep}{content}");
    if end == doc.src.len() {
        with.push_str(le);
    }
    // HTML blocks such as `<div>` run until a blank line: text ending in one, right above the
    // next heading, would swallow that heading. A blank line after the text ends the block.
    let headings = |t: &str| {
        super::document::scan_headings(t, doc.body_start)
            .iter()
            .filter(|h| h.level <= 2)
            .count()
    };
    let wanted = headings(doc.src);
    let out = splice(doc.src, end..end, &with);
    if out.as_deref().is_none_or(|o| headings(o) >= wanted) {
        return Ok(out);
    }
    with.push_str(le);
    match splice(doc.src, end..end, &with) {
        Some(o) if headings(&o) >= wanted => Ok(Some(o)),
        _ => Err(EditError::BadInput(
            "the text would hide the headings after it (an HTML block left open?); close it".into(),
        )),
    }
}

/// Inserts `## name` with `content` before the next section in template order (custom
/// sections go before `## Session Log`), or at the end of the file.
fn insert_section(doc: &Document, name: &str, content: &str) -> String {
    let src = doc.src;
    let le = doc.line_ending.as_str();
    let pos = TEMPLATE_SECTIONS.iter().position(|s| *s == name);
    let next = doc.sections.iter().find(|s| {
        let other = doc.text(&s.heading.text);
        match (pos, TEMPLATE_SECTIONS.iter().position(|t| *t == other)) {
            (Some(p), Some(o)) => o > p,
            (None, Some(_)) => other == "Session Log",
            _ => false,
        }
    });
    let body = if content.is_empty() {
        String::new()
    } else {
        format!("{le}{content}{le}")
    };
    match next {
        Some(s) => {
            let at = s.heading.line.start;
            let block = format!("## {name}{le}{body}{le}");
            let mut out = String::with_capacity(src.len() + block.len());
            out.push_str(&src[..at]);
            out.push_str(&block);
            out.push_str(&src[at..]);
            out
        }
        None => {
            let mut out = src.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(le);
            }
            if !out.is_empty() && !out.ends_with(&format!("{le}{le}")) && out.len() > doc.body_start
            {
                out.push_str(le);
            }
            out.push_str(&format!("## {name}{le}{body}"));
            out
        }
    }
}

fn check(doc: &Document, item: &str, checked: bool) -> Result<Option<String>, EditError> {
    let needle = item.trim().to_lowercase();
    if needle.is_empty() {
        return Err(EditError::BadInput(
            "the checklist item to match is empty".into(),
        ));
    }
    let src = doc.src;
    let mut hits = Vec::new();
    for (start, end, _) in prose_lines(src, doc.body_start..src.len()) {
        let line = &src[start..end];
        if let Some(state) = checkbox(line) {
            let text = line.split_once(']').map_or("", |(_, t)| t).trim();
            if text.to_lowercase().contains(&needle) {
                hits.push((start, end, state, text.to_string()));
            }
        }
    }
    // An exact match wins over substring matches.
    if hits.len() > 1
        && let Some(exact) = hits.iter().find(|h| h.3.to_lowercase() == needle).cloned()
    {
        hits = vec![exact];
    }
    match hits.as_slice() {
        [] => Err(EditError::NotFound(format!(
            "no checklist item matches `{item}`"
        ))),
        [(start, end, state, _)] => {
            if *state == checked {
                return Ok(None);
            }
            let line = &src[*start..*end];
            let bracket = start + line.find('[').unwrap_or(0);
            Ok(splice(
                src,
                bracket..bracket + 3,
                if checked { "[x]" } else { "[ ]" },
            ))
        }
        many => {
            let list: Vec<String> = many.iter().map(|h| format!("  - {}", h.3)).collect();
            Err(EditError::Conflict(format!(
                "`{item}` matches {} checklist items; use more of the text:\n{}",
                many.len(),
                list.join("\n")
            )))
        }
    }
}

/// Whether a section has real content: not blank and not only template placeholders.
pub fn section_has_content(doc: &Document, name: &str) -> bool {
    doc.section(name)
        .is_some_and(|s| content_lines(doc.src, s.body.clone()) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "---\n# top comment\nsession:\n  title: \"Old\"   # keep me\n  status: in_progress\n  created: 2025-12-04T14:30:00Z\n  last_updated: '2025-12-04T14:30:00Z'\n  custom: [a, b]\norchestration:\n  current_task: plain task\n---\n# Session: Old\n\n## Context\n\nWhy.\n\n## Current State\n\n## Next Steps\n\n- [ ] write tests\n- [x] design\n\n## Notes\nextra\n";

    fn now() -> DateTime<Utc> {
        "2025-12-05T10:00:00Z".parse().unwrap()
    }

    fn run(src: &str, ops: &[Op]) -> String {
        apply(src, ops, now()).unwrap().expect("a change")
    }

    #[test]
    fn set_keeps_comment_style_and_bumps_last_updated() {
        let out = run(
            SRC,
            &[Op::Set {
                path: key_path(&["session", "title"]),
                value: Scalar::str("New: with colon"),
            }],
        );
        assert!(out.contains("  title: \"New: with colon\"   # keep me\n"));
        assert!(out.contains("  last_updated: '2025-12-05T10:00:00Z'\n"));
        assert!(out.contains("# top comment\n") && out.contains("  custom: [a, b]\n"));
        let doc = Document::parse(&out);
        assert_eq!(
            doc.str_value(&["session", "title"]),
            Some("New: with colon")
        );
    }

    #[test]
    fn plain_value_stays_plain_when_safe() {
        let out = run(
            SRC,
            &[Op::Set {
                path: key_path(&["orchestration", "current_task"]),
                value: Scalar::str("other task"),
            }],
        );
        assert!(out.contains("  current_task: other task\n"));
        let out = run(
            SRC,
            &[Op::Set {
                path: key_path(&["orchestration", "current_task"]),
                value: Scalar::str("- #x: y"),
            }],
        );
        assert!(out.contains("  current_task: \"- #x: y\"\n"));
    }

    #[test]
    fn noop_returns_none() {
        let ops = [Op::Set {
            path: key_path(&["session", "status"]),
            value: Scalar::str("in_progress"),
        }];
        assert_eq!(apply(SRC, &ops, now()).unwrap(), None);
        assert_eq!(
            apply(
                SRC,
                &[Op::Check {
                    item: "design".into(),
                    checked: true
                }],
                now()
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn missing_key_goes_where_the_template_puts_it() {
        let out = run(
            SRC,
            &[Op::Set {
                path: key_path(&["session", "linear_issue"]),
                value: Scalar::str("PLT-1"),
            }],
        );
        assert!(out.contains("  last_updated: '2025-12-05T10:00:00Z'\n  linear_issue: \"PLT-1\"\n  custom: [a, b]\n"), "{out}");
        let no_orch = SRC.replace("orchestration:\n  current_task: plain task\n", "");
        let out = run(
            &no_orch,
            &[Op::Set {
                path: key_path(&["orchestration", "current_task"]),
                value: Scalar::str("t"),
            }],
        );
        assert!(
            out.contains("  custom: [a, b]\norchestration:\n  current_task: \"t\"\n---\n"),
            "{out}"
        );
    }

    #[test]
    fn sections_set_append_and_insert() {
        let out = run(
            SRC,
            &[Op::SetSection {
                name: "Current State".into(),
                text: "Half done.".into(),
            }],
        );
        assert!(
            out.contains("## Current State\n\nHalf done.\n\n## Next Steps\n"),
            "{out}"
        );
        let out = run(
            SRC,
            &[Op::AppendSection {
                name: "Next Steps".into(),
                text: "- [ ] ship".into(),
            }],
        );
        assert!(
            out.contains("- [x] design\n- [ ] ship\n\n## Notes"),
            "{out}"
        );
        let out = run(
            SRC,
            &[Op::EnsureSection {
                name: "Blockers".into(),
            }],
        );
        assert!(out.ends_with("## Notes\nextra\n\n## Blockers\n"), "{out}");
        let out = run(
            SRC,
            &[
                Op::EnsureSection {
                    name: "Current State".into(),
                },
                Op::EnsureSection {
                    name: "Technical Context".into(),
                },
            ],
        );
        assert!(
            out.contains("- [x] design\n\n## Notes\nextra\n\n## Technical Context\n"),
            "{out}"
        );
    }

    #[test]
    fn log_creates_section_and_appends_entries() {
        let op = |m: &str| Op::Log {
            at: now(),
            actor: "claude".into(),
            message: m.into(),
        };
        let out = run(SRC, &[op("first")]);
        assert!(
            out.ends_with("extra\n\n## Session Log\n\n### 2025-12-05 10:00 - [claude]\nfirst\n"),
            "{out}"
        );
        let out = run(&out, &[op("second")]);
        assert!(
            out.ends_with("first\n\n### 2025-12-05 10:00 - [claude]\nsecond\n"),
            "{out}"
        );
        assert!(apply(SRC, &[op("## sneaky")], now()).is_err());
    }

    #[test]
    fn check_ticks_one_item() {
        let out = run(
            SRC,
            &[Op::Check {
                item: "write".into(),
                checked: true,
            }],
        );
        assert!(out.contains("- [x] write tests\n"));
        assert!(
            apply(
                SRC,
                &[Op::Check {
                    item: "nothing".into(),
                    checked: true
                }],
                now()
            )
            .is_err()
        );
    }

    #[test]
    fn crlf_is_kept() {
        let crlf = SRC.replace('\n', "\r\n");
        let out = run(
            &crlf,
            &[
                Op::Set {
                    path: key_path(&["session", "linear_url"]),
                    value: Scalar::str("https://x.y/1"),
                },
                Op::Log {
                    at: now(),
                    actor: "a".into(),
                    message: "m\nline two".into(),
                },
                Op::SetSection {
                    name: "Context".into(),
                    text: "one\ntwo".into(),
                },
            ],
        );
        assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
    }

    #[test]
    fn push_creates_and_extends_lists() {
        let entry = vec![
            ("agent".to_string(), Scalar::str("dev")),
            ("task".to_string(), Scalar::str("t: x")),
        ];
        let out = run(
            SRC,
            &[Op::Push {
                path: key_path(&["orchestration", "spawned_agents"]),
                entry: entry.clone(),
            }],
        );
        assert!(out.contains("  current_task: plain task\n  spawned_agents:\n    - agent: \"dev\"\n      task: \"t: x\"\n---"), "{out}");
        let out = run(
            &out,
            &[Op::Push {
                path: key_path(&["orchestration", "spawned_agents"]),
                entry: entry.clone(),
            }],
        );
        let doc = Document::parse(&out);
        assert_eq!(
            doc.value(&["orchestration", "spawned_agents"])
                .unwrap()
                .items()
                .len(),
            2
        );
        let empty = SRC.replace(
            "plain task\n",
            "plain task\n  spawned_agents: []  # none yet\n",
        );
        let out = run(
            &empty,
            &[Op::Push {
                path: key_path(&["orchestration", "spawned_agents"]),
                entry,
            }],
        );
        let doc = Document::parse(&out);
        assert_eq!(
            doc.value(&["orchestration", "spawned_agents"])
                .unwrap()
                .items()
                .len(),
            1,
            "{out}"
        );
        assert!(out.contains("# none yet"));
    }

    #[test]
    fn rename_and_empty_value() {
        let src = SRC.replace("  custom: [a, b]\n", "  linear_url:\n");
        let out = run(
            &src,
            &[Op::Set {
                path: key_path(&["session", "linear_url"]),
                value: Scalar::str("https://a.b"),
            }],
        );
        assert!(out.contains("  linear_url: \"https://a.b\"\n"), "{out}");
        let out = run(
            SRC,
            &[Op::RenameKey {
                path: key_path(&["session"]),
                from: "custom".into(),
                to: "extra".into(),
            }],
        );
        assert!(out.contains("  extra: [a, b]\n"));
    }
}
