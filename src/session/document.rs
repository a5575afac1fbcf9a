//! A session file as spans over its original bytes: BOM, frontmatter block, headings and `##`
//! sections. Nothing here copies or rewrites text; edits (see `edit.rs`) replace byte ranges
//! that this module located, so everything outside them survives byte for byte.
//!
//! Headings are found by a line scanner that follows CommonMark's rules for what can hide a
//! heading (fenced code, indented code, HTML comments). A full Markdown parser would build a
//! whole AST for every file we validate; the scanner only looks at line starts, which keeps
//! `validate` near `cat` speed. A property test checks it against `pulldown-cmark`.

use std::ops::Range;

use memchr::memchr;

use super::yaml::{self, Node, YamlError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    Lf,
    CrLf,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
        }
    }
}

/// The `---` … `---` block at the top of the file.
#[derive(Debug)]
pub struct Frontmatter {
    /// From the opening `---` through the closing delimiter line (including its line ending).
    pub block: Range<usize>,
    /// The YAML text between the delimiter lines.
    pub content: Range<usize>,
    /// The parsed tree, or why it could not be parsed.
    pub yaml: Result<Option<Node>, YamlError>,
}

#[derive(Debug, Clone)]
pub struct Heading {
    pub level: u8,
    /// The heading text, trimmed, without the closing `#` sequence.
    pub text: Range<usize>,
    /// The whole heading line including its line ending.
    pub line: Range<usize>,
}

#[derive(Debug, Clone)]
pub struct Section {
    /// The `## Name` heading.
    pub heading: Heading,
    /// From after the heading line to the next heading of level 1 or 2, or the end of the file.
    pub body: Range<usize>,
}

#[derive(Debug)]
pub enum FrontmatterState {
    /// The file does not start with `---`.
    Missing,
    /// It starts with `---` but no closing line follows; holds the opening line's range.
    Unclosed(Range<usize>),
    Present(Frontmatter),
}

#[derive(Debug)]
pub struct Document<'a> {
    pub src: &'a str,
    pub bom: bool,
    pub line_ending: LineEnding,
    pub frontmatter: FrontmatterState,
    /// Where the Markdown body starts (after the frontmatter block).
    pub body_start: usize,
    /// All ATX headings outside code, in order.
    pub headings: Vec<Heading>,
    /// The level-2 sections, in order.
    pub sections: Vec<Section>,
}

impl<'a> Document<'a> {
    pub fn parse(src: &'a str) -> Self {
        let mut doc = Self::parse_frontmatter(src);
        doc.headings = scan_headings(src, doc.body_start);
        doc.sections = sections_of(src, &doc.headings);
        doc
    }

    /// Only the BOM, line ending and frontmatter: enough for listings, which never look at
    /// the body (`headings` and `sections` are left empty).
    pub fn parse_frontmatter(src: &'a str) -> Self {
        let bom = src.starts_with('\u{feff}');
        let start = if bom { 3 } else { 0 };
        let line_ending = match memchr(b'\n', src.as_bytes()) {
            Some(i) if i > 0 && src.as_bytes()[i - 1] == b'\r' => LineEnding::CrLf,
            _ => LineEnding::Lf,
        };
        let (frontmatter, body_start) = parse_frontmatter(src, start);
        Document {
            src,
            bom,
            line_ending,
            frontmatter,
            body_start,
            headings: Vec::new(),
            sections: Vec::new(),
        }
    }

    pub fn yaml(&self) -> Option<&Node> {
        match &self.frontmatter {
            FrontmatterState::Present(fm) => fm.yaml.as_ref().ok().and_then(Option::as_ref),
            _ => None,
        }
    }

    /// Looks up a value by path, e.g. `["session", "title"]`.
    pub fn value(&self, path: &[&str]) -> Option<&Node> {
        let mut node = self.yaml()?;
        for key in path {
            node = node.get(key)?;
        }
        Some(node)
    }

    /// A scalar's text, when the value is a non-null scalar.
    pub fn str_value(&self, path: &[&str]) -> Option<&str> {
        self.value(path)
            .filter(|n| !n.is_null())
            .and_then(Node::as_str)
    }

    pub fn text(&self, range: &Range<usize>) -> &'a str {
        &self.src[range.clone()]
    }

    /// The first `##` section whose name matches exactly.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| self.text(&s.heading.text) == name)
    }

    /// Like [`Document::section`] but ignoring ASCII case, for references typed by people.
    pub fn section_loose(&self, name: &str) -> Option<&Section> {
        self.section(name).or_else(|| {
            self.sections
                .iter()
                .find(|s| self.text(&s.heading.text).eq_ignore_ascii_case(name))
        })
    }

    /// The `# Title` heading, if the body has one before its first section.
    pub fn title_heading(&self) -> Option<&Heading> {
        self.headings
            .iter()
            .take_while(|h| h.level != 2)
            .find(|h| h.level == 1)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        position(self.src, offset)
    }
}

/// 1-based line and column (in characters) of a byte offset in `src`.
pub fn position(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let before = &src.as_bytes()[..offset];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    let mut col = src[line_start..offset].chars().count() + 1;
    if line_start == 0 && src.starts_with('\u{feff}') {
        col = col.saturating_sub(1).max(1);
    }
    (line, col)
}

/// Positions for offsets visited in increasing order, in time linear in the text: each call
/// counts only the newlines since the previous one.
pub struct Positions<'a> {
    src: &'a str,
    offset: usize,
    line: usize,
    line_start: usize,
}

impl<'a> Positions<'a> {
    pub fn new(src: &'a str) -> Self {
        Positions {
            src,
            offset: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// Like [`position`]; an offset before the previous one restarts from the top.
    pub fn at(&mut self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.src, offset.min(self.src.len()));
        if offset < self.offset {
            *self = Positions::new(self.src);
        }
        let between = &self.src.as_bytes()[self.offset..offset];
        self.line += memchr::memchr_iter(b'\n', between).count();
        if let Some(i) = memchr::memrchr(b'\n', between) {
            self.line_start = self.offset + i + 1;
        }
        self.offset = offset;
        let mut col = self.src[self.line_start..offset].chars().count() + 1;
        if self.line_start == 0 && self.src.starts_with('\u{feff}') {
            col = col.saturating_sub(1).max(1);
        }
        (self.line, col)
    }
}

/// The whole line containing `offset`, without its line ending.
pub fn line_at(src: &str, offset: usize) -> &str {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let start = memchr::memrchr(b'\n', &src.as_bytes()[..offset]).map_or(0, |i| i + 1);
    let end = memchr(b'\n', &src.as_bytes()[offset..]).map_or(src.len(), |i| offset + i);
    src[start..end]
        .trim_end_matches('\r')
        .trim_start_matches('\u{feff}')
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Iterates lines as (start, end-without-line-ending, next-line-start).
pub(crate) fn lines(src: &str, from: usize) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let bytes = src.as_bytes();
    let mut pos = from;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        let (end, next) = match memchr(b'\n', &bytes[pos..]) {
            Some(i) => (pos + i, pos + i + 1),
            None => (bytes.len(), bytes.len()),
        };
        pos = next;
        let end = if end > start && bytes[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        Some((start, end, next))
    })
}

/// How many leading bytes of a file are enough for [`Document::parse_frontmatter`]: given the
/// first bytes of a file (`prefix`; `at_eof` when that is all of it), the length of the head
/// whose parse gives the same BOM, line ending, frontmatter and `body_start` as the whole
/// file's, or `None` when more bytes are needed to tell. The head ends after the closing
/// delimiter line, after the first line when the file does not open with `---`, and is the
/// whole file when the frontmatter is never closed. It always ends at a line end (or the end
/// of the file), so it never splits a UTF-8 character.
pub fn frontmatter_extent(prefix: &[u8], at_eof: bool) -> Option<usize> {
    const BOM: &[u8] = "\u{feff}".as_bytes();
    if !at_eof && prefix.len() < BOM.len() && BOM.starts_with(prefix) {
        return None;
    }
    let start = if prefix.starts_with(BOM) {
        BOM.len()
    } else {
        0
    };
    // Complete lines from `from`, as (line without its ending, next line start).
    let line = |from: usize| -> Option<Option<(&[u8], usize)>> {
        if from >= prefix.len() {
            return if at_eof { Some(None) } else { None };
        }
        let (end, next) = match memchr(b'\n', &prefix[from..]) {
            Some(i) => (from + i, from + i + 1),
            None if at_eof => (prefix.len(), prefix.len()),
            None => return None,
        };
        let text = &prefix[from..end];
        Some(Some((text.strip_suffix(b"\r").unwrap_or(text), next)))
    };
    let delimiter = |l: &[u8], marks: &[&[u8]]| {
        let end = l.len()
            - l.iter()
                .rev()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
        marks.contains(&&l[..end])
    };
    let Some((first, mut next)) = line(start)? else {
        return Some(prefix.len());
    };
    if !delimiter(first, &[b"---"]) {
        return Some(next);
    }
    loop {
        let Some((l, after)) = line(next)? else {
            return Some(prefix.len());
        };
        if delimiter(l, &[b"---", b"..."]) {
            return Some(after);
        }
        next = after;
    }
}

fn is_delimiter(line: &str, marks: &[&str]) -> bool {
    let line = line.trim_end_matches([' ', '\t']);
    marks.contains(&line)
}

fn parse_frontmatter(src: &str, start: usize) -> (FrontmatterState, usize) {
    let mut it = lines(src, start);
    let Some((s, e, next)) = it.next() else {
        return (FrontmatterState::Missing, start);
    };
    if !is_delimiter(&src[s..e], &["---"]) {
        return (FrontmatterState::Missing, start);
    }
    for (ls, le, lnext) in it {
        if is_delimiter(&src[ls..le], &["---", "..."]) {
            let content = next..ls;
            let yaml = yaml::parse(&src[content.clone()], content.start);
            let fm = Frontmatter {
                block: start..lnext,
                content,
                yaml,
            };
            return (FrontmatterState::Present(fm), lnext);
        }
    }
    (FrontmatterState::Unclosed(s..next), start)
}

/// An open fenced code block: its character, length and indentation.
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
    let mut state = BlockState {
        prev_blank: true,
        ..BlockState::default()
    };
    let mut opened = None;
    for (start, end, _) in lines(src, from) {
        let was_open = state.open();
        let line = &src.as_bytes()[start..end];
        state.is_prose(line);
        let open = state.open();
        if open && !was_open {
            let closer = state.fence.as_ref().map(|f| {
                let indent = " ".repeat(state.fence_container.unwrap_or(0));
                format!("{indent}{}", (f.ch as char).to_string().repeat(f.len))
            });
            let mark = match &closer {
                Some(_) => state.fence.as_ref().map_or(b'`', |f| f.ch),
                None => b'<',
            };
            let at = line.iter().position(|&b| b == mark).unwrap_or(0);
            opened = Some(Unclosed {
                offset: start + at,
                line_start: start,
                closer,
            });
        }
        if !open {
            opened = None;
        }
    }
    opened
}

/// The first code fence or HTML comment/block in `text` that is still open at its end, as
/// (1-based line, what it is). Inserted text must not leave one open: it would hide every
/// heading after it.
pub fn unclosed_block(text: &str) -> Option<(usize, &'static str)> {
    unclosed_at(text, 0).map(|u| (position(text, u.line_start).0, u.what()))
}

/// How an open HTML block ends (CommonMark §4.6).
#[derive(Clone, Copy)]
enum HtmlEnd {
    /// At the first line containing this text (ASCII case-insensitive).
    Contains(&'static [u8]),
    /// At a blank line.
    Blank,
}

/// The block-level state a line scanner needs to know what can hide a heading: an open
/// fence (possibly inside a list item), an open HTML block, and the current list item.
#[derive(Default)]
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

    fn is_prose(&mut self, line: &[u8]) -> bool {
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
        if let Some(col) = self.list
            && indent < col
            && list_item(line).is_none()
        {
            self.list = None;
        }
        if let Some(col) = list_item(line) {
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

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// All ATX headings from `from` on that are not inside fenced code or HTML comments.
/// (Indented code cannot hold a heading: a heading allows at most three spaces of indent.)
pub fn scan_headings(src: &str, from: usize) -> Vec<Heading> {
    prose_lines(src, from..src.len())
        .filter(|&(start, end, _)| {
            src.as_bytes()[start..end].trim_ascii_start().first() == Some(&b'#')
        })
        .filter_map(|(start, end, next)| atx_heading(src, start, end, next))
        .collect()
}

/// Lines with content in `range`: not blank and not template placeholders (HTML comments).
/// Fenced code counts as content.
pub fn content_lines(src: &str, range: Range<usize>) -> usize {
    let mut in_comment = false;
    lines(src, range.start)
        .take_while(|l| l.0 < range.end)
        .filter(|&(s, e, _)| {
            let line = src[s..e].trim();
            if in_comment {
                in_comment = !line.contains("-->");
                return false;
            }
            if line.starts_with("<!--") {
                in_comment = !line.contains("-->");
                return line.contains("-->") && !line.ends_with("-->");
            }
            !line.is_empty()
        })
        .count()
}

/// Checklist items (`- [ ]`, `* [x]`, `1. [X]`) in `range`, outside code: (done, total).
pub fn checklist(src: &str, range: Range<usize>) -> (usize, usize) {
    let mut done = 0;
    let mut total = 0;
    for (start, end, _) in prose_lines(src, range) {
        if let Some(checked) = checkbox(&src[start..end]) {
            total += 1;
            done += usize::from(checked);
        }
    }
    (done, total)
}

/// Whether a line is a task-list item, and if so whether it is ticked.
pub fn checkbox(line: &str) -> Option<bool> {
    let rest = line.trim_start();
    let rest = if let Some(r) = rest.strip_prefix(['-', '*', '+']) {
        r
    } else {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest[digits..].strip_prefix(['.', ')'])?
    };
    let rest = rest.strip_prefix([' ', '\t'])?.trim_start();
    match rest.get(..3)? {
        "[ ]" => Some(false),
        "[x]" | "[X]" => Some(true),
        _ => None,
    }
}

fn sections_of(src: &str, headings: &[Heading]) -> Vec<Section> {
    let mut out = Vec::new();
    for (i, h) in headings.iter().enumerate() {
        if h.level != 2 {
            continue;
        }
        let end = headings[i + 1..]
            .iter()
            .find(|n| n.level <= 2)
            .map_or(src.len(), |n| n.line.start);
        out.push(Section {
            heading: h.clone(),
            body: h.line.end..end,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(doc: &Document) -> Vec<String> {
        doc.sections
            .iter()
            .map(|s| doc.text(&s.heading.text).to_string())
            .collect()
    }

    #[test]
    fn headings_inside_fences_and_comments_do_not_count() {
        let src = "---\na: 1\n---\n# T\n\n## Context\n```md\n## Fake\n```\n<!--\n## Hidden\n-->\n~~~~\n```\n## Also fake\n~~~~\n### Context\n## Next Steps ##\n";
        let doc = Document::parse(src);
        assert_eq!(names(&doc), ["Context", "Next Steps"]);
        assert!(doc.yaml().is_some());
    }

    #[test]
    fn crlf_and_bom_are_detected_and_spans_exclude_cr() {
        let src = "\u{feff}---\r\nsession:\r\n  title: x\r\n---\r\n## Context\r\nbody\r\n";
        let doc = Document::parse(src);
        assert!(doc.bom);
        assert_eq!(doc.line_ending, LineEnding::CrLf);
        assert_eq!(doc.str_value(&["session", "title"]), Some("x"));
        assert_eq!(names(&doc), ["Context"]);
        assert_eq!(doc.text(&doc.sections[0].body), "body\r\n");
    }

    #[test]
    fn unclosed_frontmatter_is_reported() {
        let doc = Document::parse("---\na: 1\n");
        assert!(matches!(doc.frontmatter, FrontmatterState::Unclosed(_)));
        let doc = Document::parse("---");
        assert!(matches!(doc.frontmatter, FrontmatterState::Unclosed(_)));
    }

    #[test]
    fn section_body_runs_to_next_level_two_heading() {
        let src = "## A\none\n### sub\ntwo\n## B\nthree";
        let doc = Document::parse(src);
        assert_eq!(doc.text(&doc.sections[0].body), "one\n### sub\ntwo\n");
        assert_eq!(doc.text(&doc.sections[1].body), "three");
    }

    #[test]
    fn position_counts_lines_and_chars() {
        let src = "ab\nüx\n";
        assert_eq!(position(src, 0), (1, 1));
        assert_eq!(position(src, 5), (2, 2));
        assert_eq!(line_at(src, 4), "üx");
    }
}
