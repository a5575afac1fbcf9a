//! A YAML tree whose every node knows the exact bytes it came from.
//!
//! We parse with `saphyr-parser`, the maintained successor line of `yaml-rust` (the crate
//! `serde_yaml` itself was archived by its author in 2024). It is a pure-Rust YAML 1.2 event
//! parser that reports a position for every event, has a recursion limit (5,000-deep nesting is
//! an error, not a stack overflow), and never expands aliases (an alias bomb costs nothing).
//! The serde front-ends built on libyaml (`serde_yaml_ng`, `serde_norway`) drop positions, which
//! diagnostics and lossless edits both need.
//!
//! Its markers count characters, not bytes, and a quoted scalar's span runs on over trailing
//! blanks and comments, so this module turns each event into the precise byte range of the value
//! as written (quotes included), which is what an edit replaces.

use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Nesting deeper than this is refused: session frontmatter is two or three levels deep.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Scalar { value: String, style: Style },
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
    Alias,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    /// Byte range of the node in the text given to [`parse`] (after `base` is added).
    pub span: Range<usize>,
    /// Whether the node is written in flow style (`{…}` / `[…]`).
    pub flow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub message: String,
    /// Byte offset (with `base` added).
    pub offset: usize,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn style(&self) -> Option<Style> {
        match &self.kind {
            Kind::Scalar { style, .. } => Some(*style),
            _ => None,
        }
    }

    /// A scalar that YAML reads as null: empty, `~` or `null`, unquoted.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, style: Style::Plain }
            if value.is_empty() || value == "~" || value.eq_ignore_ascii_case("null"))
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map(_))
    }

    /// The key/value pair for `key` in a mapping (the first, when a key repeats).
    pub fn entry(&self, key: &str) -> Option<&(Node, Node)> {
        self.entries().iter().find(|(k, _)| k.as_str() == Some(key))
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Scalar { .. } => "a scalar",
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a list",
            Kind::Alias => "an alias",
        }
    }
}

/// Parses `text` (the frontmatter between its `---` lines) into a node tree. `base` is the byte
/// offset of `text` within the file, added to every span. An empty document yields `Ok(None)`.
pub fn parse(text: &str, base: usize) -> Result<Option<Node>, YamlError> {
    let offsets = CharOffsets::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| YamlError {
            message: e.info().to_string(),
            offset: base + offsets.byte(e.marker().index()),
        })?;
        let start = offsets.byte(span.start.index());
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        message: "more than one YAML document in the frontmatter".into(),
                        offset: base + start,
                    });
                }
                continue;
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                        offset: base + start,
                    });
                }
                let flow = text[start..].starts_with(['{', '[']);
                let is_map = matches!(event, Event::MappingStart(..));
                stack.push(Frame {
                    start,
                    flow,
                    is_map,
                    children: Vec::new(),
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let frame = stack.pop().expect("parser balances start and end events");
                let end = if frame.flow {
                    let after = frame
                        .children
                        .last()
                        .map_or(frame.start + 1, |c| c.span.end - base);
                    flow_close(text, after, if frame.is_map { b'}' } else { b']' })
                } else {
                    frame
                        .children
                        .last()
                        .map_or(frame.start, |c| c.span.end - base)
                };
                let kind = if frame.is_map {
                    let mut entries = Vec::with_capacity(frame.children.len() / 2);
                    let mut it = frame.children.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        entries.push((k, v));
                    }
                    Kind::Map(entries)
                } else {
                    Kind::Seq(frame.children)
                };
                Node {
                    kind,
                    span: base + frame.start..base + end,
                    flow: frame.flow,
                }
            }
            Event::Alias(_) => Node {
                kind: Kind::Alias,
                span: base + start..base + offsets.byte(span.end.index()),
                flow: false,
            },
            Event::Scalar(value, style, ..) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let range = scalar_range(text, &offsets, span, style);
                Node {
                    kind: Kind::Scalar {
                        value: value.into_owned(),
                        style,
                    },
                    span: base + range.start..base + range.end,
                    flow: false,
                }
            }
        };
        match stack.last_mut() {
            Some(frame) => frame.children.push(node),
            None => root = Some(node),
        }
    }
    Ok(root)
}

struct Frame {
    start: usize,
    flow: bool,
    is_map: bool,
    children: Vec<Node>,
}

/// The exact bytes of a scalar as written: quotes included, trailing blanks and comments not,
/// and for block scalars the indicator line through the last content line (without its newline).
fn scalar_range(text: &str, offsets: &CharOffsets, span: Span, style: Style) -> Range<usize> {
    let start = offsets.byte(span.start.index());
    let end = offsets.byte(span.end.index()).max(start);
    match style {
        Style::Plain => start..end,
        Style::SingleQuoted => start..start + single_quoted_len(&text[start..]),
        Style::DoubleQuoted => start..start + double_quoted_len(&text[start..]),
        Style::Literal | Style::Folded => {
            // The reported span starts at the content; the value begins at `|` or `>`.
            let indicator = text[..start].rfind(['|', '>']).unwrap_or(start);
            let body = text[..end].trim_end_matches([' ', '\t', '\r', '\n']);
            indicator..body.len().max(indicator + 1)
        }
    }
}

/// The offset just past the bracket that closes a flow collection, searching from `from` (the
/// end of its last item) over blanks, commas, line breaks and comments.
fn flow_close(text: &str, from: usize, close: u8) -> usize {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b if b == close => return i + 1,
            b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => {
                i = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |n| i + n);
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

fn single_quoted_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn double_quoted_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Maps the parser's character indices to byte offsets.
struct CharOffsets {
    /// Byte offset of every character, or empty when the text is ASCII (index == offset).
    table: Vec<u32>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> Self {
        let table = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(i, _)| i as u32).collect()
        };
        Self {
            table,
            len: text.len(),
        }
    }

    fn byte(&self, index: usize) -> usize {
        if self.table.is_empty() {
            index.min(self.len)
        } else {
            self.table.get(index).map_or(self.len, |&b| b as usize)
        }
    }
}

/// Writes `s` as a YAML double-quoted scalar that reads back as exactly `s`, whatever it holds
/// (colons, `#`, leading `-`, quotes, newlines, control characters).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of<'a>(src: &'a str, node: &Node) -> &'a str {
        &src[node.span.clone()]
    }

    #[test]
    fn quoted_scalar_span_excludes_trailing_comment() {
        let src = "title: \"Weather: API\"   # note\nother: 'it''s'  # c\n";
        let root = parse(src, 0).unwrap().unwrap();
        assert_eq!(text_of(src, root.get("title").unwrap()), "\"Weather: API\"");
        assert_eq!(text_of(src, root.get("other").unwrap()), "'it''s'");
        assert_eq!(root.get("other").unwrap().as_str(), Some("it's"));
    }

    #[test]
    fn unicode_offsets_are_bytes() {
        let src = "ü: \"ü ñ\"\nk: v\n";
        let root = parse(src, 10).unwrap().unwrap();
        let v = root.get("k").unwrap();
        assert_eq!(&src[v.span.start - 10..v.span.end - 10], "v");
    }

    #[test]
    fn block_scalar_span_covers_indicator_and_content() {
        let src = "a: |\n  one\n  two\n\nb: x\n";
        let root = parse(src, 0).unwrap().unwrap();
        assert_eq!(text_of(src, root.get("a").unwrap()), "|\n  one\n  two");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!("a: {}", "[".repeat(5000));
        assert!(parse(&src, 0).is_err());
    }

    #[test]
    fn alias_is_not_expanded() {
        let src = "a: &x [1, 2]\nb: [*x, *x, *x]\n";
        let root = parse(src, 0).unwrap().unwrap();
        assert!(matches!(
            root.get("b").unwrap().items()[0].kind,
            Kind::Alias
        ));
    }

    #[test]
    fn flow_span_excludes_trailing_comment() {
        let src = "a: []  # none ]\nb: {x: [1], y: 2} # c\n";
        let root = parse(src, 0).unwrap().unwrap();
        assert_eq!(text_of(src, root.get("a").unwrap()), "[]");
        assert_eq!(text_of(src, root.get("b").unwrap()), "{x: [1], y: 2}");
    }

    #[test]
    fn block_mapping_span_ends_at_last_value() {
        let src = "s:\n  a: 1\n  b: 2\nt: 3\n";
        let root = parse(src, 0).unwrap().unwrap();
        assert_eq!(text_of(src, root.get("s").unwrap()), "a: 1\n  b: 2");
    }
}
