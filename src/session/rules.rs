//! Validation rules. Each rule has a stable id, a severity and a message that says how to fix
//! the problem; each finding points at the bytes it is about. Rules only read the document.

use chrono::{DateTime, Utc};

use super::document::{Document, FrontmatterState};
use super::name::{self, NameProblem};
use super::yaml::{Kind, Node};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, $summary:literal;)*) => {
        $(pub const $name: Rule = Rule { id: $id, severity: Severity::$sev, summary: $summary };)*
        /// Every rule, for `--format sarif` and the documentation.
        pub const ALL: &[Rule] = &[$($name),*];
    };
}

rules! {
    NOT_UTF8 = "not-utf8", Error, "The file is not valid UTF-8.";
    EMPTY_FILE = "empty-file", Error, "The file is empty.";
    TOO_LARGE = "too-large", Error, "The file is too large to be a session file.";
    NOT_REGULAR = "not-regular-file", Error, "A session file is a regular file, not a FIFO, socket or device.";
    OUTSIDE_REPO = "outside-repository", Error, "The path is a symlink that leads outside the repository.";
    NAME_FORMAT = "name-format", Error, "File names are YYYYMMDD-HHMMSS-<slug>.md in UTC with a lower-case kebab slug.";
    NAME_ISSUE_KEY = "name-issue-key", Error, "An issue key belongs in linear_issue, not in the file name.";
    NAME_TIME = "name-time", Warning, "The time in the file name should equal session.created.";
    FRONTMATTER_MISSING = "frontmatter-missing", Error, "A session file starts with YAML frontmatter between --- lines.";
    FRONTMATTER_UNCLOSED = "frontmatter-unclosed", Error, "The frontmatter needs a closing --- line.";
    YAML_SYNTAX = "yaml-syntax", Error, "The frontmatter is not valid YAML.";
    FRONTMATTER_SHAPE = "frontmatter-shape", Error, "The frontmatter and its session/orchestration blocks are mappings.";
    DUPLICATE_KEY = "duplicate-key", Error, "A key appears twice in one mapping.";
    REQUIRED_KEY = "required-key", Error, "A required frontmatter key is missing or empty.";
    STATUS = "status", Error, "session.status is in_progress, paused or completed.";
    AGENT_ENTRY = "agent-entry", Error, "Each spawned_agents entry is a mapping with agent and task.";
    AGENT_STATUS = "agent-status", Error, "An agent status is pending, in_progress, completed, failed or cancelled.";
    TIMESTAMP = "timestamp", Error, "Timestamps are RFC 3339 UTC instants such as 2025-12-04T14:30:00Z.";
    TIMESTAMP_ORDER = "timestamp-order", Error, "last_updated is not earlier than created.";
    TIMESTAMP_FUTURE = "timestamp-future", Warning, "A timestamp lies in the future.";
    URL = "url", Error, "linear_url is an http(s) URL.";
    SECTION_MISSING = "section-missing", Error, "Context, Current State and Next Steps are level-2 sections.";
    SECTION_DUPLICATE = "section-duplicate", Error, "A required section appears once.";
    UNCLOSED_FENCE = "unclosed-fence", Error, "A code fence is closed: an open one hides the rest of the file.";
    UNCLOSED_HTML = "unclosed-html", Error, "An HTML comment or block is closed: an open one hides the rest of the file.";
    CONFLICT_MARKER = "conflict-marker", Error, "The file holds Git conflict markers from an unfinished merge.";
}

pub const REQUIRED_SECTIONS: [&str; 3] = ["Context", "Current State", "Next Steps"];
pub const SESSION_STATUSES: [&str; 3] = ["in_progress", "paused", "completed"];
pub const AGENT_STATUSES: [&str; 5] =
    ["pending", "in_progress", "completed", "failed", "cancelled"];
const REQUIRED_KEYS: [(&str, &str); 5] = [
    ("session", "title"),
    ("session", "status"),
    ("session", "created"),
    ("session", "last_updated"),
    ("orchestration", "current_task"),
];

/// One problem found in a file, located by byte offset.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: &'static Rule,
    /// Where in the text; `None` for findings about the file as a whole (its name).
    pub offset: Option<usize>,
    pub message: String,
}

impl Finding {
    fn new(rule: &'static Rule, offset: usize, message: impl Into<String>) -> Self {
        Finding {
            rule,
            offset: Some(offset),
            message: message.into(),
        }
    }

    fn whole_file(rule: &'static Rule, message: impl Into<String>) -> Self {
        Finding {
            rule,
            offset: None,
            message: message.into(),
        }
    }
}

/// The canonical status a near-miss spelling stands for (`done` → `completed`).
pub fn canonical_session_status(s: &str) -> Option<&'static str> {
    let norm = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    Some(match norm.as_str() {
        "in_progress" | "active" | "inprogress" | "wip" | "started" | "ongoing" | "open"
        | "running" => "in_progress",
        "paused" | "on_hold" | "onhold" | "suspended" | "idle" | "blocked" => "paused",
        "completed" | "complete" | "done" | "finished" | "closed" => "completed",
        _ => return None,
    })
}

pub fn canonical_agent_status(s: &str) -> Option<&'static str> {
    let norm = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    Some(match norm.as_str() {
        "pending" | "queued" | "todo" => "pending",
        "in_progress" | "running" | "active" | "inprogress" | "started" => "in_progress",
        "completed" | "complete" | "done" | "success" | "succeeded" | "finished" => "completed",
        "failed" | "failure" | "error" | "errored" | "lost" => "failed",
        "cancelled" | "canceled" | "killed" | "aborted" => "cancelled",
        _ => return None,
    })
}

/// Parses an RFC 3339 timestamp that must be in UTC.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(s.trim()).map_err(|e| {
        if s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') {
            "is a date without a time".to_string()
        } else {
            format!("is not an RFC 3339 timestamp ({e})")
        }
    })?;
    if t.offset().local_minus_utc() != 0 {
        return Err("is not in UTC (use Z or +00:00)".into());
    }
    Ok(t.with_timezone(&Utc))
}

/// Runs every document-level rule. `file_name` is checked when given.
pub fn check(doc: &Document, file_name: Option<&str>, now: DateTime<Utc>) -> Vec<Finding> {
    let mut out = Vec::new();
    let name_time = file_name.and_then(|n| check_name(n, &mut out));
    match &doc.frontmatter {
        FrontmatterState::Missing => out.push(Finding::new(
            &FRONTMATTER_MISSING,
            doc.body_start,
            "no YAML frontmatter: start the file with a `---` line, the session keys, and a closing `---` (see `sessions new`)",
        )),
        FrontmatterState::Unclosed(open) => out.push(Finding::new(
            &FRONTMATTER_UNCLOSED,
            open.start,
            "the frontmatter opened here is never closed: add a `---` line after the last key",
        )),
        FrontmatterState::Present(fm) => match &fm.yaml {
            Err(e) => out.push(Finding::new(
                &YAML_SYNTAX,
                e.offset,
                format!("invalid YAML in the frontmatter: {}", plain_yaml_error(&e.message)),
            )),
            Ok(None) => out.push(Finding::new(
                &REQUIRED_KEY,
                fm.content.start,
                "the frontmatter is empty: add the `session:` and `orchestration:` blocks",
            )),
            Ok(Some(root)) => check_frontmatter(root, name_time, now, &mut out),
        },
    }
    check_sections(doc, &mut out);
    check_unclosed(doc, &mut out);
    check_conflict_markers(doc, &mut out);
    if let Some(file_name) = file_name
        && let Some(f) = out.iter_mut().find(|f| f.rule.id == NAME_FORMAT.id)
        && let Some(better) = suggested_name(doc, file_name)
    {
        const PATTERN: &str = "rename it to YYYYMMDD-HHMMSS-<slug>.md";
        f.message = if f.message.contains(PATTERN) {
            f.message.replace(
                PATTERN,
                &format!("rename it to `{better}` (YYYYMMDD-HHMMSS-<slug>.md, the time from `session.created`)"),
            )
        } else {
            format!("{}: `{better}` would do", f.message)
        };
    }
    out.sort_by_key(|f| f.offset.map_or(0, |o| o + 1));
    out
}

/// The YAML parser's message in plain words, with what to do, for the slips people make in
/// frontmatter; anything else is kept as the parser says it.
fn plain_yaml_error(message: &str) -> String {
    let plain = [
        (
            "while scanning a quoted scalar, found unexpected end of stream",
            "this quote is never closed: add the closing quote at the end of the value",
        ),
        (
            // A quote left open runs into the next key, which is then "badly indented".
            "invalid indentation in quoted scalar",
            "this quote is not closed on its line: add the closing quote at the end of the value",
        ),
        (
            "mapping values are not allowed in this context",
            "a second `: ` on one line: quote the value (title: \"Fix: the parser\")",
        ),
        (
            "tabs disallowed within this context",
            "a tab in the indentation: YAML indents with spaces only",
        ),
        (
            "while parsing a flow sequence, expected ',' or ']'",
            "this `[` list is not closed with `]` (or a `,` is missing between items)",
        ),
        (
            "while parsing a flow mapping, did not find expected ',' or '}'",
            "this `{` mapping is not closed with `}` (or a `,` is missing between entries)",
        ),
        (
            "while parsing a block mapping, did not find expected key",
            "this line is indented differently from the keys above it: line the keys of one block up",
        ),
        (
            "found unknown anchor",
            "`*name` refers to an anchor `&name` that is not defined above it",
        ),
        (
            "found unknown escape character",
            "an unknown `\\` escape inside double quotes: write `\\\\` for a backslash, or use single quotes",
        ),
    ];
    plain
        .iter()
        .find(|(raw, _)| message.contains(raw))
        .map_or_else(|| message.to_string(), |(_, words)| (*words).to_string())
}

/// The name a misnamed file should have: `session.created` as the timestamp, and a slug from
/// the old name without its leading date-like part (else from the title).
fn suggested_name(doc: &Document, file_name: &str) -> Option<String> {
    let stem = file_name.strip_suffix(".md").unwrap_or(file_name);
    // A name with a good timestamp keeps it; otherwise the time comes from `session.created`.
    let (time, rest) = match stem
        .get(..15)
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y%m%d-%H%M%S").ok())
    {
        Some(_) => (stem[..15].to_string(), &stem[15..]),
        None => {
            let created = parse_timestamp(doc.str_value(&["session", "created"])?).ok()?;
            let rest = stem.trim_start_matches(|c: char| {
                c.is_ascii_digit() || matches!(c, '-' | '_' | 'T' | ':')
            });
            (created.format("%Y%m%d-%H%M%S").to_string(), rest)
        }
    };
    let mut slug = name::slugify(rest);
    if slug.is_empty() {
        slug = name::slugify(doc.str_value(&["session", "title"]).unwrap_or_default());
    }
    if slug.is_empty() {
        slug = "session".into();
    }
    let better = format!("{time}-{slug}.md");
    (better != file_name).then_some(better)
}

fn check_name(file_name: &str, out: &mut Vec<Finding>) -> Option<DateTime<Utc>> {
    let message = match name::parse(file_name) {
        Ok(parsed) => {
            if let Some(n) = name::slug_issue_key(parsed.slug) {
                out.push(Finding::whole_file(
                    &NAME_ISSUE_KEY,
                    format!(
                        "the slug of `{file_name}` starts with the issue key `{}`: rename the file without it and set `linear_issue: \"{}\"`",
                        &parsed.slug[..n],
                        parsed.slug[..n].to_ascii_uppercase()
                    ),
                ));
            }
            return Some(parsed.time);
        }
        Err(NameProblem::NotMarkdown) => "session files end in `.md`",
        Err(NameProblem::NoTimestamp) => {
            "the file name does not start with a UTC timestamp: rename it to YYYYMMDD-HHMMSS-<slug>.md"
        }
        Err(NameProblem::BadTimestamp) => {
            "the time in the file name is not a real date and time: use YYYYMMDD-HHMMSS"
        }
        Err(NameProblem::BadSlug) => {
            "the slug after the timestamp must be lower-case kebab case (a-z, 0-9, single dashes)"
        }
    };
    out.push(Finding::whole_file(
        &NAME_FORMAT,
        format!("`{file_name}`: {message}"),
    ));
    None
}

fn check_frontmatter(
    root: &Node,
    name_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
) {
    if !root.is_map() {
        out.push(Finding::new(
            &FRONTMATTER_SHAPE,
            root.span.start,
            format!(
                "the frontmatter is {}, not a mapping of keys",
                root.kind_name()
            ),
        ));
        return;
    }
    check_duplicates(root, out);
    for block in ["session", "orchestration"] {
        if let Some(node) = root.get(block)
            && !node.is_map()
            && !node.is_null()
        {
            out.push(Finding::new(
                &FRONTMATTER_SHAPE,
                node.span.start,
                format!(
                    "`{block}` is {}; it must be a mapping of keys indented under it",
                    node.kind_name()
                ),
            ));
        }
    }
    for (block, key) in REQUIRED_KEYS {
        let parent = root.get(block);
        let value = parent.and_then(|p| p.get(key));
        let empty =
            value.is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()));
        if !empty {
            continue;
        }
        let at = value
            .map(|v| v.span.start)
            .or(parent.map(|p| p.span.start))
            .unwrap_or(root.span.start);
        let mut msg = match value {
            Some(_) => format!("`{block}.{key}` is empty: give it a value"),
            None => format!("`{block}.{key}` is missing: add `{key}:` under `{block}:`"),
        };
        if value.is_none() && root.get(key).is_some() {
            msg.push_str(&format!(
                " (a top-level `{key}` exists: move it under `{block}:`)"
            ));
        }
        out.push(Finding::new(&REQUIRED_KEY, at, msg));
    }
    let session = root.get("session");
    let field = |key: &str| session.and_then(|s| s.get(key)).filter(|v| !v.is_null());
    if let Some(status) = field("status") {
        check_enum(
            status,
            "session.status",
            &SESSION_STATUSES,
            canonical_session_status,
            &STATUS,
            out,
        );
    }
    let created = field("created").and_then(|n| check_time(n, "session.created", now, out));
    let updated =
        field("last_updated").and_then(|n| check_time(n, "session.last_updated", now, out));
    if let (Some((c, _)), Some((u, at))) = (created, updated)
        && u < c
    {
        out.push(Finding::new(
                &TIMESTAMP_ORDER,
                at,
                format!("`session.last_updated` ({u}) is earlier than `session.created` ({c}): set it to the time of the last change"),
            ));
    }
    if let (Some(named), Some((c, at))) = (name_time, created)
        && c.timestamp() != named.timestamp()
    {
        out.push(Finding::new(
            &NAME_TIME,
            at,
            format!(
                "`session.created` is {} but the file name says {}: make them agree",
                c.format("%Y-%m-%dT%H:%M:%SZ"),
                named.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        ));
    }
    if let Some(url) = field("linear_url") {
        let text = url.as_str().unwrap_or("");
        if !is_url(text) {
            out.push(Finding::new(
                &URL,
                url.span.start,
                format!("`session.linear_url` is `{text}`, not an http(s) URL: use the issue's full address"),
            ));
        }
    }
    if let Some(agents) = root
        .get("orchestration")
        .and_then(|o| o.get("spawned_agents"))
    {
        check_agents(agents, out);
    }
}

fn check_duplicates(node: &Node, out: &mut Vec<Finding>) {
    match &node.kind {
        Kind::Map(entries) => {
            // Frontmatter mappings hold a handful of keys: comparing with the keys before is
            // cheaper than hashing them; a large mapping still gets a set.
            let small = entries.len() <= 16;
            let mut seen =
                std::collections::HashSet::with_capacity(if small { 0 } else { entries.len() });
            for (i, (k, v)) in entries.iter().enumerate() {
                if let Some(key) = k.as_str() {
                    let again = if small {
                        entries[..i].iter().any(|(e, _)| e.as_str() == Some(key))
                    } else {
                        !seen.insert(key)
                    };
                    if again {
                        out.push(Finding::new(
                            &DUPLICATE_KEY,
                            k.span.start,
                            format!("`{key}` appears twice in this mapping; YAML readers disagree on which wins: keep one"),
                        ));
                    }
                }
                check_duplicates(v, out);
            }
        }
        Kind::Seq(items) => items.iter().for_each(|n| check_duplicates(n, out)),
        _ => {}
    }
}

fn check_enum(
    node: &Node,
    what: &str,
    allowed: &[&str],
    canonical: fn(&str) -> Option<&'static str>,
    rule: &'static Rule,
    out: &mut Vec<Finding>,
) {
    let Some(value) = node.as_str() else {
        out.push(Finding::new(
            rule,
            node.span.start,
            format!(
                "`{what}` is {}, not one of {}",
                node.kind_name(),
                allowed.join(", ")
            ),
        ));
        return;
    };
    if allowed.contains(&value) {
        return;
    }
    let hint = match canonical(value) {
        Some(c) => format!(": did you mean `{c}`? (`sessions validate --fix` repairs it)"),
        None => format!("; use one of {}", allowed.join(", ")),
    };
    out.push(Finding::new(
        rule,
        node.span.start,
        format!("`{what}` is `{value}`{hint}"),
    ));
}

fn check_time(
    node: &Node,
    what: &str,
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
) -> Option<(DateTime<Utc>, usize)> {
    let text = node.as_str().unwrap_or("");
    match parse_timestamp(text) {
        Ok(t) => {
            if t > now + chrono::Duration::minutes(5) {
                out.push(Finding::new(
                    &TIMESTAMP_FUTURE,
                    node.span.start,
                    format!("`{what}` ({text}) is in the future: check the clock or the time zone"),
                ));
            }
            Some((t, node.span.start))
        }
        Err(why) => {
            out.push(Finding::new(
                &TIMESTAMP,
                node.span.start,
                format!("`{what}` `{text}` {why}: write a UTC instant like 2025-12-04T14:30:00Z"),
            ));
            None
        }
    }
}

fn is_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !r.chars().any(char::is_whitespace)
    })
}

fn check_agents(agents: &Node, out: &mut Vec<Finding>) {
    if agents.is_null() {
        return;
    }
    let Kind::Seq(items) = &agents.kind else {
        out.push(Finding::new(
            &AGENT_ENTRY,
            agents.span.start,
            format!(
                "`orchestration.spawned_agents` is {}; make it a list of `- agent: …` entries",
                agents.kind_name()
            ),
        ));
        return;
    };
    for (i, item) in items.iter().enumerate() {
        if !item.is_map() {
            out.push(Finding::new(
                &AGENT_ENTRY,
                item.span.start,
                format!(
                    "spawned_agents[{i}] is {}; write it as a mapping with `agent:` and `task:`",
                    item.kind_name()
                ),
            ));
            continue;
        }
        for (key, alias) in [("agent", "type"), ("task", "")] {
            if item.get(key).is_some_and(|v| !v.is_null()) {
                continue;
            }
            let hint = if !alias.is_empty() && item.get(alias).is_some() {
                format!(
                    " (it has `{alias}:`; rename it to `{key}:`, or run `sessions validate --fix`)"
                )
            } else {
                String::new()
            };
            out.push(Finding::new(
                &AGENT_ENTRY,
                item.span.start,
                format!("spawned_agents[{i}] has no `{key}`{hint}"),
            ));
        }
        if let Some(status) = item.get("status").filter(|v| !v.is_null()) {
            check_enum(
                status,
                &format!("spawned_agents[{i}].status"),
                &AGENT_STATUSES,
                canonical_agent_status,
                &AGENT_STATUS,
                out,
            );
        }
    }
}

fn check_sections(doc: &Document, out: &mut Vec<Finding>) {
    for name in REQUIRED_SECTIONS {
        let mut found = doc
            .sections
            .iter()
            .filter(|s| doc.text(&s.heading.text) == name);
        match found.next() {
            Some(_) => {
                for dup in found {
                    out.push(Finding::new(
                        &SECTION_DUPLICATE,
                        dup.heading.line.start,
                        format!("`## {name}` appears again here: merge the two sections into one"),
                    ));
                }
            }
            None => {
                let near = doc
                    .headings
                    .iter()
                    .find(|h| doc.text(&h.text).eq_ignore_ascii_case(name));
                let (at, hint) = match near {
                    Some(h) => (
                        h.line.start,
                        format!(
                            " (found `{} {}` here: make it a level-2 `## {name}` heading)",
                            "#".repeat(h.level as usize),
                            doc.text(&h.text)
                        ),
                    ),
                    // Not a heading anywhere: perhaps it sits inside a code block or comment.
                    None => match super::document::lines(doc.src, doc.body_start)
                        .find(|&(s, e, _)| doc.src[s..e].trim() == format!("## {name}"))
                    {
                        Some((s, _, _)) => (
                            s,
                            " (a `## {name}` line is here, but inside a code block or HTML comment, where it is not a heading)"
                                .replace("{name}", name),
                        ),
                        None => (doc.src.len(), String::new()),
                    },
                };
                out.push(Finding::new(
                    &SECTION_MISSING,
                    at,
                    format!("the required section `## {name}` is missing{hint}; add it (outside code blocks)"),
                ));
            }
        }
    }
}

/// A fence or HTML comment left open hides everything after it: headings, and every entry
/// a tool appends.
fn check_unclosed(doc: &Document, out: &mut Vec<Finding>) {
    let Some(u) = doc.unclosed() else {
        return;
    };
    let (rule, message) = match &u.closer {
        Some(closer) => (
            &UNCLOSED_FENCE,
            format!(
                "this code fence is never closed, so everything after it is shown as code (headings and log entries too): add a `{}` line where the code ends",
                closer.trim_start()
            ),
        ),
        None => (
            &UNCLOSED_HTML,
            "this HTML comment or block is never closed, so everything after it is hidden: close it (`-->` for a comment) where it should end".to_string(),
        ),
    };
    out.push(Finding::new(rule, u.offset, message));
}

/// Which Git conflict marker a line is: `<<<<<<<`, `|||||||`, `=======` or `>>>>>>>` — exactly
/// seven characters, then the end of the line or a space (and, for `=======`, nothing else).
fn conflict_marker(line: &str) -> Option<u8> {
    let b = line.as_bytes();
    let ch = *b.first()?;
    if !matches!(ch, b'<' | b'|' | b'=' | b'>') || b.len() < 7 || b[..7].iter().any(|&x| x != ch) {
        return None;
    }
    let rest = &line[7..];
    let ok = if ch == b'=' {
        rest.trim().is_empty()
    } else {
        rest.is_empty() || rest.starts_with([' ', '\t'])
    };
    ok.then_some(ch)
}

/// Git conflict markers: a `<<<<<<<` … `=======` … `>>>>>>>` block is reported at its first
/// line; a lone `<<<<<<< ref` or `>>>>>>> ref` (half of a conflict resolved by hand) too. A
/// lone `=======` is not reported: in Markdown it underlines a heading.
fn check_conflict_markers(doc: &Document, out: &mut Vec<Finding>) {
    if !doc.may_hold_conflict_markers() {
        return;
    }
    let src = doc.src;
    let mut open: Option<(usize, usize, bool)> = None; // (offset, line, saw =======)
    for (n, (start, end, _)) in super::document::lines(src, 0).enumerate() {
        let line = &src[start..end];
        match conflict_marker(line) {
            Some(b'<') => {
                if let Some((at, _, _)) = open.replace((start, n + 1, false)) {
                    out.push(lone_marker(at, "<<<<<<<"));
                }
            }
            Some(b'=') => {
                if let Some(o) = open.as_mut() {
                    o.2 = true;
                }
            }
            Some(b'>') => match open.take() {
                Some((at, first, true)) => out.push(Finding::new(
                    &CONFLICT_MARKER,
                    at,
                    format!(
                        "an unresolved Git conflict (lines {first}–{}: `<<<<<<<`, `=======`, `>>>>>>>`): keep the text that is right, then delete the three marker lines",
                        n + 1
                    ),
                )),
                Some((at, _, false)) => out.push(lone_marker(at, "<<<<<<<")),
                None if line.len() > 8 => out.push(lone_marker(start, ">>>>>>>")),
                None => {}
            },
            _ => {}
        }
    }
    if let Some((at, _, _)) = open
        && src[at..].len() > 8
        && src.as_bytes()[at + 7] == b' '
    {
        out.push(lone_marker(at, "<<<<<<<"));
    }
}

fn lone_marker(at: usize, marker: &str) -> Finding {
    Finding::new(
        &CONFLICT_MARKER,
        at,
        format!(
            "a Git conflict marker `{marker}` is left here from a merge: resolve the conflict and delete the marker line"
        ),
    )
}

#[cfg(test)]
mod tests;
