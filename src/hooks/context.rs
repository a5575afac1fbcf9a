//! Turning repository text into agent context safely.
//!
//! Titles, tasks and sections come from files anyone with push access (or a cloned
//! repository) wrote, and SessionStart puts them into the model's context. So every piece is
//! cleaned of control characters and invisible direction overrides, bounded in length, and
//! quoted line by line (`| `) inside a frame that says it is the repository's data. Our own
//! words never use angle brackets: Gemini HTML-escapes them in hook context.

/// The bookkeeping actor suffix: hook-written Session Log entries are headed
/// `[claude hook]`, `[codex hook]`, `[gemini hook]`.
pub const HOOK_ACTOR_SUFFIX: &str = " hook";

/// The actor for a Session Log entry the hook writes on behalf of `agent`.
pub fn hook_actor(agent: &str) -> String {
    format!("{agent}{HOOK_ACTOR_SUFFIX}")
}

/// Whether a Session Log entry is hook bookkeeping rather than work written by a person or an
/// agent: our actor, or (in files written before hooks marked their entries) one of the two
/// messages hooks always wrote.
pub fn is_bookkeeping(actor: &str, body: &str) -> bool {
    if actor.ends_with(HOOK_ACTOR_SUFFIX) {
        return true;
    }
    let body = body.trim();
    let old_message = |prefix: &str| {
        body.strip_prefix(prefix).is_some_and(|rest| {
            rest.starts_with('(') && rest.ends_with(").") && !rest.contains('\n')
        })
    };
    old_message("Conversation ended ") || old_message("Context compacted ")
}

/// Characters that must not reach the model from repository text: C0 and C1 controls (ESC,
/// BEL, …; newline and tab are handled by the callers) and the invisible characters that
/// reorder or hide text (bidi embeddings, overrides and isolates, marks, BOM, separators).
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{061C}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// One line of repository text: hostile characters dropped, any line break or tab turned into
/// a space, runs of spaces collapsed, at most `max` characters (`…` marks a cut).
pub fn clean_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = if matches!(c, '\n' | '\r' | '\t') {
            ' '
        } else {
            c
        };
        if is_hostile(c) || (c == ' ' && (out.is_empty() || out.ends_with(' '))) {
            continue;
        }
        out.push(c);
    }
    truncate(out.trim_end(), max)
}

/// A multi-line block of repository text, quoted: each line cleaned of hostile characters
/// (tabs become spaces), prefixed with `| `, trailing blank lines dropped. At most `max_lines`
/// lines and `max_chars` characters in all; a cut says how much was left out.
pub fn quote_block(text: &str, max_lines: usize, max_chars: usize) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .filter(|c| !is_hostile(*c))
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    let start = lines[..end]
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(end);
    let lines = &lines[start..end];
    let mut out = String::new();
    let mut used = 0;
    for (i, line) in lines.iter().enumerate() {
        let quoted = if line.is_empty() {
            "|\n".to_string()
        } else {
            format!("| {}\n", truncate(line, 300))
        };
        let n = quoted.chars().count();
        if i == max_lines || used + n > max_chars {
            out.push_str(&format!(
                "| … ({} more line(s) in the file)\n",
                lines.len() - i
            ));
            break;
        }
        out.push_str(&quoted);
        used += n;
    }
    out
}

/// `text` without HTML comments (`<!-- … -->`, an unclosed one runs to the end): the
/// template's guidance comments are not state, and Gemini would show their brackets escaped.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        rest = match rest[start + 4..].find("-->") {
            Some(end) => &rest[start + 4 + end + 3..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// At most `max` characters; a cut ends in `…`.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A short stable fingerprint of a context (FNV-1a, 64 bits), so a hook can tell that it
/// would inject what the conversation already holds.
pub fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_line_drops_escapes_and_overrides() {
        let hostile = "ok\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J\u{202e}txt.exe\u{9b}31m\u{2066}end";
        let clean = clean_line(hostile, 200);
        assert!(!clean.chars().any(is_hostile), "{clean:?}");
        assert_eq!(clean, "ok]52;c;ZXZpbA==[2Jtxt.exe31mend");
        assert_eq!(clean_line("a\nb\r\n\tc   d ", 200), "a b c d");
        assert_eq!(
            clean_line(&"x".repeat(50), 10),
            format!("{}…", "x".repeat(9))
        );
    }

    #[test]
    fn quote_block_quotes_bounds_and_cleans() {
        let q = quote_block("\n\nfirst\u{1b}[31m\n\n\tsecond\u{7}\n\n\n", 10, 1000);
        assert_eq!(q, "| first[31m\n|\n|  second\n");
        let many: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let q = quote_block(&many, 5, 1000);
        assert_eq!(q.lines().count(), 6);
        assert!(q.ends_with("| … (95 more line(s) in the file)\n"), "{q}");
        let q = quote_block(&many, 100, 40);
        assert!(q.chars().count() <= 80, "{q}");
        assert!(q.contains("more line(s)"), "{q}");
    }

    #[test]
    fn comments_are_stripped() {
        assert_eq!(strip_comments("a<!-- x -->b<!--y\n-->c"), "abc");
        assert_eq!(strip_comments("a <!-- open"), "a ");
        assert_eq!(strip_comments("no comment"), "no comment");
    }

    #[test]
    fn bookkeeping_is_recognised() {
        assert!(is_bookkeeping("claude hook", "anything"));
        assert!(is_bookkeeping("claude", "Conversation ended (other)."));
        assert!(is_bookkeeping("codex", "\nContext compacted (auto).\n"));
        assert!(!is_bookkeeping(
            "claude",
            "Conversation ended (other). Then I fixed x."
        ));
        assert!(!is_bookkeeping("alice", "Wrote the parser."));
    }
}
