//! The Markdown block scanner under the document model: which lines are prose, which are
//! inside a code fence, an HTML block or comment, and where a `#` heading really starts one
//! (CommonMark's rules for the cases session files meet). Headings, checklists and the
//! unclosed-block checks all read lines through it, so text in a code block never counts.

use std::ops::Range;

use super::{Heading, lines, position};

/// An open fenced code block: its character, length and indentation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fence {
    ch: u8,
    len: usize,
}

fn indent_of(line: &[u8]) -> Option<usize> {
    // Up to three spaces; a tab or four spaces make indented code (or a continuation).
    let n = line.iter().take_while(|&&b| b == b' ').count();
    (n <= 3 && line.get(n) != Some(&b'\t')).then_some(n)
}

fn fence_open(line: &[u8]) -> Option<Fence> {
    let indent = indent_of(line)?;
    let rest = &line[indent..];
    let ch = *rest.first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let len = rest.iter().take_while(|&&b| b == ch).count();
    if len < 3 || (ch == b'`' && rest[len..].contains(&b'`')) {
        return None;
    }
    Some(Fence { ch, len })
}

fn fence_closes(fence: &Fence, line: &[u8]) -> bool {
    let Some(indent) = indent_of(line) else {
        return false;
    };
    let rest = &line[indent..];
    let len = rest.iter().take_while(|&&b| b == fence.ch).count();
    len >= fence.len && rest[len..].iter().all(|b| b.is_ascii_whitespace())
}

fn atx_heading(src: &str, start: usize, end: usize, next: usize) -> Option<Heading> {
    let line = &src.as_bytes()[start..end];
    let indent = indent_of(line)?;
    let rest = &line[indent..];
    let level = rest.iter().take_while(|&&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    if let Some(&b) = rest.get(level)
        && b != b' '
        && b != b'\t'
    {
        return None;
    }
    let text_start = start + indent + level;
    let mut text = src[text_start..end].trim_matches([' ', '\t']);
    // An optional closing sequence of `#`s, preceded by a space, is not part of the text.
    let without_hashes = text.trim_end_matches('#');
    if without_hashes.is_empty() || without_hashes.ends_with([' ', '\t']) {
        text = without_hashes.trim_end_matches([' ', '\t']);
    }
    let offset = text.as_ptr() as usize - src.as_ptr() as usize;
    Some(Heading {
        level: level as u8,
        text: offset..offset + text.len(),
        line: start..next,
    })
}

/// Lines of `src[range]` that are not inside fenced code or HTML blocks, as
/// (start, end-without-line-ending, next-line-start). Fence and HTML lines are skipped too.
pub fn prose_lines(
    src: &str,
    range: Range<usize>,
) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    // The start of the range counts as after a blank line: any block may begin there.
    let mut state = BlockState {
        prev_blank: true,
        ..BlockState::default()
    };
    let limit = range.end;
    lines(src, range.start)
        .take_while(move |l| l.0 < limit)
        .filter(move |&(start, end, _)| state.is_prose(&src.as_bytes()[start..end]))
}

/// A code fence or HTML comment/block still open at the end of the text: it hides every
/// heading (and every entry appended) after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclosed {
    /// Byte offset of the opening ``` / ~~~ / `<`.
    pub offset: usize,
    /// Start of the opening line.
    pub line_start: usize,
    /// `Some(closing line)` for a fence (e.g. "```", indented for a list item); `None` for HTML.
    pub closer: Option<String>,
}

impl Unclosed {
    pub fn what(&self) -> &'static str {
        if self.closer.is_some() {
            "a code fence"
        } else {
            "an HTML comment or block"
        }
    }
}

/// The first fence or HTML comment/block opened at or after `from` that is still open at the
/// end of `src`.
pub fn unclosed_at(src: &str, from: usize) -> Option<Unclosed> {
    match scan(src, from, None, &mut Vec::new(), &mut Vec::new(), |_, _| {
        false
    }) {
        Scanned::End { open, .. } => open,
        Scanned::Converged => None,
    }
}

/// How a [`scan`] ended.
pub(super) enum Scanned {
    /// At the end of the text, with the block still open there (see [`unclosed_at`]), and
    /// whether any line scanned starts like a Git conflict marker (`<<<<<<<` or `>>>>>>>`).
    End {
        open: Option<Unclosed>,
        markers: bool,
    },
    /// `converged` accepted a heading (not pushed): the caller knows the rest.
    Converged,
}

/// The one line scanner behind headings and open blocks: from `from` (the start of a line) to
/// the end of `src`, pushes every heading outside code or HTML onto `headings`, and beside it
/// the list item the scanner is in after that line (`lists`: all a scan needs to resume right
/// after the heading, see `Document::reparse`). `resume` is `None` to start afresh (as after
/// a blank line), or `Some(list)` to continue right after a heading line that left the
/// scanner in list item `list`. Each heading found is first offered to `converged`; when it
/// returns true the scan stops there.
pub(super) fn scan(
    src: &str,
    from: usize,
    resume: Option<Option<usize>>,
    headings: &mut Vec<Heading>,
    lists: &mut Vec<Option<usize>>,
    mut converged: impl FnMut(&Heading, Option<usize>) -> bool,
) -> Scanned {
    let mut state = match resume {
        None => BlockState {
            prev_blank: true,
            ..BlockState::default()
        },
        Some(list) => BlockState {
            list,
            ..BlockState::default()
        },
    };
    let bytes = src.as_bytes();
    let mut opened = None;
    let mut markers = false;
    for (start, end, next) in lines(src, from) {
        let was_open = state.open();
        let line = &bytes[start..end];
        markers |= conflict_marker_like(line);
        let prose = state.is_prose(line);
        let open = state.open();
        if open && !was_open {
            // The fence (and its list item's column) that a closing line must match; the
            // closing line itself is written out only for a block still open at the end.
            let fence = state
                .fence
                .as_ref()
                .map(|f| (f.clone(), state.fence_container.unwrap_or(0)));
            let mark = fence.as_ref().map_or(b'<', |(f, _)| f.ch);
            let at = line.iter().position(|&b| b == mark).unwrap_or(0);
            opened = Some((start + at, start, fence));
        }
        if !open {
            opened = None;
        }
        if prose
            && line.trim_ascii_start().first() == Some(&b'#')
            && let Some(h) = atx_heading(src, start, end, next)
        {
            if converged(&h, state.list) {
                return Scanned::Converged;
            }
            headings.push(h);
            lists.push(state.list);
        }
    }
    let open = opened.map(|(offset, line_start, fence)| Unclosed {
        offset,
        line_start,
        closer: fence.map(|(f, indent)| {
            format!(
                "{}{}",
                " ".repeat(indent),
                (f.ch as char).to_string().repeat(f.len)
            )
        }),
    });
    Scanned::End { open, markers }
}

/// Whether a line starts like a Git conflict marker: `<<<<<<<` or `>>>>>>>`.
pub(super) fn conflict_marker_like(line: &[u8]) -> bool {
    match line {
        [b @ (b'<' | b'>'), ..] => line.len() >= 7 && line[..7].iter().all(|c| c == b),
        _ => false,
    }
}

/// The first code fence or HTML comment/block in `text` that is still open at its end, as
/// (1-based line, what it is). Inserted text must not leave one open: it would hide every
/// heading after it.
pub fn unclosed_block(text: &str) -> Option<(usize, &'static str)> {
    unclosed_at(text, 0).map(|u| (position(text, u.line_start).0, u.what()))
}

/// How an open HTML block ends (CommonMark §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HtmlEnd {
    /// At the first line containing this text (ASCII case-insensitive).
    Contains(&'static [u8]),
    /// At a blank line.
    Blank,
}

/// The block-level state a line scanner needs to know what can hide a heading: an open
/// fence (possibly inside a list item), an open HTML block, and the current list item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct BlockState {
    fence: Option<Fence>,
    /// The content column of the list item the open fence belongs to.
    fence_container: Option<usize>,
    html: Option<HtmlEnd>,
    /// The content column of the current list item.
    list: Option<usize>,
    prev_blank: bool,
}

impl BlockState {
    /// Inside a fence or an HTML block that only a marker ends (not a blank line).
    fn open(&self) -> bool {
        self.fence.is_some() || matches!(self.html, Some(HtmlEnd::Contains(_)))
    }

    #[inline]
    fn is_prose(&mut self, line: &[u8]) -> bool {
        // Most lines are text outside any block, starting with a byte that cannot open or
        // end anything (a fence, HTML, a list item, indented code): a letter, `#`, `|`…
        // Such a line is prose at once (a `#` line may be a heading, which is prose too).
        // So is an empty line outside a fence or HTML block (it only ends a paragraph), and
        // a `- ` item whose text starts with such a byte (it opens an item at column 2).
        // Inside a fence that is not in a list item, a line that starts with neither a blank
        // nor the fence's character is code, and so is an empty one.
        // (A property test below checks these shortcuts against the full classification.)
        let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\x0c');
        let opener =
            |b: &u8| blank(b) || matches!(b, b'<' | b'`' | b'~' | b'-' | b'*' | b'+' | b'0'..=b'9');
        match (&self.fence, &self.html, line) {
            (None, None, []) => {
                self.prev_blank = true;
                return true;
            }
            // (Unindented, it also ends any list item.)
            (None, None, [b, ..]) if !opener(b) => {
                self.list = None;
                self.prev_blank = false;
                return true;
            }
            (None, None, [b'-' | b'*' | b'+', b' ', c, ..])
                if !blank(c) && *c != b'`' && *c != b'~' =>
            {
                self.list = Some(2);
                self.prev_blank = false;
                return true;
            }
            (Some(_), _, []) if self.fence_container.is_none() => {
                self.prev_blank = true;
                return false;
            }
            (Some(f), _, [b, ..]) if self.fence_container.is_none() && !blank(b) && *b != f.ch => {
                self.prev_blank = false;
                return false;
            }
            _ => {}
        }
        self.is_prose_slow(line)
    }

    /// [`BlockState::is_prose`] without its shortcut for plain text lines.
    #[inline(never)]
    fn is_prose_slow(&mut self, line: &[u8]) -> bool {
        let blank = line.iter().all(|b| b.is_ascii_whitespace());
        let prose = self.classify(line, blank);
        self.prev_blank = blank;
        prose
    }

    fn classify(&mut self, line: &[u8], blank: bool) -> bool {
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        if let Some(f) = &self.fence {
            match self.fence_container {
                // A line indented less than its list item ends the item and the fence with it.
                Some(col) if !blank && indent < col => {
                    self.fence = None;
                    self.fence_container = None;
                    self.list = None;
                }
                Some(col) => {
                    if fence_closes(f, &line[indent.min(col)..]) {
                        self.fence = None;
                        self.fence_container = None;
                    }
                    return false;
                }
                None => {
                    if fence_closes(f, line) {
                        self.fence = None;
                    }
                    return false;
                }
            }
        }
        if let Some(end) = self.html {
            match end {
                HtmlEnd::Blank if blank => self.html = None,
                HtmlEnd::Blank => {}
                HtmlEnd::Contains(pat) => {
                    if contains_ignore_case(line, pat) {
                        self.html = None;
                    }
                }
            }
            return false;
        }
        if blank {
            return true;
        }
        // List items: a fence may sit at the item's content column.
        let item = list_item(line);
        if let Some(col) = self.list
            && indent < col
            && item.is_none()
        {
            self.list = None;
        }
        if let Some(col) = item {
            self.list = Some(col);
            let rest = &line[col.min(line.len())..];
            if let Some(f) = fence_open(rest) {
                self.fence = Some(f);
                self.fence_container = Some(col);
                return false;
            }
            return true;
        }
        if let Some(col) = self.list.filter(|&c| indent >= c) {
            if let Some(f) = fence_open(&line[col..]) {
                self.fence = Some(f);
                self.fence_container = Some(col);
                return false;
            }
            return true;
        }
        if let Some(f) = fence_open(line) {
            self.fence = Some(f);
            return false;
        }
        if indent <= 3
            && let Some(end) = html_start(&line[indent..], self.prev_blank)
        {
            // Types 1-5 may end on their first line.
            if let HtmlEnd::Contains(pat) = end {
                let from = if pat == b"-->" { 2 } else { 1 };
                if contains_ignore_case(&line[indent + from..], pat) {
                    return false;
                }
            }
            self.html = Some(end);
            return false;
        }
        true
    }
}

/// The content column of a list item line (`- x`, `* x`, `+ x`, `1. x`, `1) x`).
fn list_item(line: &[u8]) -> Option<usize> {
    let indent = line.iter().take_while(|&&b| b == b' ').count();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let marker = match rest.first()? {
        b'-' | b'*' | b'+' => 1,
        b'0'..=b'9' => {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 9 || !matches!(rest.get(digits), Some(b'.' | b')')) {
                return None;
            }
            digits + 1
        }
        _ => return None,
    };
    match rest.get(marker) {
        None => Some(indent + marker + 1),
        Some(b' ') => {
            let spaces = rest[marker..].iter().take_while(|&&b| b == b' ').count();
            // Five or more spaces: the content is indented code, and starts after one space.
            Some(indent + marker + if spaces > 4 { 1 } else { spaces })
        }
        _ => None,
    }
}

const HTML_BLOCK_TAGS: [&str; 62] = [
    "address",
    "article",
    "aside",
    "base",
    "basefont",
    "blockquote",
    "body",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "iframe",
    "legend",
    "li",
    "link",
    "main",
    "menu",
    "menuitem",
    "nav",
    "noframes",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "search",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
];

/// Whether `rest` (after the indent) starts an HTML block, and how that block ends.
fn html_start(rest: &[u8], after_blank: bool) -> Option<HtmlEnd> {
    if rest.first() != Some(&b'<') {
        return None;
    }
    let lower: Vec<u8> = rest.iter().take(12).map(u8::to_ascii_lowercase).collect();
    let tag_end = |n: usize| matches!(rest.get(n), None | Some(b' ' | b'\t' | b'>'));
    for (tag, end) in [
        (&b"<pre"[..], &b"</pre>"[..]),
        (b"<script", b"</script>"),
        (b"<style", b"</style>"),
        (b"<textarea", b"</textarea>"),
    ] {
        if lower.starts_with(tag) && tag_end(tag.len()) {
            return Some(HtmlEnd::Contains(end));
        }
    }
    if rest.starts_with(b"<!--") {
        return Some(HtmlEnd::Contains(b"-->"));
    }
    if rest.starts_with(b"<?") {
        return Some(HtmlEnd::Contains(b"?>"));
    }
    if rest.starts_with(b"<![CDATA[") {
        return Some(HtmlEnd::Contains(b"]]>"));
    }
    if rest.len() > 2 && rest[1] == b'!' && rest[2].is_ascii_alphabetic() {
        return Some(HtmlEnd::Contains(b">"));
    }
    let name_start = if rest.get(1) == Some(&b'/') { 2 } else { 1 };
    let name_len = rest[name_start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
        .count();
    if name_len == 0 || !rest[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name =
        String::from_utf8_lossy(&rest[name_start..name_start + name_len]).to_ascii_lowercase();
    let after = &rest[name_start + name_len..];
    if HTML_BLOCK_TAGS.contains(&name.as_str())
        && (after.is_empty()
            || after.starts_with(b" ")
            || after.starts_with(b"\t")
            || after.starts_with(b">")
            || after.starts_with(b"/>"))
    {
        return Some(HtmlEnd::Blank);
    }
    // Type 7: a lone complete tag, which cannot interrupt a paragraph.
    let trimmed = rest.trim_ascii_end();
    let lone_tag = trimmed.ends_with(b">")
        && !trimmed[1..trimmed.len() - 1].contains(&b'<')
        && !trimmed[1..trimmed.len() - 1].contains(&b'>');
    (after_blank && lone_tag).then_some(HtmlEnd::Blank)
}

pub(super) fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    // Case only matters for letters: `-->`, `?>`, `]]>` and `>` are plain substring searches,
    // made on one line: looking for the last byte and checking the bytes before it costs
    // less than setting up a substring searcher for each line.
    if let Some((&last, before)) = needle.split_last()
        && !needle.iter().any(u8::is_ascii_alphabetic)
    {
        return memchr::memchr_iter(last, hay).any(|i| hay[..i].ends_with(before));
    }
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// All ATX headings from `from` on that are not inside fenced code or HTML comments.
/// (Indented code cannot hold a heading: a heading allows at most three spaces of indent.)
pub fn scan_headings(src: &str, from: usize) -> Vec<Heading> {
    let mut headings = Vec::new();
    scan(src, from, None, &mut headings, &mut Vec::new(), |_, _| {
        false
    });
    headings
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Lines made of the pieces that change the scanner's state, and plain text.
    fn line() -> impl Strategy<Value = String> {
        let piece = proptest::sample::select(
            &[
                "a",
                "Text",
                "ü",
                "日",
                "#",
                "## ",
                " ",
                "   ",
                "    ",
                "\t",
                "```",
                "~~~",
                "`",
                "- ",
                "* ",
                "+ ",
                "1. ",
                "2) ",
                "<!--",
                "-->",
                "<div>",
                "</div>",
                "<pre>",
                "</pre>",
                "<?",
                "?>",
                "<a>",
                "<![CDATA[",
                "]]>",
                "<!X",
                ">",
                "[ ] ",
                "|",
                "\r",
                "\u{c}",
                "=",
                "_",
                "",
            ][..],
        );
        proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// The shortcut for plain lines classifies every line and leaves the state exactly
        /// as the full classification does.
        #[test]
        fn the_plain_line_shortcut_agrees_with_the_full_classification(
            lines in proptest::collection::vec(line(), 0..40),
        ) {
            let mut fast = BlockState { prev_blank: true, ..BlockState::default() };
            let mut slow = fast.clone();
            for l in &lines {
                let (a, b) = (fast.is_prose(l.as_bytes()), slow.is_prose_slow(l.as_bytes()));
                prop_assert_eq!(a, b, "line {:?} of {:?}", l, lines);
                prop_assert_eq!(&fast, &slow, "after line {:?} of {:?}", l, lines);
            }
        }
    }
}
