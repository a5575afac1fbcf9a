//! Deterministic generator of realistic session files, shared by the benchmarks.
//!
//! Include it with `#[path = "support/gen.rs"] mod generate;` (`gen` is a reserved keyword in
//! edition 2024, and a file directly under `benches/` would be picked up as a bench target).
//!
//! Everything is derived from a seed through a small SplitMix64 generator, so a corpus is the
//! same on every machine and every run: file `i` of a corpus of 100,000 is byte for byte file
//! `i` of a corpus of 10,000.

#![allow(dead_code)] // each bench uses a different part of it

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// SplitMix64: tiny, fast, and good enough to pick words.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A generator for item `index` of a stream seeded with `seed`, independent of the others.
    pub fn for_item(seed: u64, index: u64) -> Self {
        let mut r = Rng(seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True `num` times in `den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Words for prose (ASCII); see [`UNICODE_WORDS`].
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "the", "login", "timeout", "retry", "cache", "token", "refresh", "handler", "request",
    "session", "agent", "migration", "schema", "index", "query", "latency", "budget", "deploy",
    "rollback", "config", "parser", "worker", "queue", "backoff", "webhook", "payload", "tests",
    "flaky", "fixture", "staging", "release", "review", "branch", "merge", "conflict", "api",
    "client", "server", "timezone", "locale", "unicode", "encoding", "and", "of", "to", "with",
    "for", "is", "was", "after", "before", "when", "because", "still", "now", "only", "ok",
];

/// Non-ASCII words: accents, CJK, emoji and the punctuation agents like. About 1 word in
/// [`UNICODE_ONE_IN`] comes from here (≈ 1–2% of the bytes, as in real sessions).
#[rustfmt::skip]
const UNICODE_WORDS: &[&str] = &[
    "über", "naïve", "café", "façade", "Zürich", "grüße", "ü", "日本語", "テスト", "設定", "🚀", "✅",
    "🦀", "🔥", "résumé", "déjà-vu", "Ångström", "straße", "東京", "—", "→", "…",
];

const UNICODE_ONE_IN: usize = 30;

/// ASCII words for slugs and identifiers.
#[rustfmt::skip]
const SLUG_WORDS: &[&str] = &[
    "fix", "login", "timeout", "add", "retry", "cache", "refresh", "token", "migrate", "schema",
    "weather", "api", "billing", "export", "csv", "search", "index", "flaky", "tests", "docs",
    "upgrade", "deps", "rate", "limit", "webhook", "queue", "worker", "auth", "sso", "dark",
    "mode",
];

const AGENTS: &[&str] = &["claude", "codex", "gemini", "aider", "reviewer"];
const AGENT_STATUSES: &[&str] = &["pending", "in_progress", "completed", "failed", "cancelled"];
const STATUSES: &[&str] = &[
    "in_progress",
    "in_progress",
    "in_progress",
    "paused",
    "completed",
];
#[rustfmt::skip]
const FILES: &[&str] = &[
    "src/auth/session.rs", "src/api/client.ts", "migrations/0042_add_index.sql",
    "web/components/Login.tsx", "docs/decisions/0007-caching.md", "scripts/deploy.sh",
    "tests/integration/login_test.py", "config/staging.yaml",
];

/// A deliberate problem planted in a file, so `validate` has diagnostics to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// `status: done` (rule `status`).
    StatusAlias,
    /// `created: 2024-03-01` (rule `timestamp`).
    DateOnly,
    /// No `## Next Steps` section (rule `section-missing`).
    MissingNextSteps,
}

/// What one generated file looks like.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Seconds since the Unix epoch (UTC) of `session.created`; also the file name's time.
    pub created: i64,
    /// Approximate size in bytes; the file is at least as large as its skeleton (~1 KB).
    pub size: usize,
    pub crlf: bool,
    pub defect: Option<Defect>,
}

/// 2024-01-01T00:00:00Z.
pub const EPOCH_2024: i64 = 1_704_067_200;

impl Spec {
    /// The spec of file `index` in a corpus: created 5 minutes apart (so names are unique and
    /// sorted), sizes 1–29 KB (plus the last block, so at most ~30 KB) skewed towards small, CRLF on about 1 in 5, a defect in 1 in 50.
    pub fn for_index(seed: u64, index: u64) -> Spec {
        let mut rng = Rng::for_item(seed ^ 0x5EED, index);
        let u = rng.unit();
        let size = 1024 + (u * u * 28.0 * 1024.0) as usize;
        let crlf = rng.chance(1, 5);
        let defect = match rng.below(150) {
            0 => Some(Defect::StatusAlias),
            1 => Some(Defect::DateOnly),
            2 => Some(Defect::MissingNextSteps),
            _ => None,
        };
        Spec {
            created: EPOCH_2024 + index as i64 * 300 + rng.below(300) as i64,
            size,
            crlf,
            defect,
        }
    }
}

/// A generated session: its file name (`YYYYMMDD-HHMMSS-slug.md`) and contents.
#[derive(Debug, Clone)]
pub struct SessionFile {
    pub name: String,
    pub text: String,
}

fn utc(secs: i64, fmt: &str) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("timestamp in range")
        .format(fmt)
        .to_string()
}

fn rfc3339(secs: i64) -> String {
    utc(secs, "%Y-%m-%dT%H:%M:%SZ")
}

fn words(rng: &mut Rng, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(if rng.chance(1, UNICODE_ONE_IN) {
            rng.pick(UNICODE_WORDS)
        } else {
            rng.pick(WORDS)
        });
    }
    s
}

fn sentence(rng: &mut Rng, out: &mut String) {
    let n = rng.range(6, 16);
    let text = words(rng, n);
    let mut chars = text.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
    if rng.chance(1, 4) {
        let _ = write!(out, " (see `{}`)", rng.pick(FILES));
    }
    out.push_str(if rng.chance(1, 8) { "! " } else { ". " });
}

fn paragraph(rng: &mut Rng, out: &mut String) {
    for _ in 0..rng.range(2, 5) {
        sentence(rng, out);
    }
    out.pop();
    out.push_str("\n\n");
}

fn checklist(rng: &mut Rng, out: &mut String) {
    for _ in 0..rng.range(3, 8) {
        let mark = if rng.chance(1, 2) { "x" } else { " " };
        let n = rng.range(3, 9);
        let _ = writeln!(out, "- [{mark}] {}", words(rng, n));
    }
    out.push('\n');
}

fn code_block(rng: &mut Rng, out: &mut String) {
    let fence = if rng.chance(1, 4) { "~~~" } else { "```" };
    let lang = rng.pick(&["rust", "sh", "md", "yaml", "ts", ""]);
    let _ = writeln!(out, "{fence}{lang}");
    for i in 0..rng.range(3, 14) {
        match rng.below(6) {
            // Headings inside code must not count as sections.
            0 if i > 0 => {
                let _ = writeln!(
                    out,
                    "## {}",
                    rng.pick(&["Next Steps", "Context", "fake", "Current State"])
                );
            }
            1 => {
                let _ = writeln!(out, "# {}", words(rng, 4));
            }
            2 => {
                let _ = writeln!(out, "cargo test -p {} -- --nocapture", rng.pick(SLUG_WORDS));
            }
            3 => {
                let _ = writeln!(
                    out,
                    "    let {} = {}(\"{}\")?;",
                    rng.pick(SLUG_WORDS),
                    rng.pick(SLUG_WORDS),
                    words(rng, 2)
                );
            }
            _ => {
                let n = rng.range(2, 7);
                let _ = writeln!(out, "{}", words(rng, n));
            }
        }
    }
    let _ = writeln!(out, "{fence}\n");
}

fn table(rng: &mut Rng, out: &mut String) {
    out.push_str("| File | Change | Status |\n|------|--------|:------:|\n");
    for _ in 0..rng.range(2, 7) {
        let status = rng.pick(&["✅ done", "🚧 wip", "❌ blocked", "todo"]);
        let _ = writeln!(
            out,
            "| `{}` | {} | {status} |",
            rng.pick(FILES),
            words(rng, 4)
        );
    }
    out.push('\n');
}

fn log_entry(rng: &mut Rng, at: i64, out: &mut String) {
    let who = rng.pick(AGENTS);
    let n = rng.range(6, 20);
    let _ = writeln!(out, "- {} **{who}**: {}", rfc3339(at), words(rng, n));
}

fn comment(rng: &mut Rng, out: &mut String) {
    let n = rng.range(4, 10);
    let _ = writeln!(out, "<!-- {} -->\n", words(rng, n));
}

fn block(rng: &mut Rng, out: &mut String) {
    match rng.below(10) {
        0..=3 => paragraph(rng, out),
        4 | 5 => checklist(rng, out),
        6 | 7 => code_block(rng, out),
        8 => table(rng, out),
        _ => comment(rng, out),
    }
}

fn quoted(rng: &mut Rng, value: &str) -> String {
    if rng.chance(1, 2) {
        format!("\"{value}\"")
    } else {
        value.to_string()
    }
}

fn uuid(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// Generates one session file from `spec`, with `rng` choosing the words.
pub fn session(rng: &mut Rng, spec: &Spec) -> SessionFile {
    let slug_len = rng.range(2, 5);
    let slug: Vec<&str> = (0..slug_len).map(|_| rng.pick(SLUG_WORDS)).collect();
    let slug = slug.join("-");
    let name = format!("{}-{slug}.md", utc(spec.created, "%Y%m%d-%H%M%S"));
    let updated = spec.created + rng.below(14 * 24 * 3600) as i64;
    let title_words = rng.range(2, 6);
    let title = format!("{} {}", slug.replace('-', " "), words(rng, title_words));

    let mut s = String::with_capacity(spec.size + 2048);
    s.push_str("---\n");
    if rng.chance(1, 3) {
        s.push_str("# Managed by `sessions`; edit freely, keep the keys.\n");
    }
    s.push_str("session:\n");
    let title_value = if rng.chance(3, 5) {
        format!("\"{title}\"")
    } else {
        title.clone()
    };
    let _ = writeln!(s, "  title: {title_value}");
    let status = match spec.defect {
        Some(Defect::StatusAlias) => "done",
        _ => rng.pick(STATUSES),
    };
    if rng.chance(1, 4) {
        let _ = writeln!(s, "  status: {status}  # in_progress | paused | completed");
    } else {
        let _ = writeln!(s, "  status: {status}");
    }
    let created = match spec.defect {
        Some(Defect::DateOnly) => utc(spec.created, "%Y-%m-%d"),
        _ => rfc3339(spec.created),
    };
    let _ = writeln!(s, "  created: {}", quoted(rng, &created));
    let _ = writeln!(s, "  last_updated: {}", quoted(rng, &rfc3339(updated)));
    if rng.chance(1, 2) {
        let key = format!(
            "{}-{}",
            rng.pick(&["PLT", "WEB", "OPS", "DATA"]),
            rng.range(1, 9999)
        );
        let _ = writeln!(s, "  linear_issue: {}", quoted(rng, &key));
        let _ = writeln!(
            s,
            "  linear_url: https://linear.app/acme/issue/{key}/{slug}"
        );
    } else {
        s.push_str("  linear_issue:\n  linear_url:\n");
    }
    s.push_str("orchestration:\n");
    let task_len = rng.range(3, 9);
    let _ = writeln!(s, "  current_task: \"{}\"", words(rng, task_len));
    if rng.chance(3, 10) {
        s.push_str("  # Background agents started with `sessions spawn`.\n  spawned_agents:\n");
        for _ in 0..rng.range(1, 4) {
            let agent = rng.pick(AGENTS);
            let task_len = rng.range(3, 8);
            let task = words(rng, task_len);
            let status = rng.pick(AGENT_STATUSES);
            if rng.chance(1, 5) {
                let _ = writeln!(
                    s,
                    "    - {{agent: {agent}, task: \"{task}\", status: {status}}}"
                );
            } else {
                let _ = writeln!(
                    s,
                    "    - agent: {agent}\n      task: \"{task}\"\n      status: {status}"
                );
                let _ = writeln!(s, "      conversation_id: {}", uuid(rng));
                let started = spec.created + rng.below(3600) as i64;
                let _ = writeln!(s, "      started: {}", quoted(rng, &rfc3339(started)));
            }
        }
    }
    s.push_str("---\n");
    let _ = writeln!(s, "# Session: {title}\n");

    let mut sections: Vec<(&str, String)> = sessions::session::edit::TEMPLATE_SECTIONS
        .into_iter()
        .filter(|name| !(spec.defect == Some(Defect::MissingNextSteps) && *name == "Next Steps"))
        .map(|name| (name, String::new()))
        .collect();
    // A fresh session (small target size) still has the template's placeholders; sessions
    // that grew get real content in every section before the rest is spread around.
    let fresh = spec.size < 4096;
    for (name, body) in sections.iter_mut() {
        if fresh && *name != "Context" {
            let n = rng.range(2, 5);
            let _ = writeln!(body, "<!-- {} -->\n", words(rng, n));
            continue;
        }
        match *name {
            "Next Steps" | "Acceptance Criteria" => checklist(rng, body),
            "Execution Progress" => {
                body.push_str("### Wave 1\n\n");
                checklist(rng, body);
            }
            "Technical Context" => code_block(rng, body),
            "Session Log" => log_entry(rng, spec.created, body),
            _ => paragraph(rng, body),
        }
    }
    let skeleton: usize = s.len()
        + sections
            .iter()
            .map(|(n, b)| n.len() + b.len() + 5)
            .sum::<usize>();
    let mut total = skeleton;
    let mut log_time = spec.created;
    let mut wave = 1;
    while total < spec.size {
        let i = rng.below(sections.len());
        let (name, body) = &mut sections[i];
        let before = body.len();
        match *name {
            "Session Log" => {
                log_time += rng.below(7200) as i64;
                log_entry(rng, log_time.min(updated), body);
            }
            "Execution Progress" if rng.chance(1, 3) => {
                wave += 1;
                let _ = writeln!(body, "### Wave {wave}\n");
                checklist(rng, body);
            }
            _ => block(rng, body),
        }
        total += body.len() - before;
    }
    for (name, body) in &sections {
        let _ = write!(s, "## {name}\n\n{body}");
        if !body.ends_with("\n\n") {
            s.push('\n');
        }
    }
    if spec.crlf {
        s = s.replace('\n', "\r\n");
    }
    SessionFile { name, text: s }
}

/// File `index` of the corpus seeded with `seed`.
pub fn session_at(seed: u64, index: u64) -> SessionFile {
    let spec = Spec::for_index(seed, index);
    session(&mut Rng::for_item(seed, index), &spec)
}

/// A single session of about `size` bytes (e.g. the 30 KB file for update/log latency).
pub fn session_of_size(seed: u64, size: usize, crlf: bool) -> SessionFile {
    let spec = Spec {
        size,
        crlf,
        defect: None,
        ..Spec::for_index(seed, 0)
    };
    session(&mut Rng::for_item(seed, 0), &spec)
}

/// A repository with generated sessions in `.agents/sessions/`.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The repository root (holds `.agents/`).
    pub root: PathBuf,
    /// `root/.agents/sessions`.
    pub dir: PathBuf,
    /// File names (relative to `dir`), sorted.
    pub names: Vec<String>,
    pub bytes: u64,
    pub crlf: usize,
    /// Files with a planted [`Defect`].
    pub defective: usize,
}

impl Corpus {
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.names.iter().map(|n| self.dir.join(n))
    }
}

/// Writes `n` sessions (files `0..n` of the corpus seeded with `seed`) under `root`, on all
/// cores. `root` is created if needed; an existing sessions directory is added to.
pub fn populate(root: &Path, n: usize, seed: u64) -> io::Result<Corpus> {
    let dir = root.join(".agents/sessions");
    fs::create_dir_all(&dir)?;
    let empty = Corpus {
        root: root.to_path_buf(),
        dir: dir.clone(),
        names: Vec::new(),
        bytes: 0,
        crlf: 0,
        defective: 0,
    };
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    let parts: Vec<io::Result<Corpus>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mut part = empty.clone();
                scope.spawn(move || {
                    for i in (t..n).step_by(threads) {
                        let spec = Spec::for_index(seed, i as u64);
                        let file = session(&mut Rng::for_item(seed, i as u64), &spec);
                        fs::write(part.dir.join(&file.name), &file.text)?;
                        part.bytes += file.text.len() as u64;
                        part.crlf += usize::from(spec.crlf);
                        part.defective += usize::from(spec.defect.is_some());
                        part.names.push(file.name);
                    }
                    Ok(part)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generator thread panicked"))
            .collect()
    });
    let mut corpus = empty;
    for part in parts {
        let part = part?;
        corpus.names.extend(part.names);
        corpus.bytes += part.bytes;
        corpus.crlf += part.crlf;
        corpus.defective += part.defective;
    }
    corpus.names.sort();
    Ok(corpus)
}
