//! Real session files collected from public repositories (`shared/corpus/real-sessions/`, kept
//! beside this repository). None follows our format exactly, so each must fail validation with
//! located diagnostics, and never crash the validator or confuse the section scanner.

use crate::common;

use std::path::PathBuf;

use common::TestRepo;
use sessions::session::Document;

/// The corpus files, or `None` (after a note) when the corpus is not beside this repository.
fn corpus_files() -> Option<Vec<PathBuf>> {
    let dir = common::shared_corpus("real-sessions")?;
    let entries = std::fs::read_dir(&dir).expect("read the corpus directory");
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "md")
                && p.file_name().is_some_and(|n| n != "PROVENANCE.md")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the corpus to hold real sessions, found {}",
        files.len()
    );
    Some(files)
}

#[test]
fn every_corpus_file_fails_validation_with_located_diagnostics() {
    let repo = TestRepo::init();
    let mut failures = Vec::new();
    let Some(files) = corpus_files() else { return };
    for file in files {
        let out = repo.run(&[
            "validate",
            "--format",
            "json",
            file.to_str().expect("UTF-8 path"),
        ]);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if out.stderr.contains("panicked") || out.code != 1 {
            failures.push(format!("{name}: {out}"));
            continue;
        }
        let v = out.json();
        let diags = v["diagnostics"].as_array().expect("diagnostics array");
        if diags.is_empty()
            || !diags
                .iter()
                .all(|d| d["line"].as_u64().is_some_and(|l| l >= 1))
        {
            failures.push(format!("{name}: no located diagnostics: {v}"));
        }
        if v["files"] != 1
            || v["errors"].as_u64()
                != Some(diags.iter().filter(|d| d["severity"] == "error").count() as u64)
        {
            failures.push(format!("{name}: totals disagree with diagnostics: {v}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn corpus_validates_as_a_directory_in_every_format() {
    let repo = TestRepo::init();
    let Some(files) = corpus_files() else { return };
    let count = files.len();
    let dir = files[0].parent().expect("corpus directory");
    let dir = dir.to_str().expect("UTF-8 path");
    for format in ["human", "json", "github", "sarif"] {
        let out = repo.run(&["validate", "--format", format, dir]);
        out.code(1).no_panic();
        if format == "json" {
            // PROVENANCE.md is validated too when the directory is given.
            assert_eq!(out.json()["files"], count as u64 + 1);
        }
        if format == "sarif" {
            assert_eq!(out.json()["version"], "2.1.0");
        }
    }
}

#[test]
fn corpus_sections_never_overlap_and_lie_within_the_file() {
    let Some(files) = corpus_files() else { return };
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let src = String::from_utf8_lossy(&bytes);
        let doc = Document::parse(&src);
        let name = file.display();
        assert!(doc.body_start <= src.len(), "{name}");
        let mut last_end = doc.body_start;
        for s in &doc.sections {
            let heading = doc.text(&s.heading.text);
            assert!(
                s.heading.line.start >= last_end,
                "{name}: `## {heading}` overlaps the section before"
            );
            assert_eq!(s.heading.line.end, s.body.start, "{name}: `## {heading}`");
            assert!(
                s.body.start <= s.body.end && s.body.end <= src.len(),
                "{name}: `## {heading}` runs past the file"
            );
            assert!(
                src[s.heading.line.clone()].trim_start().starts_with("##"),
                "{name}: `## {heading}` is not a heading line"
            );
            last_end = s.body.end;
        }
        // Sections cover the body from the first `##` heading on, except where a `#` heading
        // ends one.
        for pair in doc.sections.windows(2) {
            let gap = &src[pair[0].body.end..pair[1].heading.line.start];
            assert!(
                gap.is_empty() || gap.starts_with('#') || gap.trim_start().starts_with('#'),
                "{name}: gap {gap:?}"
            );
        }
    }
}
