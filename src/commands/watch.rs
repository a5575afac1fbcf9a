//! `sessions watch`: follow `.agents/sessions/` and `.agents/state/` with `notify` and report
//! changes as a live table, as lines, or as JSON events.
//!
//! Events are derived by comparing snapshots of the files, not from our own actions, so they
//! are right for changes made by editors and other processes too. There is no polling loop:
//! the thread sleeps until the OS reports a change (or, on a terminal, once a minute so ages
//! and stale markers stay true).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use notify::{EventKind, RecursiveMode, Watcher};
use serde_json::{Value, json};

use super::Ctx;
use crate::cli::WatchArgs;
use crate::diagnostic::Diagnostic;
use crate::error::{Error, Result};
use crate::overview::Overview;
use crate::runs::{self, RunView};
use crate::session::rules::Severity;
use crate::validation::validate_file;

/// Changes arriving within this window are handled as one batch.
const DEBOUNCE: Duration = Duration::from_millis(40);
/// The longest a batch may grow while changes keep arriving.
const MAX_BATCH: Duration = Duration::from_millis(120);
/// How often the terminal view refreshes ages when nothing changes.
const TICK: Duration = Duration::from_secs(60);

enum Msg {
    /// Something changed: the paths the event names (none: look at everything).
    Changed(Vec<PathBuf>),
    Quit,
}

/// What changed in one batch: the paths events named, or everything (the first look, a
/// queue overflow, a directory created or removed, the periodic refresh).
#[derive(Default)]
struct Changes {
    all: bool,
    paths: HashSet<PathBuf>,
}

impl Changes {
    fn everything() -> Changes {
        Changes {
            all: true,
            ..Changes::default()
        }
    }
    fn add(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            self.all = true;
        }
        self.paths.extend(paths);
    }
}

#[derive(Clone)]
struct SessionSnap {
    overview: Overview,
    linear_issue: Option<String>,
    hash: u64,
    diagnostics: Vec<Diagnostic>,
}

impl SessionSnap {
    fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
    fn valid(&self) -> bool {
        self.errors().next().is_none()
    }
}

#[derive(Default)]
struct Snapshot {
    sessions: BTreeMap<String, SessionSnap>,
    runs: BTreeMap<String, RunView>,
}

pub fn run(ctx: &Ctx, args: WatchArgs) -> Result<u8> {
    ctx.repo.require_sessions_dir()?;
    let (tx, rx) = mpsc::channel();
    let quit = tx.clone();
    ctrlc::set_handler(move || {
        let _ = quit.send(Msg::Quit);
    })
    .map_err(|e| Error::Usage(format!("cannot handle Ctrl-C: {e}")))?;
    let logs_dir = ctx.repo.logs_dir();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if matches!(ev.kind, EventKind::Access(_)) {
                return;
            }
            if ev.need_rescan() {
                let _ = tx.send(Msg::Changed(Vec::new()));
                return;
            }
            let relevant = ev.paths.iter().any(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                !(name.ends_with(".tmp")
                    || name.ends_with(".lock")
                    || p.components().any(|c| c.as_os_str() == "locks"))
            });
            if relevant {
                let _ = tx.send(Msg::Changed(ev.paths));
            }
        }
    })
    .map_err(|e| Error::Usage(format!("cannot watch files: {e}")))?;
    let mut watched = false;

    if let Some(reference) = &args.logs {
        let session = ctx.repo.resolve(reference, &ctx.cwd)?;
        let stem = session
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let dir = logs_dir.join(&stem);
        return follow_logs(ctx, &mut watcher, &mut watched, &rx, &dir);
    }

    let mode = if args.json {
        Mode::Json
    } else if std::io::stdout().is_terminal() {
        Mode::Table
    } else {
        Mode::Lines
    };
    ensure_watches(ctx, &mut watcher, &mut watched);
    let mut tracker = Tracker::default();
    let mut snap = tracker.snapshot(ctx, &Changes::everything(), None)?;
    let mut out = std::io::stdout().lock();
    match mode {
        Mode::Json => {
            let ready = json!({"event": "watching", "at": now(), "sessions": snap.sessions.len(), "agents": snap.runs.len()});
            let _ = writeln!(out, "{ready}");
        }
        Mode::Table => {
            // The alternate screen keeps the person's scrollback clean; it is left on Ctrl-C.
            let _ = write!(out, "\x1b[?1049h\x1b[?25l");
            draw(ctx, &snap, &mut out);
        }
        Mode::Lines => {
            let _ = writeln!(
                out,
                "watching {} session(s); Ctrl-C to stop",
                snap.sessions.len()
            );
        }
    }
    let _ = out.flush();
    loop {
        let msg = match mode {
            Mode::Table => rx.recv_timeout(TICK),
            _ => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        let msg = match msg {
            Ok(Msg::Quit) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let ctx = Ctx {
                    repo: ctx.repo.clone(),
                    cwd: ctx.cwd.clone(),
                    now: Utc::now(),
                    conversation: ctx.conversation.clone(),
                };
                let now = tracker.snapshot(&ctx, &Changes::everything(), Some(&snap))?;
                draw(&ctx, &now, &mut out);
                continue;
            }
            Ok(Msg::Changed(paths)) => paths,
        };
        let mut changes = Changes::default();
        changes.add(msg);
        if settle(&rx, &mut changes) {
            break;
        }
        if !watched {
            changes.all = true;
        }
        ensure_watches(ctx, &mut watcher, &mut watched);
        let ctx = Ctx {
            repo: ctx.repo.clone(),
            cwd: ctx.cwd.clone(),
            now: Utc::now(),
            conversation: ctx.conversation.clone(),
        };
        let next = tracker.snapshot(&ctx, &changes, Some(&snap))?;
        let events = diff(&snap, &next);
        if !events.is_empty() {
            match mode {
                Mode::Json => events.iter().for_each(|e| {
                    drop(writeln!(out, "{}", crate::terminal::json(e.to_string())));
                }),
                Mode::Lines => events.iter().for_each(|e| {
                    drop(writeln!(out, "{}", crate::terminal::line(&line(e))));
                }),
                Mode::Table => draw(&ctx, &next, &mut out),
            }
            let _ = out.flush();
        }
        snap = next;
    }
    if mode == Mode::Table {
        let _ = write!(out, "\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
    }
    Ok(0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Json,
    Table,
    Lines,
}

/// Lets a burst of changes settle before one look: waits for a quiet gap of [`DEBOUNCE`], but
/// never longer than [`MAX_BATCH`] in all, so a stream of changes cannot hold events back.
/// Collects what changed into `changes`; returns whether Ctrl-C arrived meanwhile.
fn settle(rx: &mpsc::Receiver<Msg>, changes: &mut Changes) -> bool {
    let deadline = std::time::Instant::now() + MAX_BATCH;
    loop {
        let left = deadline
            .saturating_duration_since(std::time::Instant::now())
            .min(DEBOUNCE);
        if left.is_zero() {
            return false;
        }
        match rx.recv_timeout(left) {
            Ok(Msg::Quit) => return true,
            Ok(Msg::Changed(paths)) => changes.add(paths),
            Err(mpsc::RecvTimeoutError::Timeout) => return false,
            Err(mpsc::RecvTimeoutError::Disconnected) => return true,
        }
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Watches `.agents/` recursively, once it exists. A recursive inotify watch follows
/// directories created (or deleted and recreated) below it, which per-directory watches
/// re-added by hand do not do reliably.
fn ensure_watches(ctx: &Ctx, watcher: &mut impl Watcher, watched: &mut bool) {
    if !*watched {
        *watched = watcher
            .watch(&ctx.repo.agents_dir(), RecursiveMode::Recursive)
            .is_ok();
    }
}

/// What one session file said when it was last read: parsed once, kept until the file changes.
struct Parsed {
    /// `lstat` and `stat` facts at the read; a full look re-reads the file when they differ.
    key: Option<FileKey>,
    /// Modified so shortly before it was read that a later write could keep every fact of
    /// `key` (same size, same coarse mtime): a full look never trusts the key of such an entry.
    racy: bool,
    /// A symlink: its target can change without an event naming the link, so it is read
    /// again on every look.
    link: bool,
    /// As read, before runs correct its agent counts and with `stale` as of the read.
    overview: Overview,
    linear_issue: Option<String>,
    hash: u64,
    diagnostics: Vec<Diagnostic>,
}

/// Size, times and inode of the link and of its target (the same file for a regular file).
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileKey([i64; 12]);

fn file_key(path: &Path) -> Option<FileKey> {
    use std::os::unix::fs::MetadataExt;
    let l = fs::symlink_metadata(path).ok()?;
    let t = fs::metadata(path).ok();
    let t = t.as_ref().unwrap_or(&l);
    Some(FileKey([
        l.ino() as i64,
        l.mtime(),
        l.mtime_nsec(),
        l.ctime(),
        l.ctime_nsec(),
        t.ino() as i64,
        t.dev() as i64,
        t.size() as i64,
        t.mtime(),
        t.mtime_nsec(),
        t.ctime(),
        t.ctime_nsec(),
    ]))
}

/// What `watch` knows about the session files between two looks. A change re-reads only the
/// paths its events name (and the sessions of runs that changed), so the work per change does
/// not grow with the number of sessions; a full look (start, queue overflow, a directory
/// event, the terminal's minute tick) lists the directory and re-reads only files whose
/// `stat` facts changed or were racy.
#[derive(Default)]
struct Tracker {
    files: HashMap<PathBuf, Parsed>,
    buf: Vec<u8>,
}

impl Tracker {
    fn snapshot(
        &mut self,
        ctx: &Ctx,
        changes: &Changes,
        old: Option<&Snapshot>,
    ) -> Result<Snapshot> {
        let config = ctx.config()?;
        let runs = crate::agents::sync::Runs::load(&ctx.repo);
        let views = runs::views(&runs, chrono::Utc::now());
        let dir = ctx.repo.sessions_dir();
        // A run that started or finished may have just been written into its session file.
        let mut dirty: HashSet<PathBuf> = views
            .iter()
            .filter(|r| old.is_none_or(|o| o.runs.get(&r.run_id) != Some(*r)))
            .map(|r| dir.join(format!("{}.md", r.session)))
            .collect();
        dirty.extend(
            self.files
                .iter()
                .filter(|(_, p)| p.link)
                .map(|(path, _)| path.clone()),
        );
        let mut all = changes.all || old.is_none();
        for p in &changes.paths {
            if p.parent() == Some(dir.as_path()) {
                dirty.insert(p.clone());
            } else if dir.starts_with(p) || p.starts_with(&dir) {
                // The sessions directory itself, an ancestor, or something below a file.
                all = true;
            }
        }
        if all {
            let files = ctx.repo.session_files().unwrap_or_default();
            let listed: HashSet<&PathBuf> = files.iter().collect();
            self.files.retain(|p, _| listed.contains(p));
            for path in &files {
                let key = file_key(path);
                let fresh = self
                    .files
                    .get(path)
                    .is_some_and(|e| !e.racy && !e.link && e.key.is_some() && e.key == key);
                if !fresh {
                    self.read(ctx, path, config.stale_after);
                }
            }
        } else {
            for path in &dirty {
                if is_session_file(path) {
                    self.read(ctx, path, config.stale_after);
                } else {
                    self.files.remove(path);
                }
            }
        }
        let mut snap = Snapshot::default();
        for p in self.files.values() {
            let mut overview = p.overview.clone();
            overview.restale(ctx.now, config.stale_after);
            overview.correct(&runs);
            snap.sessions.insert(
                overview.id.clone(),
                SessionSnap {
                    overview,
                    linear_issue: p.linear_issue.clone(),
                    hash: p.hash,
                    diagnostics: p.diagnostics.clone(),
                },
            );
        }
        for r in views {
            snap.runs.insert(r.run_id.clone(), r);
        }
        Ok(snap)
    }

    /// Reads, validates and parses one file (once), replacing what was known about it.
    fn read(&mut self, ctx: &Ctx, path: &Path, stale_after: Duration) {
        let read_at = std::time::SystemTime::now();
        let key = file_key(path);
        let display = ctx.repo.display(path);
        let buf = &mut self.buf;
        // A file refused before it is read must not be judged by the previous file's bytes.
        buf.clear();
        let diagnostics =
            validate_file(Some(&ctx.repo), path, &display, buf, ctx.now).unwrap_or_default();
        let text = std::str::from_utf8(buf).ok();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        buf.hash(&mut hasher);
        let overview = Overview::new(path, display, text, ctx.now, stale_after);
        let linear_issue = text
            .map(crate::session::Document::parse_frontmatter)
            .and_then(|d| d.str_value(&["session", "linear_issue"]).map(str::to_owned));
        let racy = fs::metadata(path)
            .and_then(|m| m.modified())
            .map_or(true, |m| m + RACY > read_at);
        self.files.insert(
            path.to_path_buf(),
            Parsed {
                key,
                racy,
                link: path.is_symlink(),
                overview,
                linear_issue,
                hash: hasher.finish(),
                diagnostics,
            },
        );
    }
}

/// How close to a read a modification time must be for the read not to prove the file
/// unchanged since (file systems keep times as coarsely as 1 s; 2 s covers them all).
const RACY: Duration = Duration::from_secs(2);

/// Whether the sessions directory listing would show `path` (named by an event): a `*.md`
/// name, not hidden, a regular file or a symlink to one (or dangling, which reads fail on).
fn is_session_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if !name.ends_with(".md") || name.starts_with('.') {
        return false;
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => true,
        Ok(m) if m.file_type().is_symlink() => fs::metadata(path).map_or(true, |t| t.is_file()),
        _ => false,
    }
}

fn session_json(s: &SessionSnap) -> Value {
    json!({"session": s.overview.id, "path": s.overview.path, "title": s.overview.title, "status": s.overview.status})
}

fn diags_json(s: &SessionSnap) -> Value {
    serde_json::to_value(s.errors().collect::<Vec<_>>()).unwrap_or(Value::Null)
}

/// The events that lead from `old` to `new`.
fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Value> {
    let at = now();
    let mut out = Vec::new();
    let mut push = |event: &str, body: Value| {
        let mut m = serde_json::Map::new();
        m.insert("event".into(), event.into());
        m.insert("at".into(), at.clone().into());
        if let Value::Object(fields) = body {
            m.extend(fields);
        }
        out.push(Value::Object(m));
    };
    for (id, s) in &new.sessions {
        match old.sessions.get(id) {
            None => {
                push("session-created", session_json(s));
                if !s.valid() {
                    let mut b = session_json(s);
                    b["diagnostics"] = diags_json(s);
                    push("session-invalid", b);
                }
            }
            Some(o)
                if o.hash != s.hash
                    || o.overview.stale != s.overview.stale
                    || o.overview.agents != s.overview.agents =>
            {
                let mut changes = serde_json::Map::new();
                let (a, b) = (&o.overview, &s.overview);
                let mut field = |name: &str, from: Value, to: Value| {
                    if from != to {
                        changes.insert(name.into(), json!({"from": from, "to": to}));
                    }
                };
                field("title", a.title.clone().into(), b.title.clone().into());
                field("status", a.status.clone().into(), b.status.clone().into());
                field("current_task", json!(a.current_task), json!(b.current_task));
                field("last_updated", json!(a.last_updated), json!(b.last_updated));
                field("linear_issue", json!(o.linear_issue), json!(s.linear_issue));
                field("stale", a.stale.into(), b.stale.into());
                field("agents", json!(a.agents), json!(b.agents));
                if changes.is_empty() {
                    changes.insert("body".into(), json!({"changed": true}));
                }
                let mut body = session_json(s);
                body["changes"] = Value::Object(changes);
                push("session-updated", body);
                let error_sig = |x: &SessionSnap| {
                    x.errors()
                        .map(|d| (d.rule, d.line, d.column))
                        .collect::<Vec<_>>()
                };
                if o.valid() && !s.valid() || (!s.valid() && error_sig(o) != error_sig(s)) {
                    let mut b = session_json(s);
                    b["diagnostics"] = diags_json(s);
                    push("session-invalid", b);
                } else if !o.valid() && s.valid() {
                    push("session-valid", session_json(s));
                }
            }
            Some(_) => {}
        }
    }
    for (id, o) in &old.sessions {
        if !new.sessions.contains_key(id) {
            push(
                "session-deleted",
                json!({"session": id, "path": o.overview.path}),
            );
        }
    }
    for (id, r) in &new.runs {
        let before = old.runs.get(id);
        let was_active = before.is_some_and(|b| b.active);
        if before.is_none() && r.active {
            push("agent-started", r.started_json());
        }
        if (before.is_none() || was_active) && !r.active {
            if before.is_none() {
                // Started and finished between two looks: say both.
                push("agent-started", r.started_json());
            }
            let event = if r.lost {
                "agent-lost"
            } else {
                "agent-finished"
            };
            push(event, r.finished_json());
        }
    }
    out
}

/// One human line per event, for non-terminal output.
fn line(e: &Value) -> String {
    let t = e["at"].as_str().and_then(|s| s.get(11..19)).unwrap_or("");
    let event = e["event"].as_str().unwrap_or("");
    let who = e["session"].as_str().unwrap_or("");
    let detail = match event {
        "session-updated" => e["changes"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| match (&v["from"], &v["to"]) {
                        (Value::Null, Value::Null) => k.clone(),
                        (f, to) => format!("{k} {} → {}", show(f), show(to)),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        "session-invalid" => e["diagnostics"]
            .get(0)
            .map(|d| {
                format!(
                    "{}:{} {}",
                    d["line"],
                    d["column"],
                    d["message"].as_str().unwrap_or("")
                )
            })
            .unwrap_or_default(),
        "agent-started" => format!(
            "{} ({})",
            e["agent"].as_str().unwrap_or(""),
            e["run_id"].as_str().unwrap_or("")
        ),
        "agent-finished" | "agent-lost" => format!(
            "{} {} exit {}{}",
            e["agent"].as_str().unwrap_or(""),
            e["status"].as_str().unwrap_or(""),
            show(&e["exit_code"]),
            e["summary"]
                .as_str()
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        ),
        _ => e["title"].as_str().unwrap_or("").to_string(),
    };
    format!("{t} {event:<16} {who} {detail}")
        .trim_end()
        .to_string()
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Object(m) if m.contains_key("running") => {
            format!("{} running of {}", m["running"], m["total"])
        }
        other => other.to_string(),
    }
}

fn draw(ctx: &Ctx, snap: &Snapshot, out: &mut impl Write) {
    use crate::table::Column;
    // Cut first: the title, task, agents and validity (widest first); left out first: the
    // task, then the agents summary.
    let mut t = crate::table::Table::new(&[
        Column::keep("STATUS").status(),
        Column::keep("AGE").status(),
        Column::cut("TITLE", 16),
        Column::cut("TASK", 12).drop(0),
        Column::cut("AGENTS", 14).drop(1),
        Column::cut("VALID", 10),
    ]);
    let mut rows: Vec<&SessionSnap> = snap.sessions.values().collect();
    rows.sort_by_key(|s| std::cmp::Reverse(s.overview.updated_at));
    for s in rows {
        let o = &s.overview;
        let age = o.age_label(ctx.now);
        let runs: Vec<&RunView> = snap.runs.values().filter(|r| r.session == o.id).collect();
        let agents = if runs.is_empty() {
            "-".to_string()
        } else {
            let running = runs.iter().filter(|r| r.active).count();
            let failed = runs.iter().filter(|r| !r.active && r.failed()).count();
            let longest = runs
                .iter()
                .filter(|r| r.active)
                .map(|r| r.runtime_whole_secs() as i64)
                .max();
            let mut s = format!(
                "{running} run, {} done, {failed} fail",
                runs.len() - running - failed
            );
            if let Some(secs) = longest {
                s.push_str(&format!(
                    " ({})",
                    crate::overview::format_age(chrono::Duration::seconds(secs))
                ));
            }
            s
        };
        let valid = match s.errors().next() {
            None => "✓".to_string(),
            Some(d) => format!("✗ {}:{} {}", d.line, d.column, d.rule),
        };
        let clean = |s: &str| crate::terminal::line(s).into_owned();
        t.row(vec![
            clean(&o.status),
            age,
            clean(&o.title),
            clean(o.current_task.as_deref().unwrap_or_default()),
            agents,
            valid,
        ]);
    }
    let _ = write!(out, "\x1b[H\x1b[2J");
    let _ = write!(
        out,
        "sessions watch — {} session(s), {} agent run(s)   (Ctrl-C to quit)\r\n\r\n",
        snap.sessions.len(),
        snap.runs.len()
    );
    for l in t.render().lines() {
        let _ = write!(out, "{l}\r\n");
    }
    let _ = out.flush();
}

/// How far one log has been printed.
#[derive(Default)]
struct Followed {
    inode: u64,
    offset: u64,
    last_line: Option<Vec<u8>>,
}

impl Followed {
    /// The whole lines added since the last call. Rotation replaces the file (a new inode)
    /// with a marker line and the old file's tail: reading goes on after the last line already
    /// printed, so the kept tail is not printed twice.
    fn new_lines(&mut self, mut f: fs::File) -> Vec<String> {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = f.metadata() else {
            return Vec::new();
        };
        let mut buf = Vec::new();
        if meta.ino() != self.inode || meta.len() < self.offset {
            let first_look = self.inode == 0;
            self.inode = meta.ino();
            self.offset = 0;
            let _ = f.read_to_end(&mut buf);
            if !first_look && let Some(last) = &self.last_line {
                let mut at = 0;
                for line in buf.split_inclusive(|&b| b == b'\n') {
                    at += line.len();
                    if line.strip_suffix(b"\n") == Some(last.as_slice()) {
                        self.offset = at as u64;
                    }
                }
            }
            buf.drain(..self.offset as usize);
        } else {
            let _ = f.seek(SeekFrom::Start(self.offset));
            let _ = f.read_to_end(&mut buf);
        }
        // Only whole lines; a partial last line waits for its newline.
        let upto = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.offset += upto as u64;
        let lines: Vec<&[u8]> = buf[..upto]
            .split_inclusive(|&b| b == b'\n')
            .map(|l| &l[..l.len() - 1])
            .collect();
        if let Some(last) = lines.last() {
            self.last_line = Some(last.to_vec());
        }
        lines
            .iter()
            .map(|l| {
                String::from_utf8_lossy(l)
                    .trim_end_matches('\r')
                    .to_string()
            })
            .collect()
    }
}

/// `watch --logs`: print new lines of every log of one session as they arrive, prefixed with
/// the log's agent and run id.
fn follow_logs(
    ctx: &Ctx,
    watcher: &mut impl Watcher,
    watched: &mut bool,
    rx: &mpsc::Receiver<Msg>,
    dir: &Path,
) -> Result<u8> {
    let mut followed: HashMap<PathBuf, Followed> = HashMap::new();
    let mut out = std::io::stdout().lock();
    // Each log is shown from its beginning: whoever asks wants the agents' output so far.
    loop {
        ensure_watches(ctx, watcher, watched);
        let mut logs: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect()
            })
            .unwrap_or_default();
        logs.sort();
        for log in logs {
            let prefix = log
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let state = followed.entry(log.clone()).or_default();
            if let Ok(f) = fs::File::open(&log) {
                for l in state.new_lines(f) {
                    let _ = writeln!(out, "[{prefix}] {l}");
                }
            }
        }
        let _ = out.flush();
        match rx.recv() {
            Ok(Msg::Quit) | Err(_) => return Ok(0),
            Ok(Msg::Changed(_)) => {
                if settle(rx, &mut Changes::default()) {
                    return Ok(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Everything a snapshot says about the sessions, comparable.
    fn facts(s: &Snapshot) -> Vec<String> {
        s.sessions
            .iter()
            .map(|(id, x)| {
                format!(
                    "{id} {} {:?} {} {}",
                    serde_json::to_string(&x.overview).unwrap_or_default(),
                    x.linear_issue,
                    x.hash,
                    serde_json::to_string(&x.diagnostics).unwrap_or_default()
                )
            })
            .collect()
    }

    const STATUSES: [&str; 3] = ["in_progress", "paused", "completed"];

    fn text(variant: usize) -> Vec<u8> {
        let status = STATUSES[variant % 3];
        let title = ["Alpha", "Bravo", "Gamma"][variant / 3 % 3];
        match variant % 7 {
            5 => b"---\nsession: [oops\n---\n".to_vec(),
            6 => b"---\nsession:\n  title: bad\n---\n\xff".to_vec(),
            _ => format!(
                "---\nsession:\n  title: {title}\n  status: {status}\n  created: \"2025-12-04T14:30:00Z\"\n  last_updated: \"2025-12-04T15:10:00Z\"\n  linear_issue: L-{variant}\n---\n# Session: {title}\n\n## Next Steps\n\n- go\n"
            )
            .into_bytes(),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(usize, usize),
        /// Same size, different bytes, the old modification time put back: only `ctime` and
        /// the content tell.
        Sneak(usize),
        Delete(usize),
        Rename(usize, usize),
        Symlink(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4usize, 0..21usize).prop_map(|(f, v)| Op::Write(f, v)),
            (0..4usize).prop_map(Op::Sneak),
            (0..4usize).prop_map(Op::Delete),
            (0..4usize, 0..4usize).prop_map(|(a, b)| Op::Rename(a, b)),
            (0..4usize, 0..4usize).prop_map(|(a, b)| Op::Symlink(a, b)),
        ]
    }

    fn name(dir: &Path, i: usize) -> PathBuf {
        dir.join(format!("2025120{i}-143000-s{i}.md"))
    }

    /// Old modification times, so nothing is racy and a full look has to trust `stat`.
    fn age(path: &Path) {
        let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        if let Ok(f) = fs::OpenOptions::new().append(true).open(path) {
            let _ = f.set_modified(old);
        }
    }

    /// Applies `op`; returns the paths an event would name.
    fn apply(dir: &Path, op: &Op) -> Vec<PathBuf> {
        match *op {
            Op::Write(f, v) => {
                let p = name(dir, f);
                let _ = fs::remove_file(&p);
                fs::write(&p, text(v)).unwrap();
                age(&p);
                vec![p]
            }
            Op::Sneak(f) => {
                let p = name(dir, f);
                if let Ok(mut bytes) = fs::read(&p)
                    && let Some(b) = bytes.iter_mut().find(|b| b.is_ascii_lowercase())
                {
                    *b = if *b == b'z' { b'a' } else { *b + 1 };
                    let mtime = fs::metadata(&p).and_then(|m| m.modified()).unwrap();
                    fs::write(&p, bytes).unwrap();
                    let f = fs::OpenOptions::new().append(true).open(&p).unwrap();
                    f.set_modified(mtime).unwrap();
                }
                // Written through symlinks, the event names the file written: the last target.
                let target =
                    fs::canonicalize(&p).map(|t| dir.join(t.file_name().unwrap_or_default()));
                [Ok(p), target].into_iter().flatten().collect()
            }
            Op::Delete(f) => {
                let p = name(dir, f);
                let _ = fs::remove_file(&p);
                vec![p]
            }
            Op::Rename(a, b) => {
                let (pa, pb) = (name(dir, a), name(dir, b));
                let _ = fs::rename(&pa, &pb);
                vec![pa, pb]
            }
            Op::Symlink(a, b) => {
                let (pa, pb) = (name(dir, a), name(dir, b));
                if a != b {
                    let _ = fs::remove_file(&pa);
                    let _ = std::os::unix::fs::symlink(pb.file_name().unwrap(), &pa);
                }
                vec![pa]
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// After every change, the incremental look (told the paths events name) and a full
        /// look by a tracker never told anything (edits behind its back, same size and mtime
        /// included) both equal a fresh read of everything: no stale fact survives.
        #[test]
        fn incremental_and_keyed_looks_equal_a_fresh_read(ops in proptest::collection::vec(op(), 1..14)) {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            fs::create_dir_all(root.join(".agents/sessions")).unwrap();
            let dir = root.join(".agents/sessions");
            let ctx = Ctx {
                repo: crate::store::Repo::at(root.to_path_buf()),
                cwd: root.to_path_buf(),
                now: Utc::now(),
                conversation: None,
            };
            let (mut told, mut blind) = (Tracker::default(), Tracker::default());
            let mut snap = told.snapshot(&ctx, &Changes::everything(), None).unwrap();
            let mut blind_snap = blind.snapshot(&ctx, &Changes::everything(), None).unwrap();
            for op in &ops {
                let mut changes = Changes::default();
                changes.add(apply(&dir, op));
                let fresh = Tracker::default().snapshot(&ctx, &Changes::everything(), None).unwrap();
                let next = told.snapshot(&ctx, &changes, Some(&snap)).unwrap();
                prop_assert_eq!(facts(&next), facts(&fresh), "told, after {:?}", op);
                let blind_next = blind.snapshot(&ctx, &Changes::everything(), Some(&blind_snap)).unwrap();
                prop_assert_eq!(facts(&blind_next), facts(&fresh), "blind, after {:?}", op);
                snap = next;
                blind_snap = blind_next;
            }
        }
    }
}
