//! One-line run summaries from agent output.
//!
//! Priority: the last `SUMMARY:` line; else the `result` (or `errors`) of the last Claude
//! stream-json `{"type":"result",…}` line (a `SUMMARY:` line inside that text wins over the
//! whole text); else the last few meaningful lines. Always one line, at most
//! [`MAX_SUMMARY_CHARS`] characters.

use serde_json::Value;

/// Upper bound of a summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 500;
/// How many trailing lines make a fallback summary.
pub const FALLBACK_LINES: usize = 3;
/// Longest line the streaming [`Summarizer`] inspects (longer lines are skipped).
pub const MAX_SCAN_LINE: usize = 4 << 20;

const MARKER: &str = "SUMMARY:";

/// Summary of a chunk of output (typically a log tail).
pub fn summarize(tail: &str) -> Option<String> {
    let lines: Vec<String> = tail.lines().map(clean_line).collect();
    if let Some(s) = lines.iter().rev().find_map(|l| summary_line(l)) {
        return Some(s);
    }
    if let Some(s) = lines.iter().rev().find_map(|l| result_summary(l)) {
        return Some(s);
    }
    fallback(&lines)
}

/// `SUMMARY: text` → bounded `text` (None if not such a line or empty).
fn summary_line(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix(MARKER)?;
    let s = bound(rest);
    (!s.is_empty()).then_some(s)
}

fn looks_like_result(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('{') && (t.contains("\"type\":\"result\"") || t.contains("\"type\": \"result\""))
}

/// Summary from a Claude stream-json result line, if `line` is one.
pub fn result_summary(line: &str) -> Option<String> {
    if !looks_like_result(line) {
        return None;
    }
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    if v.get("type")?.as_str()? != "result" {
        return None;
    }
    if let Some(text) = v.get("result").and_then(Value::as_str)
        && !text.trim().is_empty()
    {
        let cleaned: Vec<String> = text.lines().map(clean_line).collect();
        if let Some(s) = cleaned.iter().rev().find_map(|l| summary_line(l)) {
            return Some(s);
        }
        return Some(bound(text));
    }
    let errors: Vec<String> = match v.get("errors") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    if !errors.is_empty() {
        return Some(bound(&errors.join("; ")));
    }
    let subtype = v.get("subtype").and_then(Value::as_str)?;
    Some(bound(subtype))
}

fn is_noise(line: &str) -> bool {
    let t = line.trim();
    t.is_empty()
        || (t.starts_with('{') && t.ends_with('}'))
        || (t.starts_with('[') && t.ends_with(']') && serde_json::from_str::<Value>(t).is_ok())
        || (t.starts_with("[…") && t.ends_with("rotated away by sessions …]"))
}

fn fallback(lines: &[String]) -> Option<String> {
    let mut picked: Vec<&str> = lines
        .iter()
        .rev()
        .filter(|l| !is_noise(l))
        .take(FALLBACK_LINES)
        .map(|l| l.trim())
        .collect();
    if picked.is_empty() {
        return None;
    }
    picked.reverse();
    let s = bound(&picked.join(" / "));
    (!s.is_empty()).then_some(s)
}

/// Drop ANSI escape sequences and carriage-return overwrites (terminal output from tmux).
pub fn clean_line(line: &str) -> String {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let line = line.rsplit('\r').next().unwrap_or(line);
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters then one final byte in @..~
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC / DCS / etc.: until BEL or ESC \
            Some(']' | 'P' | '_' | '^') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Collapse whitespace and control characters to single spaces, trim, and cut to
/// [`MAX_SUMMARY_CHARS`] characters (ending in `…` when cut).
pub fn bound(text: &str) -> String {
    let mut out = String::new();
    let mut count = 0usize;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        let need = usize::from(pending_space) + 1;
        if count + need > MAX_SUMMARY_CHARS - 1 {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
        count += need;
    }
    out
}

/// Streaming summary scanner: fed the raw output as it passes through the supervisor, so a
/// `SUMMARY:` line is found even when log rotation has dropped it.
#[derive(Debug, Default)]
pub struct Summarizer {
    partial: Vec<u8>,
    skipping: bool,
    last_summary: Option<String>,
    last_result: Option<String>,
}

impl Summarizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed raw bytes (any chunking).
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            if self.skipping {
                self.skipping = false;
            } else {
                self.partial.extend_from_slice(&bytes[..nl]);
                let line = std::mem::take(&mut self.partial);
                self.line(&line);
            }
            bytes = &bytes[nl + 1..];
        }
        if self.skipping {
            return;
        }
        if self.partial.len() + bytes.len() > MAX_SCAN_LINE {
            self.partial.clear();
            self.skipping = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    fn line(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let cleaned = clean_line(&text);
        if let Some(s) = summary_line(&cleaned) {
            self.last_summary = Some(s);
        } else if looks_like_result(&cleaned) {
            self.last_result = Some(cleaned);
        }
    }

    /// The summary: streamed `SUMMARY:` line, else streamed result line, else
    /// [`summarize`] of `tail` (the log's tail, for the fallback lines).
    pub fn finish(mut self, tail: &str) -> Option<String> {
        if !self.partial.is_empty() && !self.skipping {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
        if let Some(s) = self.last_summary {
            return Some(s);
        }
        if let Some(s) = self.last_result.as_deref().and_then(result_summary) {
            return Some(s);
        }
        summarize(tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_summary_line_wins() {
        let t = "start\nSUMMARY: first\nmiddle\n  SUMMARY:   second   one \nend\n";
        assert_eq!(summarize(t).as_deref(), Some("second one"));
    }

    #[test]
    fn stream_json_result() {
        let t = concat!(
            r#"{"type":"system","subtype":"init"}"#,
            "\n",
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}]}}"#,
            "\n",
            r#"{"type":"result","subtype":"success","is_error":false,"result":"Fixed the parser.\nAll tests pass."}"#,
            "\n"
        );
        assert_eq!(
            summarize(t).as_deref(),
            Some("Fixed the parser. All tests pass.")
        );
        let t2 = r#"{"type":"result","subtype":"success","result":"blah\nSUMMARY: did X"}"#;
        assert_eq!(summarize(t2).as_deref(), Some("did X"));
        let t3 = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"errors":["too many turns"]}"#;
        assert_eq!(summarize(t3).as_deref(), Some("too many turns"));
    }

    #[test]
    fn fallback_skips_noise() {
        let t = "one\ntwo\n\n{\"x\":1}\nthree\n\x1b[1;31mfour\x1b[0m\r\n\n";
        assert_eq!(summarize(t).as_deref(), Some("two / three / four"));
        assert_eq!(summarize(""), None);
        assert_eq!(summarize("\n\n{\"a\":2}\n"), None);
    }

    #[test]
    fn bounded_and_single_line() {
        let long = format!("SUMMARY: {}", "é\t".repeat(2000));
        let s = summarize(&long).unwrap();
        assert!(s.chars().count() <= MAX_SUMMARY_CHARS);
        assert!(!s.contains('\n'));
        assert!(s.ends_with('…'));
        assert_eq!(bound("  a \t\n b  "), "a b");
    }

    #[test]
    fn streaming_matches_across_chunks() {
        let mut s = Summarizer::new();
        for chunk in ["noise\nSUMM", "ARY: strea", "med\nmore output\n", "tail"] {
            s.feed(chunk.as_bytes());
        }
        assert_eq!(s.finish("more output\ntail").as_deref(), Some("streamed"));
        let mut s = Summarizer::new();
        s.feed(b"a\nb\n");
        assert_eq!(s.finish("a\nb\n").as_deref(), Some("a / b"));
        let mut s = Summarizer::new();
        s.feed(br#"{"type":"result","result":"done"}"#);
        assert_eq!(s.finish("").as_deref(), Some("done"));
    }
}
