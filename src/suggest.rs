//! "Did you mean": the known names closest to a mistyped one, by Jaro–Winkler similarity (as
//! clap and cargo suggest), for sessions, agents and statuses. A leaf: imports nothing from the
//! crate.

/// How similar a candidate must be to be offered (clap's threshold).
const THRESHOLD: f64 = 0.8;
/// At most this many suggestions.
const MAX: usize = 3;

/// The candidates close to `typed`, best first. Each candidate is scored by its best-matching
/// key (e.g. a session's slug, its title, and each word of them), case-insensitively.
pub fn closest<'a, T>(
    typed: &str,
    candidates: &'a [T],
    keys: impl Fn(&T) -> Vec<String>,
) -> Vec<&'a T> {
    let typed = typed.to_lowercase();
    if typed.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(f64, &T)> = candidates
        .iter()
        .filter_map(|c| {
            let best = keys(c)
                .iter()
                .map(|k| strsim::jaro_winkler(&typed, &k.to_lowercase()))
                .fold(0.0, f64::max);
            (best > THRESHOLD).then_some((best, c))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(MAX).map(|(_, c)| c).collect()
}

/// The one name closest to `typed` among `names`, if any is close.
pub fn one<'a>(typed: &str, names: &'a [&'a str]) -> Option<&'a str> {
    closest(typed, names, |n| vec![n.to_string()])
        .first()
        .map(|n| **n)
}

/// `text` and each of its words (split at anything not alphanumeric).
pub fn words(text: &str) -> Vec<String> {
    let mut out = vec![text.to_string()];
    out.extend(
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
            .map(str::to_string),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_offered_far_ones_not() {
        assert_eq!(one("claud", &["claude", "codex", "gemini"]), Some("claude"));
        assert_eq!(
            one("paussed", &["in_progress", "paused", "completed"]),
            Some("paused")
        );
        assert_eq!(one("zebra", &["claude", "codex", "gemini"]), None);
        let sessions = ["20251204-143000-weather-api", "20251205-090000-parser-fix"];
        let slug = |s: &&str| words(&s[16..]);
        assert_eq!(closest("wether", &sessions, slug), [&sessions[0]]);
        assert_eq!(closest("parsr", &sessions, slug), [&sessions[1]]);
        assert!(closest("", &sessions, slug).is_empty());
    }
}
