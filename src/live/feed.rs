//! File-system change notices for the live engine: one recursive `notify` watch on
//! `.agents/`, sent as [`Msg`]s into a channel, and [`settle`], which lets a burst of them
//! settle into one batch. There is no polling loop: the reader sleeps until the OS reports a
//! change.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::Changes;
use crate::error::{Error, Result};

/// Changes arriving within this window are handled as one batch.
const DEBOUNCE: Duration = Duration::from_millis(40);
/// The longest a batch may grow while changes keep arriving.
const MAX_BATCH: Duration = Duration::from_millis(120);

pub enum Msg {
    /// Something changed: the paths the event names (none: look at everything).
    Changed(Vec<PathBuf>),
    Quit,
}

/// The watch on one repository's `.agents/` directory.
pub struct Feed {
    watcher: RecommendedWatcher,
    dir: PathBuf,
    watched: bool,
}

impl Feed {
    /// Sends a [`Msg::Changed`] into `tx` for every relevant change below `agents_dir` (temp
    /// files and locks are not relevant). Call [`Feed::ensure`] to start watching.
    pub fn new(agents_dir: &Path, tx: mpsc::Sender<Msg>) -> Result<Feed> {
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
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
        Ok(Feed {
            watcher,
            dir: agents_dir.to_path_buf(),
            watched: false,
        })
    }

    pub fn is_watching(&self) -> bool {
        self.watched
    }

    /// Watches `.agents/` recursively, once it exists; returns whether it is watched. A
    /// recursive inotify watch follows directories created (or deleted and recreated) below
    /// it, which per-directory watches re-added by hand do not do reliably.
    pub fn ensure(&mut self) -> bool {
        if !self.watched {
            self.watched = self
                .watcher
                .watch(&self.dir, RecursiveMode::Recursive)
                .is_ok();
        }
        self.watched
    }
}

/// Lets a burst of changes settle before one look: waits for a quiet gap of [`DEBOUNCE`], but
/// never longer than [`MAX_BATCH`] in all, so a stream of changes cannot hold events back.
/// Collects what changed into `changes`; returns whether [`Msg::Quit`] arrived meanwhile.
pub fn settle(rx: &mpsc::Receiver<Msg>, changes: &mut Changes) -> bool {
    let deadline = Instant::now() + MAX_BATCH;
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
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
