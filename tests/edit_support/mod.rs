//! Shared helpers for the edit-engine tests (`edit_props`, `edit_cli`, `concurrency`):
//! a generator of tricky-but-valid session files, structural comparisons of two texts, and a
//! temporary repository that drives the `sessions` binary.
//!
//! Named `edit_support` (not `common`) so it does not clash with other test helpers.
#![allow(dead_code)]

#[path = "../outside/mod.rs"]
mod outside;
#[allow(unused_imports)]
pub use outside::{Sealed, shared_corpus, skip_note};

use std::collections::BTreeSet;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use sessions::session::Document;
use sessions::session::document::FrontmatterState;
use sessions::session::rules::{self, Severity};

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

/// Characters that stress YAML quoting and Markdown structure, plus letters and any char.
pub fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec![
            ':', '#', '-', '"', '\'', '\\', ' ', ' ', '\n', '\t', '{', '}', '[', ']', ',', '&',
            '*', '!', '|', '>', '%', '@', '`', '?', 'é', 'ü', '中', '🚀', '\u{a0}', '\u{2028}',
            '\u{85}', '\u{feff}', '\r', '\0',
        ]),
        5 => prop::char::range('a', 'z'),
        1 => any::<char>(),
    ]
}

/// An arbitrary frontmatter value: random tricky characters or a known-nasty literal.
pub fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(tricky_char(), 0..24).prop_map(String::from_iter),
        1 => prop::sample::select(vec![
            "Task: with colon", "- leading dash", "-dash", "# hash", "a #b", "x: y", "'single'",
            "\"double\"", "it's", "multi\nline", "true", "null", "Null", "~", "123", "1.5",
            "0x1F", "", " padded ", "---", "...", "key: value # c", "@at", "`tick`", "*star",
            "&anchor", "!tag", "|", ">", "%", "plain words", "a:b", "trailing:", "tab\there",
            "back\\slash", "ünïcödé 中文 🚀", "line\r\nbreak", "[x]", "{a: 1}",
        ])
        .prop_map(String::from),
    ]
}

/// A value that is not blank (for required keys and agent entries).
pub fn nonblank_string() -> impl Strategy<Value = String> {
    tricky_string().prop_filter("not blank", |s| !s.trim().is_empty())
}

/// Whether `line` would be a level-1/2 ATX heading, a fence opener or an HTML-block opener
/// (text we generate avoids them except where it adds balanced fences and comments on
/// purpose). Any line starting with `<` may open a CommonMark HTML block (`<?`, `<div>`,
/// `<!X`…) that hides the headings after it, so all of them count.
pub fn structural_line(line: &str) -> bool {
    let spaces = line.bytes().take_while(|&b| b == b' ').count();
    if spaces > 3 {
        return false;
    }
    let t = &line[spaces..];
    let hashes = t.bytes().take_while(|&b| b == b'#').count();
    if (1..=2).contains(&hashes) && matches!(t.as_bytes().get(hashes), None | Some(b' ' | b'\t')) {
        return true;
    }
    t.starts_with("```") || t.starts_with("~~~") || t.starts_with('<')
}

/// Like [`tricky_char`] but never a line break.
pub fn line_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec![
            ':', '#', '-', '"', '\'', '\\', ' ', ' ', '\t', '{', '}', '[', ']', ',', '&', '*',
            '!', '|', '>', '%', '@', '`', '?', '<', 'é', 'ü', '中', '🚀', '\u{a0}', '\u{2028}',
            '\u{85}', '\u{feff}', '\u{3000}', '\0',
        ]),
        5 => prop::char::range('a', 'z'),
        1 => any::<char>().prop_filter("no line breaks", |c| *c != '\n' && *c != '\r'),
    ]
}

fn text_line() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(line_char(), 0..30)
        .prop_map(String::from_iter)
        .prop_filter("no level-1/2 heading, fence or comment", |l| !structural_line(l)),
        1 => prop::sample::select(vec![
            "### a sub heading",
            "#### deeper: with colon",
            "- [ ] new todo",
            "- [x] done todo",
            "* bullet",
            "1. numbered",
            "    ## indented code, not a heading",
            "#hashtag",
            "####### seven hashes is text",
            "---",
            "> ## quoted heading? no: blockquote",
            "",
            "   ",
            "ünïcödé 中文 🚀",
            "a line with trailing spaces   ",
        ])
        .prop_map(String::from),
    ]
}

/// Section/log text free of level-1/2 headings: lines, sometimes a balanced fence holding
/// `## fake`, joined with LF or CRLF.
pub fn section_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(text_line(), 0..8),
        prop::option::of(0usize..8),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut lines, fence_at, crlf, tilde)| {
            if let Some(at) = fence_at {
                let fence = if tilde {
                    "~~~\n## fake in a tilde fence\n# fake h1\n~~~"
                } else {
                    "```md\n## fake\n- [ ] fenced item\n```"
                };
                lines.insert(at.min(lines.len()), fence.to_string());
            }
            let joined = lines.join("\n");
            if crlf {
                joined.replace('\n', "\r\n")
            } else {
                joined
            }
        })
}

// ---------------------------------------------------------------------------------------------
// Generated session files
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    Plain,
    Single,
    Double,
}

/// Writes `s` in the requested YAML style, falling back to double quotes when the style cannot
/// hold it (an independent implementation from the crate's `quote`).
pub fn yaml_scalar(s: &str, style: Quote) -> String {
    let plain_ok = s.chars().next().is_some_and(|c| c.is_alphabetic())
        && s.chars()
            .all(|c| c.is_alphanumeric() || " _.-/".contains(c))
        && !s.ends_with(' ')
        && !["null", "true", "false", "yes", "no", "on", "off"]
            .contains(&s.to_ascii_lowercase().as_str());
    match style {
        Quote::Plain if plain_ok => s.to_string(),
        Quote::Single if !s.chars().any(|c| c.is_control() || c == '\u{feff}') => {
            format!("'{}'", s.replace('\'', "''"))
        }
        _ => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() || c == '\u{feff}' => {
                        out.push_str(&format!("\\u{:04x}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

fn quote_style() -> impl Strategy<Value = Quote> {
    prop::sample::select(vec![Quote::Plain, Quote::Single, Quote::Double])
}

/// A human-ish value for original files.
fn original_value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[A-Za-zéü中][A-Za-z0-9éü中_.]{0,8}( [A-Za-z0-9éü中_.-]{1,8}){0,3}",
        1 => prop::sample::select(vec![
            "Weather: API fallback", "it's \"quoted\"", "- leading dash", "ünïcödé 中文 🚀",
            "a # not a comment", "Fix #12", "[bracketed]", "50% done",
        ])
        .prop_map(String::from),
    ]
    .prop_filter("not null-like", |s| {
        !["null", "~"].contains(&s.to_ascii_lowercase().as_str())
    })
}

fn comment_body() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 :é中\"'#-]{0,14}"
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueShape {
    Missing,
    Empty,
    EmptyWithComment,
    Tilde,
    Null,
    Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentsShape {
    Missing,
    Null,
    FlowEmpty,
    /// A block list with this many entries; `compact` puts `-` at the key's indentation.
    Block {
        n: usize,
        compact: bool,
    },
}

/// The knobs of one generated file (kept for shrinking output and for tests that need them).
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub crlf: bool,
    pub bom: bool,
    pub final_newline: bool,
    pub indent: usize,
    pub orchestration_first: bool,
    pub title: (String, Quote, Option<String>),
    pub task: (String, Quote, Option<String>),
    pub status: (&'static str, Quote, Option<String>),
    pub updated: (Quote, Option<String>),
    pub issue: IssueShape,
    pub agents: AgentsShape,
    pub top_comments: Vec<String>,
    pub inner_comments: Vec<String>,
    pub unknown_in_session: Vec<usize>,
    pub unknown_top: bool,
    pub key_order: Vec<usize>,
    pub lead_blanks: usize,
    pub sections: Vec<SectionSpec>,
}

#[derive(Debug, Clone)]
pub struct SectionSpec {
    pub name: &'static str,
    pub blanks_after_heading: usize,
    pub pieces: Vec<Piece>,
    pub blanks_after: usize,
}

#[derive(Debug, Clone)]
pub enum Piece {
    Text(String),
    Item {
        checked: bool,
        star: bool,
        words: String,
    },
    Fence,
    Comment,
    MultiComment,
    Sub(String),
    LogEntry(String),
}

/// A generated file: its text and what the tests need to know about it.
#[derive(Debug, Clone)]
pub struct Generated {
    pub text: String,
    /// Every YAML comment written, from `#` to the end of its line.
    pub comments: Vec<String>,
    /// Real (not fenced) checklist items: (text after the box, checked).
    pub items: Vec<(String, bool)>,
    pub spec: FileSpec,
}

const UNKNOWN_SESSION_KEYS: [&str; 5] = [
    "priority: 3",
    "custom_list: [a, b, \"c: d\"]",
    "notes: |\n{i}multi-line block scalar\n{i}  with ## not a heading",
    "\"quoted key\": 'x'",
    "tags: {area: api, size: S}",
];

fn section_names() -> impl Strategy<Value = Vec<&'static str>> {
    (
        prop::collection::vec(any::<bool>(), 8),
        0usize..8,
        any::<bool>(),
    )
        .prop_map(|(keep, custom_at, custom)| {
            let all = [
                "Context",
                "Current State",
                "Next Steps",
                "Execution Progress",
                "Technical Context",
                "Decisions",
                "Blockers",
                "Session Log",
            ];
            // Required sections are present 7 times in 8 (so insertion is exercised too).
            let mut names: Vec<&'static str> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| if *i < 3 { true } else { keep[*i] })
                .map(|(_, n)| *n)
                .collect();
            if !keep[0] && !keep[1] && !keep[2] {
                names.retain(|n| *n != "Current State");
            }
            if custom {
                names.insert(custom_at.min(names.len()), "Notes ünï");
            }
            names
        })
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => section_text().prop_map(|t| Piece::Text(t.replace("\r\n", "\n"))),
        3 => (any::<bool>(), any::<bool>(), "[a-z]{1,6}( [a-zé中:#]{1,6}){0,2}")
            .prop_map(|(checked, star, words)| Piece::Item { checked, star, words }),
        1 => Just(Piece::Fence),
        1 => Just(Piece::Comment),
        1 => Just(Piece::MultiComment),
        1 => "[A-Za-z ]{1,12}".prop_map(Piece::Sub),
        1 => "[a-z ]{1,20}".prop_map(Piece::LogEntry),
    ]
}

fn sections() -> impl Strategy<Value = Vec<SectionSpec>> {
    section_names().prop_flat_map(|names| {
        let n = names.len();
        (
            Just(names),
            prop::collection::vec(
                (0usize..3, prop::collection::vec(piece(), 0..4), 0usize..3),
                n,
            ),
        )
            .prop_map(|(names, bodies)| {
                names
                    .into_iter()
                    .zip(bodies)
                    .map(|(name, (a, pieces, b))| SectionSpec {
                        name,
                        blanks_after_heading: a,
                        pieces,
                        blanks_after: b,
                    })
                    .collect()
            })
    })
}

fn issue_shape() -> impl Strategy<Value = IssueShape> {
    prop::sample::select(vec![
        IssueShape::Missing,
        IssueShape::Empty,
        IssueShape::EmptyWithComment,
        IssueShape::Tilde,
        IssueShape::Null,
        IssueShape::Value,
    ])
}

fn agents_shape() -> impl Strategy<Value = AgentsShape> {
    prop_oneof![
        Just(AgentsShape::Missing),
        Just(AgentsShape::Null),
        Just(AgentsShape::FlowEmpty),
        (1usize..3, any::<bool>()).prop_map(|(n, compact)| AgentsShape::Block { n, compact }),
    ]
}

fn titled() -> impl Strategy<Value = (String, Quote, Option<String>)> {
    (
        original_value(),
        quote_style(),
        prop::option::of(comment_body()),
    )
}

/// A session file with comments, odd quoting, unknown keys, extra sections, fences holding
/// `## fake`, unicode, blank-line variations, LF or CRLF and sometimes a BOM. It is valid
/// apart from (sometimes) a missing required section.
pub fn session_file() -> impl Strategy<Value = Generated> {
    let frontmatter = (
        titled(),
        titled(),
        (
            prop::sample::select(vec!["in_progress", "paused", "completed"]),
            quote_style(),
            prop::option::of(comment_body()),
        ),
        (quote_style(), prop::option::of(comment_body())),
        issue_shape(),
        agents_shape(),
        prop::collection::vec(comment_body(), 0..3),
        prop::collection::vec(comment_body(), 0..3),
        prop::sample::subsequence(vec![0usize, 1, 2, 3, 4], 0..=3),
        any::<bool>(),
        Just((0usize..7).collect::<Vec<_>>()).prop_shuffle(),
    );
    let layout = (
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.85),
        prop::sample::select(vec![2usize, 2, 4]),
        prop::bool::weighted(0.2),
        0usize..3,
        sections(),
    );
    (frontmatter, layout).prop_map(
        |(
            (title, task, status, updated, issue, agents, top, inner, unknown, utop, order),
            (crlf, bom, final_newline, indent, ofirst, lead, sections),
        )| {
            let spec = FileSpec {
                crlf,
                bom,
                final_newline,
                indent,
                orchestration_first: ofirst,
                title,
                task,
                status,
                updated,
                issue,
                agents,
                top_comments: top,
                inner_comments: inner,
                unknown_in_session: unknown,
                unknown_top: utop,
                key_order: order,
                lead_blanks: lead,
                sections,
            };
            render(spec)
        },
    )
}

/// Renders a [`FileSpec`] into text (LF, then converted to CRLF when asked).
pub fn render(spec: FileSpec) -> Generated {
    let mut comments = Vec::new();
    let mut comment = |body: &str| {
        let c = format!("# c{}: {}", comments.len(), body.trim_end());
        comments.push(c.clone());
        c
    };
    let i1 = " ".repeat(spec.indent);
    let i2 = " ".repeat(spec.indent * 2);
    let trail = |c: &Option<String>, comment: &mut dyn FnMut(&str) -> String| match c {
        Some(b) => format!("   {}", comment(b)),
        None => String::new(),
    };

    // The `session:` block, keys in a shuffled order.
    let mut inner = spec.inner_comments.iter();
    let mut session_lines: Vec<String> = Vec::new();
    for &k in &spec.key_order {
        let line = match k {
            0 => format!(
                "{i1}title: {}{}",
                yaml_scalar(&spec.title.0, spec.title.1),
                trail(&spec.title.2, &mut comment)
            ),
            1 => format!(
                "{i1}status: {}{}",
                yaml_scalar(spec.status.0, spec.status.1),
                trail(&spec.status.2, &mut comment)
            ),
            2 => format!("{i1}created: \"2025-12-04T14:30:00Z\""),
            3 => format!(
                "{i1}last_updated: {}{}",
                match spec.updated.0 {
                    Quote::Plain => "2025-12-04T15:10:00Z".to_string(),
                    q => yaml_scalar("2025-12-04T15:10:00Z", q),
                },
                trail(&spec.updated.1, &mut comment)
            ),
            4 => match spec.issue {
                IssueShape::Missing => continue,
                IssueShape::Empty => format!("{i1}linear_issue:"),
                IssueShape::EmptyWithComment => {
                    format!("{i1}linear_issue:   {}", comment("none yet"))
                }
                IssueShape::Tilde => format!("{i1}linear_issue: ~"),
                IssueShape::Null => format!("{i1}linear_issue: null"),
                IssueShape::Value => format!("{i1}linear_issue: \"BACK-123\""),
            },
            5 => {
                let mut s = String::new();
                for (n, &u) in spec.unknown_in_session.iter().enumerate() {
                    if n > 0 {
                        s.push('\n');
                    }
                    s.push_str(&format!(
                        "{i1}{}",
                        UNKNOWN_SESSION_KEYS[u].replace("{i}", &i2)
                    ));
                }
                if s.is_empty() {
                    continue;
                }
                s
            }
            _ => match inner.next() {
                Some(b) => format!("{i1}{}", comment(b)),
                None => continue,
            },
        };
        session_lines.push(line);
    }
    let session = format!("session:\n{}\n", session_lines.join("\n"));

    let mut orch = format!(
        "orchestration:\n{i1}current_task: {}{}\n",
        yaml_scalar(&spec.task.0, spec.task.1),
        trail(&spec.task.2, &mut comment)
    );
    match spec.agents {
        AgentsShape::Missing => {}
        AgentsShape::Null => orch.push_str(&format!("{i1}spawned_agents:\n")),
        AgentsShape::FlowEmpty => {
            orch.push_str(&format!("{i1}spawned_agents: []   {}\n", comment("none")))
        }
        AgentsShape::Block { n, compact } => {
            orch.push_str(&format!("{i1}spawned_agents:\n"));
            let dash = if compact { i1.clone() } else { i2.clone() };
            for a in 0..n {
                if a > 0 {
                    orch.push_str(&format!("{dash}{}\n", comment("between agents")));
                }
                orch.push_str(&format!(
                    "{dash}- agent: backend-dev-{a}\n{dash}  task: \"Add provider: {a}\"   {}\n{dash}  status: completed\n",
                    comment("agent task")
                ));
            }
        }
    }
    if let Some(b) = inner.next() {
        orch.push_str(&format!("{i1}{}\n", comment(b)));
    }

    let mut fm = String::from("---\n");
    for c in &spec.top_comments {
        fm.push_str(&comment(c));
        fm.push('\n');
    }
    if spec.orchestration_first {
        fm.push_str(&orch);
        fm.push_str(&session);
    } else {
        fm.push_str(&session);
        fm.push_str(&orch);
    }
    if spec.unknown_top {
        fm.push_str(&format!(
            "x-extra:   {}\n  - one\n  - 'two: 2'\nversion: 1.0\n",
            comment("unknown top-level key")
        ));
    }
    fm.push_str("---\n");

    let mut body = "\n".repeat(spec.lead_blanks);
    body.push_str(&format!(
        "# Session: {}\n\n",
        spec.title.0.replace('\n', " ")
    ));
    let mut items = Vec::new();
    for s in &spec.sections {
        body.push_str(&format!("## {}\n", s.name));
        body.push_str(&"\n".repeat(s.blanks_after_heading));
        for p in &s.pieces {
            match p {
                Piece::Text(t) => {
                    if !t.is_empty() {
                        body.push_str(t);
                        body.push('\n');
                    }
                }
                Piece::Item {
                    checked,
                    star,
                    words,
                } => {
                    let text = format!("item-{} {words}", items.len());
                    body.push_str(&format!(
                        "{} [{}] {text}\n",
                        if *star { "*" } else { "-" },
                        if *checked { "x" } else { " " }
                    ));
                    items.push((text, *checked));
                }
                Piece::Fence => body.push_str(
                    "```markdown\n## fake section in a fence\n- [ ] item-0 fenced twin\n```\n",
                ),
                Piece::Comment => body.push_str("<!-- template placeholder -->\n"),
                Piece::MultiComment => body.push_str("<!--\n## hidden heading\n-->\n"),
                Piece::Sub(t) => body.push_str(&format!("### {}\n", t.trim())),
                Piece::LogEntry(t) => {
                    body.push_str(&format!("### 2025-12-04 15:00 - [bob]\n{}\n", t.trim()))
                }
            }
        }
        body.push_str(&"\n".repeat(s.blanks_after));
    }
    let mut text = fm + &body;
    if !spec.final_newline {
        while text.ends_with('\n') {
            text.pop();
        }
    }
    if spec.crlf {
        text = text.replace('\n', "\r\n");
    }
    if spec.bom {
        text.insert(0, '\u{feff}');
    }
    Generated {
        text,
        comments,
        items,
        spec,
    }
}

// ---------------------------------------------------------------------------------------------
// Checks on texts
// ---------------------------------------------------------------------------------------------

/// Whether the frontmatter is present and parses as a mapping.
pub fn frontmatter_ok(text: &str) -> Result<(), String> {
    let doc = Document::parse(text);
    match &doc.frontmatter {
        FrontmatterState::Present(fm) => match &fm.yaml {
            Ok(Some(n)) if n.is_map() => Ok(()),
            Ok(other) => Err(format!("frontmatter is not a mapping: {other:?}")),
            Err(e) => Err(format!("frontmatter YAML error: {e:?}")),
        },
        other => Err(format!("frontmatter state: {other:?}")),
    }
}

/// Rule ids of the error-severity findings for `text` (no file name; "now" far ahead, so no
/// timestamp is in the future).
pub fn error_rules(text: &str) -> BTreeSet<&'static str> {
    let doc = Document::parse(text);
    let now: DateTime<Utc> = "2100-01-01T00:00:00Z".parse().unwrap();
    rules::check(&doc, None, now)
        .into_iter()
        .filter(|f| f.rule.severity == Severity::Error)
        .map(|f| f.rule.id)
        .collect()
}

/// Lines split on `\n`, each keeping its `\r` (so CRLF damage shows).
pub fn raw_lines(text: &str) -> Vec<&str> {
    text.split('\n').collect()
}

/// Whether `needles` appear in `hay` in order (a subsequence).
pub fn is_subsequence<T: PartialEq>(needles: &[T], hay: &[T]) -> bool {
    let mut it = hay.iter();
    needles.iter().all(|n| it.any(|h| h == n))
}

/// The first needle that cannot be matched in order, for failure messages.
pub fn first_missing<'a>(needles: &[&'a str], hay: &[&str]) -> Option<&'a str> {
    let mut it = hay.iter();
    needles.iter().find(|n| !it.any(|h| h == *n)).copied()
}

/// Line index (0-based) of byte offset `at`.
pub fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count()
}

/// The line range (0-based, inclusive) that the node at `path` spans in `text`.
pub fn value_lines(text: &str, path: &[&str]) -> Option<Range<usize>> {
    let doc = Document::parse(text);
    let node = doc.value(path)?;
    Some(line_of(text, node.span.start)..line_of(text, node.span.end) + 1)
}

/// The line of the key `path` (the key itself, which is on the line the value starts on for
/// the scalars we generate).
pub fn key_line(text: &str, path: &[&str]) -> Option<usize> {
    let doc = Document::parse(text);
    let (parent, key) = path.split_last().map(|(k, p)| (p, k))?;
    let mut node = doc.yaml()?;
    for k in parent {
        node = node.get(k)?;
    }
    let (k, _) = node.entry(key)?;
    Some(line_of(text, k.span.start))
}

/// (name, body) of every `##` section.
pub fn sections_of(text: &str) -> Vec<(String, String)> {
    let doc = Document::parse(text);
    doc.sections
        .iter()
        .map(|s| {
            (
                doc.text(&s.heading.text).to_string(),
                doc.text(&s.body).to_string(),
            )
        })
        .collect()
}

pub fn section_body(text: &str, name: &str) -> Option<String> {
    sections_of(text)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b)
}

/// Text between the frontmatter and the first `##` heading.
pub fn preamble(text: &str) -> String {
    let doc = Document::parse(text);
    let end = doc
        .sections
        .first()
        .map_or(text.len(), |s| s.heading.line.start);
    text[doc.body_start..end].to_string()
}

/// The frontmatter block (delimiters included), or "" when there is none.
pub fn frontmatter_block(text: &str) -> &str {
    let doc = Document::parse(text);
    match &doc.frontmatter {
        FrontmatterState::Present(fm) => &text[fm.block.clone()],
        _ => "",
    }
}

/// Whether `text` keeps the line-ending style of `original`: no lone `\n` in a CRLF file,
/// no `\r\n` in an LF file that had none.
pub fn line_endings_kept(original: &str, text: &str) -> Result<(), String> {
    let crlf = Document::parse(original).line_ending.as_str() == "\r\n";
    if crlf {
        let lone = text
            .match_indices('\n')
            .find(|(i, _)| *i == 0 || text.as_bytes()[i - 1] != b'\r');
        if let Some((i, _)) = lone {
            return Err(format!(
                "lone \\n at byte {i} in a CRLF file: {:?}",
                &text[i.saturating_sub(40)..(i + 10).min(text.len())]
            ));
        }
    } else if !original.contains("\r\n") && text.contains("\r\n") {
        return Err("CRLF appeared in an LF file".into());
    }
    Ok(())
}

/// Converts a text's line endings to those of `like` (what the edit engine does to input).
pub fn normalize_like(text: &str, like: &str) -> String {
    let lf = text.replace("\r\n", "\n");
    if Document::parse(like).line_ending.as_str() == "\r\n" {
        lf.replace('\n', "\r\n")
    } else {
        lf
    }
}

// ---------------------------------------------------------------------------------------------
// A temporary repository for driving the binary
// ---------------------------------------------------------------------------------------------

pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

impl TestRepo {
    /// A temp dir with `.git/` and `sessions init` run in it.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir(dir.path().join(".git")).unwrap();
        let repo = TestRepo { dir };
        repo.cmd().arg("init").assert().success();
        repo
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.root().join(".agents/sessions")
    }

    /// The binary, run in the repository with a fixed actor and no conversation binding.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("sessions").expect("binary");
        c.sealed();
        c.current_dir(self.root())
            .env("USER", "tester")
            .env_remove("SESSIONS_ACTOR")
            .env_remove("SESSIONS_CONVERSATION_ID")
            .env_remove("GEMINI_SESSION_ID")
            .env_remove("SESSIONS_TEST_WRITE_DELAY_MS");
        c
    }

    /// Same as [`TestRepo::cmd`], as a `std::process::Command` (for spawning and killing).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("sessions"));
        c.sealed();
        c.current_dir(self.root())
            .env("USER", "tester")
            .env_remove("SESSIONS_ACTOR")
            .env_remove("SESSIONS_CONVERSATION_ID")
            .env_remove("GEMINI_SESSION_ID")
            .env_remove("SESSIONS_TEST_WRITE_DELAY_MS");
        c
    }

    /// `sessions new DESC`; returns the absolute path of the created file.
    pub fn new_session(&self, desc: &str) -> PathBuf {
        let out = self.cmd().args(["new", desc]).assert().success();
        let rel = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        self.root().join(rel.trim())
    }

    /// Writes `text` as a session file named `name` and returns its path.
    pub fn write_session(&self, name: &str, text: &str) -> PathBuf {
        let p = self.sessions_dir().join(name);
        fs::write(&p, text).unwrap();
        p
    }

    pub fn read(&self, path: &Path) -> String {
        fs::read_to_string(path).unwrap()
    }
}

impl Default for TestRepo {
    fn default() -> Self {
        Self::new()
    }
}

/// A valid session file used by the CLI tests: comments (full-line and trailing), unknown keys,
/// a fence holding `## fake`, a checklist and an extra section.
pub const RICH: &str = "---
# Session for the weather work — ünïcödé
session:
  title: \"Weather API fallback\"   # required, non-empty
  status: in_progress                # in_progress | paused | completed
  created: \"2025-12-04T14:30:00Z\"
  last_updated: \"2025-12-04T15:10:00Z\"  # bumped by tools
  # a full-line comment inside the block
  priority: high
  linear_issue: \"BACK-123\"
orchestration:
  current_task: 'Implement fallback chain'  # plain, single or double
  spawned_agents: []  # none yet
x-unknown:
  nested: [1, 2]
---
# Session: Weather API fallback

## Context

Providers fail; we need a chain.

```md
## fake heading in a fence
```

## Current State

Nothing done.

## Next Steps

- [ ] write the fallback
- [x] design it
- [ ] add tests

## Notes

Keep me byte for byte.
";

pub const RICH_NAME: &str = "20251204-143000-weather-api-fallback.md";

/// `Document::str_value` as an owned string.
pub fn str_at(text: &str, path: &[&str]) -> Option<String> {
    Document::parse(text).str_value(path).map(str::to_owned)
}

/// Whether `text` starts (after blank lines) with an indented line that becomes a level-1/2
/// heading, a fence or an HTML comment once its leading whitespace is trimmed: the trigger of
/// the bug shown by `edit_props::set_section_keeps_indentation_of_first_line`.
pub fn trim_exposes_structure(text: &str) -> bool {
    let first = text
        .trim_start_matches(['\r', '\n'])
        .split('\n')
        .next()
        .unwrap_or("");
    let trimmed = text.trim_start().split('\n').next().unwrap_or("");
    !structural_line(first.trim_end_matches('\r'))
        && structural_line(trimmed.trim_end_matches('\r'))
}

/// Whether the last content line of `body` ends in whitespace (trailing spaces, a tab, NBSP,
/// U+2028, …): the trigger of the bug shown by `edit_props::append_keeps_trailing_spaces_of_last_line`.
pub fn last_line_ends_in_space(body: &str) -> bool {
    content_lines_of(body).last().is_some_and(|l| {
        l.trim_end_matches('\r')
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace)
    })
}

/// The lines of `body` up to its last line with content, each whole (with any `\r`).
pub fn content_lines_of(body: &str) -> Vec<&str> {
    let lines: Vec<&str> = body.split('\n').collect();
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    last.map_or(Vec::new(), |i| lines[..=i].to_vec())
}
