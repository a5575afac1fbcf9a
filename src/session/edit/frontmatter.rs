//! Frontmatter edits: set a scalar at a key path, insert the keys it needs (in the order the
//! template gives them, indented as the file indents), and push an entry onto a list. Each works
//! on the YAML node tree's byte spans, so only the bytes of the value or the inserted lines
//! change.

use crate::session::document::{Document, FrontmatterState};
use crate::session::yaml::{Kind, Node, Style};

use super::{EditError, ORCHESTRATION_KEYS, SESSION_KEYS, Scalar, Seg, splice};

pub(super) fn not_found(path: &[Seg]) -> EditError {
    EditError::NotFound(format!("`{}` is not in the frontmatter", show_path(path)))
}

pub(super) fn show_path(path: &[Seg]) -> String {
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

pub(super) fn root<'d>(doc: &'d Document) -> Result<&'d Node, EditError> {
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

pub(super) fn node_at<'d>(doc: &'d Document, path: &[Seg]) -> Result<Option<&'d Node>, EditError> {
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

/// What setting a value takes: nothing (it has that value), replacing a range of the text,
/// or inserting the key.
pub(super) enum SetEdit {
    Same,
    Replace(std::ops::Range<usize>, String),
    Insert,
}

pub(super) fn set_edit(doc: &Document, path: &[Seg], value: &Scalar) -> Result<SetEdit, EditError> {
    let Some(node) = node_at(doc, path)? else {
        return Ok(SetEdit::Insert);
    };
    match &node.kind {
        Kind::Scalar { value: old, style } => {
            if !node.is_null() && old == value.text() {
                return Ok(SetEdit::Same);
            }
            if node.span.is_empty() {
                // `key:` with nothing after it: the value goes after the colon.
                let at = colon_after(doc.src, node.span.start);
                return Ok(SetEdit::Replace(at..at, format!(" {}", value.render(None))));
            }
            let keep = if node.is_null() { None } else { Some(*style) };
            Ok(SetEdit::Replace(node.span.clone(), value.render(keep)))
        }
        _ => Err(EditError::Conflict(format!(
            "`{}` is {}; edit it by hand or replace it with a single value",
            show_path(path),
            node.kind_name()
        ))),
    }
}

pub(super) fn set(
    doc: &Document,
    path: &[Seg],
    value: &Scalar,
) -> Result<Option<String>, EditError> {
    match set_edit(doc, path, value)? {
        SetEdit::Same => Ok(None),
        SetEdit::Replace(range, with) => Ok(splice(doc.src, range, &with)),
        SetEdit::Insert => {
            let (last, parent_path) = path.split_last().ok_or_else(|| not_found(path))?;
            let Seg::Key(key) = last else {
                return Err(not_found(path));
            };
            insert_key(doc, parent_path, key, &format!(" {}", value.render(None)))
        }
    }
}

/// The position just after the `:` that follows `from` on its line (or `from`).
pub(super) fn colon_after(src: &str, from: usize) -> usize {
    let line_end = src[from..].find('\n').map_or(src.len(), |i| from + i);
    src[from..line_end].find(':').map_or(from, |i| from + i + 1)
}

pub(super) fn line_start(src: &str, at: usize) -> usize {
    src[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// End of the line containing `at`, after its line ending.
pub(super) fn line_end_after(src: &str, at: usize) -> usize {
    src[at..].find('\n').map_or(src.len(), |i| at + i + 1)
}

pub(super) fn column(src: &str, at: usize) -> usize {
    at - line_start(src, at)
}

/// Inserts `key:<rest>` into the mapping at `parent_path` (creating the parent block when
/// missing), after the nearest preceding key in template order. `rest` starts with the text
/// after the colon: ` value`, or a line ending and indented block lines using [`INDENT`] for the
/// indentation of the key's children.
pub(super) fn insert_key(
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

pub(super) fn parent_entry<'d>(root: &'d Node, path: &[Seg]) -> Option<&'d (Node, Node)> {
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

pub(super) fn render_key(key: &str, rest: &str, indent: usize, unit: usize, le: &str) -> String {
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
pub(super) fn insert_line(src: &str, at: usize, line: &str, le: &str) -> String {
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
pub(super) fn detect_indent(root: &Node, src: &str) -> usize {
    root.entries()
        .iter()
        .find_map(|(_, v)| v.entries().first().map(|(k, _)| column(src, k.span.start)))
        .filter(|&n| n > 0 && n <= 8)
        .unwrap_or(2)
}

pub(super) fn push(
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

/// Marks where the child indentation goes in block lines built for [`insert_key`]. A NUL
/// cannot occur in rendered values (quoting escapes it), so user text is never mistaken for it.
pub(super) const INDENT: &str = "\u{0}";
