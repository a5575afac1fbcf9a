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
