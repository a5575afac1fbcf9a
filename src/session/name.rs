//! File-name rules: `YYYYMMDD-HHMMSS-<slug>.md`, the UTC time of creation plus a lower-case
//! kebab slug that never carries an issue key (that belongs in `linear_issue`).

use chrono::{DateTime, NaiveDateTime, Utc};

/// Longest slug we generate, in bytes; long descriptions are cut at a word boundary.
const MAX_SLUG: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name<'a> {
    pub time: DateTime<Utc>,
    pub slug: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    NotMarkdown,
    NoTimestamp,
    BadTimestamp,
    BadSlug,
}

/// Parses a file name (not a path) such as `20251204-143000-weather-api.md`.
pub fn parse(file_name: &str) -> Result<Name<'_>, NameProblem> {
    let stem = file_name
        .strip_suffix(".md")
        .ok_or(NameProblem::NotMarkdown)?;
    let b = stem.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if !(digits(0..8) && b.get(8) == Some(&b'-') && digits(9..15)) {
        return Err(NameProblem::NoTimestamp);
    }
    let time = NaiveDateTime::parse_from_str(&stem[..15], "%Y%m%d-%H%M%S")
        .map_err(|_| NameProblem::BadTimestamp)?
        .and_utc();
    let slug = stem[15..].strip_prefix('-').ok_or(NameProblem::BadSlug)?;
    if !is_kebab(slug) {
        return Err(NameProblem::BadSlug);
    }
    Ok(Name { time, slug })
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// An issue key at the start of a description: `PLT-123` (up to ten capitals), or any
/// two to five letters, a dash and digits (`plt-9`). Returns its length.
pub fn leading_issue_key(s: &str) -> Option<usize> {
    // Whatever the slug rule would flag is taken out too, so `new` never writes a name that
    // `validate` rejects.
    issue_key(s, |c| c.is_ascii_uppercase(), 10)
        .or_else(|| issue_key(s, u8::is_ascii_alphabetic, 5))
}

/// An issue key at the start of a slug (`plt-123-…`): two to five letters, a dash, digits.
/// Longer words (`session-2`, `corpus-0`) are ordinary slugs.
pub fn slug_issue_key(slug: &str) -> Option<usize> {
    issue_key(slug, |c| c.is_ascii_lowercase(), 5)
}

fn issue_key(s: &str, letter: fn(&u8) -> bool, max_letters: usize) -> Option<usize> {
    let b = s.as_bytes();
    let letters = b.iter().take_while(|c| letter(c)).count();
    if !(2..=max_letters).contains(&letters) || b.get(letters) != Some(&b'-') {
        return None;
    }
    let digits = b[letters + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    let end = letters + 1 + digits;
    match b.get(end) {
        None | Some(b'-' | b' ' | b':' | b'_' | b'.' | b'/' | b')' | b']') => Some(end),
        _ => None,
    }
}

/// Splits a leading issue key off a description and turns the rest into a slug.
/// Returns `(issue_key_upper, slug)`.
pub fn slug_for(description: &str) -> (Option<String>, String) {
    let trimmed = description.trim_start_matches(|c: char| !c.is_alphanumeric());
    let (issue, rest) = match leading_issue_key(trimmed) {
        Some(n) => (Some(trimmed[..n].to_ascii_uppercase()), &trimmed[n..]),
        None => (None, trimmed),
    };
    (issue, slugify(rest))
}

/// Lower-case ASCII kebab case (accents transliterated by `deunicode`, so `Façade` is
/// `facade`): every run of other characters becomes one `-`. Path
/// separators and dots are not kept, so a slug can never name another directory.
pub fn slugify(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_SLUG));
    for c in deunicode::deunicode(s).chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.len() > MAX_SLUG {
        let cut = out[..MAX_SLUG].rfind('-').unwrap_or(MAX_SLUG);
        out.truncate(cut);
    }
    if out.is_empty() {
        out.push_str("session");
    }
    out
}

pub fn file_name(time: DateTime<Utc>, slug: &str) -> String {
    format!("{}-{slug}.md", time.format("%Y%m%d-%H%M%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_names() {
        let n = parse("20251204-143000-weather-api.md").unwrap();
        assert_eq!(n.slug, "weather-api");
        assert_eq!(n.time.to_rfc3339(), "2025-12-04T14:30:00+00:00");
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(parse("notes.md"), Err(NameProblem::NoTimestamp));
        assert_eq!(
            parse("20250230-143000-x.md"),
            Err(NameProblem::BadTimestamp)
        );
        assert_eq!(
            parse("20250101-143000-Bad_Slug.md"),
            Err(NameProblem::BadSlug)
        );
        assert_eq!(parse("20250101-143000.md"), Err(NameProblem::BadSlug));
        assert_eq!(
            parse("20250101-143000-x.txt"),
            Err(NameProblem::NotMarkdown)
        );
    }

    #[test]
    fn issue_key_moves_out_of_the_slug() {
        assert_eq!(
            slug_for("PLT-123 Fix login"),
            (Some("PLT-123".into()), "fix-login".into())
        );
        assert_eq!(
            slug_for("PLT-9: crash"),
            (Some("PLT-9".into()), "crash".into())
        );
        assert_eq!(
            slug_for("plt-9 crash"),
            (Some("PLT-9".into()), "crash".into())
        );
        assert_eq!(
            slug_for("session-2 rollout"),
            (None, "session-2-rollout".into())
        );
        assert_eq!(slug_issue_key("plt-12-x"), Some(6));
        assert_eq!(slug_issue_key("corpus-0"), None);
        assert_eq!(slug_for("Fix PLT-123"), (None, "fix-plt-123".into()));
    }

    #[test]
    fn slug_never_escapes() {
        assert_eq!(slugify("../../etc/passwd"), "etc-passwd");
        assert_eq!(slugify("..."), "session");
        assert_eq!(slugify("Ünïcode façade"), "unicode-facade");
        assert!(slugify(&"word ".repeat(40)).len() <= MAX_SLUG);
    }
}
