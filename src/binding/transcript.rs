//! Which session file a conversation touched last, read from the tail of the agent's
//! transcript (`transcript_path` in the hook input). Agents that follow the file convention
//! edit session files with their editor tools and never run `sessions`; their tool calls are
//! the only evidence of which file they work in.
//!
//! Only tool *calls* count (their inputs: a file path, a shell command, a patch), never tool
//! results or messages — a listing printed by `ls` or by our own SessionStart context names
//! every file. Known shapes: Claude `{"type":"tool_use","input":{…}}`, Codex
//! `{"type":"function_call"|"custom_tool_call","arguments"|"input":…}`, Gemini
//! `"toolCalls":[{"name","args"}]`. The read is bounded: only the last [`TAIL_BYTES`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::store::Repo;

/// How much of the transcript's end is read.
pub const TAIL_BYTES: u64 = 512 * 1024;

const MARKER: &str = ".agents/sessions/";
/// Keys under a tool call that hold its output, not its input.
const OUTPUT_KEYS: [&str; 5] = ["output", "result", "resultDisplay", "response", "content"];

/// The existing session file of `repo` whose path appears last in a tool call in the tail of
/// `transcript`.
pub fn last_touched(repo: &Repo, transcript: &Path) -> Option<PathBuf> {
    let text = tail(transcript)?;
    let mut last = None;
    for line in text.lines() {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let mut strings = Vec::new();
        tool_inputs(&value, false, &mut strings);
        for s in strings {
            for name in session_names(s) {
                let path = repo.sessions_dir().join(name);
                if path.is_file() {
                    last = Some(path);
                }
            }
        }
    }
    last
}

fn tail(path: &Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let from = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut buf = Vec::with_capacity((len - from) as usize);
    f.take(TAIL_BYTES).read_to_end(&mut buf).ok()?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if from > 0 {
        // The first line is cut; drop it.
        let cut = text.find('\n').map_or(text.len(), |i| i + 1);
        text.drain(..cut);
    }
    Some(text)
}

/// Collects the strings inside tool calls of `v` (in document order).
fn tool_inputs<'a>(v: &'a Value, inside: bool, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if inside => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| tool_inputs(i, inside, out)),
        Value::Object(map) => {
            let call = inside
                || matches!(
                    map.get("type").and_then(Value::as_str),
                    Some("tool_use" | "function_call" | "custom_tool_call" | "local_shell_call")
                );
            for (k, child) in map {
                if call && OUTPUT_KEYS.contains(&k.as_str()) {
                    continue;
                }
                let here =
                    call || matches!(k.as_str(), "toolCalls" | "tool_calls" | "functionCall");
                tool_inputs(child, here, out);
            }
        }
        _ => {}
    }
}

/// File names `X.md` that follow `.agents/sessions/` in `s` (not in subdirectories).
fn session_names(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(MARKER) {
        rest = &rest[i + MARKER.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if name.len() > 3 && name.ends_with(".md") && !name.starts_with('.') {
            out.push(name);
        }
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_at_the_first_character_a_file_name_cannot_hold() {
        assert_eq!(
            session_names(
                "cat /r/.agents/sessions/20250101-000000-a.md && vi .agents/sessions/b.md'"
            ),
            ["20250101-000000-a.md", "b.md"]
        );
        assert!(session_names(".agents/sessions/archive/x.md").is_empty());
        assert!(session_names("ls .agents/sessions/").is_empty());
    }

    #[test]
    fn only_tool_call_inputs_count() {
        let claude: Value = serde_json::from_str(
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"see .agents/sessions/a.md"},{"type":"tool_use","name":"Edit","input":{"file_path":"/r/.agents/sessions/b.md"}}]}}"#,
        )
        .unwrap();
        let mut s = Vec::new();
        tool_inputs(&claude, false, &mut s);
        assert_eq!(s, ["tool_use", "Edit", "/r/.agents/sessions/b.md"]);
        let result: Value = serde_json::from_str(
            r#"{"type":"user","message":{"content":[{"type":"tool_result","content":".agents/sessions/c.md"}]}}"#,
        )
        .unwrap();
        let mut s = Vec::new();
        tool_inputs(&result, false, &mut s);
        assert!(s.is_empty());
        let gemini: Value = serde_json::from_str(
            r#"{"type":"gemini","toolCalls":[{"name":"replace","args":{"file_path":".agents/sessions/d.md"},"result":[{"x":".agents/sessions/e.md"}]}]}"#,
        )
        .unwrap();
        let mut s = Vec::new();
        tool_inputs(&gemini, false, &mut s);
        assert_eq!(s, ["replace", ".agents/sessions/d.md"]);
    }
}
