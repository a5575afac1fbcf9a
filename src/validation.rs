//! Validating one file on disk: bounded read, encoding checks, then the document rules.
//! Shared by `validate`, `status` and `watch` so they never disagree about a file.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::diagnostic::Diagnostic;
use crate::error::{Error, Result};
use crate::session::Document;
use crate::session::rules;
use crate::store::{self, Repo};

/// Checks the file at `path`, reusing `buf` for its bytes. `display` is how the path is shown.
/// Returns an error only when the file cannot be read at all (exit code 2).
pub fn validate_file(
    repo: Option<&Repo>,
    path: &Path,
    display: &str,
    buf: &mut Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Vec<Diagnostic>> {
    let file_level = |rule, msg: String| Ok(vec![Diagnostic::file_level(display, rule, msg)]);
    // Within a repository a symlink is followed only when it stays inside; most paths are
    // regular files, read at once without following one.
    let read = match repo {
        Some(repo) => match store::read_bounded_unless_symlink(path, buf) {
            Ok(true) => Ok(()),
            Ok(false) if path.is_symlink() && !repo.contains(path) => {
                let target = std::fs::read_link(path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                return file_level(
                    &rules::OUTSIDE_REPO,
                    format!(
                        "this is a symlink to `{target}`, outside the repository; sessions are not read through it: replace it with the file itself"
                    ),
                );
            }
            Ok(false) => store::read_bounded(path, buf).map(drop),
            Err(e) => Err(e),
        },
        None => store::read_bounded(path, buf).map(drop),
    };
    match read {
        Ok(()) => {}
        Err(Error::TooLarge { size, limit, .. }) => {
            return file_level(
                &rules::TOO_LARGE,
                format!(
                    "the file is {size} bytes; session files are limited to {limit} bytes: move logs and transcripts out of it"
                ),
            );
        }
        Err(Error::NotRegular { kind, .. }) => {
            return file_level(
                &rules::NOT_REGULAR,
                format!(
                    "this is {kind}, not a regular file; sessions does not open it: remove it or replace it with a session file"
                ),
            );
        }
        Err(e) => return Err(e),
    }
    let text = match store::utf8(buf) {
        Ok(t) => t,
        Err(e) => {
            let valid = std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default();
            let (line, column) = crate::session::document::position(valid, valid.len());
            let mut d = Diagnostic::file_level(
                display,
                &rules::NOT_UTF8,
                format!(
                    "byte {} is not UTF-8: re-save the file as UTF-8",
                    e.valid_up_to()
                ),
            );
            (d.line, d.column) = (line, column);
            return Ok(vec![d]);
        }
    };
    if text.trim_start_matches('\u{feff}').trim().is_empty() {
        return file_level(
            &rules::EMPTY_FILE,
            "the file is empty: delete it or run `sessions new` to create a session".into(),
        );
    }
    let doc = Document::parse(text);
    let file_name = path.file_name().and_then(|n| n.to_str());
    let findings = rules::check(&doc, file_name, now);
    let mut positions = crate::session::document::Positions::new(text);
    Ok(findings
        .iter()
        .map(|f| Diagnostic::from_finding(display, text, &mut positions, f))
        .collect())
}
