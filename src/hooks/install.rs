//! `sessions hooks install|uninstall`: merge our hook entries into an agent's
//! settings file without disturbing anything else in it.
//!
//! The planners read the file, compute the new text and return a [`Plan`];
//! nothing is written until [`Plan::apply`]. Our entries are recognised by
//! their command (`sessions hook …`), so a re-install updates them in place
//! and an uninstall removes exactly them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use similar::TextDiff;

use super::protocol::{Agent, json_kind};

/// Every command we install starts with this (after leading whitespace); any
/// hook whose command does is treated as ours.
pub const OUR_COMMAND_PREFIX: &str = "sessions hook ";

/// One row per hook we install. Timeouts are in seconds here; Gemini's file
/// gets milliseconds.
struct HookRow {
    /// Event name for Claude Code and Codex.
    event: &'static str,
    /// Event name for Gemini CLI; `None` where Gemini has no such event.
    gemini_event: Option<&'static str>,
    /// Codex and Gemini get ` --agent <name>` appended: their output rules differ, and log
    /// entries name the agent.
    command: &'static str,
    timeout_secs: u64,
    /// Codex clamps some events (SessionEnd to 3 s) and warns on every start
    /// when a hook asks for more.
    codex_timeout_secs: u64,
    /// Whether Codex gets this event (it has no PermissionRequest, Notification…).
    codex: bool,
}

/// The turn hooks (`sessions hook turn`): working or waiting for the person.
const TURN: &str = "sessions hook turn";

const HOOK_TABLE: [HookRow; 10] = [
    HookRow {
        event: "SessionStart",
        gemini_event: Some("SessionStart"),
        command: "sessions hook session-start",
        timeout_secs: 10,
        codex_timeout_secs: 10,
        codex: true,
    },
    HookRow {
        event: "SubagentStart",
        gemini_event: None,
        command: "sessions hook subagent-start",
        timeout_secs: 10,
        codex_timeout_secs: 10,
        codex: true,
    },
    HookRow {
        event: "SubagentStop",
        gemini_event: None,
        command: "sessions hook subagent-stop",
        timeout_secs: 10,
        codex_timeout_secs: 10,
        codex: true,
    },
    HookRow {
        event: "SessionEnd",
        gemini_event: Some("SessionEnd"),
        command: "sessions hook session-end",
        timeout_secs: 5,
        codex_timeout_secs: 3,
        codex: true,
    },
    HookRow {
        event: "PreCompact",
        gemini_event: Some("PreCompress"),
        command: "sessions hook pre-compact",
        timeout_secs: 10,
        codex_timeout_secs: 10,
        codex: true,
    },
    HookRow {
        event: "UserPromptSubmit",
        gemini_event: Some("BeforeAgent"),
        command: TURN,
        timeout_secs: 5,
        codex_timeout_secs: 5,
        codex: false,
    },
    HookRow {
        event: "PermissionRequest",
        gemini_event: None,
        command: TURN,
        timeout_secs: 5,
        codex_timeout_secs: 5,
        codex: false,
    },
    HookRow {
        event: "PostToolUse",
        gemini_event: None,
        command: TURN,
        timeout_secs: 5,
        codex_timeout_secs: 5,
        codex: false,
    },
    HookRow {
        event: "Notification",
        gemini_event: Some("Notification"),
        command: TURN,
        timeout_secs: 5,
        codex_timeout_secs: 5,
        codex: false,
    },
    HookRow {
        event: "Stop",
        gemini_event: Some("AfterAgent"),
        command: TURN,
        timeout_secs: 5,
        codex_timeout_secs: 5,
        codex: true,
    },
];

/// A hook entry as it is written for one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredHook {
    /// Event key under `hooks` (`PreCompress` for Gemini).
    pub event: &'static str,
    pub command: String,
    /// In the agent's unit: seconds for Claude/Codex, milliseconds for Gemini.
    pub timeout: u64,
}

/// The entries `hooks install` writes for `agent`, in file order.
pub fn desired_hooks(agent: Agent) -> Vec<DesiredHook> {
    HOOK_TABLE
        .iter()
        .filter_map(|row| {
            let mut command = row.command.to_string();
            if agent != Agent::Claude {
                command.push_str(" --agent ");
                command.push_str(agent.as_str());
            }
            let (event, timeout) = match agent {
                Agent::Claude => (row.event, row.timeout_secs),
                Agent::Codex if !row.codex => return None,
                Agent::Codex => (row.event, row.codex_timeout_secs),
                Agent::Gemini => (row.gemini_event?, row.timeout_secs * 1000),
            };
            Some(DesiredHook {
                event,
                command,
                timeout,
            })
        })
        .collect()
}

/// Caveats to print after installing for `agent`.
pub fn notes(agent: Agent) -> &'static str {
    match agent {
        Agent::Claude => {
            "Claude Code runs these hooks in new conversations started in this project \
             (review them with `/hooks`). `claude --bare` and `--safe-mode` run no hooks, \
             so active sessions are not listed there."
        }
        Agent::Codex => {
            "Codex does not run project hooks until you approve them: start Codex here, open \
             the `/hooks` view and trust each `sessions hook` entry. Approval is per hook \
             definition, so approve again after an install that changed one. Headless \
             `codex exec` skips unapproved hooks without a word (nothing on stdout, stderr or \
             in its JSON): approve them once in the interactive `/hooks` view, or run \
             `codex exec --dangerously-bypass-hook-trust` for runs you trust. Codex caps \
             SessionEnd hooks at 3 seconds."
        }
        Agent::Gemini => {
            "Gemini CLI hook timeouts are in milliseconds (written as 10000 and 5000), and a \
             hook's stdout must be JSON, which `sessions hook session-start --agent gemini` \
             prints. Gemini's pre-compaction event is called PreCompress. With folder trust \
             enabled, Gemini ignores project settings until the folder is trusted."
        }
    }
}

/// Errors from planning or applying an install. Each message names the file
/// and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "--local is only supported for Claude Code (.claude/settings.local.json); {} has no \
         local settings file, so run the command without --local",
        agent.product_name()
    )]
    LocalUnsupported { agent: Agent },

    #[error("could not read {}: {source}; nothing was changed", path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error(
        "{} is not valid UTF-8, so it was left untouched; save it as UTF-8 and run the command again",
        path.display()
    )]
    NotUtf8 { path: PathBuf },

    #[error(
        "{}:{line}:{column}: not valid JSON ({message}); the file was left untouched. Fix it \
         (or move it aside) and run the command again",
        path.display()
    )]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error(
        "{}: {what} must be a JSON object but is {found}; the file was left untouched. Fix it \
         and run the command again",
        path.display()
    )]
    NotAnObject {
        path: PathBuf,
        what: String,
        found: &'static str,
    },

    #[error(
        "{}: `hooks.{event}` must be a JSON array of hook groups but is {found}; the file was \
         left untouched. Fix it and run the command again",
        path.display()
    )]
    EventNotArray {
        path: PathBuf,
        event: String,
        found: &'static str,
    },

    #[error(
        "{}: a `<!-- sessions:begin -->` line has no `<!-- sessions:end -->` after it, so the \
         file was left untouched; remove the half block (or add the end line) and run the \
         command again",
        path.display()
    )]
    UnclosedBlock { path: PathBuf },

    #[error(
        "{} changed on disk after it was read, so nothing was written; run the command again",
        path.display()
    )]
    Conflict { path: PathBuf },

    #[error(
        "could not write {}: {source}; the existing file was left as it was",
        path.display()
    )]
    Write { path: PathBuf, source: io::Error },
}

/// The settings file `hooks install` edits for `agent` under the project root.
pub fn settings_path(root: &Path, agent: Agent, local: bool) -> Result<PathBuf, InstallError> {
    match (agent, local) {
        (Agent::Claude, false) => Ok(root.join(".claude").join("settings.json")),
        (Agent::Claude, true) => Ok(root.join(".claude").join("settings.local.json")),
        (Agent::Codex, false) => Ok(root.join(".codex").join("hooks.json")),
        (Agent::Gemini, false) => Ok(root.join(".gemini").join("settings.json")),
        (agent, true) => Err(InstallError::LocalUnsupported { agent }),
    }
}

/// What an install or uninstall would do to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub path: PathBuf,
    /// The file's text as read; `None` when it did not exist.
    pub before: Option<String>,
    /// The text to write; equal to `before` (or empty) when nothing changes.
    pub after: String,
    /// False when the file already says what we want: `apply` writes nothing.
    pub changed: bool,
}

impl Plan {
    /// A unified diff from `before` to `after`, labelled with the path
    /// (`/dev/null` for a new file). Empty when nothing changes.
    pub fn diff(&self) -> String {
        if !self.changed {
            return String::new();
        }
        let new_label = self.path.display().to_string();
        let old_label = match self.before {
            Some(_) => new_label.clone(),
            None => "/dev/null".to_string(),
        };
        let old = self.before.as_deref().unwrap_or("");
        let diff = TextDiff::from_lines(old, self.after.as_str());
        let mut unified = diff.unified_diff();
        unified.header(&old_label, &new_label);
        unified.to_string()
    }

    /// Writes `after` atomically (temporary file in the same directory,
    /// fsync, rename), creating the parent directory. Writes nothing and
    /// returns `Ok(false)` when `!changed`. Refuses, writing nothing, if the
    /// file no longer holds `before`. A symlinked settings file is written
    /// through (its target is replaced, the link kept). An empty `after` removes the file.
    pub fn apply(&self) -> Result<bool, InstallError> {
        if !self.changed {
            return Ok(false);
        }
        let current = match fs::read(&self.path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(InstallError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        if current.as_deref() != self.before.as_deref().map(str::as_bytes) {
            return Err(InstallError::Conflict {
                path: self.path.clone(),
            });
        }

        let target = resolve_symlink(&self.path);
        let write_err = |source: io::Error| InstallError::Write {
            path: self.path.clone(),
            source,
        };
        // Removing everything we added from a file we created leaves nothing worth keeping.
        if self.after.is_empty() {
            fs::remove_file(&target).map_err(write_err)?;
            return Ok(true);
        }
        fs::create_dir_all(crate::atomic::parent(&target)).map_err(write_err)?;
        let opts = crate::atomic::Options {
            prefix: ".sessions-hooks-",
            suffix: ".tmp",
            permissions: target_permissions(&target),
            permissions_required: true,
            sync_file: true,
            sync_dir: true,
        };
        crate::atomic::write(&target, self.after.as_bytes(), &opts)
            .map_err(|e| write_err(e.source))?;
        Ok(true)
    }
}

fn resolve_symlink(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// Keep an existing file's mode; a new file gets 0644 (temp files are 0600).
fn target_permissions(target: &Path) -> Option<fs::Permissions> {
    match fs::metadata(target) {
        Ok(meta) => Some(meta.permissions()),
        Err(_) => new_file_permissions(),
    }
}

#[cfg(unix)]
fn new_file_permissions() -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn new_file_permissions() -> Option<fs::Permissions> {
    None
}

/// Plans adding (or updating in place) our hook entries for `agent`.
pub fn plan_install(root: &Path, agent: Agent, local: bool) -> Result<Plan, InstallError> {
    let path = settings_path(root, agent, local)?;
    let desired = desired_hooks(agent);
    plan_with(path, |settings, path| {
        install_into(settings, &desired, path)
    })
}

/// Plans removing our hook entries (from every event) for `agent`.
pub fn plan_uninstall(root: &Path, agent: Agent, local: bool) -> Result<Plan, InstallError> {
    let path = settings_path(root, agent, local)?;
    plan_with(path, uninstall_from)
}

fn plan_with(
    path: PathBuf,
    edit: impl FnOnce(&mut Map<String, Value>, &Path) -> Result<(), InstallError>,
) -> Result<Plan, InstallError> {
    let loaded = load(&path)?;
    let mut settings = loaded.settings.clone();
    edit(&mut settings, &path)?;

    let unchanged = || Plan {
        path: path.clone(),
        after: loaded.text.clone().unwrap_or_default(),
        before: loaded.text.clone(),
        changed: false,
    };
    if settings == loaded.settings {
        return Ok(unchanged());
    }
    let after = render(&settings, &loaded.style);
    if loaded.text.as_deref() == Some(after.as_str()) {
        return Ok(unchanged());
    }
    Ok(Plan {
        before: loaded.text,
        after,
        changed: true,
        path,
    })
}

/// How the existing file is laid out, so a rewrite keeps it.
#[derive(Debug, Clone)]
struct Style {
    indent: String,
    crlf: bool,
    bom: bool,
}

struct Loaded {
    text: Option<String>,
    settings: Map<String, Value>,
    style: Style,
}

fn load(path: &Path) -> Result<Loaded, InstallError> {
    let default_style = Style {
        indent: "  ".to_string(),
        crlf: false,
        bom: false,
    };
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Loaded {
                text: None,
                settings: Map::new(),
                style: default_style,
            });
        }
        Err(source) => {
            return Err(InstallError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| InstallError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let style = Style {
        indent: detect_indent(body),
        crlf: body.contains("\r\n"),
        bom,
    };
    if body.trim().is_empty() {
        return Ok(Loaded {
            text: Some(text),
            settings: Map::new(),
            style,
        });
    }
    let value: Value = serde_json::from_str(body).map_err(|e| {
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = e.to_string();
        let message = message
            .strip_suffix(&suffix)
            .unwrap_or(&message)
            .to_string();
        InstallError::Malformed {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    let Value::Object(settings) = value else {
        return Err(InstallError::NotAnObject {
            path: path.to_path_buf(),
            what: "the top level".to_string(),
            found: json_kind(&value),
        });
    };
    Ok(Loaded {
        text: Some(text),
        settings,
        style,
    })
}

/// The first indented line's leading whitespace is one indent unit.
fn detect_indent(text: &str) -> String {
    for line in text.lines() {
        let content = line.trim_start();
        if content.is_empty() || content.len() == line.len() {
            continue;
        }
        let lead = &line[..line.len() - content.len()];
        if lead.starts_with('\t') {
            return "\t".to_string();
        }
        if lead.bytes().all(|b| b == b' ') && lead.len() <= 8 {
            return lead.to_string();
        }
        break;
    }
    "  ".to_string()
}

fn render(settings: &Map<String, Value>, style: &Style) -> String {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(style.indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    // Serialising a `Value` into a Vec cannot fail.
    let _ = settings.serialize(&mut ser);
    let mut out = String::from_utf8_lossy(&buf).into_owned();
    out.push('\n');
    if style.crlf {
        out = out.replace('\n', "\r\n");
    }
    if style.bom {
        out.insert(0, '\u{feff}');
    }
    out
}

fn is_ours(hook: &Value) -> bool {
    hook.get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| c.trim_start().starts_with(OUR_COMMAND_PREFIX))
}

fn hooks_object<'a>(
    settings: &'a mut Map<String, Value>,
    path: &Path,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, InstallError> {
    if create && !settings.contains_key("hooks") {
        settings.insert("hooks".to_string(), Value::Object(Map::new()));
    }
    match settings.get_mut("hooks") {
        None => Ok(None),
        Some(Value::Object(hooks)) => Ok(Some(hooks)),
        Some(other) => Err(InstallError::NotAnObject {
            path: path.to_path_buf(),
            what: "`hooks`".to_string(),
            found: json_kind(other),
        }),
    }
}

fn install_into(
    settings: &mut Map<String, Value>,
    desired: &[DesiredHook],
    path: &Path,
) -> Result<(), InstallError> {
    let Some(hooks) = hooks_object(settings, path, true)? else {
        return Ok(());
    };
    // Check every event first so an error leaves nothing half-edited.
    for d in desired {
        if let Some(v) = hooks.get(d.event).filter(|v| !v.is_array()) {
            return Err(InstallError::EventNotArray {
                path: path.to_path_buf(),
                event: d.event.to_string(),
                found: json_kind(v),
            });
        }
    }
    for d in desired {
        let groups = hooks
            .entry(d.event)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(groups) = groups {
            merge_event(groups, d);
        }
    }
    Ok(())
}

/// Updates the first of our entries in this event in place, drops any further
/// ones (duplicates), or appends a new catch-all group when there is none.
fn merge_event(groups: &mut Vec<Value>, desired: &DesiredHook) {
    let mut found = false;
    groups.retain_mut(|group| {
        let Some(hooks) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
            return true;
        };
        let had_any = !hooks.is_empty();
        hooks.retain_mut(|hook| {
            if !is_ours(hook) {
                return true;
            }
            if found {
                return false;
            }
            found = true;
            update_entry(hook, desired);
            true
        });
        !(had_any && hooks.is_empty())
    });
    if !found {
        let mut group = Map::new();
        group.insert("hooks".to_string(), Value::Array(vec![new_entry(desired)]));
        groups.push(Value::Object(group));
    }
}

fn new_entry(desired: &DesiredHook) -> Value {
    let mut entry = Map::new();
    entry.insert("type".to_string(), Value::from("command"));
    entry.insert("command".to_string(), Value::from(desired.command.as_str()));
    entry.insert("timeout".to_string(), Value::from(desired.timeout));
    Value::Object(entry)
}

/// Sets type/command/timeout, keeping every other field and the key order.
fn update_entry(hook: &mut Value, desired: &DesiredHook) {
    let Some(entry) = hook.as_object_mut() else {
        return;
    };
    let want = [
        ("type", Value::from("command")),
        ("command", Value::from(desired.command.as_str())),
        ("timeout", Value::from(desired.timeout)),
    ];
    for (key, value) in want {
        if entry.get(key) != Some(&value) {
            entry.insert(key.to_string(), value);
        }
    }
}

fn uninstall_from(settings: &mut Map<String, Value>, path: &Path) -> Result<(), InstallError> {
    let Some(hooks) = hooks_object(settings, path, false)? else {
        return Ok(());
    };
    let had_events = !hooks.is_empty();
    let mut emptied = Vec::new();
    for (event, groups) in hooks.iter_mut() {
        // Non-array values are not ours to judge on uninstall: leave them.
        let Some(groups) = groups.as_array_mut() else {
            continue;
        };
        let had_groups = !groups.is_empty();
        groups.retain_mut(|group| {
            let Some(list) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
                return true;
            };
            let had_any = !list.is_empty();
            list.retain(|hook| !is_ours(hook));
            !(had_any && list.is_empty())
        });
        if had_groups && groups.is_empty() {
            emptied.push(event.clone());
        }
    }
    for event in &emptied {
        hooks.shift_remove(event);
    }
    if had_events && hooks.is_empty() {
        settings.shift_remove("hooks");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
