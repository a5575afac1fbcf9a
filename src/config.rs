//! `.agents/config.yaml`: stale threshold, agent definitions, log cap and notify command.
//! A missing file means the defaults; a malformed one is a usage error pointing at the line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::session::document::position;
use crate::session::yaml::{self, Kind, Node};

/// The commented config `sessions init` writes: the defaults, and working agent templates for
/// Claude Code, Codex CLI and Gemini CLI.
pub const DEFAULT_CONFIG: &str = include_str!("../templates/config.yaml");

#[derive(Debug, Clone)]
pub struct AgentDef {
    pub command: Vec<String>,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    pub runner: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub stale_after: Duration,
    pub agents: BTreeMap<String, AgentDef>,
    pub log_cap: u64,
    pub notify: Option<Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stale_after: Duration::from_secs(24 * 3600),
            agents: BTreeMap::new(),
            log_cap: 50 * 1024 * 1024,
            notify: None,
        }
    }
}

impl Config {
    /// Loads the config at `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config> {
        // Opening a FIFO (or a device) for reading would block: look before opening.
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.is_file()
        {
            return Err(Error::Usage(format!(
                "{} is not a regular file; replace it with the YAML config (or remove it for the defaults)",
                path.display()
            )));
        }
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text).map_err(|(offset, msg)| {
                let (line, col) = position(&text, offset);
                Error::Usage(format!("{}:{line}:{col}: {msg}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(Error::read(path, e)),
        }
    }

    /// Parses config text; errors carry a byte offset and a message.
    pub fn parse(text: &str) -> Result<Config, (usize, String)> {
        let mut config = Config::default();
        let root =
            yaml::parse(text, 0).map_err(|e| (e.offset, format!("invalid YAML: {}", e.message)))?;
        let Some(root) = root.filter(|r| !r.is_null()) else {
            return Ok(config);
        };
        if !root.is_map() {
            return Err((
                root.span.start,
                "the config must be a mapping of keys".into(),
            ));
        }
        for (key, value) in root.entries() {
            if value.is_null() {
                continue;
            }
            match key.as_str().unwrap_or("") {
                "stale_after" => {
                    let s = scalar(value, "stale_after")?;
                    config.stale_after = parse_duration(s)
                        .map_err(|e| (value.span.start, format!("stale_after: {e}")))?;
                }
                "log_cap" => config.log_cap = parse_size(value)?,
                "notify" => config.notify = Some(string_list(value, "notify")?),
                "agents" => {
                    for (key, def) in value.entries() {
                        let name = scalar(key, "agent name")?.to_string();
                        let parsed = agent_def(&name, def)?;
                        if config.agents.insert(name.clone(), parsed).is_some() {
                            return Err((
                                key.span.start,
                                format!("agent `{name}` is defined twice; keep one definition"),
                            ));
                        }
                    }
                    if !value.is_map() {
                        return Err((
                            value.span.start,
                            "`agents` must be a mapping of name → definition".into(),
                        ));
                    }
                }
                _ => {} // Unknown keys are allowed: newer versions may add some.
            }
        }
        Ok(config)
    }
}

fn scalar<'a>(node: &'a Node, what: &str) -> Result<&'a str, (usize, String)> {
    node.as_str().ok_or_else(|| {
        (
            node.span.start,
            format!("{what} must be a single value, not {}", node.kind_name()),
        )
    })
}

fn string_list(node: &Node, what: &str) -> Result<Vec<String>, (usize, String)> {
    match &node.kind {
        Kind::Seq(items) => items
            .iter()
            .map(|i| scalar(i, what).map(str::to_owned))
            .collect(),
        _ => Err((
            node.span.start,
            format!(
                "{what} must be an argv list like [prog, arg, …], not {}",
                node.kind_name()
            ),
        )),
    }
}

fn agent_def(name: &str, def: &Node) -> Result<AgentDef, (usize, String)> {
    if !def.is_map() {
        return Err((
            def.span.start,
            format!("agent `{name}` must be a mapping with a `command:` list"),
        ));
    }
    let command = match def.get("command") {
        Some(c) => string_list(c, &format!("agents.{name}.command"))?,
        None => {
            return Err((
                def.span.start,
                format!("agent `{name}` has no `command:` argv list"),
            ));
        }
    };
    if command.is_empty() {
        return Err((
            def.span.start,
            format!("agent `{name}` has an empty command"),
        ));
    }
    let opt = |key: &str| -> Result<Option<String>, (usize, String)> {
        def.get(key)
            .filter(|v| !v.is_null())
            .map(|v| scalar(v, key).map(str::to_owned))
            .transpose()
    };
    let mut env = Vec::new();
    if let Some(e) = def.get("env").filter(|v| !v.is_null()) {
        if !e.is_map() {
            return Err((
                e.span.start,
                format!("agents.{name}.env must be a mapping NAME: value"),
            ));
        }
        for (k, v) in e.entries() {
            env.push((
                scalar(k, "env name")?.to_string(),
                scalar(v, "env value")?.to_string(),
            ));
        }
    }
    let runner = opt("runner")?;
    if let Some(r) = &runner
        && r != "process"
        && r != "tmux"
    {
        return Err((
            def.span.start,
            format!("agents.{name}.runner is `{r}`; use process or tmux"),
        ));
    }
    Ok(AgentDef {
        command,
        cwd: opt("cwd")?,
        env,
        runner,
    })
}

fn parse_size(node: &Node) -> Result<u64, (usize, String)> {
    let s = scalar(node, "log_cap")?.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1024,
        "M" | "MB" | "MIB" => 1024 * 1024,
        "G" | "GB" | "GIB" => 1024 * 1024 * 1024,
        _ => {
            return Err((
                node.span.start,
                format!("log_cap `{s}`: unknown unit (use KB, MB or GB)"),
            ));
        }
    };
    num.parse::<u64>().map(|n| n * mult).map_err(|_| {
        (
            node.span.start,
            format!("log_cap `{s}` is not a size like 50MB"),
        )
    })
}

/// A duration (a flag's or the config's): `humantime` units (`45s`, `30m`, `2h`, `7d`, `1h30m`), with errors
/// in this tool's words (a bare number is the usual slip).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const EXAMPLES: &str = "write it with a unit, e.g. 45s, 30m, 2h or 7d";
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("the duration is empty: {EXAMPLES}"));
    }
    if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("`{t}` has no unit: {t}s, {t}m, {t}h or {t}d?"));
    }
    humantime::parse_duration(t).map_err(|_| format!("`{t}` is not a duration: {EXAMPLES}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_parses_to_defaults() {
        let c = Config::parse(DEFAULT_CONFIG).unwrap();
        assert_eq!(c.stale_after, Duration::from_secs(86400));
        assert_eq!(c.log_cap, 50 * 1024 * 1024);
        let names: Vec<&str> = c.agents.keys().map(String::as_str).collect();
        assert_eq!(names, ["claude", "codex", "gemini"]);
        // Verified against Claude Code 2.1.197, Codex CLI 0.171.0 and Gemini CLI 0.61.0.
        assert_eq!(
            c.agents["claude"].command,
            [
                "claude",
                "-p",
                "--session-id",
                "{conversation_id}",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
                "--allowedTools",
                "Bash(sessions *)",
                "--",
                "{prompt}"
            ]
        );
        assert_eq!(
            c.agents["codex"].command,
            [
                "codex",
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--sandbox",
                "workspace-write",
                "--add-dir",
                ".agents",
                "--",
                "{prompt}"
            ]
        );
        assert_eq!(
            c.agents["gemini"].command,
            [
                "gemini",
                "--prompt={prompt}",
                "--session-id",
                "{conversation_id}",
                "--output-format",
                "stream-json",
                "--approval-mode",
                "auto_edit",
                "--skip-trust"
            ]
        );
        assert!(c.agents.values().all(|a| a.env.is_empty()));
    }

    #[test]
    fn an_agent_defined_twice_is_an_error() {
        let text = "agents:\n  a:\n    command: [x]\n  a:\n    command: [y]\n";
        let (offset, msg) = Config::parse(text).unwrap_err();
        assert!(msg.contains("`a` is defined twice"), "{msg}");
        assert_eq!(&text[offset..offset + 2], "a:");
        assert!(offset > 20);
    }

    #[test]
    fn agents_and_errors() {
        let c = Config::parse(
            "agents:\n  fake:\n    command: [sh, -c, 'echo {task}']\n    env: {A: b}\n",
        )
        .unwrap();
        assert_eq!(c.agents["fake"].command, ["sh", "-c", "echo {task}"]);
        assert_eq!(c.agents["fake"].env, [("A".to_string(), "b".to_string())]);
        assert!(Config::parse("stale_after: soon\n").is_err());
        assert!(Config::parse("agents:\n  x:\n    command: \"claude -p\"\n").is_err());
    }
}
