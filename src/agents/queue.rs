//! Messages for a run that is still working (`sessions send` while it runs): kept durably
//! under `.agents/state/queue/<session>/<run-id>/`, one fsynced JSON file per message, and
//! delivered — as one resumed run of the same conversation — when the run has ended, by
//! whoever settles it first: its supervisor, or any later reader that reconciles it (after a
//! restart of the machine too).
//!
//! Exactly once, under a lock on the queue directory: the deliverer first writes a claim naming
//! the new run's id and the messages it carries, then launches that run. A deliverer that finds
//! a claim whose run record exists only cleans up; one whose run record does not exist (a crash
//! between claim and launch) launches it with the same id.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::record::{self, RunRecord};
use super::{Error, IoContext, Result};

const CLAIM: &str = "claim.json";

/// Starts the resumed run that carries a finished run's queued messages. Starting a run takes
/// the spawn machinery, which lives above this engine, so the binary registers it at start-up
/// ([`set_deliverer`]) and the engine never imports its caller.
pub type Deliverer = fn(&RunRecord);

static DELIVERER: std::sync::OnceLock<Deliverer> = std::sync::OnceLock::new();

/// Registers who delivers queued messages (once per process; later calls are ignored).
pub fn set_deliverer(f: Deliverer) {
    let _ = DELIVERER.set(f);
}

/// Delivers `rec`'s queued messages through the registered deliverer. Without one (a library
/// caller that never registered), the messages stay queued for the next reader that has one.
pub fn deliver_pending(rec: &RunRecord) {
    if let Some(f) = DELIVERER.get() {
        f(rec);
    }
}
const FAILED: &str = "failed.txt";

/// One queued message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub message: String,
    #[serde(with = "super::record::ts_pub")]
    pub queued_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claim {
    run_id: String,
    messages: Vec<String>,
}

/// `<state_dir>/queue/<session>/<run>/`.
pub fn dir(state_dir: &Path, session: &str, run: &str) -> PathBuf {
    state_dir.join("queue").join(session).join(run)
}

fn dir_of(rec: &RunRecord) -> PathBuf {
    dir(&rec.root.join(".agents/state"), &rec.session, &rec.id)
}

/// Queues `message` for the run; returns how many messages wait for it now.
pub fn push(rec: &RunRecord, message: &str, now: DateTime<Utc>) -> Result<usize> {
    let dir = dir_of(rec);
    fs::create_dir_all(&dir).at(&dir)?;
    let _ = fs::remove_file(dir.join(FAILED));
    let name = format!(
        "{}-{}.json",
        now.format("%Y%m%dT%H%M%S%.6f"),
        record::new_run_id()
    );
    let body = serde_json::to_vec(&Queued {
        message: message.to_string(),
        queued_at: now,
    })
    .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(&dir)
        .at(&dir)?;
    tmp.write_all(&body).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist(dir.join(&name)).map_err(|e| Error::Io {
        path: dir.join(&name),
        source: e.error,
    })?;
    // The rename itself must survive a crash of the machine too.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(messages(&dir).len())
}

/// Whether anything waits for this run (one `stat`).
pub fn pending(rec: &RunRecord) -> bool {
    let dir = dir_of(rec);
    dir.is_dir() && !dir.join(FAILED).exists()
}

/// The queued message files, oldest first.
fn messages(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.') && n != CLAIM)
        .collect();
    names.sort();
    names
}

/// Delivers what is queued for the ended run `rec`: `launch(text, run_id)` starts the run that
/// carries the messages (joined by blank lines) with that id. Returns the new run's id when
/// this call delivered something. A launch that fails leaves the messages in place with the
/// reason in `failed.txt` (not retried on every read; a new `send` retries).
pub fn deliver(
    rec: &RunRecord,
    launch: impl FnOnce(&str, &str) -> std::result::Result<(), String>,
) -> Result<Option<String>> {
    if rec.status.is_active() || !pending(rec) {
        return Ok(None);
    }
    let dir = dir_of(rec);
    let lock = File::open(&dir).at(&dir)?;
    lock.lock().at(&dir)?;
    if dir.join(FAILED).exists() {
        return Ok(None);
    }
    let state_dir = rec.root.join(".agents/state");
    let claim_path = dir.join(CLAIM);
    let claim: Option<Claim> = fs::read(&claim_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let claim = match claim {
        Some(c) if record::record_path(&state_dir, &rec.session, &c.run_id).exists() => {
            // Delivered already; only the clean-up was cut short.
            finish(&dir, &c);
            return Ok(None);
        }
        Some(c) => c,
        None => {
            let msgs = messages(&dir);
            if msgs.is_empty() {
                drop(lock);
                let _ = fs::remove_dir_all(&dir);
                return Ok(None);
            }
            let c = Claim {
                run_id: record::new_run_id(),
                messages: msgs,
            };
            let body = serde_json::to_vec(&c).map_err(|e| Error::Invalid(e.to_string()))?;
            write_synced(&claim_path, &body)?;
            c
        }
    };
    let text: Vec<String> = claim
        .messages
        .iter()
        .filter_map(|m| fs::read(dir.join(m)).ok())
        .filter_map(|b| serde_json::from_slice::<Queued>(&b).ok())
        .map(|q| q.message)
        .collect();
    match launch(&text.join("\n\n"), &claim.run_id) {
        Ok(()) => {
            finish(&dir, &claim);
            Ok(Some(claim.run_id))
        }
        Err(why) => {
            let _ = fs::remove_file(&claim_path);
            let _ = fs::write(dir.join(FAILED), format!("{why}\n"));
            Err(Error::Invalid(why))
        }
    }
}

/// Takes every message queued for the live run `rec` (an interactive run that waits for
/// input gets them typed into its pane), oldest first, under the queue's lock; a claim in
/// progress (the run ended meanwhile) leaves them to its deliverer.
pub fn take(rec: &RunRecord) -> Vec<String> {
    let dir = dir_of(rec);
    let Ok(lock) = File::open(&dir) else {
        return Vec::new();
    };
    if lock.lock().is_err() || dir.join(CLAIM).exists() {
        return Vec::new();
    }
    let names = messages(&dir);
    let mut out = Vec::new();
    for n in &names {
        if let Some(q) = fs::read(dir.join(n))
            .ok()
            .and_then(|b| serde_json::from_slice::<Queued>(&b).ok())
        {
            out.push(q.message);
        }
        let _ = fs::remove_file(dir.join(n));
    }
    drop(lock);
    let _ = fs::remove_dir_all(&dir);
    out
}

/// Why the last delivery for this run failed, if it did.
pub fn failure(rec: &RunRecord) -> Option<String> {
    fs::read_to_string(dir_of(rec).join(FAILED))
        .ok()
        .map(|s| s.trim().to_string())
}

fn finish(dir: &Path, claim: &Claim) {
    for m in &claim.messages {
        let _ = fs::remove_file(dir.join(m));
    }
    let _ = fs::remove_file(dir.join(CLAIM));
    if messages(dir).is_empty() {
        let _ = fs::remove_dir_all(dir);
        if let Some(parent) = dir.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

fn write_synced(path: &Path, body: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).at(&tmp)?;
    f.write_all(body).at(&tmp)?;
    f.sync_all().at(&tmp)?;
    fs::rename(&tmp, path).at(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(root: &Path) -> RunRecord {
        let mut rec = record::tests::sample("s");
        rec.root = root.to_path_buf();
        rec.status = super::super::RunStatus::Completed;
        rec
    }

    #[test]
    fn delivered_once_with_every_message() {
        let dir = tempfile::tempdir().unwrap();
        let rec = ended(dir.path());
        push(&rec, "first", Utc::now()).unwrap();
        assert_eq!(push(&rec, "second", Utc::now()).unwrap(), 2);
        assert!(pending(&rec));
        let state = dir.path().join(".agents/state");
        let mut got = None;
        let id = deliver(&rec, |text, id| {
            got = Some(text.to_string());
            // The launch leaves the new run's record behind.
            let mut r = record::tests::sample("s");
            r.id = id.to_string();
            record::save(&r.path_in(&state), &r).map_err(|e| e.to_string())
        })
        .unwrap();
        assert!(id.is_some());
        assert_eq!(got.as_deref(), Some("first\n\nsecond"));
        assert!(!pending(&rec));
        assert_eq!(deliver(&rec, |_, _| panic!("twice")).unwrap(), None);
    }

    #[test]
    fn a_claim_whose_run_exists_is_only_cleaned_up_and_one_without_is_relaunched() {
        let dir = tempfile::tempdir().unwrap();
        let rec = ended(dir.path());
        push(&rec, "hello", Utc::now()).unwrap();
        // A crash after the claim, before the launch: the same run id is launched later.
        let first = deliver(&rec, |_, _| Err("boom".into()));
        assert!(first.is_err());
        assert_eq!(failure(&rec).as_deref(), Some("boom"));
        assert!(
            !pending(&rec),
            "a failed delivery is not retried on every read"
        );
        push(&rec, "again", Utc::now()).unwrap();
        assert!(pending(&rec));
        let mut ids = Vec::new();
        deliver(&rec, |t, id| {
            ids.push((t.to_string(), id.to_string()));
            Ok(())
        })
        .unwrap();
        assert_eq!(ids[0].0, "hello\n\nagain");
    }
}
