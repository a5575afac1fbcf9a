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

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

    /// The scan's note of conflict-marker lines never misses one: whenever a line of the file
    /// starts with `<<<<<<<` or `>>>>>>>` (the substring search this replaced found a superset),
    /// the document says it may hold markers, after a parse and after a reparse alike.
    #[test]
    fn the_conflict_marker_note_misses_no_marker_line(
        pieces in proptest::collection::vec(proptest::sample::select(&[
            "\u{feff}", "---\n", "---\r\n", "a: 1\n", "<<<<<<< HEAD\n", "<<<<<<<\n", "=======\n",
            ">>>>>>> b\n", ">>>>>>>", "<<<<<<", "x <<<<<<< y\n", "```\n", "<!--\n", "-->\n",
            "## Context\n", "text\n", "\r\n", "\n", " ",
        ][..]), 0..16),
        edit in proptest::collection::vec(proptest::sample::select(&[
            "<<<<<<< x\n", ">>>>>>>\n", "y\n", "---\n",
        ][..]), 0..3),
    ) {
        let src: String = pieces.concat();
        let any = |s: &str| lines(s, 0).any(|(a, e, _)| blocks::conflict_marker_like(&s.as_bytes()[a..e]));
        let doc = Document::parse(&src);
        proptest::prop_assert!(!any(&src) || doc.may_hold_conflict_markers(), "{:?}", src);
        let edited = format!("{src}{}", edit.concat());
        let re = doc.reparse(&edited);
        proptest::prop_assert!(!any(&edited) || re.may_hold_conflict_markers(), "{:?}", edited);
    }

    /// The end of an HTML block (`-->`, `?>`, `]]>`, `>`) is found exactly where a substring
    /// search finds it.
    #[test]
    fn html_block_ends_are_found_as_by_substring_search(
        hay in "[-?\\]>a ]{0,24}",
        needle in proptest::sample::select(&["-->", "?>", "]]>", ">"][..]),
    ) {
        proptest::prop_assert_eq!(
            blocks::contains_ignore_case(hay.as_bytes(), needle.as_bytes()),
            memchr::memmem::find(hay.as_bytes(), needle.as_bytes()).is_some()
        );
    }
}
