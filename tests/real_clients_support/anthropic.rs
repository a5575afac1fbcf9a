//! The Anthropic Messages API as Claude Code 2.1 uses it: `POST /v1/messages?beta=true` with
//! `stream: true`, answered with the SSE events `message_start`, `content_block_*`,
//! `message_delta`, `message_stop`. Everything else (`HEAD /` at startup, `count_tokens`) gets a
//! 404, which the client tolerates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::mock::{Recorded, Reply, Responder, sse};

/// What the model does over one conversation: each tool call in turn (the next one once the
/// previous one's result is in the request), then a final text.
#[derive(Clone)]
pub struct Script {
    /// Tool-use ids start with this, so results of an earlier script in the same transcript
    /// (a resumed conversation) are not counted.
    pub prefix: String,
    pub tools: Vec<(String, Value)>,
    pub text: String,
}

impl Script {
    pub fn text(prefix: &str, text: &str) -> Script {
        Script {
            prefix: prefix.into(),
            tools: Vec::new(),
            text: text.into(),
        }
    }

    /// A `Bash` tool call running `command`.
    pub fn bash(mut self, command: &str) -> Script {
        self.tools.push((
            "Bash".into(),
            json!({"command": command, "description": "run a sessions command"}),
        ));
        self
    }

    pub fn tool(mut self, name: &str, input: Value) -> Script {
        self.tools.push((name.into(), input));
        self
    }

    /// The reply to one conversation request.
    pub fn reply(&self, req: &Value) -> Reply {
        let done = tool_result_ids(req)
            .iter()
            .filter(|id| id.starts_with(&self.prefix))
            .count();
        match self.tools.get(done) {
            Some((name, input)) => tool_use(&format!("{}_{done}", self.prefix), name, input),
            None => text(&self.text),
        }
    }

    pub fn responder(self) -> Responder {
        responder(move |_, body| self.reply(body))
    }
}

/// A responder that hands every Messages request's JSON body to `f` and 404s the rest.
pub fn responder(f: impl Fn(&Recorded, &Value) -> Reply + Send + Sync + 'static) -> Responder {
    Arc::new(move |r: &Recorded| {
        if r.method == "POST" && r.path() == "/v1/messages" {
            match r.json() {
                Some(body) => f(r, &body),
                None => Reply::Status(400),
            }
        } else {
            Reply::Status(404)
        }
    })
}

/// Claude Code groups a transcript by message id (compaction needs two groups or more), so
/// every reply gets its own.
fn message_start() -> (&'static str, Value) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = format!("msg_mock_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    (
        "message_start",
        json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": "claude-mock",
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 100, "output_tokens": 1}}}),
    )
}

fn message_end(stop_reason: &str) -> [(&'static str, Value); 2] {
    [
        (
            "message_delta",
            json!({"type": "message_delta",
                   "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                   "usage": {"output_tokens": 20}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]
}

pub fn text(text: &str) -> Reply {
    let mut events = vec![
        message_start(),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": text}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
    ];
    events.extend(message_end("end_turn"));
    sse(&events)
}

pub fn tool_use(id: &str, name: &str, input: &Value) -> Reply {
    let mut events = vec![
        message_start(),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
    ];
    events.extend(message_end("tool_use"));
    sse(&events)
}

/// Every content block of every message, as (role, block) pairs; string contents become a
/// text block.
fn blocks(req: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for m in req["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("").to_string();
        match &m["content"] {
            Value::String(s) => out.push((role, json!({"type": "text", "text": s}))),
            Value::Array(a) => out.extend(a.iter().map(|b| (role.clone(), b.clone()))),
            _ => {}
        }
    }
    out
}

pub fn tool_result_ids(req: &Value) -> Vec<String> {
    blocks(req)
        .into_iter()
        .filter(|(_, b)| b["type"] == "tool_result")
        .filter_map(|(_, b)| b["tool_use_id"].as_str().map(str::to_owned))
        .collect()
}

/// The text of a tool result (string or text blocks).
pub fn tool_result_text(req: &Value, id: &str) -> Option<String> {
    blocks(req)
        .into_iter()
        .find(|(_, b)| b["type"] == "tool_result" && b["tool_use_id"] == id)
        .map(|(_, b)| flatten(&b["content"]))
}

/// The texts of the `role: "system"` messages inside `messages` (where Claude Code puts
/// SessionStart hook context).
pub fn system_messages(req: &Value) -> Vec<String> {
    blocks(req)
        .into_iter()
        .filter(|(role, _)| role == "system")
        .map(|(_, b)| flatten(&b))
        .collect()
}

/// The first user message's text (to tell a subagent's requests from the parent's).
pub fn first_user_text(req: &Value) -> String {
    req["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
        .map(|m| flatten(&m["content"]))
        .unwrap_or_default()
}

/// Whether the request offers the model tools (the main loop and subagents do; side queries
/// such as title generation do not).
pub fn has_tools(req: &Value) -> bool {
    req["tools"].as_array().is_some_and(|t| !t.is_empty())
}

pub fn tool_names(req: &Value) -> Vec<String> {
    req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

/// All text in a value: strings, `text` fields and nested contents.
pub fn flatten(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(flatten).collect::<Vec<_>>().join("\n"),
        Value::Object(o) => ["text", "content"]
            .iter()
            .filter_map(|k| o.get(*k))
            .map(flatten)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
