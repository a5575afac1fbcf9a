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
    pub runner: Option<crate::agents::RunnerKind>,
    /// Run in a linked git worktree of its own (`spawn --worktree`).
    pub worktree: bool,
    /// argv that continues a recorded conversation (`sessions send`, `restart`); same
    /// placeholders as `command`, `{conversation_id}` being the recorded one. Default: the
    /// built-in one for claude, codex and gemini ([`default_resume`]).
    pub resume: Option<Vec<String>>,
    /// Run on this configured host (`hosts:`) over ssh (`spawn --host`).
    pub host: Option<String>,
}

/// One `hosts:` entry: another machine that runs agents over the system `ssh` in its own
/// checkout of the repository (docs/hosts.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDef {
    /// The ssh destination, `user@host` or a `Host` alias of ~/.ssh/config.
    pub ssh: String,
    /// Absolute path of the repository's checkout on that host.
    pub root: String,
    pub port: Option<u16>,
    /// `-i` key file.
    pub identity: Option<String>,
    /// Extra `-o` options (`ServerAliveInterval=10`) or whole arguments (`-F`, `path`).
    pub ssh_options: Vec<String>,
}

impl AgentDef {
    /// The resume argv: the configured one, else the built-in one for the client that
    /// `command` runs.
    pub fn resume_argv(&self) -> Option<Vec<String>> {
        self.resume
            .clone()
            .or_else(|| default_resume(self.command.first()?))
    }
}

/// The built-in `resume:` argv of the client `program` runs (by its file name), checked
/// against the real clients' `--help` and run against mock model servers (docs/talk.md).
pub fn default_resume(program: &str) -> Option<Vec<String>> {
    let name = Path::new(program).file_name()?.to_str()?;
    let argv: &[&str] = match name {
        "claude" => &[
            "claude",
            "-p",
            "--resume",
            "{conversation_id}",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-mode",
            "acceptEdits",
            "--allowedTools",
            "Bash(sessions *)",
            "--",
            "{prompt}",
        ],
        "codex" => &[
            "codex",
            "exec",
            "--sandbox",
            "workspace-write",
            "--add-dir",
            "{agents_dir}",
            "resume",
            "--json",
            "--skip-git-repo-check",
            "--",
            "{conversation_id}",
            "{prompt}",
        ],
        "gemini" => &[
            "gemini",
            "--resume",
            "{conversation_id}",
            "--prompt={prompt}",
            "--output-format",
            "stream-json",
            "--approval-mode",
            "auto_edit",
            "--skip-trust",
        ],
        _ => return None,
    };
    let mut argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    argv[0] = program.to_string();
    Some(argv)
}

/// One `notify:` target and the events it wants (`finished`, `failed`, `waiting`, `lost`,
/// `cancelled`; empty: all).
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyTarget {
    pub kind: NotifyKind,
    pub events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotifyKind {
    /// argv, run detached with the event JSON on stdin.
    Command(Vec<String>),
    /// HTTP POST of the event JSON.
    Webhook {
        url: String,
        timeout: Duration,
        retries: u32,
    },
    /// `notify-send`, when it is installed.
    Desktop,
}

impl NotifyTarget {
    pub fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event)
    }

    /// How the target is named in messages.
    pub fn name(&self) -> String {
        match &self.kind {
            NotifyKind::Command(argv) => format!("command {}", argv.join(" ")),
            NotifyKind::Webhook { url, .. } => format!("webhook {url}"),
            NotifyKind::Desktop => "desktop".into(),
        }
    }
}

/// The events a target may ask for.
pub const NOTIFY_EVENTS: [&str; 5] = ["finished", "failed", "waiting", "lost", "cancelled"];

#[derive(Debug, Clone)]
pub struct Config {
    pub stale_after: Duration,
    pub agents: BTreeMap<String, AgentDef>,
    pub log_cap: u64,
    pub notify: Vec<NotifyTarget>,
    /// Where `spawn --worktree` puts worktrees, relative to the repository root (`{repo}` is
    /// its directory name); `None`: `crate::worktree::DEFAULT_DIR`.
    pub worktree_dir: Option<String>,
    /// `hosts:` by name.
    pub hosts: BTreeMap<String, HostDef>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stale_after: Duration::from_secs(24 * 3600),
            agents: BTreeMap::new(),
            log_cap: 50 * 1024 * 1024,
            notify: Vec::new(),
            worktree_dir: None,
            hosts: BTreeMap::new(),
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
                "notify" => config.notify = notify_targets(value)?,
                "worktree_dir" => {
                    config.worktree_dir = Some(scalar(value, "worktree_dir")?.to_string())
                }
                "hosts" => {
                    if !value.is_map() {
                        return Err((
                            value.span.start,
                            "`hosts` must be a mapping of name → {ssh: user@host, root: /path}"
                                .into(),
                        ));
                    }
                    for (key, def) in value.entries() {
                        let name = scalar(key, "host name")?.to_string();
                        let parsed = host_def(&name, def)?;
                        if config.hosts.insert(name.clone(), parsed).is_some() {
                            return Err((
                                key.span.start,
                                format!("host `{name}` is defined twice; keep one definition"),
                            ));
                        }
                    }
                }
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
        for (name, def) in &config.agents {
            if let Some(h) = &def.host
                && !config.hosts.contains_key(h)
            {
                let at = text.find(&format!("host: {h}")).unwrap_or(0);
                return Err((
                    at,
                    unknown_host_message(&format!("agents.{name}.host"), h, &config),
                ));
            }
        }
        Ok(config)
    }

    /// The host named `name`, or an error naming the configured ones.
    pub fn host(&self, name: &str) -> std::result::Result<&HostDef, String> {
        self.hosts
            .get(name)
            .ok_or_else(|| unknown_host_message("--host", name, self))
    }
}

fn unknown_host_message(what: &str, name: &str, config: &Config) -> String {
    let names: Vec<&str> = config.hosts.keys().map(String::as_str).collect();
    let known = if names.is_empty() {
        "no hosts are configured".to_string()
    } else {
        format!("configured: {}", names.join(", "))
    };
    let close = crate::suggest::one(name, &names)
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default();
    format!(
        "{what} names host `{name}`, which is not under `hosts:` ({known}); {close}add it as `hosts: {{{name}: {{ssh: user@machine, root: /path/to/checkout}}}}` in .agents/config.yaml"
    )
}

fn host_def(name: &str, def: &Node) -> Result<HostDef, (usize, String)> {
    if !def.is_map() {
        return Err((
            def.span.start,
            format!(
                "host `{name}` must be a mapping like {{ssh: user@machine, root: /path/to/checkout}}"
            ),
        ));
    }
    let opt = |key: &str| -> Result<Option<(String, usize)>, (usize, String)> {
        def.get(key)
            .filter(|v| !v.is_null())
            .map(|v| {
                scalar(v, &format!("hosts.{name}.{key}")).map(|s| (s.to_owned(), v.span.start))
            })
            .transpose()
    };
    let Some((ssh, at)) = opt("ssh")? else {
        return Err((
            def.span.start,
            format!(
                "host `{name}` has no `ssh:` destination (user@machine or an ~/.ssh/config alias)"
            ),
        ));
    };
    if ssh.is_empty() || ssh.starts_with('-') || ssh.contains(char::is_whitespace) {
        return Err((
            at,
            format!(
                "hosts.{name}.ssh is `{ssh}`; write the destination as user@machine (options go in ssh_options)"
            ),
        ));
    }
    let Some((root, at)) = opt("root")? else {
        return Err((
            def.span.start,
            format!(
                "host `{name}` has no `root:` (the absolute path of the repository's checkout there)"
            ),
        ));
    };
    if !root.starts_with('/') {
        return Err((
            at,
            format!("hosts.{name}.root is `{root}`; it must be an absolute path on that host"),
        ));
    }
    let port = match opt("port")? {
        None => None,
        Some((p, at)) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            (
                at,
                format!("hosts.{name}.port is `{p}`; use a port number from 1 to 65535"),
            )
        })?),
    };
    let ssh_options = match def.get("ssh_options").filter(|v| !v.is_null()) {
        Some(o) => string_list(o, &format!("hosts.{name}.ssh_options"))?,
        None => Vec::new(),
    };
    Ok(HostDef {
        ssh,
        root,
        port,
        identity: opt("identity")?.map(|(s, _)| s),
        ssh_options,
    })
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
    let resume = match def.get("resume").filter(|v| !v.is_null()) {
        Some(r) => Some(string_list(r, &format!("agents.{name}.resume"))?),
        None => None,
    };
    let runner = match opt("runner")? {
        None => None,
        Some(r) => Some(crate::agents::RunnerKind::parse(&r).ok_or_else(|| {
            (
                def.span.start,
                format!("agents.{name}.runner is `{r}`; use process or tmux"),
            )
        })?),
    };
    let worktree = match opt("worktree")?.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err((
                def.span.start,
                format!("agents.{name}.worktree is `{other}`; use true or false"),
            ));
        }
    };
    Ok(AgentDef {
        command,
        cwd: opt("cwd")?,
        env,
        runner,
        worktree,
        resume,
        host: opt("host")?,
    })
}

/// `notify:` is a list of targets (`- command: [argv]`, `- webhook: URL`, `- desktop: true`,
/// each with optional `events: [...]`), or, as before, one argv list (a command for every
/// event).
fn notify_targets(node: &Node) -> Result<Vec<NotifyTarget>, (usize, String)> {
    let items = match &node.kind {
        Kind::Seq(items) => items,
        _ => {
            return Err((
                node.span.start,
                format!(
                    "notify must be a list of targets (- command: [prog, arg], - webhook: URL, - desktop: true), not {}",
                    node.kind_name()
                ),
            ));
        }
    };
    if items.iter().all(|i| i.as_str().is_some()) {
        let argv = string_list(node, "notify")?;
        if argv.is_empty() {
            return Ok(Vec::new());
        }
        return Ok(vec![NotifyTarget {
            kind: NotifyKind::Command(argv),
            events: Vec::new(),
        }]);
    }
    items.iter().map(notify_target).collect()
}

fn notify_target(item: &Node) -> Result<NotifyTarget, (usize, String)> {
    if !item.is_map() {
        return Err((
            item.span.start,
            "each notify target must be a mapping: command: [argv], webhook: URL or desktop: true"
                .into(),
        ));
    }
    let events = match item.get("events").filter(|v| !v.is_null()) {
        Some(e) => {
            let list = string_list(e, "notify events")?;
            if let Some(bad) = list.iter().find(|e| !NOTIFY_EVENTS.contains(&e.as_str())) {
                return Err((
                    e.span.start,
                    format!(
                        "unknown notify event `{bad}`; use {}",
                        NOTIFY_EVENTS.join(", ")
                    ),
                ));
            }
            list
        }
        None => Vec::new(),
    };
    let kind = if let Some(c) = item.get("command") {
        let argv = string_list(c, "notify command")?;
        if argv.is_empty() {
            return Err((c.span.start, "notify command is empty".into()));
        }
        NotifyKind::Command(argv)
    } else if let Some(w) = item.get("webhook") {
        let url = scalar(w, "notify webhook")?.to_string();
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err((
                w.span.start,
                format!("notify webhook `{url}` must be an http:// or https:// URL"),
            ));
        }
        let timeout = match item.get("timeout").filter(|v| !v.is_null()) {
            Some(t) => {
                let s = scalar(t, "timeout")?;
                humantime::parse_duration(s).map_err(|e| {
                    (
                        t.span.start,
                        format!("notify timeout `{s}`: {e} (write e.g. 5s)"),
                    )
                })?
            }
            None => Duration::from_secs(5),
        };
        let retries = match item.get("retries").filter(|v| !v.is_null()) {
            Some(r) => {
                let s = scalar(r, "retries")?;
                s.parse::<u32>().ok().filter(|n| *n <= 10).ok_or_else(|| {
                    (
                        r.span.start,
                        format!("notify retries `{s}` must be a number from 0 to 10"),
                    )
                })?
            }
            None => 2,
        };
        NotifyKind::Webhook {
            url,
            timeout,
            retries,
        }
    } else if item.get("desktop").is_some() {
        NotifyKind::Desktop
    } else {
        return Err((
            item.span.start,
            "a notify target needs command: [argv], webhook: URL or desktop: true".into(),
        ));
    };
    Ok(NotifyTarget { kind, events })
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
mod tests;
