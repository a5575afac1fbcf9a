//! The OpenAI Responses API as Codex CLI 0.171 uses it through a custom model provider with
//! `wire_api = "responses"`: `POST {base_url}/responses` with `stream: true`, answered with
//! `response.created`, one `response.output_item.done` per output item, `response.completed`.
//! Tool calls are `function_call` items; their results come back as `function_call_output`
//! input items.

use std::sync::Arc;

use serde_json::{Value, json};

use super::mock::{Recorded, Reply, Responder, sse};

/// How Codex 0.171 opens the user message that carries a compaction summary into the new
/// history.
pub const COMPACTED_HANDOFF: &str = "Another language model started to solve this problem";

/// How Codex 0.171's local compaction request (the last user message) begins; the reply's
/// text becomes the summary.
pub const COMPACTION_PROMPT: &str = "You are performing a CONTEXT CHECKPOINT COMPACTION";

/// Each `exec_command` call in turn, then a final text (see `anthropic::Script`).
#[derive(Clone)]
pub struct Script {
    pub prefix: String,
    pub commands: Vec<String>,
    pub text: String,
    /// Reported as the turn's input tokens (drives Codex's auto compaction).
    pub input_tokens: u64,
}

impl Script {
    pub fn text(prefix: &str, text: &str) -> Script {
        Script {
            prefix: prefix.into(),
            commands: Vec::new(),
            text: text.into(),
            input_tokens: 100,
        }
    }

    /// An `exec_command` call (Codex 0.171's shell tool) running `cmd`.
    pub fn exec(mut self, cmd: &str) -> Script {
        self.commands.push(cmd.into());
        self
    }

    pub fn input_tokens(mut self, n: u64) -> Script {
        self.input_tokens = n;
        self
    }

    pub fn reply(&self, req: &Value) -> Reply {
        // After a compaction the earlier calls and their outputs are gone from the history:
        // what remains is Codex's handoff note, so the script is over.
        if user_texts(req)
            .iter()
            .any(|t| t.starts_with(COMPACTED_HANDOFF))
        {
            return response(&[message(&self.text)], self.input_tokens);
        }
        let done = call_output_ids(req)
            .iter()
            .filter(|id| id.starts_with(&self.prefix))
            .count();
        let item = match self.commands.get(done) {
            Some(cmd) => {
                json!({"type": "function_call", "id": format!("fc_{}_{done}", self.prefix),
                "call_id": format!("{}_{done}", self.prefix), "name": "exec_command",
                "arguments": json!({"cmd": cmd}).to_string()})
            }
            None => message(&self.text),
        };
        response(&[item], self.input_tokens)
    }

    pub fn responder(self) -> Responder {
        responder(move |_, body| self.reply(body))
    }
}

/// A responder that hands every Responses request's JSON body to `f` and 404s the rest.
pub fn responder(f: impl Fn(&Recorded, &Value) -> Reply + Send + Sync + 'static) -> Responder {
    Arc::new(move |r: &Recorded| {
        if r.method == "POST" && r.path() == "/v1/responses" {
            match r.json() {
                Some(body) => f(r, &body),
                None => Reply::Status(400),
            }
        } else {
            Reply::Status(404)
        }
    })
}

pub fn message(text: &str) -> Value {
    json!({"type": "message", "role": "assistant", "id": "msg_mock",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

pub fn response(items: &[Value], input_tokens: u64) -> Reply {
    let mut events = vec![(
        "response.created",
        json!({"type": "response.created", "response": {"id": "resp_mock"}}),
    )];
    for item in items {
        events.push((
            "response.output_item.done",
            json!({"type": "response.output_item.done", "item": item}),
        ));
    }
    events.push((
        "response.completed",
        json!({"type": "response.completed", "response": {"id": "resp_mock", "usage": {
            "input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + 20}}}),
    ));
    sse(&events)
}

pub fn call_output_ids(req: &Value) -> Vec<String> {
    items(req)
        .filter(|i| i["type"] == "function_call_output")
        .filter_map(|i| i["call_id"].as_str().map(str::to_owned))
        .collect()
}

pub fn call_output(req: &Value, call_id: &str) -> Option<String> {
    items(req)
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == call_id)
        .map(|i| match &i["output"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
}

/// The texts of the `role: "developer"` messages (where Codex puts SessionStart context).
pub fn developer_texts(req: &Value) -> Vec<String> {
    items(req)
        .filter(|i| i["type"] == "message" && i["role"] == "developer")
        .flat_map(|i| {
            i["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn user_texts(req: &Value) -> Vec<String> {
    items(req)
        .filter(|i| i["type"] == "message" && i["role"] == "user")
        .flat_map(|i| {
            i["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn tool_names(req: &Value) -> Vec<String> {
    req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

fn items(req: &Value) -> impl Iterator<Item = &Value> {
    req["input"].as_array().into_iter().flatten()
}
