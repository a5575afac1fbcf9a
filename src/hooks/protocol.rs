//! Wire types for the agents' hook protocol (Claude Code first; Codex CLI and
//! Gemini CLI send the same common fields).
//!
//! Input is parsed leniently: unknown fields are ignored, every field is
//! optional, and a field of the wrong type reads as absent instead of failing
//! the whole input. Only input that is not a JSON object at all is an error.

use std::convert::Infallible;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Claude Code caps hook context strings at 10,000 characters.
pub const CONTEXT_CAP: usize = 10_000;

/// The JSON object an agent writes to a hook's stdin.
///
/// Empty or whitespace-only strings read as `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct HookInput {
    /// The harness conversation id (shared by a conversation and its subagents).
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_path")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript_path: Option<PathBuf>,
    /// The directory the agent is working in (follows `cd` and worktrees).
    #[serde(default, deserialize_with = "lenient_path")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_event_name: Option<String>,
    /// SessionStart: `startup | resume | clear | compact | fork`.
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// SessionEnd: `clear | resume | logout | prompt_input_exit | exit | other`.
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// PreCompact / PreCompress: `manual | auto`.
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// PreCompact (Claude only): the text after `/compact`.
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_instructions: Option<String>,
    /// Present only inside a subagent.
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Present inside a subagent, and also in a main conversation started
    /// with `claude --agent NAME`.
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// PermissionRequest and tool hooks: the tool.
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Notification: `permission_prompt`, `idle_prompt`, … (Gemini: `ToolPermission`).
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<String>,
    /// Stop (Claude, Codex): the turn's last answer.
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_assistant_message: Option<String>,
    /// AfterAgent (Gemini): the turn's answer.
    #[serde(default, deserialize_with = "lenient_string")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_response: Option<String>,
}

impl HookInput {
    /// Parses hook stdin. The error is one line, fit for a single stderr line
    /// before the hook exits 0.
    pub fn parse(bytes: &[u8]) -> Result<HookInput, String> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err("no hook JSON on stdin (it was empty); nothing to do".to_string());
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("hook stdin is not valid JSON ({e}); nothing to do"))?;
        if !value.is_object() {
            return Err(format!(
                "hook stdin must be a JSON object, not {}; nothing to do",
                json_kind(&value)
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| format!("hook stdin could not be read ({e}); nothing to do"))
    }

    /// True inside a subagent (Claude/Codex add `agent_id` there). A main
    /// conversation started with `--agent` has `agent_type` but no `agent_id`.
    pub fn is_subagent(&self) -> bool {
        self.agent_id.is_some()
    }

    /// The event, if the input names one.
    pub fn event(&self) -> Option<HookEvent> {
        self.hook_event_name.as_deref().map(HookEvent::parse)
    }

    /// SessionStart's `source`, if present.
    pub fn start_source(&self) -> Option<StartSource> {
        self.source.as_deref().map(StartSource::parse)
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        _ => None,
    })
}

fn lenient_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    Ok(lenient_string(d)?.map(PathBuf::from))
}

/// How a JSON value's type is named in messages ("an array", "null").
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why a SessionStart fired. Parsed leniently: case and surrounding
/// whitespace are ignored; anything else is kept as [`StartSource::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StartSource {
    Startup,
    Resume,
    Clear,
    Compact,
    Fork,
    Unknown(String),
}

impl StartSource {
    pub fn parse(s: &str) -> StartSource {
        match s.trim().to_ascii_lowercase().as_str() {
            "startup" => StartSource::Startup,
            "resume" => StartSource::Resume,
            "clear" => StartSource::Clear,
            "compact" => StartSource::Compact,
            "fork" => StartSource::Fork,
            _ => StartSource::Unknown(s.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            StartSource::Startup => "startup",
            StartSource::Resume => "resume",
            StartSource::Clear => "clear",
            StartSource::Compact => "compact",
            StartSource::Fork => "fork",
            StartSource::Unknown(s) => s,
        }
    }

    /// After compaction or on resume, the bound session's state is re-injected.
    pub fn reinjects_bound_session(&self) -> bool {
        matches!(self, StartSource::Compact | StartSource::Resume)
    }
}

impl FromStr for StartSource {
    type Err = Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(StartSource::parse(s))
    }
}

impl fmt::Display for StartSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `hook_event_name`, parsed leniently. Gemini's `PreCompress` reads as
/// [`HookEvent::PreCompact`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookEvent {
    SessionStart,
    SessionEnd,
    PreCompact,
    SubagentStart,
    Stop,
    Notification,
    Other(String),
}

impl HookEvent {
    pub fn parse(s: &str) -> HookEvent {
        match s.trim() {
            "SessionStart" => HookEvent::SessionStart,
            "SessionEnd" => HookEvent::SessionEnd,
            "PreCompact" | "PreCompress" => HookEvent::PreCompact,
            "SubagentStart" => HookEvent::SubagentStart,
            "Stop" => HookEvent::Stop,
            "Notification" => HookEvent::Notification,
            _ => HookEvent::Other(s.to_string()),
        }
    }
}

/// SessionStart's structured output:
/// `{"hookSpecificOutput":{"hookEventName":"SessionStart","additionalContext":"…"}}`.
/// Gemini needs this JSON form (plain stdout is not context there); Claude and
/// Codex accept it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStartOutput {
    #[serde(rename = "hookSpecificOutput")]
    pub hook_specific_output: HookSpecificOutput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookSpecificOutput {
    pub hook_event_name: String,
    pub additional_context: String,
}

impl SessionStartOutput {
    /// Output for SessionStart; `context` is capped with [`cap_context`] at
    /// [`CONTEXT_CAP`].
    pub fn new(context: &str) -> SessionStartOutput {
        SessionStartOutput::for_event("SessionStart", context)
    }

    /// The same shape for another context-bearing event (e.g. `SubagentStart`).
    pub fn for_event(event: &str, context: &str) -> SessionStartOutput {
        SessionStartOutput {
            hook_specific_output: HookSpecificOutput {
                hook_event_name: event.to_string(),
                additional_context: cap_context(context, CONTEXT_CAP),
            },
        }
    }

    /// Compact one-line JSON (no trailing newline).
    pub fn to_json(&self) -> String {
        // Serialising two strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Caps `text` at `max_chars` characters (not bytes). When it is longer, keeps
/// whole lines that fit and appends a note naming how many lines were left
/// out; the result never exceeds `max_chars`. A single first line longer
/// than the cap is cut inside the line.
pub fn cap_context(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let note = |n: usize| {
        let lines = if n == 1 { "line" } else { "lines" };
        format!("… (truncated: {n} more {lines}; run `sessions list`)")
    };
    // Reserve room for the longest note we could need (+1 for a newline).
    let reserve = note(lines.len()).chars().count() + 1;
    if reserve >= max_chars {
        return note(lines.len()).chars().take(max_chars).collect();
    }
    let budget = max_chars - reserve;

    let mut out = String::new();
    let mut used = 0;
    let mut kept = 0;
    for line in &lines {
        let n = line.chars().count();
        if used + n > budget {
            break;
        }
        out.push_str(line);
        used += n;
        kept += 1;
    }
    if kept == 0 {
        out.extend(lines[0].chars().take(budget));
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&note(lines.len() - kept));
    out
}

/// The agent CLIs `sessions` can install hooks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agent {
    Claude,
    Codex,
    Gemini,
}

impl Agent {
    pub const ALL: [Agent; 3] = [Agent::Claude, Agent::Codex, Agent::Gemini];

    /// The name used on the command line (`--agent claude`).
    pub fn as_str(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
        }
    }

    /// The product name, for messages.
    pub fn product_name(self) -> &'static str {
        match self {
            Agent::Claude => "Claude Code",
            Agent::Codex => "Codex CLI",
            Agent::Gemini => "Gemini CLI",
        }
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent `{0}`: expected claude, codex or gemini")]
pub struct ParseAgentError(pub String);

impl FromStr for Agent {
    type Err = ParseAgentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "claude" | "claude-code" | "claude_code" => Ok(Agent::Claude),
            "codex" | "codex-cli" => Ok(Agent::Codex),
            "gemini" | "gemini-cli" => Ok(Agent::Gemini),
            _ => Err(ParseAgentError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Recorded hook stdin, relative to the crate root.
    const FIXTURES_DIR: &str = "tests/fixtures/hooks";

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(FIXTURES_DIR)
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn session_start_each_source() {
        for (file, want) in [
            ("claude-session-start-startup.json", StartSource::Startup),
            ("claude-session-start-resume.json", StartSource::Resume),
            ("claude-session-start-clear.json", StartSource::Clear),
            ("claude-session-start-compact.json", StartSource::Compact),
            ("claude-session-start-fork.json", StartSource::Fork),
            ("codex-session-start-startup.json", StartSource::Startup),
            ("gemini-session-start-startup.json", StartSource::Startup),
        ] {
            let input = HookInput::parse(&fixture(file)).unwrap();
            assert_eq!(input.event(), Some(HookEvent::SessionStart), "{file}");
            assert_eq!(input.start_source(), Some(want), "{file}");
            assert!(input.session_id.is_some(), "{file}");
            assert!(input.cwd.is_some(), "{file}");
            assert!(!input.is_subagent(), "{file}");
        }
    }

    #[test]
    fn session_end_and_pre_compact() {
        let end = HookInput::parse(&fixture("claude-session-end.json")).unwrap();
        assert_eq!(end.event(), Some(HookEvent::SessionEnd));
        assert_eq!(end.reason.as_deref(), Some("prompt_input_exit"));

        let pc = HookInput::parse(&fixture("claude-pre-compact-auto.json")).unwrap();
        assert_eq!(pc.event(), Some(HookEvent::PreCompact));
        assert_eq!(pc.trigger.as_deref(), Some("auto"));
        assert_eq!(pc.custom_instructions, None, "empty string reads as None");

        let pc = HookInput::parse(&fixture("claude-pre-compact-manual.json")).unwrap();
        assert_eq!(pc.trigger.as_deref(), Some("manual"));
        assert!(pc.custom_instructions.unwrap().contains("session file"));

        let pc = HookInput::parse(&fixture("gemini-pre-compress.json")).unwrap();
        assert_eq!(pc.event(), Some(HookEvent::PreCompact));
        assert_eq!(pc.hook_event_name.as_deref(), Some("PreCompress"));
    }

    #[test]
    fn subagent_input() {
        let sub = HookInput::parse(&fixture("claude-subagent-start.json")).unwrap();
        assert!(sub.is_subagent());
        assert_eq!(sub.event(), Some(HookEvent::SubagentStart));
        assert_eq!(sub.agent_type.as_deref(), Some("Explore"));

        // `claude --agent NAME` main thread: agent_type without agent_id.
        let main = HookInput::parse(
            br#"{"session_id":"s","hook_event_name":"SessionStart","agent_type":"reviewer"}"#,
        )
        .unwrap();
        assert!(!main.is_subagent());
    }

    #[test]
    fn unknown_and_mistyped_fields_are_tolerated() {
        let input = HookInput::parse(&fixture("claude-session-start-extra-fields.json")).unwrap();
        assert_eq!(input.start_source(), Some(StartSource::Startup));
        assert_eq!(
            input.session_id.as_deref(),
            Some("0b6f3c7e-5d41-4b8e-9a0f-2f7c1d9e4a10")
        );

        let odd = HookInput::parse(
            br#"{"session_id": 42, "cwd": null, "source": ["x"], "hook_event_name": "SessionStart"}"#,
        )
        .unwrap();
        assert_eq!(odd.session_id, None);
        assert_eq!(odd.cwd, None);
        assert_eq!(odd.source, None);
        assert_eq!(odd.event(), Some(HookEvent::SessionStart));

        let future = HookInput::parse(br#"{"source":"Teleport"}"#).unwrap();
        assert_eq!(
            future.start_source(),
            Some(StartSource::Unknown("Teleport".to_string()))
        );
        assert_eq!(HookInput::parse(b"{}").unwrap(), HookInput::default());
        // A UTF-8 BOM is skipped.
        assert!(HookInput::parse(b"\xEF\xBB\xBF{\"source\":\"clear\"}").is_ok());
    }

    #[test]
    fn garbage_is_an_error_message() {
        for bad in [
            fixture("garbage.txt"),
            fixture("empty.json"),
            b"   \n\t ".to_vec(),
            b"[1,2]".to_vec(),
            b"null".to_vec(),
            b"\"startup\"".to_vec(),
            b"{\"session_id\":".to_vec(),
            vec![0xff, 0xfe, 0x00],
        ] {
            let err = HookInput::parse(&bad).unwrap_err();
            assert!(!err.contains('\n'), "one line: {err}");
            assert!(!err.is_empty());
        }
        assert!(HookInput::parse(b"").unwrap_err().contains("empty"));
        assert!(HookInput::parse(b"{\"a\":").unwrap_err().contains("line 1"));
    }

    #[test]
    fn start_source_parse_is_lenient() {
        assert_eq!(StartSource::parse(" Compact "), StartSource::Compact);
        assert_eq!("fork".parse::<StartSource>(), Ok(StartSource::Fork));
        assert!(StartSource::Resume.reinjects_bound_session());
        assert!(!StartSource::Startup.reinjects_bound_session());
        assert_eq!(StartSource::Unknown("x".into()).to_string(), "x");
    }

    #[test]
    fn session_start_output_shape() {
        let out = SessionStartOutput::new("2 active sessions\n- a");
        assert_eq!(
            out.to_json(),
            r#"{"hookSpecificOutput":{"hookEventName":"SessionStart","additionalContext":"2 active sessions\n- a"}}"#
        );
        let long = "x\n".repeat(20_000);
        let out = SessionStartOutput::new(&long);
        assert!(out.hook_specific_output.additional_context.chars().count() <= CONTEXT_CAP);
    }

    #[test]
    fn cap_context_short_text_unchanged() {
        assert_eq!(cap_context("a\nb\n", 100), "a\nb\n");
        assert_eq!(cap_context("", 0), "");
        let exact = "é".repeat(50);
        assert_eq!(cap_context(&exact, 50), exact, "counts chars, not bytes");
    }

    #[test]
    fn cap_context_cuts_at_line_boundary() {
        let text: String = (0..500)
            .map(|i| format!("line {i:03} ........\n"))
            .collect();
        let capped = cap_context(&text, 1_000);
        assert!(capped.chars().count() <= 1_000);
        let (kept, note) = capped.rsplit_once('\n').unwrap();
        assert!(note.starts_with("… (truncated: "));
        assert!(note.ends_with("; run `sessions list`)"));
        let kept_lines = kept.lines().count();
        assert!(kept_lines > 0);
        assert!(kept.lines().all(|l| l.len() == "line 000 ........".len()));
        assert!(note.contains(&format!("{} more lines", 500 - kept_lines)));
        assert!(text.starts_with(&format!("{kept}\n")));
    }

    #[test]
    fn cap_context_degenerate_cases() {
        let one_long_line = "y".repeat(5_000);
        let capped = cap_context(&one_long_line, 200);
        assert!(capped.chars().count() <= 200);
        assert!(capped.starts_with("yyyy"));
        assert!(capped.contains("truncated: 1 more line;"));

        let tiny = cap_context(&one_long_line, 10);
        assert_eq!(tiny.chars().count(), 10);

        let multibyte = "ü".repeat(300) + "\n" + &"ö".repeat(300);
        let capped = cap_context(&multibyte, 400);
        assert!(capped.chars().count() <= 400);
        assert!(capped.starts_with(&"ü".repeat(300)));
        assert!(capped.contains("truncated: 1 more line;"));
    }

    #[test]
    fn agent_from_str_and_display() {
        for a in Agent::ALL {
            assert_eq!(a.to_string().parse::<Agent>(), Ok(a));
        }
        assert_eq!(" Claude-Code ".parse::<Agent>(), Ok(Agent::Claude));
        let err = "cursor".parse::<Agent>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown agent `cursor`: expected claude, codex or gemini"
        );
    }
}
