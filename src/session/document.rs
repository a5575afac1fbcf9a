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

mod blocks;

pub use blocks::{Unclosed, prose_lines, scan_headings, unclosed_at, unclosed_block};

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
    /// The code fence or HTML comment/block still open at the end of the body, if any (what
    /// [`unclosed_at`] finds from `body_start`), found by the same scan as the headings.
    pub unclosed: Option<Unclosed>,
    /// For each heading, the list item the scanner is in after its line: where a rescan of
    /// an edited text can resume (see [`Document::reparse`]).
    lists: Vec<Option<usize>>,
    /// Whether the body was scanned (not only [`Document::parse_frontmatter`]).
    scanned: bool,
    /// Whether a line of the body starts like a Git conflict marker, when a scan of the
    /// whole body noted it.
    markers: Option<bool>,
}

impl<'a> Document<'a> {
    /// The first code fence or HTML comment/block of the body still open at the end of the
    /// file: the scan's answer when the body was scanned, else scanned for now.
    pub fn unclosed(&self) -> Option<Unclosed> {
        if self.scanned {
            self.unclosed.clone()
        } else {
            unclosed_at(self.src, self.body_start)
        }
    }

    pub fn parse(src: &'a str) -> Self {
        let mut doc = Self::parse_frontmatter(src);
        doc.scan_body(doc.body_start, None);
        doc
    }

    /// Scans the body from `from` (a line start, after `self.headings` if any; `resume` as
    /// in [`blocks::scan`]) to the end, and derives the sections.
    fn scan_body(&mut self, from: usize, resume: Option<Option<usize>>) {
        if let blocks::Scanned::End { open, markers } = blocks::scan(
            self.src,
            from,
            resume,
            &mut self.headings,
            &mut self.lists,
            |_, _| false,
        ) {
            self.unclosed = open;
            self.markers = (from == self.body_start && resume.is_none()).then_some(markers);
        }
        self.sections = sections_of(self.src, &self.headings);
        self.scanned = true;
    }

    /// The document `src` is, given that it is an edit of `self.src`: the same as
    /// `Document::parse(src)`, but the body is only scanned where it changed. The bytes
    /// before the first difference scan as they did (the scan resumes after the last heading
    /// above it), and once the scan is past the last difference and meets a heading the old
    /// scan met in the same state, everything after it is the old scan's, shifted. An edit
    /// of one section costs a scan of that section, not of the file.
    pub fn reparse<'b>(&self, src: &'b str) -> Document<'b> {
        let mut doc = Document::parse_frontmatter(src);
        let (old, new) = (self.src.as_bytes(), src.as_bytes());
        let prefix = common_prefix(old, new);
        let suffix = common_suffix(&old[prefix..], &new[prefix..]);
        let shift = |at: usize| (at + new.len()) - old.len();
        let shift_range = |r: &Range<usize>| shift(r.start)..shift(r.end);
        let shift_heading = |h: &Heading| Heading {
            level: h.level,
            text: shift_range(&h.text),
            line: shift_range(&h.line),
        };
        let shift_unclosed = |u: &Unclosed| Unclosed {
            offset: shift(u.offset),
            line_start: shift(u.line_start),
            closer: u.closer.clone(),
        };
        if !self.scanned {
            doc.scan_body(doc.body_start, None);
            return doc;
        }
        // Only the frontmatter changed: the body is the same bytes, moved.
        if old.len() - suffix <= self.body_start
            && doc.body_start + old.len() == self.body_start + new.len()
        {
            doc.headings = self.headings.iter().map(shift_heading).collect();
            doc.lists = self.lists.clone();
            doc.unclosed = self.unclosed.as_ref().map(shift_unclosed);
            doc.sections = sections_of(src, &doc.headings);
            doc.scanned = true;
            return doc;
        }
        if prefix < self.body_start || doc.body_start != self.body_start {
            doc.scan_body(doc.body_start, None);
            return doc;
        }
        // The line holding the first difference is the first one that may scan differently.
        let changed = memchr::memrchr(b'\n', &old[self.body_start..prefix])
            .map_or(self.body_start, |i| self.body_start + i + 1);
        let kept = self.headings.partition_point(|h| h.line.end <= changed);
        let (from, resume) = match kept.checked_sub(1) {
            Some(i) => (self.headings[i].line.end, Some(self.lists[i])),
            None => (self.body_start, None),
        };
        doc.headings = self.headings[..kept].to_vec();
        doc.lists = self.lists[..kept].to_vec();
        // Bytes from here on are the old text's from `tail - (new.len() - old.len())` on.
        let tail = new.len() - suffix;
        let same = |h: &Heading, list: Option<usize>| -> Option<usize> {
            if h.line.start < tail {
                return None;
            }
            let at = h.line.start + old.len() - new.len();
            let j = self.headings.partition_point(|o| o.line.start < at);
            (j >= kept
                && self.headings.get(j).is_some_and(|o| o.line.start == at)
                && self.lists[j] == list)
                .then_some(j)
        };
        let mut met = None;
        let scanned = blocks::scan(
            src,
            from,
            resume,
            &mut doc.headings,
            &mut doc.lists,
            |h, list| {
                met = same(h, list);
                met.is_some()
            },
        );
        match (scanned, met) {
            (blocks::Scanned::Converged, Some(j)) => {
                doc.headings
                    .extend(self.headings[j..].iter().map(shift_heading));
                doc.lists.extend_from_slice(&self.lists[j..]);
                // Nothing is open right after a heading line: a block open at the end was
                // opened after it.
                doc.unclosed = self.unclosed.as_ref().map(shift_unclosed);
            }
            (blocks::Scanned::End { open, .. }, _) => doc.unclosed = open,
            (blocks::Scanned::Converged, None) => {
                (doc.headings, doc.lists) = (Vec::new(), Vec::new());
                doc.scan_body(doc.body_start, None);
            }
        }
        doc.sections = sections_of(src, &doc.headings);
        doc.scanned = true;
        doc
    }

    /// The same parse over `src`, which must be the text it was parsed from (or a copy of it):
    /// lets a parse outlive the borrow of the text while the text moves. `rebind("")` holds a
    /// parse that is to be rebound before use.
    pub fn rebind<'b>(self, src: &'b str) -> Document<'b> {
        debug_assert!(src.is_empty() || self.src.is_empty() || src == self.src);
        Document {
            src,
            bom: self.bom,
            line_ending: self.line_ending,
            frontmatter: self.frontmatter,
            body_start: self.body_start,
            headings: self.headings,
            sections: self.sections,
            unclosed: self.unclosed,
            lists: self.lists,
            scanned: self.scanned,
            markers: self.markers,
        }
    }

    /// Only the BOM, line ending and frontmatter: enough for listings, which never look at
    /// the body (`headings`, `sections` and `unclosed` are left empty).
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
            unclosed: None,
            lists: Vec::new(),
            scanned: false,
            markers: None,
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

    /// Whether some line may start with a Git conflict marker (`<<<<<<<` or `>>>>>>>`):
    /// false only when none does. After a [`Document::parse`] only the frontmatter is
    /// searched for one; the body's scan noted them.
    pub fn may_hold_conflict_markers(&self) -> bool {
        // The lines before the body, or all of them when no scan noted the body's.
        let end = match self.markers {
            Some(true) => return true,
            Some(false) => self.body_start,
            None => self.src.len(),
        };
        lines(self.src, 0)
            .take_while(|&(s, _, _)| s < end)
            .any(|(s, e, _)| blocks::conflict_marker_like(&self.src.as_bytes()[s..e]))
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

/// The first `\n` in `hay`. Lines are tens of bytes long: the SSE2 searcher, called
/// directly, costs less per call than `memchr`'s dispatch to its widest one.
#[inline]
fn find_newline(hay: &[u8]) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(b'\n') {
        return one.find(hay);
    }
    memchr(b'\n', hay)
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
        let (end, next) = match find_newline(&bytes[pos..]) {
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

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 4096;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[i..i + CHUNK] == b[i..i + CHUNK] {
        i += CHUNK;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// How many trailing bytes `a` and `b` share.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 4096;
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = 0;
    while i + CHUNK <= n && a[n - i - CHUNK..n - i] == b[n - i - CHUNK..n - i] {
        i += CHUNK;
    }
    i + a[..n - i]
        .iter()
        .rev()
        .zip(b[..n - i].iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
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
mod tests;
