//! Body edits: replace a section's text, append to it, insert a missing section where the
//! template puts it, and tick a checklist item. Text from outside is checked first, so it can
//! never add a heading, leave a code fence open or land inside one.

use std::ops::Range;

use crate::session::document::{Document, checkbox, content_lines, prose_lines};

use super::{EditError, TEMPLATE_SECTIONS, normalize, splice};

/// A section name must read back as itself from its `## name` heading (not blank, no line
/// breaks, no edge spaces, no closing `#`s), or every later lookup would miss it and add it
/// again.
pub(super) fn check_section_name(name: &str) -> Result<(), EditError> {
    let heading = format!("## {name}\n");
    let heads = crate::session::document::scan_headings(&heading, 0);
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
pub(super) fn target<'d>(
    doc: &'d Document,
    name: &str,
) -> Option<&'d crate::session::document::Section> {
    doc.section(name).or_else(|| doc.section_loose(name))
}

/// A code fence (or HTML comment) left open at the end of the file hides everything after it,
/// so text written there would be invisible. When the open fence is in the section being
/// appended to (`append`: the usual case, a log entry that pasted output without closing it),
/// it is closed visibly with a fence line at the end of the section's content, and the new
/// text goes after it; the text with the fence closed is returned. When the section is before
/// the opening, nothing needs doing. Anything else is refused with where the block opens —
/// replacing such a section's body would delete everything the block hides.
pub(super) fn guard_unclosed(
    doc: &Document,
    name: &str,
    section: Option<&crate::session::document::Section>,
    append: bool,
) -> Result<Option<String>, EditError> {
    let Some(open) = &doc.unclosed else {
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

/// Refuses text that would change the file's structure: a level-1 or level-2 heading, or a
/// code fence or HTML comment left open (it would swallow the sections after it).
pub(super) fn check_no_sections(text: &str) -> Result<(), EditError> {
    if let Some((line, what)) = crate::session::document::unclosed_block(text) {
        return Err(EditError::BadInput(format!(
            "line {line} of the text opens {what} that the text does not close, which would swallow the rest of the file; close it"
        )));
    }
    let heads = crate::session::document::scan_headings(text, 0);
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
pub(super) fn content_end(doc: &Document, body: &Range<usize>) -> usize {
    crate::session::document::lines(doc.src, body.start)
        .take_while(|l| l.0 < body.end)
        .filter(|&(s, e, _)| !doc.src[s..e].trim_matches([' ', '\t']).is_empty())
        .last()
        .map_or(body.start, |(_, e, _)| e)
}

/// Text as it goes into a section: leading and trailing blank lines dropped, but the first
/// line's indentation kept (it can make the line code rather than a heading).
pub(super) fn section_text(text: &str) -> &str {
    let start = text
        .split_inclusive('\n')
        .take_while(|l| l.trim_matches([' ', '\t', '\r', '\n']).is_empty())
        .map(str::len)
        .sum::<usize>();
    text[start..].trim_end()
}

/// A section body holding `content`: a blank line after the heading, the content, and a
/// blank line before the next heading (none at the end of the file).
pub(super) fn section_body(content: &str, at_eof: bool, le: &str) -> String {
    let gap = if at_eof { "" } else { le };
    if content.is_empty() {
        gap.to_string()
    } else {
        format!("{le}{content}{le}{gap}")
    }
}

pub(super) fn set_section(
    doc: &Document,
    name: &str,
    text: &str,
) -> Result<Option<String>, EditError> {
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

pub(super) fn append_section(
    doc: &Document,
    name: &str,
    text: &str,
) -> Result<Option<String>, EditError> {
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
    let headings = |d: &Document| d.headings.iter().filter(|h| h.level <= 2).count();
    let wanted = headings(doc);
    let out = splice(doc.src, end..end, &with);
    if out
        .as_deref()
        .is_none_or(|o| headings(&doc.reparse(o)) >= wanted)
    {
        return Ok(out);
    }
    with.push_str(le);
    match splice(doc.src, end..end, &with) {
        Some(o) if headings(&doc.reparse(&o)) >= wanted => Ok(Some(o)),
        _ => Err(EditError::BadInput(
            "the text would hide the headings after it (an HTML block left open?); close it".into(),
        )),
    }
}

/// Inserts `## name` with `content` before the next section in template order (custom
/// sections go before `## Session Log`), or at the end of the file.
pub(super) fn insert_section(doc: &Document, name: &str, content: &str) -> String {
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

pub(super) fn check(
    doc: &Document,
    item: &str,
    checked: bool,
) -> Result<Option<String>, EditError> {
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
