//! The frontmatter-only reader that listings and hooks use (issue 14) agrees with the parse of
//! the whole file: the same BOM, line ending, frontmatter (span and YAML) and body start, for
//! generated files with `---` inside the body, CRLF, a BOM, unclosed frontmatter and huge
//! bodies, whether the head is judged from the whole file or grown a few bytes at a time, and
//! whether it comes from `frontmatter_extent` or `store::read_head` on disk.

use proptest::prelude::*;
use sessions::session::Document;
use sessions::session::document::frontmatter_extent;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// What `parse_frontmatter` says, in a comparable form.
fn facts(src: &str) -> String {
    let d = Document::parse_frontmatter(src);
    format!(
        "{:?} {:?} {:?} {}",
        d.bom, d.line_ending, d.frontmatter, d.body_start
    )
}

const LINES: &[&str] = &[
    "---",
    "--- ",
    "---\t",
    " ---",
    "----",
    "...",
    "... ",
    "session:",
    "  title: \"A --- title\"",
    "  status: in_progress",
    "  last_updated: 2025-12-04T15:10:00Z",
    "orchestration:",
    "  current_task: |",
    "    --- not a delimiter",
    "# Session: x",
    "## Next Steps",
    "```",
    "- [ ] café ☕ 漢字",
    "",
    "key: [oops",
    "\u{feff}",
];

/// A file built from interesting lines, with a chosen line ending and optional BOM, and
/// sometimes a body much larger than one read.
fn file() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(proptest::sample::select(LINES), 0..24),
        any::<bool>(),
        0usize..3,
    )
        .prop_map(|(bom, crlf, open, lines, last_newline, huge)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut s = String::new();
            if bom {
                s.push('\u{feff}');
            }
            if open {
                s.push_str("---");
                s.push_str(eol);
            }
            for (i, l) in lines.iter().enumerate() {
                s.push_str(l);
                if i + 1 < lines.len() || last_newline {
                    s.push_str(eol);
                }
            }
            if huge == 2 {
                let body = format!("## Log{eol}--- in the body{eol}some text ✓{eol}");
                s.push_str(&body.repeat(20_000));
            }
            s
        })
}

fn check(src: &str) {
    let whole = facts(src);
    // Judged on the whole file.
    let n = frontmatter_extent(src.as_bytes(), true).expect("decided at the end of the file");
    assert!(src.is_char_boundary(n), "head splits a character");
    assert_eq!(facts(&src[..n]), whole, "head of {n} bytes");
    // Grown in small steps, as a reader would: the first decision is the same head.
    let bytes = src.as_bytes();
    let mut len = 0;
    let decided = loop {
        let at_eof = len >= bytes.len();
        if let Some(k) = frontmatter_extent(&bytes[..len], at_eof) {
            break k;
        }
        assert!(!at_eof, "undecided at the end of the file");
        // Small steps where frontmatter ends, then doubling (as the reader grows its buffer).
        len = if len < 4096 { len + 7 } else { len * 2 }.min(bytes.len());
    };
    assert_eq!(decided, n, "decided early on a different head");
    // And from disk.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.md");
    std::fs::write(&path, src).unwrap();
    let head = sessions::store::read_head(&path).unwrap();
    assert_eq!(head, &src[..n]);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_head_parses_like_the_whole_file(src in file()) {
        check(&src);
    }

    #[test]
    fn the_head_parses_like_the_whole_file_for_any_text(src in "(---|\r|\n|\u{feff}|\\.\\.\\.| |a|é){0,64}") {
        check(&src);
    }
}

#[test]
fn edge_cases() {
    for src in [
        "",
        "\u{feff}",
        "---",
        "---\n",
        "---\r\n---",
        "---\n---\n",
        "--- \t\r\ntitle: x\r\n...  \r\nbody",
        "no frontmatter\n---\n",
        "\u{feff}---\ntitle: x\n---",
        "---\ntitle: x\n---x\n",
        "---\ntitle: x\n\n",
    ] {
        check(src);
    }
}

#[test]
fn the_body_is_not_read() {
    // A huge body after a small frontmatter: the head stops at the closing line.
    let src = format!("---\ntitle: x\n---\n{}", "## Body\n".repeat(1 << 19));
    assert_eq!(frontmatter_extent(src.as_bytes(), false), Some(17));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.md");
    std::fs::write(&path, [src.as_bytes(), b"\xff"].concat()).unwrap();
    assert_eq!(
        sessions::store::read_head(&path).unwrap(),
        "---\ntitle: x\n---\n"
    );
}
