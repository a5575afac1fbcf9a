//! Property tests for the document scanner and the YAML quoting it relies on:
//! the parser never panics, sections never split a fenced code block, the `##` headings it
//! finds are the ones CommonMark (pulldown-cmark) finds, and `yaml::quote` round-trips.

use std::ops::Range;

use proptest::prelude::*;
use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
use sessions::session::document::position;
use sessions::session::{Document, rules, yaml};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// Everything a parsed document promises about its spans, whatever the input.
fn check_spans(src: &str, doc: &Document) {
    assert!(doc.body_start <= src.len());
    let mut last_end = doc.body_start;
    for s in &doc.sections {
        let h = &s.heading;
        assert_eq!(h.level, 2);
        assert!(h.line.start >= last_end, "sections overlap");
        assert!(
            h.line.start <= h.text.start && h.text.end <= h.line.end,
            "heading text outside its line"
        );
        assert_eq!(h.line.end, s.body.start);
        assert!(s.body.start <= s.body.end && s.body.end <= src.len());
        // Every span lies on char boundaries (slicing would panic otherwise).
        let _ = (doc.text(&h.text), doc.text(&s.body));
        last_end = s.body.end;
    }
    for h in &doc.headings {
        assert!((1..=6).contains(&h.level));
        assert!(h.line.start >= doc.body_start && h.line.end <= src.len());
        let _ = doc.text(&h.text);
    }
}

fn parse_and_check(src: &str) {
    let doc = Document::parse(src);
    check_spans(src, &doc);
    for f in rules::check(&doc, Some("20251204-143000-x.md"), chrono::Utc::now()) {
        if let Some(offset) = f.offset {
            let (line, col) = position(src, offset);
            assert!(line >= 1 && col >= 1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (a) Document::parse never panics

const MARKDOWNISH: &[&str] = &[
    "#",
    "## ",
    "`",
    "```",
    "~",
    "~~~",
    "-",
    "---",
    "\n",
    "\r\n",
    "\r",
    " ",
    "   ",
    "\t",
    "<!--",
    "-->",
    "a",
    "Context",
    "Next Steps",
    "ü",
    "日本",
    "\u{feff}",
    ":",
    "session:\n  title: ",
    "[",
    "{",
    "&a ",
    "*a",
    "\"",
    "'",
    "|",
    ">",
    "- [ ] ",
    "...",
];

fn markdownish() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(MARKDOWNISH), 0..200)
        .prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let src = String::from_utf8_lossy(&bytes);
        parse_and_check(&src);
    }

    #[test]
    fn parse_never_panics_on_markdownish_text(src in markdownish()) {
        parse_and_check(&src);
    }

    #[test]
    fn parse_never_panics_on_frontmatter_then_markdownish(fm in markdownish(), body in markdownish()) {
        let src = format!("---\n{fm}\n---\n{body}");
        parse_and_check(&src);
        parse_and_check(&format!("\u{feff}{}", src.replace('\n', "\r\n")));
    }
}

// ---------------------------------------------------------------------------------------------
// Generated Markdown documents made of blocks whose structure we know.

#[derive(Debug, Clone)]
enum Block {
    Paragraph(Vec<String>),
    Heading {
        level: usize,
        indent: usize,
        text: String,
        closing: bool,
    },
    Fence {
        ch: char,
        len: usize,
        indent: usize,
        info: String,
        content: Vec<String>,
        close_extra: usize,
    },
    Comment {
        lines: Vec<String>,
        single: bool,
    },
    List(Vec<String>),
    Table,
    HashTag(String),
}

#[derive(Debug, Clone)]
struct Generated {
    src: String,
    /// (opening line start, closing line start) of every fenced block.
    fences: Vec<(usize, usize)>,
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z]{1,8}",
        Just("ü".to_string()),
        Just("日本".to_string()),
        Just("Context".to_string()),
        Just("C#".to_string()),
        Just("Steps".to_string()),
    ]
}

fn words(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(word(), 1..max).prop_map(|w| w.join(" "))
}

fn block() -> impl Strategy<Value = Block> {
    let paragraph = proptest::collection::vec(
        ("[a-zA-Z]{1,6}", words(6)).prop_map(|(a, b)| format!("{a} {b}")),
        1..4,
    )
    .prop_map(Block::Paragraph);
    let heading = (
        prop_oneof![Just(1usize), Just(2), Just(2), Just(2), Just(3), Just(4)],
        0..4usize,
        words(4),
        any::<bool>(),
    )
        .prop_map(|(level, indent, text, closing)| Block::Heading {
            level,
            indent,
            text,
            closing,
        });
    let fence_line = prop_oneof![
        Just("## fake".to_string()),
        Just("# fake".to_string()),
        Just("## Context".to_string()),
        Just("  ## Next Steps".to_string()),
        Just(String::new()),
        Just("text".to_string()),
        Just("<!--".to_string()),
        Just("-->".to_string()),
        Just("- [ ] not an item".to_string()),
        Just("SHORTER".to_string()),
        Just("OTHER".to_string()),
        Just("WITH_INFO".to_string()),
    ];
    let fence = (
        prop_oneof![Just('`'), Just('~')],
        3..7usize,
        0..2usize,
        "[a-z]{0,6}",
        proptest::collection::vec(fence_line, 0..6),
        0..3usize,
    )
        .prop_map(
            |(ch, len, indent, info, content, close_extra)| Block::Fence {
                ch,
                len,
                indent,
                info,
                content,
                close_extra,
            },
        );
    let comment_line = prop_oneof![
        Just("## hidden".to_string()),
        Just("text".to_string()),
        Just("```".to_string()),
        Just(String::new())
    ];
    let comment = (proptest::collection::vec(comment_line, 0..4), any::<bool>())
        .prop_map(|(lines, single)| Block::Comment { lines, single });
    let item = (
        prop_oneof![
            Just("- [ ] "),
            Just("- [x] "),
            Just("* "),
            Just("1. "),
            Just("- ")
        ],
        words(4),
    )
        .prop_map(|(m, w)| format!("{m}{w}"));
    let list = proptest::collection::vec(item, 1..5).prop_map(Block::List);
    prop_oneof![
        3 => paragraph,
        4 => heading,
        4 => fence,
        2 => comment,
        2 => list,
        1 => Just(Block::Table),
        1 => words(3).prop_map(|w| Block::HashTag(format!("#todo {w}"))),
    ]
}

fn render_block(b: &Block) -> (Vec<String>, Option<(usize, usize)>) {
    match b {
        Block::Paragraph(lines) => (lines.clone(), None),
        Block::Heading {
            level,
            indent,
            text,
            closing,
        } => {
            let hashes = "#".repeat(*level);
            let close = if *closing {
                format!(" {hashes}")
            } else {
                String::new()
            };
            (
                vec![format!("{}{hashes} {text}{close}", " ".repeat(*indent))],
                None,
            )
        }
        Block::Fence {
            ch,
            len,
            indent,
            info,
            content,
            close_extra,
        } => {
            let fence = ch.to_string().repeat(*len);
            let other = if *ch == '`' { "~~~~~~~~" } else { "``````````" };
            let mut lines = vec![format!("{}{fence}{info}", " ".repeat(*indent))];
            for c in content {
                lines.push(match c.as_str() {
                    "SHORTER" => ch.to_string().repeat(len - 1),
                    "OTHER" => other.to_string(),
                    "WITH_INFO" => format!("{fence} not closing"),
                    s => s.to_string(),
                });
            }
            let last = lines.len();
            lines.push(format!(
                "{}{}",
                " ".repeat(*indent),
                ch.to_string().repeat(len + close_extra)
            ));
            (lines, Some((0, last)))
        }
        Block::Comment { lines, single } => {
            if *single {
                (vec![format!("<!-- {} -->", lines.join(" "))], None)
            } else {
                let mut out = vec!["<!-- note".to_string()];
                out.extend(lines.iter().cloned());
                out.push("-->".to_string());
                (out, None)
            }
        }
        Block::List(items) => (items.clone(), None),
        Block::Table => (
            vec!["| a | b |".into(), "|---|---|".into(), "| 1 | 2 |".into()],
            None,
        ),
        Block::HashTag(s) => (vec![s.clone()], None),
    }
}

/// Joins blocks with blank lines (sometimes none), some blocks with CRLF line endings.
fn document() -> impl Strategy<Value = Generated> {
    proptest::collection::vec(
        (
            block(),
            any::<bool>(),
            prop_oneof![3 => Just(true), 1 => Just(false)],
        ),
        0..14,
    )
    .prop_map(|blocks| {
        let mut src = String::new();
        let mut fences = Vec::new();
        for (b, crlf, blank) in blocks {
            let eol = if crlf { "\r\n" } else { "\n" };
            let (lines, fence) = render_block(&b);
            let mut starts = Vec::new();
            for l in &lines {
                starts.push(src.len());
                src.push_str(l);
                src.push_str(eol);
            }
            if let Some((open, close)) = fence {
                fences.push((starts[open], starts[close]));
            }
            // A paragraph directly followed by more text would merge with it or become a
            // setext heading; keep the blank line after paragraphs and tables.
            let needs_blank = matches!(
                b,
                Block::Paragraph(_) | Block::Table | Block::HashTag(_) | Block::List(_)
            );
            if blank || needs_blank {
                src.push_str(eol);
            }
        }
        Generated { src, fences }
    })
}

fn section_of(doc: &Document, offset: usize) -> Option<usize> {
    doc.sections.iter().position(|s| s.body.contains(&offset))
}

fn line_of(src: &str, offset: usize) -> usize {
    position(src, offset).0
}

/// Level-2 ATX headings pulldown-cmark finds: (line, text).
fn pulldown_h2(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (event, range) in Parser::new(src).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => {
                let line_start = src[..range.start].rfind('\n').map_or(0, |i| i + 1);
                let line = &src[line_start..];
                let spaces = line.bytes().take_while(|&b| b == b' ').count();
                if spaces <= 3 && line[spaces..].starts_with('#') {
                    current = Some((line_of(src, range.start), String::new()));
                }
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                if let Some((line, text)) = current.take() {
                    out.push((line, text.trim().to_string()));
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, text)) = current.as_mut() {
                    text.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

fn ours_h2(src: &str) -> Vec<(usize, String)> {
    let doc = Document::parse(src);
    doc.sections
        .iter()
        .map(|s| {
            (
                line_of(src, s.heading.line.start),
                doc.text(&s.heading.text).to_string(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    // (b)
    #[test]
    fn sections_never_split_a_fenced_code_block(g in document()) {
        let doc = Document::parse(&g.src);
        check_spans(&g.src, &doc);
        for &(open, close) in &g.fences {
            prop_assert_eq!(section_of(&doc, open), section_of(&doc, close), "fence at {}..{} in {:?}", open, close, g.src);
            let inside: Range<usize> = open..close + 1;
            for h in &doc.headings {
                prop_assert!(!inside.contains(&h.line.start), "heading {:?} inside a fence in {:?}", doc.text(&h.text), g.src);
            }
        }
    }

    // (c)
    #[test]
    fn level_two_headings_match_pulldown_cmark(g in document()) {
        prop_assert_eq!(ours_h2(&g.src), pulldown_h2(&g.src), "in {:?}", g.src);
    }

    // (d)
    #[test]
    fn yaml_quote_round_trips_arbitrary_strings(s in any::<String>()) {
        assert_quote_round_trips(&s);
    }

    #[test]
    fn yaml_quote_round_trips_yaml_hostile_strings(s in proptest::collection::vec(prop_oneof![
        Just(":"), Just(": "), Just("#"), Just(" #"), Just("-"), Just("- "), Just("\""), Just("'"),
        Just("\\"), Just("\n"), Just("\r\n"), Just("\t"), Just(" "), Just("&a"), Just("*a"), Just("!tag"),
        Just("|"), Just(">"), Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just("%"), Just("@"),
        Just("`"), Just("---"), Just("..."), Just("null"), Just("~"), Just("true"), Just("0x1F"),
        Just("\u{0}"), Just("\u{7f}"), Just("\u{85}"), Just("\u{a0}"), Just("\u{feff}"), Just("\u{2028}"),
        Just("\u{fffe}"), Just("\u{ffff}"), Just("\u{1f600}"), Just("ü"), Just("日本"),
    ], 0..20)) {
        assert_quote_round_trips(&s.concat());
    }
}

fn assert_quote_round_trips(s: &str) {
    let quoted = yaml::quote(s);
    let text = format!("k: {quoted}\n");
    let root = yaml::parse(&text, 0)
        .unwrap_or_else(|e| panic!("quote({s:?}) = {quoted} does not parse: {e:?}"))
        .expect("a document");
    let node = root.get("k").expect("key k");
    assert_eq!(node.as_str(), Some(s), "quote({s:?}) = {quoted}");
    assert!(!node.is_null());
    assert_eq!(
        &text[node.span.clone()],
        quoted,
        "the value's span is exactly the quoted text"
    );
}

// ---------------------------------------------------------------------------------------------
// Fixed cases the properties are about, kept as plain tests so a regression names itself.

#[test]
fn yaml_quote_round_trips_noncharacters() {
    for s in ["\u{fffe}", "\u{ffff}", "a\u{fffe}b", "\u{1fffe}"] {
        assert_quote_round_trips(s);
    }
}

#[test]
fn fenced_headings_do_not_start_sections() {
    let src = "## A\n````md\n## fake\n```\n## still fake\n````\n## B\n~~~\n## fake\n~~~~\n## C\n";
    assert_eq!(
        ours_h2(src),
        vec![(1, "A".into()), (7, "B".into()), (11, "C".into())]
    );
    assert_eq!(ours_h2(src), pulldown_h2(src));
}

#[test]
fn closing_hashes_and_indent_follow_commonmark() {
    let src = "## A ##\n   ## B\n    ## code\n##C\n## C# notes\n## D #\n##\n";
    assert_eq!(ours_h2(src), pulldown_h2(src));
}

/// HTML blocks other than comments (`<pre>`, `<div>`, `<details>`, `<?…?>`, `<!DOCTYPE …>`) hide
/// the lines up to their end condition from block parsing, so a `## …` line inside them is not
/// a heading in CommonMark.
#[test]
fn headings_inside_html_blocks_do_not_count() {
    for src in [
        "<pre>\n## fake\n</pre>\n",
        "<details>\n<summary>Old log</summary>\n## fake\n</details>\n",
        "<div>\n## fake\n</div>\n",
        "<?php\n## fake\n?>\n",
        "<!DOCTYPE html\n## fake\n>\n",
    ] {
        assert_eq!(ours_h2(src), pulldown_h2(src), "in {src:?}");
        assert_eq!(ours_h2(src), vec![], "in {src:?}");
    }
}

/// `<!-->` is a complete (empty) HTML comment in CommonMark: the line after it is not hidden.
#[test]
fn empty_html_comment_does_not_hide_following_headings() {
    let src = "<!-->\n## Context\n## Next Steps\n";
    assert_eq!(ours_h2(src), pulldown_h2(src));
    assert_eq!(ours_h2(src).len(), 2);
}

/// A fence opened inside a list item ends with the item: an unindented `## …` line after it is
/// a real heading, and the later indented fence line opens a new code block.
#[test]
fn fence_inside_list_item_ends_with_the_item() {
    let src = "- item\n  ```\n## Real\n  ```\n## After\n";
    assert_eq!(ours_h2(src), pulldown_h2(src));
}

// ---------------------------------------------------------------------------------------------
// (e) `Document::reparse` (the edit engine's rescan of only what an edit changed) agrees with
// a full `Document::parse` of the edited text.

/// Everything a parse finds in the body, in comparable form: where it starts, the headings
/// (level, text, line), the sections (heading line, body) and the block left open.
type Body = (
    usize,
    Vec<(u8, Range<usize>, Range<usize>)>,
    Vec<(Range<usize>, Range<usize>)>,
    String,
);

fn body_of(doc: &Document) -> Body {
    (
        doc.body_start,
        doc.headings
            .iter()
            .map(|h| (h.level, h.text.clone(), h.line.clone()))
            .collect(),
        doc.sections
            .iter()
            .map(|s| (s.heading.line.clone(), s.body.clone()))
            .collect(),
        format!("{:?}", doc.unclosed),
    )
}

/// Text inserted by an edit: Markdown-ish tokens and the lines that change the block state
/// of what follows (fences, also inside list items, HTML blocks, headings in list items).
fn inserted() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(MARKDOWNISH).prop_map(str::to_string),
        1 => proptest::sample::select(&[
            "\n```\n", "\n~~~~\n", "\n- item\n  ```\n", "\n  ```\n", "\n<div>\n", "\n<!-- x\n",
            "\n-->\n", "\n## Current State\n", "\n  ## in a list\n", "\n1. one\n", "\n\n",
            "\n<pre>\n", "\n</pre>\n", "\n    ## indented\n", "\n### sub\n",
        ][..]).prop_map(str::to_string),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

fn floor_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `src` with `src[a..b]` (positions as fractions of its length) replaced by `with`.
fn spliced(src: &str, a: f64, b: f64, with: &str) -> String {
    let (a, b) = (a.min(b), a.max(b));
    let (a, b) = (
        floor_boundary(src, (a * src.len() as f64) as usize),
        floor_boundary(src, (b * src.len() as f64) as usize),
    );
    format!("{}{with}{}", &src[..a], &src[b..])
}

fn assert_reparse_agrees(before: &str, after: &str) {
    let old = Document::parse(before);
    let again = old.reparse(after);
    assert_eq!(
        body_of(&again),
        body_of(&Document::parse(after)),
        "{before:?} -> {after:?}"
    );
    // And again from the reparsed document (the edit engine chains them).
    let back = again.reparse(before);
    assert_eq!(body_of(&back), body_of(&old), "{after:?} -> {before:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn reparse_agrees_with_parse_on_markdownish_edits(
        fm in any::<bool>(),
        body in markdownish(),
        with in inserted(),
        a in 0.0..1.0f64,
        b in 0.0..1.0f64,
    ) {
        let src = if fm { format!("---\nsession:\n  title: x\n---\n{body}") } else { body };
        assert_reparse_agrees(&src, &spliced(&src, a, b, &with));
    }

    #[test]
    fn reparse_agrees_with_parse_on_edits_of_generated_documents(
        g in document(),
        other in document(),
        with in inserted(),
        a in 0.0..1.0f64,
        b in 0.0..1.0f64,
        whole in any::<bool>(),
    ) {
        let src = format!("---\nsession:\n  title: x\n---\n{}", g.src);
        let with = if whole { other.src } else { with };
        assert_reparse_agrees(&src, &spliced(&src, a, b, &with));
    }

    #[test]
    fn reparse_agrees_with_parse_on_frontmatter_edits(
        g in document(),
        value in "[a-z\n-]{0,12}",
    ) {
        let src = format!("---\nsession:\n  title: x\n---\n{}", g.src);
        let after = src.replacen("title: x", &format!("title: {value}"), 1);
        assert_reparse_agrees(&src, &after);
    }
}
