//! Finished runs compacted into one file, `<state_dir>/runs/finished.jsonl`, so that listing
//! ten thousand old runs is one sequential read instead of ten thousand opens.
//!
//! The file holds one run record per line (compact JSON, the same shape as a record file),
//! sorted by [`Key`] (start time, run id, session). Only settled records go there: finished,
//! written back, with no queued message waiting (see [`eligible`]). A settled record is not
//! expected to change, but if anything updates one later (`worktree remove`, a late
//! notification failure), [`super::record::update`] first writes it back out as a loose file,
//! and **a loose file always wins** over its compacted line. Readers therefore merge the
//! (few) loose records, held in memory, with the compacted lines, streamed.
//!
//! Crash safety, in order of the steps of [`compact`]:
//! 1. the new lines are appended in one write (or, when they would not sort after the last
//!    line, the file is rewritten merged into a temp file and renamed over it), then the file
//!    and its directory are fsynced;
//! 2. only then is each loose file removed, under its directory's lock and only if it still
//!    holds exactly what was compacted (otherwise it was changed meanwhile and stays, winning).
//!
//! A crash in 1 leaves a partial last line (ignored by readers, cut off by the next
//! compaction) or the old file, and the loose files; a crash in 2 leaves a loose file beside
//! its line, read once (loose wins) and removed by the next compaction. Equal keys in the
//! file are adjacent (it is sorted), so a line that supersedes another is told apart with one
//! line of look-ahead: the last of equal keys wins. Nothing is lost, nothing shown twice.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::record::{self, RunRecord};
use super::{Error, IoContext, Result};

/// The compacted file, in `<state_dir>/runs/`.
pub const FILE: &str = "finished.jsonl";
/// Held (flock) by whoever rewrites or appends to [`FILE`].
const LOCK: &str = ".compact.lock";
/// Readers compact once this many settled loose records have piled up.
pub const COMPACT_AT: usize = 32;
/// A finished run is left loose this long after it ended (late notifications, a person
/// looking at it right after): compacting it would only make them write it out again.
pub const SETTLE: chrono::Duration = chrono::Duration::minutes(10);

/// Sort order of the file and of every listing of runs: oldest start first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub started_ms: i64,
    pub id: String,
    pub session: String,
}

impl Key {
    pub fn of(rec: &RunRecord) -> Key {
        Key {
            started_ms: rec.started_at.timestamp_millis(),
            id: rec.id.clone(),
            session: rec.session.clone(),
        }
    }
}

/// What a compacted line says before its view and record: enough to order, hide and filter
/// it without parsing the record. `f` is the [`Views::fingerprint`] the view was rendered
/// with, `n` the byte length of the stored view's JSON (0: no view).
#[derive(Serialize, Deserialize)]
struct Head {
    s: String,
    i: String,
    t: i64,
    e: Option<i64>,
    f: u64,
    n: usize,
}

/// How the views stored beside compacted records are made (by `crate::runs`, which owns the
/// view): `render` gives a settled record's view as it is stored, JSON on one line (or `None`
/// when it is not fixed, e.g. a worktree whose state is looked up live), `fingerprint` changes
/// whenever the rendering would (a stored view of another fingerprint is never used).
pub struct Views {
    pub fingerprint: u64,
    pub render: fn(&RunRecord) -> Option<String>,
}

static VIEWS: std::sync::OnceLock<fn() -> &'static Views> = std::sync::OnceLock::new();

/// Registers how views are made (once per process, at start-up; `views` is only called when
/// something is compacted, so registering costs nothing on the hook path): the view lives
/// above this engine, which never imports it. Without one, nothing is compacted (what is
/// compacted is still read, its views rendered afresh from the records).
pub fn set_views(views: fn() -> &'static Views) {
    let _ = VIEWS.set(views);
}

/// The registered views, if any.
pub fn views() -> Option<&'static Views> {
    VIEWS.get().map(|f| f())
}

const PREFIX: &[u8] = b"{\"k\":";

/// One compacted line, as read: `{"k":<head>,"v":<view>|null,"r":<record>}`.
/// (A line that is a bare record, hand-written or from a tool, is read too.)
pub struct Line {
    pub key: Key,
    pub ended_ms: Option<i64>,
    fingerprint: u64,
    /// The view string token and the record JSON, as byte ranges of `raw`.
    view: Option<std::ops::Range<usize>>,
    record: std::ops::Range<usize>,
    raw: Vec<u8>,
}

impl Line {
    fn build(rec: &RunRecord, views: &Views) -> Vec<u8> {
        let view = (views.render)(rec).map(String::into_bytes);
        let head = Head {
            s: rec.session.clone(),
            i: rec.id.clone(),
            t: rec.started_at.timestamp_millis(),
            e: rec.ended_at.map(|e| e.timestamp_millis()),
            f: views.fingerprint,
            n: view.as_ref().map_or(0, Vec::len),
        };
        let mut out = PREFIX.to_vec();
        serde_json::to_writer(&mut out, &head).expect("a head serializes");
        out.extend_from_slice(b",\"v\":");
        match &view {
            Some(v) => out.extend_from_slice(v),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"r\":");
        serde_json::to_writer(&mut out, rec).expect("RunRecord serializes");
        out.extend_from_slice(b"}\n");
        out
    }

    /// Splits a complete line (with its newline).
    fn parse(raw: Vec<u8>) -> std::result::Result<Line, String> {
        let body_end = raw.len() - 1;
        if !raw.starts_with(PREFIX) {
            // A bare record.
            let rec = record::parse(&raw[..body_end]).map_err(|e| e.to_string())?;
            return Ok(Line {
                key: Key::of(&rec),
                ended_ms: rec.ended_at.map(|e| e.timestamp_millis()),
                fingerprint: 0,
                view: None,
                record: 0..body_end,
                raw,
            });
        }
        let mut heads =
            serde_json::Deserializer::from_slice(&raw[PREFIX.len()..]).into_iter::<Head>();
        let head = heads.next().ok_or("no head")?.map_err(|e| e.to_string())?;
        let mut at = PREFIX.len() + heads.byte_offset();
        let bad = || "not a compacted run line".to_string();
        let expect = |at: &mut usize, what: &[u8]| -> std::result::Result<(), String> {
            if raw.get(*at..*at + what.len()) == Some(what) {
                *at += what.len();
                Ok(())
            } else {
                Err(bad())
            }
        };
        expect(&mut at, b",\"v\":")?;
        let view = if head.n == 0 {
            expect(&mut at, b"null")?;
            None
        } else {
            let r = at..at + head.n;
            if r.end > body_end {
                return Err(bad());
            }
            at = r.end;
            Some(r)
        };
        expect(&mut at, b",\"r\":")?;
        if raw.get(body_end - 1) != Some(&b'}') || at >= body_end - 1 {
            return Err(bad());
        }
        Ok(Line {
            key: Key {
                started_ms: head.t,
                id: head.i,
                session: head.s,
            },
            ended_ms: head.e,
            fingerprint: head.f,
            view,
            record: at..body_end - 1,
            raw,
        })
    }

    /// The run record.
    pub fn record(&self) -> serde_json::Result<RunRecord> {
        record::parse(&self.raw[self.record.clone()])
    }

    /// The stored view, if it was rendered the way `views` renders.
    pub fn view(&self, views: &Views) -> Option<&[u8]> {
        if self.fingerprint != views.fingerprint {
            return None;
        }
        Some(&self.raw[self.view.clone()?])
    }
}

fn key_of_line(line: &[u8]) -> Option<Key> {
    Line::parse(line.to_vec()).ok().map(|l| l.key)
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("runs").join(FILE)
}

/// Settled: finished, written back into its session file, nothing queued for it, ended
/// more than [`SETTLE`] ago.
pub fn eligible(rec: &RunRecord, now: DateTime<Utc>) -> bool {
    !rec.status.is_active()
        && rec.written_back
        && rec.ended_at.is_some_and(|e| now - e >= SETTLE)
        && !super::queue::pending(rec)
}

/// The compacted lines, streamed in key order (the last of equal keys wins). A partial last
/// line (an append in progress, or cut by a crash) is not a record yet and is skipped; a
/// corrupt line is reported in [`Compacted::errors`] and skipped.
pub struct Compacted {
    file: Option<BufReader<File>>,
    state_dir: PathBuf,
    path: PathBuf,
    /// Only lines containing this are parsed (one session's `"s":"<stem>"`).
    filter: Option<Vec<u8>>,
    ahead: Option<Line>,
    pub errors: Vec<(PathBuf, String)>,
    line_no: usize,
}

impl Compacted {
    /// Every compacted record; none when there is no file.
    pub fn open(state_dir: &Path) -> Compacted {
        let path = path(state_dir);
        let file = File::open(&path)
            .ok()
            .map(|f| BufReader::with_capacity(64 << 10, f));
        Compacted {
            file,
            state_dir: state_dir.to_path_buf(),
            path,
            filter: None,
            ahead: None,
            errors: Vec::new(),
            line_no: 0,
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Only the records of the session with this stem (a line is looked at only when it
    /// names the session: a byte search, no parse).
    pub fn of_session(state_dir: &Path, session: &str) -> Compacted {
        let mut c = Compacted::open(state_dir);
        c.filter = Some(serde_json::to_vec(session).expect("a string serializes"));
        c
    }

    /// The next complete, well-formed line.
    fn next_line(&mut self) -> Option<Line> {
        loop {
            let file = self.file.as_mut()?;
            let mut buf = Vec::with_capacity(4096);
            match read_line(file, &mut buf) {
                Ok(0) => {
                    self.file = None;
                    return None;
                }
                Ok(_) if buf.last() != Some(&b'\n') => {
                    // A partial last line: not a record (yet).
                    self.file = None;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.errors.push((self.path.clone(), e.to_string()));
                    self.file = None;
                    return None;
                }
            }
            self.line_no += 1;
            if let Some(needle) = &self.filter
                && memchr::memmem::find(&buf, needle).is_none()
            {
                continue;
            }
            match Line::parse(buf) {
                Ok(line) => {
                    if let Some(needle) = &self.filter
                        && serde_json::to_vec(&line.key.session).ok().as_ref() != Some(needle)
                    {
                        continue;
                    }
                    return Some(line);
                }
                Err(e) => self.errors.push((
                    self.path.clone(),
                    format!("line {}: invalid run record: {e}", self.line_no),
                )),
            }
        }
    }
}

impl Iterator for Compacted {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        let mut cur = match self.ahead.take() {
            Some(l) => l,
            None => self.next_line()?,
        };
        // Equal keys are adjacent: the last one wins.
        loop {
            match self.next_line() {
                Some(next) if next.key == cur.key => cur = next,
                Some(next) => {
                    self.ahead = Some(next);
                    return Some(cur);
                }
                None => return Some(cur),
            }
        }
    }
}

/// `BufRead::read_until(b'\n')` with a vectorised search (the standard one goes a word at a
/// time, which shows on a file of ten thousand runs).
fn read_line<R: BufRead + ?Sized>(r: &mut R, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(n);
        }
        let (used, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        buf.extend_from_slice(&chunk[..used]);
        r.consume(used);
        n += used;
        if done {
            return Ok(n);
        }
    }
}

/// A run as a merged listing yields it: a loose record, or a compacted line.
pub enum Item {
    Loose(PathBuf, Box<RunRecord>),
    Compacted(Line),
}

/// Loose records (held, sorted) merged with compacted lines (streamed) in key order; a loose
/// record hides its compacted line.
pub struct Merged {
    loose: std::iter::Peekable<std::vec::IntoIter<(PathBuf, RunRecord)>>,
    hidden: HashSet<(String, String)>,
    compacted: Compacted,
    peeked: Option<Line>,
}

impl Merged {
    /// `loose` must be sorted by [`Key`].
    pub fn new(loose: Vec<(PathBuf, RunRecord)>, compacted: Compacted) -> Self {
        let hidden = loose
            .iter()
            .map(|(_, r)| (r.session.clone(), r.id.clone()))
            .collect();
        Merged {
            loose: loose.into_iter().peekable(),
            hidden,
            compacted,
            peeked: None,
        }
    }

    /// Corrupt or unreadable compacted lines met so far.
    pub fn errors(&self) -> &[(PathBuf, String)] {
        &self.compacted.errors
    }

    /// The state directory the records are in.
    pub fn state_dir(&self) -> &Path {
        &self.compacted.state_dir
    }

    /// The next compacted line no loose record hides.
    fn peek_compacted(&mut self) -> Option<&Line> {
        while self.peeked.is_none() {
            let c = self.compacted.next()?;
            if !self
                .hidden
                .contains(&(c.key.session.clone(), c.key.id.clone()))
            {
                self.peeked = Some(c);
            }
        }
        self.peeked.as_ref()
    }

    /// Every run as `(record path, record)` (compacted ones parsed; a compacted record's path
    /// is the loose file it would have, which [`record::update`] writes out when needed).
    /// Lines whose record does not parse are reported in `errors`.
    pub fn records<'a>(
        &'a mut self,
        errors: &'a mut Vec<(PathBuf, String)>,
    ) -> impl Iterator<Item = (PathBuf, RunRecord)> + 'a {
        let state_dir = self.compacted.state_dir.clone();
        let file = self.compacted.path.clone();
        self.by_ref().filter_map(move |item| match item {
            Item::Loose(p, r) => Some((p, *r)),
            Item::Compacted(line) => match line.record() {
                Ok(r) => Some((r.path_in(&state_dir), r)),
                Err(e) => {
                    errors.push((file.clone(), format!("invalid run record: {e}")));
                    None
                }
            },
        })
    }
}

impl Iterator for Merged {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let compacted = self.peek_compacted().map(|l| l.key.clone());
        let take_loose = match (self.loose.peek(), compacted) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((_, l)), Some(c)) => Key::of(l).cmp(&c) != Ordering::Greater,
        };
        if take_loose {
            self.loose.next().map(|(p, r)| Item::Loose(p, Box::new(r)))
        } else {
            self.peeked.take().map(Item::Compacted)
        }
    }
}

/// Does the compacted file hold this run? (A scan; for the rare callers that ask about one
/// run whose loose file is missing.)
pub fn contains(state_dir: &Path, session: &str, id: &str) -> bool {
    find(state_dir, session, id).is_some()
}

/// The compacted record of this run, if any (the last line of its key wins).
pub fn find(state_dir: &Path, session: &str, id: &str) -> Option<RunRecord> {
    Compacted::of_session(state_dir, session)
        .filter(|l| l.key.id == id)
        .last()?
        .record()
        .ok()
}

fn lock(state_dir: &Path, wait: bool) -> Result<Option<File>> {
    let runs = state_dir.join("runs");
    fs::create_dir_all(&runs).at(&runs)?;
    let path = runs.join(LOCK);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    if wait {
        f.lock().at(&path)?;
        return Ok(Some(f));
    }
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e).at(&path),
    }
}

/// Cuts a partial last line (an append cut short by a crash) so the next append starts on a
/// line of its own. Returns the file's length afterwards.
fn cut_partial_tail(f: &mut File, path: &Path) -> Result<u64> {
    let len = f.metadata().at(path)?.len();
    let end = newline_before(f, path, len)?.map_or(0, |i| i + 1);
    if end != len {
        f.set_len(end).at(path)?;
    }
    Ok(end)
}

/// The key of the last complete line of the file (`None` when empty or unreadable).
fn last_key(f: &mut File, path: &Path, len: u64) -> Result<Option<Key>> {
    if len == 0 {
        return Ok(None);
    }
    let end = len - 1; // the final newline
    let start = newline_before(f, path, end)?.map_or(0, |i| i + 1);
    let mut line = vec![0u8; (end - start) as usize];
    f.seek(SeekFrom::Start(start)).at(path)?;
    f.read_exact(&mut line).at(path)?;
    Ok(key_of_line(&line))
}

/// The offset of the last newline before `pos`, read backwards in chunks.
fn newline_before(f: &mut File, path: &Path, mut pos: u64) -> Result<Option<u64>> {
    let mut chunk = vec![0u8; 8192];
    while pos > 0 {
        let start = pos.saturating_sub(chunk.len() as u64);
        let n = (pos - start) as usize;
        f.seek(SeekFrom::Start(start)).at(path)?;
        f.read_exact(&mut chunk[..n]).at(path)?;
        if let Some(i) = memchr::memrchr(b'\n', &chunk[..n]) {
            return Ok(Some(start + i as u64));
        }
        pos = start;
    }
    Ok(None)
}

/// Moves the settled ones among `candidates` (loose records, as just loaded) into the
/// compacted file and removes their loose files. Does nothing when another process is
/// compacting. Returns how many were compacted.
pub fn compact(
    state_dir: &Path,
    candidates: &[(PathBuf, RunRecord)],
    views: &Views,
) -> Result<usize> {
    let now = Utc::now();
    if candidates.iter().filter(|(_, r)| eligible(r, now)).count() == 0 {
        return Ok(0);
    }
    let Some(_lock) = lock(state_dir, false)? else {
        return Ok(0);
    };
    // Fresh copies: another process may have changed or compacted them since they were read.
    let mut batch: Vec<(Key, PathBuf, Vec<u8>)> = candidates
        .iter()
        .filter(|(_, r)| eligible(r, now))
        .filter_map(|(p, _)| {
            let rec = record::load(p).ok()?;
            eligible(&rec, now).then(|| (Key::of(&rec), p.clone(), Line::build(&rec, views)))
        })
        .collect();
    if batch.is_empty() {
        return Ok(0);
    }
    batch.sort_by(|a, b| a.0.cmp(&b.0));
    let file_path = path(state_dir);
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&file_path)
        .at(&file_path)?;
    let len = cut_partial_tail(&mut f, &file_path)?;
    let last = last_key(&mut f, &file_path, len)?;
    remove_stale_temps(state_dir);
    if last.as_ref().is_none_or(|k| batch[0].0 > *k) {
        // In order: one append. (An equal key, a line superseded or left by an interrupted
        // compaction, takes the rewrite, which replaces it: the file never holds a key twice.)
        let bytes: Vec<u8> = batch
            .iter()
            .flat_map(|(_, _, l)| l.iter().copied())
            .collect();
        f.seek(SeekFrom::End(0)).at(&file_path)?;
        f.write_all(&bytes).at(&file_path)?;
        f.sync_all().at(&file_path)?;
    } else {
        drop(f);
        rewrite(state_dir, |out, old| merge_into(out, old, &batch))?;
    }
    crate::atomic::sync_parent(&file_path);
    // Durable: the loose copies may go, each unless changed since.
    let mut n = 0;
    for (_, p, l) in &batch {
        let done = record::with_dir_lock(p, || match record::load(p) {
            Ok(rec) if Line::build(&rec, views) == *l => fs::remove_file(p).is_ok(),
            _ => false,
        });
        n += usize::from(done.unwrap_or(false));
    }
    Ok(n)
}

/// Temp files of rewrites that never finished (the caller holds the lock, so none is live).
fn remove_stale_temps(state_dir: &Path) {
    let Ok(dir) = fs::read_dir(state_dir.join("runs")) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".finished-") && name.ends_with(".jsonl") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Streams the old lines of the file and the sorted batch into `out` in key order; a batch
/// line replaces old lines of its key.
fn merge_into(
    out: &mut dyn Write,
    old: &mut dyn BufRead,
    batch: &[(Key, PathBuf, Vec<u8>)],
) -> std::io::Result<()> {
    let mut next = batch.iter().peekable();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if read_line(old, &mut buf)? == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        match key_of_line(&buf) {
            Some(k) => {
                while let Some((_, _, l)) = next.next_if(|(bk, _, _)| *bk <= k) {
                    out.write_all(l)?;
                }
                let replaced = batch.binary_search_by(|(bk, _, _)| bk.cmp(&k)).is_ok();
                if !replaced {
                    out.write_all(&buf)?;
                }
            }
            // Unreadable line: kept as it is (it is reported by readers, never dropped here).
            None => out.write_all(&buf)?,
        }
    }
    for (_, _, l) in next {
        out.write_all(l)?;
    }
    Ok(())
}

/// Replaces the compacted file by what `f` writes from the old one (temp file, fsync,
/// rename, directory fsync). The caller holds the lock.
fn rewrite(
    state_dir: &Path,
    f: impl FnOnce(&mut dyn Write, &mut dyn BufRead) -> std::io::Result<()>,
) -> Result<()> {
    let file_path = path(state_dir);
    let dir = file_path.parent().expect("runs/ has a parent");
    let tmp = tempfile::Builder::new()
        .prefix(".finished-")
        .suffix(".jsonl")
        .tempfile_in(dir)
        .at(dir)?;
    {
        let mut out = std::io::BufWriter::with_capacity(256 << 10, tmp.as_file());
        let mut old: Box<dyn BufRead> = match File::open(&file_path) {
            Ok(f) => Box::new(BufReader::with_capacity(256 << 10, f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Box::new(std::io::empty()),
            Err(e) => return Err(e).at(&file_path),
        };
        f(&mut out, &mut *old).at(tmp.path())?;
        out.flush().at(tmp.path())?;
    }
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist(&file_path).map_err(|e| Error::Io {
        path: file_path.clone(),
        source: e.error,
    })?;
    crate::atomic::sync_parent(&file_path);
    Ok(())
}

/// Drops these runs (`(session, id)`) from the compacted file (`prune`). Waits for a
/// compaction in progress.
pub fn forget(state_dir: &Path, runs: &HashSet<(String, String)>) -> Result<()> {
    if runs.is_empty() || !path(state_dir).exists() {
        return Ok(());
    }
    let _lock = lock(state_dir, true)?;
    rewrite(state_dir, |out, old| {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if read_line(old, &mut buf)? == 0 || buf.last() != Some(&b'\n') {
                return Ok(());
            }
            let drop = key_of_line(&buf).is_some_and(|k| runs.contains(&(k.session, k.id)));
            if !drop {
                out.write_all(&buf)?;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::record::tests::sample;
    use crate::agents::record::{RunStatus, load_all, save};
    use proptest::prelude::*;

    fn views() -> &'static Views {
        crate::runs::settled_views()
    }

    /// A settled record of `session`, started `start` seconds into 2025.
    fn settled(session: &str, start: i64) -> RunRecord {
        let mut r = sample(session);
        let t0 = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        r.started_at = t0 + chrono::Duration::seconds(start);
        r.ended_at = Some(r.started_at + chrono::Duration::seconds(30));
        r.status = RunStatus::Completed;
        r.written_back = true;
        r
    }

    fn put(state: &Path, recs: &[RunRecord]) -> Vec<(PathBuf, RunRecord)> {
        recs.iter()
            .map(|r| {
                let p = r.path_in(state);
                save(&p, r).unwrap();
                let rec = record::load(&p).unwrap();
                (p, rec)
            })
            .collect()
    }

    /// `(session, id)` of every record a full load sees, in order.
    fn seen(state: &Path) -> Vec<(String, String)> {
        let report = load_all(state);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report
            .records
            .iter()
            .map(|(_, r)| (r.session.clone(), r.id.clone()))
            .collect()
    }

    fn expected(recs: &[RunRecord]) -> Vec<(String, String)> {
        let mut v: Vec<&RunRecord> = recs.iter().collect();
        v.sort_by_key(|r| Key::of(r));
        v.iter()
            .map(|r| (r.session.clone(), r.id.clone()))
            .collect()
    }

    fn loose_count(state: &Path) -> usize {
        record::load_loose(state).records.len()
    }

    #[test]
    fn compacts_appends_in_order_and_merges_out_of_order() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        let first: Vec<RunRecord> = (0..5).map(|i| settled("a", i * 10)).collect();
        let loaded = put(state, &first);
        assert_eq!(compact(state, &loaded, views()).unwrap(), 5);
        assert_eq!(loose_count(state), 0);
        assert_eq!(seen(state), expected(&first));
        // Later starts: appended. Earlier ones (a long run that ended last): merged in.
        let more = vec![settled("b", 100), settled("b", 5), settled("a", -3)];
        let loaded = put(state, &more);
        assert_eq!(compact(state, &loaded, views()).unwrap(), 3);
        let all: Vec<RunRecord> = first.iter().chain(&more).cloned().collect();
        assert_eq!(seen(state), expected(&all));
        let text = fs::read_to_string(path(state)).unwrap();
        assert_eq!(text.lines().count(), 8);
        // One session's records.
        let b: Vec<String> = record::load_for_session(state, "b")
            .records
            .iter()
            .map(|(_, r)| r.id.clone())
            .collect();
        assert_eq!(b, vec![more[1].id.clone(), more[0].id.clone()]);
    }

    #[test]
    fn unsettled_records_stay_loose() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        let mut running = settled("a", 0);
        running.status = RunStatus::Running;
        running.ended_at = None;
        let mut not_back = settled("a", 1);
        not_back.written_back = false;
        let mut recent = settled("a", 2);
        recent.ended_at = Some(Utc::now());
        let loaded = put(state, &[running, not_back, recent]);
        assert_eq!(compact(state, &loaded, views()).unwrap(), 0);
        assert_eq!(loose_count(state), 3);
        assert!(!path(state).exists());
    }

    #[test]
    fn an_update_of_a_compacted_run_writes_it_out_and_wins() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        let recs: Vec<RunRecord> = (0..3).map(|i| settled("a", i)).collect();
        let loaded = put(state, &recs);
        compact(state, &loaded, views()).unwrap();
        let p = recs[1].path_in(state);
        assert!(!p.exists());
        let (rec, ()) = record::update(&p, |r| r.notify_failures.push("late".into())).unwrap();
        assert_eq!(rec.id, recs[1].id);
        assert!(p.exists(), "written out as a loose file");
        let report = load_all(state);
        assert_eq!(report.records.len(), 3, "shown once");
        assert_eq!(
            report.records[1].1.notify_failures,
            vec!["late".to_string()]
        );
        // Compacted again: its line is replaced, the loose file goes.
        let loaded = record::load_loose(state).records;
        assert_eq!(compact(state, &loaded, views()).unwrap(), 1);
        assert_eq!(loose_count(state), 0);
        let report = load_all(state);
        assert_eq!(report.records.len(), 3);
        assert_eq!(
            report.records[1].1.notify_failures,
            vec!["late".to_string()]
        );
        assert_eq!(
            fs::read_to_string(path(state)).unwrap().lines().count(),
            3,
            "replaced, not added"
        );
        // A run that is nowhere is still an error.
        assert!(record::update(&record::record_path(state, "a", "nope"), |_| ()).is_err());
    }

    #[test]
    fn forget_drops_lines() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        let recs: Vec<RunRecord> = (0..4).map(|i| settled("a", i)).collect();
        let loaded = put(state, &recs);
        compact(state, &loaded, views()).unwrap();
        let gone: HashSet<(String, String)> = [("a".to_string(), recs[2].id.clone())].into();
        forget(state, &gone).unwrap();
        let mut rest = recs.clone();
        rest.remove(2);
        assert_eq!(seen(state), expected(&rest));
        assert!(!record::exists(state, "a", &recs[2].id));
        assert!(record::exists(state, "a", &recs[1].id));
    }

    /// Where a compaction may stop (a kill, a crash), as the files it leaves.
    #[derive(Debug, Clone)]
    enum Stop {
        /// The append cut after this many bytes (the loose files all still there).
        TornAppend(usize),
        /// The append done and synced; only the loose files before this index removed.
        Removing(usize),
        /// A rewrite's temp file left beside the untouched old file.
        TempLeft,
    }

    fn stop() -> impl Strategy<Value = Stop> {
        prop_oneof![
            (0usize..4000).prop_map(Stop::TornAppend),
            (0usize..12).prop_map(Stop::Removing),
            Just(Stop::TempLeft),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Compaction interrupted anywhere loses no record and shows none twice, and the next
        /// compaction finishes the job.
        #[test]
        fn interrupted_compaction_loses_and_duplicates_nothing(
            old in prop::collection::vec((0usize..3, 0i64..100), 0..8),
            new in prop::collection::vec((0usize..3, 0i64..100), 1..10),
            stop in stop(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let state = dir.path();
            let mk = |v: &[(usize, i64)]| -> Vec<RunRecord> {
                v.iter().map(|(s, t)| settled(&format!("s{s}"), *t)).collect()
            };
            let old = mk(&old);
            let new = mk(&new);
            let loaded = put(state, &old);
            compact(state, &loaded, views()).unwrap();
            let before = fs::read(path(state)).unwrap_or_default();
            let loaded = put(state, &new);
            let all: Vec<RunRecord> = old.iter().chain(&new).cloned().collect();
            // What a finished compaction writes.
            compact(state, &loaded, views()).unwrap();
            let after = fs::read(path(state)).unwrap();
            // Put the files back as the stop left them.
            put(state, &new);
            match stop {
                Stop::TornAppend(n) => {
                    let mut torn = before.clone();
                    if after.starts_with(&before) {
                        let extra = &after[before.len()..];
                        torn.extend_from_slice(&extra[..n.min(extra.len())]);
                    } else {
                        // A rewrite is never torn in place: the old file stays.
                    }
                    fs::write(path(state), torn).unwrap();
                }
                Stop::Removing(k) => {
                    for r in new.iter().take(k) {
                        fs::remove_file(r.path_in(state)).unwrap();
                    }
                }
                Stop::TempLeft => {
                    fs::write(path(state), &before).unwrap();
                    fs::write(state.join("runs/.finished-x1.jsonl"), &after[..after.len() / 2])
                        .unwrap();
                }
            }
            prop_assert_eq!(seen(state), expected(&all));
            let loaded = record::load_loose(state).records;
            compact(state, &loaded, views()).unwrap();
            prop_assert_eq!(seen(state), expected(&all));
            prop_assert_eq!(loose_count(state), 0);
            let lines = fs::read_to_string(path(state)).unwrap().lines().count();
            prop_assert_eq!(lines, all.len(), "no line twice");
            prop_assert!(!state.join("runs/.finished-x1.jsonl").exists());
        }
    }
}
