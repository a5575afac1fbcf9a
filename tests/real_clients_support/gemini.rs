//! The Gemini API as Gemini CLI 0.61 uses it with `GOOGLE_GEMINI_BASE_URL`:
//! `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse`, answered with data-only SSE
//! events that each hold a `GenerateContentResponse`. Tool calls are `functionCall` parts;
//! results come back as `functionResponse` parts. Other calls (`:generateContent` for the
//! model router, `:countTokens`) get a 404, which the client tolerates.

use std::sync::Arc;

use serde_json::{Value, json};

use super::mock::{Recorded, Reply, Responder, sse};

/// Each `run_shell_command` call in turn, then a final text (see `anthropic::Script`).
#[derive(Clone)]
pub struct Script {
    pub prefix: String,
    pub commands: Vec<String>,
    pub text: String,
}

impl Script {
    pub fn text(prefix: &str, text: &str) -> Script {
        Script {
            prefix: prefix.into(),
            commands: Vec::new(),
            text: text.into(),
        }
    }

    pub fn shell(mut self, command: &str) -> Script {
        self.commands.push(command.into());
        self
    }

    pub fn reply(&self, req: &Value) -> Reply {
        let done = function_response_ids(req)
            .iter()
            .filter(|id| id.starts_with(&self.prefix))
            .count();
        match self.commands.get(done) {
            Some(cmd) => chunk(json!({"functionCall": {
                "id": format!("{}_{done}", self.prefix),
                "name": "run_shell_command",
                "args": {"command": cmd, "description": "run a sessions command"}}})),
            None => chunk(json!({"text": self.text})),
        }
    }

    pub fn responder(self) -> Responder {
        responder(move |_, body| self.reply(body))
    }
}

/// A responder that hands every `streamGenerateContent` body to `f` and 404s the rest.
pub fn responder(f: impl Fn(&Recorded, &Value) -> Reply + Send + Sync + 'static) -> Responder {
    Arc::new(move |r: &Recorded| {
        if r.method == "POST" && r.path().ends_with(":streamGenerateContent") {
            match r.json() {
                Some(body) => f(r, &body),
                None => Reply::Status(400),
            }
        } else {
            Reply::Status(404)
        }
    })
}

fn chunk(part: Value) -> Reply {
    sse(&[(
        "",
        json!({"candidates": [{"content": {"role": "model", "parts": [part]},
                               "finishReason": "STOP", "index": 0}],
               "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
                                 "totalTokenCount": 120}}),
    )])
}

fn parts(req: &Value) -> impl Iterator<Item = (&str, &Value)> {
    req["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| {
            let role = c["role"].as_str().unwrap_or("");
            c["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |p| (role, p))
        })
}

pub fn function_response_ids(req: &Value) -> Vec<String> {
    parts(req)
        .filter_map(|(_, p)| p["functionResponse"]["id"].as_str().map(str::to_owned))
        .collect()
}

pub fn function_response(req: &Value, id: &str) -> Option<String> {
    parts(req)
        .find(|(_, p)| p["functionResponse"]["id"] == id)
        .map(|(_, p)| p["functionResponse"]["response"].to_string())
}

/// Every text part the user side sent (Gemini puts hook context in front of the prompt).
pub fn user_texts(req: &Value) -> Vec<String> {
    parts(req)
        .filter(|(role, _)| *role == "user")
        .filter_map(|(_, p)| p["text"].as_str().map(str::to_owned))
        .collect()
}

pub fn tool_names(req: &Value) -> Vec<String> {
    req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["functionDeclarations"].as_array().into_iter().flatten())
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect()
}
