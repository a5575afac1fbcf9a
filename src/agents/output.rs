//! What an agent's own machine output says about its run: the final answer (or error), the
//! conversation id, cost, tokens and turns. One reader understands the three formats the
//! clients write, line by line, so it never needs more than the current line in memory:
//!
//! * Claude Code `--output-format stream-json`: `system/init` and the last `result`
//!   (`session_id`, `num_turns`, `total_cost_usd`, `usage`/`modelUsage`, `result` on success,
//!   `errors[]` otherwise).
//! * Codex `exec --json`: `thread.started.thread_id`, the last `item.completed` whose item is an
//!   `agent_message`, `turn.completed.usage` (summed over turns), `turn.failed`/`error`.
//! * Gemini `-o stream-json`: `init.session_id`, assistant `message` events (`delta` chunks are
//!   concatenated; a tool call in between starts a new answer), `result.stats` and
//!   `result.error`.
//!
//! Anything else is left to the plain-text fallback in [`super::summary`]. A line that is not
//! one of these events costs one failed JSON parse at most.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Input and output tokens of a run, as the agent reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
}

impl Tokens {
    pub fn add(&mut self, other: Tokens) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
    }
}

/// `3 turns, 1200 in / 56 out tokens, $0.0151`; `None` when nothing was reported.
pub fn usage_text(
    cost_usd: Option<f64>,
    tokens: Option<Tokens>,
    turns: Option<u64>,
) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(n) = turns {
        parts.push(format!("{n} turn{}", if n == 1 { "" } else { "s" }));
    }
    if let Some(t) = tokens {
        parts.push(format!("{} in / {} out tokens", t.input, t.output));
    }
    if let Some(c) = cost_usd {
        parts.push(format!("${c:.4}"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Which client's format the events came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Claude,
    Codex,
    Gemini,
}

/// Longest answer kept (its end is kept: a `SUMMARY:` line comes last).
const MAX_ANSWER: usize = 64 * 1024;

/// The events seen so far.
#[derive(Debug, Default)]
pub struct Events {
    pub format: Option<Format>,
    /// The first conversation id the output named.
    pub conversation_id: Option<String>,
    /// The agent's final answer text, when it reported one.
    pub answer: Option<String>,
    /// Why the agent says it failed.
    pub error: Option<String>,
    pub cost_usd: Option<f64>,
    pub tokens: Option<Tokens>,
    pub turns: Option<u64>,
    /// Gemini: the last event was an assistant message, so a delta continues the answer.
    answer_open: bool,
}

impl Events {
    /// Reads one output line (already stripped of terminal escapes). Returns whether it was
    /// an event of a known format.
    pub fn line(&mut self, line: &str) -> bool {
        let t = line.trim();
        if !(t.starts_with('{') && t.ends_with('}')) {
            return false;
        }
        if self.skip(t) {
            return true;
        }
        if !t.contains("\"type\"") {
            return false;
        }
        let Ok(v) = serde_json::from_str::<Value>(t) else {
            return false;
        };
        let Some(kind) = v.get("type").and_then(Value::as_str) else {
            return false;
        };
        match kind {
            // Claude
            "system" if v.get("subtype").and_then(Value::as_str) == Some("init") => {
                self.seen(Format::Claude, str_at(&v, "session_id"));
                true
            }
            "result" if v.get("status").is_some() && v.get("stats").is_some() => {
                self.gemini_result(&v);
                true
            }
            "result" => {
                self.claude_result(&v);
                true
            }
            "assistant" | "user" | "stream_event" if v.get("session_id").is_some() => {
                self.seen(Format::Claude, str_at(&v, "session_id"));
                true
            }
            // Codex
            "thread.started" => {
                self.seen(Format::Codex, str_at(&v, "thread_id"));
                true
            }
            "item.completed" => {
                self.format.get_or_insert(Format::Codex);
                let item = v.get("item");
                if item.and_then(|i| i.get("type")).and_then(Value::as_str) == Some("agent_message")
                    && let Some(text) = item.and_then(|i| str_at(i, "text"))
                {
                    self.answer = Some(keep_end(text));
                }
                true
            }
            "turn.completed" => {
                self.format.get_or_insert(Format::Codex);
                if let Some(u) = v.get("usage") {
                    self.tokens.get_or_insert_default().add(Tokens {
                        input: num(u, "input_tokens"),
                        output: num(u, "output_tokens"),
                    });
                }
                *self.turns.get_or_insert(0) += 1;
                true
            }
            "turn.failed" => {
                self.format.get_or_insert(Format::Codex);
                *self.turns.get_or_insert(0) += 1;
                if let Some(m) = v.get("error").and_then(|e| str_at(e, "message")) {
                    self.error = Some(error_text(m));
                }
                true
            }
            "error" if self.format == Some(Format::Codex) => {
                if let Some(m) = str_at(&v, "message") {
                    self.error = Some(error_text(m));
                }
                true
            }
            // Gemini
            "init" => {
                self.seen(Format::Gemini, str_at(&v, "session_id"));
                self.answer_open = false;
                true
            }
            "message" if self.format == Some(Format::Gemini) || v.get("role").is_some() => {
                self.format.get_or_insert(Format::Gemini);
                self.gemini_message(&v);
                true
            }
            _ if self.format == Some(Format::Gemini) => {
                // tool_use, tool_result, …: the answer so far was not the last word.
                self.answer_open = false;
                true
            }
            _ => false,
        }
    }

    /// Events that cannot change anything, told by their leading `{"type":"…"` without
    /// parsing the line: the bulk of a long run (tool output, streamed chunks) costs a scan of
    /// a few bytes.
    fn skip(&mut self, t: &str) -> bool {
        let Some(kind) = t
            .strip_prefix("{\"type\":\"")
            .and_then(|r| r.split('"').next())
        else {
            return false;
        };
        match (kind, self.format) {
            ("assistant" | "user" | "stream_event", Some(Format::Claude)) => {
                self.conversation_id.is_some()
            }
            ("item.started" | "item.updated" | "turn.started", Some(Format::Codex)) => true,
            ("item.completed", Some(Format::Codex)) => !t.contains("\"agent_message\""),
            ("tool_use" | "tool_result", Some(Format::Gemini)) => {
                self.answer_open = false;
                true
            }
            _ => false,
        }
    }

    fn seen(&mut self, format: Format, id: Option<&str>) {
        self.format.get_or_insert(format);
        if self.conversation_id.is_none()
            && let Some(id) = id.map(str::trim).filter(|s| !s.is_empty())
        {
            self.conversation_id = Some(id.to_string());
        }
    }

    fn claude_result(&mut self, v: &Value) {
        self.seen(Format::Claude, str_at(v, "session_id"));
        if let Some(n) = v.get("num_turns").and_then(Value::as_u64) {
            self.turns = Some(n);
        }
        if let Some(c) = v.get("total_cost_usd").and_then(Value::as_f64) {
            self.cost_usd = Some(c);
        }
        // `modelUsage` counts every model the run used (as the cost does); `usage` only the
        // main loop's. Input counts cache reads and writes: tokens the model read all the same.
        let by_model = v.get("modelUsage").and_then(Value::as_object);
        let tokens = match by_model.filter(|m| !m.is_empty()) {
            Some(models) => models.values().fold(Tokens::default(), |mut t, m| {
                t.add(Tokens {
                    input: num(m, "inputTokens")
                        + num(m, "cacheReadInputTokens")
                        + num(m, "cacheCreationInputTokens"),
                    output: num(m, "outputTokens"),
                });
                t
            }),
            None => match v.get("usage") {
                Some(u) => Tokens {
                    input: num(u, "input_tokens")
                        + num(u, "cache_read_input_tokens")
                        + num(u, "cache_creation_input_tokens"),
                    output: num(u, "output_tokens"),
                },
                None => return self.claude_text(v),
            },
        };
        self.tokens = Some(tokens);
        self.claude_text(v);
    }

    fn claude_text(&mut self, v: &Value) {
        let failed = v.get("is_error").and_then(Value::as_bool) == Some(true);
        let text = str_at(v, "result").filter(|t| !t.trim().is_empty());
        if let Some(text) = text {
            if failed {
                self.error = Some(text.to_string());
            } else {
                self.answer = Some(keep_end(text));
            }
            return;
        }
        let errors: Vec<String> = match v.get("errors") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => str_at(other, "message").map_or_else(|| other.to_string(), Into::into),
                })
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        if !errors.is_empty() {
            self.error = Some(errors.join("; "));
        } else if let Some(sub) = str_at(v, "subtype").filter(|s| failed || *s != "success") {
            self.error = Some(sub.to_string());
        }
    }

    fn gemini_message(&mut self, v: &Value) {
        if v.get("role").and_then(Value::as_str) != Some("assistant") {
            self.answer_open = false;
            return;
        }
        let Some(content) = str_at(v, "content") else {
            return;
        };
        let delta = v.get("delta").and_then(Value::as_bool) == Some(true);
        match (&mut self.answer, delta && self.answer_open) {
            (Some(a), true) => {
                a.push_str(content);
                if a.len() > 2 * MAX_ANSWER {
                    *a = keep_end(a);
                }
            }
            (slot, _) => *slot = Some(keep_end(content)),
        }
        self.answer_open = true;
    }

    fn gemini_result(&mut self, v: &Value) {
        self.format.get_or_insert(Format::Gemini);
        self.answer_open = false;
        if let Some(s) = v.get("stats") {
            self.tokens = Some(Tokens {
                input: num(s, "input_tokens"),
                output: num(s, "output_tokens"),
            });
        }
        if v.get("status").and_then(Value::as_str) != Some("success") {
            let why = v
                .get("error")
                .and_then(|e| str_at(e, "message"))
                .map(error_text)
                .or_else(|| str_at(v, "status").map(|s| format!("status {s}")));
            self.error = why;
        }
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The last [`MAX_ANSWER`] bytes of `text` (on a character boundary).
fn keep_end(text: &str) -> String {
    if text.len() <= MAX_ANSWER {
        return text.to_string();
    }
    let mut at = text.len() - MAX_ANSWER;
    while !text.is_char_boundary(at) {
        at += 1;
    }
    text[at..].to_string()
}

/// An error message, unwrapped when it is itself a provider's JSON error body
/// (`{"error": {"message": …}}`, as Codex and Gemini pass them on).
fn error_text(message: &str) -> String {
    let inner = message
        .trim()
        .trim_start_matches("[API Error: ")
        .trim_end_matches(']');
    serde_json::from_str::<Value>(inner)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            str_at(e, "message")
                .map(str::to_owned)
                .or_else(|| e.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Events {
        let mut e = Events::default();
        for l in text.lines() {
            e.line(l);
        }
        e
    }

    #[test]
    fn codex_sums_turns_and_unwraps_errors() {
        let e = read(concat!(
            "{\"type\":\"thread.started\",\"thread_id\":\"t-1\"}\n",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":10,\"output_tokens\":2}}\n",
            "{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"a\"}}\n",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}\n",
            "{\"type\":\"turn.failed\",\"error\":{\"message\":\"{\\\"error\\\":{\\\"message\\\":\\\"too long\\\"}}\"}}\n",
        ));
        assert_eq!(e.format, Some(Format::Codex));
        assert_eq!(e.conversation_id.as_deref(), Some("t-1"));
        assert_eq!(
            e.tokens,
            Some(Tokens {
                input: 15,
                output: 3
            })
        );
        assert_eq!(e.turns, Some(3));
        assert_eq!(e.answer.as_deref(), Some("a"));
        assert_eq!(e.error.as_deref(), Some("too long"));
    }

    #[test]
    fn gemini_answer_restarts_after_a_tool_call() {
        let e = read(concat!(
            "{\"type\":\"init\",\"session_id\":\"g\"}\n",
            "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"Let me \",\"delta\":true}\n",
            "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"look.\",\"delta\":true}\n",
            "{\"type\":\"tool_use\",\"tool_name\":\"x\"}\n",
            "{\"type\":\"tool_result\",\"status\":\"success\"}\n",
            "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"Done \",\"delta\":true}\n",
            "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"now.\",\"delta\":true}\n",
            "{\"type\":\"result\",\"status\":\"success\",\"stats\":{\"input_tokens\":7,\"output_tokens\":3}}\n",
        ));
        assert_eq!(e.answer.as_deref(), Some("Done now."));
        assert_eq!(
            e.tokens,
            Some(Tokens {
                input: 7,
                output: 3
            })
        );
        assert_eq!(e.error, None);
        assert_eq!(e.turns, None);
    }

    #[test]
    fn not_events() {
        let mut e = Events::default();
        assert!(!e.line("plain text"));
        assert!(!e.line("{\"x\": 1}"));
        assert!(!e.line("{\"type\": broken"));
        assert!(!e.line("{\"type\":\"error\",\"message\":\"m\"}"));
        assert_eq!(e.format, None);
        let long = "é".repeat(MAX_ANSWER);
        assert!(keep_end(&long).len() <= MAX_ANSWER);
    }
}
