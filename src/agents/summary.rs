//! One-line run summaries, and everything else a run's output says about it ([`RunOutput`]).
//!
//! Summary priority: the last `SUMMARY:` line printed as such; else the agent's final answer
//! from its machine output ([`super::output`]: Claude `result`, Codex `agent_message`, Gemini
//! assistant `message`s), where a `SUMMARY:` line inside the answer wins over the whole text;
//! else the error the agent reported; else the last few meaningful lines (never a JSON event,
//! nor a client's own chatter such as a terminal-colour warning). Always one line, at most
//! [`MAX_SUMMARY_CHARS`] characters.
//!
//! Everything is read line by line as the output streams past ([`Summarizer`]), or from a log
//! with [`read_log`], which never holds more than one line in memory.

use std::borrow::Cow;
use std::io::Read;

use super::output::{Events, Tokens};

/// Upper bound of a summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 500;
/// How many trailing lines make a fallback summary.
pub const FALLBACK_LINES: usize = 3;
/// Longest line the streaming [`Summarizer`] inspects (longer lines are skipped).
pub const MAX_SCAN_LINE: usize = 4 << 20;

const MARKER: &str = "SUMMARY:";

/// Lines the clients print about themselves, never about the work (seen from Codex CLI
/// 0.171 and Gemini CLI 0.61 on stderr, which shares the log with stdout).
const CHATTER: [&str; 5] = [
    "Reading additional input from stdin",
    "color support not detected",
    "Ripgrep is not available",
    "could not create PATH aliases",
    "YOLO mode is enabled",
];

/// What a run's output says: summary, conversation id, cost, tokens, turns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutput {
    pub summary: Option<String>,
    /// The conversation id the agent reported (Claude/Gemini `session_id`, Codex `thread_id`).
    pub conversation_id: Option<String>,
    pub cost_usd: Option<f64>,
    pub tokens: Option<Tokens>,
    pub turns: Option<u64>,
}

/// Summary of a chunk of output (typically a log tail).
pub fn summarize(tail: &str) -> Option<String> {
    let mut s = Summarizer::new();
    s.feed(tail.as_bytes());
    s.finish(tail).summary
}

/// Everything the log at `path` says, read line by line (memory stays bounded whatever its
/// size); `tail` is its end, for the fallback lines.
pub fn read_log(path: &std::path::Path, tail: &str) -> RunOutput {
    let mut s = Summarizer::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => s.feed(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
    s.finish(tail)
}

/// `SUMMARY: text` → bounded `text` (None if not such a line or empty).
fn summary_line(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix(MARKER)?;
    let s = bound(rest);
    (!s.is_empty()).then_some(s)
}

/// The summary of an answer text: its last `SUMMARY:` line, else the whole text.
fn answer_summary(text: &str) -> Option<String> {
    if let Some(s) = text
        .lines()
        .rev()
        .find_map(|l| summary_line(&clean_line(l)))
    {
        return Some(s);
    }
    let s = bound(&clean_line_breaks(text));
    (!s.is_empty()).then_some(s)
}

fn clean_line_breaks(text: &str) -> String {
    text.lines().map(clean_line).collect::<Vec<_>>().join("\n")
}

fn is_noise(line: &str) -> bool {
    let t = line.trim();
    t.is_empty()
        || (t.starts_with('{') && t.ends_with('}'))
        || (t.starts_with('[')
            && t.ends_with(']')
            && serde_json::from_str::<serde_json::Value>(t).is_ok())
        || (t.starts_with("[…") && t.ends_with("rotated away by sessions …]"))
        || CHATTER.iter().any(|c| t.contains(c))
        || is_stack_frame(t)
}

/// `at foo (file:///…:1:2)` and friends: a JavaScript stack trace's frames, the bulk of what
/// Gemini CLI prints on stderr when a request fails.
fn is_stack_frame(t: &str) -> bool {
    t.starts_with("at ") && (t.ends_with(')') || t.contains("file://") || t.contains("node:"))
}

fn fallback(lines: &[Cow<'_, str>]) -> Option<String> {
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
/// A line with neither (nearly all of them) is returned as it is, uncopied.
pub fn clean_line(line: &str) -> Cow<'_, str> {
    if memchr::memchr2(b'\x1b', b'\r', line.as_bytes()).is_none() {
        return Cow::Borrowed(line);
    }
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
    Cow::Owned(out)
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

/// Streaming output reader: fed the raw output as it passes through the supervisor, so a
/// `SUMMARY:` line or an agent's final event is found even when log rotation has dropped it.
#[derive(Debug, Default)]
pub struct Summarizer {
    partial: Vec<u8>,
    skipping: bool,
    last_summary: Option<String>,
    events: Events,
    id_reported: bool,
}

impl Summarizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed raw bytes (any chunking).
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(nl) = memchr::memchr(b'\n', bytes) {
            let line = &bytes[..nl];
            bytes = &bytes[nl + 1..];
            if self.skipping {
                self.skipping = false;
            } else if self.partial.len() + line.len() > MAX_SCAN_LINE {
                self.partial.clear();
            } else if self.partial.is_empty() {
                self.line(line);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole);
                whole.clear();
                self.partial = whole;
            }
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
        } else {
            self.events.line(&cleaned);
        }
    }

    /// The conversation id the output has named, the first time it is asked for after the id
    /// appeared (`None` before, and after): lets the supervisor record a Codex thread id while
    /// the run is still going.
    pub fn take_conversation_id(&mut self) -> Option<String> {
        if self.id_reported {
            return None;
        }
        let id = self.events.conversation_id.clone()?;
        self.id_reported = true;
        Some(id)
    }

    /// What the output said; the fallback summary comes from `tail` (the log's end).
    pub fn finish(mut self, tail: &str) -> RunOutput {
        if !self.partial.is_empty() && !self.skipping {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
        let e = self.events;
        let summary = self
            .last_summary
            .or_else(|| e.answer.as_deref().and_then(answer_summary))
            .or_else(|| e.error.as_deref().map(bound).filter(|s| !s.is_empty()))
            .or_else(|| fallback(&tail.lines().map(clean_line).collect::<Vec<_>>()));
        RunOutput {
            summary,
            conversation_id: e.conversation_id,
            cost_usd: e.cost_usd,
            tokens: e.tokens,
            turns: e.turns,
        }
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
        assert_eq!(
            s.finish("more output\ntail").summary.as_deref(),
            Some("streamed")
        );
        let mut s = Summarizer::new();
        s.feed(b"a\nb\n");
        assert_eq!(s.finish("a\nb\n").summary.as_deref(), Some("a / b"));
        let mut s = Summarizer::new();
        s.feed(br#"{"type":"result","result":"done"}"#);
        assert_eq!(s.finish("").summary.as_deref(), Some("done"));
    }

    /// Output recorded from the real clients (see `tests/fixtures/agent-output/README.md`),
    /// stdout and stderr in one stream as the supervisor logs them.
    fn recorded(name: &str) -> RunOutput {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/agent-output/");
        let read = |ext: &str| std::fs::read(format!("{dir}{name}.{ext}")).unwrap_or_default();
        let mut all = read("stderr");
        all.extend(read("stdout"));
        let mut s = Summarizer::new();
        // Odd chunks, as a pipe delivers them.
        for chunk in all.chunks(37) {
            s.feed(chunk);
        }
        s.finish(&String::from_utf8_lossy(&all))
    }

    #[test]
    fn claude_stream_json() {
        let o = recorded("claude-ok");
        assert_eq!(o.summary.as_deref(), Some("fixed the parser off-by-one"));
        assert_eq!(
            o.conversation_id.as_deref(),
            Some("46ea8f5d-aafc-4dae-ae5e-e2ab7e2c7db4")
        );
        assert_eq!(o.cost_usd, Some(0.01514));
        assert_eq!(o.turns, Some(1));
        assert_eq!(
            o.tokens,
            Some(Tokens {
                input: 2468,
                output: 112
            })
        );
        // Two turns with a Bash tool call in between; a side request of the client counts in
        // the cost and in `modelUsage`, not in `usage`.
        let tool = recorded("claude-tool");
        assert_eq!(tool.summary.as_deref(), Some("fixed the parser off-by-one"));
        assert_eq!(tool.turns, Some(2));
        assert_eq!(tool.cost_usd, Some(0.02091));
        assert_eq!(
            tool.tokens,
            Some(Tokens {
                input: 3702,
                output: 96
            })
        );
        let e = recorded("claude-error");
        assert!(e.summary.unwrap().starts_with("Prompt is too long"));
        assert_eq!(e.cost_usd, Some(0.0));
        let in_use = recorded("claude-session-in-use");
        assert_eq!(
            in_use.summary.as_deref(),
            Some("Error: Session ID 46ea8f5d-aafc-4dae-ae5e-e2ab7e2c7db4 is already in use.")
        );
    }

    #[test]
    fn codex_exec_json() {
        let o = recorded("codex-ok");
        assert_eq!(o.summary.as_deref(), Some("fixed the parser off-by-one"));
        assert_eq!(
            o.conversation_id.as_deref(),
            Some("01a2337d-864d-74d2-ad8e-b45eee7d125a")
        );
        assert_eq!(o.cost_usd, None);
        assert_eq!(o.turns, Some(1));
        assert_eq!(
            o.tokens,
            Some(Tokens {
                input: 2345,
                output: 67
            })
        );
        // A failed command_execution item before the answer.
        let tool = recorded("codex-tool");
        assert_eq!(tool.summary.as_deref(), Some("fixed the parser off-by-one"));
        assert_eq!(
            tool.conversation_id.as_deref(),
            Some("01a23385-cfe0-72a1-bbc9-3bc9dc50623b")
        );
        assert_eq!(
            tool.tokens,
            Some(Tokens {
                input: 3345,
                output: 77
            })
        );
        let e = recorded("codex-error");
        assert_eq!(e.summary.as_deref(), Some("prompt is too long"));
        assert!(e.conversation_id.is_some());
    }

    #[test]
    fn gemini_stream_json() {
        let o = recorded("gemini-ok");
        assert_eq!(o.summary.as_deref(), Some("fixed the parser off-by-one"));
        assert_eq!(
            o.conversation_id.as_deref(),
            Some("db1f6777-99a0-4645-8e78-c001bc66a594")
        );
        assert_eq!(
            o.tokens,
            Some(Tokens {
                input: 3466,
                output: 83
            })
        );
        assert_eq!((o.cost_usd, o.turns), (None, None));
        // A write_file tool call (`--approval-mode auto_edit`), then the answer.
        let tool = recorded("gemini-tool");
        assert_eq!(tool.summary.as_deref(), Some("fixed the parser off-by-one"));
        assert_eq!(
            tool.tokens,
            Some(Tokens {
                input: 4466,
                output: 93
            })
        );
        let e = recorded("gemini-error");
        assert_eq!(e.summary.as_deref(), Some("prompt is too long"));
    }

    #[test]
    fn fallback_never_picks_client_chatter() {
        let mut err = String::from_utf8(
            std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/agent-output/codex-ok.stderr"
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(summarize(&err), None);
        err.push_str("\x1b[33mWarning: 256-color support not detected.\x1b[0m\n");
        assert_eq!(summarize(&err), None);
        err.push_str("real problem\n    at foo (file:///x.js:1:2)\n");
        assert_eq!(summarize(&err).as_deref(), Some("real problem"));
    }

    #[test]
    fn reads_a_log_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let mut f = std::fs::File::create(&path).unwrap();
        use std::io::Write;
        writeln!(f, "{{\"type\":\"thread.started\",\"thread_id\":\"t-9\"}}").unwrap();
        let filler = "x".repeat(1000);
        for _ in 0..2000 {
            writeln!(f, "{filler}").unwrap();
        }
        writeln!(f, "SUMMARY: all done").unwrap();
        drop(f);
        let o = read_log(&path, "");
        assert_eq!(o.conversation_id.as_deref(), Some("t-9"));
        assert_eq!(o.summary.as_deref(), Some("all done"));
    }

    /// Throughput of the streaming reader on a long Claude run (tool output lines of 4 KiB):
    /// `cargo test --release --lib stream_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn stream_throughput() {
        let ok = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/agent-output/claude-tool.stdout"
        ))
        .unwrap();
        let text = String::from_utf8(ok).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let filler = "x".repeat(4000);
        let mut chunk = String::new();
        chunk.push_str(lines[0]);
        chunk.push('\n');
        for _ in 0..1000 {
            chunk.push_str(&format!(
                "{{\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":[{{\"type\":\"tool_result\",\"content\":\"{filler}\"}}]}},\"session_id\":\"s\"}}\n"
            ));
        }
        let rounds = 50;
        let start = std::time::Instant::now();
        let mut s = Summarizer::new();
        for _ in 0..rounds {
            s.feed(chunk.as_bytes());
        }
        s.feed(lines[lines.len() - 1].as_bytes());
        s.feed(b"\n");
        let out = s.finish("");
        let mb = (chunk.len() * rounds) as f64 / 1e6;
        let secs = start.elapsed().as_secs_f64();
        eprintln!("{mb:.0} MB in {secs:.2} s: {:.0} MB/s", mb / secs);
        assert_eq!(out.turns, Some(2));
    }
}
